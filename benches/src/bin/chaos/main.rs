//! Chaos run on the local services (not run in CI): N synthetic mentions through three release
//! `backchannel worker` processes while faults strike at random — a worker killed with SIGKILL
//! every few seconds (and respawned), and once each, at a random point of the run, Cassandra
//! stopped for 30 s, Kafka stopped for 20 s and Redis hung with SIGSTOP for 30 s. Then it counts
//! what a user would care about and prints it:
//!
//! ```text
//! cargo run --release -p benches --bin chaos -- [N (default 1000000)] [--seed S] [--keep]
//! ```
//!
//! lost (ids never stored), duplicated (rows beyond one per id), aggregate mismatches (stored
//! per-minute counts against a recount made here from the generator and the transforms), ids
//! missing from the enriched topic, the largest worker RSS and the time to drain.
//!
//! The services must be up (`deploy/dev/services up`); every stopped or hung service is brought
//! back when the run ends, fails or is interrupted with Ctrl-C. Everything is seeded: the seed is
//! printed, and `--seed` replays the schedule (the timing of the machine still varies).
mod check;
mod faults;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng, rngs::SmallRng};
use rdkafka::ClientConfig;
use rdkafka::consumer::BaseConsumer;

use check::{Offsets, enriched_keys, ground_truth, stored_ids, stored_stats, wait_rollups};
use faults::{Fault, Outage, peak_rss_kib};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub const KAFKA: &str = "127.0.0.1:9092";
const CQL: &str = "127.0.0.1:9042";
const WORKERS: usize = 3;
/// The synthetic generator's seed (the mentions; the fault schedule has its own).
pub const DATA_SEED: u64 = 31;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut n = 1_000_000u64;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let mut keep = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seed" => seed = args.next().ok_or("--seed needs a value")?.parse()?,
            "--keep" => keep = true,
            _ => n = a.replace('_', "").parse()?,
        }
    }
    // Dropping the run (Ctrl-C) drops its guards, which bring the services back.
    tokio::select! {
        r = run(n, seed, keep) => r,
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
    }
}

async fn run(n: u64, seed: u64, keep: bool) -> Result<(), Error> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "pipeline",
            "--bin",
            "backchannel",
        ])
        .current_dir(&root)
        .status()?;
    if !build.success() {
        return Err("building the release worker failed".into());
    }
    let run = Run::new(&root, n)?;
    println!("chaos: {n} mentions, {WORKERS} workers, seed {seed} (--seed {seed} replays it)");
    let truth = tokio::task::spawn_blocking(move || ground_truth(n));
    run.backchannel(&["schema", "apply"])?;
    let t = Instant::now();
    run.backchannel(&[
        "collect",
        "--fixed-times",
        "--seed",
        &DATA_SEED.to_string(),
        "--limit",
        &n.to_string(),
    ])?;
    println!("produced {n} in {:.1?}", t.elapsed());

    let mut rng = SmallRng::seed_from_u64(seed);
    let mut workers: Vec<Child> = (0..WORKERS)
        .map(|i| run.worker(i))
        .collect::<Result<_, _>>()?;
    let offsets = run.offsets_reader()?;
    // Each service fault once, at a random point of the drain (as a share of the backlog).
    let mut faults: Vec<(f64, Fault)> = [Fault::Cassandra, Fault::Kafka, Fault::Redis]
        .into_iter()
        .map(|f| (rng.random_range(0.1..0.8), f))
        .collect();
    faults.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut kills, mut exits, mut max_rss_kib, mut done) = (0u32, 0u32, 0u64, 0.0);
    let mut active: Option<(Outage, Instant, Duration)> = None;
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(rng.random_range(3_000..8_000))).await;
        for (i, w) in workers.iter_mut().enumerate() {
            max_rss_kib = max_rss_kib.max(peak_rss_kib(w.id()).unwrap_or(0));
            if let Some(status) = w.try_wait()? {
                println!("worker {i} exited by itself ({status}); respawning it");
                exits += 1;
                *w = run.worker(i)?;
            }
        }
        if let Some((outage, since, len)) = active.take() {
            if since.elapsed() >= len {
                outage.end()?;
            } else {
                active = Some((outage, since, len));
            }
        }
        if active.is_none() {
            if let Some(committed) = offsets.remaining() {
                done = 1.0 - committed as f64 / n as f64;
                if committed == 0 {
                    break;
                }
            }
            if let Some(&(at, fault)) = faults.first()
                && done >= at
            {
                faults.remove(0);
                println!(
                    "{:>6.1?}: {fault:?} outage at {:.0}% drained",
                    started.elapsed(),
                    done * 100.0
                );
                active = Some((Outage::start(&run, fault)?, Instant::now(), fault.length()));
            }
        }
        let i = rng.random_range(0..WORKERS);
        let _ = workers[i].kill();
        let _ = workers[i].wait();
        workers[i] = run.worker(i)?;
        kills += 1;
    }
    let drained = started.elapsed();
    for w in &mut workers {
        max_rss_kib = max_rss_kib.max(peak_rss_kib(w.id()).unwrap_or(0));
    }
    println!("drained in {drained:.1?} with {kills} kills; checking…");
    if !faults.is_empty() {
        let left: Vec<Fault> = faults.iter().map(|f| f.1).collect();
        println!("not reached (drained first; use a larger N): {left:?}");
    }

    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(CQL)
        .build()
        .await?;
    wait_rollups(&session, &run.keyspace).await?;
    let (ids, truth) = truth.await?;
    let rows = stored_ids(&session, &run.keyspace).await?;
    let distinct: HashSet<&str> = rows.iter().map(String::as_str).collect();
    let lost = ids
        .iter()
        .filter(|id| !distinct.contains(id.as_str()))
        .count();
    let duplicated = rows.len() - distinct.len();
    let stats = stored_stats(&session, &run.keyspace).await?;
    let mismatches = truth
        .iter()
        .filter(|(k, t)| stats.get(*k).is_none_or(|s| !s.matches(t)))
        .count()
        + stats.keys().filter(|k| !truth.contains_key(*k)).count();
    let keys = enriched_keys(&run.enriched)?;
    let unpublished = ids.iter().filter(|id| !keys.contains(id.as_str())).count();
    for mut w in workers {
        let _ = w.kill();
        let _ = w.wait();
    }
    println!("workers that exited by themselves: {exits}");
    println!("lost: {lost}");
    println!("duplicated: {duplicated}");
    println!(
        "aggregate mismatches: {mismatches} of {} topic-minutes",
        truth.len()
    );
    println!("missing from the enriched topic: {unpublished}");
    println!("max worker RSS: {:.1} MiB", max_rss_kib as f64 / 1024.0);
    println!(
        "time to drain: {drained:.1?} ({:.0} mentions/s)",
        n as f64 / drained.as_secs_f64()
    );
    if !keep {
        run.clean().await;
    }
    if lost + duplicated + mismatches + unpublished > 0 {
        return Err("the run lost, duplicated or miscounted mentions".into());
    }
    Ok(())
}

/// The names of one run and how to start its processes.
struct Run {
    root: PathBuf,
    bin: PathBuf,
    name: String,
    keyspace: String,
    enriched: String,
    env: Vec<(String, String)>,
}

impl Run {
    fn new(root: &Path, n: u64) -> Result<Run, Error> {
        let name = format!("chaos_{}_{n}", std::process::id());
        let env: Vec<(String, String)> = [
            ("PIPELINE__MODE", "distributed".to_owned()),
            ("KAFKA__BROKERS", KAFKA.to_owned()),
            ("KAFKA__RAW_TOPIC", format!("{name}.raw")),
            ("KAFKA__ENRICHED_TOPIC", format!("{name}.enriched")),
            ("KAFKA__DLQ_TOPIC", format!("{name}.dlq")),
            ("KAFKA__GROUP_ID", format!("{name}.workers")),
            ("SCYLLA__KEYSPACE", name.clone()),
            ("METRICS__LISTEN", "127.0.0.1:0".to_owned()),
            ("API__LISTEN", "127.0.0.1:0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("BACKCHANNEL__{k}"), v))
        .chain([("BACKCHANNEL_LOG".to_owned(), "warn".to_owned())])
        .collect();
        Ok(Run {
            bin: root.join("target/release/backchannel"),
            root: root.to_owned(),
            keyspace: name.clone(),
            enriched: format!("{name}.enriched"),
            name,
            env,
        })
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.envs(self.env.iter().cloned())
            .env_remove("BACKCHANNEL_CONFIG");
        c
    }

    fn backchannel(&self, args: &[&str]) -> Result<(), Error> {
        let out = self.command().args(args).stdout(Stdio::null()).output()?;
        if !out.status.success() {
            return Err(format!(
                "backchannel {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(())
    }

    /// Starts worker `i`; its log is appended to `/tmp/<run>.w<i>.log`.
    fn worker(&self, i: usize) -> Result<Child, Error> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(std::env::temp_dir().join(format!("{}.w{i}.log", self.name)))?;
        Ok(self
            .command()
            .arg("worker")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?)
    }

    fn offsets_reader(&self) -> Result<Offsets, Error> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", KAFKA)
            .set("group.id", format!("{}.workers", self.name))
            .set("enable.auto.commit", "false")
            .create()?;
        Ok(Offsets {
            consumer,
            topic: format!("{}.raw", self.name),
        })
    }

    /// Drops the run's keyspace and topics.
    async fn clean(&self) {
        let config = pipeline::config::Config::load(None, std::env::vars()).expect("configuration");
        match benches::services::drop_runs(&config, &[&self.name]).await {
            Ok(d) if d.failures.is_empty() => {}
            Ok(d) => eprintln!("could not drop all of {}: {:?}", self.name, d.failures),
            Err(e) => eprintln!("could not drop {}: {e}", self.name),
        }
    }
}
