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

mod process;
pub(crate) mod sink;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use model::DecodeLimits;
use tokio::sync::{mpsc, watch};

use crate::config::EnrichedFormat;
use crate::error::{Error, Result};
use crate::stats::Stats;
use crate::telemetry::{self, Stage};
use crate::traits::{Cache, Consumer, IDLE_EVERY, Polled, Publisher, Store};

type Permit = tokio::sync::OwnedSemaphorePermit;

pub use process::{
    Caps, DeadLetter, MAX_TOPIC_HASHTAG_BYTES, MAX_TOPICS, Processed, process_batch, topics,
};
pub use sink::{CONTENT_TYPE_AVRO, CONTENT_TYPE_JSON, MAX_DETAIL_BYTES};

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
    pub max_matches: usize,
    pub max_highlights: usize,
    pub max_record_bytes: usize,
    /// Dead-letter payloads are cut to this.
    pub max_dead_letter_payload: usize,
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
            max_matches: config.pipeline.max_matches,
            max_highlights: config.pipeline.max_highlights,
            max_record_bytes: config.max_record_bytes()?,
            max_dead_letter_payload: config.max_dead_letter_payload(),
        })
    }

    /// The per-mention caps processing applies.
    pub fn caps(&self) -> Caps {
        Caps {
            limits: self.limits,
            format: self.enriched_format,
            max_matches: self.max_matches,
            max_highlights: self.max_highlights,
            max_record_bytes: self.max_record_bytes,
        }
    }
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
    // The sink in two stages, one batch apart: while one batch is published (and its positions
    // committed), the next is written to the store.
    let (stored_tx, mut stored_rx) = mpsc::channel::<(Processed, Arc<[crate::traits::Stored]>)>(1);
    let state = sink::SinkState {
        source_topic: settings.source_topic.clone(),
        stats: stats.clone(),
        shutdown: shutdown.clone(),
        max_dead_letter_payload: settings.max_dead_letter_payload,
    };
    let storing = {
        let (state, publisher) = (state.clone(), publisher.clone());
        tokio::spawn(async move {
            let cx = state.cx();
            while let Some(batch) = rx.recv().await {
                let kept = sink::store_stage(&batch, &*publisher, &*store, &cx).await?;
                if stored_tx.send((batch, kept)).await.is_err() {
                    break; // the publishing stage failed; its error is returned below
                }
            }
            Ok::<(), Error>(())
        })
    };
    let sink = tokio::spawn(async move {
        let cx = state.cx();
        while let Some((batch, kept)) = stored_rx.recv().await {
            sink::publish_stage(&batch, &kept, &*publisher, &*cache, &*committer, &cx).await?;
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
                    // Waiting for the budget (or, below, for the pipeline to take the batch)
                    // can last as long as an outage; the consumer idles meanwhile.
                    loop {
                        tokio::select! {
                            p = budget.clone().acquire_many_owned(kib) => break p.ok(),
                            () = tokio::time::sleep(IDLE_EVERY) => consumer.idle().await,
                        }
                    }
                }
                _ => None,
            };
            let last = !matches!(polled, Ok(Polled::Batch(_)));
            let slot = loop {
                tokio::select! {
                    slot = batch_tx.reserve() => break slot,
                    () = tokio::time::sleep(IDLE_EVERY) => consumer.idle().await,
                }
            };
            match slot {
                Ok(slot) => slot.send((polled, permit)),
                Err(_) => break,
            }
            if last {
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
                        let caps = settings.caps();
                        let matcher = settings.signals.current();
                        let in_flight = telemetry::InFlight::start();
                        pending.push_back(tokio::task::spawn_blocking(move || {
                            let started = std::time::Instant::now();
                            let mut out = process_batch(batch, &caps, matcher.as_deref());
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
    let stored = storing.await.map_err(|e| Error::internal("sink task", e))?;
    let sunk = sink.await.map_err(|e| Error::internal("sink task", e))?;
    result.and(stored).and(sunk)
}
