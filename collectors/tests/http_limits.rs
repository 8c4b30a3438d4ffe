//! The `[collectors.NAME.http]` limits against local servers that misbehave on purpose: a body
//! that stalls after the headers, one that trickles past the total timeout, one that never
//! ends, an SSE line of 10 MB, a WebSocket message over the cap, and redirects to the same and
//! to another host.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use collectors::{
    BackoffConfig, CollectorError, HttpLimits, Jetstream, JetstreamConfig, Mastodon,
    MastodonConfig, MastodonTimeline, Rss, RssConfig,
};
use support::http::{Reply, Server};
use support::ws::{WsReply, WsServer};
use support::{malformed, mentions, take};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const FEED: &str = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title>\
    <item><guid>a</guid><title>Hello from the feed</title>\
    <pubDate>Sat, 03 Jan 2004 08:00:00 GMT</pubDate></item></channel></rss>";

fn backoff() -> BackoffConfig {
    BackoffConfig {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
    }
}

fn rss_config(url: String, http: HttpLimits) -> RssConfig {
    RssConfig {
        url,
        poll_interval: Duration::from_millis(50),
        remember: 100,
        skip_existing: false,
        backoff: backoff(),
        http,
    }
}

fn feed() -> Reply {
    Reply::Full {
        status: 200,
        headers: vec![("content-type".into(), "application/rss+xml".into())],
        body: FEED.into(),
    }
}

/// Status, headers, then `chunks` each after its pause (a close-delimited body).
fn slow(chunks: Vec<(Duration, Vec<u8>)>) -> Reply {
    Reply::Stream {
        status: 200,
        headers: vec![("content-type".into(), "application/rss+xml".into())],
        chunks,
        hold: Duration::ZERO,
    }
}

#[tokio::test]
async fn read_timeout_fires_when_a_body_stalls_after_the_headers() {
    let server = Server::start(|n, _| match n {
        0 => slow(vec![
            (Duration::ZERO, b"<?xml version=\"1.0\"?><rss".to_vec()),
            (Duration::from_secs(30), b" version=\"2.0\">".to_vec()),
        ]),
        _ => feed(),
    })
    .await;
    let http = HttpLimits {
        read_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(20),
        ..HttpLimits::default()
    };
    let started = Instant::now();
    let mut s = Rss::new(rss_config(server.url("/feed.xml"), http))
        .expect("config")
        .stream(None);
    let items = take(&mut s, 1, Duration::from_secs(10)).await;
    let got = mentions(&items);
    assert_eq!(got.len(), 1, "the retry after the stall delivers the feed");
    assert_eq!(got[0].text, "Hello from the feed");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "gave up on the stalled body after {waited:?}, not after 300 ms"
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn request_timeout_cuts_a_body_that_trickles_without_ever_idling() {
    let trickle: Vec<(Duration, Vec<u8>)> = (0..200)
        .map(|_| (Duration::from_millis(50), b" ".to_vec()))
        .collect();
    let server = Server::start(move |n, _| match n {
        0 => slow(trickle.clone()),
        _ => feed(),
    })
    .await;
    let http = HttpLimits {
        read_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_secs(1),
        ..HttpLimits::default()
    };
    let started = Instant::now();
    let mut s = Rss::new(rss_config(server.url("/feed.xml"), http))
        .expect("config")
        .stream(None);
    let items = take(&mut s, 1, Duration::from_secs(10)).await;
    assert_eq!(mentions(&items).len(), 1);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(4),
        "the 10 s trickle was cut by the 1 s total after {waited:?}"
    );
}

/// Connection 0 gets a body that never ends; the bytes written to it are recorded once the
/// client hangs up. Later connections get the feed.
async fn endless_server() -> (String, Arc<Mutex<Option<u64>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/feed.xml", listener.local_addr().expect("addr"));
    let written = Arc::new(Mutex::new(None));
    let w = written.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            if n == 0 {
                let w = w.clone();
                tokio::spawn(async move {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/rss+xml\r\n\r\n";
                    let _ = sock.write_all(head.as_bytes()).await;
                    let chunk = vec![b'x'; 64 << 10];
                    let mut total = 0u64;
                    // Stops only when the client closes the connection (or at 1 GiB: a bug).
                    while total < 1 << 30 && sock.write_all(&chunk).await.is_ok() {
                        total += chunk.len() as u64;
                    }
                    *w.lock().expect("lock") = Some(total);
                });
            } else {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
                    FEED.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(FEED.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
            n += 1;
        }
    });
    (url, written)
}

#[tokio::test]
async fn an_endless_body_is_cut_at_max_body_bytes_and_the_next_poll_succeeds() {
    let (url, written) = endless_server().await;
    let http = HttpLimits {
        max_body_bytes: 1 << 20,
        ..HttpLimits::default()
    };
    let mut s = Rss::new(rss_config(url, http))
        .expect("config")
        .stream(None);
    let items = take(&mut s, 2, Duration::from_secs(10)).await;
    assert_eq!(mentions(&items).len(), 1, "the next poll still works");
    assert_eq!(
        malformed(&items),
        [(
            "too_large",
            "response body over http.max_body_bytes (1048576 bytes); polling again after \
             poll_interval"
                .to_owned()
        )],
        "the feed over the cap is dead-lettered by its URL"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let total = loop {
        if let Some(t) = *written.lock().expect("lock") {
            break t;
        }
        assert!(Instant::now() < deadline, "the client never hung up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The cap plus what the kernel's socket buffers held: never the whole (endless) body.
    assert!(total >= 1 << 20, "hung up after only {total} bytes");
    assert!(total < 32 << 20, "read {total} bytes for a 1 MiB cap");
}

#[tokio::test]
async fn a_content_length_over_the_cap_is_refused_before_reading() {
    let server = Server::start(|n, _| match n {
        0 => Reply::Full {
            status: 200,
            headers: vec![],
            body: FEED
                .replace("<guid>a</guid>", "<guid>big</guid>")
                .replace("Hello from the feed", &"big ".repeat(1000))
                .into_bytes(),
        },
        _ => feed(),
    })
    .await;
    let http = HttpLimits {
        max_body_bytes: 1024,
        ..HttpLimits::default()
    };
    let mut s = Rss::new(rss_config(server.url("/feed.xml"), http))
        .expect("config")
        .stream(None);
    let items = take(&mut s, 2, Duration::from_secs(5)).await;
    // The valid 4 KiB feed was dropped unread; the small one that followed was read.
    assert_eq!(malformed(&items).len(), 1);
    let got = mentions(&items);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].text, "Hello from the feed");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_redirect_to_another_host_is_refused_and_stops_the_collector() {
    let other = Server::start(|_, _| feed()).await;
    let to = format!("http://localhost:{}/feed.xml", other.addr.port());
    let server = Server::start(move |_, _| Reply::status(302, &[("location", to.as_str())])).await;
    let mut s = Rss::new(rss_config(server.url("/feed.xml"), HttpLimits::default()))
        .expect("config")
        .stream(None);
    let items = take(&mut s, 2, Duration::from_secs(5)).await;
    assert_eq!(items.len(), 1, "one error, then the end: {items:?}");
    match &items[0] {
        Err(e @ CollectorError::Redirect(msg)) => {
            assert!(e.is_fatal());
            assert!(msg.contains("allow_redirect_hosts"), "{msg}");
            assert!(msg.contains("localhost"), "{msg}");
        }
        other => panic!("expected a refused redirect, got {other:?}"),
    }
    assert!(other.requests().is_empty(), "the other host was contacted");
}

#[tokio::test]
async fn redirects_within_the_host_and_to_allowed_hosts_are_followed() {
    let server = Server::start(|_, req| match req.path() {
        "/feed.xml" => Reply::status(301, &[("location", "/moved.xml")]),
        _ => feed(),
    })
    .await;
    let mut s = Rss::new(rss_config(server.url("/feed.xml"), HttpLimits::default()))
        .expect("config")
        .stream(None);
    assert_eq!(
        mentions(&take(&mut s, 1, Duration::from_secs(5)).await).len(),
        1
    );
    let paths: Vec<String> = server.requests().iter().map(|r| r.path().into()).collect();
    assert_eq!(paths[..2], ["/feed.xml", "/moved.xml"]);

    let other = Server::start(|_, _| feed()).await;
    let to = format!("http://localhost:{}/elsewhere.xml", other.addr.port());
    let server = Server::start(move |_, _| Reply::status(307, &[("location", to.as_str())])).await;
    let http = HttpLimits {
        allow_redirect_hosts: vec!["localhost".into()],
        ..HttpLimits::default()
    };
    let mut s = Rss::new(rss_config(server.url("/feed.xml"), http))
        .expect("config")
        .stream(None);
    assert_eq!(
        mentions(&take(&mut s, 1, Duration::from_secs(5)).await).len(),
        1
    );
    assert_eq!(other.requests()[0].path(), "/elsewhere.xml");
}

const MASTODON_EVENTS: &str = include_str!("fixtures/mastodon/streaming_doc_events.sse");

#[tokio::test]
async fn a_10_mb_sse_line_is_dropped_and_the_next_event_arrives_on_the_same_connection() {
    let update = MASTODON_EVENTS
        .split("\n\n")
        .find(|e| e.starts_with("event: update\n"))
        .expect("an update event");
    let mut chunks = vec![b"event: update\ndata: {\"id\":\"".to_vec()];
    chunks.extend((0..160).map(|_| vec![b'9'; 64 << 10])); // 10 MiB, one line
    chunks.push(b"\"}\n\n".to_vec());
    chunks.push(format!("{update}\n\n").into_bytes());
    let server = Server::start(move |_, _| {
        Reply::stream("text/event-stream", chunks.clone(), Duration::from_secs(10))
    })
    .await;
    let cfg = MastodonConfig {
        server: server.url(""),
        timeline: MastodonTimeline::Public,
        hashtag: None,
        token: None,
        backoff: backoff(),
        idle_timeout: Duration::from_secs(5),
        backfill_pages: 0,
        dedup_window: 10_000,
        keep_raw: false,
        http: HttpLimits::default(), // 4 MiB lines and events
    };
    let mut s = Mastodon::new(cfg).expect("config").stream(None);
    let items = take(&mut s, 2, Duration::from_secs(10)).await;
    let got = mentions(&items);
    assert_eq!(got.len(), 1);
    assert!(got[0].id.ends_with("/108914327388663283"), "{}", got[0].id);
    let bad = malformed(&items);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].0, "too_large");
    assert!(
        bad[0].1.starts_with("an SSE line over http.max_line_bytes"),
        "{}",
        bad[0].1
    );
    assert_eq!(server.requests().len(), 1, "resynced without reconnecting");
}

fn jetstream_post(time_us: i64) -> String {
    serde_json::json!({"did":"did:plc:testtesttesttesttesttest","time_us":time_us,
      "kind":"commit","commit":{"rev":"3l","operation":"create",
        "collection":"app.bsky.feed.post","rkey":format!("r{time_us}"),
        "record":{"$type":"app.bsky.feed.post","createdAt":"2026-05-25T14:23:29.000Z",
          "text":"hello"},"cid":"bafy"}})
    .to_string()
}

/// Jetstream would send the message again from the cursor, so the collector resumes 1 ms after
/// the event before it, and dead-letters the pass.
#[tokio::test]
async fn a_websocket_message_over_the_cap_reconnects_past_it() {
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(256 << 10));
    let server = WsServer::start(move |n, _| match n {
        0 => WsReply::SendThenHold(vec![
            jetstream_post(1_000),
            huge.clone(),
            jetstream_post(1_001),
        ]),
        _ => WsReply::SendThenHold(vec![jetstream_post(1_001)]),
    })
    .await;
    let cfg = JetstreamConfig {
        endpoint: format!("ws://{}/subscribe", server.addr),
        wanted_collections: vec!["app.bsky.feed.post".into()],
        wanted_dids: vec![],
        rewind: Duration::ZERO,
        backoff: backoff(),
        idle_timeout: Duration::from_secs(5),
        handle_cache_entries: 100_000,
        handle_cache_bytes: 32 << 20,
        handle_resolver: None,
        keep_raw: false,
        http: HttpLimits {
            max_frame_bytes: 64 << 10,
            ..HttpLimits::default()
        },
    };
    let mut s = Jetstream::new(cfg).expect("config").stream(None);
    let items = take(&mut s, 3, Duration::from_secs(10)).await;
    assert_eq!(mentions(&items).len(), 2);
    let bad = malformed(&items);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].0, "too_large");
    assert!(bad[0].1.contains("http.max_frame_bytes"), "{bad:?}");
    assert!(!bad[0].1.contains("  "), "one line of prose: {bad:?}");
    let targets = server.targets.lock().expect("lock").clone();
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert!(targets[1].contains("cursor=2000"), "{targets:?}");
}
