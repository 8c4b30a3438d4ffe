//! The HTTP server's address: `metrics.listen` with port 0 lets several workers share a host, and
//! a port already taken fails with the address and the config key. No services needed.

use std::net::SocketAddr;

use pipeline::config::Config;
use pipeline::http::Readiness;
use pipeline::services::serve_http;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(listen: &str) -> Config {
    let vars = [("BACKCHANNEL__METRICS__LISTEN".to_owned(), listen.to_owned())];
    Config::load(None, vars).expect("config")
}

/// `GET path` over HTTP/1.0: (status line, body).
async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut response = String::new();
    conn.read_to_string(&mut response).await.expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, body.to_owned())
}

#[tokio::test]
async fn two_servers_on_port_zero_each_get_a_port_and_answer() {
    let cfg = config("127.0.0.1:0");
    let mut bound = Vec::new();
    for _ in 0..2 {
        let ready = Readiness::default();
        ready.set(true);
        let addr = serve_http(&cfg, ready)
            .await
            .expect("serve")
            .expect("metrics.listen is set");
        assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
        bound.push(addr);
    }
    assert_ne!(bound[0].port(), bound[1].port());
    pipeline::telemetry::rollups(0); // something to render
    for addr in bound {
        let (status, body) = get(addr, "/healthz").await;
        assert!(status.contains(" 200 "), "{addr} /healthz: {status}");
        assert_eq!(body, "ok\n");
        let (status, body) = get(addr, "/metrics").await;
        assert!(status.contains(" 200 "), "{addr} /metrics: {status}");
        assert!(
            body.contains("backchannel_"),
            "{addr} /metrics renders: {body}"
        );
    }
}

#[tokio::test]
async fn a_taken_port_is_an_error_naming_the_address_and_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let err = serve_http(&config(&addr), Readiness::default())
        .await
        .expect_err("the port is taken")
        .to_string();
    assert!(
        err.contains("metrics.listen") && err.contains(&addr),
        "{err}"
    );
    assert!(
        err.contains("port 0"),
        "the message says how to run several: {err}"
    );
}

#[tokio::test]
async fn an_empty_listen_serves_nothing() {
    let none = serve_http(&config(""), Readiness::default())
        .await
        .expect("disabled is fine");
    assert_eq!(none, None);
}
