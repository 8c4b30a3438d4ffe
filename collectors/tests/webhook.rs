//! Webhook ingest over real HTTP on 127.0.0.1: JSON, arrays, NDJSON, bearer token, body limit,
//! bad records rejected one by one (array elements too), native Mastodon, X, Bluesky and Hacker
//! News payloads, and 503 + Retry-After when the consumer is behind.

mod support;

use std::io::Write;
use std::time::Duration;

use collectors::webhook::MAX_DEAD_LETTERS_PER_PUSH;
use collectors::{SecretRef, Synthetic, SyntheticConfig, Webhook, WebhookConfig};
use serde_json::json;
use support::{malformed, mentions, take};

struct Fixture {
    url: String,
    stream: collectors::ItemStream,
    _token: tempfile::NamedTempFile,
}

async fn start(max_body: usize, queue_wait: Duration) -> Fixture {
    start_with(max_body, 4 * max_body, queue_wait).await
}

async fn start_with(max_body: usize, max_in_flight: usize, queue_wait: Duration) -> Fixture {
    start_config(|c| {
        c.max_body_bytes = max_body;
        c.max_in_flight_bytes = max_in_flight;
        c.queue_wait = queue_wait;
    })
    .await
}

/// A webhook on a free port with the token `s3cret`, its config as `tweak` leaves it.
async fn start_config(tweak: impl FnOnce(&mut WebhookConfig)) -> Fixture {
    let mut token = tempfile::NamedTempFile::new().expect("temp");
    writeln!(token, "s3cret").expect("write");
    let mut config = WebhookConfig::new(
        "127.0.0.1:0",
        SecretRef {
            env: None,
            file: Some(token.path().to_owned()),
        },
    );
    tweak(&mut config);
    let hook = Webhook::bind(config).await.expect("bind");
    let url = format!("http://{}/ingest", hook.local_addr().expect("addr"));
    Fixture {
        url,
        stream: hook.stream(None),
        _token: token,
    }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn mention_json(i: u64) -> String {
    serde_json::to_string(&Synthetic::new(SyntheticConfig::default()).mention(i)).expect("json")
}

#[tokio::test]
async fn accepts_json_arrays_and_ndjson_with_the_token() {
    let mut fx = start(1 << 20, Duration::from_secs(1)).await;
    let c = client();
    let r = c
        .post(&fx.url)
        .bearer_auth("s3cret")
        .header("content-type", "application/json")
        .body(mention_json(0))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202);
    let r = c
        .post(&fx.url)
        .bearer_auth("s3cret")
        .header("content-type", "application/json")
        .body(format!("[{},{}]", mention_json(1), mention_json(2)))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202);
    let body = format!(
        "{}\r\n{{broken\n\n{}\n{{\"id\":\"\"}}\n",
        mention_json(3),
        mention_json(4)
    );
    let r = c
        .post(&fx.url)
        .bearer_auth("s3cret")
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202);
    let v: serde_json::Value =
        serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    assert_eq!(v["accepted"], 2);
    assert_eq!(v["rejected"], 2);
    assert_eq!(v["errors"][0]["reason"], "malformed_json");

    // Five mentions and the two bad lines, handed on to be dead-lettered.
    let items = take(&mut fx.stream, 7, Duration::from_secs(5)).await;
    let bad: Vec<_> = malformed(&items).into_iter().map(|(r, _)| r).collect();
    assert_eq!(bad, ["malformed_json", "not_a_mention"]);
    let got = mentions(&items);
    let ids: Vec<_> = got.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "synthetic:1-0",
            "synthetic:1-1",
            "synthetic:1-2",
            "synthetic:1-3",
            "synthetic:1-4"
        ]
    );
    assert!(
        take(&mut fx.stream, 1, Duration::from_millis(100))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn refuses_wrong_tokens_big_bodies_and_other_content_types() {
    let fx = start(10_000, Duration::from_secs(1)).await;
    let c = client();
    let r = c
        .post(&fx.url)
        .body(mention_json(0))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let r = c
        .post(&fx.url)
        .bearer_auth("s3cre")
        .body(mention_json(0))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let big = format!("[{}]", vec![mention_json(0); 40].join(","));
    assert!(big.len() > 10_000);
    let r = c
        .post(&fx.url)
        .bearer_auth("s3cret")
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 413);
    let r = c
        .post(&fx.url)
        .bearer_auth("s3cret")
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 415);
    let r = c
        .post(format!("{}/myspace", fx.url))
        .bearer_auth("s3cret")
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
}

/// Sends a request's head on a raw connection, declaring a body of `len` bytes and sending none
/// of it, as a slow or hostile client would.
async fn head_only(url: &str, token: &str, len: usize) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("addr");
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /ingest HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.expect("write");
    conn
}

#[tokio::test]
async fn the_token_is_checked_before_the_body_is_read() {
    use tokio::io::AsyncReadExt;
    let fx = start(10_000, Duration::from_secs(1)).await;
    let mut conn = head_only(&fx.url, "wrong", 10_000).await;
    let mut answer = vec![0u8; 12];
    tokio::time::timeout(Duration::from_secs(10), conn.read_exact(&mut answer))
        .await
        .expect("answered without waiting for the body")
        .expect("read");
    assert_eq!(&answer, b"HTTP/1.1 401");
}

#[tokio::test]
async fn a_budget_smaller_than_one_body_is_a_config_error() {
    let token = SecretRef {
        env: Some("UNUSED".into()),
        file: None,
    };
    let err = Webhook::bind(WebhookConfig {
        max_body_bytes: 10_000,
        max_in_flight_bytes: 5_000,
        ..WebhookConfig::new("127.0.0.1:0", token)
    })
    .await
    .expect_err("refused");
    assert!(
        err.to_string()
            .contains("webhook.max_in_flight_bytes (5000)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_slow_request_head_is_cut_off_and_connections_are_capped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fx = start_config(|c| {
        c.max_connections = 1;
        c.head_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = fx
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/ingest")
        .to_owned();
    // A client that starts a request head and never finishes it holds the only connection…
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow.write_all(b"POST /ingest HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    // …so the next one waits for it, and is served once head_timeout has cut it off.
    let mut next = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    next.write_all(b"GET /ingest HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), next.read_to_end(&mut answer))
        .await
        .expect("answered once the slow head was cut off")
        .expect("read");
    // Answered (401: it carries no token), which is all this needs.
    assert!(
        answer.starts_with(b"HTTP/1.1 401"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "served after {:?}, while the slow head still held the only connection",
        started.elapsed()
    );
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the slow connection was closed");
}

#[test]
fn zero_connections_or_head_timeout_is_a_config_error() {
    let token = || SecretRef {
        env: Some("UNUSED".into()),
        file: None,
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for config in [
        WebhookConfig {
            max_connections: 0,
            ..WebhookConfig::new("127.0.0.1:0", token())
        },
        WebhookConfig {
            head_timeout: Duration::ZERO,
            ..WebhookConfig::new("127.0.0.1:0", token())
        },
    ] {
        let err = rt.block_on(Webhook::bind(config)).expect_err("refused");
        assert!(err.to_string().contains("must be above 0"), "{err}");
    }
}

#[tokio::test]
async fn bodies_in_progress_are_bounded_by_bytes() {
    let fx = start_with(10_000, 10_000, Duration::from_millis(300)).await;
    let c = client();
    let push = async || {
        let r = c
            .post(&fx.url)
            .bearer_auth("s3cret")
            .body(mention_json(1))
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        let retry = r.headers().get("retry-after").cloned();
        let v: serde_json::Value =
            serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
        (status, retry, v)
    };
    // A client that declares the largest body and sends none of it holds all the room: the
    // next push waits `queue_wait` for room, then is answered 503.
    let stalled = head_only(&fx.url, "s3cret", 10_000).await;
    let mut refused = None;
    for _ in 0..20 {
        match push().await {
            (503, retry, v) => {
                refused = Some((retry, v));
                break;
            }
            (status, _, v) => assert_eq!(status, 202, "{v}"),
        }
    }
    let (retry, v) = refused.expect("a push refused while the room is held");
    assert_eq!(retry.expect("Retry-After"), "1");
    assert_eq!(v["error"], "too many bytes in flight; retry", "{v}");
    // Its connection gone, its room is free again.
    drop(stalled);
    let mut accepted = false;
    for _ in 0..20 {
        let (status, _, v) = push().await;
        if status == 202 {
            assert_eq!(v["accepted"], 1, "{v}");
            accepted = true;
            break;
        }
    }
    assert!(accepted, "the room of a closed connection is given back");
}

#[tokio::test]
async fn answers_503_with_retry_after_when_the_consumer_is_behind() {
    // Nobody reads the stream: the queue (1024 items) fills and the push is answered at once.
    let fx = start(16 << 20, Duration::from_millis(200)).await;
    let body: String = (0..1100).map(|i| mention_json(i) + "\n").collect();
    let r = client()
        .post(&fx.url)
        .bearer_auth("s3cret")
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let v: serde_json::Value =
        serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    assert_eq!(v["accepted"], 1024);
}

#[tokio::test]
async fn native_payloads_are_normalised_by_their_source() {
    let mut fx = start(1 << 20, Duration::from_secs(1)).await;
    let item = include_str!("fixtures/hackernews/item_examples.jsonl")
        .lines()
        .next()
        .expect("item");
    let event = include_str!("fixtures/bluesky/expected_v1.jsonl")
        .lines()
        .find(|l| l.contains("\"operation\":\"create\",\"collection\":\"app.bsky.feed.post\""))
        .expect("post");
    let c = client();
    for (format, body) in [("hackernews", item), ("bluesky", event)] {
        let r = c
            .post(format!("{}/{format}", fx.url))
            .bearer_auth("s3cret")
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 202);
    }
    let got = mentions(&take(&mut fx.stream, 2, Duration::from_secs(5)).await);
    assert_eq!(got[0].id, "hackernews:8863");
    assert!(got[1].id.starts_with("bluesky:at://did:plc:"));
}

/// The statuses (`update` events' data) of the recorded Mastodon stream.
fn mastodon_statuses() -> Vec<serde_json::Value> {
    include_str!("fixtures/mastodon/streaming_doc_events.sse")
        .split("\n\n")
        .filter(|e| e.starts_with("event: update\n"))
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).expect("status json"))
        .collect()
}

async fn push(url: &str, body: String) -> (u16, serde_json::Value) {
    let r = client()
        .post(url)
        .bearer_auth("s3cret")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    let bytes = r.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn one_bad_element_of_an_array_rejects_only_itself() {
    let mut fx = start(1 << 20, Duration::from_secs(1)).await;
    let body = format!(
        "[{}, {{\"id\":\"\"}}, \"not a mention\", {}, {}]",
        mention_json(0),
        mention_json(1),
        mention_json(2)
    );
    let (status, v) = push(&fx.url, body).await;
    assert_eq!(status, 202);
    assert_eq!(v["accepted"], 3, "{v}");
    assert_eq!(v["rejected"], 2, "{v}");
    let indexes: Vec<u64> = v["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["record"].as_u64())
        .collect();
    assert_eq!(indexes, [1, 2]);
    let items = take(&mut fx.stream, 5, Duration::from_secs(5)).await;
    let got = mentions(&items);
    let ids: Vec<_> = got.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["synthetic:1-0", "synthetic:1-1", "synthetic:1-2"]);
    let bad = malformed(&items);
    assert_eq!(bad.len(), 2);
    assert!(
        bad[0].1.starts_with("record 1 of a pushed body: "),
        "{}",
        bad[0].1
    );

    // A recorded Mastodon timeline page (an array of statuses) with one broken element.
    let mut page = mastodon_statuses();
    page.insert(
        1,
        serde_json::json!({"id": "1", "content": "no account, no date"}),
    );
    let (status, v) = push(
        &format!("{}/mastodon?server=mastodon.social", fx.url),
        serde_json::Value::Array(page.clone()).to_string(),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(v["accepted"], page.len() - 1, "{v}");
    assert_eq!(
        v["errors"],
        serde_json::json!([{"record": 1, "reason": "not_a_status"}])
    );
    let items = take(&mut fx.stream, page.len(), Duration::from_secs(5)).await;
    assert_eq!(
        malformed(&items),
        [(
            "not_a_status",
            "record 1 of a pushed mastodon body".to_owned()
        )]
    );
    let got = mentions(&items);
    assert_eq!(got.len(), page.len() - 1);
    assert_eq!(
        got[0].id,
        format!(
            "mastodon:mastodon.social/{}",
            page[0]["id"].as_str().expect("id")
        )
    );
}

#[tokio::test]
async fn a_body_of_many_bad_records_makes_at_most_100_dead_letters() {
    let mut fx = start(1 << 20, Duration::from_secs(1)).await;
    let mut records: Vec<String> = vec!["1".to_owned(); 150];
    records.push(mention_json(0));
    let (status, v) = push(&fx.url, format!("[{}]", records.join(","))).await;
    assert_eq!(status, 202);
    assert_eq!(
        (&v["accepted"], &v["rejected"], &v["dead_lettered"]),
        (&json!(1), &json!(150), &json!(MAX_DEAD_LETTERS_PER_PUSH)),
        "{v}"
    );
    let items = take(&mut fx.stream, 200, Duration::from_millis(500)).await;
    assert_eq!(malformed(&items).len(), MAX_DEAD_LETTERS_PER_PUSH);
    assert_eq!(
        mentions(&items).len(),
        1,
        "the good record after them still arrives"
    );
    assert_eq!(
        items.len(),
        MAX_DEAD_LETTERS_PER_PUSH + 1,
        "the other 50 only counted"
    );
}

#[tokio::test]
async fn native_mastodon_and_x_payloads_are_accepted_as_documented() {
    let mut fx = start(1 << 20, Duration::from_secs(1)).await;
    let statuses = mastodon_statuses();
    let status = statuses[0].clone();
    let sid = status["id"].as_str().expect("id").to_owned();
    let uri_host = reqwest::Url::parse(status["uri"].as_str().expect("uri"))
        .expect("uri")
        .host_str()
        .expect("host")
        .to_owned();
    // A bare status: ids under the host of its `uri`.
    let (code, v) = push(&format!("{}/mastodon", fx.url), status.to_string()).await;
    assert_eq!((code, &v["accepted"]), (202, &serde_json::json!(1)), "{v}");
    // A Mastodon webhook event around it, and one that carries no status.
    let created = serde_json::json!({"event": "status.created",
        "created_at": "2022-08-30T23:05:47Z", "object": status});
    let (code, v) = push(&format!("{}/mastodon", fx.url), created.to_string()).await;
    assert_eq!((code, &v["accepted"]), (202, &serde_json::json!(1)), "{v}");
    let other = serde_json::json!({"event": "account.approved", "object": {"id": "1"}});
    let (code, v) = push(&format!("{}/mastodon", fx.url), other.to_string()).await;
    assert_eq!(
        (code, &v["accepted"], &v["rejected"]),
        (202, &serde_json::json!(0), &serde_json::json!(0))
    );

    // An X filtered-stream frame exactly as recorded (no author expansion), and a v2 response
    // with a list of posts.
    let frame = include_str!("fixtures/x/v2_filtered_stream_replay.CONSTRUCTED.ndjson")
        .lines()
        .find(|l| !l.trim().is_empty())
        .expect("frame")
        .to_owned();
    let (code, v) = push(&format!("{}/x", fx.url), frame.clone()).await;
    assert_eq!((code, &v["accepted"]), (202, &serde_json::json!(1)), "{v}");
    let response = include_str!("fixtures/x/v2_get_tweets.response.json").to_owned();
    let (code, v) = push(&format!("{}/x", fx.url), response).await;
    assert_eq!((code, &v["accepted"]), (202, &serde_json::json!(2)), "{v}");

    let got = mentions(&take(&mut fx.stream, 5, Duration::from_secs(5)).await);
    let ids: Vec<_> = got.iter().map(|m| m.id.clone()).collect();
    let frame_id: serde_json::Value = serde_json::from_str(&frame).expect("frame");
    assert_eq!(
        ids,
        [
            format!("mastodon:{uri_host}/{sid}"),
            format!("mastodon:{uri_host}/{sid}"),
            format!("x:{}", frame_id["data"]["id"].as_str().expect("id")),
            "x:1293593516040269825".to_owned(),
            "x:1293595870563381249".to_owned(),
        ]
    );
    let (code, _) = push(&format!("{}/myspace", fx.url), "{}".into()).await;
    assert_eq!(code, 404);
}
