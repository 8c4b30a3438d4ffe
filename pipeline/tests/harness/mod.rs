//! A harness for end-to-end worker tests: unique topics and keyspace per test, the real
//! `backchannel` binary as the worker process, and independent ground truth.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use collectors::{Synthetic, SyntheticConfig};
use model::Mention;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use scylla::client::session::Session;

use crate::common::{CQL, KAFKA, free_port, unique};

pub struct Env {
    pub name: String,
    pub raw: String,
    pub enriched: String,
    pub dlq: String,
    pub alerts: String,
    pub keyspace: String,
    pub group: String,
    pub redis_url: String,
    pub metrics_port: u16,
    pub session: Session,
    /// The minutes the produced synthetic mentions fall in (where `stored` counts).
    pub minutes: std::sync::Mutex<std::collections::BTreeSet<DateTime<Utc>>>,
    pub extra_env: Vec<(String, String)>,
}

impl Env {
    /// Creates the topics (4 partitions) and the keyspace.
    pub async fn new(prefix: &str) -> Env {
        let name = unique(prefix);
        let env = Env {
            raw: format!("{name}.raw"),
            enriched: format!("{name}.enriched"),
            dlq: format!("{name}.dlq"),
            alerts: format!("{name}.alerts"),
            keyspace: name.replace('.', "_"),
            group: format!("{name}.workers"),
            redis_url: crate::common::REDIS.into(),
            metrics_port: free_port(),
            session: scylla::client::session_builder::SessionBuilder::new()
                .known_node(CQL)
                .build()
                .await
                .expect("connect to CQL"),
            extra_env: Vec::new(),
            minutes: Default::default(),
            name,
        };
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", KAFKA)
            .create()
            .expect("admin");
        let topics: Vec<NewTopic<'_>> = [&env.raw, &env.enriched, &env.dlq, &env.alerts]
            .iter()
            .map(|t| NewTopic::new(t, 4, TopicReplication::Fixed(1)))
            .collect();
        for r in admin
            .create_topics(&topics, &AdminOptions::new())
            .await
            .expect("create topics")
        {
            r.expect("topic created");
        }
        let config = pipeline::config::Config::load(
            None,
            [(
                "BACKCHANNEL__SCYLLA__KEYSPACE".to_owned(),
                env.keyspace.clone(),
            )],
        )
        .expect("config");
        let params = pipeline::distributed::scylla::SchemaParams::from_config(&config.scylla)
            .expect("schema parameters");
        pipeline::distributed::scylla::apply_schema(&env.session, &params)
            .await
            .expect("schema");
        env
    }

    /// A producer for hand-made raw messages, allowed records up to the broker's own limit (so a
    /// test can send what a worker must refuse).
    pub fn producer(&self) -> rdkafka::producer::FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", KAFKA)
            .set("message.max.bytes", "1048576")
            .create()
            .expect("producer")
    }

    /// The configuration a `backchannel` process of this test runs with.
    pub fn config(&self) -> pipeline::config::Config {
        pipeline::config::Config::load(None, self.vars()).expect("config")
    }

    /// The environment that points a `backchannel` process at this test's topics and keyspace.
    pub fn vars(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = [
            ("BACKCHANNEL__PIPELINE__MODE", "distributed".to_owned()),
            ("BACKCHANNEL__KAFKA__BROKERS", KAFKA.to_owned()),
            ("BACKCHANNEL__KAFKA__RAW_TOPIC", self.raw.clone()),
            ("BACKCHANNEL__KAFKA__ENRICHED_TOPIC", self.enriched.clone()),
            ("BACKCHANNEL__KAFKA__DLQ_TOPIC", self.dlq.clone()),
            ("BACKCHANNEL__KAFKA__ALERTS_TOPIC", self.alerts.clone()),
            ("BACKCHANNEL__KAFKA__GROUP_ID", self.group.clone()),
            ("BACKCHANNEL__SCYLLA__KEYSPACE", self.keyspace.clone()),
            ("BACKCHANNEL__REDIS__URL", self.redis_url.clone()),
            (
                "BACKCHANNEL__METRICS__LISTEN",
                format!("127.0.0.1:{}", self.metrics_port),
            ),
            // Several workers per test: each its own free API port.
            ("BACKCHANNEL__API__LISTEN", "127.0.0.1:0".to_owned()),
            // Warnings only, unless the test run asks for more (to see why a worker did what it did).
            (
                "BACKCHANNEL_LOG",
                std::env::var("BACKCHANNEL_LOG").unwrap_or_else(|_| "warn".to_owned()),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        v.extend(self.extra_env.iter().cloned());
        v
    }

    /// The last 4 KB of the log of the worker [`Env::spawn_worker`] started, for a failure message.
    pub fn worker_log_tail(&self) -> String {
        let path = std::env::temp_dir().join(format!("{}.worker.log", self.name));
        let log = std::fs::read(&path).unwrap_or_default();
        let from = log.len().saturating_sub(4096);
        String::from_utf8_lossy(&log[from..]).into_owned()
    }

    /// Starts `backchannel worker` as a child process, killed when the guard drops (so a failed
    /// test leaves no worker behind).
    pub fn spawn_worker(&self) -> Guard {
        Guard(self.spawn_worker_raw())
    }

    fn spawn_worker_raw(&self) -> Child {
        let log =
            std::fs::File::create(std::env::temp_dir().join(format!("{}.worker.log", self.name)))
                .expect("log");
        Command::new(env!("CARGO_BIN_EXE_backchannel"))
            .arg("worker")
            .envs(self.vars())
            .env_remove("BACKCHANNEL_CONFIG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn worker")
    }

    /// Starts another `backchannel worker` of this test's consumer group: metrics on a port of
    /// its own choosing (so several can run at once), its stderr appended to a log per `tag` (a
    /// respawned worker's log follows its predecessor's). Killed when the guard drops.
    pub fn spawn_member(&self, tag: &str) -> Guard {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(std::env::temp_dir().join(format!("{}.{tag}.worker.log", self.name)))
            .expect("log");
        Guard(
            Command::new(env!("CARGO_BIN_EXE_backchannel"))
                .arg("worker")
                .envs(self.vars())
                .env("BACKCHANNEL__METRICS__LISTEN", "127.0.0.1:0")
                .env_remove("BACKCHANNEL_CONFIG")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn worker"),
        )
    }

    /// Produces synthetic mentions `start..start+n` of `seed` with the project's producer.
    pub async fn produce_synthetic(&self, seed: u64, start: u64, n: u64) {
        let config = pipeline::config::Config::load(None, self.vars()).expect("config");
        let opts = pipeline::collect::CollectOptions {
            seed,
            start,
            limit: Some(n),
            rate: 0,
            sink: pipeline::collect::Sink::Kafka,
            live_times: false,
        };
        let sent = pipeline::collect::synthetic(&config, &opts)
            .await
            .expect("produce");
        assert_eq!(sent, n);
        let source = Synthetic::new(SyntheticConfig {
            seed,
            ..Default::default()
        });
        let minute = |i: u64| pipeline::aggregate::minute_of(source.mention(i).created_at);
        let (first, last) = (minute(start), minute(start + n.max(1) - 1));
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        let mut m = first;
        while m <= last {
            minutes.insert(m);
            m += chrono::Duration::minutes(1);
        }
    }

    /// Rows in `table` (a full scan: tests only). Retries a few times, since a loaded
    /// single-node Cassandra may drop a long scan.
    pub async fn count(&self, table: &str) -> i64 {
        let q = format!("SELECT COUNT(*) FROM {}.{table}", self.keyspace);
        let mut last = String::new();
        for _ in 0..5 {
            match self.session.query_unpaged(q.as_str(), &[]).await {
                Ok(r) => {
                    return r
                        .into_rows_result()
                        .expect("rows")
                        .single_row::<(i64,)>()
                        .expect("count row")
                        .0;
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!("counting {table} failed five times: {last}");
    }

    /// Every stored mention id (a full scan, paged).
    pub async fn stored_ids(&self) -> Vec<String> {
        use futures_util::StreamExt;
        let q = format!("SELECT id FROM {}.mentions", self.keyspace);
        let mut rows = self
            .session
            .query_iter(q, &[])
            .await
            .expect("scan")
            .rows_stream::<(String,)>()
            .expect("typed");
        let mut out = Vec::new();
        while let Some(r) = rows.next().await {
            out.push(r.expect("row").0);
        }
        out
    }

    /// Mentions stored so far, counted on the slim per-topic rows of `source:synthetic` (one
    /// small partition per minute) rather than by scanning the wide `mentions` table, which
    /// would load a single-node test Cassandra far more than the worker does.
    pub async fn stored(&self) -> i64 {
        let minutes: Vec<DateTime<Utc>> = self
            .minutes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        let mut total = 0;
        for m in minutes {
            let mut tries = 0;
            loop {
                let counted = crate::common::count_topic_rows(
                    &self.session,
                    &self.keyspace,
                    "source:synthetic",
                    m,
                )
                .await;
                match counted {
                    Ok(n) => {
                        total += n;
                        break;
                    }
                    Err(e) if tries < 4 => {
                        tries += 1;
                        eprintln!("count retry: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Err(e) => panic!("counting stored mentions: {e}"),
                }
            }
        }
        total
    }

    /// Waits until `n` mentions are stored, failing after `limit`.
    pub async fn wait_stored(&self, n: i64, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let c = self.stored().await;
            if c >= n {
                assert_eq!(c, n, "more rows than mentions");
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {c} of {n} stored after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Waits until at least `n` mentions are stored.
    pub async fn wait_at_least(&self, n: i64, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.stored().await < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "fewer than {n} stored after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until every stored mention is rolled up: no minute dirty, for 3 s on end. A batch's
    /// marks are written just after its rows, so the rows can all be counted a moment before
    /// their marks exist; a mark then stays at least the rollup's quiet second, so a stretch of
    /// polls that all find none means none is still coming.
    pub async fn wait_rollups(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut clean_since = None;
        loop {
            let now = tokio::time::Instant::now();
            if self.count("dirty_marks").await > 0 {
                clean_since = None;
            } else if now - *clean_since.get_or_insert(now) >= Duration::from_secs(3) {
                return;
            }
            assert!(now < deadline, "rollups did not finish within {limit:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The aggregates as stored: (topic, minute) -> (mentions, sentiment_sum, pos, neu, neg, hashtags).
    pub async fn stored_stats(&self) -> HashMap<(String, DateTime<Utc>), Aggregate> {
        use futures_util::StreamExt;
        let q = format!(
            "SELECT topic, minute, mentions, sentiment_sum, positive, neutral, negative, hashtags FROM {}.topic_minute_stats",
            self.keyspace
        );
        type Row = (
            String,
            DateTime<Utc>,
            i64,
            f64,
            i64,
            i64,
            i64,
            Option<HashMap<String, i64>>,
        );
        let mut rows = self
            .session
            .query_iter(q, &[])
            .await
            .expect("scan")
            .rows_stream::<Row>()
            .expect("typed");
        let mut out = HashMap::new();
        while let Some(r) = rows.next().await {
            let (topic, minute, mentions, sentiment_sum, positive, neutral, negative, hashtags) =
                r.expect("row");
            out.insert(
                (topic, minute),
                Aggregate {
                    mentions,
                    sentiment_sum,
                    positive,
                    neutral,
                    negative,
                    hashtags: hashtags.unwrap_or_default(),
                },
            );
        }
        out
    }

    /// Scrapes the worker's /metrics.
    pub fn metrics(&self) -> String {
        crate::harness::http_get(self.metrics_port, "/metrics").unwrap_or_default()
    }

    /// Stops `worker` with SIGTERM, requires a graceful exit, then drops this test's keyspace
    /// and topics.
    pub async fn finish(self, mut worker: Guard) {
        signal(worker.id(), "TERM");
        let status = worker.wait().expect("worker exits");
        assert!(status.success(), "graceful stop on SIGTERM: {status:?}");
        self.drop_all().await;
    }

    /// Drops this test's keyspace and topics. Called at the end of a test that passed, so what
    /// cannot be dropped is not the test's failure: it is said, and `cleanrun --leftovers`
    /// (run by `deploy/dev/test` before the tests) drops it before the next run.
    pub async fn drop_all(self) {
        if let Err(e) = self
            .session
            .query_unpaged(format!("DROP KEYSPACE IF EXISTS {}", self.keyspace), &[])
            .await
        {
            eprintln!("left behind: keyspace {}: {e}", self.keyspace);
        }
        if let Err(e) =
            crate::common::delete_topics(&[&self.raw, &self.enriched, &self.dlq, &self.alerts])
                .await
        {
            eprintln!("left behind: {e}");
        }
    }
}

/// A child process that is killed when dropped.
#[derive(Debug)]
pub struct Guard(pub Child);

impl Guard {
    pub fn id(&self) -> u32 {
        self.0.id()
    }
    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.wait()
    }
    pub fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.0.try_wait()
    }
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A minimal HTTP/1.0 GET (tests only; avoids an HTTP client dependency).
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(
        body.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or(body),
    )
}

/// The value of a counter or gauge (summing label sets that contain `labels`).
pub fn metric(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name) && l[name.len()..].starts_with([' ', '{']) && l.contains(labels)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Aggregates by (topic, minute).
pub type Aggregates = HashMap<(String, DateTime<Utc>), Aggregate>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregate {
    pub mentions: i64,
    pub sentiment_sum: f64,
    pub positive: i64,
    pub neutral: i64,
    pub negative: i64,
    pub hashtags: HashMap<String, i64>,
}

/// Ground truth for synthetic mentions `0..n` of `seed`, computed here from the generator and
/// the transforms, independently of the worker's aggregation code.
pub fn ground_truth(seed: u64, n: u64) -> (HashSet<String>, Aggregates) {
    let source = Synthetic::new(SyntheticConfig {
        seed,
        ..Default::default()
    });
    let mut ids = HashSet::new();
    let mut truth: HashMap<(String, DateTime<Utc>), Aggregate> = HashMap::new();
    let mut record = transforms::Record::new();
    for i in 0..n {
        let m: Mention = source.mention(i);
        transforms::enrich_into(&m, &mut record);
        let sentiment = match record.by_name("sentiment_compound") {
            Some(transforms::Value::Float(x)) => *x,
            _ => 0.0,
        };
        let hashtags: Vec<String> = match record.by_name("hashtags") {
            Some(transforms::Value::StrList(v)) => v.iter().map(|h| h.to_lowercase()).collect(),
            _ => Vec::new(),
        };
        let mut distinct: Vec<String> = Vec::new();
        for h in &hashtags {
            if !distinct.contains(h) {
                distinct.push(h.clone());
            }
        }
        let mut topics = vec![format!("source:{}", m.source.as_str())];
        for h in &distinct {
            if topics.len() < 8 && !topics.contains(&format!("hashtag:{h}")) {
                topics.push(format!("hashtag:{h}"));
            }
        }
        let minute = m
            .created_at
            .duration_trunc(chrono::Duration::minutes(1))
            .expect("minute");
        for t in topics {
            let a = truth.entry((t, minute)).or_default();
            a.mentions += 1;
            a.sentiment_sum += sentiment;
            if sentiment >= 0.05 {
                a.positive += 1;
            } else if sentiment <= -0.05 {
                a.negative += 1;
            } else {
                a.neutral += 1;
            }
            for h in &distinct {
                *a.hashtags.entry(h.clone()).or_default() += 1;
            }
        }
        ids.insert(m.id);
    }
    (ids, truth)
}

/// Asserts the stored aggregates equal the truth: every topic-minute, exact counts, sums within
/// float re-association error, and the stored top hashtags exact and truly the most frequent.
pub fn assert_aggregates(
    stored: &HashMap<(String, DateTime<Utc>), Aggregate>,
    truth: &HashMap<(String, DateTime<Utc>), Aggregate>,
) {
    let missing: Vec<_> = truth
        .keys()
        .filter(|k| !stored.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{} topic-minutes missing, e.g. {missing:?}",
        truth.len() - stored.len().min(truth.len())
    );
    assert_eq!(stored.len(), truth.len(), "no extra topic-minutes");
    for (key, t) in truth {
        let s = &stored[key];
        assert_eq!(
            (s.mentions, s.positive, s.neutral, s.negative),
            (t.mentions, t.positive, t.neutral, t.negative),
            "counts of {key:?}"
        );
        assert!(
            (s.sentiment_sum - t.sentiment_sum).abs() < 1e-6 * t.mentions.max(1) as f64,
            "sentiment sum of {key:?}"
        );
        let mut counts: Vec<i64> = t.hashtags.values().copied().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let threshold = counts.get(19).copied().unwrap_or(0);
        for (h, c) in &s.hashtags {
            assert_eq!(t.hashtags.get(h), Some(c), "hashtag {h} of {key:?}");
        }
        for (h, c) in &t.hashtags {
            if *c > threshold {
                assert!(
                    s.hashtags.contains_key(h),
                    "top hashtag {h} ({c}) missing from {key:?}"
                );
            }
        }
        assert_eq!(
            s.hashtags.len(),
            t.hashtags.len().min(20),
            "hashtag list length of {key:?}"
        );
    }
}

/// Per-source counts of a key list, for messages.
pub fn histogram<'a>(items: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut h = BTreeMap::new();
    for i in items {
        *h.entry(i).or_default() += 1;
    }
    h
}

/// Resident memory of a process in KiB (Linux).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Sends a signal to a process.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// Every message of `topic` from the beginning, printed by kcat (Debian's, a client we did not
/// write) in kcat's `-f` format.
pub fn kcat(topic: &str, format: &str) -> Vec<u8> {
    let out = Command::new("kcat")
        .args([
            "-C",
            "-b",
            crate::common::KAFKA,
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
        ])
        .args(["-f", format])
        .output()
        .expect("kcat runs (installed by deploy/dev/services)");
    assert!(
        out.status.success(),
        "kcat failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Key and headers of every record of the enriched topic.
pub fn kcat_enriched(topic: &str) -> Vec<(String, String)> {
    String::from_utf8_lossy(&kcat(topic, "%k\t%h\n"))
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, h)| (k.to_owned(), h.to_owned()))
        .collect()
}
