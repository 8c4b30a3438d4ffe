//! Outage proofs of `backchannel worker` on the real stack (issue 12, reliability): Kafka stopped
//! while the worker idles and while it is busy, a Redis that hangs (SIGSTOP: no RST, just
//! silence), and three workers killed at random with Cassandra stopped once in the middle. The
//! worker is the real binary; nothing may be lost, nothing stored twice, and no worker may need a
//! restart it was not given.
//!
//! These tests stop services that other tests share. Outages are kept as short as the proof
//! needs, and a guard brings every stopped or hung service back when it drops — also when a test
//! fails. They run one at a time.

mod common;
mod harness;

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{CQL, KAFKA, REDIS, service_up};
use harness::{Env, Guard, assert_aggregates, ground_truth, kcat_enriched, metric, signal};
use rand::{Rng, SeedableRng};

const LAG_MEASURED: &str = "backchannel_kafka_consumer_lag_measured_timestamp_seconds";
const PLAN_MARKED: &str = "backchannel_scylla_plan_marked_timestamp_seconds";

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn services() -> bool {
    service_up("Kafka", KAFKA) && service_up("Cassandra", CQL) && service_up("Redis", REDIS)
}

/// The script that started the services; it stops and starts them here too.
const SERVICES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/dev/services");

fn services_cmd(action: &str, name: &str) -> bool {
    Command::new("bash")
        .args([SERVICES, action, name])
        .status()
        .is_ok_and(|s| s.success())
}

/// A service this test stopped: started again by [`Stopped::restart`] or, failing that, on drop.
struct Stopped {
    name: &'static str,
    down: bool,
}

impl Stopped {
    fn stop(name: &'static str) -> Stopped {
        let stopped = Stopped { name, down: true };
        assert!(
            services_cmd("down", name),
            "deploy/dev/services down {name}"
        );
        stopped
    }

    fn restart(mut self) {
        assert!(
            services_cmd("up", self.name),
            "deploy/dev/services up {}",
            self.name
        );
        self.down = false;
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if self.down {
            eprintln!("restarting {} after a failure", self.name);
            let _ = services_cmd("up", self.name);
        }
    }
}

/// A process hung with SIGSTOP: continued by [`Hung::resume`] or on drop.
struct Hung(Option<u32>);

impl Hung {
    fn stop(pid: u32) -> Hung {
        let hung = Hung(Some(pid));
        signal(pid, "STOP");
        hung
    }

    fn resume(mut self) {
        if let Some(pid) = self.0.take() {
            signal(pid, "CONT");
        }
    }
}

impl Drop for Hung {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
        }
    }
}

/// The pid of the shared redis-server, from the services' pidfile (checked to be redis).
fn redis_pid() -> u32 {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../.services/run/redis.pid");
    let pid: u32 = std::fs::read_to_string(file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("redis pidfile of deploy/dev/services");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&cmdline).contains("redis-server"),
        "pid {pid} is redis-server"
    );
    pid
}

fn assert_alive(worker: &mut Guard, when: &str) {
    assert_eq!(
        worker.try_wait().expect("status"),
        None,
        "the worker exited {when}; see its log under {}",
        std::env::temp_dir().display()
    );
}

/// A fresh session (the old one may have lost its connections while Cassandra was down).
async fn reconnect() -> scylla::client::session::Session {
    scylla::client::session_builder::SessionBuilder::new()
        .known_node(CQL)
        .build()
        .await
        .expect("reconnect to CQL")
}

/// Mentions `0..n` of `seed` are all stored exactly once, the aggregates are exact and every id
/// is on the enriched topic (at least once: redelivery may publish twice, never lose).
async fn assert_complete(env: &Env, seed: u64, n: u64) {
    env.wait_rollups(Duration::from_secs(180)).await;
    let (ids, truth) = ground_truth(seed, n);
    let rows = env.stored_ids().await;
    let distinct: HashSet<String> = rows.iter().cloned().collect();
    assert_eq!(
        (rows.len() as u64, distinct.len() as u64),
        (n, n),
        "rows and distinct ids"
    );
    assert_eq!(distinct, ids, "every id stored, nothing else");
    assert_aggregates(&env.stored_stats().await, &truth);
    let keys: HashSet<String> = kcat_enriched(&env.enriched)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let missing = ids.difference(&keys).count();
    assert_eq!(missing, 0, "ids missing from the enriched topic");
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_kafka_stopped_20s_while_idle_and_while_busy_worker_resumes_nothing_lost() {
    let _serial = SERIAL.lock().await;
    if !services() {
        return;
    }
    const OUTAGE: Duration = Duration::from_secs(20);
    let env = Env::new("kafkadown").await;
    let mut worker = env.spawn_worker();
    let spawned = Instant::now();
    let warm = 1_000u64;
    env.produce_synthetic(21, 0, warm).await;
    env.wait_stored(warm as i64, Duration::from_secs(300)).await;

    // Idle: nothing left to consume when Kafka goes.
    let lag_age = || {
        let at = metric(&env.metrics(), LAG_MEASURED, "");
        chrono::Utc::now().timestamp() as f64 - at
    };
    let measured = || async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while lag_age() >= 12.0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        lag_age() < 12.0
    };
    assert!(measured().await, "the lag is measured every 5 s");
    let kafka = Stopped::stop("kafka");
    tokio::time::sleep(OUTAGE).await;
    assert_alive(&mut worker, "while Kafka was down (idle)");
    let stale = lag_age();
    assert!(
        stale >= 15.0,
        "the brokers did not answer, so the lag was not measured for the outage ({stale} s)"
    );
    kafka.restart();
    let second = 1_000u64;
    env.produce_synthetic(21, warm, second).await;
    env.wait_stored((warm + second) as i64, Duration::from_secs(300))
        .await;
    assert_alive(&mut worker, "after the idle outage");
    assert!(measured().await, "measured again once Kafka is back");

    // Busy: a backlog being worked through when Kafka goes.
    let busy = env_u64("BACKCHANNEL_OUTAGE_MENTIONS", 30_000);
    let n = warm + second + busy;
    env.produce_synthetic(21, warm + second, busy).await;
    env.wait_at_least((warm + second + busy / 10) as i64, Duration::from_secs(300))
        .await;
    let kafka = Stopped::stop("kafka");
    let at_stop = env.stored().await;
    let down = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    assert_alive(&mut worker, "while Kafka was down (busy)");
    kafka.restart();
    let back = env.stored().await;
    let restarted = Instant::now();
    env.wait_stored(n as i64, Duration::from_secs(600)).await;
    eprintln!(
        "busy outage: {at_stop} of {n} stored when Kafka was down, {back} after {:.0?} down, \
         all {n} stored {:.1?} after it was back",
        down.elapsed() - restarted.elapsed(),
        restarted.elapsed()
    );
    assert!(
        (at_stop as u64) < n,
        "Kafka must go while the worker is busy: all {n} were stored before it went \
         (raise BACKCHANNEL_OUTAGE_MENTIONS)"
    );
    assert_alive(&mut worker, "after the busy outage");
    assert_complete(&env, 21, n).await;
    assert!(
        metric(&env.metrics(), "backchannel_pipeline_retries_total", "") > 0.0,
        "the outage was seen and waited out"
    );
    // Caught up, with Kafka answering that nothing waits, and watching for over a minute: the
    // worker marks the minutes it plans.
    let watched = Duration::from_secs(65);
    if spawned.elapsed() < watched {
        tokio::time::sleep(watched - spawned.elapsed()).await;
    }
    let marks = format!(
        "SELECT minute FROM {}.topic_widths WHERE topic = '' ALLOW FILTERING",
        env.keyspace
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut marked = 0;
    while marked == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
        marked = env
            .session
            .query_unpaged(marks.as_str(), ())
            .await
            .expect("read marks")
            .into_rows_result()
            .expect("rows")
            .rows_num();
    }
    assert!(marked > 0, "a live worker marks the minutes it plans");
    // And says so: the gauge names a minute ahead (a mark is made 30 s or more before its
    // minute), not the time the worker started, over a minute ago.
    let ahead = || metric(&env.metrics(), PLAN_MARKED, "") - chrono::Utc::now().timestamp() as f64;
    let deadline = Instant::now() + Duration::from_secs(10);
    while ahead() <= 0.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        ahead() > 0.0,
        "the latest marked minute is {} s from now",
        ahead()
    );
    env.finish(worker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_redis_hung_by_sigstop_for_30s_throughput_holds_nothing_lost() {
    let _serial = SERIAL.lock().await;
    if !services() {
        return;
    }
    // A steady rate the worker keeps up with on a loaded 2-core machine, so a stall shows as a
    // drop in what is stored per second; two equal 30 s windows, before and during the hang.
    // (`rate` is asked for; producing takes time of its own, so the figures give what was sent.)
    let rate = env_u64("BACKCHANNEL_OUTAGE_RATE", 300);
    const WINDOW: Duration = Duration::from_secs(30);
    const TICK: Duration = Duration::from_millis(500);
    let env = Env::new("redishang").await;
    let mut worker = env.spawn_worker();
    let written = || {
        metric(
            &env.metrics(),
            "backchannel_store_written_mentions_total",
            "",
        )
    };
    let mut produced = 0u64;
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let chunk = (rate / 2).max(1);
    // Produces at `rate` until `until`.
    macro_rules! flow_until {
        ($until:expr) => {
            while Instant::now() < $until {
                ticks.tick().await;
                env.produce_synthetic(22, produced, chunk).await;
                produced += chunk;
            }
        };
    }
    let start = Instant::now();
    flow_until!(start + Duration::from_secs(10)); // warm-up: connections, first batches
    let (t0, s0, p0) = (Instant::now(), written(), produced);
    flow_until!(t0 + WINDOW);
    let (t1, s1, p1) = (Instant::now(), written(), produced);
    let errors_before = metric(&env.metrics(), "backchannel_cache_errors_total", "");
    let hung = Hung::stop(redis_pid());
    flow_until!(t1 + WINDOW);
    let (t2, s2, p2) = (Instant::now(), written(), produced);
    assert_alive(&mut worker, "while Redis was hung");
    hung.resume();
    let errors = metric(&env.metrics(), "backchannel_cache_errors_total", "") - errors_before;
    flow_until!(t2 + Duration::from_secs(5));
    env.wait_stored(produced as i64, Duration::from_secs(300))
        .await;

    let before = (s1 - s0) / (t1 - t0).as_secs_f64();
    let during = (s2 - s1) / (t2 - t1).as_secs_f64();
    let offered = |p: u64, q: u64, t: Duration| (q - p) as f64 / t.as_secs_f64();
    let figures = format!(
        "30 s before the hang: produced {:.0}/s, stored {before:.0}/s; 30 s hung: produced \
         {:.0}/s, stored {during:.0}/s; {errors} cache errors during the hang",
        offered(p0, p1, t1 - t0),
        offered(p1, p2, t2 - t1),
    );
    eprintln!("{figures}");
    assert!(
        during >= 0.8 * before,
        "throughput fell by more than 20%: {figures}"
    );
    assert!(errors > 0.0, "the hang was noticed: {figures}");
    assert_alive(&mut worker, "after the hang");
    assert_complete(&env, 22, produced).await;
    env.finish(worker).await;
}

/// Kills a random worker without warning and starts another in its place; every worker must
/// still be running (none may have exited by itself).
fn kill_one(env: &Env, workers: &mut [Guard], rng: &mut rand::rngs::SmallRng, seed: u64) {
    for (i, w) in workers.iter_mut().enumerate() {
        assert_alive(w, &format!("by itself (worker {i}, seed {seed})"));
    }
    let i = rng.random_range(0..workers.len());
    signal(workers[i].id(), "KILL");
    let _ = workers[i].wait();
    workers[i] = env.spawn_member(&format!("w{i}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_three_workers_killed_at_random_and_cassandra_stopped_once_lose_nothing() {
    let _serial = SERIAL.lock().await;
    if !services() {
        return;
    }
    let n = env_u64("BACKCHANNEL_CHAOS_MENTIONS", 20_000);
    let seed = env_u64(
        "BACKCHANNEL_CHAOS_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    eprintln!(
        "chaos seed {seed} (BACKCHANNEL_CHAOS_SEED={seed} replays the schedule), {n} mentions"
    );
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut env = Env::new("chaos").await;
    // The mentions arrive in ten waves, one per round of faults, so the faults always meet a
    // pipeline with work to do however fast this machine drains it.
    let waves = 10;
    let wave = n.div_ceil(waves);
    let mut produced = wave.min(n);
    env.produce_synthetic(23, 0, produced).await;
    let mut workers: Vec<Guard> = (0..3).map(|i| env.spawn_member(&format!("w{i}"))).collect();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(600);
    let mut kills = 0;
    let mut cassandra_stopped = false;
    loop {
        tokio::time::sleep(Duration::from_millis(rng.random_range(4_000..8_000))).await;
        if produced < n {
            let k = wave.min(n - produced);
            env.produce_synthetic(23, produced, k).await;
            produced += k;
        }
        let stored = env.stored().await;
        if produced >= n && stored >= n as i64 && cassandra_stopped {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {stored} of {n} stored after {:?} (seed {seed})",
            started.elapsed()
        );
        kill_one(&env, &mut workers, &mut rng, seed);
        kills += 1;
        if !cassandra_stopped && produced >= n / 3 {
            cassandra_stopped = true;
            let cassandra = Stopped::stop("cassandra");
            let down = Instant::now();
            // The killing goes on: workers respawned now start during the outage.
            loop {
                let pause = Duration::from_millis(rng.random_range(6_000..12_000));
                let left = Duration::from_secs(30).saturating_sub(down.elapsed());
                if pause >= left {
                    tokio::time::sleep(left).await;
                    break;
                }
                tokio::time::sleep(pause).await;
                kill_one(&env, &mut workers, &mut rng, seed);
                kills += 1;
            }
            cassandra.restart();
            env.session = reconnect().await;
            eprintln!("cassandra back after {:.0?}", down.elapsed());
        }
    }
    env.wait_stored(n as i64, Duration::from_secs(60)).await;
    eprintln!(
        "{n} stored in {:.1?} with {kills} kills (seed {seed})",
        started.elapsed()
    );
    assert!(
        cassandra_stopped,
        "the run ended before Cassandra was stopped"
    );
    for (i, w) in workers.iter_mut().enumerate() {
        assert_alive(w, &format!("by itself (worker {i}, seed {seed})"));
    }
    assert_complete(&env, 23, n).await;
    let last = workers.pop().expect("a worker");
    for mut w in workers {
        signal(w.id(), "TERM");
        assert!(w.wait().expect("exits").success(), "graceful stop");
    }
    env.finish(last).await;
}
