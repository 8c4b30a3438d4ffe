//! Webhook ingest over real HTTP on 127.0.0.1: JSON, arrays, NDJSON, bearer token, body limit,
//! bad records rejected one by one, and 503 + Retry-After when the consumer is behind.

mod support;

use std::io::Write;
use std::time::Duration;

use collectors::{SecretRef, Synthetic, SyntheticConfig, Webhook, WebhookConfig};
use support::{mentions, take};

struct Fixture {
    url: String,
    stream: collectors::ItemStream,
    _token: tempfile::NamedTempFile,
}

async fn start(max_body: usize, queue_wait: Duration) -> Fixture {
    let mut token = tempfile::NamedTempFile::new().expect("temp");
    writeln!(token, "s3cret").expect("write");
    let hook = Webhook::bind(WebhookConfig {
        listen: "127.0.0.1:0".into(),
        path: "/ingest".into(),
        token: SecretRef {
            env: None,
            file: Some(token.path().to_owned()),
        },
        max_body_bytes: max_body,
        queue_wait,
    })
    .await
    .expect("bind");
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

    let got = mentions(&take(&mut fx.stream, 5, Duration::from_secs(5)).await);
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
