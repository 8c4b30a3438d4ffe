use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::sync::Cache as Moka;

use crate::error::Result;
use crate::traits::{Cache, Stored};

/// Capped lists of recent mention JSON per topic, newest first.
type RecentLists = Arc<Mutex<HashMap<String, VecDeque<Arc<[u8]>>>>>;

/// The embedded cache: mentions by id and the seen-set in moka (TTL), recent lists per topic in
/// capped deques. All operations are in memory and O(1) per mention.
#[derive(Clone)]
pub struct MemoryCache {
    by_id: Moka<String, Arc<[u8]>>,
    seen: Moka<String, ()>,
    recent: RecentLists,
    recent_cap: usize,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.by_id.entry_count())
            .finish()
    }
}

impl MemoryCache {
    pub fn new(max_entries: u64, ttl: Duration, recent_cap: usize) -> MemoryCache {
        MemoryCache {
            by_id: Moka::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
            seen: Moka::builder()
                .max_capacity(max_entries * 4)
                .time_to_live(ttl)
                .build(),
            recent: Arc::default(),
            recent_cap,
        }
    }

    /// The newest cached mentions of `topic`, newest first.
    pub fn recent(&self, topic: &str, limit: usize) -> Vec<Arc<[u8]>> {
        let lists = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        lists
            .get(topic)
            .map(|l| l.iter().take(limit).cloned().collect())
            .unwrap_or_default()
    }
}

impl Cache for MemoryCache {
    async fn remember(&self, batch: &[Stored]) {
        let mut lists = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        for s in batch {
            let json: Arc<[u8]> = Arc::from(s.json.as_slice());
            self.by_id.insert(s.id.clone(), json.clone());
            self.seen.insert(s.id.clone(), ());
            for topic in &s.topics {
                let list = lists.entry(topic.clone()).or_default();
                list.push_front(json.clone());
                list.truncate(self.recent_cap);
            }
        }
    }

    async fn forget(&self, ids: &[String]) {
        for id in ids {
            self.by_id.invalidate(id);
        }
        // Recent lists hold the JSON itself; drop entries whose id was deleted.
        let needles: Vec<Vec<u8>> = ids
            .iter()
            .map(|id| format!("\"id\":{}", serde_json::Value::from(id.as_str())).into_bytes())
            .collect();
        let mut lists = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        for list in lists.values_mut() {
            list.retain(|json| {
                !needles
                    .iter()
                    .any(|n| json.windows(n.len()).any(|w| w == n.as_slice()))
            });
        }
    }

    async fn get(&self, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.by_id.get(id).map(|v| v.to_vec()))
    }

    async fn seen(&self, id: &str) -> Result<bool> {
        Ok(self.seen.contains_key(id))
    }
}
