//! Serving an axum router with the limits `axum::serve` leaves off. Without a timer, hyper never
//! enforces its header timeout, so a client that sends a request head a byte at a time (or opens
//! connections and sends nothing) holds a task, buffers and a file descriptor for as long as it
//! likes, and nothing bounds how many it holds. Here a request head must arrive within
//! [`ServeLimits::head_timeout`] and at most [`ServeLimits::max_connections`] connections are
//! open at once: past that the server stops accepting (the kernel's backlog holds the next ones)
//! until one closes. Long responses (SSE, WebSocket) are not cut: the timeout is for heads only.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How much a server lets its clients hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// How long a client may take to send a request's head (hyper's own default, which it applies
    /// only with a timer).
    pub head_timeout: Duration,
    /// Connections open at once, idle and streaming ones included.
    pub max_connections: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            head_timeout: Duration::from_secs(30),
            max_connections: 10_000,
        }
    }
}

/// Serves `app` on `listener` until the listener fails for good, like `axum::serve` (HTTP/1.1,
/// upgrades for WebSocket) within `limits`.
pub async fn serve(listener: TcpListener, app: Router, limits: ServeLimits) -> std::io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut with_peer = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    loop {
        let Ok(slot) = open.clone().acquire_owned().await else {
            return Ok(());
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted: wait a
                // moment rather than spin, and go on.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // Handlers that limit per client read its address as axum's `ConnectInfo`.
        let Ok(app) = tower_service::Service::call(&mut with_peer, peer).await;
        let service = TowerToHyperService::new(app);
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.head_timeout);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended");
            }
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    async fn start(limits: ServeLimits) -> std::net::SocketAddr {
        let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(serve(listener, app, limits));
        addr
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    /// The first bytes the server sends on `conn` within `wait`, or `None`.
    async fn answer(conn: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 256];
        match tokio::time::timeout(wait, conn.read(&mut buf)).await {
            Ok(Ok(n)) => Some(buf[..n].to_vec()),
            Ok(Err(_)) => Some(Vec::new()),
            Err(_) => None,
        }
    }

    #[tokio::test]
    async fn a_request_head_that_never_ends_is_cut_off() {
        let addr = start(ServeLimits {
            head_timeout: Duration::from_millis(300),
            max_connections: 10,
        })
        .await;
        let mut slow = TcpStream::connect(addr).await.expect("connect");
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        let got = answer(&mut slow, Duration::from_secs(10)).await;
        let got = got.expect("the server ends the connection");
        assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&got)
        );
        // A whole head is served as usual.
        let mut ok = TcpStream::connect(addr).await.expect("connect");
        ok.write_all(GET).await.expect("write");
        let got = answer(&mut ok, Duration::from_secs(10))
            .await
            .expect("answered");
        assert!(
            got.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&got)
        );
    }

    #[tokio::test]
    async fn past_max_connections_the_next_waits_until_one_closes() {
        let addr = start(ServeLimits {
            head_timeout: Duration::from_secs(30),
            max_connections: 1,
        })
        .await;
        let mut first = TcpStream::connect(addr).await.expect("connect");
        first.write_all(GET).await.expect("write");
        let got = answer(&mut first, Duration::from_secs(10))
            .await
            .expect("answered");
        assert!(got.starts_with(b"HTTP/1.1 200"));
        // `first` stays open (keep-alive): the second is not served while it is.
        let mut second = TcpStream::connect(addr).await.expect("connect");
        second.write_all(GET).await.expect("write");
        assert_eq!(answer(&mut second, Duration::from_millis(500)).await, None);
        drop(first);
        let got = answer(&mut second, Duration::from_secs(10))
            .await
            .expect("served");
        assert!(
            got.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&got)
        );
    }
}
