//! The client API's OpenAPI 3.1 document, served at `GET /v1/openapi.json` (no key needed).
//!
//! Built from [`OPERATIONS`], one entry per route the router serves; a test reads the router's
//! source and fails when a route has no entry or an entry no route, and the API tests call every
//! documented operation without a key and expect 401, so the document cannot drift from the code.

use serde_json::{Value, json};

/// Where a parameter goes.
#[derive(Debug, Clone, Copy)]
pub(super) enum In {
    Path,
    Query,
}

/// One parameter of an operation.
#[derive(Debug)]
pub(super) struct Param {
    pub name: &'static str,
    pub at: In,
    /// JSON Schema type: "string" or "integer".
    pub kind: &'static str,
    pub about: &'static str,
}

/// One operation of the API.
#[derive(Debug)]
pub(super) struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub params: &'static [Param],
    /// The request body's description, for operations that take JSON.
    pub body: Option<&'static str>,
    /// Status codes besides 401 (every operation may answer 401 and 429).
    pub responses: &'static [(u16, &'static str)],
    /// The response is a stream (SSE or WebSocket), not one JSON document.
    pub stream: Option<&'static str>,
    /// Needs no key.
    pub public: bool,
}

const ID: Param = Param {
    name: "id",
    at: In::Path,
    kind: "string",
    about: "The signal id (1-128 letters, digits, '-', '_', '.'; not `test`).",
};

const STREAM_PARAMS: &[Param] = &[
    Param {
        name: "signals",
        at: In::Query,
        kind: "string",
        about: "Comma-separated signal ids; default all of the tenant's.",
    },
    Param {
        name: "fields",
        at: In::Query,
        kind: "string",
        about: "Comma-separated catalogue fields to add to each match (`backchannel fields`).",
    },
    Param {
        name: "cursor",
        at: In::Query,
        kind: "string",
        about: "Resume after this cursor (SSE clients may send `Last-Event-ID` instead).",
    },
    Param {
        name: "access_token",
        at: In::Query,
        kind: "string",
        about: "The API key, for browsers that cannot set `Authorization` on these two endpoints.",
    },
];

/// Every operation the router serves, in the order of the README's table.
pub(super) const OPERATIONS: &[Operation] = &[
    Operation {
        method: "get",
        path: "/v1/openapi.json",
        summary: "This document.",
        params: &[],
        body: None,
        responses: &[(200, "The OpenAPI 3.1 document.")],
        stream: None,
        public: true,
    },
    Operation {
        method: "get",
        path: "/v1/signals",
        summary: "The tenant's signals.",
        params: &[],
        body: None,
        responses: &[(
            200,
            "A list of signals: tenant, id, version, query, options.",
        )],
        stream: None,
        public: false,
    },
    Operation {
        method: "get",
        path: "/v1/signals/{id}",
        summary: "One signal.",
        params: &[ID],
        body: None,
        responses: &[
            (200, "The signal."),
            (404, "No such signal of this tenant."),
        ],
        stream: None,
        public: false,
    },
    Operation {
        method: "put",
        path: "/v1/signals/{id}",
        summary: "Creates or replaces a signal; its version goes up.",
        params: &[ID],
        body: Some(
            "`{\"query\": \"...\", \"options\": {\"keep_accents\": bool, \"stem\": language}}` \
             (QUERY_LANGUAGE.md).",
        ),
        responses: &[
            (200, "`{\"version\": n}`."),
            (400, "The query or id is invalid; the error names where."),
            (409, "The tenant is at its signal limit."),
        ],
        stream: None,
        public: false,
    },
    Operation {
        method: "delete",
        path: "/v1/signals/{id}",
        summary: "Deletes a signal.",
        params: &[ID],
        body: None,
        responses: &[(204, "Deleted."), (404, "No such signal of this tenant.")],
        stream: None,
        public: false,
    },
    Operation {
        method: "post",
        path: "/v1/signals/test",
        summary: "Tries a query on the newest stored mentions of every source, without saving it.",
        params: &[],
        body: Some(
            "`{\"query\": \"...\", \"options\"?: {...}, \"limit\"?: matches returned (20, ≤ 100), \
             \"scan\"?: newest mentions tried per source (200, ≤ 1000)}`.",
        ),
        responses: &[
            (
                200,
                "`{\"scanned\": n, \"matched\": n, \"matches\": [{\"mention\", \"highlights\"}]}`, newest first.",
            ),
            (400, "The query is invalid; the error names where."),
        ],
        stream: None,
        public: false,
    },
    Operation {
        method: "get",
        path: "/v1/signals/{id}/mentions",
        summary: "The newest mentions the signal matched, newest first, page by page.",
        params: &[
            ID,
            Param {
                name: "limit",
                at: In::Query,
                kind: "integer",
                about: "Mentions per page, 1-1000 (default 50).",
            },
            Param {
                name: "before",
                at: In::Query,
                kind: "string",
                about: "The cursor of the previous page's `Link: <...>; rel=\"next\"` header.",
            },
        ],
        body: None,
        responses: &[
            (
                200,
                "A list of EnrichedMentions with only this tenant's signal matches; a full page \
                 has a `Link` header with `rel=\"next\"`.",
            ),
            (400, "`before` is not a cursor."),
            (404, "No such signal of this tenant."),
        ],
        stream: None,
        public: false,
    },
    Operation {
        method: "get",
        path: "/v1/signals/{id}/series",
        summary: "Volume and sentiment per step from the per-minute aggregates.",
        params: &[
            ID,
            Param {
                name: "from",
                at: In::Query,
                kind: "string",
                about: "RFC 3339 start (default: an hour, or a day for step=1h, before `to`); \
                        cut to the step, whose whole first step is counted.",
            },
            Param {
                name: "to",
                at: In::Query,
                kind: "string",
                about: "RFC 3339 end, exclusive (default now).",
            },
            Param {
                name: "step",
                at: In::Query,
                kind: "string",
                about: "`1m` (default) or `1h`; at most 1,440 steps.",
            },
            Param {
                name: "top",
                at: In::Query,
                kind: "integer",
                about: "Hashtags per step (default 5, at most 20).",
            },
        ],
        body: None,
        responses: &[
            (
                200,
                "`{\"signal\", \"step\", \"from\", \"to\", \"points\": [{\"t\", \"provisional\", \
                 \"mentions\", \"positive\", \"neutral\", \"negative\", \"mean_compound\", \
                 \"top_hashtags\"}]}`, every step present; `provisional`: a minute of the step is \
                 still counted from the stream, ahead of the exact rollup (distributed `serve`).",
            ),
            (400, "A bad time, step or range."),
            (404, "No such signal of this tenant."),
        ],
        stream: None,
        public: false,
    },
    Operation {
        method: "get",
        path: "/v1/signals/{id}/alerts",
        summary: "The signal's alerts (volume spikes, negative shifts), newest incident first, \
                  each at its latest state.",
        params: &[
            ID,
            Param {
                name: "limit",
                at: In::Query,
                kind: "integer",
                about: "Alerts, 1-500 (default 50).",
            },
        ],
        body: None,
        responses: &[
            (
                200,
                "A list of alerts: id, tenant, signal, kind, state, started_at, at, observed, \
                 expected, score, mentions, summary, drivers [{kind, value, count, baseline, \
                 lift}], examples (mention ids).",
            ),
            (400, "A bad limit."),
            (404, "No such signal of this tenant."),
        ],
        stream: None,
        public: false,
    },
    Operation {
        method: "get",
        path: "/v1/signals/{id}/alerts/settings",
        summary: "The signal's own alert thresholds and what the detector runs with.",
        params: &[ID],
        body: None,
        responses: &[
            (
                200,
                "`{\"enabled\", \"own\": {…}, \"effective\": {…every detector threshold}}`.",
            ),
            (404, "No such signal of this tenant."),
        ],
        stream: None,
        public: false,
    },
    Operation {
        method: "put",
        path: "/v1/signals/{id}/alerts/settings",
        summary: "Sets the signal's own alert thresholds over the defaults; `{}` returns to them.",
        params: &[ID],
        body: Some(
            "`{\"enabled\"?: bool, \"min_mentions\"?, \"spike_ratio\"?, \"spike_score\"?, \
             \"negative_min_mentions\"?, \"negative_shift\"?, \"resolve_after\"?}`.",
        ),
        responses: &[
            (200, "The settings, as GET answers them."),
            (
                400,
                "A value out of range or an unknown key; the error names it.",
            ),
            (404, "No such signal of this tenant."),
        ],
        stream: None,
        public: false,
    },
    Operation {
        method: "get",
        path: "/v1/webhook",
        summary: "Where the tenant's alerts are delivered (never the secret).",
        params: &[],
        body: None,
        responses: &[(200, "`{\"url\"}`."), (404, "No webhook.")],
        stream: None,
        public: false,
    },
    Operation {
        method: "put",
        path: "/v1/webhook",
        summary: "Sets the tenant's alert webhook; answers its new signing secret, once.",
        params: &[],
        body: Some("`{\"url\": \"https://...\"}`."),
        responses: &[
            (
                200,
                "`{\"url\", \"secret\"}`: deliveries carry `Backchannel-Signature: \
                 t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`.",
            ),
            (400, "Not an http(s) URL."),
        ],
        stream: None,
        public: false,
    },
    Operation {
        method: "delete",
        path: "/v1/webhook",
        summary: "Removes the tenant's webhook.",
        params: &[],
        body: None,
        responses: &[(204, "Removed (or there was none).")],
        stream: None,
        public: false,
    },
    Operation {
        method: "post",
        path: "/v1/webhook/test",
        summary: "Sends one signed test event to the webhook now.",
        params: &[],
        body: None,
        responses: &[
            (200, "`{\"result\"}`: the receiver answered 2xx."),
            (404, "No webhook."),
            (
                502,
                "The receiver did not take it; the error says what it answered.",
            ),
        ],
        stream: None,
        public: false,
    },
    Operation {
        method: "get",
        path: "/v1/mentions/{id}",
        summary: "One EnrichedMention, if one of the tenant's signals matched it.",
        params: &[Param {
            name: "id",
            at: In::Path,
            kind: "string",
            about: "The mention id.",
        }],
        body: None,
        responses: &[
            (
                200,
                "The EnrichedMention with only this tenant's signal matches.",
            ),
            (
                404,
                "No such mention, or none of the tenant's signals matched it.",
            ),
        ],
        stream: None,
        public: false,
    },
    Operation {
        method: "get",
        path: "/v1/stream",
        summary: "Live matches as Server-Sent Events (`match`, `heartbeat`, `lagged`; `alert` \
                  live only; `closed` last when the key is revoked), resumable.",
        params: STREAM_PARAMS,
        body: None,
        responses: &[(
            404,
            "A named signal is not the tenant's, or this process has no live push.",
        )],
        stream: Some("text/event-stream"),
        public: false,
    },
    Operation {
        method: "get",
        path: "/v1/ws",
        summary: "The same events over a WebSocket.",
        params: STREAM_PARAMS,
        body: None,
        responses: &[(
            404,
            "A named signal is not the tenant's, or this process has no live push.",
        )],
        stream: Some("WebSocket (101 Switching Protocols), one JSON event per text message"),
        public: false,
    },
    Operation {
        method: "post",
        path: "/admin/v1/manage",
        summary: "Operator actions (tenants, keys, signals) on a running embedded pipeline; \
                  the operator key, and only where one is configured.",
        params: &[],
        body: Some("An operator action, as `backchannel tenants` and `signals` send it."),
        responses: &[(200, "The action's report."), (400, "An invalid action.")],
        stream: None,
        public: false,
    },
];

/// The OpenAPI 3.1 document.
pub(super) fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for op in OPERATIONS {
        let mut responses = serde_json::Map::new();
        for (code, about) in op.responses {
            let mut r = json!({ "description": about });
            if *code != 204 {
                let media = match (op.stream, *code) {
                    (Some("text/event-stream"), 200) => "text/event-stream",
                    _ => "application/json",
                };
                r["content"] = json!({ media: {} });
            }
            responses.insert(code.to_string(), r);
        }
        if let Some(stream) = op.stream {
            let code = if stream == "text/event-stream" {
                "200"
            } else {
                "101"
            };
            responses.insert(
                code.to_owned(),
                json!({ "description": format!("The event stream: {stream}.") }),
            );
        }
        if !op.public {
            responses.insert(
                "401".into(),
                json!({ "description": "No key, or a bad or revoked one: `{\"error\": \"...\"}`." }),
            );
            responses.insert(
                "429".into(),
                json!({ "description": "Over the tenant's rate or concurrency; see `Retry-After`." }),
            );
        }
        let params: Vec<Value> = op
            .params
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "in": match p.at { In::Path => "path", In::Query => "query" },
                    "required": matches!(p.at, In::Path),
                    "description": p.about,
                    "schema": { "type": p.kind },
                })
            })
            .collect();
        let mut operation = json!({
            "summary": op.summary,
            "operationId": format!("{}{}", op.method, op.path.replace(['/', '{', '}', '.'], "_")),
            "parameters": params,
            "responses": responses,
        });
        if op.public {
            operation["security"] = json!([]);
        }
        if let Some(body) = op.body {
            operation["requestBody"] = json!({
                "required": true,
                "description": body,
                "content": { "application/json": {} },
            });
        }
        paths
            .entry(op.path.to_owned())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|m| m.insert(op.method.to_owned(), operation));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Backchannel client API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Tenants' signals, their matched mentions, series and live push. \
                            Every operation but this document needs `Authorization: Bearer <key>` \
                            (a key from `backchannel tenants create`).",
        },
        "components": {
            "securitySchemes": { "key": { "type": "http", "scheme": "bearer" } }
        },
        "security": [{ "key": [] }],
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The `(method, path)` pairs the router registers, read from its source: `.route("PATH",
    /// get(..).put(..))` and chained `post(..)`.
    fn routed() -> BTreeSet<(String, String)> {
        let src = include_str!("../api.rs");
        let mut out = BTreeSet::new();
        let mut rest = src;
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            let Some(start) = rest.find('"') else { break };
            let Some(len) = rest[start + 1..].find('"') else {
                break;
            };
            let path = rest[start + 1..start + 1 + len].to_owned();
            // The method routers up to the route's closing: the next `.route(` or `route_layer`.
            let end = rest
                .find(".route")
                .unwrap_or(rest.len())
                .min(rest.find("let mut app").unwrap_or(rest.len()));
            let body = &rest[start + len..end];
            for m in ["get", "put", "post", "delete"] {
                if body.contains(&format!("{m}(routes::"))
                    || body.contains(&format!(".{m}(routes::"))
                    || body.contains(&format!("{m}(stream::"))
                    || body.contains(&format!("{m}(alerts::"))
                    || body.contains(&format!("{m}(manage"))
                    || body.contains(&format!("{m}(openapi"))
                {
                    out.insert((m.to_owned(), path.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn every_route_is_documented_and_every_documented_operation_is_routed() {
        let documented: BTreeSet<(String, String)> = OPERATIONS
            .iter()
            .map(|o| (o.method.to_owned(), o.path.to_owned()))
            .collect();
        let routed = routed();
        assert!(
            routed.len() >= 10,
            "the source reader found the routes: {routed:?}"
        );
        // `/v1/signals/test` answers GET/PUT/DELETE only to say the id is reserved.
        let reserved: BTreeSet<(String, String)> = ["get", "put", "delete"]
            .iter()
            .map(|m| ((*m).to_owned(), "/v1/signals/test".to_owned()))
            .collect();
        let routed: BTreeSet<_> = routed.difference(&reserved).cloned().collect();
        assert_eq!(documented, routed);
    }

    #[test]
    fn the_document_is_well_formed() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        for (path, ops) in paths {
            for (method, op) in ops.as_object().expect("operations") {
                let responses = op["responses"].as_object().expect("responses");
                assert!(!responses.is_empty(), "{method} {path}");
                // Every {param} of the path is declared as a required path parameter.
                for seg in path.split('/').filter(|s| s.starts_with('{')) {
                    let name = seg.trim_matches(['{', '}']);
                    let declared = op["parameters"]
                        .as_array()
                        .expect("parameters")
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true);
                    assert!(declared, "{method} {path}: {name}");
                }
            }
        }
        assert!(paths["/v1/signals/{id}"]["put"]["requestBody"].is_object());
        assert_eq!(paths["/v1/openapi.json"]["get"]["security"], json!([]));
    }
}
