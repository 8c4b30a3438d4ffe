//! `backchannel tenants create|list|revoke-key|rotate-key` as an operator runs them: the binary,
//! on the embedded store in a temporary data directory, through a running pipeline's operator
//! endpoint when that process holds the store, and on the CQL store against the real Cassandra.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{CQL, service_up, unique};
use pipeline::api::{ApiSettings, StoreBackend};
use pipeline::embedded::{MemoryCache, RedbStore};
use pipeline::tenants::{TenantStore, parse_key};
use serde_json::Value;

/// Runs `backchannel ARGS` with `vars`; returns (stdout, stderr), failing on a non-zero exit.
fn backchannel(vars: &[(String, String)], args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_backchannel"))
        .args(args)
        .envs(vars.iter().cloned())
        .env_remove("BACKCHANNEL_OPERATOR_KEY")
        .output()
        .expect("run backchannel");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "backchannel {args:?}: {stderr}");
    (stdout, stderr)
}

fn listing(vars: &[(String, String)], tenant: &str) -> Value {
    let (out, _) = backchannel(vars, &["tenants", "list"]);
    assert!(!out.contains("bc_"), "list never shows keys: {out}");
    out.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .find(|v| v["tenant"] == tenant)
        .expect("listed")
}

/// create → list → rotate (grace) → revoke → rotate (no grace), checked through the listing.
fn round_trip(vars: &[(String, String)], stored_hash: impl Fn(&str) -> Option<String>) {
    let name = unique("acme");
    let (key, note) = backchannel(vars, &["tenants", "create", &name]);
    let key = key.trim();
    let (key_id, secret) = parse_key(key).expect("a key alone on stdout");
    assert!(note.contains("shown only this once"), "{note}");
    let hash = stored_hash(key_id).expect("stored");
    assert!(
        !hash.contains(secret),
        "the store holds a hash, not the key"
    );
    let again = Command::new(env!("CARGO_BIN_EXE_backchannel"))
        .args(["tenants", "create", &name])
        .envs(vars.iter().cloned())
        .output()
        .expect("run");
    assert!(!again.status.success(), "a tenant is created once");

    let t = listing(vars, &name);
    assert_eq!(t["keys"][0]["key_id"], key_id);
    assert!(t["keys"][0].get("revoked_at").is_none());

    let (second, note) = backchannel(vars, &["tenants", "rotate-key", &name, "--grace", "1h"]);
    let (second_id, _) = parse_key(second.trim()).expect("new key");
    assert!(note.contains(key_id) && note.contains("1h"), "{note}");
    let t = listing(vars, &name);
    let keys = t["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2);
    assert!(
        keys[0]["revoked_at"].is_string(),
        "old key expires after the grace: {t}"
    );
    assert!(keys[1].get("revoked_at").is_none());

    let (out, _) = backchannel(vars, &["tenants", "revoke-key", &name, second_id]);
    assert!(out.contains(&format!("revoked key {second_id}")), "{out}");
    let t = listing(vars, &name);
    assert!(t["keys"][1]["revoked_at"].is_string(), "{t}");

    let (third, _) = backchannel(vars, &["tenants", "rotate-key", &name, "--grace", "0s"]);
    let (third_id, _) = parse_key(third.trim()).expect("new key");
    let t = listing(vars, &name);
    assert_eq!(t["keys"].as_array().map(Vec::len), Some(3));
    assert_eq!(t["keys"][2]["key_id"], third_id);

    let wrong = Command::new(env!("CARGO_BIN_EXE_backchannel"))
        .args(["tenants", "revoke-key", "no-such-tenant", third_id])
        .envs(vars.iter().cloned())
        .output()
        .expect("run");
    assert!(
        !wrong.status.success(),
        "a key is revoked only by its own tenant's name"
    );
}

fn embedded_vars(dir: &std::path::Path) -> Vec<(String, String)> {
    vec![(
        "BACKCHANNEL__EMBEDDED__DATA_DIR".to_owned(),
        dir.display().to_string(),
    )]
}

#[test]
fn tenants_cli_round_trip_on_the_embedded_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vars = embedded_vars(dir.path());
    let path = dir.path().to_owned();
    round_trip(&vars, |key_id| {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let store = RedbStore::open(&path).expect("open");
        rt.block_on(store.key(key_id))
            .expect("read")
            .map(|k| k.hash)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_cli_goes_through_the_running_pipeline_with_the_operator_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    // This process holds the store, as `backchannel run` would, and serves its API.
    let store = Arc::new(RedbStore::open(dir.path()).expect("open"));
    let operator = "o".repeat(40);
    let backend = Arc::new(StoreBackend::new(
        store.clone(),
        Arc::new(MemoryCache::new(1 << 20, Duration::from_secs(60))),
    ));
    let addr = pipeline::api::serve(
        "127.0.0.1:0".parse().expect("addr"),
        ApiSettings::default(),
        Some(operator.clone()),
        backend,
        None,
    )
    .await
    .expect("serve");
    // A wrong key is answered before the body is read: this request declares one and sends
    // none of it.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST /admin/v1/manage HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
            "x".repeat(40)
        );
        conn.write_all(head.as_bytes()).await.expect("write");
        let mut answer = [0u8; 12];
        tokio::time::timeout(Duration::from_secs(10), conn.read_exact(&mut answer))
            .await
            .expect("answered without waiting for the body")
            .expect("read");
        assert_eq!(&answer, b"HTTP/1.1 401");
    }
    let mut vars = embedded_vars(dir.path());
    vars.push(("BACKCHANNEL__API__LISTEN".to_owned(), addr.to_string()));
    let run = move |vars: Vec<(String, String)>, args: Vec<&'static str>| {
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_backchannel"))
                .args(args)
                .envs(vars)
                .output()
                .expect("run")
        })
    };
    let without = run(vars.clone(), vec!["tenants", "create", "acme"])
        .await
        .expect("task");
    assert!(!without.status.success());
    let err = String::from_utf8_lossy(&without.stderr);
    assert!(
        err.contains("BACKCHANNEL_OPERATOR_KEY"),
        "says what to set: {err}"
    );

    let mut wrong = vars.clone();
    wrong.push(("BACKCHANNEL_OPERATOR_KEY".to_owned(), "x".repeat(40)));
    let refused = run(wrong, vec!["tenants", "create", "acme"])
        .await
        .expect("task");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));

    vars.push(("BACKCHANNEL_OPERATOR_KEY".to_owned(), operator));
    let created = run(vars.clone(), vec!["tenants", "create", "acme"])
        .await
        .expect("task");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let key = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    let (key_id, _) = parse_key(&key).expect("a key");
    assert!(store.key(key_id).await.expect("read").is_some());
    let put = run(
        vars,
        vec![
            "signals", "put", "--tenant", "acme", "--id", "brand", "acme",
        ],
    )
    .await
    .expect("task");
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_cli_round_trip_on_the_cql_store() {
    if !service_up("Cassandra", CQL) {
        return;
    }
    let ks = unique("test_tenants");
    let vars = vec![
        (
            "BACKCHANNEL__PIPELINE__MODE".to_owned(),
            "distributed".to_owned(),
        ),
        ("BACKCHANNEL__SCYLLA__NODES".to_owned(), CQL.to_owned()),
        ("BACKCHANNEL__SCYLLA__KEYSPACE".to_owned(), ks.clone()),
    ];
    let cfg = pipeline::config::Config::load(None, vars.clone()).expect("config");
    let session = pipeline::distributed::scylla::connect(&cfg.scylla)
        .await
        .expect("connect");
    let params =
        pipeline::distributed::scylla::SchemaParams::from_config(&cfg.scylla).expect("params");
    pipeline::distributed::scylla::apply_schema(&session, &params)
        .await
        .expect("schema");
    let store = pipeline::distributed::ScyllaStore::new(session, &ks, 4)
        .await
        .expect("prepare");
    let handle = tokio::runtime::Handle::current();
    let reader = store.clone();
    tokio::task::spawn_blocking(move || {
        round_trip(&vars, |key_id| {
            handle
                .block_on(reader.key(key_id))
                .expect("read")
                .map(|k| k.hash)
        })
    })
    .await
    .expect("round trip");
    common::drop_keyspace(store.session(), &ks).await;
}
