//! Word lookups kept small, so that they stay in a core's own cache beside the compiled rules:
//! [`WordTable`], the rules' words and their keys, and [`WordCache`], each thread's memory of
//! what the words of mentions looked up to.
//!
//! Both are open addressing over 8-byte slots, each `(hash tag, entry)`, with the entries in one
//! arena of u32s and a word's bytes packed four to a u32 in its entry. A probe reads one slot and
//! the entry it names. The maps they replace held a 32-byte key per slot (the cache: 2.6 MB for
//! 65,536 words, more than a core's L2 cache) or a pointer to a string elsewhere (the table: one
//! more cache miss per lookup), and pushed the rules out of the cache.
//!
//! Hashes ([`crate::hash::hash_bytes_seeded`]) are seeded from the process's random state: the cache is keyed by mention text, which
//! posters choose, and the table by rules, which tenants write; neither can aim words at one run
//! of slots.

use crate::hash::{hash_bytes_seeded, random_seed};

/// Most distinct words held before the cache starts afresh.
pub(super) const CACHE_WORDS: usize = 1 << 16;
/// Longer words are looked up without the cache.
pub(super) const CACHE_WORD_BYTES: usize = 64;
/// Twice as many slots as words: probes stay short.
const SLOTS: usize = 2 * CACHE_WORDS;

/// The slot index and tag of `b` under `seed`, for a table of `mask + 1` slots.
#[inline]
fn locate(seed: u64, b: &[u8], mask: usize) -> (usize, u64) {
    let x = hash_bytes_seeded(seed, b);
    (x as usize & mask, x >> 32)
}

/// Whether an entry's word, `len` bytes packed by [`pack`] into `stored`, is `b`. The length
/// tells `abc` from `abc\0`, which pack alike.
#[inline]
fn same_word(b: &[u8], len: usize, stored: &[u32]) -> bool {
    len == b.len() && b.chunks(4).zip(stored).all(|(c, &x)| pack(c) == x)
}

/// The words of the rules in one form, each with its key; built once per compiled matcher.
#[derive(Debug)]
pub(super) struct WordTable {
    /// `tag << 32 | (entry + 1)`, or 0 when empty; at least twice as many as words.
    slots: Vec<u64>,
    /// Entries: `[byte length, key, the word's bytes four to a u32…]`.
    arena: Vec<u32>,
    seed: u64,
}

impl WordTable {
    pub fn new<'a>(words: impl ExactSizeIterator<Item = (&'a str, u32)>) -> WordTable {
        let n = (2 * words.len()).next_power_of_two().max(16);
        let mut t = WordTable {
            slots: vec![0; n],
            arena: Vec::new(),
            seed: random_seed(),
        };
        for (w, key) in words {
            let b = w.as_bytes();
            let (mut i, tag) = locate(t.seed, b, n - 1);
            while t.slots[i] != 0 {
                i = (i + 1) & (n - 1);
            }
            t.slots[i] = tag << 32 | (t.arena.len() as u64 + 1);
            t.arena.extend([b.len() as u32, key]);
            t.arena.extend(b.chunks(4).map(pack));
        }
        t
    }

    /// The key of `w`, if a rule has it.
    #[inline]
    pub fn get(&self, w: &str) -> Option<u32> {
        let b = w.as_bytes();
        let mask = self.slots.len() - 1;
        let (mut i, tag) = locate(self.seed, b, mask);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            if slot >> 32 == tag {
                let e = (slot as u32 - 1) as usize;
                let len = self.arena[e] as usize;
                if same_word(b, len, &self.arena[e + 2..][..len.div_ceil(4)]) {
                    return Some(self.arena[e + 1]);
                }
            }
            i = (i + 1) & mask;
        }
    }
}

/// Word → the keys its lookup produced.
#[derive(Debug)]
pub(super) struct WordCache {
    /// `tag << 32 | (entry + 1)`, or 0 when empty. Allocated at first use.
    slots: Vec<u64>,
    /// The entries, then (past the last entry) the keys of a word too long to cache.
    arena: Vec<u32>,
    words: usize,
    seed: u64,
}

impl Default for WordCache {
    fn default() -> WordCache {
        WordCache {
            slots: Vec::new(),
            arena: Vec::new(),
            words: 0,
            seed: random_seed(),
        }
    }
}

/// Where a word's keys are in the arena, and whether they must be dropped after use.
#[derive(Debug, Clone, Copy)]
pub(super) struct Found {
    pub start: u32,
    pub len: u32,
    /// The word was not cached (too long): [`WordCache::release`] drops its keys.
    pub transient: bool,
}

impl WordCache {
    /// Forgets every word.
    pub fn clear(&mut self) {
        self.slots.fill(0);
        self.arena.clear();
        self.words = 0;
    }

    /// The keys of `w`: cached, or appended to the arena by `look_up` (which must append
    /// only keys) and cached when `w` is short enough.
    #[inline]
    pub fn keys(&mut self, w: &str, look_up: impl FnOnce(&mut Vec<u32>)) -> Found {
        let b = w.as_bytes();
        if b.len() > CACHE_WORD_BYTES {
            let start = self.arena.len();
            look_up(&mut self.arena);
            return Found {
                start: start as u32,
                len: (self.arena.len() - start) as u32,
                transient: true,
            };
        }
        if self.slots.is_empty() {
            self.slots = vec![0; SLOTS];
        }
        let mask = SLOTS - 1;
        let (mut i, tag) = locate(self.seed, b, mask);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                break;
            }
            if slot >> 32 == tag {
                let e = (slot as u32 - 1) as usize;
                if let Some(found) = self.entry_of(e, b) {
                    return found;
                }
            }
            i = (i + 1) & mask;
        }
        if self.words >= CACHE_WORDS {
            self.clear();
            // The slot found empty above is empty still, and the arena starts again at 0.
        }
        let e = self.arena.len();
        self.arena.push(b.len() as u32);
        self.arena.push(0);
        self.arena.extend(b.chunks(4).map(pack));
        let start = self.arena.len();
        look_up(&mut self.arena);
        let len = self.arena.len() - start;
        self.arena[e + 1] = len as u32;
        self.slots[i] = tag << 32 | (e as u64 + 1);
        self.words += 1;
        Found {
            start: start as u32,
            len: len as u32,
            transient: false,
        }
    }

    /// The keys `f` names.
    #[inline]
    pub fn get(&self, f: Found) -> &[u32] {
        &self.arena[f.start as usize..][..f.len as usize]
    }

    /// Drops a transient word's keys once they have been used.
    #[inline]
    pub fn release(&mut self, f: Found) {
        if f.transient {
            self.arena.truncate(f.start as usize);
        }
    }

    /// The keys of the entry at `e` if it holds the word `b`.
    #[inline]
    fn entry_of(&self, e: usize, b: &[u8]) -> Option<Found> {
        let (len, keys) = (self.arena[e] as usize, self.arena[e + 1]);
        let packed = len.div_ceil(4);
        same_word(b, len, &self.arena[e + 2..][..packed]).then_some(Found {
            start: (e + 2 + packed) as u32,
            len: keys,
            transient: false,
        })
    }
}

/// Up to four bytes as a little-endian u32, zero-padded.
#[inline]
fn pack(c: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b[..c.len()].copy_from_slice(c);
    u32::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys for a word, made up from its bytes so that each word's are different.
    fn fake_keys(w: &str) -> impl FnOnce(&mut Vec<u32>) + '_ {
        move |arena| arena.extend(w.bytes().map(u32::from).take(3))
    }

    #[test]
    fn the_table_finds_exactly_its_words() {
        let words = ["a", "ab", "abc", "abcd", "abcde", "café", "abcd\0", ""];
        let t = WordTable::new(words.iter().enumerate().map(|(i, w)| (*w, i as u32)));
        for (i, w) in words.iter().enumerate() {
            assert_eq!(t.get(w), Some(i as u32), "{w:?}");
        }
        for w in ["b", "abcdef", "abc\0", "cafe", "a\0"] {
            assert_eq!(t.get(w), None, "{w:?}");
        }
        let empty = WordTable::new(std::iter::empty());
        assert_eq!(empty.get("a"), None);
    }

    #[test]
    fn a_full_table_of_similar_words_probes_correctly() {
        let words: Vec<String> = (0..5000).map(|i| format!("w{i:04}")).collect();
        let t = WordTable::new(
            words
                .iter()
                .enumerate()
                .map(|(i, w)| (w.as_str(), i as u32)),
        );
        for (i, w) in words.iter().enumerate() {
            assert_eq!(t.get(w), Some(i as u32));
        }
        assert_eq!(t.get("w5000"), None);
    }

    #[test]
    fn words_come_back_with_their_own_keys_and_are_looked_up_once() {
        let mut c = WordCache::default();
        let mut calls = 0;
        let words = ["a", "ab", "abc", "abcd", "abcde", "café", "abcd\0", ""];
        for round in 0..2 {
            for w in words {
                let f = c.keys(w, |arena| {
                    calls += 1;
                    fake_keys(w)(arena)
                });
                let want: Vec<u32> = w.bytes().map(u32::from).take(3).collect();
                assert_eq!(c.get(f), &want[..], "{w:?} in round {round}");
                assert!(!f.transient);
            }
        }
        assert_eq!(
            calls,
            words.len(),
            "the second round is served from the cache"
        );
    }

    #[test]
    fn long_words_are_looked_up_each_time_and_leave_nothing_behind() {
        let mut c = WordCache::default();
        let long = "x".repeat(CACHE_WORD_BYTES + 1);
        let before = c.arena.len();
        let f = c.keys(&long, fake_keys(&long));
        assert!(f.transient);
        assert_eq!(c.get(f), &[120, 120, 120]);
        c.release(f);
        assert_eq!(c.arena.len(), before);
        let mut looked = false;
        c.keys(&long, |_| looked = true);
        assert!(looked);
    }

    #[test]
    fn a_full_cache_starts_afresh_and_stays_correct() {
        let mut c = WordCache::default();
        for i in 0..CACHE_WORDS + 10 {
            let w = format!("w{i}");
            let f = c.keys(&w, |arena| arena.push(i as u32));
            assert_eq!(c.get(f), &[i as u32]);
        }
        assert!(c.words <= CACHE_WORDS);
        // An early word was dropped and is looked up again, with its own keys.
        let f = c.keys("w0", |arena| arena.push(7));
        assert_eq!(c.get(f), &[7]);
        let f = c.keys(&format!("w{}", CACHE_WORDS + 9), |_| panic!("still cached"));
        assert_eq!(c.get(f), &[(CACHE_WORDS + 9) as u32]);
    }
}
