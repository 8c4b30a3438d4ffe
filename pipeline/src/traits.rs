//! The seams between the runtime and the services it runs on.
//!
//! Each trait has an embedded implementation (in-process queue, redb file, in-process cache) and a
//! distributed one (Kafka, ScyllaDB, Redis). The runtime is generic over them, so both modes run
//! the same code path; only construction differs.
//!
//! Contracts common to all: methods are called from async tasks and must not block the runtime's
//! threads (CPU or blocking I/O goes to `spawn_blocking`); every future is cancel-safe unless its
//! doc says otherwise.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use model::Source;

use crate::error::Result;

/// One message from the raw queue, with its position.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// A Kafka tombstone (null value): the source deleted the mention named by `key`.
    pub tombstone: bool,
    /// The mention itself, where an in-process queue carried it as its producer made it: the
    /// worker takes it as decoded (after [`model::Mention::check`]) and `payload` stays empty
    /// unless the mention is dead-lettered, when [`Delivery::take_payload`] makes its JSON.
    /// Saves the JSON round trip: 6.6% of the embedded pipeline's CPU (`backchannel run`).
    pub mention: Option<Box<model::Mention>>,
}

impl Delivery {
    /// A mention as the raw queue would carry it, keyed by its id.
    pub fn of_mention(m: &model::Mention, partition: i32, offset: i64) -> Delivery {
        Delivery {
            partition,
            offset,
            key: Some(m.id.as_bytes().to_vec()),
            // A Mention always serialises: plain strings, numbers and maps.
            payload: serde_json::to_vec(m).unwrap_or_default(),
            tombstone: false,
            mention: None,
        }
    }

    /// Takes the payload out: the bytes delivered, or the JSON of a mention carried in process.
    pub fn take_payload(&mut self) -> Vec<u8> {
        match self.mention.take() {
            // A Mention always serialises: plain strings, numbers and maps.
            Some(m) if self.payload.is_empty() => serde_json::to_vec(&m).unwrap_or_default(),
            _ => std::mem::take(&mut self.payload),
        }
    }

    /// What the delivery holds in memory, for the in-flight byte budget: its payload, or an
    /// estimate for a mention carried in process (its main strings and 256 bytes for the rest;
    /// `raw` and `extra` are not counted: the synthetic generator, the one in-process producer,
    /// leaves them empty), plus a fixed overhead.
    pub fn held_bytes(&self) -> usize {
        let mention = self.mention.as_deref().map_or(0, |m| {
            std::mem::size_of::<model::Mention>()
                + m.id.len()
                + m.text.len()
                + m.url.as_ref().map_or(0, String::len)
                + m.author.id.len()
                + m.author.handle.len()
                + 256
        });
        self.payload.len() + self.key.as_ref().map_or(0, Vec::len) + mention + 64
    }
}

/// What a poll returned.
#[derive(Debug)]
pub enum Polled {
    /// Zero or more deliveries, in offset order within each partition.
    Batch(Vec<Delivery>),
    /// The source has ended and nothing more will come (embedded mode with a finite source).
    Closed,
}

/// The consuming side of the raw queue.
pub trait Consumer: Send + 'static {
    /// Waits until up to `max` deliveries are ready or `linger` has passed since the first one.
    /// May return an empty batch. Must not block the async runtime.
    fn poll(&mut self, max: usize, linger: Duration)
    -> impl Future<Output = Result<Polled>> + Send;

    /// A handle that commits positions; called by the stage that knows a message is durable.
    fn committer(&self) -> Box<dyn Committer>;

    /// Messages waiting to be consumed (queue depth or consumer lag), if known.
    fn backlog(&self) -> Option<u64>;

    /// Called every [`IDLE_EVERY`] while the pipeline is backed up and cannot take another
    /// batch (a store outage, the byte budget spent). A consumer in a group stops fetching and
    /// keeps its membership here, so an outage longer than the group's poll interval does not
    /// cost a rebalance; what it receives meanwhile it keeps for the next [`Consumer::poll`],
    /// which resumes fetching. The in-process queue needs nothing.
    fn idle(&mut self) -> impl Future<Output = ()> + Send {
        std::future::ready(())
    }
}

/// How often a backed-up pipeline calls [`Consumer::idle`]: well above the waits of ordinary
/// backpressure (so a busy worker does not pause and refetch all the time), well below the
/// shortest poll interval a group allows (`kafka.max_poll_interval` ≥ 10 s).
pub const IDLE_EVERY: Duration = Duration::from_secs(4);

/// Commits consumed positions.
pub trait Committer: Send + Sync + 'static {
    /// Records that every message of `partition` up to and including `offset` has been durably
    /// stored and published. Only called with offsets in increasing order per partition. Must not
    /// block; the implementation may batch the actual commit.
    fn commit(&self, partition: i32, offset: i64) -> Result<()>;
    /// Flushes pending commits synchronously (shutdown and rebalance). May block briefly.
    fn flush(&self) -> Result<()>;
}

/// Where a published record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Enriched mentions for downstream consumers.
    Enriched,
    /// Messages that could not be processed, with the reason in headers.
    DeadLetter,
    /// Alert events (JSON of [`crate::alerts::Alert`]), keyed by alert id.
    Alerts,
}

/// A record to publish.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub topic: Topic,
    pub key: &'a [u8],
    /// `None` publishes a tombstone (a null value: "this key was deleted").
    pub payload: Option<&'a [u8]>,
    pub headers: &'a [(&'a str, &'a [u8])],
}

/// The producing side: enriched mentions and dead letters.
pub trait Publisher: Send + Sync + 'static {
    /// Publishes a batch; resolves once every record is acknowledged (for Kafka: acks=all).
    fn publish(&self, records: &[Record<'_>]) -> impl Future<Output = Result<()>> + Send;
}

/// An enriched mention ready to store, with the keys the store and cache index it by.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: String,
    pub source: Source,
    pub created_at: DateTime<Utc>,
    pub collected_at: DateTime<Utc>,
    /// Whether its source marked this version an edit ([`model::Mention::edited_at`]): a cache
    /// may hold the version before it, which the worker then drops.
    pub edited: bool,
    /// VADER compound sentiment, when the catalogue computed one.
    pub sentiment: Option<f64>,
    /// Hashtags as written (without `#`), for per-minute aggregates.
    pub hashtags: Vec<String>,
    /// Version of the field registry that produced the record.
    pub fields_version: &'static str,
    /// Topics (signal ids, brands, hashtags…) this mention is filed under for client queries.
    pub topics: Vec<String>,
    /// The compact record (`transforms::avro`): what the store and the cache keep.
    pub record: Vec<u8>,
    /// The EnrichedMention JSON, when the enriched topic is configured to carry JSON.
    pub json: Option<Vec<u8>>,
}

impl Stored {
    /// Whether the mention matched at least one signal (it is filed under a `signal:` topic).
    pub fn matched(&self) -> bool {
        self.topics
            .iter()
            .any(|t| crate::runtime::is_signal_topic(t))
    }
}

/// What an earlier write filed a mention under, read back from its stored record: what a rewrite
/// of it ([`Store::refile`]) must take back.
#[derive(Debug, Clone, PartialEq)]
pub struct Filed {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub topics: Vec<String>,
    pub sentiment: Option<f64>,
    pub hashtags: Vec<String>,
}

/// One page of a scan over every stored mention ([`Store::scan`]).
#[derive(Debug, Default)]
pub struct ScanPage {
    /// Ids and compact records, in the store's scan order.
    pub rows: Vec<(String, Vec<u8>)>,
    /// Where the next page starts (opaque); `None` once the scan has passed the last mention.
    pub next: Option<String>,
    /// How much of the store this page's end has passed, from 0 to 1, where the store can say
    /// (a token ring can, and numbered segments can).
    pub passed: Option<f64>,
    /// How many mentions the store holds, where that is cheap to know.
    pub total: Option<u64>,
}

/// A position in a topic's newest-first order, to page from: the next page holds the mentions
/// after it (older, or as old and after it by id in the store's order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Before {
    /// The creation time of the last mention of the previous page, in milliseconds.
    pub created_ms: i64,
    /// Its id.
    pub id: String,
}

impl Before {
    /// The opaque form clients pass back: `<millis>.<id>`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_ms, self.id)
    }

    /// Reads [`Before::encode`]'s form. The time must lie in the years 1 to 9999 (what RFC 3339
    /// can write): a store steps back minute by minute from it, and a time near the end of
    /// what a timestamp holds would overflow there.
    pub fn parse(s: &str) -> Option<Before> {
        /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z.
        const TIMES: std::ops::RangeInclusive<i64> = -62_135_596_800_000..=253_402_300_799_999;
        let (ms, id) = s.split_once('.')?;
        let created_ms = ms.parse().ok().filter(|ms| TIMES.contains(ms))?;
        Some(Before {
            created_ms,
            id: id.to_owned(),
        })
    }
}

/// Durable storage of enriched mentions.
pub trait Store: Send + Sync + 'static {
    /// Upserts the batch by id, idempotently (writing the same mention twice leaves one row), and
    /// resolves only once it is durable. Errors are `External` (retry) unless the data is bad.
    /// The batch is shared, so a store that writes on another thread need not copy it.
    fn write(&self, batch: &Arc<[Stored]>) -> impl Future<Output = Result<()>> + Send;

    /// Rewrites mentions that are stored already (re-enriched by `backchannel reprocess`, or
    /// edited at their source: [`Stored::edited`]):
    /// as [`Store::write`], and also takes `old[i]` — what the stored version of `batch[i]`
    /// was filed under — off the topics the new version no longer has and out of the
    /// aggregates, so both end as if only the new version had ever been written. A mention no
    /// longer stored (deleted or expired since it was read) is skipped; a rewrite keeps the
    /// row's remaining time to live rather than starting a new one.
    fn refile(
        &self,
        batch: &Arc<[Stored]>,
        old: &[Filed],
    ) -> impl Future<Output = Result<()>> + Send;

    /// A page of at most `limit` stored mentions after `after` (a [`ScanPage::next`]; `None`
    /// starts at the beginning), in an order that mentions written meanwhile do not disturb.
    fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<ScanPage>> + Send;

    /// The stored compact record of `id` (read it with [`crate::codec::Codec`]).
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;

    /// Deletes mentions by id (the source deleted them). Idempotent. Their per-topic index rows
    /// and aggregates stay: they record that something was posted, not what.
    fn delete(&self, ids: &[String]) -> impl Future<Output = Result<()>> + Send;

    /// The compact records of the newest mentions filed under `topic`, newest first, at most
    /// `limit`; with `before`, those that come after it in that order (a page after a page).
    fn recent(
        &self,
        topic: &str,
        limit: usize,
        before: Option<&Before>,
    ) -> impl Future<Output = Result<Vec<Vec<u8>>>> + Send;

    /// The per-minute aggregates of `topic` for the minutes in `[from, to)`, oldest first; minutes
    /// without mentions are absent. Embedded, only `signal:` topics are aggregated (counted as
    /// they are written); distributed, every topic (by the rollup, so the last few seconds are
    /// not in yet).
    fn series(
        &self,
        topic: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<crate::aggregate::Series>> + Send;

    /// Keeps the schema (`.avsc` JSON) of records written with `fingerprint`, so that readers of
    /// other versions can decode them. Idempotent.
    fn put_schema(&self, fingerprint: u64, avsc: &str) -> impl Future<Output = Result<()>> + Send;

    /// The schema kept for `fingerprint`, if any.
    fn schema(&self, fingerprint: u64) -> impl Future<Output = Result<Option<String>>> + Send;
}

/// How long a near-duplicate cluster's band keys stay claimed unless configured
/// (`pipeline.cluster_window`).
pub const DEFAULT_CLUSTER_WINDOW: Duration = Duration::from_secs(600);

/// A mention to place in its near-duplicate cluster ([`Cache::clusters`]).
#[derive(Debug, Clone, Copy)]
pub struct ClusterProbe<'a> {
    pub id: &'a str,
    pub keys: [u64; transforms::dedup::cluster::BANDS],
}

/// A best-effort, read-through cache in front of the store for client reads, and the index of
/// near-duplicate clusters the workers share.
///
/// Records are cached when a reader fetches them ([`Cache::fill`]), never as they are written:
/// of the hundreds of thousands of mentions stored a second, clients fetch few by id (the live
/// push and the pages carry the records), so caching every write would cost each mention a cache
/// write and the cache its memory for records nobody reads.
///
/// Contract: a cache is an optimisation. Every call is bounded in time; a slow or failed cache
/// never fails or stalls a batch (implementations count errors and give up, and may open a
/// circuit breaker). Implementations bound their memory by bytes (Redis: its `maxmemory`).
/// How long a deleted mention is kept out of the cache ([`Cache::deleted`]): longer than a store
/// read that began before the deletion can take (`scylla.request_timeout` is 5 s by default).
pub const DELETED_HOLD: Duration = Duration::from_secs(60);

pub trait Cache: Send + Sync + 'static {
    /// Caches one record a reader fetched from the store (best effort).
    fn fill(&self, id: &str, record: &[u8]) -> impl Future<Output = ()> + Send;

    /// Drops rewritten mentions' earlier versions from the cache (best effort, bounded in time).
    fn forget(&self, ids: &[String]) -> impl Future<Output = ()> + Send;

    /// Drops mentions their sources deleted, and keeps each out of the cache for a while after
    /// ([`DELETED_HOLD`] in Redis, the entries' TTL in process): a reader that fetched one from
    /// the store just before the deletion cannot cache it again when its read ends. Best effort,
    /// bounded in time; a cache that could not be reached tries again at its next call.
    fn deleted(&self, ids: &[String]) -> impl Future<Output = ()> + Send;

    /// The cached compact record of `id`, if present. `Err` only reports that the cache could not answer.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;

    /// The near-duplicate cluster of each mention of a batch, in order: `probes[i]` is a
    /// mention's id and the LSH band keys of its text (`transforms::dedup::cluster::band_keys`).
    /// A mention's cluster is the id of the first mention, within the cluster window, that
    /// claimed any of its band keys, or its own id when none did; it then claims the keys it
    /// found free, so later mentions of the batch and of other workers sharing this index see it.
    /// Replaying a mention gives the same answer while its claims live.
    ///
    /// Best effort like every call: an entry is `None` when the index could not answer in time;
    /// never fails or stalls the batch. The answer has one entry per probe.
    fn clusters(
        &self,
        probes: &[ClusterProbe<'_>],
    ) -> impl Future<Output = Vec<Option<Arc<str>>>> + Send;
}
