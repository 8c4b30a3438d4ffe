//! The pipeline: consume → decode → transform → store → publish → cache → commit.
//!
//! Two stages connected by a bounded channel:
//! 1. *ingest* polls batches and runs decode + transforms on the blocking pool (up to
//!    `cpu_workers` batches at once), forwarding results **in poll order**;
//! 2. *sink* takes each processed batch in order, dead-letters bad messages, writes the good ones
//!    to the store (retrying external failures with backoff and jitter), publishes them, caches
//!    them (best effort), and only then commits the batch's highest offset per partition.
//!
//! Because the sink finishes batches strictly in order, a committed offset always has every
//! message before it durable: commits are contiguous per partition without a tracking table.
//! Backpressure is structural: when the store stalls, the sink stops taking batches, the channel
//! fills, ingest stops polling, and in-flight memory stays bounded by
//! `(in_flight_batches + cpu_workers) × batch_size` messages and by `max_in_flight_bytes` of raw
//! input, whichever is reached first.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use collectors::common::{Backoff, BackoffConfig};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use model::{DecodeLimits, Mention};
use tokio::sync::{mpsc, watch};
use transforms::{EnrichedRef, Record as Fields};

use crate::config::EnrichedFormat;
use crate::error::{Error, ErrorClass, Result};
use crate::stats::Stats;
use crate::telemetry::{self, Stage};
use crate::traits::{Cache, Consumer, Delivery, Polled, Publisher, Record, Store, Stored, Topic};

/// Runtime knobs (validated from the config).
#[derive(Debug, Clone)]
pub struct Settings {
    pub batch_size: usize,
    pub linger: Duration,
    pub in_flight_batches: usize,
    pub cpu_workers: usize,
    pub limits: DecodeLimits,
    /// Name of the raw topic, written into dead-letter headers.
    pub source_topic: String,
    /// Tenants' signals, matched against every mention (hot-reloaded).
    pub signals: crate::signals::SignalsHandle,
    /// What the enriched topic carries.
    pub enriched_format: EnrichedFormat,
    /// Budget of raw bytes polled but not yet committed.
    pub max_in_flight_bytes: u64,
}

impl Settings {
    /// The runtime settings a configuration asks for, with the given raw topic name.
    pub fn from_config(
        config: &crate::config::Config,
        source_topic: &str,
        signals: crate::signals::SignalsHandle,
    ) -> Result<Settings> {
        Ok(Settings {
            batch_size: config.pipeline.batch_size,
            linger: config.batch_linger(),
            in_flight_batches: config.pipeline.in_flight_batches,
            cpu_workers: config.cpu_workers(),
            limits: config.decode_limits(),
            source_topic: source_topic.to_owned(),
            signals,
            enriched_format: config.pipeline.enriched_format,
            max_in_flight_bytes: config.max_in_flight_bytes()?,
        })
    }
}

/// A message that could not be processed.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub reason: &'static str,
    pub detail: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// One processed batch.
#[derive(Debug, Default)]
pub struct Processed {
    pub stored: Arc<[Stored]>,
    pub dead: Vec<DeadLetter>,
    /// Ids the sources deleted (tombstones), in order.
    pub deletes: Vec<String>,
    /// Highest offset per partition in the batch.
    pub positions: BTreeMap<i32, i64>,
    /// The batch's share of the in-flight byte budget, given back when the batch is done.
    pub budget: Option<Permit>,
    /// Counts the batch in the in-flight gauge until it is committed (or dropped).
    pub in_flight: Option<telemetry::InFlight>,
}

type Permit = tokio::sync::OwnedSemaphorePermit;

thread_local! {
    static FIELDS: RefCell<Fields> = RefCell::new(Fields::new());
}

/// Field ids the runtime reads from every record, looked up once.
struct RuntimeFields {
    hashtags: usize,
    sentiment: usize,
}

static RUNTIME_FIELDS: std::sync::LazyLock<RuntimeFields> =
    std::sync::LazyLock::new(|| RuntimeFields {
        hashtags: transforms::field_id("hashtags").expect("the catalogue has hashtags"),
        sentiment: transforms::field_id("sentiment_compound")
            .expect("the catalogue has sentiment_compound"),
    });

/// Decodes and enriches one batch. CPU-bound; call it on a blocking thread.
pub fn process_batch(
    batch: Vec<Delivery>,
    limits: DecodeLimits,
    matcher: Option<&transforms::signals::Matcher>,
    format: EnrichedFormat,
) -> Processed {
    let mut out = Processed::default();
    let mut stored = Vec::with_capacity(batch.len());
    let ids = &*RUNTIME_FIELDS;
    FIELDS.with_borrow_mut(|fields| {
        for d in batch {
            let pos = out.positions.entry(d.partition).or_insert(d.offset);
            *pos = (*pos).max(d.offset);
            if d.tombstone {
                match d.key.as_deref().map(std::str::from_utf8) {
                    Some(Ok(id)) if !id.trim().is_empty() => out.deletes.push(id.to_owned()),
                    _ => out.dead.push(dead(
                        d,
                        "not_a_mention",
                        "a tombstone without a mention id key".into(),
                    )),
                }
                continue;
            }
            let m = match Mention::decode(&d.payload, limits) {
                Ok(m) => m,
                Err(e) => {
                    out.dead.push(dead(d, e.reason(), e.to_string()));
                    continue;
                }
            };
            let matches = transforms::enrich_and_match(&m, fields, matcher);
            let json = match format {
                EnrichedFormat::Avro => None,
                EnrichedFormat::Json => {
                    match serde_json::to_vec(&EnrichedRef::with_signals(&m, fields, &matches)) {
                        Ok(json) => Some(json),
                        Err(e) => {
                            out.dead.push(dead(d, "unserialisable", e.to_string()));
                            continue;
                        }
                    }
                }
            };
            let mut record = Vec::with_capacity(2048);
            transforms::avro::encode(&m, fields, &matches, &mut record);
            let hashtags = match fields.get(ids.hashtags) {
                transforms::Value::StrList(tags) => tags.clone(),
                _ => Vec::new(),
            };
            let sentiment = match fields.get(ids.sentiment) {
                transforms::Value::Float(x) => Some(*x),
                _ => None,
            };
            stored.push(Stored {
                topics: topics(&m, &hashtags, &matches),
                id: m.id,
                source: m.source,
                created_at: m.created_at,
                collected_at: m.collected_at,
                sentiment,
                hashtags,
                fields_version: &transforms::registry().version,
                record,
                json,
            })
        }
    });
    out.stored = stored.into();
    out
}

fn dead(d: Delivery, reason: &'static str, detail: String) -> DeadLetter {
    DeadLetter {
        partition: d.partition,
        offset: d.offset,
        reason,
        detail,
        key: d.key,
        payload: d.payload,
    }
}

/// `content-type` header of compact enriched records: Avro single-object encoding, schema
/// `deploy/schema/enriched.avsc` (its fingerprint opens every record).
pub const CONTENT_TYPE_AVRO: &str = "application/vnd.apache.avro+binary";
/// `content-type` header of JSON enriched records.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// Most topics one mention is filed under (bounds write amplification from hashtag stuffing).
pub const MAX_TOPICS: usize = 8;

/// The topics a mention is filed under: its source and its distinct hashtags (lower-cased), at
/// most [`MAX_TOPICS`] of those, plus every signal it matched (`signal:<tenant>/<id>`).
pub fn topics(m: &Mention, hashtags: &[String], signals: &[model::SignalMatch]) -> Vec<String> {
    let mut t = vec![format!("source:{}", m.source.as_str())];
    for tag in hashtags {
        let topic = format!("hashtag:{}", tag.to_lowercase());
        if t.len() < MAX_TOPICS && !t.contains(&topic) {
            t.push(topic);
        }
    }
    t.extend(signals.iter().map(|s| format!("signal:{}", s.signal)));
    t
}

/// Runs until the consumer closes or `shutdown` turns true; then drains and commits what was
/// in flight and returns.
pub async fn run<C, P, S, K>(
    mut consumer: C,
    publisher: Arc<P>,
    store: Arc<S>,
    cache: Arc<K>,
    settings: Settings,
    stats: Arc<Stats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()>
where
    C: Consumer,
    P: Publisher,
    S: Store,
    K: Cache,
{
    let (tx, mut rx) = mpsc::channel::<Processed>(settings.in_flight_batches);
    let committer = consumer.committer();
    let sink_shutdown = shutdown.clone();
    let sink_stats = stats.clone();
    let source_topic = settings.source_topic.clone();
    let sink = tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            sink_batch(
                &batch,
                &*publisher,
                &*store,
                &*cache,
                &*committer,
                &source_topic,
                &sink_stats,
                &sink_shutdown,
            )
            .await?;
        }
        committer.flush()
    });

    // The consumer is polled in a task of its own and hands over whole batches through a
    // one-slot channel. `Consumer::poll` gathers messages over its linger time and is not
    // cancel-safe, so it must never be a `select!` branch that another branch can interrupt:
    // a dropped poll would drop the messages it had gathered (and a later commit would skip them).
    //
    // Memory is bounded by bytes as well as by batches: the poller takes each batch's share of
    // the byte budget before handing it over, and the sink gives it back once the batch is
    // committed. With the budget spent, the poller waits, and so does the queue.
    let (batch_tx, mut batch_rx) = mpsc::channel::<(Result<Polled>, Option<Permit>)>(1);
    let poll_stats = stats.clone();
    let (batch_size, linger) = (settings.batch_size, settings.linger);
    let budget_kib = u32::try_from(settings.max_in_flight_bytes / 1024)
        .unwrap_or(u32::MAX)
        .max(1);
    let budget = Arc::new(tokio::sync::Semaphore::new(budget_kib as usize));
    let poller = tokio::spawn(async move {
        loop {
            let polled = consumer.poll(batch_size, linger).await;
            if let Some(b) = consumer.backlog() {
                poll_stats
                    .backlog
                    .store(b, std::sync::atomic::Ordering::Relaxed);
            }
            let permit = match &polled {
                Ok(Polled::Batch(batch)) if !batch.is_empty() => {
                    let bytes: usize = batch.iter().map(|d| d.payload.len() + 64).sum();
                    let kib = u32::try_from(bytes.div_ceil(1024))
                        .unwrap_or(u32::MAX)
                        .min(budget_kib);
                    budget.clone().acquire_many_owned(kib).await.ok()
                }
                _ => None,
            };
            let last = !matches!(polled, Ok(Polled::Batch(_)));
            if batch_tx.send((polled, permit)).await.is_err() || last {
                break;
            }
        }
        consumer
    });

    let mut pending: FuturesOrdered<tokio::task::JoinHandle<Processed>> = FuturesOrdered::new();
    let mut closed = false;
    let mut shutdown_live = true;
    let mut result = Ok(());
    while !closed || !pending.is_empty() {
        let can_take = !closed && pending.len() < settings.cpu_workers && !*shutdown.borrow();
        tokio::select! {
            biased;
            Some(done) = pending.next(), if !pending.is_empty() => {
                let processed: Processed = match done {
                    Ok(p) => p,
                    Err(e) => {
                        result = Err(Error::internal("transform task", e));
                        break;
                    }
                };
                if tx.send(processed).await.is_err() {
                    break; // the sink failed; its error is returned below
                }
            }
            polled = batch_rx.recv(), if can_take => {
                let (polled, permit) = match polled {
                    Some((p, permit)) => (Some(p), permit),
                    None => (None, None),
                };
                match polled {
                    None | Some(Ok(Polled::Closed)) => closed = true,
                    Some(Err(e)) => {
                        result = Err(e);
                        break;
                    }
                    Some(Ok(Polled::Batch(batch))) if batch.is_empty() => {}
                    Some(Ok(Polled::Batch(batch))) => {
                        Stats::add(&stats.received, batch.len());
                        telemetry::received(batch.len());
                        let limits = settings.limits;
                        let format = settings.enriched_format;
                        let matcher = settings.signals.current();
                        let in_flight = telemetry::InFlight::start();
                        pending.push_back(tokio::task::spawn_blocking(move || {
                            let started = std::time::Instant::now();
                            let mut out = process_batch(batch, limits, matcher.as_deref(), format);
                            out.budget = permit;
                            out.in_flight = Some(in_flight);
                            telemetry::stage(Stage::Transform, started.elapsed().as_secs_f64());
                            telemetry::processed(out.stored.len());
                            out
                        }));
                    }
                }
            }
            changed = shutdown.changed(), if !closed && shutdown_live => match changed {
                Ok(()) => closed = *shutdown.borrow(),
                Err(_) => shutdown_live = false, // nobody can ask us to stop any more
            },
        }
    }
    // Stop polling. A batch the poller holds but was not taken is not committed: Kafka
    // redelivers it (the embedded queue, being in memory, is dropped on shutdown anyway).
    poller.abort();
    drop(batch_rx);
    drop(tx);
    let sunk = sink.await.map_err(|e| Error::internal("sink task", e))?;
    result.and(sunk)
}

#[allow(clippy::too_many_arguments)]
async fn sink_batch<P: Publisher, S: Store, K: Cache>(
    batch: &Processed,
    publisher: &P,
    store: &S,
    cache: &K,
    committer: &dyn crate::traits::Committer,
    source_topic: &str,
    stats: &Stats,
    shutdown: &watch::Receiver<bool>,
) -> Result<()> {
    if !batch.dead.is_empty() {
        let started = std::time::Instant::now();
        let positions: Vec<[String; 2]> = batch
            .dead
            .iter()
            .map(|d| [d.partition.to_string(), d.offset.to_string()])
            .collect();
        let headers: Vec<[(&str, &[u8]); 5]> = batch
            .dead
            .iter()
            .zip(&positions)
            .map(|(d, [p, o])| {
                [
                    ("reason", d.reason.as_bytes()),
                    ("detail", d.detail.as_bytes()),
                    ("source_topic", source_topic.as_bytes()),
                    ("source_partition", p.as_bytes()),
                    ("source_offset", o.as_bytes()),
                ]
            })
            .collect();
        let records: Vec<Record<'_>> = batch
            .dead
            .iter()
            .zip(&headers)
            .map(|(d, h)| Record {
                topic: Topic::DeadLetter,
                key: d.key.as_deref().unwrap_or_default(),
                payload: Some(&d.payload),
                headers: h,
            })
            .collect();
        retry("dead_letter_publish", shutdown, stats, || {
            publisher.publish(&records)
        })
        .await?;
        telemetry::stage(Stage::DeadLetter, started.elapsed().as_secs_f64());
        Stats::add(&stats.dead_lettered, batch.dead.len());
        for d in &batch.dead {
            tracing::warn!(partition = d.partition, offset = d.offset, reason = d.reason, detail = %d.detail, "dead-lettered");
            telemetry::dead_letter(d.reason);
        }
    }
    if !batch.stored.is_empty() {
        let started = std::time::Instant::now();
        retry("store_write", shutdown, stats, || {
            store.write(&batch.stored)
        })
        .await?;
        telemetry::stage(Stage::Store, started.elapsed().as_secs_f64());
        Stats::add(&stats.stored, batch.stored.len());
        telemetry::stored(batch.stored.len());
        telemetry::latency_to_stored(
            chrono::Utc::now(),
            batch.stored.iter().map(|s| (s.created_at, s.collected_at)),
        );

        let started = std::time::Instant::now();
        let version = model::SCHEMA_VERSION.to_string();
        let content_type = match batch.stored.first().and_then(|s| s.json.as_ref()) {
            Some(_) => CONTENT_TYPE_JSON,
            None => CONTENT_TYPE_AVRO,
        };
        let headers = [
            ("schema_version", version.as_bytes()),
            ("content-type", content_type.as_bytes()),
            ("fields_version", transforms::registry().version.as_bytes()),
        ];
        let records: Vec<Record<'_>> = batch
            .stored
            .iter()
            .map(|s| Record {
                topic: Topic::Enriched,
                key: s.id.as_bytes(),
                payload: Some(s.json.as_deref().unwrap_or(&s.record)),
                headers: &headers,
            })
            .collect();
        retry("enriched_publish", shutdown, stats, || {
            publisher.publish(&records)
        })
        .await?;
        telemetry::stage(Stage::Publish, started.elapsed().as_secs_f64());
        Stats::add(&stats.published, records.len());
        telemetry::published(records.len());

        let started = std::time::Instant::now();
        cache.remember(&batch.stored).await;
        telemetry::stage(Stage::Cache, started.elapsed().as_secs_f64());
    }
    if !batch.deletes.is_empty() {
        // Stored mentions of this batch went first, so a post and its deletion in one batch
        // end deleted.
        retry("store_delete", shutdown, stats, || {
            store.delete(&batch.deletes)
        })
        .await?;
        let records: Vec<Record<'_>> = batch
            .deletes
            .iter()
            .map(|id| Record {
                topic: Topic::Enriched,
                key: id.as_bytes(),
                payload: None,
                headers: &[],
            })
            .collect();
        retry("enriched_publish", shutdown, stats, || {
            publisher.publish(&records)
        })
        .await?;
        cache.forget(&batch.deletes).await;
        telemetry::deleted(batch.deletes.len());
    }
    for (&partition, &offset) in &batch.positions {
        committer.commit(partition, offset)?;
    }
    Stats::add(&stats.batches, 1);
    Ok(())
}

/// The pause between retries of an external failure: 100 ms doubling to 10 s, full jitter.
const RETRY_BACKOFF: BackoffConfig = BackoffConfig {
    initial: Duration::from_millis(100),
    max: Duration::from_secs(10),
};

/// Retries an external failure with [`RETRY_BACKOFF`] until it succeeds or shutdown is
/// requested; other error classes are returned at once.
async fn retry<F, Fut>(
    what: &'static str,
    shutdown: &watch::Receiver<bool>,
    stats: &Stats,
    mut f: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut backoff = Backoff::new(RETRY_BACKOFF);
    loop {
        match f().await {
            Ok(()) => return Ok(()),
            Err(e) if e.class() == ErrorClass::External => {
                if *shutdown.borrow() {
                    return Err(e);
                }
                Stats::add(&stats.store_retries, 1);
                telemetry::retry(what);
                let wait = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?wait, "{what} failed; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}
