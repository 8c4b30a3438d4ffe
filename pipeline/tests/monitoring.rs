//! The monitoring files in `deploy/` against the real tools: `promtool` checks and unit-tests the
//! rules; a real Prometheus (Debian's `/usr/bin/prometheus`) loads them, scrapes a real
//! `backchannel worker` on the real services, and evaluates every rule and dashboard expression.
//! Skipped (loudly) without the tools or services unless `BACKCHANNEL_TEST_SERVICES=required`.

mod common;
mod harness;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{CQL, KAFKA, REDIS, free_port, service_up, services_required};
use harness::Env;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PROMTOOL: &str = "/usr/bin/promtool";
const PROMETHEUS: &str = "/usr/bin/prometheus";

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Whether `tool` is installed; when not, fails if services are required, else skips loudly.
fn tool(tool: &str) -> bool {
    if Path::new(tool).exists() {
        return true;
    }
    assert!(
        !services_required(),
        "{tool} is missing; deploy/dev/test installs it (apt package prometheus)"
    );
    eprintln!("SKIPPED: {tool} is missing; run deploy/dev/test to run this test");
    false
}

fn promtool(args: &[&str]) {
    let out = Command::new(PROMTOOL)
        .args(args)
        .current_dir(deploy().join("prometheus"))
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    if !tool(PROMTOOL) {
        return;
    }
    promtool(&["check", "rules", "backchannel.rules.yml"]);
    promtool(&["check", "config", "prometheus.yml"]);
    let tests: Vec<String> = std::fs::read_dir(deploy().join("prometheus/tests"))
        .expect("tests dir")
        .filter_map(|e| e.ok())
        .map(|e| format!("tests/{}", e.file_name().to_string_lossy()))
        .filter(|n| n.ends_with(".yml"))
        .collect();
    assert!(!tests.is_empty());
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(String::as_str));
    promtool(&args);
}

/// Every alert's runbook_url names a heading of RUNBOOK.md, and every alert has one.
#[test]
fn every_alert_has_a_runbook_entry() {
    let rules =
        std::fs::read_to_string(deploy().join("prometheus/backchannel.rules.yml")).expect("rules");
    let runbook = std::fs::read_to_string(deploy().join("prometheus/RUNBOOK.md")).expect("runbook");
    let headings: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    let urls: Vec<&str> = rules
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("runbook_url: deploy/prometheus/RUNBOOK.md#")
        })
        .collect();
    assert!(alerts.len() >= 10, "{alerts:?}");
    assert_eq!(alerts.len(), urls.len(), "an alert without a runbook_url");
    for (alert, anchor) in alerts.iter().zip(&urls) {
        assert_eq!(alert.to_lowercase(), *anchor, "runbook_url of {alert}");
        assert!(
            headings.contains(*anchor),
            "RUNBOOK.md has no entry ## {alert}"
        );
    }
}

/// The expressions of every panel of the dashboard.
fn dashboard_exprs() -> Vec<String> {
    let text =
        std::fs::read_to_string(deploy().join("grafana/backchannel.json")).expect("dashboard");
    let d: Value = serde_json::from_str(&text).expect("dashboard JSON");
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().expect("targets") {
            out.push(t["expr"].as_str().expect("expr").to_owned());
        }
    }
    out
}

/// Metrics that legitimately have no series in this test, and why. An expression reading one
/// may come back empty; every other metric it reads must have series.
const ABSENT: &[(&str, &str)] = &[
    (
        "backchannel_pipeline_retries_total",
        "nothing failed, so nothing was retried",
    ),
    (
        "backchannel_cache_errors_total",
        "Redis answered every call",
    ),
    ("backchannel_store_live_bytes", "embedded store only"),
    ("backchannel_store_budget_bytes", "embedded store only"),
    (
        "backchannel_collector_",
        "collector processes only, not scraped here",
    ),
    (
        "backchannel_store_rollup_backlog",
        "the first rollup pass may come after the last scrape",
    ),
    (
        "backchannel_store_rollups_total",
        "the first rollup pass may come after the last scrape",
    ),
];

fn absent_reason(metric: &str) -> Option<&'static str> {
    ABSENT
        .iter()
        .find(|(m, _)| metric.starts_with(m))
        .map(|(_, why)| *why)
}

/// The metric names an expression reads.
fn metrics_in(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("backchannel_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

/// A plain HTTP/1.0 GET on loopback (Prometheus answers without chunking): status and body.
async fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    conn.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await?;
    let mut buf = String::new();
    conn.read_to_string(&mut buf).await?;
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = buf.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    Ok((status, body))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Evaluates `expr` now: Err with Prometheus's message if it does not parse or run, else the
/// number of series.
async fn query(port: u16, expr: &str) -> Result<usize, String> {
    let (status, body) = get(port, &format!("/api/v1/query?query={}", encode(expr)))
        .await
        .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{status}: {e}: {body}"))?;
    if v["status"] != "success" {
        return Err(format!("{status}: {}", v["error"]));
    }
    Ok(v["data"]["result"].as_array().map_or(0, Vec::len))
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real Prometheus with our rules, scraping `targets` every second as job backchannel-worker.
fn start_prometheus(dir: &Path, port: u16, target: &str) -> Kill {
    let rules = deploy().join("prometheus/backchannel.rules.yml");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
         scrape_configs:\n  - job_name: backchannel-worker\n    static_configs:\n      - targets: [\"{target}\"]\n",
        rules.display()
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, config).expect("config");
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
    Kill(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus"),
    )
}

/// Every rule and dashboard expression, evaluated by a real Prometheus scraping a worker that
/// stored real mentions (distributed mode, on the real services).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_and_panel_expression_evaluates_against_a_scraped_worker() {
    if !tool(PROMETHEUS)
        || !service_up("Kafka", KAFKA)
        || !service_up("Cassandra", CQL)
        || !service_up("Redis", REDIS)
    {
        return;
    }
    let started = Instant::now();
    let env = Env::new("monitoring").await;
    let worker = env.spawn_worker();
    env.produce_synthetic(7, 0, 2_000).await;
    // One message no decoder takes: a dead letter, so the by-reason series exists.
    let producer = env.producer();
    producer
        .send(
            rdkafka::producer::FutureRecord::<str, str>::to(&env.raw)
                .key("bad")
                .payload("{not json"),
            Duration::from_secs(10),
        )
        .await
        .expect("send a bad message");

    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let _prometheus =
        start_prometheus(dir.path(), port, &format!("127.0.0.1:{}", env.metrics_port));

    // Wait until Prometheus has scraped a worker that stored everything and dead-lettered one.
    let ready = async {
        loop {
            let stored = query(port, "backchannel_store_written_mentions_total >= 2000").await;
            let dead = query(port, "backchannel_pipeline_dead_letters_total >= 1").await;
            if stored == Ok(1) && dead == Ok(1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), ready)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no scrape of a worker that stored 2000 mentions within 60 s; logs in {} and {}",
                dir.path().join("prometheus.log").display(),
                std::env::temp_dir()
                    .join(format!("{}.worker.log", env.name))
                    .display()
            )
        });
    // A few more scrapes, so rates over them have two samples after the last increase.
    tokio::time::sleep(Duration::from_secs(4)).await;

    // The rules as Prometheus loaded them: proof that it took the file, and their expressions.
    let (_, body) = get(port, "/api/v1/rules").await.expect("rules API");
    let v: Value = serde_json::from_str(&body).expect("rules JSON");
    let mut rules: Vec<(String, String, bool)> = Vec::new(); // (name, expr, is alert)
    for g in v["data"]["groups"].as_array().expect("groups") {
        for r in g["rules"].as_array().expect("rules") {
            assert_eq!(r["health"], "ok", "rule {} is unhealthy: {r}", r["name"]);
            let alert = r["type"] == "alerting";
            rules.push((
                r["name"].as_str().expect("name").to_owned(),
                r["query"].as_str().expect("query").to_owned(),
                alert,
            ));
        }
    }
    assert!(
        rules.len() >= 20,
        "Prometheus loaded only {} rules",
        rules.len()
    );
    let mut exprs: Vec<(String, String, bool)> = rules;
    for (i, e) in dashboard_exprs().into_iter().enumerate() {
        exprs.push((format!("dashboard #{i}"), e, false));
    }

    let mut failures = Vec::new();
    let mut empty = Vec::new();
    for (name, expr, alert) in &exprs {
        let n = match query(port, expr).await {
            Ok(n) => n,
            Err(e) => {
                failures.push(format!("{name}: does not evaluate: {e}\n  {expr}"));
                continue;
            }
        };
        if n > 0 {
            continue;
        }
        // Empty: an alert whose condition is false, or one that reads a metric legitimately
        // absent here. Either way each metric it reads must have series or be known absent.
        let absent: Vec<String> = metrics_in(expr)
            .into_iter()
            .filter_map(|m| absent_reason(&m).map(|why| format!("{m} ({why})")))
            .collect();
        if !alert && absent.is_empty() {
            failures.push(format!(
                "{name}: no series, and it reads no absent metric\n  {expr}"
            ));
        }
        for m in metrics_in(expr) {
            if absent_reason(&m).is_none() {
                match query(port, &format!("{{__name__=~\"{m}(_bucket)?\"}}")).await {
                    Ok(0) => failures.push(format!("{name}: metric {m} has no series")),
                    Ok(_) => {}
                    Err(e) => failures.push(format!("{name}: selector {m}: {e}")),
                }
            }
        }
        empty.push(format!("{name} (empty; {})", absent.join(", ")));
    }
    eprintln!(
        "evaluated {} expressions in {:?}; empty ones:\n  {}",
        exprs.len(),
        started.elapsed(),
        empty.join("\n  ")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    drop(worker);
    env.drop_all().await;
}
