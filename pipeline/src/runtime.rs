//! The pipeline: consume → decode → transform → store → publish → cache → commit.
//!
//! Two stages connected by a bounded channel:
//! 1. *ingest* polls batches and runs decode + transforms on `cpu_workers` threads of its own
//!    (one batch each at a time), places each result's mentions in their near-duplicate
//!    clusters (one cache call per batch) and forwards results **in poll order**;
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

mod cpu;
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
    Caps, DeadLetter, MAX_TOPIC_HASHTAG_BYTES, MAX_TOPICS, Processed, SIGNAL_TOPIC,
    assign_clusters, is_signal_topic, process_batch, set_cluster, signal_topic, topics,
};
pub use sink::{CONTENT_TYPE_AVRO, CONTENT_TYPE_JSON, MAX_DETAIL_BYTES};

/// Batches written to the store at once. One left the store waiting on each batch's round trips
/// (rows, then marks) with the worker idle: `benches/e2e` stored 6.3-6.5k mentions/s while the
/// same rows straight through the driver went at 22k/s.
const STORE_AHEAD: usize = 2;

/// The ids a batch writes or deletes, hashed (a collision only costs a wait).
struct Ids(std::collections::HashSet<u64>);

impl Ids {
    fn of(batch: &Processed, hasher: &std::hash::RandomState) -> Ids {
        use std::hash::BuildHasher;
        let ids = batch.stored.iter().map(|s| s.id.as_str());
        let ids = ids.chain(batch.deletes.iter().map(String::as_str));
        Ids(ids.map(|id| hasher.hash_one(id)).collect())
    }

    /// Whether the two batches share an id.
    fn meets(&self, other: &Ids) -> bool {
        let (small, large) = match self.0.len() <= other.0.len() {
            true => (self, other),
            false => (other, self),
        };
        small.0.iter().any(|h| large.0.contains(h))
    }
}

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
            batch_size: config.batch_size(),
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
    let (stored_tx, mut stored_rx) = mpsc::channel::<(Processed, sink::Kept)>(1);
    let state = sink::SinkState {
        source_topic: settings.source_topic.clone(),
        stats: stats.clone(),
        shutdown: shutdown.clone(),
        max_dead_letter_payload: settings.max_dead_letter_payload,
    };
    // Up to STORE_AHEAD batches are written at once (each in a task of its own, so all make
    // progress while the oldest is handed on), and handed on in the order they came: positions
    // are still committed in order. Each batch still writes its rows before its dirty marks, so
    // the rollup's invariant holds as it does for batches of two workers.
    //
    // Two batches that write or delete the same id are not written at once: the store would
    // apply them in whichever order their statements landed, and a deletion overtaken by the
    // post it deletes (or an edit by the version it replaces) would be undone. Such a batch
    // waits for the batches ahead of it to be stored first.
    let storing = {
        let (state, publisher) = (state.clone(), publisher.clone());
        tokio::spawn(async move {
            type Writing = (
                tokio::task::JoinHandle<Result<(Processed, sink::Kept)>>,
                Ids,
            );
            let mut ahead: std::collections::VecDeque<Writing> = Default::default();
            let mut waiting: Option<(Processed, Ids)> = None;
            let hasher = std::hash::RandomState::new();
            let start = |batch: Processed, ids: Ids| -> Writing {
                let (state, publisher, store) = (state.clone(), publisher.clone(), store.clone());
                let task = tokio::spawn(async move {
                    let kept = sink::store_stage(&batch, &*publisher, &*store, &state.cx()).await?;
                    Ok((batch, kept))
                });
                (task, ids)
            };
            let mut open = true;
            let result = loop {
                tokio::select! {
                    biased;
                    done = async { (&mut ahead.front_mut().expect("not empty").0).await }, if !ahead.is_empty() => {
                        ahead.pop_front();
                        if let Some((batch, ids)) = waiting.take() {
                            if ahead.iter().any(|(_, a)| a.meets(&ids)) {
                                waiting = Some((batch, ids));
                            } else {
                                ahead.push_back(start(batch, ids));
                            }
                        }
                        let (batch, kept) = match done {
                            Ok(Ok(stored)) => stored,
                            Ok(Err(e)) => break Err(e),
                            Err(e) => break Err(Error::internal("store task", e)),
                        };
                        if stored_tx.send((batch, kept)).await.is_err() {
                            break Ok(()); // the publishing stage failed; its error is returned below
                        }
                    }
                    next = rx.recv(), if open && waiting.is_none() && ahead.len() < STORE_AHEAD => match next {
                        Some(batch) => {
                            let ids = Ids::of(&batch, &hasher);
                            if ahead.iter().any(|(_, a)| a.meets(&ids)) {
                                telemetry::store_waited_for_order();
                                waiting = Some((batch, ids));
                            } else {
                                ahead.push_back(start(batch, ids));
                            }
                        }
                        None => open = false,
                    },
                    else => break Ok(()),
                }
            };
            // A failed batch fails the worker; the batches written beside it are not committed,
            // and their idempotent writes are repeated on redelivery.
            for (writing, _) in ahead {
                writing.abort();
            }
            result
        })
    };
    let clusters = cache.clone();
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
                    let bytes: usize = batch.iter().map(crate::traits::Delivery::held_bytes).sum();
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

    let cpu = cpu::CpuPool::new(settings.cpu_workers)?;
    let mut pending = FuturesOrdered::new();
    let mut closed = false;
    let mut shutdown_live = true;
    let mut result = Ok(());
    while !closed || !pending.is_empty() {
        let can_take = !closed && pending.len() < settings.cpu_workers && !*shutdown.borrow();
        tokio::select! {
            biased;
            Some(done) = pending.next(), if !pending.is_empty() => {
                let mut processed: Processed = match done {
                    Ok(p) => p,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                };
                // In poll order, so a cluster's first mention is the first to arrive.
                assign_clusters(&mut processed, &*clusters).await;
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
                        pending.push_back(cpu.spawn(move || {
                            let started = std::time::Instant::now();
                            let cpu_started = telemetry::thread_cpu();
                            let mut out = process_batch(batch, &caps, matcher.as_deref());
                            out.budget = permit;
                            out.in_flight = Some(in_flight);
                            telemetry::stage(Stage::Transform, started.elapsed().as_secs_f64());
                            telemetry::process_cpu(cpu_started);
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::{DateTime, Utc};
    use collectors::{Synthetic, SyntheticConfig};

    use super::*;
    use crate::config::Config;
    use crate::embedded::{MemoryCache, RedbStore, local_queue};
    use crate::traits::{Before, Filed, Record, ScanPage, Stored, Topic};

    /// The embedded store, except that the first batch written takes 300 ms longer: the batch
    /// behind it, written at the same time, finishes first. Remembers the order writes finished.
    struct SlowFirst {
        inner: RedbStore,
        /// The first mention id of the slow batch.
        slow: String,
        finished: Mutex<Vec<String>>,
    }

    impl Store for SlowFirst {
        async fn write(&self, batch: &Arc<[Stored]>) -> Result<()> {
            let first = batch[0].id.clone();
            if first == self.slow {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            self.inner.write(batch).await?;
            self.finished.lock().expect("lock").push(first);
            Ok(())
        }
        async fn refile(&self, batch: &Arc<[Stored]>, old: &[Filed]) -> Result<()> {
            self.inner.refile(batch, old).await
        }
        async fn scan(&self, after: Option<&str>, limit: usize) -> Result<ScanPage> {
            self.inner.scan(after, limit).await
        }
        async fn get(&self, id: &str) -> Result<Option<Vec<u8>>> {
            self.inner.get(id).await
        }
        async fn delete(&self, ids: &[String]) -> Result<()> {
            self.inner.delete(ids).await
        }
        async fn recent(
            &self,
            topic: &str,
            limit: usize,
            before: Option<&Before>,
        ) -> Result<Vec<Vec<u8>>> {
            self.inner.recent(topic, limit, before).await
        }
        async fn series(
            &self,
            topic: &str,
            from: DateTime<Utc>,
            to: DateTime<Utc>,
        ) -> Result<crate::aggregate::Series> {
            self.inner.series(topic, from, to).await
        }
        async fn put_schema(&self, fingerprint: u64, avsc: &str) -> Result<()> {
            self.inner.put_schema(fingerprint, avsc).await
        }
        async fn schema(&self, fingerprint: u64) -> Result<Option<String>> {
            self.inner.schema(fingerprint).await
        }
    }

    /// The keys of the enriched records, in the order they were published.
    #[derive(Default)]
    struct Published(Mutex<Vec<String>>);

    impl Publisher for Published {
        async fn publish(&self, records: &[Record<'_>]) -> Result<()> {
            let mut keys = self.0.lock().expect("lock");
            for r in records.iter().filter(|r| r.topic == Topic::Enriched) {
                keys.push(String::from_utf8_lossy(r.key).into_owned());
            }
            Ok(())
        }
    }

    /// Hands out the batches it was given, in order, then ends.
    struct Scripted(std::collections::VecDeque<Vec<crate::traits::Delivery>>);

    struct NoCommits;

    impl crate::traits::Committer for NoCommits {
        fn commit(&self, _: i32, _: i64) -> Result<()> {
            Ok(())
        }
        fn flush(&self) -> Result<()> {
            Ok(())
        }
    }

    impl Consumer for Scripted {
        async fn poll(&mut self, _: usize, _: Duration) -> Result<Polled> {
            Ok(self.0.pop_front().map_or(Polled::Closed, Polled::Batch))
        }
        fn committer(&self) -> Box<dyn crate::traits::Committer> {
            Box::new(NoCommits)
        }
        fn backlog(&self) -> Option<u64> {
            None
        }
    }

    /// A deletion and an edit in the batch behind a slow one are not overtaken by the writes
    /// of that batch: the post stays deleted and the edit stays the version stored, although
    /// the batch ahead finishes writing last.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_shares_an_id_with_the_one_ahead_is_stored_after_it() {
        use crate::traits::Delivery;
        let dir = tempfile::tempdir().expect("tempdir");
        let source = Synthetic::new(SyntheticConfig::default());
        let (edited, deleted) = (source.mention(0), source.mention(1));
        let mut edit = edited.clone();
        edit.text = "the edited text, stored last".into();
        let store = Arc::new(SlowFirst {
            inner: RedbStore::open(dir.path()).expect("store"),
            slow: edited.id.clone(),
            finished: Mutex::default(),
        });
        let tombstone = Delivery {
            partition: 0,
            offset: 4,
            key: Some(deleted.id.clone().into_bytes()),
            payload: Vec::new(),
            tombstone: true,
            mention: None,
        };
        let consumer = Scripted(
            [
                vec![
                    Delivery::of_mention(&edited, 0, 0),
                    Delivery::of_mention(&deleted, 0, 1),
                ],
                vec![
                    Delivery::of_mention(&source.mention(2), 0, 2),
                    Delivery::of_mention(&edit, 0, 3),
                    tombstone,
                ],
            ]
            .into(),
        );
        let config = Config::load(None, std::iter::empty::<(String, String)>()).expect("defaults");
        let settings = Settings::from_config(&config, "raw", Default::default()).expect("settings");
        let cache = Arc::new(MemoryCache::new(1 << 20, Duration::from_secs(60)));
        run(
            consumer,
            Arc::new(Published::default()),
            store.clone(),
            cache,
            settings,
            Arc::new(Stats::default()),
            watch::channel(false).1,
        )
        .await
        .expect("the run ends");

        assert_eq!(store.finished.lock().expect("lock").len(), 2);
        let gone = store.get(&deleted.id).await.expect("get").is_none();
        assert!(gone, "the deletion was undone by the post it deleted");
        let record = store.get(&edited.id).await.expect("get").expect("stored");
        let json = crate::codec::Codec::default()
            .to_json(&*store, &record)
            .await
            .expect("json");
        let json: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(
            json["mention"]["text"],
            edit.text.as_str(),
            "the edit is the version stored"
        );
    }

    /// Two batches are written at once, and the second may finish first; they are still
    /// published and committed in the order they were polled (the local queue's committer
    /// fails the run if a commit goes backwards).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_written_at_once_are_published_and_committed_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = Synthetic::new(SyntheticConfig::default());
        let want: Vec<String> = (0..400).map(|i| source.mention(i).id).collect();
        let store = Arc::new(SlowFirst {
            inner: RedbStore::open(dir.path()).expect("store"),
            slow: want[0].clone(),
            finished: Mutex::default(),
        });
        let publisher = Arc::new(Published::default());
        let (producer, consumer) = local_queue(1_000);
        for i in 0..400 {
            let m = source.mention(i);
            let payload = serde_json::to_vec(&m).expect("json");
            producer
                .send(Some(m.id.into_bytes()), payload)
                .await
                .expect("send");
        }
        drop(producer); // the run ends once the queue is drained

        let config = Config::load(None, std::iter::empty::<(String, String)>()).expect("defaults");
        let mut settings =
            Settings::from_config(&config, "raw", Default::default()).expect("settings");
        settings.batch_size = 100;
        settings.linger = Duration::from_millis(1);
        let cache = Arc::new(MemoryCache::new(1 << 20, Duration::from_secs(60)));
        let shutdown = watch::channel(false).1;
        run(
            consumer,
            publisher.clone(),
            store.clone(),
            cache,
            settings,
            Arc::new(Stats::default()),
            shutdown,
        )
        .await
        .expect("the run drains and commits in order");

        let finished = store.finished.lock().expect("lock").clone();
        assert_eq!(finished.len(), 4, "four batches of 100: {finished:?}");
        assert_ne!(
            finished[0], want[0],
            "the second batch finished writing before the slow first one"
        );
        assert_eq!(
            *publisher.0.lock().expect("lock"),
            want,
            "published in the order polled"
        );
    }
}
