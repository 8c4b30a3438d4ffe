//! Every metric the pipeline emits, named in one place.
//!
//! Names follow `backchannel_<component>_<name>_<unit>[_total]`. Labels are low-cardinality by
//! construction: a stage, a reason code, a source, a Kafka partition number — never an id, an
//! author, a keyword or anything a tenant typed. Hot paths emit per batch through handles
//! registered once ([`Handles`], on first use). Every command installs the recorder
//! ([`install`]) before its pipeline emits anything; a handle taken before that would stay a
//! no-op, which is also what a process without `metrics.listen` wants.

use std::sync::{LazyLock, OnceLock};

use metrics::{
    Counter, Gauge, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram,
    gauge, histogram,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const RECEIVED: &str = "backchannel_pipeline_received_mentions_total";
pub const PROCESSED: &str = "backchannel_pipeline_processed_mentions_total";
/// CPU time of each of the CPU workers' batches (decoding, transforms, encoding), unlike
/// [`STAGE_DURATION`]'s wall time, which also counts the time a busy machine takes the core away.
/// A histogram for its float `_sum` in seconds (a counter holds whole numbers only).
pub const PROCESS_CPU: &str = "backchannel_pipeline_process_cpu_seconds";
pub const STORED: &str = "backchannel_store_written_mentions_total";
pub const PUBLISHED: &str = "backchannel_publish_enriched_mentions_total";
pub const DEAD_LETTERS: &str = "backchannel_pipeline_dead_letters_total";
/// Mentions dated after they were collected, dated as collected instead.
pub const DATED_AHEAD: &str = "backchannel_pipeline_dated_ahead_mentions_total";
pub const BATCH_SIZE: &str = "backchannel_pipeline_batch_size_mentions";
pub const STAGE_DURATION: &str = "backchannel_pipeline_stage_duration_seconds";
pub const STORE_WRITE_DURATION: &str = "backchannel_store_write_duration_seconds";
pub const STORE_ERRORS: &str = "backchannel_store_errors_total";
pub const STORE_STATEMENTS: &str = "backchannel_store_statements_total";
pub const STORE_BYTES: &str = "backchannel_store_written_bytes_total";
pub const RETRIES: &str = "backchannel_pipeline_retries_total";
pub const REBALANCES: &str = "backchannel_pipeline_rebalances_total";
pub const CACHE_HITS: &str = "backchannel_cache_hits_total";
pub const CACHE_MISSES: &str = "backchannel_cache_misses_total";
pub const CACHE_ERRORS: &str = "backchannel_cache_errors_total";
pub const CACHE_BREAKER_OPEN: &str = "backchannel_cache_breaker_open";
pub const CONSUMER_LAG: &str = "backchannel_kafka_consumer_lag_messages";
/// When the brokers last answered for the lag of every assigned partition.
pub const LAG_MEASURED: &str = "backchannel_kafka_consumer_lag_measured_timestamp_seconds";
/// The latest minute a worker marked planned.
pub const PLAN_MARKED: &str = "backchannel_scylla_plan_marked_timestamp_seconds";
pub const CREATED_TO_STORED: &str = "backchannel_pipeline_created_to_stored_seconds";
pub const COLLECTED_TO_STORED: &str = "backchannel_pipeline_collected_to_stored_seconds";
pub const IN_FLIGHT: &str = "backchannel_pipeline_in_flight_batches";
pub const ROLLUPS: &str = "backchannel_store_rollups_total";
pub const DELETED: &str = "backchannel_store_deleted_mentions_total";
/// Batches that waited for the batch ahead to be stored because both write or delete one id.
pub const ORDERED: &str = "backchannel_store_ordered_batches_total";
pub const EXPIRED: &str = "backchannel_store_expired_mentions_total";
/// Dirty minutes the last rollup pass found due (distributed): the rollup backlog.
pub const ROLLUP_DUE: &str = "backchannel_store_rollup_backlog";
/// Live data in the embedded store, as its retention accounts it.
pub const STORE_LIVE_BYTES: &str = "backchannel_store_live_bytes";
/// The live-data budget the embedded store keeps (its share of `embedded.max_store_bytes`).
pub const STORE_BUDGET_BYTES: &str = "backchannel_store_budget_bytes";
/// Mentions a collector run had acknowledged by Kafka, by source.
pub const COLLECTOR_PRODUCED: &str = "backchannel_collector_produced_mentions_total";
/// Mentions a collector run did not send, by reason.
pub const COLLECTOR_REJECTED: &str = "backchannel_collector_rejected_mentions_total";

/// Client API requests refused before they ran, by reason (`unauthorized`, `rate_limited`,
/// `unknown_keys`).
pub const API_REJECTED: &str = "backchannel_api_rejected_requests_total";
/// Topic-minutes this process marked spilled: more rows than their plan was made for.
pub const MINUTES_SPILLED: &str = "backchannel_store_minutes_spilled_total";
/// Live push: connections that fell behind, by reason (`slow_client`, `cursor_expired`).
pub const PUSH_LAGGED: &str = "backchannel_push_lagged_connections_total";
/// Live push: enriched records the hub could not read (skipped).
pub const PUSH_UNDECODABLE: &str = "backchannel_push_undecodable_records_total";
/// Live push: bytes held by the replay buffer.
pub const PUSH_BUFFER_BYTES: &str = "backchannel_push_replay_buffer_bytes";
/// Serve: bytes held by the minutes counted from the enriched stream (`push::provisional`).
pub const PUSH_PROVISIONAL_BYTES: &str = "backchannel_push_provisional_bytes";
/// Serve: matched mentions not counted into a provisional minute, its budget being full.
pub const PUSH_PROVISIONAL_DROPPED: &str = "backchannel_push_provisional_dropped_total";
/// Live push: stream connections open (SSE and WebSocket).
/// Alert events by kind and state.
pub const ALERTS: &str = "backchannel_alerts_events_total";
/// Alert webhook deliveries by outcome (`delivered`, `undeliverable`).
pub const ALERT_WEBHOOKS: &str = "backchannel_alerts_webhook_deliveries_total";
pub const PUSH_CONNECTIONS: &str = "backchannel_push_connections";
/// Mentions given a near-duplicate cluster, by outcome: `first` (a cluster of their own),
/// `earlier` (folded into an earlier mention's), `unplaced` (the index did not answer).
pub const CLUSTERED: &str = "backchannel_pipeline_clustered_mentions_total";

/// The pipeline stages timed by [`STAGE_DURATION`].
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    Transform,
    DeadLetter,
    Store,
    Publish,
    Cache,
}

impl Stage {
    const ALL: [Stage; 5] = [
        Stage::Transform,
        Stage::DeadLetter,
        Stage::Store,
        Stage::Publish,
        Stage::Cache,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Stage::Transform => "transform",
            Stage::DeadLetter => "dead_letter",
            Stage::Store => "store",
            Stage::Publish => "publish",
            Stage::Cache => "cache",
        }
    }
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the Prometheus recorder once per process and returns its handle (for `/metrics`).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let latency = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                60.0,
            ];
            let sizes = [
                1.0, 8.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets(&latency)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full(BATCH_SIZE.into()),
                        &sizes,
                    )
                })
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Another recorder may already be installed (tests); ours still renders its own.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            // Histogram samples queue up in the recorder until upkeep folds them into buckets;
            // a scrape does that too, but a process nobody scrapes must not grow without bound.
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "metrics upkeep thread not started");
            }
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(
        MINUTES_SPILLED,
        Unit::Count,
        "Topic-minutes of the distributed store this worker spilled: projected above twice the buckets their plan gave them, so their later rows went to spill buckets."
    );
    describe_counter!(
        PUSH_LAGGED,
        Unit::Count,
        "Stream connections sent `lagged`: too slow to keep up live (slow_client) or resuming from a cursor older than the replay buffer (cursor_expired)."
    );
    describe_counter!(
        PUSH_UNDECODABLE,
        Unit::Count,
        "Enriched records the push hub could not read and skipped."
    );
    describe_gauge!(
        PUSH_BUFFER_BYTES,
        Unit::Bytes,
        "Bytes held by the push hub's replay buffer."
    );
    describe_gauge!(
        PUSH_PROVISIONAL_BYTES,
        Unit::Bytes,
        "Bytes held by the series minutes serve counts from the enriched stream until the rollup's exact ones replace them."
    );
    describe_counter!(
        PUSH_PROVISIONAL_DROPPED,
        Unit::Count,
        "Matched mentions serve did not count into a provisional minute because their budget was full (the series shows the stored minute instead)."
    );
    describe_gauge!(PUSH_CONNECTIONS, Unit::Count, "Stream connections open.");
    describe_counter!(
        ALERTS,
        Unit::Count,
        "Alert events (opened, updated, resolved) by kind."
    );
    describe_counter!(
        ALERT_WEBHOOKS,
        Unit::Count,
        "Alert webhook deliveries finished, by outcome."
    );
    describe_counter!(
        API_REJECTED,
        Unit::Count,
        "Client API requests refused before they ran: no valid key (unauthorized) or over the tenant's limits (rate_limited)."
    );
    describe_counter!(RECEIVED, Unit::Count, "Raw messages taken from the queue.");
    describe_counter!(
        CLUSTERED,
        Unit::Count,
        "Mentions placed in a near-duplicate cluster, by outcome (first, earlier, unplaced)."
    );
    describe_counter!(PROCESSED, Unit::Count, "Mentions decoded and enriched.");
    describe_histogram!(
        PROCESS_CPU,
        Unit::Seconds,
        "CPU time of processing one batch (decoding, transforms, encoding); the sum divided by the processed mentions is the CPU a mention costs there."
    );
    describe_counter!(
        STORED,
        Unit::Count,
        "Enriched mentions durably written to the store."
    );
    describe_counter!(
        STORE_STATEMENTS,
        Unit::Count,
        "Write requests sent to ScyllaDB for mentions, per-topic rows and dirty marks (an unlogged batch of one partition's rows counts once)."
    );
    describe_counter!(
        STORE_BYTES,
        Unit::Bytes,
        "Bytes of values bound to those write requests (records, ids, topics, hashtags; approximate)."
    );
    describe_counter!(
        PUBLISHED,
        Unit::Count,
        "Enriched mentions acknowledged by the enriched topic."
    );
    describe_counter!(
        DEAD_LETTERS,
        Unit::Count,
        "Messages sent to the dead-letter topic, by reason."
    );
    describe_counter!(
        DATED_AHEAD,
        Unit::Count,
        "Mentions whose created_at was later than their collected_at (a clock running ahead), stored as created when collected."
    );
    describe_histogram!(BATCH_SIZE, Unit::Count, "Messages per processed batch.");
    describe_histogram!(
        STAGE_DURATION,
        Unit::Seconds,
        "Time a batch spends in each pipeline stage."
    );
    describe_histogram!(
        STORE_WRITE_DURATION,
        Unit::Seconds,
        "Duration of one store batch write."
    );
    describe_counter!(
        STORE_ERRORS,
        Unit::Count,
        "Failed store batch writes (each is retried)."
    );
    describe_counter!(
        RETRIES,
        Unit::Count,
        "Retries of external operations, by operation."
    );
    describe_counter!(
        REBALANCES,
        Unit::Count,
        "Consumer-group rebalances this worker took part in, by kind (assign, revoke)."
    );
    describe_counter!(CACHE_HITS, Unit::Count, "Cache reads that found the key.");
    describe_counter!(
        CACHE_MISSES,
        Unit::Count,
        "Cache reads that did not find the key."
    );
    describe_counter!(
        CACHE_ERRORS,
        Unit::Count,
        "Cache calls that failed or timed out."
    );
    describe_gauge!(
        CACHE_BREAKER_OPEN,
        Unit::Count,
        "1 while the cache circuit breaker is open."
    );
    describe_gauge!(
        CONSUMER_LAG,
        Unit::Count,
        "Messages behind the partition's high watermark."
    );
    describe_gauge!(
        LAG_MEASURED,
        Unit::Seconds,
        "When (seconds since the epoch) the brokers last answered for the lag of every assigned partition: the lag gauges are stale once this falls behind, and while it is over 15 s old the worker marks no minute planned."
    );
    describe_gauge!(
        PLAN_MARKED,
        Unit::Seconds,
        "The latest minute (seconds since the epoch) this worker marked planned for its hot topics, or when it started if it has marked none. Behind the clock, the minutes meanwhile carry the last marked plan: the worker is not keeping up with live traffic, or cannot reach Kafka or the store."
    );
    describe_histogram!(
        CREATED_TO_STORED,
        Unit::Seconds,
        "From a mention's creation to its durable storage."
    );
    describe_histogram!(
        COLLECTED_TO_STORED,
        Unit::Seconds,
        "From a mention's collection to its durable storage."
    );
    describe_gauge!(
        IN_FLIGHT,
        Unit::Count,
        "Batches consumed but not yet committed."
    );
    describe_counter!(
        EXPIRED,
        Unit::Count,
        "Mentions the embedded store deleted for retention (age or size)."
    );
    describe_gauge!(
        ROLLUP_DUE,
        Unit::Count,
        "Dirty minutes the last rollup pass found due: the rollup backlog."
    );
    describe_gauge!(
        STORE_LIVE_BYTES,
        Unit::Bytes,
        "Live data in the embedded store, as retention accounts it."
    );
    describe_gauge!(
        STORE_BUDGET_BYTES,
        Unit::Bytes,
        "Live-data budget of the embedded store (its share of embedded.max_store_bytes)."
    );
    describe_counter!(
        ROLLUPS,
        Unit::Count,
        "Per-minute aggregates recomputed from stored mentions."
    );
    describe_counter!(
        DELETED,
        Unit::Count,
        "Mentions deleted because their source deleted them."
    );
    describe_counter!(
        ORDERED,
        Unit::Count,
        "Batches written after the batch ahead rather than beside it, because both hold one mention id."
    );
    describe_counter!(
        COLLECTOR_PRODUCED,
        Unit::Count,
        "Collected mentions and deletions Kafka acknowledged, by source."
    );
    describe_counter!(
        COLLECTOR_REJECTED,
        Unit::Count,
        "Collected mentions not sent, by reason."
    );
}

/// The handles of every metric without a label (or with a fixed set of labels), registered once.
struct Handles {
    received: Counter,
    batch_size: Histogram,
    processed: Counter,
    stored: Counter,
    published: Counter,
    stages: [Histogram; Stage::ALL.len()],
    store_write: Histogram,
    store_errors: Counter,
    store_statements: Counter,
    store_bytes: Counter,
    cache_hits: Counter,
    cache_misses: Counter,
    cache_breaker: Gauge,
    created_to_stored: Histogram,
    collected_to_stored: Histogram,
    in_flight: Gauge,
    expired: Counter,
    deleted: Counter,
    ordered: Counter,
    rollups: Counter,
}

static HANDLES: LazyLock<Handles> = LazyLock::new(|| Handles {
    received: counter!(RECEIVED),
    batch_size: histogram!(BATCH_SIZE),
    processed: counter!(PROCESSED),
    stored: counter!(STORED),
    published: counter!(PUBLISHED),
    stages: Stage::ALL.map(|s| histogram!(STAGE_DURATION, "stage" => s.as_str())),
    store_write: histogram!(STORE_WRITE_DURATION),
    store_errors: counter!(STORE_ERRORS),
    store_statements: counter!(STORE_STATEMENTS),
    store_bytes: counter!(STORE_BYTES),
    cache_hits: counter!(CACHE_HITS),
    cache_misses: counter!(CACHE_MISSES),
    cache_breaker: gauge!(CACHE_BREAKER_OPEN),
    created_to_stored: histogram!(CREATED_TO_STORED),
    collected_to_stored: histogram!(COLLECTED_TO_STORED),
    in_flight: gauge!(IN_FLIGHT),
    expired: counter!(EXPIRED),
    deleted: counter!(DELETED),
    ordered: counter!(ORDERED),
    rollups: counter!(ROLLUPS),
});

pub fn received(n: usize) {
    let h = &*HANDLES;
    h.received.increment(n as u64);
    h.batch_size.record(n as f64);
}
pub fn processed(n: usize) {
    HANDLES.processed.increment(n as u64);
}
pub fn stored(n: usize) {
    HANDLES.stored.increment(n as u64);
}
pub fn published(n: usize) {
    HANDLES.published.increment(n as u64);
}
/// One batch's near-duplicate clustering (looked up per batch).
pub fn clustered(first: u64, earlier: u64, unplaced: u64) {
    for (outcome, n) in [
        ("first", first),
        ("earlier", earlier),
        ("unplaced", unplaced),
    ] {
        if n > 0 {
            counter!(CLUSTERED, "outcome" => outcome).increment(n);
        }
    }
}
/// Mentions of a batch stored as created when collected (rare: looked up per call).
pub fn dated_ahead(n: u64) {
    counter!(DATED_AHEAD).increment(n);
}
/// One dead letter (rare: looked up per call).
pub fn dead_letter(reason: &'static str) {
    counter!(DEAD_LETTERS, "reason" => reason).increment(1);
}
/// CPU time this thread has run so far (Linux `/proc/thread-self/schedstat`), or `None` where
/// that file is missing. Unlike wall-clock time it does not count the time other processes on a
/// shared machine take the core away.
pub fn thread_cpu() -> Option<std::time::Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = s.split_whitespace().next()?.parse::<u64>().ok()?;
    Some(std::time::Duration::from_nanos(ns))
}
/// Records the CPU time this thread ran since `since` (its [`thread_cpu`] then) in
/// [`PROCESS_CPU`] (once a batch: looked up per call), and returns it.
pub fn process_cpu(since: Option<std::time::Duration>) -> Option<std::time::Duration> {
    let spent = thread_cpu()?.saturating_sub(since?);
    histogram!(PROCESS_CPU).record(spent.as_secs_f64());
    Some(spent)
}
pub fn stage(stage: Stage, secs: f64) {
    HANDLES.stages[stage as usize].record(secs);
}
pub fn store_write(secs: f64, ok: bool) {
    HANDLES.store_write.record(secs);
    if !ok {
        HANDLES.store_errors.increment(1);
    }
}
/// Write requests sent to the distributed store and the bytes bound to them.
pub fn store_statements(statements: usize, bytes: u64) {
    HANDLES.store_statements.increment(statements as u64);
    HANDLES.store_bytes.increment(bytes);
}
/// One topic-minute marked spilled (rare: looked up per call).
pub fn minute_spilled() {
    counter!(MINUTES_SPILLED).increment(1);
}
/// One refused API request; `reason` is `unauthorized` or `rate_limited` (looked up per call:
/// refusals are the exception).
pub fn push_lagged(reason: &'static str) {
    counter!(PUSH_LAGGED, "reason" => reason).increment(1);
}
/// One alert event (rare: looked up per call).
pub fn alert(kind: crate::alerts::AlertKind, state: crate::alerts::AlertState) {
    let kind = match kind {
        crate::alerts::AlertKind::VolumeSpike => "volume_spike",
        crate::alerts::AlertKind::NegativeShift => "negative_shift",
    };
    let state = match state {
        crate::alerts::AlertState::Opened => "opened",
        crate::alerts::AlertState::Updated => "updated",
        crate::alerts::AlertState::Resolved => "resolved",
    };
    counter!(ALERTS, "kind" => kind, "state" => state).increment(1);
}
/// One finished webhook delivery (rare: looked up per call).
pub fn webhook(outcome: &'static str) {
    counter!(ALERT_WEBHOOKS, "outcome" => outcome).increment(1);
}
pub fn push_undecodable() {
    counter!(PUSH_UNDECODABLE).increment(1);
}
pub fn push_buffer_bytes(bytes: usize) {
    gauge!(PUSH_BUFFER_BYTES).set(bytes as f64);
}
pub fn push_provisional_bytes(bytes: usize) {
    gauge!(PUSH_PROVISIONAL_BYTES).set(bytes as f64);
}
/// Rare (a full budget): looked up per call.
pub fn push_provisional_dropped() {
    counter!(PUSH_PROVISIONAL_DROPPED).increment(1);
}
pub fn push_connections(delta: f64) {
    gauge!(PUSH_CONNECTIONS).increment(delta);
}
pub fn api_rejected(reason: &'static str) {
    counter!(API_REJECTED, "reason" => reason).increment(1);
}
/// One retry (rare: looked up per call).
pub fn rebalance(kind: &'static str) {
    counter!(REBALANCES, "kind" => kind).increment(1);
}
pub fn retry(what: &'static str) {
    counter!(RETRIES, "operation" => what).increment(1);
}
pub fn cache_hit(hit: bool) {
    if hit {
        HANDLES.cache_hits.increment(1);
    } else {
        HANDLES.cache_misses.increment(1);
    }
}
/// One failed cache call (rare once the breaker is open: looked up per call).
pub fn cache_error(op: &'static str) {
    counter!(CACHE_ERRORS, "operation" => op).increment(1);
}
pub fn cache_breaker(open: bool) {
    HANDLES.cache_breaker.set(if open { 1.0 } else { 0.0 });
}
/// Every few seconds per partition.
pub fn consumer_lag(partition: i32, lag: i64) {
    gauge!(CONSUMER_LAG, "partition" => partition.to_string()).set(lag as f64);
}
pub fn lag_measured(at: i64) {
    gauge!(LAG_MEASURED).set(at as f64);
}
/// At a worker's start, then for every minute it marks planned.
pub fn plan_marked(minute: i64) {
    gauge!(PLAN_MARKED).set(minute as f64);
}
/// Records each stored mention's latency from creation and from collection to `now`.
pub fn latency_to_stored(
    now: chrono::DateTime<chrono::Utc>,
    times: impl Iterator<Item = (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
) {
    let h = &*HANDLES;
    let secs =
        |t: chrono::DateTime<chrono::Utc>| ((now - t).num_milliseconds() as f64 / 1e3).max(0.0);
    for (c, k) in times {
        h.created_to_stored.record(secs(c));
        h.collected_to_stored.record(secs(k));
    }
}

/// A batch between being polled and being committed: counted in [`IN_FLIGHT`] while it lives.
#[derive(Debug)]
pub struct InFlight(());

impl InFlight {
    pub fn start() -> InFlight {
        HANDLES.in_flight.increment(1.0);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        HANDLES.in_flight.decrement(1.0);
    }
}

pub fn expired(n: u64) {
    HANDLES.expired.increment(n);
}
pub fn deleted(n: usize) {
    HANDLES.deleted.increment(n as u64);
}
/// A batch waits for the one ahead of it to be stored (they share an id).
pub fn store_waited_for_order() {
    HANDLES.ordered.increment(1);
}
pub fn rollups(n: usize) {
    HANDLES.rollups.increment(n as u64);
}
/// Once per rollup pass: how many dirty minutes it found due.
pub fn rollup_due(n: usize) {
    gauge!(ROLLUP_DUE).set(n as f64);
}
/// After each retention sweep: the embedded store's live bytes and its budget (none: no gauge).
pub fn store_size(live: u64, budget: Option<u64>) {
    gauge!(STORE_LIVE_BYTES).set(live as f64);
    if let Some(b) = budget {
        gauge!(STORE_BUDGET_BYTES).set(b as f64);
    }
}

/// The metrics of one collector run, registered once per collector.
#[derive(Debug, Clone)]
pub struct CollectorRun {
    /// Items Kafka acknowledged.
    pub produced: Counter,
    /// Mentions over `pipeline.max_message_bytes`, not sent.
    pub too_large: Counter,
}

impl CollectorRun {
    pub fn new(source: &'static str) -> CollectorRun {
        CollectorRun {
            produced: counter!(COLLECTOR_PRODUCED, "source" => source),
            too_large: counter!(COLLECTOR_REJECTED, "reason" => "too_large"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The gauges the alert rules in deploy/prometheus read are rendered under those names.
    #[test]
    fn backlog_and_store_size_gauges_are_exported() {
        let handle = install();
        rollup_due(3);
        store_size(1000, Some(3000));
        let text = handle.render();
        for line in [
            "backchannel_store_rollup_backlog 3",
            "backchannel_store_live_bytes 1000",
            "backchannel_store_budget_bytes 3000",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
    }

    /// Processing records the CPU time this thread ran, not the time it waited: a sleep adds
    /// (almost) nothing, a busy loop about its length. Other tests in this binary record
    /// batches into the same histogram at the same time, so the amounts are read from what
    /// `process_cpu` returns, and the rendered sum is only checked to have grown by them.
    #[test]
    fn process_cpu_counts_cpu_time_not_waiting() {
        let handle = install();
        let read = || {
            handle
                .render()
                .lines()
                .find_map(|l| {
                    let sum = l.strip_prefix(PROCESS_CPU)?.strip_prefix("_sum")?;
                    sum.trim().parse::<f64>().ok()
                })
                .map_or(0, |secs| (secs * 1e6).round() as u128)
        };
        assert!(thread_cpu().is_some(), "no /proc/thread-self/schedstat");
        let before = read();
        let since = thread_cpu();
        std::thread::sleep(Duration::from_millis(300));
        let slept = process_cpu(since).expect("recorded").as_micros();
        // Busy until the thread has run 200 ms by its own clock (longer in wall time when other
        // tests share the cores): it must then record at least that, and no more than the wall
        // time it took.
        let since = thread_cpu();
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while thread_cpu().unwrap_or_default()
            < since.unwrap_or_default() + Duration::from_millis(200)
            && started.elapsed() < Duration::from_secs(30)
        {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
            }
        }
        let busy = process_cpu(since).expect("recorded").as_micros();
        let wall = started.elapsed().as_micros();
        // The kernel updates a running thread's total at its ticks: allow a few either way.
        assert!(slept < 50_000, "a 300 ms sleep counted {slept} us");
        assert!(
            (190_000..=wall + 20_000).contains(&busy),
            "200 ms of CPU over {wall} us of wall time counted {busy} us"
        );
        // Rounding to microseconds in the rendering may lose one of them.
        let grown = read() - before;
        assert!(
            grown + 1 >= slept + busy,
            "the histogram's sum grew {grown} us for {slept} + {busy} us recorded"
        );
    }

    #[test]
    fn stage_handles_are_indexed_by_the_stage() {
        for (i, s) in Stage::ALL.into_iter().enumerate() {
            assert_eq!(s as usize, i, "{}", s.as_str());
        }
    }
}
