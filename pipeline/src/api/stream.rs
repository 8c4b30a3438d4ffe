//! `GET /v1/stream` (Server-Sent Events) and `GET /v1/ws` (WebSocket): the live push of
//! [`crate::push`], the same JSON events on both.
//!
//! Query: `signals=a,b` (default: all of the tenant's), `fields=a,b` (catalogue fields to add to
//! each match), `cursor=…` (resume; SSE clients may send `Last-Event-ID` instead, which wins).
//! Browsers' `EventSource` and `WebSocket` cannot set headers, so these two endpoints, and only
//! they, also take the key as `access_token=` in the query.
//!
//! Events (`type` in the JSON; the SSE event name too):
//! - `match`: `{"type":"match","cursor":…,"mention":{id,source,url,text,author:{handle,name},
//!   created_at},"signals":[{"signal","version","highlights"}],"fields":{…}}` — only the
//!   caller's own signals. The SSE `id:` is the cursor.
//! - `heartbeat`: `{"type":"heartbeat","cursor":…}`, first at connection, then every
//!   `api.heartbeat`; its cursor (also the SSE `id:`) is where a reconnect resumes.
//! - `lagged`: `{"type":"lagged","reason":…,"cursor":…,"buffer_starts":…}`. `slow_client`: the
//!   client read too slowly; it keeps its connection and gets what it missed from the replay
//!   buffer, from `cursor` on. `cursor_expired`: the resume cursor is older than the buffer (or
//!   from before this process started); matches between `cursor` and `buffer_starts` are lost,
//!   and the whole buffer follows.
//! - `alert`: `{"type":"alert","alert":{…}}` — an alert of one of the caller's signals as it is
//!   opened, updated or resolved (the object `GET /v1/signals/{id}/alerts` lists). Live only:
//!   no cursor, no replay; a client that was away lists what it missed.
//! - `closed`: `{"type":"closed","reason":"key_revoked"}`, the last event: the key was revoked
//!   (or its rotation's grace ran out) while the stream was open. The key is checked again at
//!   every heartbeat; a WebSocket then gets a close frame with code 1008 (policy violation).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Deserialize;

use super::auth::{KeyId, Tenant};
use super::limits::InFlight;
use super::{ApiState, error, json};
use crate::error::Error;
use crate::push::{AlertEvent, Cursor, Filter, Hub, Step, Subscription};

#[derive(Debug, Default, Deserialize)]
pub(super) struct StreamQuery {
    signals: Option<String>,
    fields: Option<String>,
    cursor: Option<String>,
    access_token: Option<String>,
}

/// The `access_token` query parameter of a stream request (no other path takes one).
pub(super) fn access_token(req: &Request) -> Option<String> {
    let path = req.uri().path();
    if path != "/v1/stream" && path != "/v1/ws" {
        return None;
    }
    Query::<StreamQuery>::try_from_uri(req.uri())
        .ok()?
        .0
        .access_token
}

fn list(s: Option<&str>) -> Vec<String> {
    s.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

fn bad_request(why: String) -> Response {
    error(&Error::Config(why))
}

/// One open stream: its subscription, its heartbeat and its slot in the tenant's stream limit.
struct Conn {
    sub: Subscription,
    /// Alert events (live only); `None` once the hub is gone.
    alerts: Option<tokio::sync::broadcast::Receiver<Arc<AlertEvent>>>,
    hub: Arc<Hub>,
    tick: tokio::time::Interval,
    /// Whether the first heartbeat (the one that opens every stream) has gone out.
    greeted: bool,
    /// What checks the key again at each heartbeat.
    state: ApiState,
    key_id: Arc<str>,
    /// Set with the `closed` event: nothing follows it.
    closed: bool,
    _slot: InFlight,
    _open: Open,
}

/// Counts the connection in the gauge while it lives.
struct Open;

impl Open {
    fn new() -> Open {
        crate::telemetry::push_connections(1.0);
        Open
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        crate::telemetry::push_connections(-1.0);
    }
}

/// An event: its type, the cursor to resume from after it (when it moves it), its JSON.
struct Out {
    kind: &'static str,
    id: Option<String>,
    json: String,
}

impl Conn {
    /// Checks the query and opens the subscription: from here on nothing is missed.
    async fn open(
        s: &ApiState,
        Tenant(tenant): Tenant,
        KeyId(key_id): KeyId,
        q: StreamQuery,
        last_event_id: Option<&str>,
    ) -> Result<Conn, Response> {
        let Some(hub) = s.hub.clone() else {
            return Err(json(
                StatusCode::NOT_FOUND,
                br#"{"error":"live push is not served by this process"}"#.to_vec(),
            ));
        };
        let cursor =
            match last_event_id.or(q.cursor.as_deref()) {
                Some(c) => Some(Cursor::parse(c).ok_or_else(|| {
                    bad_request(format!("cursor: not a cursor of this API: {c:?}"))
                })?),
                None => None,
            };
        let fields = list(q.fields.as_deref());
        if let Some(f) = fields.iter().find(|f| transforms::field_id(f).is_none()) {
            return Err(bad_request(format!(
                "fields: no field {f:?} (`backchannel fields` lists them)"
            )));
        }
        let signals = match list(q.signals.as_deref()) {
            ids if ids.is_empty() => None,
            ids => {
                let own = s
                    .backend
                    .signals(tenant.to_string())
                    .await
                    .map_err(|e| error(&e))?;
                if let Some(id) = ids.iter().find(|id| !own.iter().any(|o| o.id == **id)) {
                    return Err(json(
                        StatusCode::NOT_FOUND,
                        serde_json::json!({ "error": format!("no such signal: {id}") })
                            .to_string()
                            .into_bytes(),
                    ));
                }
                Some(ids)
            }
        };
        let slot = s.limiter.admit_stream(&tenant).map_err(|d| {
            crate::telemetry::api_rejected("rate_limited");
            let mut r = json(
                StatusCode::TOO_MANY_REQUESTS,
                serde_json::json!({ "error": d.reason })
                    .to_string()
                    .into_bytes(),
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(d.retry_after.as_secs()),
            );
            r
        })?;
        let filter = Filter {
            tenant,
            signals,
            fields,
        };
        let every = s.settings.heartbeat.max(Duration::from_millis(10));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Conn {
            alerts: Some(hub.alerts()),
            sub: hub.subscribe(filter, cursor),
            hub,
            tick,
            greeted: false,
            state: s.clone(),
            key_id,
            closed: false,
            _slot: slot,
            _open: Open::new(),
        })
    }

    /// The next event: a match or `lagged` as soon as there is one, else a heartbeat when due
    /// (the first one at once, before anything else).
    async fn next(&mut self) -> Out {
        if !self.greeted {
            self.greeted = true;
            return self.heartbeat();
        }
        loop {
            if let Some(out) = self.next_once().await {
                return out;
            }
        }
    }

    /// One wait: a match, `lagged`, an alert or a heartbeat; `None` after an alert that is
    /// not this reader's (or a gap in the alert feed), to wait again.
    async fn next_once(&mut self) -> Option<Out> {
        let alert = async {
            match &mut self.alerts {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        Some(tokio::select! {
            alert = alert => match alert {
                Ok(a) if self.sub.filter.wants_alert(&a) => Out {
                    kind: "alert",
                    id: None,
                    json: a.json.to_string(),
                },
                Ok(_) => return None,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "a stream fell behind the alert feed");
                    return None;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    self.alerts = None;
                    return None;
                }
            },
            step = self.sub.next() => match step {
                Step::Match(e, cursor) => Out {
                    kind: "match",
                    json: e.event(&self.sub.filter, &cursor, self.hub.layout()),
                    id: Some(cursor.to_string()),
                },
                Step::Lagged { reason, cursor, buffer_starts } => Out {
                    kind: "lagged",
                    id: None,
                    json: serde_json::json!({
                        "type": "lagged",
                        "reason": reason,
                        "cursor": cursor.to_string(),
                        "buffer_starts": buffer_starts.map(|b| b.to_string()),
                    })
                    .to_string(),
                },
            },
            _ = self.tick.tick() => {
                if super::auth::still_valid(&self.state, &self.key_id).await {
                    self.heartbeat()
                } else {
                    self.closed = true;
                    Out {
                        kind: "closed",
                        id: None,
                        json: r#"{"type":"closed","reason":"key_revoked"}"#.to_owned(),
                    }
                }
            }
        })
    }

    fn heartbeat(&mut self) -> Out {
        let cursor = self.sub.heartbeat().to_string();
        Out {
            kind: "heartbeat",
            json: serde_json::json!({ "type": "heartbeat", "cursor": cursor }).to_string(),
            id: Some(cursor),
        }
    }
}

/// `GET /v1/stream`: Server-Sent Events.
pub(super) async fn sse(
    State(s): State<ApiState>,
    Extension(tenant): Extension<Tenant>,
    Extension(key): Extension<KeyId>,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
) -> Response {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let conn = match Conn::open(&s, tenant, key, q, last).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let events = stream::unfold(conn, |mut conn| async move {
        if conn.closed {
            return None;
        }
        let out = conn.next().await;
        let mut event = Event::default().event(out.kind).data(out.json);
        if let Some(id) = out.id {
            event = event.id(id);
        }
        Some((Ok::<Event, Infallible>(event), conn))
    });
    Sse::new(events).into_response()
}

/// The largest frame and message a WebSocket client may send. Clients send nothing but control
/// frames (at most 125 bytes) and what is ignored; without this, each connection would buffer
/// up to tungstenite's default of 64 MiB per message, outside every byte budget.
const WS_CLIENT_MESSAGE_MAX: usize = 4 * 1024;

/// `GET /v1/ws`: a WebSocket carrying the same events as text messages. The client sends
/// nothing (anything it sends is ignored, and a message over [`WS_CLIENT_MESSAGE_MAX`] closes
/// the connection); closing either side ends the stream.
pub(super) async fn ws(
    State(s): State<ApiState>,
    Extension(tenant): Extension<Tenant>,
    Extension(key): Extension<KeyId>,
    Query(q): Query<StreamQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let conn = match Conn::open(&s, tenant, key, q, None).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    upgrade
        .max_frame_size(WS_CLIENT_MESSAGE_MAX)
        .max_message_size(WS_CLIENT_MESSAGE_MAX)
        .on_upgrade(move |socket| pump(conn, socket))
}

async fn pump(mut conn: Conn, mut socket: WebSocket) {
    loop {
        tokio::select! {
            out = conn.next() => {
                if socket.send(Message::Text(out.json.into())).await.is_err() {
                    return;
                }
                if conn.closed {
                    let frame = axum::extract::ws::CloseFrame {
                        code: axum::extract::ws::close_code::POLICY,
                        reason: "key_revoked".into(),
                    };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    return;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
