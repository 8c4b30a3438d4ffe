//! English word facts textstat 0.7.8 looks up: syllable counts (CMUdict first, Liang
//! hyphenation over Pyphen's `hyph_en_US.dic` otherwise) and the Dale–Chall list of easy words.
//!
//! Everything is folded into one hash map from lower-cased word to a packed byte, so each word of
//! a text costs one lookup; words missing from it fall back to the hyphenation trie.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use super::hyphen::{Patterns, Scratch};

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

#[derive(Debug)]
struct Lexicon {
    words: HashMap<&'static str, u8, BuildHasherDefault<FxHasher>>,
    patterns: Patterns,
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
    let patterns = Patterns::parse(HYPH_EN_US);
    let mut words: HashMap<&'static str, u8, BuildHasherDefault<FxHasher>> =
        HashMap::with_capacity_and_hasher(130_000, Default::default());
    for line in CMUDICT.lines() {
        if let Some((w, n)) = line.split_once(' ') {
            let n: u8 = n.parse().unwrap_or(0);
            words.insert(w, n.min(SYLLABLES));
        }
    }
    let mut scratch = Scratch::default();
    for w in EASY_WORDS.lines().map(str::trim).filter(|w| !w.is_empty()) {
        let entry = words.entry(w).or_insert_with(|| {
            let n = patterns.count_points(w, &mut scratch) + 1;
            n.min(usize::from(SYLLABLES)) as u8
        });
        *entry |= EASY;
    }
    Lexicon { words, patterns }
});

/// Forces the lexicon to load (so a benchmark does not time the first parse).
pub fn warm_up() {
    LazyLock::force(&LEXICON);
}

/// Syllables and familiarity of `lower`, a lower-cased word as textstat splits it.
pub(crate) fn facts(lower: &str, scratch: &mut Scratch) -> WordFacts {
    let lex = &*LEXICON;
    match lex.words.get(lower) {
        Some(&v) => WordFacts {
            syllables: u32::from(v & SYLLABLES),
            easy: v & EASY != 0,
        },
        None => WordFacts {
            syllables: lex.patterns.count_points(lower, scratch) as u32 + 1,
            easy: false,
        },
    }
}

/// A small, fast, non-cryptographic hasher (the rustc "Fx" multiply-rotate scheme) for the
/// static word tables; keys are not attacker-controlled in a way that matters for a read-only map.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
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
