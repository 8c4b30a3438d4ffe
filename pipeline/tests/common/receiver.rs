//! A webhook receiver for alert delivery tests: a local HTTP server that answers 200 and records
//! every delivery. Shared by the integration tests (`common::receiver`) and the engine's unit
//! test (included by path), so there is one of it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

// `webhook` is `pipeline::alerts::webhook`, named by the module that includes this file.
use super::webhook;

/// What the receiver saw: delivery id, whether the signature verified, the body as JSON.
pub type Deliveries = Arc<Mutex<Vec<(String, bool, serde_json::Value)>>>;

/// Starts a receiver on a free loopback port checking signatures against `secret`; returns its
/// URL and what it saw so far.
pub async fn start(secret: &str) -> (String, Deliveries) {
    let seen: Deliveries = Arc::default();
    let (secret, got) = (secret.to_owned(), seen.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (secret, got) = (secret.clone(), got.clone());
                async move {
                    let h = |k: &str| {
                        headers
                            .get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let signed = webhook::verify(
                        secret.as_bytes(),
                        &h(webhook::SIGNATURE_HEADER),
                        &body,
                        chrono::Utc::now().timestamp(),
                        Duration::from_secs(300),
                    );
                    let v = serde_json::from_slice(&body).unwrap_or_default();
                    got.lock().unwrap_or_else(|p| p.into_inner()).push((
                        h(webhook::DELIVERY_HEADER),
                        signed,
                        v,
                    ));
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}
