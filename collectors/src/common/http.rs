//! The HTTP client every polling and streaming collector uses, and what an answer's status means.

use std::time::Duration;

use chrono::Utc;
use futures_util::{Stream, StreamExt};
use reqwest::{Client, Response};

use super::{CollectorError, backoff::retry_after};

/// A client with rustls (ring provider) and sane timeouts. Streaming reads have no overall
/// timeout; they use [`next_chunk`]'s idle timeout instead.
pub fn client() -> Result<Client, CollectorError> {
    // Several collectors may race to install it; losing that race is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .user_agent(concat!(
            "backchannel-collectors/",
            env!("CARGO_PKG_VERSION")
        ))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| CollectorError::Config(format!("HTTP client: {e}")))
}

/// Passes a 2xx answer through; turns any other into the error its status means: 401/403 are
/// [`CollectorError::Auth`] (fatal), 429 — and a 503 with `Retry-After` — are
/// [`CollectorError::RateLimited`], the rest [`CollectorError::Http`].
pub(crate) async fn check(
    resp: Response,
    source: &'static str,
) -> Result<Response, CollectorError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let wait = retry_after(resp.headers(), Utc::now());
    let mut detail = resp.text().await.unwrap_or_default();
    let cut = (0..=detail.len().min(300))
        .rev()
        .find(|&i| detail.is_char_boundary(i))
        .unwrap_or(0);
    detail.truncate(cut);
    Err(match status.as_u16() {
        401 | 403 => CollectorError::Auth {
            source_name: source,
            status: status.as_u16(),
            detail,
        },
        429 => CollectorError::RateLimited { retry_after: wait },
        503 if wait.is_some() => CollectorError::RateLimited { retry_after: wait },
        s => CollectorError::Http { status: s, detail },
    })
}

/// The next chunk of a streaming body, or an error when nothing (not even a heartbeat)
/// arrived for `idle`: a silent connection is as dead as a closed one.
pub(crate) async fn next_chunk<S, B>(
    body: &mut S,
    idle: Duration,
) -> Result<Option<B>, CollectorError>
where
    S: Stream<Item = Result<B, reqwest::Error>> + Unpin,
{
    match tokio::time::timeout(idle, body.next()).await {
        Err(_) => Err(CollectorError::Transport(format!(
            "no data for {idle:?}; reconnecting"
        ))),
        Ok(None) => Ok(None),
        Ok(Some(Err(e))) => Err(e.into()),
        Ok(Some(Ok(b))) => Ok(Some(b)),
    }
}
