use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::sync::Cache as Moka;
use transforms::dedup::cluster::ClusterIndex;

use crate::error::Result;
use crate::traits::{Cache, ClusterProbe, DEFAULT_CLUSTER_WINDOW};

/// The in-process cluster index's byte budget unless configured (`embedded.cluster_bytes`).
pub const DEFAULT_CLUSTER_BYTES: u64 = 64 << 20;

/// The embedded cache: recent mentions' compact records by id in moka (LRU: the newest mentions
/// are the ones clients ask for; TTL), weighed by their bytes against a fixed budget, so memory
/// stays bounded whatever the rate.
///
/// Read-through: a mention is cached when a reader fetched it from the store
/// (`GET /v1/mentions/{id}`), not when it is written. The store is in-process and keeps its hot
/// pages in its own page cache, so caching every written mention would cost the write path a
/// copy and a hash-table insert per mention for reads that mostly never come.
///
/// It also holds the near-duplicate cluster index ([`Cache::clusters`]): band key → first
/// mention id, bounded by its own byte budget and the cluster window. At a rate where the window's
/// claims would pass the budget, the oldest claims go first, so the window shortens rather than
/// memory growing (about 400 bytes a mention: `ClusterIndex::bytes`).
#[derive(Clone)]
pub struct MemoryCache {
    by_id: Moka<Arc<str>, Arc<[u8]>>,
    clusters: Arc<Mutex<ClusterIndex>>,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.by_id.entry_count())
            .field("bytes", &self.by_id.weighted_size())
            .finish()
    }
}

/// What an entry costs besides its key and value: moka's node, the two `Arc` headers.
const ENTRY_OVERHEAD: usize = 128;

impl MemoryCache {
    /// A cache of at most `max_bytes` (keys, values and bookkeeping) whose entries live `ttl`.
    pub fn new(max_bytes: u64, ttl: Duration) -> MemoryCache {
        MemoryCache {
            by_id: Moka::builder()
                .max_capacity(max_bytes)
                .weigher(|id: &Arc<str>, record: &Arc<[u8]>| {
                    u32::try_from(id.len() + record.len() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
                })
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_live(ttl)
                .build(),
            clusters: Arc::new(Mutex::new(ClusterIndex::new(
                millis(DEFAULT_CLUSTER_WINDOW),
                DEFAULT_CLUSTER_BYTES as usize,
            ))),
        }
    }

    /// The same cache with a cluster index that keeps claims for `window`, in at most `bytes`.
    pub fn with_clusters(mut self, window: Duration, bytes: u64) -> MemoryCache {
        self.clusters = Arc::new(Mutex::new(ClusterIndex::new(
            millis(window),
            usize::try_from(bytes).unwrap_or(usize::MAX),
        )));
        self
    }

    /// Bytes the cluster index is charged for now (never above its budget).
    pub fn cluster_bytes(&self) -> usize {
        self.clusters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .bytes()
    }

    /// Bytes the cache holds now (after pending evictions run).
    pub fn weighted_size(&self) -> u64 {
        self.by_id.run_pending_tasks();
        self.by_id.weighted_size()
    }
}

impl Cache for MemoryCache {
    async fn fill(&self, id: &str, record: &[u8]) {
        // Never over a deletion's mark (nor over a record another reader filled first).
        self.by_id
            .entry(Arc::from(id))
            .or_insert_with(|| Arc::from(record));
    }

    async fn forget(&self, ids: &[String]) {
        for id in ids {
            self.by_id.invalidate(id.as_str());
        }
    }

    async fn deleted(&self, ids: &[String]) {
        // An empty record marks the deletion until the entry expires: `get` reads it as a miss
        // and `fill` leaves it.
        for id in ids {
            self.by_id.insert(Arc::from(id.as_str()), Arc::from([]));
        }
    }

    async fn get(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let hit = self.by_id.get(id).filter(|v| !v.is_empty());
        Ok(hit.map(|v| v.to_vec()))
    }

    async fn clusters(&self, probes: &[ClusterProbe<'_>]) -> Vec<Option<Arc<str>>> {
        let now = chrono::Utc::now().timestamp_millis();
        let mut index = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
        probes
            .iter()
            .map(|p| Some(index.assign(&p.keys, p.id, now)))
            .collect()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_is_bounded_by_bytes() {
        let budget = 1 << 20;
        let cache = MemoryCache::new(budget, Duration::from_secs(600));
        cache.fill("first", &[7; 100]).await;
        assert_eq!(cache.get("first").await.expect("get"), Some(vec![7; 100]));
        cache.forget(&["first".into()]).await;
        assert_eq!(cache.get("first").await.expect("get"), None);
        // 20 MiB of records through a 1 MiB cache.
        let record = vec![7; 1024 - ENTRY_OVERHEAD - 8];
        for chunk in 0..20 {
            for i in 0..1024 {
                cache.fill(&format!("{chunk:02}-{i:04}"), &record).await;
            }
        }
        let held = cache.weighted_size();
        assert!(held <= budget, "{held} bytes held, budget {budget}");
        assert!(held > budget / 2, "the budget is used: {held}");
        // Least recently used out first: the newest records are the ones kept.
        assert!(cache.get("19-1023").await.expect("get").is_some());
        assert!(cache.get("00-0000").await.expect("get").is_none());
    }

    /// A reader that fetched a mention from the store just before its deletion cannot cache
    /// it again once the deletion reached the cache.
    #[tokio::test]
    async fn a_deleted_mention_is_not_cached_again_by_a_late_reader() {
        let cache = MemoryCache::new(1 << 20, Duration::from_secs(600));
        cache.fill("gone", &[1; 100]).await;
        cache.deleted(&["gone".into(), "never-cached".into()]).await;
        assert_eq!(cache.get("gone").await.expect("get"), None);
        // The late reader's fill, with what the store held before the deletion.
        cache.fill("gone", &[1; 100]).await;
        cache.fill("never-cached", &[2; 100]).await;
        assert_eq!(cache.get("gone").await.expect("get"), None);
        assert_eq!(cache.get("never-cached").await.expect("get"), None);
    }
}
