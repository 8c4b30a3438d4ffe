//! The client API, on its own address (`api.listen`, loopback by default) so that exposing
//! `/metrics` to a Prometheus server never exposes it.
//!
//! Every `/v1` request carries `Authorization: Bearer <key>` (a key from `backchannel tenants
//! create`); without a valid, unrevoked key it answers 401 with a JSON error. The key names the
//! tenant, so paths carry no tenant: a caller can only name its own signals, and another
//! tenant's ids answer 404 like missing ones. Each tenant has a request rate and a bound on
//! requests in progress per process (429 with `Retry-After`), and a number of signals (409).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/v1/signals` | the tenant's signals |
//! | GET | `/v1/signals/{id}` | one signal |
//! | PUT | `/v1/signals/{id}` | body `{"query": "...", "options": {...}}`; returns the version |
//! | DELETE | `/v1/signals/{id}` | 204, or 404 |
//! | POST | `/v1/signals/test` | body `{"query", "options"?, "limit"?, "scan"?}`: the query tried on the newest stored mentions, unsaved ([`routes::test_signal`]) |
//! | GET | `/v1/signals/{id}/mentions?limit=N&before=C` | newest mentions it matched, N ≤ 1000 (default 50); a full page links the next (`Link: <…>; rel="next"`) |
//! | GET | `/v1/signals/{id}/series?from=&to=&step=1m\|1h&top=N` | volume, sentiment labels, mean compound and top hashtags per step ([`routes::signal_series`]) |
//! | GET | `/v1/mentions/{id}` | the EnrichedMention, if it matched one of the tenant's signals |
//! | GET | `/v1/stream?signals=&fields=&cursor=` | live matches as Server-Sent Events ([`stream`]) |
//! | GET | `/v1/ws?signals=&fields=&cursor=` | the same events over a WebSocket |
//! | GET | `/v1/openapi.json` | the OpenAPI 3.1 document of these routes ([`openapi`]); no key needed |
//! | POST | `/admin/v1/manage` | operator actions ([`crate::admin`]); operator key; absent without one |
//! | GET | `/` | the dashboard page, a client of the routes above ([`dashboard`]); no key needed |
//!
//! A mention is shown to a tenant only with that tenant's own signal matches: the others'
//! signal names and highlights are removed. Topics (`source:x`, `hashtag:y`) are not served:
//! they span every tenant's data.

mod alerts;
mod auth;
mod backend;
mod config;
mod dashboard;
mod limits;
mod openapi;
mod proxies;
mod routes;
mod stream;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use backend::{Backend, StoreBackend};
pub use config::{ApiConfig, ApiSettings, Cors};
pub use limits::{Denied, Limiter};
pub use proxies::TrustedProxies;

use crate::error::{Error, ErrorClass, Result};

#[derive(Clone)]
struct ApiState {
    backend: Arc<dyn Backend>,
    settings: Arc<ApiSettings>,
    keys: Arc<auth::Keys>,
    limiter: Arc<Limiter>,
    /// Unknown key ids per client address.
    strangers: Arc<limits::Strangers>,
    operator_key: Option<Arc<str>>,
    /// The live push hub; without one the stream endpoints answer 404.
    hub: Option<Arc<crate::push::Hub>>,
    /// Query previews (`POST /v1/signals/test`) running at once, at most one a core: each
    /// enriches up to thousands of stored mentions, on a blocking thread.
    previews: Arc<tokio::sync::Semaphore>,
}

impl ApiState {
    fn new(
        settings: ApiSettings,
        operator_key: Option<String>,
        backend: Arc<dyn Backend>,
        hub: Option<Arc<crate::push::Hub>>,
    ) -> ApiState {
        ApiState {
            backend,
            hub,
            keys: Arc::new(auth::Keys::new(settings.key_cache_ttl)),
            limiter: Arc::new(Limiter::new(&settings)),
            strangers: Arc::new(limits::Strangers::new(settings.unknown_keys_per_minute)),
            settings: Arc::new(settings),
            operator_key: operator_key.map(Arc::from),
            previews: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, usize::from),
            )),
        }
    }
}

/// The CORS headers `cors` allows, if any: the methods and headers the routes use, and the
/// response headers a page needs (`Link` to page on, `Retry-After` to back off).
fn cors_layer(cors: &config::Cors) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origin = match cors {
        config::Cors::None => return None,
        config::Cors::Any => AllowOrigin::any(),
        config::Cors::Origins(list) => AllowOrigin::list(list.iter().cloned()),
    };
    Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::GET, Method::PUT, Method::DELETE, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([header::LINK, header::RETRY_AFTER])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// The router of the client API over `backend`, with the stream endpoints fed by `hub`.
pub fn router(
    settings: ApiSettings,
    operator_key: Option<String>,
    backend: Arc<dyn Backend>,
    hub: Option<Arc<crate::push::Hub>>,
) -> Router {
    let state = ApiState::new(settings, operator_key, backend, hub);
    let v1 = Router::new()
        .route("/v1/signals", get(routes::list_signals))
        .route(
            "/v1/signals/{id}",
            get(routes::get_signal)
                .put(routes::put_signal)
                .delete(routes::delete_signal),
        )
        .route(
            "/v1/signals/test",
            post(routes::test_signal)
                .put(routes::reserved_signal)
                .get(routes::reserved_signal)
                .delete(routes::reserved_signal),
        )
        .route("/v1/signals/{id}/mentions", get(routes::signal_mentions))
        .route("/v1/signals/{id}/series", get(routes::signal_series))
        .route("/v1/signals/{id}/alerts", get(alerts::list))
        .route(
            "/v1/signals/{id}/alerts/settings",
            get(alerts::get_settings).put(alerts::put_settings),
        )
        .route(
            "/v1/webhook",
            get(alerts::get_webhook)
                .put(alerts::put_webhook)
                .delete(alerts::delete_webhook),
        )
        .route("/v1/webhook/test", post(alerts::test_webhook))
        .route("/v1/mentions/{id}", get(routes::mention))
        .route("/v1/stream", get(stream::sse))
        .route("/v1/ws", get(stream::ws))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    // The document is public: a client reads it before it has a key.
    let mut app = v1.route("/v1/openapi.json", get(openapi));
    // Browsers' cross-origin calls, for `/v1` only (added after this, `/admin` has none). The
    // layer answers a preflight itself, before the key check: a preflight carries no key.
    if let Some(cors) = cors_layer(&state.settings.cors) {
        app = app.layer(cors);
    }
    if state.operator_key.is_some() {
        app = app.route(
            "/admin/v1/manage",
            post(manage).route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                operator,
            )),
        );
    }
    app.merge(dashboard::router()).with_state(state)
}

/// Binds `addr` and serves the API until the process ends. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    settings: ApiSettings,
    operator_key: Option<String>,
    backend: Arc<dyn Backend>,
    hub: Option<Arc<crate::push::Hub>>,
) -> Result<SocketAddr> {
    let limits = settings.serve;
    let app = router(settings, operator_key, backend, hub);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::Config(format!(
            "api.listen: cannot bind {addr}: {e} (another process on this host? give each its \
             own port, or port 0 to pick a free one: BACKCHANNEL__API__LISTEN=127.0.0.1:0)"
        ))
    })?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = collectors::common::serve::serve(listener, app, limits).await {
            tracing::error!(error = %e, "API server stopped");
        }
    });
    Ok(bound)
}

async fn openapi() -> Response {
    json(StatusCode::OK, openapi::document().to_string().into_bytes())
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The answer to a failed request. A client's own mistake (400, 422) is told as it is; a
/// failure on the server's side (503, 500) is not: its message is a driver's or the store's
/// (node addresses, keyspaces, file paths), which callers, even unauthenticated ones, have no
/// business reading. They get what kind of failure it was and an `error_id`, which the
/// server's log line with the whole error carries too.
fn error(e: &Error) -> Response {
    let status = match (e, e.class()) {
        (Error::Config(_), _) => StatusCode::BAD_REQUEST,
        (_, ErrorClass::External) => StatusCode::SERVICE_UNAVAILABLE,
        (_, ErrorClass::Rejected) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = if status.is_server_error() {
        let id = error_id();
        tracing::warn!(error = %e, error_id = %id, status = status.as_u16(), "an API request failed");
        let what = if status == StatusCode::SERVICE_UNAVAILABLE {
            "a service this API depends on is unavailable; retry later"
        } else {
            "internal error"
        };
        serde_json::json!({"error": what, "error_id": id})
    } else {
        serde_json::json!({"error": e.to_string()})
    };
    json(status, body.to_string().into_bytes())
}

/// An id for one failed request: this process's start time and a count, unique enough to find
/// the request's log line among several instances' logs.
fn error_id() -> String {
    static START: std::sync::LazyLock<i64> =
        std::sync::LazyLock::new(|| chrono::Utc::now().timestamp_millis());
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}-{n}", *START)
}

/// Whether `given` is `expected`, in time independent of where they differ.
fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Lets through only requests with the operator key, before a byte of their body is read.
async fn operator(
    State(s): State<ApiState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let authorised = match (auth::bearer(req.headers()), &s.operator_key) {
        (Some(given), Some(expected)) => same_secret(given, expected),
        _ => false,
    };
    if !authorised {
        return auth::unauthorized("this endpoint needs the operator key");
    }
    next.run(req).await
}

/// `POST /admin/v1/manage`: one operator action, let through by [`operator`].
async fn manage(State(s): State<ApiState>, body: Bytes) -> Response {
    let action: crate::admin::Action = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return error(&Error::Config(format!("body: {e}"))),
    };
    match s.backend.admin(action).await {
        Ok(reply) => json(
            StatusCode::OK,
            serde_json::to_vec(&reply).unwrap_or_default(),
        ),
        Err(e) => error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(e: &Error) -> (StatusCode, serde_json::Value) {
        let r = error(e);
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).expect("JSON"))
    }

    #[tokio::test]
    async fn server_side_failures_name_no_internals_and_client_mistakes_say_what_was_wrong() {
        let secret = "node 10.0.0.7:9042 timed out reading keyspace tenant_keys";
        let (status, body) = answer(&Error::store(
            "reading api_keys",
            std::io::Error::other(secret),
        ))
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!body.to_string().contains("10.0.0.7"), "{body}");
        assert!(!body.to_string().contains("api_keys"), "{body}");
        assert!(
            body["error"].as_str().is_some_and(|m| m.contains("retry")),
            "{body}"
        );
        let first = body["error_id"].as_str().expect("an error id").to_owned();
        let (status, body) =
            answer(&Error::internal("a task", std::io::Error::other(secret))).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"], "internal error");
        assert_ne!(
            body["error_id"].as_str(),
            Some(first.as_str()),
            "one id a failure"
        );
        let (status, body) = answer(&Error::Config("limit: must be at most 1000".into())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|m| m.ends_with("limit: must be at most 1000")),
            "{body}"
        );
        assert!(body.get("error_id").is_none());
    }
}
