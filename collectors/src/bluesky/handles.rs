//! DID → handle, learnt from Jetstream `identity` events.
//!
//! Commits name their author by DID only. Jetstream sends an `identity` event when an account's
//! identity changes (a new handle, a migration) with the handle the relay verified; an event
//! without a handle means the old one no longer holds, so it is forgotten and the DID is shown
//! again until a new one arrives. The map is bounded by entries and by bytes: past either limit
//! the least recently used DID is forgotten first, so accounts that post keep their handles. A
//! DID longer than atproto allows (2 KB) is neither remembered nor looked up.
//!
//! Identity events are rare (most accounts never change handle), so a collector may also look
//! authors up: with `handle_resolver` set, a `did:plc` DID the map lacks is queued for a
//! [`resolve`] task that asks the PLC directory (`GET <resolver>/<did>`, the DID document) and
//! takes the first `at://` name of its `alsoKnownAs`. That happens beside the stream, never in its
//! way: the post that made us ask goes out with the DID, later ones get the handle. The handle is
//! the one the account claims; the directory does not verify it (identity events' handles are).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::common::HttpLimits;
use crate::common::http::get_body;

/// DIDs waiting for the resolver at most; past that new ones are not queued (they are asked for
/// again on their next post).
const MAX_PENDING: usize = 1024;

/// The longest DID atproto allows; a longer one is not a DID, whatever it claims.
const MAX_DID_BYTES: usize = 2048;

/// Bytes an entry costs besides its strings: the two maps' slots, the tick, two `String` headers
/// and the allocator's rounding, rounded up.
const ENTRY_OVERHEAD: usize = 128;

/// What an entry weighs: the DID is kept twice (the map's key and the order's value).
fn weight(did: &str, handle: &str) -> usize {
    2 * did.len() + handle.len() + ENTRY_OVERHEAD
}

/// A DID worth remembering or looking up.
fn valid_did(did: &str) -> bool {
    did.len() <= MAX_DID_BYTES && did.starts_with("did:")
}

#[derive(Debug)]
pub(crate) struct Handles {
    cap: usize,
    /// Most bytes the entries may weigh ([`weight`]).
    max_bytes: usize,
    bytes: usize,
    /// DID → (handle, the tick it was last used at).
    map: HashMap<String, (String, u64)>,
    /// tick → DID, oldest first.
    order: BTreeMap<u64, String>,
    tick: u64,
    /// DIDs queued for the resolver.
    pending: HashSet<String>,
}

impl Handles {
    /// A map of at most `cap` DIDs weighing at most `max_bytes`; 0 keeps none.
    pub(crate) fn new(cap: usize, max_bytes: usize) -> Self {
        Handles {
            cap,
            max_bytes,
            bytes: 0,
            map: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            pending: HashSet::new(),
        }
    }

    /// What an `identity` event says: `did` now has `handle`, or (None) no verified handle.
    pub(crate) fn learn(&mut self, did: &str, handle: Option<&str>) {
        if let Some((old, t)) = self.map.remove(did) {
            self.order.remove(&t);
            self.bytes -= weight(did, &old);
        }
        let Some(handle) = handle.filter(|h| valid_handle(h) && valid_did(did)) else {
            return;
        };
        let w = weight(did, handle);
        if self.cap == 0 || w > self.max_bytes {
            return;
        }
        while self.map.len() >= self.cap || self.bytes + w > self.max_bytes {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            if let Some((h, _)) = self.map.remove(&old) {
                self.bytes -= weight(&old, &h);
            }
        }
        self.bytes += w;
        self.tick += 1;
        self.map
            .insert(did.to_owned(), (handle.to_ascii_lowercase(), self.tick));
        self.order.insert(self.tick, did.to_owned());
    }

    /// The handle of `did`, if known; marks it as recently used.
    pub(crate) fn get(&mut self, did: &str) -> Option<&str> {
        self.tick += 1;
        let tick = self.tick;
        let (handle, t) = self.map.get_mut(did)?;
        self.order.remove(t);
        *t = tick;
        self.order.insert(tick, did.to_owned());
        Some(handle.as_str())
    }

    /// Marks `did` as queued for the resolver; false when it already is, or too many are.
    fn want(&mut self, did: &str) -> bool {
        self.pending.len() < MAX_PENDING && self.pending.insert(did.to_owned())
    }
}

/// The map, shared with the resolver task.
pub(crate) type Shared = Arc<Mutex<Handles>>;

/// The collector's end of the resolver: queues DIDs without waiting.
#[derive(Debug, Clone)]
pub(crate) struct Lookups {
    tx: mpsc::Sender<String>,
}

impl Lookups {
    /// Starts the resolver task for `base` (e.g. `https://plc.directory`); it ends once every
    /// clone of the returned value is dropped.
    pub(crate) fn start(
        base: String,
        http: reqwest::Client,
        limits: HttpLimits,
        handles: Shared,
    ) -> Self {
        let (tx, rx) = mpsc::channel(MAX_PENDING);
        tokio::spawn(resolve(base, http, limits, handles, rx));
        Lookups { tx }
    }

    /// Asks for `did`'s handle unless it is already asked for; only `did:plc` DIDs are looked up.
    pub(crate) fn ask(&self, handles: &mut Handles, did: &str) {
        if did.starts_with("did:plc:")
            && valid_did(did)
            && handles.want(did)
            && self.tx.try_send(did.to_owned()).is_err()
        {
            handles.pending.remove(did);
        }
    }
}

/// The resolver task: one lookup at a time, so a slow directory costs only the handles' delay.
async fn resolve(
    base: String,
    http: reqwest::Client,
    limits: HttpLimits,
    handles: Shared,
    mut rx: mpsc::Receiver<String>,
) {
    let mut failures = 0u64;
    while let Some(did) = rx.recv().await {
        let url = format!("{}/{did}", base.trim_end_matches('/'));
        let found = match get_body(http.get(&url), &limits, "bluesky").await {
            Ok(body) => Ok(claimed_handle(&body)),
            Err(e) => Err(e),
        };
        let mut h = handles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        h.pending.remove(&did);
        match found {
            Ok(Some(handle)) => h.learn(&did, Some(&handle)),
            Ok(None) => {}
            Err(e) => {
                failures += 1;
                if failures <= 10 || failures.is_multiple_of(1000) {
                    tracing::warn!(source = "bluesky", error = %e, count = failures, "handle lookup failed; the DID stays the handle");
                }
            }
        }
    }
}

/// The first `at://` name in a DID document's `alsoKnownAs`.
fn claimed_handle(doc: &[u8]) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(doc).ok()?;
    doc.get("alsoKnownAs")?
        .as_array()?
        .iter()
        .filter_map(serde_json::Value::as_str)
        .find_map(|a| a.strip_prefix("at://"))
        .map(str::to_owned)
}

/// A plausible handle (a DNS name, as atproto requires; `handle.invalid` is the placeholder the
/// network uses for one that failed verification, and is not a handle).
fn valid_handle(h: &str) -> bool {
    h.len() <= 253
        && h.contains('.')
        && !h.eq_ignore_ascii_case("handle.invalid")
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_forgets_and_evicts_the_least_recently_used() {
        let mut h = Handles::new(2, 1 << 20);
        h.learn("did:plc:a", Some("Alice.example.com"));
        h.learn("did:plc:b", Some("bob.bsky.social"));
        assert_eq!(h.get("did:plc:a"), Some("alice.example.com"));
        h.learn("did:plc:c", Some("carol.bsky.social")); // b was used least recently
        assert_eq!(h.get("did:plc:b"), None);
        assert_eq!(h.get("did:plc:a"), Some("alice.example.com"));
        assert_eq!(h.map.len(), 2);
        h.learn("did:plc:a", None);
        assert_eq!(
            h.get("did:plc:a"),
            None,
            "an identity without a handle forgets it"
        );
        h.learn("did:plc:c", Some("handle.invalid"));
        assert_eq!(h.get("did:plc:c"), None);
        h.learn("did:plc:d", Some("not a handle"));
        assert_eq!(h.get("did:plc:d"), None);
        let mut none = Handles::new(0, 1 << 20);
        none.learn("did:plc:a", Some("alice.example.com"));
        assert_eq!(none.get("did:plc:a"), None);
    }

    /// However long the DIDs a stream sends, the map weighs no more than its budget: the least
    /// recently used go first, and what is no DID at all is not kept.
    #[test]
    fn the_map_is_bounded_by_bytes() {
        let budget = 64 << 10;
        let mut h = Handles::new(100_000, budget);
        for i in 0..1_000 {
            let did = format!("did:web:{}{i}.example", "a".repeat(1_000));
            h.learn(&did, Some("someone.example.com"));
            assert!(h.bytes <= budget, "{} bytes after {i}", h.bytes);
            let counted: usize = h.map.iter().map(|(d, (hd, _))| weight(d, hd)).sum();
            assert_eq!(h.bytes, counted);
        }
        // ~2 KB an entry: about 30 fit, the most recent.
        assert!((20..=32).contains(&h.map.len()), "{}", h.map.len());
        assert_eq!(h.map.len(), h.order.len());
        let last = format!("did:web:{}999.example", "a".repeat(1_000));
        assert_eq!(h.get(&last), Some("someone.example.com"));
        // Forgetting gives the bytes back.
        h.learn(&last, None);
        let counted: usize = h.map.iter().map(|(d, (hd, _))| weight(d, hd)).sum();
        assert_eq!(h.bytes, counted);
        // Past atproto's 2 KB, or without the scheme, it is not a DID: not kept.
        let huge = format!("did:web:{}", "b".repeat(4_000));
        h.learn(&huge, Some("huge.example.com"));
        assert_eq!(h.get(&huge), None);
        h.learn("plc:abc", Some("nodid.example.com"));
        assert_eq!(h.get("plc:abc"), None);
    }
}
