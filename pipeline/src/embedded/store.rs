use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::error::{Error, Result};
use crate::traits::{Store, Stored};

/// id -> EnrichedMention JSON, LZ4-compressed ([`pack`]). Enriched JSON repeats ~300 field
/// names per mention and compresses about 4x, which is most of the embedded store's write cost.
const MENTIONS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("mentions");
/// (topic, created_at millis, id) -> () : a time index per topic for "newest first" reads.
const BY_TOPIC: TableDefinition<'_, (&str, i64, &str), ()> = TableDefinition::new("by_topic");
/// (tenant, signal id) -> Signal JSON.
const SIGNALS: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("signals");
/// Small named counters ("signals_revision").
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

/// The embedded store: one redb file.
///
/// Writes are group-committed: a batch's transaction is fsynced when `sync_interval` has passed
/// since the last fsync, else it commits without one (redb then persists it with the next synced
/// commit). Per-batch fsyncs cost more than half of the embedded pipeline's throughput, and the
/// embedded queue in front of the store is in memory anyway, so a crash already loses what was
/// queued; `sync_interval = "0s"` restores a durable commit per batch. [`RedbStore::sync`] makes
/// everything durable (at shutdown).
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    sync_interval: std::time::Duration,
    last_sync: Arc<std::sync::Mutex<std::time::Instant>>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedbStore")
    }
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Store(e.to_string())
}

impl RedbStore {
    /// Opens (or creates) `dir/backchannel.redb`, fsyncing every write.
    pub fn open(dir: &Path) -> Result<RedbStore> {
        RedbStore::open_with(dir, std::time::Duration::ZERO)
    }

    /// Opens (or creates) `dir/backchannel.redb` with group commit every `sync_interval`.
    pub fn open_with(dir: &Path, sync_interval: std::time::Duration) -> Result<RedbStore> {
        std::fs::create_dir_all(dir)?;
        let db = Database::create(dir.join("backchannel.redb")).map_err(err)?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(MENTIONS).map_err(err)?;
        txn.open_table(BY_TOPIC).map_err(err)?;
        txn.open_table(SIGNALS).map_err(err)?;
        txn.open_table(META).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(RedbStore {
            db: Arc::new(db),
            sync_interval,
            last_sync: Arc::new(std::sync::Mutex::new(std::time::Instant::now())),
        })
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

    fn write_blocking(&self, batch: &[Stored]) -> Result<()> {
        let mut txn = self.db.begin_write().map_err(err)?;
        // Group commit: fsync at most once per `sync_interval` (0 = every batch).
        let mut last = self.last_sync.lock().unwrap_or_else(|p| p.into_inner());
        if !self.sync_interval.is_zero() && last.elapsed() < self.sync_interval {
            txn.set_durability(redb::Durability::None).map_err(err)?;
        } else {
            *last = std::time::Instant::now();
        }
        {
            let mut mentions = txn.open_table(MENTIONS).map_err(err)?;
            let mut by_topic = txn.open_table(BY_TOPIC).map_err(err)?;
            for s in batch {
                mentions
                    .insert(s.id.as_str(), pack(&s.json).as_slice())
                    .map_err(err)?;
                let t = s.created_at.timestamp_millis();
                for topic in &s.topics {
                    by_topic
                        .insert((topic.as_str(), t, s.id.as_str()), ())
                        .map_err(err)?;
                }
            }
        }
        txn.commit().map_err(err)
    }
}

impl Store for RedbStore {
    async fn write(&self, batch: &[Stored]) -> Result<()> {
        // redb is blocking I/O with an fsync per commit: keep it off the async threads.
        let this = self.clone();
        let batch = batch.to_vec();
        tokio::task::spawn_blocking(move || this.write_blocking(&batch))
            .await
            .map_err(|e| Error::Internal(format!("store task: {e}")))?
    }

    async fn get(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let this = self.clone();
        let id = id.to_owned();
        tokio::task::spawn_blocking(move || {
            let txn = this.db.begin_read().map_err(err)?;
            let table = txn.open_table(MENTIONS).map_err(err)?;
            table
                .get(id.as_str())
                .map_err(err)?
                .map(|v| unpack(v.value()))
                .transpose()
        })
        .await
        .map_err(|e| Error::Internal(format!("store task: {e}")))?
    }

    async fn delete(&self, ids: &[String]) -> Result<()> {
        let ids = ids.to_vec();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            {
                let mut mentions = txn.open_table(MENTIONS).map_err(err)?;
                for id in &ids {
                    mentions.remove(id.as_str()).map_err(err)?;
                }
            }
            txn.commit().map_err(err)
        })
        .await
    }

    async fn recent(&self, topic: &str, limit: usize) -> Result<Vec<Vec<u8>>> {
        let this = self.clone();
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            let txn = this.db.begin_read().map_err(err)?;
            let index = txn.open_table(BY_TOPIC).map_err(err)?;
            let mentions = txn.open_table(MENTIONS).map_err(err)?;
            let range = (topic.as_str(), i64::MIN, "")..=(topic.as_str(), i64::MAX, "\u{10ffff}");
            let mut out = Vec::new();
            for entry in index.range(range).map_err(err)?.rev().take(limit) {
                let (key, _) = entry.map_err(err)?;
                let (_, _, id) = key.value();
                if let Some(v) = mentions.get(id).map_err(err)? {
                    out.push(unpack(v.value())?);
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| Error::Internal(format!("store task: {e}")))?
    }
}

/// Compresses a stored value: LZ4 block format with the length prepended.
fn pack(json: &[u8]) -> Vec<u8> {
    lz4_flex::compress_prepend_size(json)
}

fn unpack(stored: &[u8]) -> Result<Vec<u8>> {
    lz4_flex::decompress_size_prepended(stored)
        .map_err(|e| Error::Store(format!("corrupt stored mention: {e}")))
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
                .map_err(|e| Error::Internal(format!("store task: {e}")))?
        }
    }
}

fn bump_revision(txn: &redb::WriteTransaction) -> Result<()> {
    let mut meta = txn.open_table(META).map_err(err)?;
    let rev = meta
        .get("signals_revision")
        .map_err(err)?
        .map_or(0, |v| v.value());
    meta.insert("signals_revision", rev + 1).map_err(err)?;
    Ok(())
}

impl crate::signals::SignalStore for RedbStore {
    async fn signal_revision(&self) -> Result<u64> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(err)?;
            let meta = txn.open_table(META).map_err(err)?;
            Ok(meta
                .get("signals_revision")
                .map_err(err)?
                .map_or(0, |v| v.value()))
        })
        .await
    }

    async fn load_signals(&self) -> Result<(u64, Vec<transforms::signals::Signal>)> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(err)?;
            let meta = txn.open_table(META).map_err(err)?;
            let rev = meta
                .get("signals_revision")
                .map_err(err)?
                .map_or(0, |v| v.value());
            let table = txn.open_table(SIGNALS).map_err(err)?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(err)? {
                let (_, v) = entry.map_err(err)?;
                out.push(
                    serde_json::from_slice(v.value())
                        .map_err(|e| Error::Store(format!("stored signal: {e}")))?,
                );
            }
            Ok((rev, out))
        })
        .await
    }

    async fn put_signal(&self, signal: &transforms::signals::Signal) -> Result<()> {
        let json = serde_json::to_vec(signal).map_err(|e| Error::Internal(e.to_string()))?;
        let key = (signal.tenant.clone(), signal.id.clone());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            txn.open_table(SIGNALS)
                .map_err(err)?
                .insert((key.0.as_str(), key.1.as_str()), json.as_slice())
                .map_err(err)?;
            bump_revision(&txn)?;
            txn.commit().map_err(err)
        })
        .await
    }

    async fn delete_signal(&self, tenant: &str, id: &str) -> Result<bool> {
        let key = (tenant.to_owned(), id.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            let existed = txn
                .open_table(SIGNALS)
                .map_err(err)?
                .remove((key.0.as_str(), key.1.as_str()))
                .map_err(err)?
                .is_some();
            bump_revision(&txn)?;
            txn.commit().map_err(err)?;
            Ok(existed)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn stored(id: &str, secs: i64, topic: &str) -> Stored {
        Stored {
            id: id.into(),
            source: model::Source::Synthetic,
            created_at: Utc.timestamp_opt(secs, 0).single().expect("valid time"),
            collected_at: Utc.timestamp_opt(secs, 0).single().expect("valid time"),
            sentiment: None,
            hashtags: Vec::new(),
            fields_version: "test",
            topics: vec![topic.into()],
            json: format!("{{\"id\":\"{id}\"}}").into_bytes(),
        }
    }

    #[tokio::test]
    async fn upserts_are_idempotent_and_recent_is_newest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RedbStore::open(dir.path()).expect("open");
        store
            .write(&[
                stored("a", 10, "t"),
                stored("b", 30, "t"),
                stored("c", 20, "u"),
            ])
            .await
            .expect("write");
        store.write(&[stored("a", 10, "t")]).await.expect("rewrite");
        assert_eq!(store.count().expect("count"), 3);
        assert_eq!(
            store.get("b").await.expect("get").as_deref(),
            Some(&b"{\"id\":\"b\"}"[..])
        );
        assert_eq!(store.get("zz").await.expect("get"), None);
        let recent = store.recent("t", 10).await.expect("recent");
        assert_eq!(
            recent,
            vec![b"{\"id\":\"b\"}".to_vec(), b"{\"id\":\"a\"}".to_vec()]
        );
        drop(store);
        // Durable across reopen.
        let store = RedbStore::open(dir.path()).expect("reopen");
        assert_eq!(store.count().expect("count"), 3);
    }
}
