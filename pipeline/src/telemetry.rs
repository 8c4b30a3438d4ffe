//! Every metric the pipeline emits, named in one place.
//!
//! Names follow `backchannel_<component>_<name>_<unit>[_total]`. Labels are low-cardinality by
//! construction: a stage, a reason code, a source, a Kafka partition number — never an id, an
//! author, a keyword or anything a tenant typed. Hot paths emit per batch.

use std::sync::OnceLock;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const RECEIVED: &str = "backchannel_pipeline_received_mentions_total";
pub const PROCESSED: &str = "backchannel_pipeline_processed_mentions_total";
pub const STORED: &str = "backchannel_store_written_mentions_total";
pub const PUBLISHED: &str = "backchannel_publish_enriched_mentions_total";
pub const DEAD_LETTERS: &str = "backchannel_pipeline_dead_letters_total";
pub const BATCH_SIZE: &str = "backchannel_pipeline_batch_size_mentions";
pub const STAGE_DURATION: &str = "backchannel_pipeline_stage_duration_seconds";
pub const STORE_WRITE_DURATION: &str = "backchannel_store_write_duration_seconds";
pub const STORE_ERRORS: &str = "backchannel_store_errors_total";
pub const RETRIES: &str = "backchannel_pipeline_retries_total";
pub const CACHE_HITS: &str = "backchannel_cache_hits_total";
pub const CACHE_MISSES: &str = "backchannel_cache_misses_total";
pub const CACHE_ERRORS: &str = "backchannel_cache_errors_total";
pub const CACHE_BREAKER_OPEN: &str = "backchannel_cache_breaker_open";
pub const CONSUMER_LAG: &str = "backchannel_kafka_consumer_lag_messages";
pub const CREATED_TO_STORED: &str = "backchannel_pipeline_created_to_stored_seconds";
pub const COLLECTED_TO_STORED: &str = "backchannel_pipeline_collected_to_stored_seconds";
pub const IN_FLIGHT: &str = "backchannel_pipeline_in_flight_batches";
pub const ROLLUPS: &str = "backchannel_store_rollups_total";
pub const DELETED: &str = "backchannel_store_deleted_mentions_total";
pub const EXPIRED: &str = "backchannel_store_expired_mentions_total";

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
    describe_counter!(RECEIVED, Unit::Count, "Raw messages taken from the queue.");
    describe_counter!(PROCESSED, Unit::Count, "Mentions decoded and enriched.");
    describe_counter!(
        STORED,
        Unit::Count,
        "Enriched mentions durably written to the store."
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
    describe_counter!(
        ROLLUPS,
        Unit::Count,
        "Per-minute aggregates recomputed from stored mentions."
    );
}

pub fn received(n: usize) {
    counter!(RECEIVED).increment(n as u64);
    histogram!(BATCH_SIZE).record(n as f64);
}
pub fn processed(n: usize) {
    counter!(PROCESSED).increment(n as u64);
}
pub fn stored(n: usize) {
    counter!(STORED).increment(n as u64);
}
pub fn published(n: usize) {
    counter!(PUBLISHED).increment(n as u64);
}
pub fn dead_letter(reason: &'static str) {
    counter!(DEAD_LETTERS, "reason" => reason).increment(1);
}
pub fn stage(stage: Stage, secs: f64) {
    histogram!(STAGE_DURATION, "stage" => stage.as_str()).record(secs);
}
pub fn store_write(secs: f64, ok: bool) {
    histogram!(STORE_WRITE_DURATION).record(secs);
    if !ok {
        counter!(STORE_ERRORS).increment(1);
    }
}
pub fn retry(what: &'static str) {
    counter!(RETRIES, "operation" => what).increment(1);
}
pub fn cache_hit(hit: bool) {
    if hit {
        counter!(CACHE_HITS).increment(1);
    } else {
        counter!(CACHE_MISSES).increment(1);
    }
}
pub fn cache_error(op: &'static str) {
    counter!(CACHE_ERRORS, "operation" => op).increment(1);
}
pub fn cache_breaker(open: bool) {
    gauge!(CACHE_BREAKER_OPEN).set(if open { 1.0 } else { 0.0 });
}
pub fn consumer_lag(partition: i32, lag: i64) {
    gauge!(CONSUMER_LAG, "partition" => partition.to_string()).set(lag as f64);
}
/// Records each stored mention's latency from creation and from collection to `now`; the two
/// histogram handles are looked up once per batch.
pub fn latency_to_stored(
    now: chrono::DateTime<chrono::Utc>,
    times: impl Iterator<Item = (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
) {
    let (created, collected) = (
        histogram!(CREATED_TO_STORED),
        histogram!(COLLECTED_TO_STORED),
    );
    let secs =
        |t: chrono::DateTime<chrono::Utc>| ((now - t).num_milliseconds() as f64 / 1e3).max(0.0);
    for (c, k) in times {
        created.record(secs(c));
        collected.record(secs(k));
    }
}
pub fn in_flight(n: usize) {
    gauge!(IN_FLIGHT).set(n as f64);
}
pub fn expired(n: u64) {
    counter!(EXPIRED).increment(n);
}
pub fn deleted(n: usize) {
    counter!(DELETED).increment(n as u64);
}
pub fn rollups(n: usize) {
    counter!(ROLLUPS).increment(n as u64);
}
