//! DID → handle, learnt from Jetstream `identity` events.
//!
//! Commits name their author by DID only. Jetstream sends an `identity` event when an account's
//! identity changes (a new handle, a migration) with the handle the relay verified; an event
//! without a handle means the old one no longer holds, so it is forgotten and the DID is shown
//! again until a new one arrives. The map is bounded: past `cap` entries the least recently used
//! DID is forgotten first, so accounts that post keep their handles.

use std::collections::{BTreeMap, HashMap};

#[derive(Debug)]
pub(crate) struct Handles {
    cap: usize,
    /// DID → (handle, the tick it was last used at).
    map: HashMap<String, (String, u64)>,
    /// tick → DID, oldest first.
    order: BTreeMap<u64, String>,
    tick: u64,
}

impl Handles {
    /// A map of at most `cap` DIDs; 0 keeps none.
    pub(crate) fn new(cap: usize) -> Self {
        Handles {
            cap,
            map: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
        }
    }

    /// What an `identity` event says: `did` now has `handle`, or (None) no verified handle.
    pub(crate) fn learn(&mut self, did: &str, handle: Option<&str>) {
        if let Some((_, t)) = self.map.remove(did) {
            self.order.remove(&t);
        }
        let Some(handle) = handle.filter(|h| valid_handle(h)) else {
            return;
        };
        if self.cap == 0 {
            return;
        }
        while self.map.len() >= self.cap {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&old);
        }
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
        let mut h = Handles::new(2);
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
        let mut none = Handles::new(0);
        none.learn("did:plc:a", Some("alice.example.com"));
        assert_eq!(none.get("did:plc:a"), None);
    }
}
