//! Live push over the embedded pipeline, wired as `backchannel run` wires it (sink →
//! LocalPublisher → hub → `/v1/stream` and `/v1/ws`), with ground truth from
//! `transforms::enrich_and_match` over the same signals: a client that disconnects and resumes
//! with its cursor gets exactly the matched set; a tenant never sees another's signals; a client
//! that stops reading neither stalls the pipeline nor loses a match.

mod common;
// The dashboard in a real browser: a client of this push, on this rig, in this binary rather
// than one more test target to link.
mod dashboard;
mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use model::Mention;
use pipeline::config::Config;
use pipeline::embedded::{LocalProducer, local_queue};
use pipeline::services::{self, Background};
use pipeline::signals::SignalsHandle;
use pipeline::stats::Stats;
use serde_json::Value;
use tokio::sync::watch;

const SEED: u64 = 41;
const WAIT: Duration = Duration::from_secs(60);

/// An embedded pipeline with its client API and two tenants.
struct Rig {
    addr: SocketAddr,
    producer: LocalProducer,
    stats: Arc<Stats>,
    signals: SignalsHandle,
    source: collectors::Synthetic,
    next: u64,
    /// Tenant name and key.
    acme: (String, String),
    globex: (String, String),
    hub: Arc<pipeline::push::Hub>,
    store: Arc<pipeline::embedded::RedbStore>,
    _stop: watch::Sender<bool>,
    _background: Background,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn start(extra: &[(&str, &str)]) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut vars: Vec<(String, String)> = vec![
            (
                "BACKCHANNEL__EMBEDDED__DATA_DIR".into(),
                dir.path().display().to_string(),
            ),
            ("BACKCHANNEL__METRICS__LISTEN".into(), String::new()),
            ("BACKCHANNEL__API__LISTEN".into(), "127.0.0.1:0".into()),
            ("BACKCHANNEL__API__HEARTBEAT".into(), "300ms".into()),
        ];
        vars.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let config = Config::load(None, vars).expect("config");
        let mut background = Background::default();
        let svc = services::embedded(&config, &mut background)
            .await
            .expect("services");
        let (acme, globex) = (common::unique("acme"), common::unique("globex"));
        let acme_key = pipeline::tenants::create(&*svc.store, &acme)
            .await
            .expect("tenant");
        let globex_key = pipeline::tenants::create(&*svc.store, &globex)
            .await
            .expect("tenant");
        // The same signal id in both tenants, with different queries, and one of each alone.
        for (tenant, id, query) in [
            (&acme, "brand", "acme OR nimbus"),
            (&acme, "secret_a", "orbita"),
            (&globex, "brand", "nimbus OR kettle"),
            (&globex, "other", "lumen"),
        ] {
            pipeline::signals::put(&*svc.store, tenant, id, query, Default::default())
                .await
                .expect("signal");
        }
        let api = services::api(&config, &svc.store, &svc.cache).expect("api");
        let hub = svc.hub.clone();
        let tenants_store = svc.store.clone();
        let addr = services::serve_api(&config, api, Some(svc.hub.clone()))
            .await
            .expect("api")
            .expect("api.listen is set");
        let signals = services::signals(&svc.store, true, &mut background)
            .await
            .expect("signals");
        let settings = pipeline::runtime::Settings::from_config(&config, "local", signals.clone())
            .expect("settings");
        let (producer, consumer) = local_queue(config.embedded.queue_capacity);
        let stats = Arc::new(Stats::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        let (publisher, store, cache, st) = (svc.publisher, svc.store, svc.cache, stats.clone());
        background.push(tokio::spawn(async move {
            let r: pipeline::Result<()> =
                pipeline::runtime::run(consumer, publisher, store, cache, settings, st, stop_rx)
                    .await;
            r.expect("pipeline");
        }));
        Rig {
            addr,
            producer,
            stats,
            signals,
            source: collectors::Synthetic::new(collectors::SyntheticConfig {
                seed: SEED,
                start: chrono::Utc::now(),
                ..Default::default()
            }),
            next: 0,
            acme: (acme, acme_key),
            globex: (globex, globex_key),
            hub,
            store: tenants_store,
            _stop: stop_tx,
            _background: background,
            _dir: dir,
        }
    }

    /// Produces `n` more synthetic mentions and waits until the pipeline has published them.
    /// Returns them.
    async fn produce(&mut self, n: u64) -> Vec<Mention> {
        let mut out = Vec::new();
        for _ in 0..n {
            let m = self.source.mention(self.next);
            self.next += 1;
            let payload = serde_json::to_vec(&m).expect("json");
            self.producer
                .send(Some(m.id.clone().into_bytes()), payload)
                .await
                .expect("send");
            out.push(m);
        }
        let target = self.next;
        tokio::time::timeout(WAIT, async {
            while self.stats.published.load(Ordering::Relaxed) < target {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the pipeline published every mention");
        out
    }

    /// Ground truth: mention id → the ids of `tenant`'s signals it matches.
    fn truth(&self, mentions: &[Mention], tenant: &str) -> BTreeMap<String, BTreeSet<String>> {
        let matcher = self.signals.current().expect("signals loaded");
        let mut out = BTreeMap::new();
        for m in mentions {
            let mut fields = transforms::Record::new();
            let ids: BTreeSet<String> =
                transforms::enrich_and_match(m, &mut fields, Some(&matcher))
                    .iter()
                    .filter(|s| s.signal.tenant() == tenant)
                    .map(|s| s.signal.id().to_owned())
                    .collect();
            if !ids.is_empty() {
                out.insert(m.id.clone(), ids);
            }
        }
        out
    }
}

/// One parsed event: its JSON and, for SSE, its `id:`.
#[derive(Debug, Clone)]
struct Ev {
    json: Value,
    id: Option<String>,
}

impl Ev {
    fn kind(&self) -> &str {
        self.json["type"].as_str().unwrap_or_default()
    }
}

/// A minimal SSE client over reqwest.
struct SseClient {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    /// Bytes, not text: a chunk may end inside a character.
    buf: Vec<u8>,
}

impl SseClient {
    async fn connect(addr: SocketAddr, key: &str, query: &str, last: Option<&str>) -> SseClient {
        let http = collectors::common::http_client().expect("client");
        let mut req = http.get(format!("http://{addr}/v1/stream?{query}"));
        if !key.is_empty() {
            req = req.bearer_auth(key);
        }
        if let Some(l) = last {
            req = req.header("Last-Event-ID", l);
        }
        let resp = req.send().await.expect("connect");
        assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
        let mut c = SseClient {
            body: resp.bytes_stream().boxed(),
            buf: Vec::new(),
        };
        // The first event is a heartbeat: from here on the client is subscribed.
        let first = c.next().await;
        assert_eq!(first.kind(), "heartbeat", "{first:?}");
        c
    }

    async fn next(&mut self) -> Ev {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let bytes: Vec<u8> = self.buf.drain(..end + 2).collect();
                let frame = String::from_utf8(bytes).expect("an SSE frame is UTF-8");
                let (mut data, mut id) = (String::new(), None);
                for line in frame.lines() {
                    if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    } else if let Some(i) = line.strip_prefix("id:") {
                        id = Some(i.trim_start().to_owned());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                let json = serde_json::from_str(&data).expect("event JSON");
                return Ev { json, id };
            }
            let chunk = tokio::time::timeout(WAIT, self.body.next())
                .await
                .expect("an event in time")
                .expect("stream open")
                .expect("chunk");
            self.buf.extend_from_slice(&chunk);
        }
    }
}

/// Reads until `want` distinct matches have arrived and then one heartbeat more (so a duplicate
/// or an extra match would have shown). Returns the matches and every lagged event.
async fn read_until(mut next: impl AsyncFnMut() -> Ev, seen: &mut Vec<Ev>, want: usize) -> Vec<Ev> {
    let mut lagged = Vec::new();
    let distinct = |s: &Vec<Ev>| {
        s.iter()
            .map(|e| {
                e.json["mention"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect::<BTreeSet<_>>()
            .len()
    };
    while distinct(seen) < want {
        let ev = next().await;
        match ev.kind() {
            "match" => seen.push(ev),
            "lagged" => lagged.push(ev),
            _ => {}
        }
    }
    loop {
        let ev = next().await;
        match ev.kind() {
            "match" => seen.push(ev),
            "lagged" => lagged.push(ev),
            _ => break,
        }
    }
    lagged
}

/// The events as mention id → signal ids, asserting each mention came once and carried only
/// `tenant`'s own signal ids.
fn as_truth(events: &[Ev]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for e in events {
        let id = e.json["mention"]["id"]
            .as_str()
            .expect("mention id")
            .to_owned();
        assert!(e.json["mention"]["text"].is_string() && e.json["cursor"].is_string());
        // Every event says when its mention was stored: during this test, before it arrived.
        let stored_at = e.json["mention"]["stored_at"].as_str().unwrap_or_default();
        let stored_at = chrono::DateTime::parse_from_rfc3339(stored_at)
            .unwrap_or_else(|err| panic!("stored_at {stored_at:?} is RFC 3339: {err}"));
        let age = chrono::Utc::now().signed_duration_since(stored_at);
        assert!(
            age >= chrono::TimeDelta::zero() && age < chrono::TimeDelta::minutes(10),
            "stored {age} before it was read: {}",
            e.json
        );
        let sigs = e.json["signals"]
            .as_array()
            .expect("signals")
            .iter()
            .map(|s| {
                assert!(s.get("tenant").is_none(), "no tenant names in events: {s}");
                s["signal"].as_str().expect("signal id").to_owned()
            })
            .collect();
        assert!(
            out.insert(id.clone(), sigs).is_none(),
            "{id} delivered twice"
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resumes_from_last_event_id_with_exactly_the_matched_set() {
    let mut rig = Rig::start(&[]).await;
    let (_, key) = rig.acme.clone();
    let mut client = SseClient::connect(rig.addr, &key, "", None).await;
    let first = rig.produce(400).await;
    let truth_first = rig.truth(&first, &rig.acme.0);
    assert!(
        truth_first.len() > 20,
        "signals match enough: {}",
        truth_first.len()
    );
    // Read part of the stream, then hang up mid-stream.
    let mut seen = Vec::new();
    while seen.len() < truth_first.len() / 2 {
        let ev = client.next().await;
        if ev.kind() == "match" {
            assert_eq!(
                ev.id.as_deref(),
                ev.json["cursor"].as_str(),
                "SSE id is the cursor"
            );
            seen.push(ev);
        }
    }
    let last = seen.last().and_then(|e| e.id.clone()).expect("a cursor");
    drop(client);
    let second = rig.produce(400).await;
    let all: Vec<Mention> = first.into_iter().chain(second).collect();
    let truth = rig.truth(&all, &rig.acme.0);
    // Reconnect with the key in the query, as a browser's EventSource would.
    let query = format!("access_token={key}");
    let mut client = SseClient::connect(rig.addr, "", &query, Some(&last)).await;
    let lagged = read_until(async || client.next().await, &mut seen, truth.len()).await;
    assert!(lagged.is_empty(), "{lagged:?}");
    assert_eq!(as_truth(&seen), truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_resumes_from_its_cursor_with_exactly_the_matched_set() {
    let mut rig = Rig::start(&[]).await;
    let (_, key) = rig.acme.clone();
    let addr = rig.addr;
    let connect = async |cursor: Option<&str>| {
        let url = match cursor {
            Some(c) => format!("ws://{addr}/v1/ws?cursor={c}"),
            None => format!("ws://{addr}/v1/ws"),
        };
        ws_connect(&url, &key).await
    };
    let mut ws = connect(None).await;
    let first = rig.produce(400).await;
    let truth_first = rig.truth(&first, &rig.acme.0);
    let mut seen = Vec::new();
    while seen.len() < truth_first.len() / 2 {
        let ev = ws_next(&mut ws).await;
        if ev.kind() == "match" {
            seen.push(ev);
        }
    }
    let last = seen
        .last()
        .and_then(|e| e.json["cursor"].as_str())
        .expect("cursor")
        .to_owned();
    drop(ws);
    let second = rig.produce(400).await;
    let all: Vec<Mention> = first.into_iter().chain(second).collect();
    let truth = rig.truth(&all, &rig.acme.0);
    let mut ws = connect(Some(&last)).await;
    let lagged = read_until(async || ws_next(&mut ws).await, &mut seen, truth.len()).await;
    assert!(lagged.is_empty(), "{lagged:?}");
    assert_eq!(as_truth(&seen), truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_that_sends_a_large_message_is_disconnected_and_others_keep_streaming() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut rig = Rig::start(&[]).await;
    let (_, key) = rig.acme.clone();
    let connect = async || ws_connect(&format!("ws://{}/v1/ws", rig.addr), &key).await;
    let mut hostile = connect().await;
    let mut other = connect().await;
    // A small message is ignored; 1 MiB would sit in the server's memory if it were read whole.
    hostile
        .send(Message::text("hello"))
        .await
        .expect("a small message");
    let _ = hostile.send(Message::text("x".repeat(1 << 20))).await;
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match hostile.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept a client that sent 1 MiB");
    let mentions = rig.produce(200).await;
    let truth = rig.truth(&mentions, &rig.acme.0);
    let mut seen = Vec::new();
    let lagged = read_until(async || ws_next(&mut other).await, &mut seen, truth.len()).await;
    assert!(lagged.is_empty(), "{lagged:?}");
    assert_eq!(as_truth(&seen), truth);
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket to `url` with `key` as the bearer, past its opening heartbeat.
async fn ws_connect(url: &str, key: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("ws");
    assert_eq!(ws_next(&mut ws).await.kind(), "heartbeat");
    ws
}

async fn ws_next(ws: &mut Ws) -> Ev {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("message");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let json = serde_json::from_str(t.as_str()).expect("event JSON");
            return Ev { json, id: None };
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_with_closed_once_their_key_is_revoked_and_other_keys_stream_on() {
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let mut rig = Rig::start(&[("BACKCHANNEL__API__KEY_CACHE_TTL", "100ms")]).await;
    let (acme, key) = rig.acme.clone();
    let (_, other_key) = rig.globex.clone();
    let mut sse = SseClient::connect(rig.addr, &key, "", None).await;
    let mut other = SseClient::connect(rig.addr, &other_key, "", None).await;
    let mut ws = ws_connect(&format!("ws://{}/v1/ws", rig.addr), &key).await;
    // Valid keys: the streams carry on past several heartbeats (300 ms apart).
    for _ in 0..3 {
        assert_eq!(sse.next().await.kind(), "heartbeat");
        assert_eq!(ws_next(&mut ws).await.kind(), "heartbeat");
    }

    let (key_id, _) = pipeline::tenants::parse_key(&key).expect("a key");
    assert!(
        pipeline::tenants::revoke(&*rig.store, &acme, key_id)
            .await
            .expect("revoke")
    );
    // Within a heartbeat and the cache's TTL: `closed`, and then the end of the response.
    // Heartbeats are 300 ms apart and keys are cached for 100 ms: ten are far more than enough.
    let mut last = None;
    for _ in 0..10 {
        let ev = sse.next().await;
        if ev.kind() != "heartbeat" && ev.kind() != "match" {
            last = Some(ev);
            break;
        }
    }
    let last = last.expect("the SSE stream still open ten heartbeats after the revocation");
    assert_eq!(
        last.json,
        serde_json::json!({"type": "closed", "reason": "key_revoked"})
    );
    let end = tokio::time::timeout(WAIT, sse.body.next())
        .await
        .expect("the end in time");
    assert!(end.is_none(), "nothing after closed: {end:?}");
    let mut last = None;
    for _ in 0..10 {
        let ev = ws_next(&mut ws).await;
        if ev.kind() != "heartbeat" && ev.kind() != "match" {
            last = Some(ev);
            break;
        }
    }
    let last = last.expect("the WebSocket still open ten heartbeats after the revocation");
    assert_eq!(last.kind(), "closed", "{last:?}");
    let frame = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a close frame in time");
    match frame {
        Some(Ok(Message::Close(Some(f)))) => {
            assert_eq!(f.code, CloseCode::Policy);
            assert_eq!(f.reason.as_str(), "key_revoked");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // A revoked key opens no new stream; the other tenant's stream goes on.
    let refused = collectors::common::http_client()
        .expect("client")
        .get(format!("http://{}/v1/stream", rig.addr))
        .bearer_auth(&key)
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 401);
    let mentions = rig.produce(100).await;
    let truth = rig.truth(&mentions, &rig.globex.0);
    assert!(!truth.is_empty(), "globex matches some of them");
    let mut seen = Vec::new();
    read_until(async || other.next().await, &mut seen, truth.len()).await;
    assert_eq!(as_truth(&seen), truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_never_sees_another_tenants_signals_or_matches_on_the_stream() {
    let mut rig = Rig::start(&[]).await;
    let mut a = SseClient::connect(rig.addr, &rig.acme.1, "", None).await;
    let mut g = SseClient::connect(
        rig.addr,
        &rig.globex.1,
        "signals=brand&fields=sentiment_compound",
        None,
    )
    .await;
    let mentions = rig.produce(400).await;
    let truth_a = rig.truth(&mentions, &rig.acme.0);
    let mut truth_g = rig.truth(&mentions, &rig.globex.0);
    for ids in truth_g.values_mut() {
        ids.retain(|i| i == "brand");
    }
    truth_g.retain(|_, ids| !ids.is_empty());
    let (mut seen_a, mut seen_g) = (Vec::new(), Vec::new());
    read_until(async || a.next().await, &mut seen_a, truth_a.len()).await;
    read_until(async || g.next().await, &mut seen_g, truth_g.len()).await;
    assert_eq!(as_truth(&seen_a), truth_a);
    assert_eq!(as_truth(&seen_g), truth_g);

    // Alert events: only the reader's tenant, and only the signals it asked for. The unwanted
    // ones go out first, so a leak would arrive before the wanted one.
    let alert = |tenant: &str, signal: &str| {
        let now = chrono::Utc::now();
        serde_json::to_vec(&pipeline::alerts::Alert {
            id: format!("{tenant}-{signal}"),
            tenant: tenant.into(),
            signal: signal.into(),
            kind: pipeline::alerts::AlertKind::VolumeSpike,
            state: pipeline::alerts::AlertState::Opened,
            started_at: now,
            at: now,
            observed: 30.0,
            expected: 3.0,
            score: 9.0,
            mentions: 60,
            summary: "mentions per minute 30 vs 3 expected (10.0×)".into(),
            drivers: Vec::new(),
            examples: Vec::new(),
        })
        .expect("alert JSON")
    };
    rig.hub.alert(&alert(&rig.acme.0, "secret_a"));
    rig.hub.alert(&alert(&rig.globex.0, "other"));
    rig.hub.alert(&alert(&rig.globex.0, "brand"));
    let next_alert = async |c: &mut SseClient| loop {
        let e = c.next().await;
        if e.kind() == "alert" {
            return e;
        }
    };
    let got_a = next_alert(&mut a).await;
    assert_eq!(
        got_a.json["alert"]["id"],
        format!("{}-secret_a", rig.acme.0)
    );
    assert_eq!(got_a.id, None, "alert events carry no cursor");
    let got_g = next_alert(&mut g).await;
    assert_eq!(
        got_g.json["alert"]["id"],
        format!("{}-brand", rig.globex.0),
        "globex asked for brand only"
    );
    rig.hub.alert(&alert(&rig.acme.0, "brand"));
    let got_a = next_alert(&mut a).await;
    assert_eq!(
        got_a.json["alert"]["id"],
        format!("{}-brand", rig.acme.0),
        "acme never sees globex's alerts"
    );
    for e in &seen_g {
        let text = e.json.to_string();
        assert!(
            !text.contains(&rig.acme.0) && !text.contains("secret_a"),
            "{text}"
        );
        assert!(
            e.json["fields"].get("sentiment_compound").is_some(),
            "asked-for field: {text}"
        );
    }
    // A signal id of the other tenant is unknown here, as everywhere in /v1.
    let resp = collectors::common::http_client()
        .expect("client")
        .get(format!("http://{}/v1/stream?signals=secret_a", rig.addr))
        .bearer_auth(&rig.globex.1)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 404);
    let resp = collectors::common::http_client()
        .expect("client")
        .get(format!("http://{}/v1/stream", rig.addr))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_slow_the_pipeline_and_catches_up_after_lagged() {
    // Room for a batch's burst of events, not for thousands.
    let mut rig = Rig::start(&[("BACKCHANNEL__API__STREAM_BUFFER", "256")]).await;
    // Large events (every field), so the socket buffers fill and the hub's channel overflows.
    let every_field: Vec<&str> = transforms::registry()
        .fields
        .iter()
        .map(|f| f.name)
        .collect();
    let query = format!("fields={}", every_field.join(","));
    let mut slow = SseClient::connect(rig.addr, &rig.acme.1, &query, None).await;
    // Another tenant's client reads all along, on its own task.
    let mut fast = SseClient::connect(rig.addr, &rig.globex.1, "", None).await;
    let fast_seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = fast_seen.clone();
    let fast_reader = tokio::spawn(async move {
        loop {
            let ev = fast.next().await;
            if ev.kind() != "heartbeat" {
                sink.lock().expect("lock").push(ev);
            }
        }
    });
    // The slow client reads nothing while the pipeline publishes, round after round.
    let mut mentions = Vec::new();
    for round in 1..=6u64 {
        mentions.extend(rig.produce(500).await);
        assert_eq!(
            rig.stats.published.load(Ordering::Relaxed),
            round * 500,
            "the pipeline kept publishing with a stalled client"
        );
    }
    let truth_fast = rig.truth(&mentions, &rig.globex.0);
    tokio::time::timeout(WAIT, async {
        while fast_seen.lock().expect("lock").len() < truth_fast.len() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the fast client got its matches");
    tokio::time::sleep(Duration::from_millis(500)).await;
    fast_reader.abort();
    let fast_seen = fast_seen.lock().expect("lock").clone();
    assert!(
        fast_seen.iter().all(|e| e.kind() == "match"),
        "the fast client was not held back: {:?}",
        fast_seen.iter().find(|e| e.kind() != "match")
    );
    assert_eq!(as_truth(&fast_seen), truth_fast);

    let truth = rig.truth(&mentions, &rig.acme.0);
    let mut seen = Vec::new();
    let lagged = read_until(async || slow.next().await, &mut seen, truth.len()).await;
    assert!(
        lagged.iter().any(|l| l.json["reason"] == "slow_client"),
        "the stalled client was told it lagged: {lagged:?}"
    );
    assert_eq!(
        as_truth(&seen),
        truth,
        "then caught up completely, once each"
    );
}

/// Stores `stored` and publishes it to the enriched topic as a worker's sink does (compact
/// records, with their content type and store time), with no worker running.
async fn sink_as_a_worker(
    store: &pipeline::distributed::ScyllaStore,
    publisher: &pipeline::distributed::KafkaPublisher,
    stored: &Arc<[pipeline::traits::Stored]>,
) {
    use pipeline::traits::{Publisher, Record, Store, Topic};
    store.write(stored).await.expect("stored");
    let stored_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let headers: [(&str, &[u8]); 2] = [
        (
            "content-type",
            pipeline::runtime::CONTENT_TYPE_AVRO.as_bytes(),
        ),
        ("stored_at", stored_at.as_bytes()),
    ];
    let records: Vec<Record<'_>> = stored
        .iter()
        .map(|s| Record {
            topic: Topic::Enriched,
            key: s.id.as_bytes(),
            payload: Some(&s.record),
            headers: &headers,
        })
        .collect();
    publisher.publish(&records).await.expect("published");
}

/// A `backchannel serve` process of `env` on `api_port`, killed when the guard drops.
fn spawn_serve(env: &harness::Env, tag: &str, api_port: u16, metrics_port: u16) -> harness::Guard {
    let log =
        std::fs::File::create(std::env::temp_dir().join(format!("{}.{tag}.serve.log", env.name)))
            .expect("log");
    harness::Guard(
        std::process::Command::new(env!("CARGO_BIN_EXE_backchannel"))
            .arg("serve")
            .envs(env.vars())
            .env("BACKCHANNEL__API__LISTEN", format!("127.0.0.1:{api_port}"))
            .env(
                "BACKCHANNEL__METRICS__LISTEN",
                format!("127.0.0.1:{metrics_port}"),
            )
            .env("BACKCHANNEL__API__HEARTBEAT", "300ms")
            .env_remove("BACKCHANNEL_CONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn serve"),
    )
}

/// Waits until a serve instance follows the enriched topic (`/readyz`).
async fn wait_ready(metrics_port: u16) {
    let deadline = std::time::Instant::now() + WAIT;
    while harness::http_get(metrics_port, "/readyz").is_none_or(|b| !b.starts_with("ready")) {
        assert!(
            std::time::Instant::now() < deadline,
            "serve on :{metrics_port} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// With Kafka and Cassandra up: a test environment, its store, and a new tenant (its name and
/// key) with the signal `brand` ("acme OR nimbus").
async fn distributed_brand(
    prefix: &str,
) -> Option<(
    harness::Env,
    Arc<pipeline::distributed::ScyllaStore>,
    (String, String),
)> {
    if !common::service_up("Kafka", common::KAFKA) || !common::service_up("Cassandra", common::CQL)
    {
        return None;
    }
    let env = harness::Env::new(prefix).await;
    let store = Arc::new(services::scylla_store(&env.config()).await.expect("store"));
    let tenant = common::unique("acme");
    let key = pipeline::tenants::create(&*store, &tenant)
        .await
        .expect("tenant");
    pipeline::signals::put(
        &*store,
        &tenant,
        "brand",
        "acme OR nimbus",
        Default::default(),
    )
    .await
    .expect("signal");
    Some((env, store, (tenant, key)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_two_serve_instances_push_the_same_matches_and_a_client_resumes_on_the_other() {
    let Some((env, store, (_, key))) = distributed_brand("serve").await else {
        return;
    };
    let [a, b, c, d] = common::free_ports();
    let ports = [(a, b), (c, d)];
    let _serves: Vec<harness::Guard> = ports
        .iter()
        .enumerate()
        .map(|(i, &(api, metrics))| spawn_serve(&env, &format!("s{i}"), api, metrics))
        .collect();
    for &(_, metrics) in &ports {
        wait_ready(metrics).await;
    }
    let addr = |i: usize| SocketAddr::from(([127, 0, 0, 1], ports[i].0));
    let mut first = SseClient::connect(addr(0), &key, "signals=brand", None).await;
    let mut second = SseClient::connect(addr(1), &key, "", None).await;

    // Ground truth: the same synthetic mentions through the transforms and this tenant's signal.
    let n = 1_500;
    let handle = SignalsHandle::default();
    handle.refresh(&*store).await.expect("signals");
    let matcher = handle.current().expect("signals exist");
    let source = collectors::Synthetic::new(collectors::SyntheticConfig {
        seed: SEED,
        ..Default::default()
    });
    let mut truth = BTreeMap::new();
    for i in 0..n {
        let m = source.mention(i);
        let mut fields = transforms::Record::new();
        let ids: BTreeSet<String> = transforms::enrich_and_match(&m, &mut fields, Some(&matcher))
            .iter()
            .map(|s| s.signal.id().to_owned())
            .collect();
        if !ids.is_empty() {
            truth.insert(m.id.clone(), ids);
        }
    }
    assert!(
        truth.len() > 50,
        "the signal matches enough: {}",
        truth.len()
    );

    let _worker = env.spawn_worker();
    env.produce_synthetic(SEED, 0, n).await;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let lagged = read_until(async || first.next().await, &mut a, truth.len()).await;
    assert!(lagged.is_empty(), "{lagged:?}");
    let lagged = read_until(async || second.next().await, &mut b, truth.len()).await;
    assert!(lagged.is_empty(), "{lagged:?}");
    assert_eq!(as_truth(&a), truth, "instance 1 pushed exactly the matches");
    assert_eq!(as_truth(&b), truth, "instance 2 pushed exactly the matches");
    // Cursors differ between the instances (each interleaves the partitions as its fetches
    // arrive, and a cursor also covers the unmatched records read so far); what they mean does
    // not, which the resume below proves. They are real topic positions.
    for e in a.iter().chain(&b) {
        let cursor =
            pipeline::push::Cursor::parse(e.id.as_deref().expect("SSE id")).expect("a cursor");
        assert!(
            cursor
                .iter()
                .all(|(p, o)| (0..4).contains(&p) && o < n as i64),
            "{cursor:?}"
        );
    }

    // A client that read half on instance 1 resumes on instance 2 with its cursor: exactly the rest.
    let half = a.len() / 2;
    let cursor = a[half - 1].id.clone().expect("cursor");
    drop(first);
    let mut resumed = SseClient::connect(addr(1), &key, "signals=brand", Some(&cursor)).await;
    let mut rest = a[..half].to_vec();
    let lagged = read_until(async || resumed.next().await, &mut rest, truth.len()).await;
    assert!(lagged.is_empty(), "{lagged:?}");
    assert_eq!(
        as_truth(&rest),
        truth,
        "no gap, no duplicate across instances"
    );
    env.drop_all().await;
}

/// Distributed series show the minute in progress: `serve` counts the matched records it follows
/// into its signals' latest minutes, ahead of the rollup, flags those points `provisional`, and
/// the rollup's exact minutes replace them once they hold as much. The mentions are stored and
/// then published as a worker's sink does (the store, then the enriched topic, compact records),
/// with no worker running, so no rollup happens until the test runs one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_series_show_the_minute_in_progress_until_the_rollup_replaces_it() {
    use chrono::{DateTime, Utc};
    use pipeline::aggregate::{MinuteAggregate, minute_of};
    let Some((env, store, (tenant, key))) = distributed_brand("provisional").await else {
        return;
    };
    let config = env.config();
    let [api, metrics] = common::free_ports();
    let _serve = spawn_serve(&env, "p", api, metrics);
    wait_ready(metrics).await;

    let handle = SignalsHandle::default();
    handle.refresh(&*store).await.expect("signals");
    let matcher = handle.current().expect("signals exist");
    let now = Utc::now();
    let enrich = |seed: u64, start: DateTime<Utc>, n: u64| {
        let source = collectors::Synthetic::new(collectors::SyntheticConfig {
            seed,
            start,
            spacing: chrono::Duration::milliseconds(1),
            ..Default::default()
        });
        let batch = (0..n)
            .map(|i| pipeline::traits::Delivery::of_mention(&source.mention(i), 0, i as i64))
            .collect();
        let out = pipeline::runtime::process_batch(batch, &Default::default(), Some(&matcher));
        assert!(out.dead.is_empty());
        out.stored
    };
    // A batch of the last minute, one of the last seconds, and one 20 minutes old: outside the
    // stream's span.
    let first = enrich(1, minute_of(now) - chrono::Duration::seconds(20), 1_000);
    let second = enrich(2, now - chrono::Duration::seconds(2), 1_000);
    let old = enrich(3, now - chrono::Duration::minutes(20), 1_000);
    let topic = format!("signal:{tenant}/brand");
    let publisher = pipeline::distributed::KafkaPublisher::new(&config.kafka).expect("publisher");
    let sink = async |stored: &Arc<[pipeline::traits::Stored]>| {
        sink_as_a_worker(&store, &publisher, stored).await;
    };
    // What a point should show: per minute with mentions, (mentions, positive, neutral,
    // negative, the top three hashtags, provisional).
    type Point = (i64, i64, i64, i64, Vec<String>, bool);
    let truth = |batches: &[&Arc<[pipeline::traits::Stored]>],
                 provisional: &dyn Fn(DateTime<Utc>) -> bool| {
        let mut minutes: BTreeMap<DateTime<Utc>, MinuteAggregate> = BTreeMap::new();
        for s in batches.iter().flat_map(|b| b.iter()) {
            if s.topics.contains(&topic) {
                minutes
                    .entry(minute_of(s.created_at))
                    .or_default()
                    .add(s.sentiment, &s.hashtags);
            }
        }
        minutes
            .into_iter()
            .map(|(t, a)| {
                let top = a
                    .ranked_hashtags(3)
                    .into_iter()
                    .map(|(h, _)| h.to_owned())
                    .collect();
                (
                    t,
                    (
                        a.mentions,
                        a.positive,
                        a.neutral,
                        a.negative,
                        top,
                        provisional(t),
                    ),
                )
            })
            .collect::<BTreeMap<_, Point>>()
    };
    let http = collectors::common::http_client().expect("client");
    let (from, to) = (
        minute_of(now - chrono::Duration::minutes(25)),
        minute_of(now) + chrono::Duration::minutes(2),
    );
    let url = format!(
        "http://127.0.0.1:{api}/v1/signals/brand/series?top=3&from={}&to={}",
        from.to_rfc3339().replace('+', "%2B"),
        to.to_rfc3339().replace('+', "%2B")
    );
    let series = async || -> BTreeMap<DateTime<Utc>, Point> {
        let text = http
            .get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .expect("series")
            .text()
            .await
            .expect("a body");
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let int = |p: &Value, k: &str| p[k].as_i64().expect("a count");
        body["points"]
            .as_array()
            .expect("points")
            .iter()
            .filter(|p| int(p, "mentions") > 0 || p["provisional"] != false)
            .map(|p| {
                let t = DateTime::parse_from_rfc3339(p["t"].as_str().expect("t"))
                    .expect("a time")
                    .with_timezone(&Utc);
                let top = p["top_hashtags"]
                    .as_array()
                    .expect("hashtags")
                    .iter()
                    .map(|h| h["hashtag"].as_str().expect("a hashtag").to_owned())
                    .collect();
                let provisional = p["provisional"].as_bool().expect("provisional");
                (
                    t,
                    (
                        int(p, "mentions"),
                        int(p, "positive"),
                        int(p, "neutral"),
                        int(p, "negative"),
                        top,
                        provisional,
                    ),
                )
            })
            .collect()
    };
    // Serve follows the topic on its own time: wait until it shows what is expected.
    let expect = async |want: BTreeMap<DateTime<Utc>, Point>, what: &str| {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let got = series().await;
            if got == want {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: got {got:?}, want {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let matched = |b: &Arc<[pipeline::traits::Stored]>| {
        b.iter().filter(|s| s.topics.contains(&topic)).count()
    };
    assert!(
        matched(&first) > 20 && matched(&second) > 20 && matched(&old) > 20,
        "the signal matches enough"
    );
    // The minutes the second batch adds to (the first batch's is the minute before, unless the
    // test runs in a minute's first seconds, and the rollup has counted it in full by then).
    let added: BTreeSet<DateTime<Utc>> = second
        .iter()
        .filter(|s| s.topics.contains(&topic))
        .map(|s| minute_of(s.created_at))
        .collect();

    // Stored and published, not rolled up: the stream's minutes, provisional; the old minute has
    // neither (outside the span, and no rollup yet).
    sink(&first).await;
    sink(&old).await;
    expect(truth(&[&first], &|_| true), "before any rollup").await;
    // Rolled up: the exact minutes, as many as the stream counted, replace it.
    assert!(store.rollup(Duration::ZERO).await.expect("rollup") > 0);
    expect(truth(&[&first, &old], &|_| false), "after the rollup").await;
    // More of the minute in progress: the stream is ahead of the stored minute again.
    sink(&second).await;
    expect(
        truth(&[&first, &second, &old], &|t| added.contains(&t)),
        "ahead of the rollup",
    )
    .await;
    store.rollup(Duration::ZERO).await.expect("rollup");
    expect(
        truth(&[&first, &second, &old], &|_| false),
        "rolled up again",
    )
    .await;
    env.drop_all().await;
}

/// A `serve` that starts reads the last `api.replay_window` of the enriched topic into its
/// buffer, so clients can resume from their cursors; a client that connects without one gets
/// only what is published after it connected, not that history as if it were news.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_a_client_without_a_cursor_is_not_sent_what_a_starting_serve_reads_back() {
    let Some((env, store, (_, key))) = distributed_brand("history").await else {
        return;
    };
    let config = env.config();
    let handle = SignalsHandle::default();
    handle.refresh(&*store).await.expect("signals");
    let matcher = handle.current().expect("signals exist");
    let publisher = pipeline::distributed::KafkaPublisher::new(&config.kafka).expect("publisher");
    // Enriched, stored and published as a worker's sink does; returns the ids of the matches.
    let publish = async |seed: u64| -> BTreeSet<String> {
        let source = collectors::Synthetic::new(collectors::SyntheticConfig {
            seed,
            ..Default::default()
        });
        let batch = (0..1_000)
            .map(|i| pipeline::traits::Delivery::of_mention(&source.mention(i), 0, i as i64))
            .collect();
        let out = pipeline::runtime::process_batch(batch, &Default::default(), Some(&matcher));
        sink_as_a_worker(&store, &publisher, &out.stored).await;
        out.stored
            .iter()
            .filter(|s| s.topics.iter().any(|t| t.ends_with("/brand")))
            .map(|s| s.id.clone())
            .collect()
    };
    let history = publish(1).await;
    assert!(history.len() > 20, "the signal matches enough");
    let [api, metrics] = common::free_ports();
    let _serve = spawn_serve(&env, "h", api, metrics);
    // Connected as soon as the API answers: before serve follows the topic, or while it reads
    // the history back.
    let addr = SocketAddr::from(([127, 0, 0, 1], api));
    let http = collectors::common::http_client().expect("client");
    let deadline = std::time::Instant::now() + WAIT;
    while http
        .get(format!("http://{addr}/v1/openapi.json"))
        .send()
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "serve's API never answered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut client = SseClient::connect(addr, &key, "signals=brand", None).await;
    wait_ready(metrics).await;
    let news = publish(2).await;
    assert!(history.is_disjoint(&news));
    let mut seen = Vec::new();
    let lagged = read_until(async || client.next().await, &mut seen, news.len()).await;
    assert!(lagged.is_empty(), "{lagged:?}");
    let got: BTreeSet<String> = as_truth(&seen).into_keys().collect();
    let stale: Vec<&String> = got.intersection(&history).collect();
    assert!(
        stale.is_empty(),
        "{} of the history sent as news, e.g. {:?}",
        stale.len(),
        &stale[..stale.len().min(3)]
    );
    assert_eq!(got, news, "every match of the news, once");
    // The history is in the buffer for a client that resumes from before it.
    let mut resumed = SseClient::connect(addr, &key, "signals=brand&cursor=v1.", None).await;
    let mut again = Vec::new();
    read_until(
        async || resumed.next().await,
        &mut again,
        history.len() + news.len(),
    )
    .await;
    let all: BTreeSet<String> = as_truth(&again).into_keys().collect();
    assert_eq!(all, history.union(&news).cloned().collect());
    env.drop_all().await;
}
