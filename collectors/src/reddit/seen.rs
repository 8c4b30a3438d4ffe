//! What each listing has seen, which is also the collector's cursor.
//!
//! Reddit allocates base-36 ids in increasing order per kind (`t3_` submissions, `t1_`
//! comments), and `/new` and `/comments` list the newest first, so per listing we keep the
//! `remember` largest ids seen. Their range is the *window*: an id above it is new; an id inside
//! it is new only if it is not in the set (a late arrival: listings are served from caches that
//! can lag for a moment, and items held by the spam filter appear once approved); an id below
//! it cannot be told from one that was evicted, so it counts as seen. Eviction only drops the
//! smallest ids, so nothing in the window that was ever seen is missing from the set: no item
//! is emitted twice, within a run or across a restart from the checkpoint.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::common::{CollectorError, Cursor};

/// The ids seen in one listing: the `cap` largest.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    ids: BTreeSet<u64>,
    cap: usize,
}

impl Seen {
    pub(crate) fn new(cap: usize) -> Self {
        Seen {
            ids: BTreeSet::new(),
            cap,
        }
    }

    /// True when `id` was never seen (see the module docs for the window rule).
    pub(crate) fn is_new(&self, id: u64) -> bool {
        match self.ids.first() {
            None => true,
            Some(&low) => id > low && !self.ids.contains(&id),
        }
    }

    pub(crate) fn insert(&mut self, id: u64) {
        self.ids.insert(id);
        while self.ids.len() > self.cap {
            self.ids.pop_first();
        }
    }

    pub(crate) fn newest(&self) -> Option<u64> {
        self.ids.last().copied()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Every configured listing's [`Seen`], keyed by listing path (`r/rust/new`), with the fullname
/// prefix of the things it lists.
#[derive(Debug, Clone)]
pub(crate) struct State {
    listings: BTreeMap<String, (&'static str, Seen)>,
}

/// The cursor's JSON: `{"r/rust/new": {"newest": "t3_abc", "recent": ["t3_9", …, "t3_abc"]}}`.
#[derive(Debug, Serialize, Deserialize)]
struct WireListing {
    newest: String,
    recent: Vec<String>,
}

impl State {
    /// Empty state for `listings` (path and fullname prefix) remembering `cap` ids each.
    pub(crate) fn new(listings: &[(String, &'static str)], cap: usize) -> Self {
        State {
            listings: listings
                .iter()
                .map(|(k, p)| (k.clone(), (*p, Seen::new(cap))))
                .collect(),
        }
    }

    /// Loads a saved cursor. Listings no longer configured are dropped; newly configured ones
    /// start empty.
    pub(crate) fn restore(&mut self, c: &Cursor) -> Result<(), CollectorError> {
        let bad = |why: String| CollectorError::Checkpoint(format!("reddit cursor: {why}"));
        let wire: BTreeMap<String, WireListing> =
            serde_json::from_str(c.as_str()).map_err(|e| bad(e.to_string()))?;
        for (key, w) in wire {
            let Some((prefix, seen)) = self.listings.get_mut(&key) else {
                continue;
            };
            for name in w.recent.iter().chain([&w.newest]) {
                match parse_fullname(name) {
                    Some((p, id)) if p == *prefix => seen.insert(id),
                    _ => return Err(bad(format!("`{name}` in {key} is not a {prefix} fullname"))),
                }
            }
        }
        Ok(())
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Seen> {
        self.listings.get(key).map(|(_, s)| s)
    }

    pub(crate) fn insert(&mut self, key: &str, id: u64) {
        if let Some((_, s)) = self.listings.get_mut(key) {
            s.insert(id);
        }
    }

    /// The cursor: every listing that has seen something.
    pub(crate) fn cursor(&self) -> Cursor {
        let wire: BTreeMap<&str, WireListing> = self
            .listings
            .iter()
            .filter_map(|(k, (prefix, s))| {
                let newest = s.newest()?;
                Some((
                    k.as_str(),
                    WireListing {
                        newest: fullname(prefix, newest),
                        recent: s.ids.iter().map(|&id| fullname(prefix, id)).collect(),
                    },
                ))
            })
            .collect();
        Cursor(serde_json::to_string(&wire).unwrap_or_default())
    }
}

/// `t3_abc` → (`t3`, 0xabc in base 36). `None` for anything else.
pub(crate) fn parse_fullname(name: &str) -> Option<(&str, u64)> {
    let (prefix, id) = name.split_once('_')?;
    let kind_ok = prefix.len() == 2 && prefix.starts_with('t');
    let id_ok = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    if !kind_ok || !id_ok {
        return None;
    }
    Some((prefix, u64::from_str_radix(id, 36).ok()?))
}

/// (`t3`, id) → `t3_abc`.
pub(crate) fn fullname(prefix: &str, mut id: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut digits = Vec::with_capacity(13);
    loop {
        digits.push(DIGITS[(id % 36) as usize]);
        id /= 36;
        if id == 0 {
            break;
        }
    }
    digits.reverse();
    format!("{prefix}_{}", String::from_utf8_lossy(&digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fullnames_round_trip_and_reject_junk() {
        assert_eq!(parse_fullname("t3_5d5yru"), Some(("t3", 324_444_234)));
        assert_eq!(fullname("t3", 324_444_234), "t3_5d5yru");
        assert_eq!(fullname("t1", 0), "t1_0");
        for junk in [
            "t3_",
            "5d5yru",
            "t3_ABC",
            "t3_+1",
            "x3_abc",
            "t3_zzzzzzzzzzzzzzz",
        ] {
            assert_eq!(parse_fullname(junk), None, "{junk}");
        }
    }

    #[test]
    fn window_drops_seen_and_old_ids_and_admits_late_arrivals() {
        let mut s = Seen::new(3);
        assert!(s.is_new(5));
        for id in [10, 12, 14] {
            s.insert(id);
        }
        assert!(!s.is_new(12), "seen");
        assert!(
            s.is_new(13),
            "inside the window, never seen: a late arrival"
        );
        assert!(!s.is_new(9), "below the window");
        assert!(s.is_new(15));
        s.insert(15);
        assert!(!s.is_new(10), "evicted, now below the window");
        assert_eq!(s.newest(), Some(15));
    }

    #[test]
    fn cursor_round_trips_and_drops_unconfigured_listings() {
        let listings = [
            ("r/rust/new".to_owned(), "t3"),
            ("r/rust/comments".to_owned(), "t1"),
        ];
        let mut a = State::new(&listings, 10);
        a.insert("r/rust/new", 100);
        a.insert("r/rust/new", 102);
        let c = a.cursor();
        assert_eq!(
            c.as_str(),
            r#"{"r/rust/new":{"newest":"t3_2u","recent":["t3_2s","t3_2u"]}}"#
        );
        let mut b = State::new(&listings[1..], 10);
        b.restore(&c).expect("restore");
        assert!(b.get("r/rust/new").is_none());
        let mut b = State::new(&listings, 10);
        b.restore(&c).expect("restore");
        assert!(!b.get("r/rust/new").expect("listing").is_new(102));
        let wrong = Cursor(r#"{"r/rust/new":{"newest":"t1_2u","recent":[]}}"#.into());
        assert!(b.restore(&wrong).is_err());
        assert!(b.restore(&Cursor("t3_abc".into())).is_err());
    }
}
