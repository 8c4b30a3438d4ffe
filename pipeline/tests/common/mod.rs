//! Shared by the integration tests that talk to the real services `deploy/dev/services` starts.
#![allow(dead_code)]

pub mod certs;
pub mod receiver;

use pipeline::alerts::webhook;

use std::time::Duration;

pub const KAFKA: &str = "127.0.0.1:9092";
pub const CQL: &str = "127.0.0.1:9042";
pub const REDIS: &str = "redis://127.0.0.1:6379";

/// Whether a missing service must fail the test: under `deploy/dev/test` and in CI it must.
pub fn services_required() -> bool {
    std::env::var("BACKCHANNEL_TEST_SERVICES").is_ok_and(|v| v == "required")
        || std::env::var_os("CI").is_some()
}

/// Checks that `addr` accepts TCP connections. When it does not: panics if services are required,
/// otherwise prints a loud SKIPPED line and returns false so a plain `cargo test` on a laptop
/// without services still runs everything else.
pub fn service_up(name: &str, addr: &str) -> bool {
    let addr = addr.trim_start_matches("redis://");
    let ok = addr
        .parse()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok())
        .is_some();
    if !ok {
        assert!(
            !services_required(),
            "{name} is not reachable at {addr}; start it with `deploy/dev/services up` (required in CI)"
        );
        eprintln!(
            "SKIPPED: {name} is not reachable at {addr}; run `deploy/dev/test` to run this test"
        );
    }
    ok
}

/// A name no earlier run used, so tests never see each other's data.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// Drops keyspace `ks`, at the end of a test that passed. A test that fails keeps its keyspace
/// for inspection: `deploy/dev/test` drops such leftovers before the next run (`cleanrun
/// --leftovers`), and so can a developer between plain `cargo test` runs.
pub async fn drop_keyspace(session: &scylla::client::session::Session, ks: &str) {
    session
        .query_unpaged(format!("DROP KEYSPACE {ks}"), &[])
        .await
        .expect("drop keyspace");
}

/// Deletes Kafka topics `names` on the local broker. Fails on the request's error and on each
/// topic's own, except a topic that does not exist (one the test never created, such as an
/// alerts topic nothing published to): the broker answers a request for several topics with a
/// result per topic, so a refused deletion would otherwise pass unnoticed.
pub async fn delete_topics(names: &[&str]) -> Result<(), String> {
    let config = pipeline::config::Config::load(
        None,
        [("BACKCHANNEL__KAFKA__BROKERS".to_owned(), KAFKA.to_owned())],
    )
    .map_err(|e| e.to_string())?;
    let deleted = pipeline::distributed::kafka::delete_topics(&config.kafka, names)
        .await
        .map_err(|e| e.to_string())?;
    if deleted.refused.is_empty() {
        Ok(())
    } else {
        Err(deleted.refused.join("; "))
    }
}

/// A free loopback port (bound and released; good enough for tests).
/// A Redis of a test's own on `port` (no persistence), working in `dir`: one the test may stop
/// or start late without disturbing the shared one. Errs where `redis-server` is not installed
/// (`deploy/dev/services install` installs it).
pub fn spawn_redis(port: u16, dir: &std::path::Path) -> std::io::Result<std::process::Child> {
    std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
}

/// Waits up to 5 s for the Redis at `url` to accept a connection (a spawned `redis-server` takes
/// a moment to listen), and returns that connection.
pub async fn redis_answers(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("redis url");
    for _ in 0..100 {
        if let Ok(c) = client.get_multiplexed_async_connection().await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no Redis answers at {url} after 5 s");
}

/// A port nothing listens on now, for a server the test starts itself (see [`free_ports`]), or
/// for a service that must be found absent.
pub fn free_port() -> u16 {
    let [port] = free_ports();
    port
}

/// `N` distinct free ports for servers a test starts itself (Redis, Kafka, a worker's API).
///
/// A port is chosen here and bound by the server a moment later, so it must not be handed to
/// anyone else in between. Ports the kernel gives out (`bind` to port 0, and every outgoing
/// connection's local port) come from its ephemeral range, so one taken from there could become
/// a client connection's port before the server binds it. These are taken from the 12,000 ports
/// just below that range instead, in turn from an offset set by the process id, so one test
/// process never hands out a port twice and two processes start far apart. Each port is checked
/// free (on every address) and held until all `N` are chosen.
pub fn free_ports<const N: usize>() -> [u16; N] {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static RANGE: OnceLock<(u32, u32)> = OnceLock::new();
    let &(start, span) = RANGE.get_or_init(|| {
        let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
            .unwrap_or(32768);
        let start = ephemeral_low.saturating_sub(12_000).max(1024);
        let span = ephemeral_low.saturating_sub(start).max(1);
        NEXT.store(
            std::process::id().wrapping_mul(7919) % span,
            Ordering::Relaxed,
        );
        (start, span)
    });
    let mut held = Vec::with_capacity(N);
    for _ in 0..span {
        if held.len() == N {
            break;
        }
        let port = (start + NEXT.fetch_add(1, Ordering::Relaxed) % span) as u16;
        if let Ok(l) = std::net::TcpListener::bind(("0.0.0.0", port)) {
            held.push(l);
        }
    }
    assert_eq!(
        held.len(),
        N,
        "no {N} free ports in {start}..{}",
        start + span
    );
    std::array::from_fn(|i| held[i].local_addr().expect("free port").port())
}

/// The buckets `(topic, minute)` of `topic_mentions` is spread over, read with the driver alone
/// (not the store's code): the width its plan in `topic_widths` names, 1 without a plan; for a
/// minute not marked planned (topic ""), the width of the latest marked minute before it in its
/// hour or the `CARRY_HOURS` before, unless its own plan was frozen or names a wider one.
pub async fn topic_buckets(
    session: &scylla::client::session::Session,
    ks: &str,
    topic: &str,
    minute: chrono::DateTime<chrono::Utc>,
) -> Result<i32, String> {
    use pipeline::distributed::scylla::buckets::CARRY_HOURS;
    type Row = (
        chrono::DateTime<chrono::Utc>,
        String,
        Option<i32>,
        Option<bool>,
    );
    let hour = minute.timestamp().div_euclid(3600) * 3600;
    let hours: Vec<chrono::DateTime<chrono::Utc>> = (0..=CARRY_HOURS)
        .filter_map(|back| chrono::DateTime::from_timestamp(hour - back * 3600, 0))
        .collect();
    let rows = session
        .query_unpaged(
            format!("SELECT minute, topic, width, fixed FROM {ks}.topic_widths WHERE hour IN ?"),
            (hours,),
        )
        .await
        .map_err(|e| e.to_string())?
        .into_rows_result()
        .map_err(|e| e.to_string())?;
    let rows: Vec<Row> = rows
        .rows::<Row>()
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let width_in = |m| {
        rows.iter()
            .find(|r| r.0 == m && r.1 == topic)
            .map(|r| (r.2.unwrap_or(1).max(1), r.3.unwrap_or(false)))
    };
    let own = width_in(minute);
    if rows.iter().any(|r| r.0 == minute && r.1.is_empty()) {
        return Ok(own.map_or(1, |(w, _)| w));
    }
    let last_mark = rows
        .iter()
        .filter(|r| r.1.is_empty() && r.0 < minute)
        .map(|r| r.0)
        .max();
    let carried = last_mark.map(|m| width_in(m).map_or(1, |(w, _)| w));
    Ok(match (own, carried) {
        (Some((w, true)), _) => w,
        (own, Some(c)) => own.map_or(1, |(w, _)| w).max(c),
        (own, None) => own.map_or(1, |(w, _)| w),
    })
}

/// Rows of `(topic, minute)` in `topic_mentions`, over its plan's buckets (a spilled minute's
/// spill buckets are not counted).
pub async fn count_topic_rows(
    session: &scylla::client::session::Session,
    ks: &str,
    topic: &str,
    minute: chrono::DateTime<chrono::Utc>,
) -> Result<i64, String> {
    let width = topic_buckets(session, ks, topic, minute).await?;
    let q = format!(
        "SELECT COUNT(*) FROM {ks}.topic_mentions WHERE topic = ? AND minute = ? AND bucket = ?"
    );
    let mut total = 0;
    for bucket in 0..width {
        total += session
            .query_unpaged(q.as_str(), (topic, minute, bucket))
            .await
            .map_err(|e| e.to_string())?
            .into_rows_result()
            .map_err(|e| e.to_string())?
            .single_row::<(i64,)>()
            .map_err(|e| e.to_string())?
            .0;
    }
    Ok(total)
}

/// A signal's history for the alerting tests, as (id, mention JSON): 120 minutes of 4-6 ordinary
/// mentions carrying "acme", then 3 minutes of 40 carrying #acmelaunch (many authors, different
/// words), the last of them the minute before `end`.
pub fn spiky_history(end: chrono::DateTime<chrono::Utc>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..123i64 {
        let minute = end - chrono::Duration::minutes(123 - i);
        let (n, text) = match i {
            ..120 => (4 + (i * 7) % 3, "acme store visit {k} with friends"),
            _ => (40, "acme launch number {k} is live #acmelaunch"),
        };
        for k in 0..n {
            let at = minute + chrono::Duration::seconds(k * 59 / n);
            let id = format!("mastodon:{}-{k}", minute.timestamp());
            let m = serde_json::json!({
                "id": id, "source": "mastodon", "kind": "post",
                "text": text.replace("{k}", &k.to_string()),
                "author": {"id": format!("u{}", k % 40), "handle": format!("user{}", k % 40)},
                "created_at": at.to_rfc3339(), "collected_at": at.to_rfc3339(),
            });
            out.push((id, m.to_string()));
        }
    }
    out
}
