//! The client API with two tenants over a real store — the embedded redb file, and the CQL store
//! on the Cassandra that `deploy/dev/services` starts: every `/v1` endpoint refuses a missing,
//! bad or revoked key with 401, never reads or changes the other tenant's data (its ids answer
//! 404), and a tenant over its rate gets 429 with `Retry-After`.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{CQL, service_up, unique};
use pipeline::alerts::AlertStore;
use pipeline::api::{ApiSettings, StoreBackend};
use pipeline::config::Config;
use pipeline::distributed::{ScyllaStore, scylla};
use pipeline::embedded::{MemoryCache, RedbStore};
use pipeline::signals::{SignalStore, SignalsHandle};
use pipeline::tenants::{self, TenantStore};
use pipeline::traits::{Delivery, Store};
use reqwest::StatusCode;
use serde_json::Value;

/// How long the API trusts a key here: revocation tests wait a little longer than this.
const KEY_TTL: Duration = Duration::from_millis(200);

fn settings() -> ApiSettings {
    ApiSettings {
        requests_per_second: 1000,
        burst: 1000,
        key_cache_ttl: KEY_TTL,
        ..Default::default()
    }
}

async fn serve<S: Store + SignalStore + TenantStore + AlertStore>(
    store: &Arc<S>,
    settings: ApiSettings,
) -> SocketAddr {
    let cache = Arc::new(MemoryCache::new(1 << 20, Duration::from_secs(60)));
    let backend = Arc::new(StoreBackend::new(store.clone(), cache));
    let any_port = "127.0.0.1:0".parse().expect("addr");
    pipeline::api::serve(any_port, settings, None, backend, None)
        .await
        .expect("serve")
}

/// A client of the API at `addr` holding `key` (or none).
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

impl Client {
    fn new(addr: SocketAddr, key: Option<&str>) -> Client {
        Client {
            http: collectors::common::http_client().expect("client"),
            base: format!("http://{addr}"),
            key: key.map(str::to_owned),
        }
    }

    fn with_key(&self, key: &str) -> Client {
        Client {
            key: Some(key.to_owned()),
            ..self.clone()
        }
    }

    /// GET `path`: (status, JSON body, the `rel="next"` target of its Link header).
    async fn page(&self, path: &str) -> (StatusCode, Value, Option<String>) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let next = resp
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(|l| {
                l.strip_suffix(">; rel=\"next\"")?
                    .strip_prefix('<')
                    .map(str::to_owned)
            });
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, body, next)
    }

    /// (status, Retry-After, JSON body or Null).
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Option<u64>, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let text = resp.text().await.expect("body");
        (
            status,
            retry,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    async fn status(&self, method: &str, path: &str) -> StatusCode {
        self.call(method, path, None).await.0
    }

    async fn put(&self, id: &str, query: &str) -> (StatusCode, Value) {
        let (s, _, b) = self
            .call(
                "PUT",
                &format!("/v1/signals/{id}"),
                Some(serde_json::json!({ "query": query })),
            )
            .await;
        (s, b)
    }
}

/// Stores mentions with these texts, matched against the stored signals as the pipeline would.
async fn store_mentions<S: Store + SignalStore>(store: &S, texts: &[(&str, &str)]) {
    store_mentions_at(store, texts, chrono::Utc::now()).await;
}

/// [`store_mentions`], created at `at`.
async fn store_mentions_at<S: Store + SignalStore>(
    store: &S,
    texts: &[(&str, &str)],
    at: chrono::DateTime<chrono::Utc>,
) {
    let handle = SignalsHandle::default();
    handle.refresh(store).await.expect("signals");
    let matcher = handle.current().expect("signals exist");
    let source = collectors::Synthetic::new(Default::default());
    let batch = texts
        .iter()
        .enumerate()
        .map(|(i, (id, text))| {
            let mut m = source.mention(i as u64);
            m.id = (*id).to_owned();
            m.text = (*text).to_owned();
            (m.created_at, m.collected_at) = (at, at);
            Delivery {
                partition: 0,
                offset: i as i64,
                key: None,
                payload: serde_json::to_vec(&m).expect("json"),
                tombstone: false,
                mention: None,
            }
        })
        .collect();
    let out = pipeline::runtime::process_batch(batch, &Default::default(), Some(&matcher));
    assert!(out.dead.is_empty());
    store.write(&out.stored).await.expect("write");
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|x| {
            x.pointer(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The whole proof, over any store.
async fn two_tenants_every_endpoint<S: Store + SignalStore + TenantStore + AlertStore>(
    store: Arc<S>,
) {
    let (acme, globex) = (unique("acme"), unique("globex"));
    let acme_key = tenants::create(&*store, &acme).await.expect("create");
    let globex_key = tenants::create(&*store, &globex).await.expect("create");
    let addr = serve(&store, settings()).await;
    let anon = Client::new(addr, None);
    let a = anon.with_key(&acme_key);
    let g = anon.with_key(&globex_key);

    // Both tenants use the same signal id; each sees and changes only its own.
    assert_eq!(a.put("brand", "acme").await.0, StatusCode::OK);
    assert_eq!(g.put("brand", "globex").await.0, StatusCode::OK);
    assert_eq!(g.put("secret", "initech").await.0, StatusCode::OK);
    let (s, _, list) = a.call("GET", "/v1/signals", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ids(&list, "/id"), ["brand"]);
    assert_eq!(ids(&list, "/query"), ["acme"]);
    assert_eq!(ids(&list, "/tenant"), [acme.as_str()]);
    assert_eq!(
        a.status("GET", "/v1/signals/secret").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(g.status("GET", "/v1/signals/secret").await, StatusCode::OK);
    assert_eq!(
        a.status("GET", "/v1/signals/secret/mentions").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        a.status("DELETE", "/v1/signals/secret").await,
        StatusCode::NOT_FOUND
    );
    let (_, _, theirs) = g.call("GET", "/v1/signals/secret", None).await;
    assert_eq!(
        theirs["query"], "initech",
        "not deleted by the other tenant"
    );

    // The old paths that named a tenant reach nothing, with or without a key.
    for c in [&anon, &a] {
        for (method, path) in [
            ("PUT", format!("/v1/signals/{globex}/brand")),
            ("DELETE", format!("/v1/signals/{globex}/brand")),
            ("GET", format!("/v1/topics/signal:{globex}%2Fbrand/recent")),
            ("GET", format!("/v1/signals/{globex}%2Fbrand/mentions")),
            ("GET", format!("/v1/signals/..%2F{globex}%2Fbrand/mentions")),
        ] {
            let s = c.status(method, &path).await;
            assert!(
                s == StatusCode::NOT_FOUND
                    || s == StatusCode::METHOD_NOT_ALLOWED
                    || s == StatusCode::UNAUTHORIZED,
                "{method} {path}: {s}"
            );
        }
    }

    // Mentions: each tenant reads those its signals matched, with only its own matches.
    let mid = unique("m");
    let (both, only_g, none) = (
        format!("{mid}_both"),
        format!("{mid}_globex"),
        format!("{mid}_none"),
    );
    store_mentions(
        &*store,
        &[
            (&both, "acme and globex merge"),
            (&only_g, "globex alone today"),
            (&none, "nothing of interest"),
        ],
    )
    .await;
    let (s, _, recent) = a.call("GET", "/v1/signals/brand/mentions", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ids(&recent, "/mention/id"), [both.as_str()]);
    assert_eq!(ids(&recent, "/signals/0/tenant"), [acme.as_str()]);
    assert_eq!(recent[0]["signals"].as_array().map(Vec::len), Some(1));
    let (_, _, recent) = g
        .call("GET", "/v1/signals/brand/mentions?limit=10", None)
        .await;
    let mut got = ids(&recent, "/mention/id");
    got.sort();
    assert_eq!(got, [both.clone(), only_g.clone()]);
    let (s, _, m) = a.call("GET", &format!("/v1/mentions/{both}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(m["signals"].as_array().map(Vec::len), Some(1), "{m}");
    assert_eq!(m["signals"][0]["tenant"], acme.as_str());
    assert_eq!(
        a.status("GET", &format!("/v1/mentions/{only_g}")).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        g.status("GET", &format!("/v1/mentions/{only_g}")).await,
        StatusCode::OK
    );
    assert_eq!(
        g.status("GET", &format!("/v1/mentions/{none}")).await,
        StatusCode::NOT_FOUND
    );

    // Writes stay in the writer's tenant.
    assert_eq!(a.put("secret", "acme secret").await.0, StatusCode::OK);
    assert_eq!(
        a.status("DELETE", "/v1/signals/secret").await,
        StatusCode::NO_CONTENT
    );
    let (_, _, theirs) = g.call("GET", "/v1/signals/secret", None).await;
    assert_eq!(theirs["query"], "initech");
    let (_, all) = store.load_signals().await.expect("load");
    let mut mine: Vec<_> = all
        .iter()
        .filter(|s| s.tenant == acme || s.tenant == globex)
        .map(|s| format!("{}/{}={}", s.tenant, s.id, s.query))
        .collect();
    mine.sort();
    assert_eq!(
        mine,
        [
            format!("{acme}/brand=acme"),
            format!("{globex}/brand=globex"),
            format!("{globex}/secret=initech")
        ]
    );

    // Alerts and webhooks: each tenant reads and sets only its own.
    let now = chrono::Utc::now();
    let alert = pipeline::alerts::Alert {
        id: unique("alert"),
        tenant: globex.clone(),
        signal: "brand".into(),
        kind: pipeline::alerts::AlertKind::VolumeSpike,
        state: pipeline::alerts::AlertState::Opened,
        started_at: now - chrono::Duration::minutes(5),
        at: now - chrono::Duration::minutes(1),
        observed: 40.0,
        expected: 5.0,
        score: 12.0,
        mentions: 80,
        summary: "mentions per minute 40 vs 5 expected (8.0×)".into(),
        drivers: Vec::new(),
        examples: Vec::new(),
    };
    store.put_alert(&alert).await.expect("put alert");
    let (s, _, listed) = g.call("GET", "/v1/signals/brand/alerts", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ids(&listed, "/id"), [alert.id.as_str()]);
    assert_eq!(listed[0]["kind"], "volume_spike");
    let (s, _, listed) = a.call("GET", "/v1/signals/brand/alerts", None).await;
    assert_eq!((s, listed), (StatusCode::OK, serde_json::json!([])));
    assert_eq!(
        a.status("GET", "/v1/signals/secret/alerts").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        g.status("GET", "/v1/signals/brand/alerts?limit=0").await,
        StatusCode::BAD_REQUEST
    );
    // A signal's own thresholds: set, read back, refused out of range, and only its tenant's.
    let own = serde_json::json!({ "spike_ratio": 4.0, "min_mentions": 20 });
    let (s, _, set) = g
        .call("PUT", "/v1/signals/brand/alerts/settings", Some(own))
        .await;
    assert_eq!(s, StatusCode::OK, "{set}");
    assert_eq!(set["effective"]["spike_ratio"], 4.0);
    let (s, _, got) = g
        .call("GET", "/v1/signals/brand/alerts/settings", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["own"]["min_mentions"], 20);
    assert_eq!(got["enabled"], true);
    let (_, _, theirs) = a
        .call("GET", "/v1/signals/brand/alerts/settings", None)
        .await;
    assert_eq!(
        theirs["own"],
        serde_json::json!({}),
        "acme's brand keeps the defaults"
    );
    for bad in [
        serde_json::json!({ "spike_ratio": 1.0 }),
        serde_json::json!({ "window": 9 }),
    ] {
        let (s, _, e) = g
            .call("PUT", "/v1/signals/brand/alerts/settings", Some(bad))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    }
    let off = serde_json::json!({ "enabled": false });
    assert_eq!(
        a.call("PUT", "/v1/signals/secret/alerts/settings", Some(off))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let hook = serde_json::json!({ "url": "https://hooks.example.com/backchannel?t=1" });
    let (s, _, set) = g.call("PUT", "/v1/webhook", Some(hook)).await;
    assert_eq!(s, StatusCode::OK, "{set}");
    let secret = set["secret"].as_str().unwrap_or_default();
    assert!(secret.starts_with("whsec_") && secret.len() >= 70, "{set}");
    let (s, _, got) = g.call("GET", "/v1/webhook", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["url"], "https://hooks.example.com/backchannel?t=1");
    assert!(
        got.get("secret").is_none(),
        "the secret is shown once: {got}"
    );
    assert_eq!(a.status("GET", "/v1/webhook").await, StatusCode::NOT_FOUND);
    // A hook inside the operator's network, here this API's own address and a name for it, is
    // never connected to: the test says why, and nothing about what answers there.
    let port = g.base.rsplit(':').next().unwrap_or_default().to_owned();
    for (url, why) in [
        (
            format!("{}/admin/v1/manage", g.base),
            "127.0.0.1 is not a public address",
        ),
        (
            format!("http://localhost:{port}/v1/signals"),
            "localhost resolves to no public address",
        ),
    ] {
        let hook = serde_json::json!({ "url": url });
        assert_eq!(
            g.call("PUT", "/v1/webhook", Some(hook)).await.0,
            StatusCode::OK
        );
        let (s, _, tested) = g.call("POST", "/v1/webhook/test", None).await;
        assert_eq!(s, StatusCode::BAD_GATEWAY, "{tested}");
        assert!(
            tested["error"].as_str().unwrap_or_default().contains(why),
            "{tested}"
        );
    }
    let bad = serde_json::json!({ "url": "file:///etc/passwd" });
    assert_eq!(
        a.call("PUT", "/v1/webhook", Some(bad)).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        a.status("POST", "/v1/webhook/test").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        g.status("DELETE", "/v1/webhook").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(g.status("GET", "/v1/webhook").await, StatusCode::NOT_FOUND);

    // The OpenAPI document needs no key, and every operation it names exists and wants one.
    let (s, _, doc) = anon.call("GET", "/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 8, "{doc}");
    for (path, ops) in paths {
        if path.starts_with("/admin") || path == "/v1/openapi.json" {
            continue; // the operator endpoint is absent without an operator key
        }
        for method in ops.as_object().expect("operations").keys() {
            let concrete = path.replace("{id}", "brand");
            assert_eq!(
                anon.status(&method.to_uppercase(), &concrete).await,
                StatusCode::UNAUTHORIZED,
                "{method} {path} is routed and needs a key"
            );
        }
    }

    // Every endpoint: no key, a malformed key, a wrong secret, an unknown key id → 401 + JSON.
    let (key_id, _) = tenants::parse_key(&acme_key).expect("ours");
    let wrong_secret = format!("bc_{key_id}_{}", "0".repeat(64));
    let unknown_id = format!("bc_{}_{}", "0".repeat(16), "1".repeat(64));
    let endpoints = [
        ("GET", "/v1/signals".to_owned()),
        ("GET", "/v1/signals/brand".to_owned()),
        ("PUT", "/v1/signals/brand".to_owned()),
        ("DELETE", "/v1/signals/brand".to_owned()),
        ("GET", "/v1/signals/brand/mentions".to_owned()),
        ("GET", "/v1/signals/brand/series".to_owned()),
        ("POST", "/v1/signals/test".to_owned()),
        ("GET", format!("/v1/mentions/{both}")),
    ];
    for c in [
        anon.clone(),
        anon.with_key("not-a-key"),
        anon.with_key(&wrong_secret),
        anon.with_key(&unknown_id),
    ] {
        for (method, path) in &endpoints {
            let (s, _, body) = c
                .call(method, path, Some(serde_json::json!({"query": "x"})))
                .await;
            assert_eq!(
                s,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {:?}",
                c.key
            );
            assert!(body["error"].is_string(), "{body}");
        }
    }

    // Revocation takes effect within the key cache's TTL, for every endpoint.
    assert!(
        tenants::revoke(&*store, &acme, key_id)
            .await
            .expect("revoke")
    );
    tokio::time::sleep(KEY_TTL * 2).await;
    for (method, path) in &endpoints {
        let (s, _, body) = a.call(method, path, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "revoked: {method} {path}");
        assert_eq!(body["error"], "this API key was revoked");
    }
    let (_, all) = store.load_signals().await.expect("load");
    assert!(
        all.iter().any(|s| s.tenant == acme && s.id == "brand"),
        "revoked key deleted nothing"
    );

    // Rotation with a grace keeps the old key working; with none it ends it.
    let (new_g, retired) = tenants::rotate(&*store, &globex, Duration::from_secs(3600))
        .await
        .expect("rotate");
    assert_eq!(retired.len(), 1);
    tokio::time::sleep(KEY_TTL * 2).await;
    assert_eq!(
        g.status("GET", "/v1/signals").await,
        StatusCode::OK,
        "old key in its grace"
    );
    let g2 = anon.with_key(&new_g);
    assert_eq!(g2.status("GET", "/v1/signals").await, StatusCode::OK);
    let (newest, _) = tenants::rotate(&*store, &globex, Duration::ZERO)
        .await
        .expect("rotate");
    tokio::time::sleep(KEY_TTL * 2).await;
    assert_eq!(
        g.status("GET", "/v1/signals").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        g2.status("GET", "/v1/signals").await,
        StatusCode::UNAUTHORIZED
    );
    let (s, _, list) = anon
        .with_key(&newest)
        .call("GET", "/v1/signals", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ids(&list, "/id"), ["brand", "secret"]);
}

/// Limits: a tenant over its rate gets 429 with Retry-After (the other tenant does not), and a
/// tenant at its signal limit gets 409 for a new signal but may still change its old ones.
async fn limits<S: Store + SignalStore + TenantStore + AlertStore>(store: Arc<S>) {
    let (busy, calm) = (unique("busy"), unique("calm"));
    let busy_key = tenants::create(&*store, &busy).await.expect("create");
    let calm_key = tenants::create(&*store, &calm).await.expect("create");
    let addr = serve(
        &store,
        ApiSettings {
            requests_per_second: 1,
            burst: 3,
            max_signals: 1,
            ..settings()
        },
    )
    .await;
    let b = Client::new(addr, Some(&busy_key));
    assert_eq!(b.put("one", "acme").await.0, StatusCode::OK);
    let (s, body) = b.put("two", "acme").await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        b.put("one", "acme OR globex").await.0,
        StatusCode::OK,
        "replacing is fine"
    );
    let (s, retry, body) = b.call("GET", "/v1/signals", None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry.is_some_and(|r| r >= 1), "Retry-After: {retry:?}");
    assert!(
        body["error"].is_string() && body["retry_after_seconds"].is_u64(),
        "{body}"
    );
    let c = Client::new(addr, Some(&calm_key));
    assert_eq!(
        c.status("GET", "/v1/signals").await,
        StatusCode::OK,
        "another tenant's bucket"
    );
    tokio::time::sleep(Duration::from_secs(retry.unwrap_or(1))).await;
    assert_eq!(
        b.status("GET", "/v1/signals").await,
        StatusCode::OK,
        "after Retry-After"
    );
}

/// A live edit that no longer matches a signal leaves that signal's pages (the distributed store
/// keeps the edit's earlier index row, so the page checks the record), and shows under the
/// signal it matches now, with its new text.
async fn an_edit_leaves_a_signal<S: Store + SignalStore + TenantStore + AlertStore>(store: Arc<S>) {
    let acme = unique("acme");
    let key = tenants::create(&*store, &acme).await.expect("create");
    let addr = serve(&store, settings()).await;
    let a = Client::new(addr, None).with_key(&key);
    assert_eq!(a.put("brand", "acme").await.0, StatusCode::OK);
    assert_eq!(a.put("rival", "globex").await.0, StatusCode::OK);
    let at = chrono::Utc::now();
    store_mentions_at(&*store, &[("e1", "acme and globex launch")], at).await;
    let page = |signal: &str| format!("/v1/signals/{signal}/mentions?limit=10");
    let (s, body, _) = a.page(&page("brand")).await;
    assert_eq!(
        (s, ids(&body, "/mention/id")),
        (StatusCode::OK, vec!["e1".to_owned()])
    );
    store_mentions_at(&*store, &[("e1", "only globex now")], at).await;
    let (s, body, _) = a.page(&page("brand")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ids(&body, "/mention/id").is_empty(), "{body}");
    let (_, body, _) = a.page(&page("rival")).await;
    assert_eq!(ids(&body, "/mention/text"), ["only globex now"], "{body}");
}

/// Invented keys: each client address may make the store look up only so many key ids it does
/// not hold a minute; past that it gets 429 (with `Retry-After`) before any store read, while
/// another address and a key already cached go on as before.
async fn unknown_keys<S: Store + SignalStore + TenantStore + AlertStore>(store: Arc<S>) {
    let tenant = unique("stranger");
    let key = tenants::create(&*store, &tenant).await.expect("create");
    let addr = serve(
        &store,
        ApiSettings {
            unknown_keys_per_minute: 3,
            trusted_proxies: pipeline::api::TrustedProxies::parse(&["127.0.0.3".to_owned()])
                .expect("proxies"),
            ..settings()
        },
    )
    .await;
    let invented = |i: usize| format!("bc_{i:016x}_{}", "1".repeat(64));
    // The whole of 127/8 is loopback on Linux: more client addresses without a network.
    let via = |ip: &str, forwarded: Option<&str>| {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(f) = forwarded {
            headers.insert("x-forwarded-for", f.parse().expect("header"));
        }
        Client {
            http: reqwest::Client::builder()
                .local_address(ip.parse::<std::net::IpAddr>().ok())
                .default_headers(headers)
                .build()
                .expect("client"),
            base: format!("http://{addr}"),
            key: None,
        }
    };
    let from = |ip: &str| via(ip, None);
    let (one, two) = (from("127.0.0.1"), from("127.0.0.2"));
    assert_eq!(
        one.with_key(&key).status("GET", "/v1/signals").await,
        StatusCode::OK,
        "a real key is not counted"
    );
    for i in 0..3 {
        let (s, _, body) = one
            .with_key(&invented(i))
            .call("GET", "/v1/signals", None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{i}: {body}");
    }
    let (s, retry, body) = one
        .with_key(&invented(3))
        .call("GET", "/v1/signals", None)
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "too many unknown API keys from this address");
    assert_eq!(retry, Some(20), "one lookup back every 20 s at 3 a minute");
    // What the cache already knows needs no lookup: the real key, and an invented one it has
    // found absent, which is still refused as unknown.
    assert_eq!(
        one.with_key(&key).status("GET", "/v1/signals").await,
        StatusCode::OK
    );
    assert_eq!(
        one.with_key(&invented(0))
            .status("GET", "/v1/signals")
            .await,
        StatusCode::UNAUTHORIZED
    );
    // Another address has its own budget.
    assert_eq!(
        two.with_key(&invented(4))
            .status("GET", "/v1/signals")
            .await,
        StatusCode::UNAUTHORIZED
    );

    // Behind the trusted proxy (127.0.0.3), each client its X-Forwarded-For names has a budget
    // of its own; what the client itself wrote left of that is not believed.
    let unknown = |c: Client, i: usize| async move {
        c.with_key(&invented(i)).status("GET", "/v1/signals").await
    };
    for i in 10..13 {
        let c = via("127.0.0.3", Some(&format!("198.51.100.{i}, 203.0.113.7")));
        assert_eq!(unknown(c, i).await, StatusCode::UNAUTHORIZED, "{i}");
    }
    let c = via("127.0.0.3", Some("198.51.100.99, 203.0.113.7"));
    assert_eq!(
        unknown(c, 13).await,
        StatusCode::TOO_MANY_REQUESTS,
        "one client through the proxy, whatever it prepends"
    );
    let c = via("127.0.0.3", Some("203.0.113.8"));
    assert_eq!(
        unknown(c, 14).await,
        StatusCode::UNAUTHORIZED,
        "another client"
    );
    // A peer that is not a listed proxy is its own address, whatever the header says.
    for i in 20..23 {
        let c = via("127.0.0.4", Some(&format!("203.0.113.{i}")));
        assert_eq!(unknown(c, i).await, StatusCode::UNAUTHORIZED, "{i}");
    }
    let c = via("127.0.0.4", Some("203.0.113.99"));
    assert_eq!(
        unknown(c, 23).await,
        StatusCode::TOO_MANY_REQUESTS,
        "X-Forwarded-For from an untrusted peer is ignored"
    );
}

/// A page on a listed origin may call `/v1` from a browser: the preflight is answered without a
/// key, and the answers carry the origin and expose `Link`. Other origins, `/admin`, and an API
/// with no origins listed get no CORS headers, so browsers refuse those calls.
async fn cross_origin_calls<S: Store + SignalStore + TenantStore + AlertStore>(store: Arc<S>) {
    let tenant = unique("browser");
    let key = tenants::create(&*store, &tenant).await.expect("create");
    let cache = Arc::new(MemoryCache::new(1 << 20, Duration::from_secs(60)));
    let backend = Arc::new(StoreBackend::new(store.clone(), cache));
    let with_cors = ApiSettings {
        cors: pipeline::api::Cors::parse(&["https://App.example:8443".to_owned()])
            .expect("origins"),
        ..settings()
    };
    let operator = "o".repeat(40);
    let addr = pipeline::api::serve(
        "127.0.0.1:0".parse().expect("addr"),
        with_cors,
        Some(operator.clone()),
        backend,
        None,
    )
    .await
    .expect("serve");
    let plain = serve(&store, settings()).await;
    let http = reqwest::Client::new();
    let allowed = "https://app.example:8443";
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    let allow_origin = |r: &reqwest::Response| header(r, "access-control-allow-origin");
    // A GET of the signals from a page on `origin`, with `key` if any.
    let get = |origin: &str, key: Option<&str>| {
        let mut req = http
            .get(format!("http://{addr}/v1/signals"))
            .header("origin", origin);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send()
    };
    let preflight = |at: SocketAddr, path: &str, origin: &str| {
        http.request(reqwest::Method::OPTIONS, format!("http://{at}{path}"))
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };

    let r = preflight(addr, "/v1/signals/brand", allowed)
        .await
        .expect("preflight");
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(allow_origin(&r).as_deref(), Some(allowed));
    let methods = header(&r, "access-control-allow-methods").unwrap_or_default();
    assert!(
        methods.contains("PUT") && methods.contains("DELETE"),
        "{methods}"
    );
    let headers = header(&r, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );

    let r = get(allowed, Some(&key)).await.expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(allow_origin(&r).as_deref(), Some(allowed));
    let exposed = header(&r, "access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("link") && exposed.contains("retry-after"),
        "{exposed}"
    );
    // A refusal carries the header too, so the page can read why.
    let r = get(allowed, None).await.expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(allow_origin(&r).as_deref(), Some(allowed));

    // Not for another origin, the operator's route, or an API without origins.
    let r = preflight(addr, "/v1/signals/brand", "https://evil.example")
        .await
        .expect("preflight");
    assert_eq!(allow_origin(&r), None);
    let r = get("https://evil.example", Some(&key)).await.expect("get");
    assert_eq!(r.status(), StatusCode::OK, "the call itself is the key's");
    assert_eq!(allow_origin(&r), None);
    let r = preflight(addr, "/admin/v1/manage", allowed)
        .await
        .expect("preflight");
    assert_eq!(allow_origin(&r), None, "no browser calls to /admin");
    let r = preflight(plain, "/v1/signals/brand", allowed)
        .await
        .expect("preflight");
    assert_eq!(allow_origin(&r), None, "none by default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_two_tenants_never_cross_and_bad_keys_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(RedbStore::open(dir.path()).expect("open"));
    pipeline::codec::Codec::register(&*store)
        .await
        .expect("schema");
    two_tenants_every_endpoint(store.clone()).await;
    series_of_a_signal(store.clone(), || async {}).await;
    pages_of_a_signal(store.clone()).await;
    trying_a_query(store.clone()).await;
    unknown_keys(store.clone()).await;
    an_edit_leaves_a_signal(store.clone()).await;
    cross_origin_calls(store.clone()).await;
    limits(store).await;
}

/// A signal's series over the API: exact counts per minute, every step present, the tenant's
/// own signals only, and clear 400s for bad ranges. `settle` makes written mentions visible to
/// the series (the distributed store's rollup).
async fn series_of_a_signal<S, F, Fut>(store: Arc<S>, settle: F)
where
    S: Store + SignalStore + TenantStore + AlertStore,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use chrono::{DurationRound, SecondsFormat};
    let (acme, globex) = (unique("acme"), unique("globex"));
    let acme_key = tenants::create(&*store, &acme).await.expect("create");
    let globex_key = tenants::create(&*store, &globex).await.expect("create");
    let addr = serve(&store, settings()).await;
    let a = Client::new(addr, None).with_key(&acme_key);
    let g = Client::new(addr, None).with_key(&globex_key);
    assert_eq!(a.put("brand", "acme").await.0, StatusCode::OK);
    assert_eq!(g.put("other", "acme").await.0, StatusCode::OK);

    let minute = (chrono::Utc::now() - chrono::Duration::minutes(10))
        .duration_trunc(chrono::Duration::minutes(1))
        .expect("minute");
    let at = |m: i64, s: i64| minute + chrono::Duration::minutes(m) + chrono::Duration::seconds(s);
    let mid = unique("s");
    let id = |i: usize| format!("{mid}_{i}");
    let (i0, i1, i2, i3, i4) = (id(0), id(1), id(2), id(3), id(4));
    store_mentions_at(
        &*store,
        &[
            (&i0, "I love acme, it is great #launch"),
            (&i1, "acme is terrible and awful #launch"),
        ],
        at(0, 5),
    )
    .await;
    store_mentions_at(&*store, &[(&i2, "acme ships a box today")], at(0, 40)).await;
    store_mentions_at(&*store, &[(&i3, "acme again #Launch #box")], at(2, 1)).await;
    store_mentions_at(&*store, &[(&i4, "nothing of interest")], at(2, 2)).await;
    settle().await;

    let (from, to) = (at(0, 0), at(4, 0));
    let q = |from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>, step: &str| {
        format!(
            "/v1/signals/brand/series?from={}&to={}&step={step}",
            from.to_rfc3339_opts(SecondsFormat::Secs, true)
                .replace('+', "%2B"),
            to.to_rfc3339_opts(SecondsFormat::Secs, true)
                .replace('+', "%2B"),
        )
    };
    let (s, _, body) = a.call("GET", &q(from, to, "1m"), None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let points = body["points"].as_array().expect("points");
    let column = |key: &str| {
        points
            .iter()
            .map(|p| p[key].as_i64().unwrap_or(-1))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        column("mentions"),
        [3, 0, 1, 0],
        "every minute present: {body}"
    );
    assert!(
        points.iter().all(|p| p["provisional"] == false),
        "a store's own minutes, none from a stream: {body}"
    );
    assert_eq!(column("positive"), [1, 0, 0, 0], "{body}");
    assert_eq!(column("negative"), [1, 0, 0, 0], "{body}");
    assert_eq!(column("neutral"), [1, 0, 1, 0], "{body}");
    assert_eq!(
        points[0]["t"],
        at(0, 0).to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    assert_eq!(
        points[0]["top_hashtags"][0],
        serde_json::json!({"hashtag": "launch", "count": 2})
    );
    assert!(
        points[1]["mean_compound"].is_null(),
        "no mentions, no mean: {body}"
    );

    // A `from` inside a minute: the first point is still that whole minute, labelled with its
    // start (it read 0 when the store was asked only for what followed `from`).
    let (s, _, body) = a.call("GET", &q(at(0, 30), to, "1m"), None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["points"][0]["mentions"], 3, "{body}");
    assert_eq!(
        body["points"][0]["t"],
        at(0, 0).to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    assert_eq!(body["points"].as_array().map(Vec::len), Some(4), "{body}");

    let (s, _, hourly) = a.call("GET", &q(from, to, "1h"), None).await;
    assert_eq!(s, StatusCode::OK, "{hourly}");
    let total: i64 = hourly["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["mentions"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(total, 4, "{hourly}");
    // The four minutes may straddle an hour: count #launch over the hours.
    let launch: i64 = hourly["points"]
        .as_array()
        .expect("points")
        .iter()
        .flat_map(|p| p["top_hashtags"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["hashtag"] == "launch")
        .map(|t| t["count"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(launch, 3, "{hourly}");

    // The other tenant's signal of the same query is its own; acme's is not visible to it.
    assert_eq!(
        g.status("GET", &q(from, to, "1m")).await,
        StatusCode::NOT_FOUND
    );
    let (s, _, theirs) = g
        .call(
            "GET",
            &q(from, to, "1m").replace("/brand/", "/other/"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let theirs: i64 = theirs["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["mentions"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(theirs, 4, "the same mentions matched globex's own signal");

    for (bad, why) in [
        (q(to, from, "1m"), "before"),
        (q(from, to, "5m"), "step"),
        (q(from, from + chrono::Duration::days(3), "1m"), "at most"),
        (
            "/v1/signals/brand/series?from=yesterday".to_owned(),
            "RFC 3339",
        ),
    ] {
        let (s, _, e) = a.call("GET", &bad, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {e}");
        assert!(
            e["error"].as_str().unwrap_or_default().contains(why),
            "{bad}: {e}"
        );
    }
}

/// A signal's mentions page by page through the Link header: every mention once, newest first,
/// also where several share a creation time across a page boundary; a bad cursor is a 400.
async fn pages_of_a_signal<S: Store + SignalStore + TenantStore + AlertStore>(store: Arc<S>) {
    let acme = unique("acme");
    let key = tenants::create(&*store, &acme).await.expect("create");
    let addr = serve(&store, settings()).await;
    let a = Client::new(addr, None).with_key(&key);
    assert_eq!(a.put("brand", "acme").await.0, StatusCode::OK);
    let t0 = chrono::Utc::now() - chrono::Duration::minutes(3);
    let mid = unique("p");
    let ids: Vec<String> = (0..25).map(|i| format!("{mid}_{i:02}")).collect();
    let texts: Vec<String> = (0..25).map(|i| format!("acme news number {i}")).collect();
    // Newest first the first page is 16..25 and one of 10..16, which share a millisecond: the
    // page ends inside that tie. Then the other five and 9..5; then 4..0.
    let at = |i: usize| match i {
        10..16 => t0 + chrono::Duration::seconds(10),
        16.. => t0 + chrono::Duration::seconds(i as i64 + 60),
        _ => t0 + chrono::Duration::seconds(i as i64),
    };
    for i in 0..25 {
        store_mentions_at(&*store, &[(&ids[i], &texts[i])], at(i)).await;
    }
    let mut seen = Vec::new();
    let mut path = Some("/v1/signals/brand/mentions?limit=10".to_owned());
    let mut pages = 0;
    while let Some(p) = path.take() {
        let (s, body, next) = a.page(&p).await;
        assert_eq!(s, StatusCode::OK, "{p}: {body}");
        seen.extend(ids_of(&body));
        pages += 1;
        assert!(pages <= 4, "paging ends");
        path = next;
    }
    assert_eq!(pages, 3, "10 + 10 + 5, and no Link after a short page");
    let mut unique_ids = seen.clone();
    unique_ids.sort();
    unique_ids.dedup();
    assert_eq!(unique_ids.len(), seen.len(), "no mention twice: {seen:?}");
    assert_eq!(unique_ids, ids, "every mention once");
    let index = |id: &String| ids.iter().position(|x| x == id).expect("ours");
    let times: Vec<_> = seen.iter().map(|id| at(index(id))).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {seen:?}"
    );

    // Not a cursor, or a time no store can step back from (chrono's first day would overflow
    // one minute earlier), or past what a timestamp holds: a 400, not a dropped connection.
    for bad in [
        "nonsense",
        "-8334601315200000.x",
        "-62135596800001.x",
        "253402300800000.x",
        "9223372036854775807.x",
    ] {
        let (s, e, _) = a
            .page(&format!("/v1/signals/brand/mentions?before={bad}"))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {e}");
    }
    // The first day RFC 3339 writes is still a cursor: an empty page, from either store.
    let (s, body, _) = a
        .page("/v1/signals/brand/mentions?before=-62135596800000.x")
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(ids_of(&body), Vec::<String>::new());
}

/// `POST /v1/signals/test`: the query tried on the newest stored mentions, exactly those it
/// matches, with highlights, unsaved; a bad query is a 400, and `test` is not a signal id.
async fn trying_a_query<S: Store + SignalStore + TenantStore + AlertStore>(store: Arc<S>) {
    let acme = unique("acme");
    let key = tenants::create(&*store, &acme).await.expect("create");
    let addr = serve(&store, settings()).await;
    let a = Client::new(addr, None).with_key(&key);
    // A word no other mention of the store has.
    let word = format!("kw{}", unique("w").replace('_', ""));
    let mid = unique("t");
    let (older, newer, other) = (format!("{mid}_a"), format!("{mid}_b"), format!("{mid}_c"));
    let now = chrono::Utc::now();
    store_mentions_at(
        &*store,
        &[(&older, &format!("the {word} is boiling"))],
        now - chrono::Duration::seconds(30),
    )
    .await;
    store_mentions_at(
        &*store,
        &[(&newer, &format!("a new {word} launch"))],
        now - chrono::Duration::seconds(10),
    )
    .await;
    store_mentions_at(&*store, &[(&other, "nothing to see")], now).await;
    let (s, _, body) = a
        .call(
            "POST",
            "/v1/signals/test",
            Some(serde_json::json!({ "query": word })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["matched"], 2, "{body}");
    assert!(body["scanned"].as_u64() >= Some(3), "{body}");
    assert_eq!(
        ids(&body["matches"], "/mention/id"),
        [newer.as_str(), older.as_str()],
        "newest first"
    );
    assert_eq!(
        body["matches"][0]["highlights"],
        serde_json::json!([[6, 6 + word.chars().count()]]),
        "{body}"
    );
    let (_, _, none) = a
        .call(
            "POST",
            "/v1/signals/test",
            Some(serde_json::json!({ "query": format!("{word} AND boiling AND launch") })),
        )
        .await;
    assert_eq!(none["matched"], 0, "{none}");
    let (s, _, e) = a
        .call(
            "POST",
            "/v1/signals/test",
            Some(serde_json::json!({ "query": "(unclosed" })),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"].as_str().unwrap_or_default().contains("query"),
        "{e}"
    );
    assert_eq!(
        a.put("test", "acme").await.0,
        StatusCode::BAD_REQUEST,
        "a reserved id"
    );
    let (_, all) = store.load_signals().await.expect("load");
    assert!(all.iter().all(|s| s.tenant != acme), "trying saves nothing");
}

fn ids_of(body: &Value) -> Vec<String> {
    ids(body, "/mention/id")
}

async fn scylla_store() -> Option<(ScyllaStore, String)> {
    if !service_up("Cassandra", CQL) {
        return None;
    }
    let ks = unique("test_api");
    let vars = [
        ("BACKCHANNEL__SCYLLA__NODES".to_owned(), CQL.to_owned()),
        ("BACKCHANNEL__SCYLLA__KEYSPACE".to_owned(), ks.clone()),
    ];
    let cfg = Config::load(None, vars).expect("config");
    let session = scylla::connect(&cfg.scylla).await.expect("connect");
    let params = scylla::SchemaParams::from_config(&cfg.scylla).expect("params");
    scylla::apply_schema(&session, &params)
        .await
        .expect("schema");
    let store = ScyllaStore::new(session, &ks, 16).await.expect("prepare");
    pipeline::codec::Codec::register(&store)
        .await
        .expect("record schema");
    Some((store, ks))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cql_two_tenants_never_cross_and_bad_keys_are_refused() {
    let Some((store, ks)) = scylla_store().await else {
        return;
    };
    let store = Arc::new(store);
    two_tenants_every_endpoint(store.clone()).await;
    let rollup = store.clone();
    series_of_a_signal(store.clone(), || async {
        rollup.rollup(Duration::ZERO).await.expect("rollup");
    })
    .await;
    pages_of_a_signal(store.clone()).await;
    trying_a_query(store.clone()).await;
    unknown_keys(store.clone()).await;
    an_edit_leaves_a_signal(store.clone()).await;
    limits(store.clone()).await;
    common::drop_keyspace(store.session(), &ks).await;
}
