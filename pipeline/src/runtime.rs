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
//! `(in_flight_batches + cpu_workers) × batch_size` messages.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use model::{DecodeLimits, Mention};
use tokio::sync::{mpsc, watch};
use transforms::{EnrichedRef, Record as Fields};

use crate::error::{Error, ErrorClass, Result};
use crate::stats::Stats;
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
    pub stored: Vec<Stored>,
    pub dead: Vec<DeadLetter>,
    /// Highest offset per partition in the batch.
    pub positions: BTreeMap<i32, i64>,
}

thread_local! {
    static FIELDS: RefCell<Fields> = RefCell::new(Fields::new());
}

/// Decodes and enriches one batch. CPU-bound; call it on a blocking thread.
pub fn process_batch(batch: Vec<Delivery>, limits: DecodeLimits) -> Processed {
    let mut out = Processed {
        stored: Vec::with_capacity(batch.len()),
        ..Default::default()
    };
    FIELDS.with_borrow_mut(|fields| {
        for d in batch {
            let pos = out.positions.entry(d.partition).or_insert(d.offset);
            *pos = (*pos).max(d.offset);
            match Mention::decode(&d.payload, limits) {
                Ok(m) => {
                    transforms::enrich_into(&m, fields);
                    match serde_json::to_vec(&EnrichedRef::new(&m, fields)) {
                        Ok(json) => out.stored.push(Stored {
                            topics: topics(&m, fields),
                            id: m.id,
                            source: m.source,
                            created_at: m.created_at,
                            json,
                        }),
                        Err(e) => out.dead.push(dead(d, "unserialisable", e.to_string())),
                    }
                }
                Err(e) => out.dead.push(dead(d, e.reason(), e.to_string())),
            }
        }
    });
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

/// The topics a mention is filed under: its source and each hashtag (lower-cased).
pub fn topics(m: &Mention, fields: &Fields) -> Vec<String> {
    let mut t = vec![format!("source:{}", m.source.as_str())];
    if let Some(transforms::Value::StrList(tags)) = fields.by_name("hashtags") {
        for tag in tags.iter().take(8) {
            t.push(format!("hashtag:{}", tag.to_lowercase()));
        }
    }
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

    let mut pending: FuturesOrdered<tokio::task::JoinHandle<Processed>> = FuturesOrdered::new();
    let mut closed = false;
    let mut shutdown_live = true;
    while !closed || !pending.is_empty() {
        let can_poll = !closed && pending.len() < settings.cpu_workers && !*shutdown.borrow();
        tokio::select! {
            biased;
            Some(done) = pending.next(), if !pending.is_empty() => {
                let processed: Processed =
                    done.map_err(|e: tokio::task::JoinError| Error::Internal(format!("transform task: {e}")))?;
                if tx.send(processed).await.is_err() {
                    break; // the sink failed; its error is returned below
                }
            }
            polled = consumer.poll(settings.batch_size, settings.linger), if can_poll => {
                match polled? {
                    Polled::Closed => closed = true,
                    Polled::Batch(batch) if batch.is_empty() => {}
                    Polled::Batch(batch) => {
                        Stats::add(&stats.received, batch.len());
                        let limits = settings.limits;
                        pending.push_back(tokio::task::spawn_blocking(move || process_batch(batch, limits)));
                    }
                }
                if let Some(b) = consumer.backlog() {
                    stats.backlog.store(b, std::sync::atomic::Ordering::Relaxed);
                }
            }
            changed = shutdown.changed(), if !closed && shutdown_live => match changed {
                Ok(()) => closed = *shutdown.borrow(),
                Err(_) => shutdown_live = false, // nobody can ask us to stop any more
            },
        }
    }
    drop(tx);
    sink.await
        .map_err(|e| Error::Internal(format!("sink task: {e}")))?
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
        let meta: Vec<[String; 3]> = batch
            .dead
            .iter()
            .map(|d| {
                [
                    d.partition.to_string(),
                    d.offset.to_string(),
                    d.detail.clone(),
                ]
            })
            .collect();
        let headers: Vec<[(&str, &[u8]); 5]> = batch
            .dead
            .iter()
            .zip(&meta)
            .map(|(d, [p, o, detail])| {
                [
                    ("reason", d.reason.as_bytes()),
                    ("detail", detail.as_bytes()),
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
                payload: &d.payload,
                headers: h,
            })
            .collect();
        retry("dead-letter publish", shutdown, stats, || {
            publisher.publish(&records)
        })
        .await?;
        Stats::add(&stats.dead_lettered, batch.dead.len());
    }
    if !batch.stored.is_empty() {
        retry("store write", shutdown, stats, || {
            store.write(&batch.stored)
        })
        .await?;
        Stats::add(&stats.stored, batch.stored.len());
        let version = model::SCHEMA_VERSION.to_string();
        let headers = [("schema_version", version.as_bytes())];
        let records: Vec<Record<'_>> = batch
            .stored
            .iter()
            .map(|s| Record {
                topic: Topic::Enriched,
                key: s.id.as_bytes(),
                payload: &s.json,
                headers: &headers,
            })
            .collect();
        retry("enriched publish", shutdown, stats, || {
            publisher.publish(&records)
        })
        .await?;
        Stats::add(&stats.published, records.len());
        cache.remember(&batch.stored).await;
    }
    for (&partition, &offset) in &batch.positions {
        committer.commit(partition, offset)?;
    }
    Stats::add(&stats.batches, 1);
    Ok(())
}

/// Retries an external failure with exponential backoff and full jitter (100 ms doubling to
/// 10 s) until it succeeds or shutdown is requested; other error classes are returned at once.
async fn retry<F, Fut>(
    what: &str,
    shutdown: &watch::Receiver<bool>,
    stats: &Stats,
    mut f: F,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match f().await {
            Ok(()) => return Ok(()),
            Err(e) if e.class() == ErrorClass::External => {
                if *shutdown.borrow() {
                    return Err(e);
                }
                Stats::add(&stats.store_retries, 1);
                let jitter =
                    Duration::from_nanos(fastrand_u64() % backoff.as_nanos().max(1) as u64);
                tracing::warn!(error = %e, retry_in = ?jitter, "{what} failed; retrying");
                tokio::time::sleep(jitter).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// A little randomness for jitter without a dependency: hash the current time.
fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now())
}
