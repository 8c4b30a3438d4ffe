//! Live push under load (issue 10's benchmark): `backchannel run` (embedded, the release
//! binary) at a fixed rate, with N concurrent SSE clients (`GET /v1/stream`) spread over T
//! tenants, each tenant tracking one brand of the synthetic collector's. Reports the events
//! delivered, two latencies to a match event's arrival at a client: from the mention's
//! collection (the synthetic collector stamps `collected_at` as it sends it) and from its
//! storage (the sink stamps `stored_at` once the store has acknowledged the batch: the
//! storage→client latency itself), `lagged` events, and the serving process's CPU and memory.
//!
//! `cargo build --release -p pipeline -p benches && target/release/clients [--clients 1000]
//! [--tenants 10] [--rate 5000] [--seconds 30] [--distributed]`
//!
//! With `--distributed` (the services up: `deploy/dev/services up`), the same on the distributed
//! mode: `backchannel collect` at the rate into a fresh raw topic, one `backchannel worker`, and
//! the clients on one `backchannel serve`, which follows the enriched topic; the worker is not
//! in the client path. The collected→client latency then spans collect → Kafka → worker →
//! ScyllaDB → Kafka → serve → client, the stored→client one ScyllaDB → Kafka → serve → client;
//! the worker's own collected → stored p99 is printed beside them.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

/// Tenant `i` tracks `hashtag:<brand>fail AND hashtag:blackfriday` for `BRANDS[i % 7]`: a
/// brand's complaints on one campaign, about 0.1% of the synthetic collector's mentions, as
/// selective as a tracked query is on a real stream.
const BRANDS: [&str; 7] = [
    "acme", "nimbus", "orbita", "kettle", "lumen", "vela", "fjord",
];
/// Latency buckets: 1 ms wide up to 10 s.
const BUCKETS: usize = 10_000;

struct Args {
    clients: usize,
    tenants: usize,
    rate: u64,
    seconds: u64,
    bin: String,
    distributed: bool,
}

fn args() -> Args {
    let mut a = Args {
        clients: 1_000,
        tenants: 10,
        rate: 5_000,
        seconds: 30,
        bin: "target/release/backchannel".into(),
        distributed: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--distributed" {
            a.distributed = true;
            continue;
        }
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--clients" => a.clients = v.parse().expect("--clients N"),
            "--tenants" => a.tenants = v.parse().expect("--tenants N"),
            "--rate" => a.rate = v.parse().expect("--rate N"),
            "--seconds" => a.seconds = v.parse().expect("--seconds N"),
            "--bin" => a.bin = v,
            _ => panic!("unknown argument {k}"),
        }
    }
    a
}

/// `N` distinct free ports: each listener stays open until all are chosen, or the OS may hand
/// the same port out twice.
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().expect("a free port").port())
}

/// The server's CPU seconds (user + system) and resident memory, from /proc.
fn proc_usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the command name.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<u64>().ok())
        .unwrap_or(0);
    (cpu, rss * 1024)
}

struct Server {
    /// The serving process (`run`, or `serve`), then the others (`worker`, `collect`).
    child: Child,
    others: Vec<Child>,
    env: Vec<(String, String)>,
    bin: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        for c in std::iter::once(&mut self.child).chain(self.others.iter_mut()) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Server {
    /// Starts `backchannel <args>` with the bench's environment plus `extra`.
    fn spawn(&self, args: &[&str], extra: &[(&str, String)]) -> Child {
        Command::new(&self.bin)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .env_remove("BACKCHANNEL_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("backchannel starts (build it: cargo build --release -p pipeline)")
    }
}

impl Server {
    /// A `backchannel` operator command against the running server; its stdout.
    fn admin(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("backchannel runs");
        assert!(
            out.status.success(),
            "backchannel {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

#[derive(Default)]
struct Tally {
    events: AtomicU64,
    lagged: AtomicU64,
    connected: AtomicU64,
    failed: AtomicU64,
    /// From `collected_at` (the whole path) and from `stored_at` (storage→client), by ms.
    latency: Vec<AtomicU64>,
    from_store: Vec<AtomicU64>,
}

/// One SSE client: counts `match` events and their latency while `measuring`.
async fn client(
    http: reqwest::Client,
    url: String,
    tally: Arc<Tally>,
    measuring: Arc<std::sync::atomic::AtomicBool>,
) {
    let resp = match http.get(&url).send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            eprintln!("stream refused: {}", r.status());
            tally.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(e) => {
            eprintln!("stream failed: {e}");
            tally.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    tally.connected.fetch_add(1, Ordering::Relaxed);
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut event = String::new();
    while let Some(Ok(chunk)) = body.next().await {
        buf.extend_from_slice(&chunk);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end();
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_owned();
            } else if let Some(data) = line.strip_prefix("data:") {
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                match event.as_str() {
                    "match" => {
                        tally.events.fetch_add(1, Ordering::Relaxed);
                        for (key, counts) in [
                            ("\"collected_at\":\"", &tally.latency),
                            ("\"stored_at\":\"", &tally.from_store),
                        ] {
                            if let Some(ms) = latency_ms(data, key) {
                                let b = (ms as usize).min(BUCKETS - 1);
                                counts[b].fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    "lagged" => {
                        tally.lagged.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Milliseconds from the mention's timestamp after `needle` (`"key":"`) to now (a substring
/// read: parsing every event's JSON would cost the clients, which share the machine with the
/// server, far more). The synthetic collectors stamp `collected_at` as they send the mention;
/// the sink stamps `stored_at` when the store has acknowledged it.
fn latency_ms(data: &str, needle: &str) -> Option<i64> {
    let at = data.find(needle)? + needle.len();
    let end = at + data[at..].find('"')?;
    let stamp = chrono::DateTime::parse_from_rfc3339(&data[at..end]).ok()?;
    Some(
        (chrono::Utc::now() - stamp.to_utc())
            .num_milliseconds()
            .max(0),
    )
}

fn quantile(counts: &[u64], q: f64) -> usize {
    let total: u64 = counts.iter().sum();
    let want = (q * total as f64).ceil() as u64;
    let mut seen = 0;
    for (ms, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= want.max(1) {
            return ms;
        }
    }
    counts.len()
}

#[tokio::main]
async fn main() {
    let a = args();
    let dir = std::env::temp_dir().join(format!("bc-clients-{}", std::process::id()));
    let [api, metrics, serve_metrics] = free_ports();
    let operator = format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    let env: Vec<(String, String)> = vec![
        (
            "BACKCHANNEL__EMBEDDED__DATA_DIR".into(),
            dir.display().to_string(),
        ),
        (
            "BACKCHANNEL__API__LISTEN".into(),
            format!("127.0.0.1:{api}"),
        ),
        (
            "BACKCHANNEL__METRICS__LISTEN".into(),
            format!("127.0.0.1:{metrics}"),
        ),
        (
            "BACKCHANNEL__API__MAX_STREAMS".into(),
            a.clients.to_string(),
        ),
        // A thousand clients connect at once: the per-tenant request limits must let them.
        (
            "BACKCHANNEL__API__REQUESTS_PER_SECOND".into(),
            "100000".into(),
        ),
        ("BACKCHANNEL__API__BURST".into(), "100000".into()),
        ("BACKCHANNEL__API__MAX_IN_FLIGHT".into(), "100000".into()),
        ("BACKCHANNEL_OPERATOR_KEY".into(), operator),
        ("BACKCHANNEL_LOG".into(), "error".into()),
    ];
    let mut env = env;
    if a.distributed {
        let p = format!("bench_clients_{}", std::process::id());
        for (k, v) in [
            ("PIPELINE__MODE", "distributed".to_owned()),
            ("KAFKA__RAW_TOPIC", format!("{p}.raw")),
            ("KAFKA__ENRICHED_TOPIC", format!("{p}.enriched")),
            ("KAFKA__DLQ_TOPIC", format!("{p}.dlq")),
            ("KAFKA__ALERTS_TOPIC", format!("{p}.alerts")),
            ("KAFKA__GROUP_ID", format!("{p}.workers")),
            ("SCYLLA__KEYSPACE", p.clone()),
        ] {
            env.push((format!("BACKCHANNEL__{k}"), v));
        }
    }
    let mut server = Server {
        // Replaced below; `true` only holds the slot.
        child: Command::new("true").spawn().expect("true runs"),
        others: Vec::new(),
        env,
        bin: a.bin.clone(),
    };
    if a.distributed {
        server.admin(&["schema", "apply"]);
        // The worker stores (its metrics are the pipeline's); `serve` is the client API.
        let worker = server.spawn(
            &["worker"],
            &[
                ("BACKCHANNEL__API__LISTEN", String::new()),
                (
                    "BACKCHANNEL__METRICS__LISTEN",
                    format!("127.0.0.1:{metrics}"),
                ),
            ],
        );
        server.others.push(worker);
        server.child = server.spawn(
            &["serve"],
            &[(
                "BACKCHANNEL__METRICS__LISTEN",
                format!("127.0.0.1:{serve_metrics}"),
            )],
        );
    } else {
        server.child = server.spawn(&["run", "--quiet", "--rate", &a.rate.to_string()], &[]);
    }
    let pid = server.child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", api)).is_err() {
        assert!(Instant::now() < deadline, "the API did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let keys: Vec<String> = (0..a.tenants)
        .map(|t| {
            let tenant = format!("bench{t}");
            let key = server.admin(&["tenants", "create", &tenant]);
            let query = format!(
                "hashtag:{}fail AND hashtag:blackfriday",
                BRANDS[t % BRANDS.len()]
            );
            server.admin(&[
                "signals", "put", "--tenant", &tenant, "--id", "brand", &query,
            ]);
            key
        })
        .collect();

    let tally = Arc::new(Tally {
        latency: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        from_store: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        ..Tally::default()
    });
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let http = collectors::common::http_client().expect("client");
    for i in 0..a.clients {
        let url = format!(
            "http://127.0.0.1:{api}/v1/stream?access_token={}",
            keys[i % keys.len()]
        );
        tokio::spawn(client(http.clone(), url, tally.clone(), measuring.clone()));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while tally.connected.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed)
        < a.clients as u64
    {
        assert!(Instant::now() < deadline, "clients did not connect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if a.distributed {
        // The collector, for the whole run (warm-up included), into the raw topic.
        let limit = a.rate * (a.seconds + 60);
        let collect = server.spawn(
            &[
                "collect",
                "--rate",
                &a.rate.to_string(),
                "--limit",
                &limit.to_string(),
            ],
            &[("BACKCHANNEL__METRICS__LISTEN", String::new())],
        );
        server.others.push(collect);
    }
    // Warm up, then measure.
    tokio::time::sleep(Duration::from_secs(if a.distributed { 15 } else { 5 })).await;
    let stored = || {
        let body = std::process::Command::new("curl")
            .args(["-s", &format!("127.0.0.1:{metrics}/metrics")])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        body.lines()
            .find(|l| l.starts_with("backchannel_store_written_mentions_total"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let histogram = |name: &str| {
        let prefix = format!("{name}_bucket");
        std::process::Command::new("curl")
            .args(["-s", &format!("127.0.0.1:{metrics}/metrics")])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| {
                let le = l.split("le=\"").nth(1)?.split('"').next()?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, l.split_whitespace().last()?.parse::<f64>().ok()?))
            })
            .collect::<Vec<(f64, f64)>>()
    };
    let worker_pid = server.others.first().map(Child::id);
    let (wcpu0, _) = worker_pid.map_or((0.0, 0), proc_usage);
    let (collected, created) = (
        "backchannel_pipeline_collected_to_stored_seconds",
        "backchannel_pipeline_created_to_stored_seconds",
    );
    let (h0, c0) = (histogram(collected), histogram(created));
    let (cpu0, _) = proc_usage(pid);
    let (own0, _) = proc_usage(std::process::id());
    let (stored0, t0) = (stored(), Instant::now());
    measuring.store(true, Ordering::Relaxed);
    let mut peak_rss = 0;
    while t0.elapsed() < Duration::from_secs(a.seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        peak_rss = peak_rss.max(proc_usage(pid).1);
    }
    measuring.store(false, Ordering::Relaxed);
    let wall = t0.elapsed().as_secs_f64();
    let (cpu1, rss) = proc_usage(pid);
    let (wcpu1, _) = worker_pid.map_or((0.0, 0), proc_usage);
    let (h1, c1) = (histogram(collected), histogram(created));
    let (own1, _) = proc_usage(std::process::id());
    let stored1 = stored();
    let load =
        |h: &[AtomicU64]| -> Vec<u64> { h.iter().map(|c| c.load(Ordering::Relaxed)).collect() };
    let (counts, from_store) = (load(&tally.latency), load(&tally.from_store));
    let events = tally.events.load(Ordering::Relaxed);
    println!(
        "{} SSE clients over {} tenants ({} connected, {} refused), backchannel {} at {} mentions/s, {:.0} s measured ({} cores)",
        a.clients,
        a.tenants,
        tally.connected.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
        if a.distributed {
            "collect + worker + serve"
        } else {
            "run"
        },
        a.rate,
        wall,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "pipeline stored {:.0} mentions/s; clients received {:.0} match events/s ({:.1} per client per second), {} lagged",
        (stored1 - stored0) / wall,
        events as f64 / wall,
        events as f64 / wall / a.clients.max(1) as f64,
        tally.lagged.load(Ordering::Relaxed)
    );
    println!(
        "collected->client latency p50 {} ms, p99 {} ms, max bucket {} ms",
        quantile(&counts, 0.5),
        quantile(&counts, 0.99),
        counts.iter().rposition(|c| *c > 0).unwrap_or(0)
    );
    println!(
        "stored->client latency p50 {} ms, p99 {} ms, max bucket {} ms ({} events carried stored_at)",
        quantile(&from_store, 0.5),
        quantile(&from_store, 0.99),
        from_store.iter().rposition(|c| *c > 0).unwrap_or(0),
        from_store.iter().sum::<u64>()
    );
    if a.distributed {
        // The worker's p99s over the measured window (bucket bounds).
        let p = |h0: &[(f64, f64)], h1: &[(f64, f64)], q: f64| {
            let d: Vec<(f64, f64)> = h1
                .iter()
                .map(|(le, c)| {
                    let before = h0.iter().find(|(l, _)| l == le).map_or(0.0, |(_, c)| *c);
                    (*le, c - before)
                })
                .collect();
            let total = d.last().map_or(0.0, |(_, c)| *c);
            d.iter()
                .find(|(_, c)| *c >= q * total)
                .map_or(f64::NAN, |(le, _)| *le * 1000.0)
        };
        println!(
            "worker: collected->stored p50 <= {:.0} ms, p99 <= {:.0} ms; created->stored p50 <= {:.0} ms, p99 <= {:.0} ms (histogram bucket bounds); {:.0}% of one core",
            p(&h0, &h1, 0.5),
            p(&h0, &h1, 0.99),
            p(&c0, &c1, 0.5),
            p(&c0, &c1, 0.99),
            (wcpu1 - wcpu0) / wall * 100.0
        );
    }
    println!(
        "{} (API + push{}): {:.0}% of one core, RSS {:.0} MiB (peak {:.0} MiB)",
        if a.distributed {
            "serve"
        } else {
            "serving process"
        },
        if a.distributed {
            ", following the enriched topic"
        } else {
            " + the pipeline"
        },
        (cpu1 - cpu0) / wall * 100.0,
        rss as f64 / (1 << 20) as f64,
        peak_rss as f64 / (1 << 20) as f64
    );
    println!(
        "the {} clients (this process): {:.0}% of one core",
        a.clients,
        (own1 - own0) / wall * 100.0
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    if a.distributed {
        let config = pipeline::config::Config::load(None, std::env::vars()).expect("configuration");
        let run = format!("bench_clients_{}", std::process::id());
        match benches::services::drop_runs(&config, &[&run]).await {
            Ok(d) if d.failures.is_empty() => {}
            Ok(d) => eprintln!("could not drop all of {run}: {:?}", d.failures),
            Err(e) => eprintln!("could not drop {run}: {e}"),
        }
    }
}
