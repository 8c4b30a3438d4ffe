//! The HTTP side of a running pipeline: Prometheus `/metrics`, `/healthz`, `/readyz`, and the
//! client API — mentions by id, the newest mentions of a topic, and signal management.
//! Bound to loopback by default (`metrics.listen`); exposing it is an explicit decision.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/v1/mentions/{id}` | the EnrichedMention (cache first, then the store) |
//! | GET | `/v1/topics/{topic}/recent?limit=N` | newest first, N ≤ 1000 (default 50) |
//! | GET | `/v1/signals` | every tenant's signals |
//! | PUT | `/v1/signals/{tenant}/{id}` | body `{"query": "...", "options": {...}}`; returns the version |
//! | DELETE | `/v1/signals/{tenant}/{id}` | |

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::future::BoxFuture;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use transforms::signals::{Signal, SignalOptions};

use crate::error::{Error, ErrorClass, Result};
use crate::signals::SignalStore;
use crate::traits::{Cache, Store};

/// Whether the worker is ready to do its job (connected to its services, partitions assigned).
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What the API needs from the pipeline's stores, object-safe so the router is not generic.
pub trait Backend: Send + Sync + 'static {
    fn mention(&self, id: String) -> BoxFuture<'_, Result<Option<Vec<u8>>>>;
    fn recent(&self, topic: String, limit: usize) -> BoxFuture<'_, Result<Vec<Vec<u8>>>>;
    fn signals(&self) -> BoxFuture<'_, Result<Vec<Signal>>>;
    fn put_signal(
        &self,
        tenant: String,
        id: String,
        query: String,
        options: SignalOptions,
    ) -> BoxFuture<'_, Result<u64>>;
    fn delete_signal(&self, tenant: String, id: String) -> BoxFuture<'_, Result<bool>>;
}

/// The [`Backend`] over a store and a cache; it answers JSON read from their compact records.
#[derive(Debug)]
pub struct StoreBackend<S, K> {
    pub store: Arc<S>,
    pub cache: Arc<K>,
    pub codec: Arc<crate::codec::Codec>,
}

impl<S: Store + SignalStore, K: Cache> StoreBackend<S, K> {
    pub fn new(store: Arc<S>, cache: Arc<K>) -> StoreBackend<S, K> {
        StoreBackend {
            store,
            cache,
            codec: Arc::default(),
        }
    }
}

impl<S: Store + SignalStore, K: Cache> Backend for StoreBackend<S, K> {
    fn mention(&self, id: String) -> BoxFuture<'_, Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            let record = match self.cache.get(&id).await {
                Ok(Some(hit)) => Some(hit),
                _ => {
                    let stored = self.store.get(&id).await?;
                    if let Some(r) = &stored {
                        self.cache.fill(&id, r).await;
                    }
                    stored
                }
            };
            match record {
                Some(r) => Ok(Some(self.codec.to_json(&*self.store, &r).await?)),
                None => Ok(None),
            }
        })
    }
    fn recent(&self, topic: String, limit: usize) -> BoxFuture<'_, Result<Vec<Vec<u8>>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for r in self.store.recent(&topic, limit).await? {
                out.push(self.codec.to_json(&*self.store, &r).await?);
            }
            Ok(out)
        })
    }
    fn signals(&self) -> BoxFuture<'_, Result<Vec<Signal>>> {
        Box::pin(async move { Ok(self.store.load_signals().await?.1) })
    }
    fn put_signal(
        &self,
        tenant: String,
        id: String,
        query: String,
        options: SignalOptions,
    ) -> BoxFuture<'_, Result<u64>> {
        Box::pin(
            async move { crate::signals::put(&*self.store, &tenant, &id, &query, options).await },
        )
    }
    fn delete_signal(&self, tenant: String, id: String) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move { self.store.delete_signal(&tenant, &id).await })
    }
}

#[derive(Clone)]
struct AppState {
    metrics: PrometheusHandle,
    ready: Readiness,
    backend: Option<Arc<dyn Backend>>,
}

/// Binds `addr` and serves until the process ends. Returns the bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    metrics: PrometheusHandle,
    ready: Readiness,
    backend: Option<Arc<dyn Backend>>,
) -> Result<SocketAddr> {
    let app = Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/v1/mentions/{id}", get(mention))
        .route("/v1/topics/{topic}/recent", get(recent))
        .route("/v1/signals", get(list_signals))
        .route(
            "/v1/signals/{tenant}/{id}",
            axum::routing::put(put_signal).delete(delete_signal),
        )
        .with_state(AppState {
            metrics,
            ready,
            backend,
        });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| {
            Error::Config(format!(
                "metrics.listen: cannot bind {addr}: {e} (another worker on this host? give each \
                 its own port, or port 0 to pick a free one: BACKCHANNEL__METRICS__LISTEN=127.0.0.1:0)"
            ))
        })?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok(bound)
}

async fn render(State(s): State<AppState>) -> String {
    s.metrics.run_upkeep();
    s.metrics.render()
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, &'static str) {
    if s.ready.get() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error(e: &Error) -> Response {
    let status = match (e, e.class()) {
        (Error::Config(_), _) => StatusCode::BAD_REQUEST,
        (_, ErrorClass::External) => StatusCode::SERVICE_UNAVAILABLE,
        (_, ErrorClass::Rejected) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json(
        status,
        serde_json::json!({"error": e.to_string()})
            .to_string()
            .into_bytes(),
    )
}

#[allow(clippy::result_large_err)] // the error is the ready-made HTTP response
fn backend(s: &AppState) -> std::result::Result<&Arc<dyn Backend>, Response> {
    s.backend
        .as_ref()
        .ok_or_else(|| error(&Error::Config("this process serves no API".into())))
}

async fn mention(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let b = match backend(&s) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match b.mention(id).await {
        Ok(Some(body)) => json(StatusCode::OK, body),
        Ok(None) => json(
            StatusCode::NOT_FOUND,
            br#"{"error":"no such mention"}"#.to_vec(),
        ),
        Err(e) => error(&e),
    }
}

#[derive(Debug, Deserialize)]
struct RecentQuery {
    limit: Option<usize>,
}

async fn recent(
    State(s): State<AppState>,
    Path(topic): Path<String>,
    Query(q): Query<RecentQuery>,
) -> Response {
    let b = match backend(&s) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    match b.recent(topic, limit).await {
        Ok(items) => {
            let mut body = b"[".to_vec();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(item);
            }
            body.push(b']');
            json(StatusCode::OK, body)
        }
        Err(e) => error(&e),
    }
}

async fn list_signals(State(s): State<AppState>) -> Response {
    let b = match backend(&s) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match b.signals().await {
        Ok(list) => json(
            StatusCode::OK,
            serde_json::to_vec(&list).unwrap_or_default(),
        ),
        Err(e) => error(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutSignal {
    query: String,
    #[serde(default)]
    options: SignalOptions,
}

async fn put_signal(
    State(s): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let b = match backend(&s) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let req: PutSignal = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(&Error::Config(format!("body: {e}"))),
    };
    match b.put_signal(tenant, id, req.query, req.options).await {
        Ok(version) => json(
            StatusCode::OK,
            serde_json::json!({"version": version})
                .to_string()
                .into_bytes(),
        ),
        Err(e) => error(&e),
    }
}

async fn delete_signal(
    State(s): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Response {
    let b = match backend(&s) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match b.delete_signal(tenant, id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => json(
            StatusCode::NOT_FOUND,
            br#"{"error":"no such signal"}"#.to_vec(),
        ),
        Err(e) => error(&e),
    }
}
