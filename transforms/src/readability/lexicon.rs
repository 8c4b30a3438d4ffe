//! English word facts textstat 0.7.8 looks up: syllable counts (CMUdict first, Liang
//! hyphenation over Pyphen's `hyph_en_US.dic` otherwise) and the Dale–Chall list of easy words.
//!
//! Everything is folded into one open-addressing table from lower-cased word to a packed byte,
//! so each word of a text costs one lookup (usually one cache line); words missing from it fall
//! back to the hyphenation trie.

use std::sync::LazyLock;

use super::hyphen::{Patterns, Scratch};
use crate::hash::{hash_bytes, mix};

const CMUDICT: &str = include_str!("../../data/readability/cmudict_syllables.txt");
const HYPH_EN_US: &str = include_str!("../../data/readability/hyph_en_US.dic");
const EASY_WORDS: &str = include_str!("../../data/readability/dale_chall_easy_words.txt");

/// Packed entry: low 6 bits syllables, this bit set for Dale–Chall easy words.
const EASY: u8 = 0x80;
const SYLLABLES: u8 = 0x3f;

/// What the lexicon knows about one lower-cased word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WordFacts {
    pub syllables: u32,
    /// On the Dale–Chall list of familiar words.
    pub easy: bool,
}

/// Open-addressing table keyed by the word's bytes. Keys of up to [`INLINE`] bytes are packed
/// into the slot itself, so a lookup is one cache line and two integer compares; longer keys
/// live in `long_keys`.
#[derive(Debug)]
struct Table {
    slots: Vec<Slot>,
    mask: usize,
    long_keys: Vec<u8>,
}

/// All words, plus a small copy of the Dale–Chall words (two thirds of the words in social text)
/// that stays in cache.
#[derive(Debug)]
struct Lexicon {
    hot: Table,
    all: Table,
    patterns: Patterns,
}

const INLINE: usize = 14;

/// Bytes 0..14: the key, zero-padded (or, for a longer key, its offset in `long_keys` as 8 LE
/// bytes); byte 14: key length (0: empty slot); byte 15: the packed value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(align(16))]
struct Slot([u64; 2]);

const VALUE_SHIFT: u32 = 56;
const LEN_SHIFT: u32 = 48;
const KEY_MASK_HI: u64 = (1 << VALUE_SHIFT) - 1;

impl Slot {
    fn len(self) -> usize {
        ((self.0[1] >> LEN_SHIFT) & 0xff) as usize
    }
    fn value(self) -> u8 {
        (self.0[1] >> VALUE_SHIFT) as u8
    }
}

/// A key as it is stored: the slot image without the value byte.
#[inline]
fn packed(key: &[u8], long_offset: u64) -> [u64; 2] {
    let mut b = [0u8; 16];
    if key.len() <= INLINE {
        b[..key.len()].copy_from_slice(key);
    } else {
        b[..8].copy_from_slice(&long_offset.to_le_bytes());
    }
    b[14] = key.len() as u8;
    let lo = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let hi = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], 0]);
    [lo, hi]
}

impl Table {
    fn with_capacity(n: usize) -> Table {
        let size = (n * 2).next_power_of_two();
        Table {
            slots: vec![Slot::default(); size],
            mask: size - 1,
            long_keys: Vec::new(),
        }
    }

    /// The slot holding `key`, or the empty slot where it would go.
    #[inline]
    fn find(&self, key: &[u8]) -> usize {
        if key.len() <= INLINE {
            let q = packed(key, 0);
            let mut i = mix(q[0] ^ q[1].rotate_left(29)) as usize & self.mask;
            loop {
                let s = self.slots[i];
                if (s.0[0] == q[0] && s.0[1] & KEY_MASK_HI == q[1]) || s.len() == 0 {
                    return i;
                }
                i = (i + 1) & self.mask;
            }
        }
        let mut i = hash_bytes(key) as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s.len() == 0 {
                return i;
            }
            if s.len() == key.len() {
                let off = s.0[0] as usize;
                if self.long_keys.get(off..off + key.len()) == Some(key) {
                    return i;
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Sets `key`'s value with `f(old)` (`old` is `None` for a new key). Keys longer than 255
    /// bytes are not stored (no English word is that long).
    fn update(&mut self, key: &str, f: impl FnOnce(Option<u8>) -> u8) {
        let key = key.as_bytes();
        if key.is_empty() || key.len() > usize::from(u8::MAX) {
            return;
        }
        let i = self.find(key);
        let old = self.slots[i];
        let (image, value) = if old.len() != 0 {
            ([old.0[0], old.0[1] & KEY_MASK_HI], f(Some(old.value())))
        } else {
            let offset = self.long_keys.len() as u64;
            if key.len() > INLINE {
                self.long_keys.extend_from_slice(key);
            }
            (packed(key, offset), f(None))
        };
        self.slots[i] = Slot([image[0], image[1] | (u64::from(value) << VALUE_SHIFT)]);
    }

    #[inline]
    fn get(&self, key: &str) -> Option<u8> {
        let key = key.as_bytes();
        if key.is_empty() || key.len() > usize::from(u8::MAX) {
            return None;
        }
        let s = self.slots[self.find(key)];
        (s.len() != 0).then(|| s.value())
    }
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
    let patterns = Patterns::parse(HYPH_EN_US);
    let easy: Vec<&str> = EASY_WORDS
        .lines()
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    let mut all = Table::with_capacity(CMUDICT.lines().count() + easy.len());
    for line in CMUDICT.lines() {
        if let Some((w, n)) = line.split_once(' ') {
            let n: u8 = n.parse().unwrap_or(0);
            all.update(w, |_| n.min(SYLLABLES));
        }
    }
    let mut scratch = Scratch::default();
    for w in &easy {
        let liang = (patterns.count_points(w, &mut scratch) + 1).min(usize::from(SYLLABLES)) as u8;
        all.update(w, |old| old.unwrap_or(liang) | EASY);
    }
    let mut hot = Table::with_capacity(easy.len());
    for w in &easy {
        if let Some(v) = all.get(w) {
            hot.update(w, |_| v);
        }
    }
    Lexicon { hot, all, patterns }
});

/// Forces the lexicon to load (so a benchmark does not time the first parse).
pub fn warm_up() {
    LazyLock::force(&LEXICON);
}

/// Slots of the per-thread front cache: 64 KiB, small enough to stay in a core's L2 cache,
/// where the full table (megabytes) mostly misses it.
const FRONT: usize = 1 << 12;

/// Syllables and familiarity of `lower`, a lower-cased word as textstat splits it.
///
/// Words of up to [`INLINE`] bytes (nearly all) are remembered in a small direct-mapped front
/// cache in `scratch`, in the same packed form as the table's slots: social text repeats its
/// words, and a hit there costs one L2 access instead of a likely cache miss in the lexicon.
pub(crate) fn facts(lower: &str, scratch: &mut Scratch) -> WordFacts {
    let key = lower.as_bytes();
    if key.is_empty() || key.len() > INLINE {
        return lookup(lower, scratch);
    }
    let q = packed(key, 0);
    let i = (mix(q[0] ^ q[1].rotate_left(29)) >> 32) as usize & (FRONT - 1);
    if scratch.front.len() != FRONT {
        scratch.front = vec![[0; 2]; FRONT];
    }
    // An empty entry never matches: a key's image holds its non-zero length.
    let e = scratch.front[i];
    if e[0] == q[0] && e[1] & KEY_MASK_HI == q[1] {
        let v = (e[1] >> VALUE_SHIFT) as u8;
        return WordFacts {
            syllables: u32::from(v & SYLLABLES),
            easy: v & EASY != 0,
        };
    }
    let f = lookup(lower, scratch);
    if let Ok(syllables) = u8::try_from(f.syllables)
        && syllables <= SYLLABLES
    {
        let v = syllables | if f.easy { EASY } else { 0 };
        scratch.front[i] = [q[0], q[1] | (u64::from(v) << VALUE_SHIFT)];
    }
    f
}

/// [`facts`] without the front cache.
fn lookup(lower: &str, scratch: &mut Scratch) -> WordFacts {
    let lex = &*LEXICON;
    match lex.hot.get(lower).or_else(|| lex.all.get(lower)) {
        Some(v) => WordFacts {
            syllables: u32::from(v & SYLLABLES),
            easy: v & EASY != 0,
        },
        // No hyphenation pattern holds a digit or `_`: such words are one syllable.
        None if lower.bytes().all(|b| b.is_ascii_digit() || b == b'_') => WordFacts {
            syllables: 1,
            easy: false,
        },
        None => WordFacts {
            syllables: scratch.cached(lower, |w, s| lex.patterns.count_points(w, s) as u32 + 1),
            easy: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syl(w: &str) -> u32 {
        facts(w, &mut Scratch::default()).syllables
    }

    #[test]
    fn cmudict_words_use_its_stress_count() {
        assert_eq!(syl("the"), 1);
        assert_eq!(syl("beautiful"), 3);
        assert_eq!(syl("don't"), 1);
        // CMUdict has no vowel in "hmm": 0 syllables, as textstat counts it.
        assert_eq!(syl("hmm"), 0);
    }

    #[test]
    fn unknown_words_fall_back_to_hyphenation() {
        // Pyphen: "hyphenation" is not looked up here since CMUdict has it; pick made-up words.
        let mut s = Scratch::default();
        let p = &LEXICON.patterns;
        assert_eq!(p.count_points("", &mut s), 0);
        assert_eq!(p.count_points("a", &mut s), 0);
        assert_eq!(p.count_points("2024", &mut s), 0);
        assert!(syl("blorptastically") >= 4);
        assert_eq!(syl("😀"), 1);
    }

    #[test]
    fn easy_words_come_from_dale_chall() {
        let mut s = Scratch::default();
        assert!(facts("happy", &mut s).easy);
        assert!(!facts("ubiquitous", &mut s).easy);
    }
}
