//! A scripted WebSocket server on 127.0.0.1 (Jetstream's side of the wire).
#![allow(clippy::result_large_err)] // tungstenite fixes the callback's error type

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::SinkExt;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http;

/// What to do with connection n.
#[derive(Debug, Clone)]
pub enum WsReply {
    /// Refuse the upgrade with this HTTP status and headers.
    Reject(u16, Vec<(&'static str, &'static str)>),
    /// Send these text frames, then drop the TCP connection without a close frame.
    SendThenDrop(Vec<String>),
    /// Send these text frames, then stay open.
    SendThenHold(Vec<String>),
}

pub struct WsServer {
    pub addr: std::net::SocketAddr,
    /// Request targets (path and query) in order.
    pub targets: Arc<Mutex<Vec<String>>>,
}

impl WsServer {
    pub async fn start(
        script: impl Fn(usize, &str) -> WsReply + Send + Sync + 'static,
    ) -> WsServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let targets = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(script);
        let t2 = targets.clone();
        tokio::spawn(async move {
            let mut n = 0usize;
            while let Ok((sock, _)) = listener.accept().await {
                let (script, targets, conn) = (script.clone(), t2.clone(), n);
                n += 1;
                tokio::spawn(async move {
                    let chosen = Arc::new(Mutex::new(None));
                    let c2 = chosen.clone();
                    let cb =
                        move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
                            let target = req.uri().to_string();
                            targets.lock().expect("lock").push(target.clone());
                            let reply = script(conn, &target);
                            if let WsReply::Reject(status, headers) = &reply {
                                let mut b = http::Response::builder().status(*status);
                                for (k, v) in headers {
                                    b = b.header(*k, *v);
                                }
                                return Err(b.body(Some("refused".to_owned())).expect("response"));
                            }
                            *c2.lock().expect("lock") = Some(reply);
                            Ok(resp)
                        };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(sock, cb).await else {
                        return;
                    };
                    let reply = chosen.lock().expect("lock").take();
                    match reply {
                        Some(WsReply::SendThenDrop(frames)) => {
                            for f in frames {
                                if ws.send(Message::text(f)).await.is_err() {
                                    return;
                                }
                            }
                            let _ = ws.flush().await;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            drop(ws); // no close frame: an abrupt disconnect
                        }
                        Some(WsReply::SendThenHold(frames)) => {
                            for f in frames {
                                if ws.send(Message::text(f)).await.is_err() {
                                    return;
                                }
                            }
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                        _ => {}
                    }
                });
            }
        });
        WsServer { addr, targets }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/subscribe", self.addr)
    }

    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().expect("lock").clone()
    }
}
