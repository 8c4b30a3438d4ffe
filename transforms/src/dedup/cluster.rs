//! Near-duplicate clusters: LSH band keys over the MinHash signature, and a bounded in-process
//! index that gives each mention the id of the first mention seen in its cluster.
//!
//! The 16 MinHash values are cut into [`BANDS`] bands of [`ROWS`]; each band hashes to a key. Two
//! texts share a band key with probability J^ROWS per band (J their Jaccard similarity of
//! shingles), so they share at least one with probability 1 − (1 − J⁴)⁴: 88% at J = 0.8, 50% at
//! J ≈ 0.66, 23% at J = 0.5 and under 1% at J = 0.25. That is the fold a client wants for
//! reposted templates (the same text with another link, handle or a word changed) without
//! merging posts that merely share a phrase.
//!
//! A cluster's id is the id of the first mention that claimed any of its band keys within the
//! window. The index is the in-process form of the rule that a shared store (Redis: `SET key id
//! NX PX window` per band, then the first band's winner) applies across workers; both answer
//! the same for the same order of arrival. It is bounded by bytes and by time: entries older than
//! the window are dropped, and when the budget is reached the oldest entries go first.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::{MINHASH_SIZE, mix};

/// Bands of the MinHash signature.
pub const BANDS: usize = 4;
/// Signature values per band.
pub const ROWS: usize = MINHASH_SIZE / BANDS;

/// The LSH band keys of a MinHash signature: each band's values hashed with the band's index, so
/// equal values in different bands give different keys. A signature of a text without shingles
/// (all `u32::MAX`) has no keys: it must not cluster with anything.
pub fn band_keys(sig: &[u32; MINHASH_SIZE]) -> Option<[u64; BANDS]> {
    if sig.iter().all(|&v| v == u32::MAX) {
        return None;
    }
    let mut keys = [0u64; BANDS];
    for (b, key) in keys.iter_mut().enumerate() {
        let rows = &sig[b * ROWS..(b + 1) * ROWS];
        *key = mix(rows
            .iter()
            .fold(mix(0x6c73_685f_6261_6e64 ^ b as u64), |h, &v| {
                mix(h ^ u64::from(v))
            }));
    }
    Some(keys)
}

/// [`band_keys`] of the `minhash_signature` field as stored (16 integers below 2^32); `None` for
/// a null or malformed signature.
pub fn band_keys_of_field(values: &[u64]) -> Option<[u64; BANDS]> {
    let mut sig = [0u32; MINHASH_SIZE];
    if values.len() != MINHASH_SIZE {
        return None;
    }
    for (s, &v) in sig.iter_mut().zip(values) {
        *s = u32::try_from(v).ok()?;
    }
    band_keys(&sig)
}

/// Bytes one band entry is charged, besides its cluster id: the map slot (key, id pointer,
/// time, and the table's spare capacity) and the queue slot that orders expiry.
pub const ENTRY_BYTES: usize = 96;

#[derive(Debug)]
struct Slot {
    cluster: Arc<str>,
    /// When the key was claimed (caller's clock, milliseconds).
    since_ms: i64,
}

/// Band key → first mention id, bounded by a byte budget and a time window.
///
/// Not synchronised: the caller owns it (one per worker behind a mutex, or per partition).
/// Every call is O(BANDS) map operations plus the evictions it triggers; nothing blocks.
#[derive(Debug)]
pub struct ClusterIndex {
    window_ms: i64,
    budget: usize,
    bytes: usize,
    map: HashMap<u64, Slot>,
    /// Keys in the order they were claimed, with their claim time, for expiry and eviction.
    order: VecDeque<(i64, u64)>,
}

impl ClusterIndex {
    /// An index that keeps a claim for `window_ms` and at most about `budget_bytes`.
    pub fn new(window_ms: i64, budget_bytes: usize) -> Self {
        ClusterIndex {
            window_ms: window_ms.max(0),
            budget: budget_bytes,
            bytes: 0,
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Bytes charged to the entries now held (an upper bound of what they use: see
    /// [`ENTRY_BYTES`]); never above the budget after a call returns.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Band keys held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn cost(cluster: &str) -> usize {
        ENTRY_BYTES + cluster.len()
    }

    /// Drops the oldest claim (in claim order); its map entry goes only if it is still that claim.
    fn pop_oldest(&mut self) {
        if let Some((since, key)) = self.order.pop_front()
            && self.map.get(&key).is_some_and(|s| s.since_ms == since)
            && let Some(slot) = self.map.remove(&key)
        {
            self.bytes -= Self::cost(&slot.cluster);
        }
    }

    /// The cluster of a mention with these band keys, seen at `now_ms`: the id held by its first
    /// band key claimed within the window, or `id` itself when none is. Keys not yet claimed (or
    /// whose claim expired) are claimed for that cluster, so later near-duplicates find it
    /// through any band.
    pub fn assign(&mut self, keys: &[u64; BANDS], id: &str, now_ms: i64) -> Arc<str> {
        let horizon = now_ms.saturating_sub(self.window_ms);
        while self.order.front().is_some_and(|&(t, _)| t < horizon) {
            self.pop_oldest();
        }
        // A claim stamped later than `now_ms` (clocks of mentions are not ordered) still holds.
        let live = |s: &Slot| s.since_ms >= horizon;
        let cluster = keys
            .iter()
            .find_map(|k| self.map.get(k).filter(|s| live(s)))
            .map_or_else(|| Arc::<str>::from(id), |s| Arc::clone(&s.cluster));
        for &key in keys {
            if self.map.get(&key).is_some_and(live) {
                continue;
            }
            let slot = Slot {
                cluster: Arc::clone(&cluster),
                since_ms: now_ms,
            };
            self.bytes += Self::cost(&cluster);
            if let Some(old) = self.map.insert(key, slot) {
                self.bytes -= Self::cost(&old.cluster);
            }
            self.order.push_back((now_ms, key));
        }
        while self.bytes > self.budget && !self.order.is_empty() {
            self.pop_oldest();
        }
        // Replaced claims leave stale queue entries behind; drop them once they outnumber the
        // live keys so the queue stays within the budget too.
        if self.order.len() > 2 * self.map.len() + BANDS {
            let map = &self.map;
            self.order
                .retain(|&(t, k)| map.get(&k).is_some_and(|s| s.since_ms == t));
        }
        cluster
    }
}

#[cfg(test)]
mod tests;
