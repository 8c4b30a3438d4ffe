use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use chrono::{DateTime, Utc};

use crate::aggregate::MinuteAggregate;
use crate::error::{BoxError, Error, Result};
use crate::traits::{Before, Filed, ScanPage, Store, Stored};

/// id -> stored value: the write time (8 bytes, little-endian milliseconds) then the compact
/// record, LZ4-compressed ([`pack`]).
const MENTIONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("mentions");
/// (topic, created_at millis, id) -> () : a time index per topic for "newest first" reads.
const BY_TOPIC: TableDefinition<'_, (&str, i64, &str), ()> = TableDefinition::new("by_topic");
/// (write time millis, id) -> created_at millis and the mention's topics ([`Entry`]): the order
/// in which retention deletes, and what it must delete besides the mention.
const BY_TIME: TableDefinition<'_, (i64, &str), &[u8]> = TableDefinition::new("by_time");
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
    /// data exceeds [`LIVE_SHARE`] of it.
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
/// keys and values is larger than N (2.7× measured on 1 KB records); at this share the file
/// settles near the limit (`retention_keeps_the_file_under_its_size_limit` checks it). redb grows
/// its file in steps, doubling below 4 GiB and then a 4 GiB region at a time, so the file can
/// pass the limit by part of a step.
pub const LIVE_SHARE: f64 = 0.3;

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
/// Disk stays bounded: [`RedbStore::sweep`] deletes mentions past the retention time, and the
/// oldest ones while the live data is over its share of `max_bytes`; freed pages are reused by
/// later writes, so the file stops growing.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    options: StoreOptions,
    last_sync: Arc<std::sync::Mutex<std::time::Instant>>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedbStore")
    }
}

fn err(e: impl Into<BoxError>) -> Error {
    Error::store("", e)
}

/// What [`BY_TIME`] keeps of a mention: its creation time and topics.
struct Entry<'a> {
    created_ms: i64,
    topics: Vec<&'a str>,
}

impl<'a> Entry<'a> {
    fn pack(created_ms: i64, topics: &[&str]) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + topics.iter().map(|t| t.len() + 2).sum::<usize>());
        out.extend_from_slice(&created_ms.to_le_bytes());
        for t in topics {
            // Callers pass topics of at most MAX_TOPIC_BYTES.
            out.extend_from_slice(&(t.len() as u16).to_le_bytes());
            out.extend_from_slice(t.as_bytes());
        }
        out
    }

    fn unpack(bytes: &'a [u8]) -> Result<Entry<'a>> {
        let bad = || Error::Store {
            what: "corrupt retention index entry".into(),
            source: None,
        };
        let (created, mut rest) = bytes.split_first_chunk::<8>().ok_or_else(bad)?;
        let mut topics = Vec::new();
        while let Some((len, tail)) = rest.split_first_chunk::<2>() {
            let len = usize::from(u16::from_le_bytes(*len));
            let topic = tail.get(..len).ok_or_else(bad)?;
            topics.push(std::str::from_utf8(topic).map_err(|_| bad())?);
            rest = &tail[len..];
        }
        Ok(Entry {
            created_ms: i64::from_le_bytes(*created),
            topics,
        })
    }
}

/// The bytes a mention accounts for in the live-data budget: its row, its time entry and its
/// topic rows (keys and values; the B-trees' own overhead is in [`LIVE_SHARE`]).
fn footprint(id: &str, value_len: usize, entry_len: usize, topics: usize) -> u64 {
    (id.len() + value_len + 16 + id.len() + entry_len + topics * (id.len() + 8)) as u64
        + entry_len.saturating_sub(8) as u64
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
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
        txn.open_table(MENTIONS).map_err(err)?;
        txn.open_table(BY_TOPIC).map_err(err)?;
        txn.open_table(BY_TIME).map_err(err)?;
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
        Ok(RedbStore {
            db: Arc::new(db),
            options,
            last_sync: Arc::new(std::sync::Mutex::new(std::time::Instant::now())),
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
        txn.open_table(MENTIONS).map_err(err)?.len().map_err(err)
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
    /// keeps its row's write time (so retention counts from the first write), one no longer
    /// stored is skipped, and the aggregates lose what `old` counted and gain the new version.
    fn write_blocking(&self, batch: &[Stored], old: Option<&[Filed]>) -> Result<()> {
        let txn = self.begin_grouped()?;
        let written_ms = now_ms();
        let mut evicted = 0;
        {
            let mut t = Tables::open(&txn)?;
            let mut live = t.live()?;
            let mut value = Vec::new();
            let mut topics: Vec<&str> = Vec::new();
            let mut stats: std::collections::HashMap<(&str, i64), MinuteAggregate> =
                Default::default();
            // Rows go in in key order: neighbours share B-tree pages, so a batch copies and
            // writes fewer of them. The sort is stable, so a mention repeated within the batch
            // is still written in arrival order, the last one kept.
            let mut order: Vec<usize> = (0..batch.len()).collect();
            order.sort_by(|&a, &b| batch[a].id.cmp(&batch[b].id));
            let mut by_topic: Vec<(&str, i64, &str)> = Vec::new();
            for i in order {
                let s = &batch[i];
                let earlier = old.and_then(|o| o.get(i));
                let mut row_ms = written_ms;
                if earlier.is_some() {
                    match t.mentions.get(s.id.as_str()).map_err(err)? {
                        Some(v) => row_ms = written_at(v.value()),
                        // Deleted or expired since it was read: not brought back.
                        None => continue,
                    }
                }
                // A topic too long for the retention index is not indexed at all.
                topics.clear();
                topics.extend(
                    s.topics
                        .iter()
                        .map(String::as_str)
                        .filter(|t| t.len() <= MAX_TOPIC_BYTES),
                );
                value.clear();
                value.extend_from_slice(&row_ms.to_le_bytes());
                pack_into(&s.record, &mut value);
                let replaced = t
                    .mentions
                    .insert(s.id.as_str(), value.as_slice())
                    .map_err(err)?
                    .map(|old| (written_at(old.value()), old.value().len()));
                if let Some((old_ms, old_len)) = replaced {
                    // A redelivery: drop what the earlier write indexed (which may be waiting
                    // below, when the mention came twice in this batch).
                    t.index_topics(&mut by_topic)?;
                    live = live.saturating_sub(t.unindex(old_ms, &s.id, old_len)?);
                }
                let created_ms = s.created_at.timestamp_millis();
                by_topic.extend(
                    topics
                        .iter()
                        .map(|&topic| (topic, created_ms, s.id.as_str())),
                );
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
                if replaced.is_none() || earlier.is_some() {
                    let minute = created_ms - created_ms.rem_euclid(60_000);
                    for topic in s.topics.iter().filter(|t| is_charted(t)) {
                        stats
                            .entry((topic.as_str(), minute))
                            .or_default()
                            .add(s.sentiment, &s.hashtags);
                    }
                }
                let entry = Entry::pack(created_ms, &topics);
                t.by_time
                    .insert((row_ms, s.id.as_str()), entry.as_slice())
                    .map_err(err)?;
                live += footprint(&s.id, value.len(), entry.len(), topics.len());
            }
            t.index_topics(&mut by_topic)?;
            t.add_stats(stats, &mut live)?;
            // Keep the size budget as we go: the oldest make room in the same commit, so the
            // file never holds more than a batch beyond it, whatever the write rate.
            if self.budget().is_some_and(|b| live > b) {
                evicted = t.evict(&mut live, None, self.budget(), usize::MAX)?;
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

    /// Deletes mentions past the retention time, then the oldest while the live data is over
    /// its share of `max_bytes`, in transactions of a few thousand; also the signals' stored
    /// minutes past the retention time. Returns how many mentions it deleted. Blocking; run it on
    /// a blocking thread. (The writer also keeps the size budget batch by batch; this catches up
    /// on age.)
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
                let n = t.evict(&mut live, cutoff, self.budget(), SWEEP_CHUNK)?;
                // Stored minutes follow the time limit only: they are small and outlive the
                // mentions a size limit drops, as the distributed store's stats do. Their bytes
                // count against the size limit, so mentions make room for them.
                let stale = match cutoff {
                    Some(c) => t.expire_stats(c, SWEEP_CHUNK, &mut live)?,
                    None => 0,
                };
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

/// The tables a write or a sweep changes, open in one transaction.
struct Tables<'t> {
    mentions: redb::Table<'t, &'static str, &'static [u8]>,
    by_topic: redb::Table<'t, (&'static str, i64, &'static str), ()>,
    by_time: redb::Table<'t, (i64, &'static str), &'static [u8]>,
    meta: redb::Table<'t, &'static str, u64>,
    stats: redb::Table<'t, (&'static str, i64), &'static [u8]>,
    stats_by_minute: redb::Table<'t, (i64, &'static str), ()>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t redb::WriteTransaction) -> Result<Tables<'t>> {
        Ok(Tables {
            mentions: txn.open_table(MENTIONS).map_err(err)?,
            by_topic: txn.open_table(BY_TOPIC).map_err(err)?,
            by_time: txn.open_table(BY_TIME).map_err(err)?,
            meta: txn.open_table(META).map_err(err)?,
            stats: txn.open_table(TOPIC_STATS).map_err(err)?,
            stats_by_minute: txn.open_table(STATS_BY_MINUTE).map_err(err)?,
        })
    }

    /// Merges a batch's per-minute counts into the stored minutes.
    /// Merges a batch's per-minute counts into the stored minutes; keeps `live` up to date.
    fn add_stats(
        &mut self,
        batch: std::collections::HashMap<(&str, i64), MinuteAggregate>,
        live: &mut u64,
    ) -> Result<()> {
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
        }
        Ok(())
    }

    /// Deletes up to `max` stored minutes before `cutoff` (millis); returns how many.
    fn expire_stats(&mut self, cutoff: i64, max: usize, live: &mut u64) -> Result<usize> {
        let mut stale: Vec<(i64, String)> = Vec::new();
        for row in self
            .stats_by_minute
            .range::<(i64, &str)>(..(cutoff, ""))
            .map_err(err)?
        {
            let (key, _) = row.map_err(err)?;
            let (minute, topic) = key.value();
            stale.push((minute, topic.to_owned()));
            if stale.len() >= max {
                break;
            }
        }
        for (minute, topic) in &stale {
            self.stats_by_minute
                .remove((*minute, topic.as_str()))
                .map_err(err)?;
            if let Some(v) = self.stats.remove((topic.as_str(), *minute)).map_err(err)? {
                *live = live.saturating_sub(stat_footprint(topic, v.value().len()));
            }
        }
        Ok(stale.len())
    }

    fn live(&self) -> Result<u64> {
        Ok(self
            .meta
            .get("live_bytes")
            .map_err(err)?
            .map_or(0, |v| v.value()))
    }

    /// Deletes the oldest mentions, at most `max`, while they are older than `cutoff` or the
    /// live data is over `budget`; keeps `live` up to date. Returns how many it deleted.
    fn evict(
        &mut self,
        live: &mut u64,
        cutoff: Option<i64>,
        budget: Option<u64>,
        max: usize,
    ) -> Result<usize> {
        let mut estimate = *live;
        let mut victims: Vec<(i64, String)> = Vec::new();
        for row in self.by_time.range::<(i64, &str)>(..).map_err(err)? {
            let (key, entry) = row.map_err(err)?;
            let (ms, id) = key.value();
            let expired = cutoff.is_some_and(|c| ms < c);
            let over = budget.is_some_and(|b| estimate > b);
            if victims.len() >= max || !(expired || over) {
                break;
            }
            // Estimate the row's share so the size check moves on as we go.
            let value_len = self
                .mentions
                .get(id)
                .map_err(err)?
                .map_or(0, |v| v.value().len());
            estimate = estimate.saturating_sub(footprint(id, value_len, entry.value().len(), 1));
            victims.push((ms, id.to_owned()));
        }
        for (ms, id) in &victims {
            // Only the write this entry records; a later rewrite has an entry of its own (and
            // replacing the row already dropped this one's).
            let current = self
                .mentions
                .get(id.as_str())
                .map_err(err)?
                .map(|v| (written_at(v.value()), v.value().len()));
            let len = match current {
                Some((written, len)) if written == *ms => {
                    self.mentions.remove(id.as_str()).map_err(err)?;
                    len
                }
                _ => 0,
            };
            *live = live.saturating_sub(self.unindex(*ms, id, len)?);
        }
        Ok(victims.len())
    }

    /// Inserts the topic index rows gathered so far, in key order, and empties `rows`.
    fn index_topics(&mut self, rows: &mut Vec<(&str, i64, &str)>) -> Result<()> {
        rows.sort_unstable();
        for &row in rows.iter() {
            self.by_topic.insert(row, ()).map_err(err)?;
        }
        rows.clear();
        Ok(())
    }

    /// Removes a mention's time entry and topic rows; returns the bytes they and its row (of
    /// `value_len`, 0 if already gone) accounted for.
    fn unindex(&mut self, written_ms: i64, id: &str, value_len: usize) -> Result<u64> {
        let Some(entry) = self.by_time.remove((written_ms, id)).map_err(err)? else {
            return Ok(0);
        };
        let bytes = entry.value().to_vec();
        drop(entry);
        let e = Entry::unpack(&bytes)?;
        for topic in &e.topics {
            self.by_topic
                .remove((*topic, e.created_ms, id))
                .map_err(err)?;
        }
        Ok(footprint(id, value_len, bytes.len(), e.topics.len()))
    }
}

fn written_at(value: &[u8]) -> i64 {
    value
        .first_chunk::<8>()
        .map_or(i64::MIN, |b| i64::from_le_bytes(*b))
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

    async fn scan(&self, after: Option<&str>, limit: usize) -> Result<ScanPage> {
        let after = after.map(str::to_owned);
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let table = txn.open_table(MENTIONS).map_err(err)?;
            let range = match &after {
                Some(a) => table.range::<&str>((
                    std::ops::Bound::Excluded(a.as_str()),
                    std::ops::Bound::Unbounded,
                )),
                None => table.range::<&str>(..),
            };
            let mut page = ScanPage {
                total: Some(table.len().map_err(err)?),
                ..ScanPage::default()
            };
            for row in range.map_err(err)?.take(limit) {
                let (id, value) = row.map_err(err)?;
                page.rows
                    .push((id.value().to_owned(), unpack(value.value())?));
            }
            page.next = (page.rows.len() == limit)
                .then(|| page.rows.last().map(|(id, _)| id.clone()))
                .flatten();
            Ok(page)
        })
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let id = id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let table = txn.open_table(MENTIONS).map_err(err)?;
            table
                .get(id.as_str())
                .map_err(err)?
                .map(|v| unpack(v.value()))
                .transpose()
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
                for id in &ids {
                    let Some(old) = t.mentions.remove(id.as_str()).map_err(err)? else {
                        continue;
                    };
                    let (ms, len) = (written_at(old.value()), old.value().len());
                    drop(old);
                    live = live.saturating_sub(t.unindex(ms, id, len)?);
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
            let index = txn.open_table(BY_TOPIC).map_err(err)?;
            let mentions = txn.open_table(MENTIONS).map_err(err)?;
            let start = (topic.as_str(), i64::MIN, "");
            let range = match &before {
                // Newest first is the index read backwards: the page after `b` is what sorts
                // before it, ties on time by id descending.
                Some(b) => index.range(start..(topic.as_str(), b.created_ms, b.id.as_str())),
                None => index.range(start..=(topic.as_str(), i64::MAX, "\u{10ffff}")),
            };
            let mut out = Vec::new();
            for entry in range.map_err(err)?.rev().take(limit) {
                let (key, _) = entry.map_err(err)?;
                let (_, _, id) = key.value();
                if let Some(v) = mentions.get(id).map_err(err)? {
                    out.push(unpack(v.value())?);
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
    topic.starts_with("signal:") && topic.len() <= MAX_TOPIC_BYTES
}

/// Appends a compressed record: LZ4 block format with the length prepended.
fn pack_into(record: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&lz4_flex::compress_prepend_size(record));
}

/// The compact record of a stored value.
fn unpack(stored: &[u8]) -> Result<Vec<u8>> {
    let body = stored.get(8..).ok_or_else(|| Error::Store {
        what: "corrupt stored mention: too short".into(),
        source: None,
    })?;
    lz4_flex::decompress_size_prepended(body).map_err(|e| Error::store("corrupt stored mention", e))
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
#[path = "signal_store.rs"]
mod signal_store;
#[path = "tenant_store.rs"]
mod tenant_store;

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
