//! The operations side of a running process: Prometheus `/metrics`, `/healthz` and `/readyz` on
//! `metrics.listen` (loopback by default). The client API has its own address ([`crate::api`]),
//! so scraping metrics never exposes it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::error::{Error, Result};

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

#[derive(Clone)]
struct AppState {
    metrics: PrometheusHandle,
    ready: Readiness,
}

/// Binds `addr` and serves until the process ends. Returns the bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    metrics: PrometheusHandle,
    ready: Readiness,
) -> Result<SocketAddr> {
    let app = Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, ready });
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::Config(format!(
            "metrics.listen: cannot bind {addr}: {e} (another worker on this host? give each \
             its own port, or port 0 to pick a free one: BACKCHANNEL__METRICS__LISTEN=127.0.0.1:0)"
        ))
    })?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        let limits = collectors::common::serve::ServeLimits {
            max_connections: 256,
            ..Default::default()
        };
        if let Err(e) = collectors::common::serve::serve(listener, app, limits).await {
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
