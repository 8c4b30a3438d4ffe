use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use chrono::{DateTime, Utc};

use crate::aggregate::MinuteAggregate;
use crate::error::{BoxError, Error, Result};
use crate::traits::{Before, Filed, ScanPage, Store, Stored};

/// (write time millis, segment number, chunk) -> a chunk of a segment: the mentions of one write,
/// compressed together ([`segment`]). Retention deletes whole segments, oldest first.
const SEGMENTS: TableDefinition<'_, (i64, u64, u32), &[u8]> = TableDefinition::new("segments");
/// id -> (write time millis, segment number): where a mention is.
const IDS: TableDefinition<'_, &str, (i64, u64)> = TableDefinition::new("ids");
/// (topic, created_at second, write time millis, id) -> created_at millis: each topic's mentions
/// by the second they were created, and within a second in the order they were written, for
/// "newest first" reads ([`TopicRow`]).
const TOPIC_INDEX: TableDefinition<'_, (&str, i64, i64, &str), i64> =
    TableDefinition::new("topic_index");
/// (tenant, signal id) -> Signal JSON.
const SIGNALS: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("signals");
/// Tenant name -> [`crate::tenants::TenantRecord`] JSON.
const TENANTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("tenants");
/// API key id -> [`crate::tenants::KeyRecord`] JSON (the secret's hash, never the key).
const API_KEYS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("api_keys");
/// Small named counters ("signals_revision", "live_bytes").
/// Alerts by (tenant, signal, incident start in ms, incident id): the JSON of its latest event.
const ALERTS: TableDefinition<'_, (&str, &str, i64, &str), &[u8]> = TableDefinition::new("alerts");
/// Saved alert detectors by (tenant, signal), and tenants' webhooks by tenant: JSON.
const DETECTORS: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("alert_detectors");
const WEBHOOKS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("webhooks");
/// Signals' own alert settings by (tenant, signal): JSON.
const ALERT_SETTINGS: TableDefinition<'_, (&str, &str), &[u8]> =
    TableDefinition::new("alert_settings");
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
/// Schema fingerprint -> `.avsc` of the compact records written with it.
const SCHEMAS: TableDefinition<'_, u64, &str> = TableDefinition::new("schemas");
/// (signal topic, minute millis) -> [`MinuteAggregate`] JSON: the series a client charts,
/// counted as mentions are first written (a redelivery is not counted again).
const TOPIC_STATS: TableDefinition<'_, (&str, i64), &[u8]> = TableDefinition::new("topic_stats");
/// (minute millis, signal topic) -> () : the order in which retention deletes stats.
const STATS_BY_MINUTE: TableDefinition<'_, (i64, &str), ()> =
    TableDefinition::new("stats_by_minute");

/// The key of a mention's row under a topic: the second it was created in, then the time the
/// segment holding it was written, then its id (see [`TOPIC_INDEX`]).
///
/// Mentions arrive out of creation order: a few seconds late from a stream, minutes from a
/// polled source. Keyed by creation time alone, as before stop 34, each batch's rows landed at
/// scattered places in the last seconds of every topic, and eviction took them from scattered
/// places at its oldest end; redb copies every page it changes, so that was about a page per row.
/// Within a second the rows now go in write order: a batch appends at the end of the few seconds
/// it falls in, and eviction removes from their beginnings. A read sorts a second's rows by their
/// creation time (the row's value), so "newest first" is as exact as it was.
///
/// `benches/overhead --default-store` (a store full at its default 10 GiB, 2-core Xeon VM): 39.8-
/// 40.7 µs of CPU a mention against 44.2-49.7 µs keyed by creation time, 37-38k mentions/s
/// against 21-27k. Each row is 16 bytes longer (the write time, and the creation time as the
/// value): 32-36 B a mention on disk.
type TopicRow<'a> = (&'a str, i64, i64, &'a str);

/// The creation times one key of the topic index spans.
const TOPIC_GRANULE_MS: i64 = 1_000;

fn topic_row<'a>(topic: &'a str, created_ms: i64, written_ms: i64, id: &'a str) -> TopicRow<'a> {
    (
        topic,
        created_ms.div_euclid(TOPIC_GRANULE_MS),
        written_ms,
        id,
    )
}

/// Hashtags kept per stored minute, the most frequent first: twice what a series shows
/// ([`crate::aggregate::TOP_HASHTAGS`]), since a minute's counts are merged batch by batch and a
/// hashtag dropped from a minute restarts from zero if it comes back in a later batch of it.
const STATS_HASHTAGS: usize = 2 * crate::aggregate::TOP_HASHTAGS;

/// What a stored minute costs besides its value: its key in both tables.
fn stat_footprint(topic: &str, value_len: usize) -> u64 {
    (2 * (topic.len() + 8) + value_len) as u64
}

/// How the embedded store behaves.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Group commit: fsync at most this often (zero: every batch).
    pub sync_interval: Duration,
    /// redb's page cache.
    pub cache_bytes: u64,
    /// Mentions stored longer ago than this are deleted by [`RedbStore::sweep`].
    pub retention: Option<Duration>,
    /// The file's size limit: [`RedbStore::sweep`] deletes the oldest mentions while the live
    /// data exceeds [`LIVE_SHARE`] of it, and the oldest stored minutes while they exceed
    /// [`STATS_SHARE`] of that.
    pub max_bytes: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            sync_interval: Duration::ZERO,
            cache_bytes: 64 << 20,
            retention: None,
            max_bytes: None,
        }
    }
}

/// The share of `max_bytes` that live data may fill. redb's B-tree pages are partly filled and
/// its copy-on-write commits need free pages beside the live ones, so a file holding N bytes of
/// keys and values takes more than N on disk (1.25–1.3× measured with segments, where rows
/// keyed by id took 2.7×), and redb grows its file in steps, doubling below 4 GiB and then a
/// 4 GiB region at a time. At this share the file settles under the limit
/// (`retention_keeps_the_file_under_its_size_limit` checks it); the file can pass it by part
/// of a step.
pub const LIVE_SHARE: f64 = 0.4;

/// The share of the live-data budget that the signals' stored minutes may take. They are kept
/// for `retention` even where the size limit drops the mentions, but not past this: a store
/// with many busy signals drops its oldest minutes first, and the mentions keep the rest.
pub const STATS_SHARE: f64 = 0.5;

/// Longest topic indexed (a source, a hashtag or a signal id is far shorter).
const MAX_TOPIC_BYTES: usize = 1024;

/// Mentions deleted per retention transaction, so a sweep never holds the writer for long.
const SWEEP_CHUNK: usize = 2_000;

/// The embedded store: one redb file.
///
/// Writes are group-committed: a batch's transaction is fsynced when `sync_interval` has passed
/// since the last fsync, else it commits without one (redb then persists it with the next synced
/// commit). Per-batch fsyncs cost more than half of the embedded pipeline's throughput, and the
/// embedded queue in front of the store is in memory anyway, so a crash already loses what was
/// queued; `sync_interval = "0s"` restores a durable commit per batch. [`RedbStore::sync`] makes
/// everything durable (at shutdown).
///
/// Mentions are kept in segments ([`segment`]): those of one write, compressed together and
/// stored in time order, with an id index and a per-topic time index beside them. ~0.9 KB a
/// mention on disk, all tables counted (`cargo run --release -p benches --bin sizes`).
///
/// Disk stays bounded: [`RedbStore::sweep`] deletes the segments past the retention time, and the
/// oldest ones while the live data is over its share of `max_bytes`; freed pages are reused by
/// later writes, so the file stops growing.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    options: StoreOptions,
    last_sync: Arc<std::sync::Mutex<std::time::Instant>>,
    /// Alert shard leases: their owner and when they lapse. In memory, since only this process
    /// can open the file; they still keep two engines of one process apart.
    pub(super) leases: Arc<std::sync::Mutex<Leases>>,
}

/// Per alert shard, its lease holder and when its lease lapses.
pub(super) type Leases = std::collections::HashMap<i32, (String, std::time::Instant)>;

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedbStore")
    }
}

fn err(e: impl Into<BoxError>) -> Error {
    Error::store("", e)
}

/// Where a mention is: its segment's (write time millis, segment number).
type At = (i64, u64);

/// The bytes a mention's index rows account for in the live-data budget: its id row and its
/// topic rows, keys and values (its record is in its segment's bytes; the B-trees' own overhead
/// is in [`LIVE_SHARE`]).
fn indexed(id: &str, topics: &[&str]) -> u64 {
    (id.len()
        + 16
        + topics
            .iter()
            .map(|t| t.len() + 24 + id.len())
            .sum::<usize>()) as u64
}

/// The topics a mention is indexed under: a topic too long for a segment is not indexed at all.
fn indexable(s: &Stored) -> Vec<&str> {
    s.topics
        .iter()
        .map(String::as_str)
        .filter(|t| t.len() <= MAX_TOPIC_BYTES)
        .take(usize::from(u16::MAX))
        .collect()
}

fn slot_of(s: &Stored) -> segment::Slot<'_> {
    segment::Slot {
        id: &s.id,
        created_ms: s.created_at.timestamp_millis(),
        topics: indexable(s),
        record: &s.record,
    }
}

/// The segment body and its stored bytes (chunks and their keys), if it exists.
fn load_segment(
    table: &impl ReadableTable<(i64, u64, u32), &'static [u8]>,
    (ms, seq): At,
) -> Result<Option<(Vec<u8>, u64)>> {
    let mut packed = Vec::new();
    let mut chunks = 0u64;
    for row in table
        .range((ms, seq, 0)..=(ms, seq, u32::MAX))
        .map_err(err)?
    {
        let (_, chunk) = row.map_err(err)?;
        packed.extend_from_slice(chunk.value());
        chunks += 1;
    }
    if chunks == 0 {
        return Ok(None);
    }
    let bytes = packed.len() as u64 + 20 * chunks;
    Ok(Some((segment::decompress(&packed)?, bytes)))
}

/// Segment bodies one read keeps decompressed, newest use last: mentions written together are
/// often read together, and a read of many mentions from as many segments holds a few bodies,
/// not all of them.
const BODIES_KEPT: usize = 4;

/// A mention's record in the segment at `at`, through `bodies` (see [`BODIES_KEPT`]).
fn record_in(
    table: &impl ReadableTable<(i64, u64, u32), &'static [u8]>,
    bodies: &mut Vec<(At, Vec<u8>)>,
    at: At,
    id: &str,
) -> Result<Vec<u8>> {
    match bodies.iter().position(|(a, _)| *a == at) {
        Some(i) => {
            let hit = bodies.remove(i);
            bodies.push(hit);
        }
        None => {
            let (body, _) = load_segment(table, at)?.ok_or_else(|| Error::Store {
                what: format!("stored mention {id}: its segment is missing"),
                source: None,
            })?;
            if bodies.len() >= BODIES_KEPT {
                bodies.remove(0);
            }
            bodies.push((at, body));
        }
    }
    let body = bodies.last().map_or(&[][..], |(_, b)| b.as_slice());
    segment::find(body, id)?
        .map(<[u8]>::to_vec)
        .ok_or_else(|| Error::Store {
            what: format!("stored mention {id}: not in its segment"),
            source: None,
        })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What the stored minutes may take of a live-data budget.
fn stats_cap(budget: u64) -> u64 {
    (budget as f64 * STATS_SHARE) as u64
}

impl RedbStore {
    /// Opens (or creates) `dir/backchannel.redb`, fsyncing every write, without retention.
    pub fn open(dir: &Path) -> Result<RedbStore> {
        RedbStore::open_with(dir, StoreOptions::default())
    }

    /// Opens (or creates) `dir/backchannel.redb`.
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<RedbStore> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("backchannel.redb");
        let db = Database::builder()
            .set_cache_size(usize::try_from(options.cache_bytes).unwrap_or(usize::MAX))
            .create(&path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => Error::StoreInUse {
                    path: path.clone(),
                    source: e.into(),
                },
                e => err(e),
            })?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(SEGMENTS).map_err(err)?;
        txn.open_table(IDS).map_err(err)?;
        txn.open_table(TOPIC_INDEX).map_err(err)?;
        txn.open_table(SIGNALS).map_err(err)?;
        txn.open_table(META).map_err(err)?;
        txn.open_table(SCHEMAS).map_err(err)?;
        txn.open_table(TENANTS).map_err(err)?;
        txn.open_table(API_KEYS).map_err(err)?;
        txn.open_table(TOPIC_STATS).map_err(err)?;
        txn.open_table(STATS_BY_MINUTE).map_err(err)?;
        txn.open_table(ALERTS).map_err(err)?;
        txn.open_table(DETECTORS).map_err(err)?;
        txn.open_table(WEBHOOKS).map_err(err)?;
        txn.open_table(ALERT_SETTINGS).map_err(err)?;
        txn.commit().map_err(err)?;
        let moved = migrate::from_rows(&db)?;
        if moved > 0 {
            tracing::info!(
                mentions = moved,
                "moved the mentions of an earlier store layout into segments"
            );
        }
        let rekeyed = migrate::topic_rows(&db)?;
        if rekeyed > 0 {
            tracing::info!(
                rows = rekeyed,
                "moved the topic index of an earlier store layout to its new keys"
            );
        }
        migrate::stats_bytes(&db)?;
        Ok(RedbStore {
            db: Arc::new(db),
            options,
            last_sync: Arc::new(std::sync::Mutex::new(std::time::Instant::now())),
            leases: Arc::default(),
        })
    }

    /// Waits (up to `limit`) until no other handle to this store's database is alive: no
    /// clone of it, and no blocking operation a cancelled task left running. Once the caller
    /// then drops its handle, the file is closed and may be opened again. False on timeout.
    pub async fn until_sole_handle(self: &Arc<Self>, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while Arc::strong_count(self) > 1 || Arc::strong_count(&self.db) > 1 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        true
    }

    /// Makes every committed write durable (an empty fsynced commit).
    pub fn sync(&self) -> Result<()> {
        let txn = self.db.begin_write().map_err(err)?;
        txn.commit().map_err(err)?;
        *self.last_sync.lock().unwrap_or_else(|p| p.into_inner()) = std::time::Instant::now();
        Ok(())
    }

    /// Number of stored mentions (blocking; for summaries and tests).
    pub fn count(&self) -> Result<u64> {
        let txn = self.db.begin_read().map_err(err)?;
        txn.open_table(IDS).map_err(err)?.len().map_err(err)
    }

    /// Bytes of live keys and values (blocking; what retention's size limit counts).
    pub fn live_bytes(&self) -> Result<u64> {
        let txn = self.db.begin_read().map_err(err)?;
        let meta = txn.open_table(META).map_err(err)?;
        Ok(meta
            .get("live_bytes")
            .map_err(err)?
            .map_or(0, |v| v.value()))
    }

    fn begin_grouped(&self) -> Result<redb::WriteTransaction> {
        let mut txn = self.db.begin_write().map_err(err)?;
        // Group commit: fsync at most once per `sync_interval` (0 = every batch).
        let mut last = self.last_sync.lock().unwrap_or_else(|p| p.into_inner());
        let interval = self.options.sync_interval;
        if !interval.is_zero() && last.elapsed() < interval {
            txn.set_durability(redb::Durability::None).map_err(err)?;
        } else {
            *last = std::time::Instant::now();
        }
        Ok(txn)
    }

    /// Writes `batch`; with `old` (a [`Store::refile`]), rewrites mentions already stored: each
    /// stays in its segment (so retention counts from the first write), one no longer stored is
    /// skipped, and the aggregates lose what `old` counted and gain the new version.
    ///
    /// New mentions go into new segments, in id order. A mention stored before (a redelivery)
    /// leaves its old segment, which is rewritten without it.
    fn write_blocking(&self, batch: &[Stored], old: Option<&[Filed]>) -> Result<()> {
        let txn = self.begin_grouped()?;
        let mut evicted = 0;
        {
            let mut t = Tables::open(&txn)?;
            let written_ms = t.write_time()?;
            // This batch's segments are the ones from here on.
            let first = (written_ms, t.segments_so_far()?);
            let mut live = t.live()?;
            let mut stats: std::collections::HashMap<(&str, i64), MinuteAggregate> =
                Default::default();
            // In id order, the last of a mention repeated within the batch kept.
            let mut order: Vec<usize> = (0..batch.len()).collect();
            order.sort_by(|&a, &b| batch[a].id.cmp(&batch[b].id));
            order.dedup_by(|later, earlier| {
                let same = batch[*later].id == batch[*earlier].id;
                if same {
                    *earlier = *later;
                }
                same
            });
            // What changes in segments already stored: per segment, the mentions leaving it
            // (None) or rewritten in it.
            let mut edits: std::collections::BTreeMap<At, Changes<'_>> = Default::default();
            let mut fresh = Vec::new();
            for i in order {
                let s = &batch[i];
                let earlier = old.and_then(|o| o.get(i));
                let at = t.ids.get(s.id.as_str()).map_err(err)?.map(|v| v.value());
                match (earlier, at) {
                    // Deleted or expired since it was read: not brought back.
                    (Some(_), None) => continue,
                    (Some(_), Some(at)) => {
                        edits.entry(at).or_default().insert(&s.id, Some(s));
                    }
                    (None, Some(at)) => {
                        edits.entry(at).or_default().insert(&s.id, None);
                        fresh.push(s);
                    }
                    (None, None) => fresh.push(s),
                }
                if let Some(f) = earlier {
                    let ms = f.created_at.timestamp_millis();
                    let minute = ms - ms.rem_euclid(60_000);
                    for topic in f.topics.iter().filter(|t| is_charted(t)) {
                        stats
                            .entry((topic.as_str(), minute))
                            .or_default()
                            .remove(f.sentiment, &f.hashtags);
                    }
                }
                // A redelivery is not counted again.
                if at.is_none() || earlier.is_some() {
                    let ms = s.created_at.timestamp_millis();
                    let minute = ms - ms.rem_euclid(60_000);
                    for topic in s.topics.iter().filter(|t| is_charted(t)) {
                        stats
                            .entry((topic.as_str(), minute))
                            .or_default()
                            .add(s.sentiment, &s.hashtags);
                    }
                }
            }
            for (at, changes) in &edits {
                t.edit_segment(*at, changes, &mut live)?;
            }
            let mut by_topic: Vec<(TopicRow<'_>, i64)> = Vec::new();
            let mut body = Vec::new();
            let mut members: Vec<&Stored> = Vec::new();
            for (k, s) in fresh.iter().enumerate() {
                let slot = slot_of(s);
                segment::push(&mut body, &slot);
                live += indexed(&s.id, &slot.topics);
                by_topic.extend(slot.topics.iter().map(|&t| {
                    (
                        topic_row(t, slot.created_ms, written_ms, &s.id),
                        slot.created_ms,
                    )
                }));
                members.push(s);
                if body.len() >= segment::RAW_TARGET || k + 1 == fresh.len() {
                    let at = (written_ms, t.next_segment()?);
                    live += t.put_segment(at, &body)?;
                    for m in members.drain(..) {
                        t.ids.insert(m.id.as_str(), at).map_err(err)?;
                    }
                    body.clear();
                }
            }
            by_topic.sort_unstable();
            for (row, created_ms) in by_topic {
                t.by_topic.insert(row, created_ms).map_err(err)?;
            }
            t.add_stats(stats, &mut live)?;
            // Keep the size budget as we go: the oldest make room in the same commit, so the
            // file never holds more than a batch beyond it, whatever the write rate. Minutes
            // first, down to their share; then mentions, never this batch's own: a write that
            // returned Ok has its mentions stored.
            if let Some(budget) = self.budget() {
                t.drop_stats(None, Some(stats_cap(budget)), usize::MAX, &mut live)?;
                if live > budget {
                    evicted = t.evict(&mut live, None, Some(budget), usize::MAX, first)?;
                }
            }
            t.meta.insert("live_bytes", live).map_err(err)?;
        }
        txn.commit().map_err(err)?;
        if evicted > 0 {
            crate::telemetry::expired(evicted as u64);
        }
        Ok(())
    }

    /// The live-data budget that `max_bytes` allows.
    fn budget(&self) -> Option<u64> {
        self.options
            .max_bytes
            .map(|b| (b as f64 * LIVE_SHARE) as u64)
    }

    /// Deletes the signals' stored minutes past the retention time or over their share of the
    /// budget ([`STATS_SHARE`]), then mentions past the retention time and the oldest while the
    /// live data is over its share of `max_bytes`, in transactions of a few thousand. Returns
    /// how many mentions it deleted. Blocking; run it on a blocking thread. (The writer also
    /// keeps the size budget batch by batch; this catches up on age.)
    pub fn sweep(&self) -> Result<u64> {
        let cutoff = self
            .options
            .retention
            .map(|r| now_ms().saturating_sub(i64::try_from(r.as_millis()).unwrap_or(i64::MAX)));
        let mut deleted = 0;
        loop {
            let txn = self.begin_grouped()?;
            let (n, stale) = {
                let mut t = Tables::open(&txn)?;
                let mut live = t.live()?;
                // Stored minutes outlive the mentions a size limit drops, as the distributed
                // store's stats do, up to their share of the budget; their bytes count against
                // it, so mentions make room for them.
                let stale =
                    t.drop_stats(cutoff, self.budget().map(stats_cap), SWEEP_CHUNK, &mut live)?;
                let n = t.evict(
                    &mut live,
                    cutoff,
                    self.budget(),
                    SWEEP_CHUNK,
                    (i64::MAX, u64::MAX),
                )?;
                t.meta.insert("live_bytes", live).map_err(err)?;
                (n, stale)
            };
            txn.commit().map_err(err)?;
            deleted += n as u64;
            if n < SWEEP_CHUNK && stale < SWEEP_CHUNK {
                return Ok(deleted);
            }
        }
    }

    /// Runs [`RedbStore::sweep`] every `every` until the task is aborted.
    pub fn spawn_retention(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let store = this.clone();
                // The sweep and the size read both block: one blocking task for the two.
                let swept = tokio::task::spawn_blocking(move || {
                    let swept = store.sweep();
                    if let Ok(live) = store.live_bytes() {
                        crate::telemetry::store_size(live, store.budget());
                    }
                    swept
                });
                match swept.await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => crate::telemetry::expired(n),
                    Ok(Err(e)) => tracing::warn!(error = %e, "retention sweep failed"),
                    Err(e) => tracing::warn!(error = %e, "retention sweep panicked"),
                }
            }
        })
    }
}

/// Changes to one stored segment, by mention id: leaving it (None) or rewritten in it.
type Changes<'a> = std::collections::HashMap<&'a str, Option<&'a Stored>>;

/// The tables a write or a sweep changes, open in one transaction.
struct Tables<'t> {
    segments: redb::Table<'t, (i64, u64, u32), &'static [u8]>,
    ids: redb::Table<'t, &'static str, At>,
    by_topic: redb::Table<'t, TopicRow<'static>, i64>,
    meta: redb::Table<'t, &'static str, u64>,
    stats: redb::Table<'t, (&'static str, i64), &'static [u8]>,
    stats_by_minute: redb::Table<'t, (i64, &'static str), ()>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t redb::WriteTransaction) -> Result<Tables<'t>> {
        Ok(Tables {
            segments: txn.open_table(SEGMENTS).map_err(err)?,
            ids: txn.open_table(IDS).map_err(err)?,
            by_topic: txn.open_table(TOPIC_INDEX).map_err(err)?,
            meta: txn.open_table(META).map_err(err)?,
            stats: txn.open_table(TOPIC_STATS).map_err(err)?,
            stats_by_minute: txn.open_table(STATS_BY_MINUTE).map_err(err)?,
        })
    }

    /// The write time of a batch, in milliseconds: the clock, but never before the last
    /// batch's (kept in `meta`). Segments are ordered, and evicted, by it; a clock stepped back
    /// must not file new mentions before old ones.
    fn write_time(&mut self) -> Result<i64> {
        let kept = self
            .meta
            .get("last_write_ms")
            .map_err(err)?
            .map(|v| v.value() as i64);
        // A store from before the count: its newest segment's time.
        let last = match kept {
            Some(ms) => ms,
            None => self
                .segments
                .last()
                .map_err(err)?
                .map_or(i64::MIN, |(k, _)| k.value().0),
        };
        let ms = now_ms().max(last);
        self.meta.insert("last_write_ms", ms as u64).map_err(err)?;
        Ok(ms)
    }

    /// Bytes the stored minutes take (their share of `live`).
    fn stats_bytes(&self) -> Result<u64> {
        self.counter("stats_bytes")
    }

    /// How many segment numbers were handed out: the next one.
    fn segments_so_far(&self) -> Result<u64> {
        self.counter("segments")
    }

    /// A count kept in `meta` (0 before the first write of it).
    fn counter(&self, name: &str) -> Result<u64> {
        Ok(self.meta.get(name).map_err(err)?.map_or(0, |v| v.value()))
    }

    /// The next segment number (counted in `meta`, so numbers are never reused).
    fn next_segment(&mut self) -> Result<u64> {
        let n = self.segments_so_far()?;
        self.meta.insert("segments", n + 1).map_err(err)?;
        Ok(n)
    }

    /// Stores a segment's body at `at` in chunks of a page each; returns the bytes stored.
    fn put_segment(&mut self, (ms, seq): At, body: &[u8]) -> Result<u64> {
        let packed = segment::compress(body)?;
        let mut chunks = 0u32;
        for chunk in packed.chunks(segment::CHUNK) {
            self.segments
                .insert((ms, seq, chunks), chunk)
                .map_err(err)?;
            chunks += 1;
        }
        Ok(packed.len() as u64 + 20 * u64::from(chunks))
    }

    /// Deletes a segment's chunks; returns the bytes they held.
    fn remove_segment(&mut self, (ms, seq): At) -> Result<u64> {
        let mut bytes = 0;
        for chunk in 0.. {
            match self.segments.remove((ms, seq, chunk)).map_err(err)? {
                Some(v) => bytes += v.value().len() as u64 + 20,
                None => break,
            }
        }
        Ok(bytes)
    }

    /// Rewrites the segment at `at` with `changes`: a mention leaving it loses its topic rows
    /// (its id row is the caller's), one rewritten in it is refiled under its new topics, the
    /// rest stay as they were. A segment left empty is deleted. Keeps `live` up to date.
    fn edit_segment(&mut self, at: At, changes: &Changes<'_>, live: &mut u64) -> Result<()> {
        let Some((body, bytes)) = load_segment(&self.segments, at)? else {
            return Ok(());
        };
        let mut rewritten = Vec::with_capacity(body.len());
        for slot in segment::slots(&body)? {
            let change = changes.get(slot.id);
            if change.is_some() {
                for topic in &slot.topics {
                    self.by_topic
                        .remove(topic_row(topic, slot.created_ms, at.0, slot.id))
                        .map_err(err)?;
                }
                *live = live.saturating_sub(indexed(slot.id, &slot.topics));
            }
            match change {
                None => segment::push(&mut rewritten, &slot),
                Some(None) => {}
                Some(Some(s)) => {
                    let new = slot_of(s);
                    for topic in &new.topics {
                        self.by_topic
                            .insert(
                                topic_row(topic, new.created_ms, at.0, new.id),
                                new.created_ms,
                            )
                            .map_err(err)?;
                    }
                    *live += indexed(new.id, &new.topics);
                    segment::push(&mut rewritten, &new);
                }
            }
        }
        *live = live.saturating_sub(bytes);
        self.remove_segment(at)?;
        if !rewritten.is_empty() {
            *live += self.put_segment(at, &rewritten)?;
        }
        Ok(())
    }

    /// Merges a batch's per-minute counts into the stored minutes; keeps `live` up to date.
    fn add_stats(
        &mut self,
        batch: std::collections::HashMap<(&str, i64), MinuteAggregate>,
        live: &mut u64,
    ) -> Result<()> {
        let mut held = self.stats_bytes()?;
        for ((topic, minute), add) in batch {
            let stored = self.stats.get((topic, minute)).map_err(err)?.map(|v| {
                (
                    v.value().len(),
                    serde_json::from_slice::<MinuteAggregate>(v.value()),
                )
            });
            let mut agg = match stored {
                Some((len, Ok(agg))) => {
                    *live = live.saturating_sub(stat_footprint(topic, len));
                    held = held.saturating_sub(stat_footprint(topic, len));
                    agg
                }
                Some((_, Err(e))) => return Err(Error::store("corrupt stored minute", e)),
                None => {
                    self.stats_by_minute
                        .insert((minute, topic), ())
                        .map_err(err)?;
                    MinuteAggregate::default()
                }
            };
            agg.merge(&add);
            agg.keep_top_hashtags(STATS_HASHTAGS);
            let bytes =
                serde_json::to_vec(&agg).map_err(|e| Error::internal("encoding a minute", e))?;
            self.stats
                .insert((topic, minute), bytes.as_slice())
                .map_err(err)?;
            *live += stat_footprint(topic, bytes.len());
            held += stat_footprint(topic, bytes.len());
        }
        self.meta.insert("stats_bytes", held).map_err(err)?;
        Ok(())
    }

    /// Deletes the oldest stored minutes, up to `max`, while they are before `cutoff` (millis)
    /// or the minutes hold more than `cap` bytes; returns how many. Keeps `live` up to date.
    fn drop_stats(
        &mut self,
        cutoff: Option<i64>,
        cap: Option<u64>,
        max: usize,
        live: &mut u64,
    ) -> Result<usize> {
        let mut held = self.stats_bytes()?;
        if cutoff.is_none() && cap.is_none_or(|c| held <= c) {
            return Ok(0);
        }
        let mut dropped = 0;
        while dropped < max {
            let Some((minute, topic)) = self.stats_by_minute.first().map_err(err)?.map(|(k, _)| {
                let (minute, topic) = k.value();
                (minute, topic.to_owned())
            }) else {
                break;
            };
            let expired = cutoff.is_some_and(|c| minute < c);
            if !(expired || cap.is_some_and(|c| held > c)) {
                break;
            }
            self.stats_by_minute
                .remove((minute, topic.as_str()))
                .map_err(err)?;
            if let Some(v) = self.stats.remove((topic.as_str(), minute)).map_err(err)? {
                let bytes = stat_footprint(&topic, v.value().len());
                *live = live.saturating_sub(bytes);
                held = held.saturating_sub(bytes);
            }
            dropped += 1;
        }
        if dropped > 0 {
            self.meta.insert("stats_bytes", held).map_err(err)?;
        }
        Ok(dropped)
    }

    fn live(&self) -> Result<u64> {
        self.counter("live_bytes")
    }

    /// Deletes the oldest segments, whole, while they were written before `cutoff` or the live
    /// data is over `budget`, until at least `max` mentions went, and never a segment written
    /// at or after `keep_from` (a batch's own, as it is written); keeps `live` up to date.
    /// Returns how many mentions it deleted.
    fn evict(
        &mut self,
        live: &mut u64,
        cutoff: Option<i64>,
        budget: Option<u64>,
        max: usize,
        keep_from: At,
    ) -> Result<usize> {
        let mut deleted = 0;
        while deleted < max {
            let Some((ms, seq, _)) = self.segments.first().map_err(err)?.map(|(k, _)| k.value())
            else {
                break;
            };
            if (ms, seq) >= keep_from {
                break;
            }
            let expired = cutoff.is_some_and(|c| ms < c);
            let over = budget.is_some_and(|b| *live > b);
            if !(expired || over) {
                break;
            }
            if let Some((body, _)) = load_segment(&self.segments, (ms, seq))? {
                let mut rows = Vec::new();
                for slot in segment::slots(&body)? {
                    // Only a mention still filed here (a rewrite elsewhere has its own rows):
                    // removed, and put back in the rare case it was filed elsewhere, which
                    // spares every other mention a second walk down the id index.
                    let here = self.ids.remove(slot.id).map_err(err)?.map(|v| v.value());
                    match here {
                        Some(at) if at == (ms, seq) => {
                            rows.extend(
                                slot.topics
                                    .iter()
                                    .map(|&t| topic_row(t, slot.created_ms, ms, slot.id)),
                            );
                            *live = live.saturating_sub(indexed(slot.id, &slot.topics));
                            deleted += 1;
                        }
                        Some(elsewhere) => {
                            self.ids.insert(slot.id, elsewhere).map_err(err)?;
                        }
                        None => {}
                    }
                }
                // In key order, as the writer inserts them: each topic's rows are removed
                // together, from pages the last removal just touched.
                rows.sort_unstable();
                for row in rows {
                    self.by_topic.remove(row).map_err(err)?;
                }
            }
            *live = live.saturating_sub(self.remove_segment((ms, seq))?);
        }
        Ok(deleted)
    }
}

impl Store for RedbStore {
    async fn write(&self, batch: &Arc<[Stored]>) -> Result<()> {
        // redb is blocking I/O with an fsync per commit: keep it off the async threads.
        let this = self.clone();
        let batch = batch.clone();
        tokio::task::spawn_blocking(move || this.write_blocking(&batch, None))
            .await
            .map_err(|e| Error::internal("store task", e))?
    }

    async fn refile(&self, batch: &Arc<[Stored]>, old: &[Filed]) -> Result<()> {
        let this = self.clone();
        let batch = batch.clone();
        let old = old.to_vec();
        tokio::task::spawn_blocking(move || this.write_blocking(&batch, Some(&old)))
            .await
            .map_err(|e| Error::internal("store task", e))?
    }

    /// Segment by segment, oldest first, each in id order; only the segments there were when the
    /// scan began, so a rewrite (which stays in its segment) is not met again and a scan under
    /// live traffic ends.
    async fn scan(&self, after: Option<&str>, limit: usize) -> Result<ScanPage> {
        let after = after.map(Cursor::parse).transpose()?;
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let segments = txn.open_table(SEGMENTS).map_err(err)?;
            let ids = txn.open_table(IDS).map_err(err)?;
            let mut page = ScanPage {
                total: Some(ids.len().map_err(err)?),
                ..ScanPage::default()
            };
            let mut cursor = match after {
                Some(c) => c,
                None => {
                    let Some((ms, seq, _)) = segments.first().map_err(err)?.map(|(k, _)| k.value())
                    else {
                        page.passed = Some(1.0);
                        return Ok(page);
                    };
                    let meta = txn.open_table(META).map_err(err)?;
                    let end = meta.get("segments").map_err(err)?.map_or(0, |v| v.value());
                    Cursor {
                        at: (ms, seq),
                        first: seq,
                        end,
                        id: None,
                    }
                }
            };
            if limit == 0 {
                // An empty page that stays where it is.
                page.next = Some(cursor.to_string());
                return Ok(page);
            }
            loop {
                let at = cursor.at;
                if at.1 < cursor.end
                    && let Some((body, _)) = load_segment(&segments, at)?
                {
                    for slot in segment::slots(&body)? {
                        if cursor.id.as_deref().is_some_and(|id| slot.id <= id) {
                            continue;
                        }
                        page.rows.push((slot.id.to_owned(), slot.record.to_vec()));
                        cursor.id = Some(slot.id.to_owned());
                        if page.rows.len() >= limit {
                            page.passed = Some(cursor.passed());
                            page.next = Some(cursor.to_string());
                            return Ok(page);
                        }
                    }
                }
                let next = segments
                    .range((
                        std::ops::Bound::Excluded((at.0, at.1, u32::MAX)),
                        std::ops::Bound::Unbounded,
                    ))
                    .map_err(err)?
                    .next()
                    .transpose()
                    .map_err(err)?
                    .map(|(k, _)| k.value());
                match next {
                    Some((ms, seq, _)) => {
                        cursor.at = (ms, seq);
                        cursor.id = None;
                    }
                    None => {
                        page.passed = Some(1.0);
                        return Ok(page);
                    }
                }
            }
        })
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let ids = txn.open_table(IDS).map_err(err)?;
            let Some(at) = ids.get(id.as_str()).map_err(err)?.map(|v| v.value()) else {
                return Ok(None);
            };
            let segments = txn.open_table(SEGMENTS).map_err(err)?;
            record_in(&segments, &mut Default::default(), at, &id).map(Some)
        })
        .await
    }

    async fn delete(&self, ids: &[String]) -> Result<()> {
        let ids = ids.to_vec();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            {
                let mut t = Tables::open(&txn)?;
                let mut live = t.live()?;
                let mut edits: std::collections::BTreeMap<At, Changes<'_>> = Default::default();
                for id in &ids {
                    if let Some(at) = t.ids.remove(id.as_str()).map_err(err)?.map(|v| v.value()) {
                        edits.entry(at).or_default().insert(id, None);
                    }
                }
                // The segments are rewritten without them: their content leaves the file.
                for (at, changes) in &edits {
                    t.edit_segment(*at, changes, &mut live)?;
                }
                t.meta.insert("live_bytes", live).map_err(err)?;
            }
            txn.commit().map_err(err)
        })
        .await
    }

    async fn recent(
        &self,
        topic: &str,
        limit: usize,
        before: Option<&Before>,
    ) -> Result<Vec<Vec<u8>>> {
        let topic = topic.to_owned();
        let before = before.cloned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let index = txn.open_table(TOPIC_INDEX).map_err(err)?;
            let ids = txn.open_table(IDS).map_err(err)?;
            let segments = txn.open_table(SEGMENTS).map_err(err)?;
            let newest = topic_row(
                &topic,
                before.as_ref().map_or(i64::MAX, |b| b.created_ms),
                i64::MAX,
                "\u{10ffff}",
            );
            let range = index
                .range(topic_row(&topic, i64::MIN, i64::MIN, "")..=newest)
                .map_err(err)?;
            // Newest first: the index read backwards, a second at a time, each second's rows
            // sorted by creation time (ties by id, descending); a page after `before` has what
            // sorts before it.
            let mut picked: Vec<(i64, String)> = Vec::new();
            let mut second: Vec<(i64, String)> = Vec::new();
            let mut current = None;
            // The newest `n` of a second's rows, in order.
            let keep_newest = |second: &mut Vec<(i64, String)>, n: usize| {
                second.sort_unstable_by(|a, b| b.cmp(a));
                second.truncate(n);
            };
            let take = |second: &mut Vec<(i64, String)>, picked: &mut Vec<(i64, String)>| {
                keep_newest(second, limit - picked.len());
                picked.append(second);
            };
            for entry in range.rev() {
                let (key, created) = entry.map_err(err)?;
                let (_, s, _, id) = key.value();
                if current != Some(s) {
                    take(&mut second, &mut picked);
                    if picked.len() >= limit {
                        break;
                    }
                    current = Some(s);
                }
                let created = created.value();
                if before
                    .as_ref()
                    .is_none_or(|b| (created, id) < (b.created_ms, b.id.as_str()))
                {
                    second.push((created, id.to_owned()));
                    // A second of a busy topic holds many rows: only the newest that the page
                    // still needs are kept, so a read holds O(limit) whatever the rate.
                    let need = limit - picked.len();
                    if second.len() >= 4 * need.max(16) {
                        keep_newest(&mut second, need);
                    }
                }
            }
            take(&mut second, &mut picked);
            let mut out = Vec::new();
            let mut bodies = Vec::with_capacity(BODIES_KEPT);
            for (_, id) in &picked {
                if let Some(at) = ids.get(id.as_str()).map_err(err)?.map(|v| v.value()) {
                    out.push(record_in(&segments, &mut bodies, at, id)?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn series(
        &self,
        topic: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<crate::aggregate::Series> {
        let topic = topic.to_owned();
        let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let table = txn.open_table(TOPIC_STATS).map_err(err)?;
            let mut out = Vec::new();
            for row in table
                .range((topic.as_str(), from_ms)..(topic.as_str(), to_ms))
                .map_err(err)?
            {
                let (key, value) = row.map_err(err)?;
                let minute = DateTime::from_timestamp_millis(key.value().1).unwrap_or_default();
                let agg = serde_json::from_slice(value.value())
                    .map_err(|e| Error::store("corrupt stored minute", e))?;
                out.push((minute, agg));
            }
            Ok(out)
        })
        .await
    }

    async fn put_schema(&self, fingerprint: u64, avsc: &str) -> Result<()> {
        let avsc = avsc.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            txn.open_table(SCHEMAS)
                .map_err(err)?
                .insert(fingerprint, avsc.as_str())
                .map_err(err)?;
            txn.commit().map_err(err)
        })
        .await
    }

    async fn schema(&self, fingerprint: u64) -> Result<Option<String>> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let table = txn.open_table(SCHEMAS).map_err(err)?;
            Ok(table
                .get(fingerprint)
                .map_err(err)?
                .map(|v| v.value().to_owned()))
        })
        .await
    }
}

/// Whether the embedded store keeps a topic's per-minute series: the signals' (what the client
/// API charts), not every source and hashtag, which would cost each write a read-modify-write
/// per topic.
fn is_charted(topic: &str) -> bool {
    crate::runtime::is_signal_topic(topic) && topic.len() <= MAX_TOPIC_BYTES
}

/// Where a scan is: the segment it is in, the last id it gave from it, and the segment numbers
/// it began with (for its progress) and ends before. Written `ms:seq:first:end:id`.
struct Cursor {
    at: At,
    first: u64,
    end: u64,
    id: Option<String>,
}

impl Cursor {
    fn parse(text: &str) -> Result<Cursor> {
        let bad = || {
            Error::Config(format!(
                "scan position {text:?} is not one this store wrote (a reprocess checkpoint \
                 from an earlier version? run it again with --restart)"
            ))
        };
        let mut parts = text.splitn(5, ':');
        let mut number = || parts.next().ok_or_else(bad);
        let ms = number()?.parse().map_err(|_| bad())?;
        let seq = number()?.parse().map_err(|_| bad())?;
        let first = number()?.parse().map_err(|_| bad())?;
        let end = number()?.parse().map_err(|_| bad())?;
        let id = number()?.to_owned();
        Ok(Cursor {
            at: (ms, seq),
            first,
            end,
            id: (!id.is_empty()).then_some(id),
        })
    }

    /// How far through the segments there were the scan is, from 0 to 1.
    fn passed(&self) -> f64 {
        let span = self.end.saturating_sub(self.first).max(1);
        (self.at.1.saturating_sub(self.first) as f64 / span as f64).clamp(0.0, 1.0)
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (ms, seq) = self.at;
        let id = self.id.as_deref().unwrap_or("");
        write!(f, "{ms}:{seq}:{}:{}:{id}", self.first, self.end)
    }
}

impl RedbStore {
    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T> + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T>> + Send + 'static {
        let db = self.db.clone();
        async move {
            tokio::task::spawn_blocking(move || f(&db))
                .await
                .map_err(|e| Error::internal("store task", e))?
        }
    }
}

#[path = "alert_store.rs"]
mod alert_store;
#[path = "migrate.rs"]
mod migrate;
#[path = "segment.rs"]
mod segment;
#[path = "signal_store.rs"]
mod signal_store;
#[path = "tenant_store.rs"]
mod tenant_store;

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
