//! Webhook ingest: an HTTP endpoint that partners and scripts push mentions to.
//!
//! `POST <path>` takes canonical `Mention`s: one JSON object, a JSON array of them, or NDJSON
//! (`Content-Type: application/x-ndjson`). `POST <path>/<format>` takes a source's native payload
//! instead (see [`native`](crate::native)) in the same three shapes: `mastodon` (a status, or a
//! Mastodon webhook `status.created`/`status.updated` event; `?server=<host>` names the server
//! whose status ids they are, else the status `uri`'s host), `bluesky` (a Jetstream event),
//! `hackernews` (an item), `x` (a v2 stream frame or a v2 response with a list of posts). Every
//! request needs `Authorization: Bearer <token>`.
//!
//! A record is one NDJSON line, one element of a top-level JSON array, or the whole body. Each is
//! judged alone: a bad one is counted as malformed (`backchannel_collector_malformed_frames_total`,
//! a sampled log line), dead-lettered (the first [`MAX_DEAD_LETTERS_PER_PUSH`] of a body) and
//! reported by its index; the others go in.
//!
//! Answers: `202` with `{"accepted":n,"rejected":m,"dead_lettered":d,"errors":[{"record":i,
//! "reason":…}]}` (the first 20 rejected records; `record` is the line or array index); `401`
//! without the right token; `404` for an unknown `<format>`; `413` over the body limit; `415`
//! for another content type; `503` with `Retry-After` when the consumer is behind or the bodies
//! in progress already hold `max_in_flight_bytes` — backpressure is an answer, not a hung
//! request. A 202 means "queued for the pipeline", not "durable": a pusher that needs more
//! should resend, since ids make that harmless.
//!
//! Memory is bounded by bytes: the token is checked before a byte of the body is read, and a
//! request is admitted only once its body (its `Content-Length`, or `max_body_bytes` when it
//! sends none) fits in `max_in_flight_bytes` with the bodies already in progress.
//!
//! Pushes have no cursor: items carry `None`, and nothing is checkpointed.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use model::{DecodeLimits, Mention, Source};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::common::serve::ServeLimits;
use crate::common::{CollectorError, Cursor, Emitter, ItemStream, Secret, SecretRef};

/// How the webhook listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Address to listen on, e.g. `"0.0.0.0:8088"` (`:0` picks a free port).
    pub listen: String,
    /// Path of the endpoint; `<path>/<format>` takes native payloads.
    #[serde(default = "default_path")]
    pub path: String,
    /// The bearer token clients must send.
    pub token: SecretRef,
    /// Largest accepted request body in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// The most bytes of request bodies held at once, over all requests in progress; at least
    /// `max_body_bytes`.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight_bytes: usize,
    /// How long a request may wait for room in the pipeline before it is answered `503`, in a
    /// human duration (`"2s"`).
    #[serde(default = "default_queue_wait", with = "crate::common::duration")]
    pub queue_wait: Duration,
    /// Connections open at once, idle ones included; one more waits until one closes.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long a client may take to send a request's head before the connection is closed, in
    /// a human duration (`"30s"`).
    #[serde(default = "default_head_timeout", with = "crate::common::duration")]
    pub head_timeout: Duration,
}

impl WebhookConfig {
    /// Listens on `listen` for pushes that carry `token`, every other key at its default.
    pub fn new(listen: impl Into<String>, token: SecretRef) -> Self {
        WebhookConfig {
            listen: listen.into(),
            path: default_path(),
            token,
            max_body_bytes: default_max_body(),
            max_in_flight_bytes: default_max_in_flight(),
            queue_wait: default_queue_wait(),
            max_connections: default_max_connections(),
            head_timeout: default_head_timeout(),
        }
    }
}

fn default_path() -> String {
    "/ingest".into()
}
fn default_max_body() -> usize {
    4 << 20
}
fn default_max_in_flight() -> usize {
    64 << 20
}
fn default_queue_wait() -> Duration {
    Duration::from_secs(2)
}
fn default_max_connections() -> usize {
    ServeLimits::default().max_connections
}
fn default_head_timeout() -> Duration {
    ServeLimits::default().head_timeout
}

/// A webhook collector with its socket bound (so a caller knows the port before streaming).
#[derive(Debug)]
pub struct Webhook {
    listener: tokio::net::TcpListener,
    path: String,
    token: Secret,
    max_body: usize,
    max_in_flight: usize,
    queue_wait: Duration,
    limits: ServeLimits,
}

impl Webhook {
    /// Checks the config, reads the token and binds the socket.
    pub async fn bind(cfg: WebhookConfig) -> Result<Self, CollectorError> {
        if !cfg.path.starts_with('/') || cfg.path.len() < 2 || cfg.path.ends_with('/') {
            return Err(CollectorError::Config(format!(
                "webhook.path: expected a path like \"/ingest\", got {:?}",
                cfg.path
            )));
        }
        if cfg.max_in_flight_bytes < cfg.max_body_bytes
            || u32::try_from(cfg.max_body_bytes).is_err()
        {
            return Err(CollectorError::Config(format!(
                "webhook.max_in_flight_bytes ({}) must be at least max_body_bytes ({}), which \
                 must be under 4 GiB: a body of the largest size must fit",
                cfg.max_in_flight_bytes, cfg.max_body_bytes
            )));
        }
        if cfg.max_connections == 0 || cfg.head_timeout.is_zero() {
            return Err(CollectorError::Config(format!(
                "webhook.max_connections ({}) and webhook.head_timeout ({:?}) must be above 0",
                cfg.max_connections, cfg.head_timeout
            )));
        }
        let token = cfg.token.resolve("webhook.token")?;
        let listener = tokio::net::TcpListener::bind(&cfg.listen)
            .await
            .map_err(|e| {
                CollectorError::Config(format!("webhook.listen: cannot bind {}: {e}", cfg.listen))
            })?;
        Ok(Webhook {
            listener,
            path: cfg.path,
            token,
            max_body: cfg.max_body_bytes,
            max_in_flight: cfg.max_in_flight_bytes,
            queue_wait: cfg.queue_wait,
            limits: ServeLimits {
                head_timeout: cfg.head_timeout,
                max_connections: cfg.max_connections,
            },
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, CollectorError> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until the stream is dropped. `_resume` is ignored: pushes cannot be replayed.
    pub fn stream(self, _resume: Option<Cursor>) -> ItemStream {
        crate::common::spawn(Source::Webhook, move |em| self.serve(em))
    }

    async fn serve(self, em: Emitter) -> Result<(), CollectorError> {
        let state = AppState {
            em,
            token: self.token,
            max_record: self.max_body,
            queue_wait: self.queue_wait,
            in_flight: Arc::new(Semaphore::new(
                self.max_in_flight.min(Semaphore::MAX_PERMITS),
            )),
        };
        let app = Router::new()
            .route(&self.path, post(ingest_canonical))
            .route(&format!("{}/{{format}}", self.path), post(ingest_native))
            .layer(middleware::from_fn_with_state(state.clone(), admit))
            .layer(DefaultBodyLimit::max(self.max_body))
            .with_state(state);
        crate::common::serve::serve(self.listener, app, self.limits)
            .await
            .map_err(|e| CollectorError::Transport(format!("webhook server: {e}")))
    }
}

#[derive(Debug, Clone)]
struct AppState {
    em: Emitter,
    token: Secret,
    max_record: usize,
    queue_wait: Duration,
    /// One permit a byte of `max_in_flight_bytes`.
    in_flight: Arc<Semaphore>,
}

/// Runs before the body is read: refuses a request without the token, and holds the room its
/// body may take in `in_flight` until its answer is made (up to `queue_wait` to get it).
async fn admit(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let authorized = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| st.token.matches(t.trim()));
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong bearer token\n",
        )
            .into_response();
    }
    // A larger declared body is refused by the body limit before it is read.
    let body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .map_or(st.max_record, |n| n.min(st.max_record))
        .max(1);
    let room = u32::try_from(body).unwrap_or(u32::MAX);
    let permit = tokio::time::timeout(st.queue_wait, st.in_flight.acquire_many(room)).await;
    let Ok(Ok(_permit)) = permit else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            axum::Json(json!({"accepted": 0, "error": "too many bytes in flight; retry"})),
        )
            .into_response();
    };
    next.run(req).await
}

/// The native endpoint's query: `server`, the Mastodon host whose status ids these are.
#[derive(Debug, Default, Deserialize)]
struct NativeQuery {
    server: Option<String>,
}

async fn ingest_canonical(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    ingest(st, &headers, None, None, body).await
}

async fn ingest_native(
    State(st): State<AppState>,
    Path(format): Path<String>,
    Query(q): Query<NativeQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    ingest(st, &headers, Some(format), q.server, body).await
}

async fn ingest(
    mut st: AppState,
    headers: &HeaderMap,
    format: Option<String>,
    server: Option<String>,
    body: Bytes,
) -> Response {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let ndjson = match ctype.as_str() {
        "application/json" => false,
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => true,
        other => {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("content type {other:?}: send application/json or application/x-ndjson\n"),
            )
                .into_response();
        }
    };
    if let Some(f) = &format
        && !crate::native::FORMATS.contains(&f.as_str())
    {
        return (
            StatusCode::NOT_FOUND,
            format!(
                "unknown payload format {f:?}: one of {}\n",
                crate::native::FORMATS.join(", ")
            ),
        )
            .into_response();
    }
    let records: Vec<Cow<'_, [u8]>> = if ndjson {
        body.split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(Cow::Borrowed)
            .collect()
    } else {
        split_array(&body)
    };
    let collected_at = chrono::Utc::now();
    let limits = DecodeLimits {
        max_bytes: st.max_record,
        ..DecodeLimits::default()
    };
    let (mut accepted, mut rejected, mut dead_lettered, mut errors) = (0, 0, 0, Vec::new());
    let behind = |accepted: usize| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            axum::Json(json!({"accepted": accepted, "error": "pipeline is behind; retry"})),
        )
            .into_response()
    };
    for (index, rec) in records.iter().enumerate() {
        let decoded = match &format {
            None => Mention::decode(rec, limits)
                .map(|m| vec![m])
                .map_err(|e| (e.reason(), format!("record {index} of a pushed body: {e}"))),
            Some(f) => crate::native::decode(f, rec, server.as_deref(), collected_at)
                .map_err(|reason| (reason, format!("record {index} of a pushed {f} body"))),
        };
        let mentions = match decoded {
            Ok(ms) => ms,
            Err((reason, detail)) => {
                // Dead-lettered like a bad frame from any source, and named in the answer; past
                // MAX_DEAD_LETTERS_PER_PUSH, only counted, so a body of tiny bad records cannot
                // make millions of dead letters.
                if dead_lettered < MAX_DEAD_LETTERS_PER_PUSH {
                    if st
                        .em
                        .malformed_within(reason, detail, rec, st.queue_wait)
                        .await
                        .is_err()
                    {
                        return behind(accepted);
                    }
                    dead_lettered += 1;
                } else {
                    st.em.malformed_not_sent(reason, &detail, rec);
                }
                rejected += 1;
                if errors.len() < 20 {
                    errors.push(json!({"record": index, "reason": reason}));
                }
                continue;
            }
        };
        for m in mentions {
            if st.em.mention_within(m, st.queue_wait).await.is_err() {
                return behind(accepted);
            }
            accepted += 1;
        }
    }
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({
            "accepted": accepted,
            "rejected": rejected,
            "dead_lettered": dead_lettered,
            "errors": errors
        })),
    )
        .into_response()
}

/// Rejected records of one pushed body that are dead-lettered; the rest are counted and logged.
/// A 4 MiB body of two-byte bad records would otherwise make two million dead letters.
pub const MAX_DEAD_LETTERS_PER_PUSH: usize = 100;

/// The records of a JSON body: the elements of a top-level array (each re-serialised, so it is
/// decoded and size-checked exactly like a record sent alone), else the body itself. A body that
/// starts like an array but does not parse is one record, which then fails as malformed.
fn split_array(body: &[u8]) -> Vec<Cow<'_, [u8]>> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
        return vec![Cow::Borrowed(body)];
    }
    match serde_json::from_slice::<Vec<serde_json::Value>>(body) {
        Ok(values) => values
            .iter()
            .map(|v| Cow::Owned(serde_json::to_vec(v).unwrap_or_default()))
            .collect(),
        Err(_) => vec![Cow::Borrowed(body)],
    }
}
