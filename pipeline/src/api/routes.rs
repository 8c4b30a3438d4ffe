//! The `/v1` handlers. Each runs after [`super::auth::authenticate`] and sees only the caller's
//! tenant: ids are looked up within it, so another tenant's signal or mention answers 404 exactly
//! as a missing one does (a 403 would confirm that it exists).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::DurationRound;
use serde::Deserialize;
use transforms::signals::SignalOptions;

use super::auth::Tenant;
use super::{ApiState, error, json};
use crate::error::Error;
use crate::traits::Before;

pub(super) fn not_found(what: &str) -> Response {
    json(
        StatusCode::NOT_FOUND,
        serde_json::json!({ "error": format!("no such {what}") })
            .to_string()
            .into_bytes(),
    )
}

/// The mention as `tenant` may see it: only its own signal matches, or `None` when the mention
/// matched none of its signals (then it is not the tenant's to read).
pub(super) fn own_view(mention: &[u8], tenant: &str) -> Option<Vec<u8>> {
    signal_view(mention, tenant, None)
}

/// [`own_view`], and `None` too unless the mention (as stored now) matches the signal `id`
/// when one is given. A live edit that no longer matches a signal can leave the signal's index
/// row behind (the distributed store writes edits without reading the version before), so the
/// signal's pages check the record itself.
fn signal_view(mention: &[u8], tenant: &str, id: Option<&str>) -> Option<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(mention).ok()?;
    let signals = value.get_mut("signals")?.as_array_mut()?;
    signals.retain(|m| m.get("tenant").and_then(|t| t.as_str()) == Some(tenant));
    let matched = |m: &serde_json::Value| m.get("signal").and_then(|s| s.as_str()) == id;
    if signals.is_empty() || id.is_some() && !signals.iter().any(matched) {
        return None;
    }
    serde_json::to_vec(&value).ok()
}

pub(super) async fn mention(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
) -> Response {
    match s.backend.mention(id).await {
        Ok(Some(body)) => match own_view(&body, &tenant) {
            Some(body) => json(StatusCode::OK, body),
            None => not_found("mention"),
        },
        Ok(None) => not_found("mention"),
        Err(e) => error(&e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct RecentQuery {
    limit: Option<usize>,
    before: Option<String>,
}

/// Where the page that ends with `mention` (EnrichedMention JSON) leaves off.
fn page_end(mention: &[u8]) -> Option<Before> {
    let v: serde_json::Value = serde_json::from_slice(mention).ok()?;
    let created = v.pointer("/mention/created_at")?.as_str()?;
    Some(Before {
        created_ms: chrono::DateTime::parse_from_rfc3339(created)
            .ok()?
            .timestamp_millis(),
        id: v.pointer("/mention/id")?.as_str()?.to_owned(),
    })
}

/// Percent-encodes a query value (everything but unreserved characters).
fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Passes when `tenant` has a signal `id`; otherwise the response to give: 404 for a signal
/// that is not the tenant's (another tenant's looks the same as none), or the backend's error.
pub(super) async fn own_signal(s: &ApiState, tenant: &str, id: &str) -> Result<(), Response> {
    match s.backend.signals(tenant.to_owned()).await {
        Ok(list) if list.iter().any(|x| x.id == id) => Ok(()),
        Ok(_) => Err(not_found("signal")),
        Err(e) => Err(error(&e)),
    }
}

/// The newest mentions that matched one of the tenant's signals, newest first.
pub(super) async fn signal_mentions(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
    Query(q): Query<RecentQuery>,
) -> Response {
    if let Err(r) = own_signal(&s, &tenant, &id).await {
        return r;
    }
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let before = match q.before.as_deref().map(|b| Before::parse(b).ok_or(b)) {
        None => None,
        Some(Ok(b)) => Some(b),
        Some(Err(b)) => {
            return error(&Error::Config(format!(
                "before: {b:?} is not a cursor from this endpoint's Link header"
            )));
        }
    };
    match s
        .backend
        .recent(crate::runtime::signal_topic(&tenant, &id), limit, before)
        .await
    {
        Ok(items) => {
            // A full page may have more after it: say where it left off (RFC 8288 `Link`).
            let next = (items.len() == limit)
                .then(|| items.last().and_then(|m| page_end(m)))
                .flatten()
                .map(|b| {
                    format!(
                        "</v1/signals/{}/mentions?limit={limit}&before={}>; rel=\"next\"",
                        query_value(&id),
                        query_value(&b.encode())
                    )
                });
            let mut body = b"[".to_vec();
            for item in items
                .iter()
                .filter_map(|m| signal_view(m, &tenant, Some(&id)))
            {
                if body.len() > 1 {
                    body.push(b',');
                }
                body.extend_from_slice(&item);
            }
            body.push(b']');
            let mut response = json(StatusCode::OK, body);
            if let Some(link) = next.and_then(|l| axum::http::HeaderValue::from_str(&l).ok()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::LINK, link);
            }
            response
        }
        Err(e) => error(&e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct SeriesQuery {
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
    top: Option<usize>,
}

/// Most points one series request may ask for (a day by the minute, two months by the hour).
const MAX_POINTS: i64 = 1440;

/// A signal's volume and sentiment per step, from the per-minute aggregates:
/// `?from=&to=` (RFC 3339; default the last hour for `step=1m`, the last day for `step=1h`),
/// `step=1m|1h` (default `1m`), `top=N` hashtags per step (default 5, at most 20). Every step of
/// the range is present, zero where nothing matched, oldest first. A step is `provisional` when
/// one of its minutes shows what `serve` counted from the stream ([`crate::push::provisional`]).
pub(super) async fn signal_series(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
    Query(q): Query<SeriesQuery>,
) -> Response {
    let bad = |why: String| error(&Error::Config(why));
    let step = match q.step.as_deref().unwrap_or("1m") {
        "1m" => chrono::Duration::minutes(1),
        "1h" => chrono::Duration::hours(1),
        other => return bad(format!("step: {other:?} is not one of 1m, 1h")),
    };
    let time =
        |key: &str, v: &Option<String>| -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
            v.as_deref()
                .map(|t| {
                    chrono::DateTime::parse_from_rfc3339(t)
                        .map(|t| t.with_timezone(&chrono::Utc))
                        .map_err(|e| format!("{key}: {t:?} is not an RFC 3339 time ({e})"))
                })
                .transpose()
        };
    let to = match time("to", &q.to) {
        Ok(t) => t.unwrap_or_else(chrono::Utc::now),
        Err(why) => return bad(why),
    };
    let default_span = if step == chrono::Duration::minutes(1) {
        60
    } else {
        24
    };
    let from = match time("from", &q.from) {
        Ok(t) => t.unwrap_or(to - step * default_span),
        Err(why) => return bad(why),
    };
    if from >= to {
        return bad("from must be before to".into());
    }
    // Every point is a whole step, labelled with its start: the first one starts where `from`
    // falls, and counts its step from there, not only the part after `from`.
    let from = from.duration_trunc(step).unwrap_or(from);
    let points = (to - from).num_seconds() / step.num_seconds() + 1;
    if points > MAX_POINTS {
        return bad(format!(
            "{points} steps asked for, at most {MAX_POINTS}: narrow the range or use step=1h"
        ));
    }
    let top = q.top.unwrap_or(5).min(crate::aggregate::TOP_HASHTAGS);
    if let Err(r) = own_signal(&s, &tenant, &id).await {
        return r;
    }
    let topic = crate::runtime::signal_topic(&tenant, &id);
    let minutes = match s.backend.series(topic.clone(), from, to).await {
        Ok(m) => m,
        Err(e) => return error(&e),
    };
    // Serve counts the latest minutes from the stream, ahead of the rollup.
    let (minutes, streamed) = match s.hub.as_deref().and_then(crate::push::Hub::provisional) {
        Some(p) => p.overlay(&topic, minutes, chrono::Utc::now()),
        None => (minutes, Default::default()),
    };
    let points: Vec<serde_json::Value> = crate::aggregate::steps(&minutes, from, to, step)
        .iter()
        .map(|(t, agg)| {
            serde_json::json!({
                "t": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "provisional": streamed.range(*t..(*t + step).min(to)).next().is_some(),
                "mentions": agg.mentions,
                "positive": agg.positive,
                "neutral": agg.neutral,
                "negative": agg.negative,
                "mean_compound": agg.mean_sentiment(),
                "top_hashtags": agg
                    .ranked_hashtags(top)
                    .into_iter()
                    .map(|(h, c)| serde_json::json!({ "hashtag": h, "count": c }))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json(
        StatusCode::OK,
        serde_json::json!({
            "signal": id,
            "step": if step == chrono::Duration::hours(1) { "1h" } else { "1m" },
            "from": from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "to": to.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "points": points,
        })
        .to_string()
        .into_bytes(),
    )
}

pub(super) async fn list_signals(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
) -> Response {
    match s.backend.signals(tenant.to_string()).await {
        Ok(list) => json(
            StatusCode::OK,
            serde_json::to_vec(&list).unwrap_or_default(),
        ),
        Err(e) => error(&e),
    }
}

pub(super) async fn get_signal(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
) -> Response {
    match s.backend.signals(tenant.to_string()).await {
        Ok(list) => match list.iter().find(|x| x.id == id) {
            Some(signal) => json(
                StatusCode::OK,
                serde_json::to_vec(signal).unwrap_or_default(),
            ),
            None => not_found("signal"),
        },
        Err(e) => error(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PutSignal {
    query: String,
    #[serde(default)]
    options: SignalOptions,
}

/// Creates or replaces one of the tenant's signals. A new signal past `api.max_signals` answers
/// 409. The count is checked before the write, so two concurrent creations can pass it by one.
pub(super) async fn put_signal(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let req: PutSignal = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(&Error::Config(format!("body: {e}"))),
    };

    let existing = match s.backend.signals(tenant.to_string()).await {
        Ok(list) => list,
        Err(e) => return error(&e),
    };
    let max = s.settings.max_signals as usize;
    if !existing.iter().any(|x| x.id == id) && existing.len() >= max {
        return json(
            StatusCode::CONFLICT,
            serde_json::json!({
                "error": format!("this tenant has {max} signals, its limit; delete one first")
            })
            .to_string()
            .into_bytes(),
        );
    }
    match s
        .backend
        .put_signal(tenant.to_string(), id, req.query, req.options)
        .await
    {
        Ok(version) => json(
            StatusCode::OK,
            serde_json::json!({ "version": version })
                .to_string()
                .into_bytes(),
        ),
        Err(e) => error(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TestSignal {
    query: String,
    #[serde(default)]
    options: SignalOptions,
    /// Matches returned, at most.
    limit: Option<usize>,
    /// Newest mentions of each source tried, at most.
    scan: Option<usize>,
}

/// `POST /v1/signals/test`: tries a query on the newest stored mentions of every source, as the
/// pipeline would match it, without saving it. Answers how many were tried and matched, and the
/// newest matches with their highlights; a query that would not compile is a 400 naming where.
pub(super) async fn test_signal(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    body: Bytes,
) -> Response {
    let req: TestSignal = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(&Error::Config(format!("body: {e}"))),
    };
    let signal = transforms::signals::Signal {
        tenant: tenant.to_string(),
        id: "preview".into(),
        version: 0,
        query: req.query,
        options: req.options,
    };
    let set = transforms::signals::SignalSet {
        signals: vec![signal],
    };
    let matcher = match transforms::signals::Matcher::compile(&set) {
        Ok(m) => m,
        Err(e) => return error(&Error::Config(format!("query: {e}"))),
    };
    let (limit, scan) = (
        req.limit.unwrap_or(20).clamp(1, 100),
        req.scan.unwrap_or(200).clamp(1, 1000),
    );
    let latest = match s.backend.latest(scan).await {
        Ok(l) => l,
        Err(e) => return error(&e),
    };
    // Enriching thousands of mentions is CPU work of a second or more: on a blocking thread,
    // a core's worth at a time, so previews never hold the threads that serve every other
    // request (and, embedded, run the pipeline).
    let _running = match s.previews.clone().acquire_owned().await {
        Ok(p) => p,
        Err(e) => return error(&Error::internal("the query previews' queue", e)),
    };
    let preview = tokio::task::spawn_blocking(move || {
        let mut mentions: Vec<model::Mention> = latest
            .iter()
            .filter_map(|j| {
                let mut v: serde_json::Value = serde_json::from_slice(j).ok()?;
                serde_json::from_value(v.get_mut("mention")?.take()).ok()
            })
            .collect();
        mentions.sort_by_key(|m| std::cmp::Reverse(m.created_at));
        let mut record = transforms::Record::new();
        let mut matched = 0;
        let mut shown = Vec::new();
        for m in &mentions {
            let hits = transforms::enrich_and_match(m, &mut record, Some(&matcher));
            let Some(hit) = hits.first() else { continue };
            matched += 1;
            if shown.len() < limit {
                shown.push(serde_json::json!({
                    "mention": {
                        "id": m.id, "source": m.source, "url": m.url, "text": m.text,
                        "author": m.author, "created_at": m.created_at,
                    },
                    "highlights": hit.highlights,
                }));
            }
        }
        serde_json::json!({ "scanned": mentions.len(), "matched": matched, "matches": shown })
    })
    .await;
    match preview {
        Ok(v) => json(StatusCode::OK, v.to_string().into_bytes()),
        Err(e) => error(&Error::internal("a query preview", e)),
    }
}

/// `PUT /v1/signals/test` (400: the id is reserved) and `GET`/`DELETE` of it (404: no signal can
/// have it). The path belongs to [`test_signal`].
pub(super) async fn reserved_signal(method: axum::http::Method) -> Response {
    match method {
        axum::http::Method::PUT => error(&Error::Config(
            "\"test\" is not a signal id: POST /v1/signals/test tries a query".into(),
        )),
        _ => not_found("signal"),
    }
}

pub(super) async fn delete_signal(
    State(s): State<ApiState>,
    Extension(Tenant(tenant)): Extension<Tenant>,
    Path(id): Path<String>,
) -> Response {
    // Look first: deleting a missing signal would still bump the revision everyone polls.
    if let Err(r) = own_signal(&s, &tenant, &id).await {
        return r;
    }
    match s.backend.delete_signal(tenant.to_string(), id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => not_found("signal"),
        Err(e) => error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::own_view;

    #[test]
    fn a_tenant_sees_only_its_own_matches_of_a_mention() {
        let m = br#"{"mention":{"id":"m1"},"signals":[{"tenant":"a","signal":"x","version":1},{"tenant":"b","signal":"y","version":2}]}"#;
        let a: serde_json::Value =
            serde_json::from_slice(&own_view(m, "a").expect("a matched")).expect("json");
        assert_eq!(a["signals"].as_array().map(Vec::len), Some(1));
        assert_eq!(a["signals"][0]["signal"], "x");
        assert_eq!(own_view(m, "c"), None, "c matched nothing: not its mention");
        assert_eq!(own_view(br#"{"mention":{"id":"m2"}}"#, "a"), None);
    }
}
