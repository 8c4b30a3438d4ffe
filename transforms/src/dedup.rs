//! Near-duplicate fingerprints: SimHash and MinHash over word shingles, and hashes of the
//! normalised text.
//!
//! **Normalisation** (shared by every field here): the words of the analysed text by Unicode word
//! segmentation (UAX #29, so punctuation, symbols and emoji drop out), lower-cased, skipping every
//! word inside a URL or an @mention (as found by [`crate::entities`]), joined by single spaces.
//! A text with no words left (a bare link, only emoji) would hash like every other such text, so
//! its links stand in for its words (a link posted twice is a duplicate; two different links are
//! not), and with no links either the fingerprints are `null`: absent, never a shared value.
//! Hashes are our own (words hashed eight bytes at a time by multiply-rotate, combined with the
//! SplitMix64 finaliser), so values are identical on every platform and build; no `RandomState`.

use std::ops::Range;

pub mod cluster;

use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::registry::{FieldSpec, FieldWriter, fields};

pub const EXTRACTORS: &[&dyn Extractor] = &[&Fingerprints];

/// Words per shingle.
pub const SHINGLE: usize = 3;
/// Values in the MinHash signature.
pub const MINHASH_SIZE: usize = 16;
/// Normalised words hashed by `text_prefix_hash`.
pub const PREFIX_WORDS: usize = 5;

/// Near-duplicate fingerprints of the normalised text.
#[derive(Debug)]
pub struct Fingerprints;

fields! {
    const FIELDS, mod f = [
        SIMHASH => FieldSpec::str(
            "simhash64",
            "64-bit SimHash of the normalised text's word 3-shingles, as 16 lower-case hex digits; near-duplicates differ in few bits. A text without words is fingerprinted by its links; null with neither.",
        )
        .nullable(),
        MINHASH => FieldSpec::ints(
            "minhash_signature",
            "MinHash signature of the normalised text's word 3-shingles: 16 values below 2^32; the share of equal positions estimates Jaccard similarity. Links stand in for words as in simhash64; null with neither.",
        )
        .nullable(),
        NORM_HASH => FieldSpec::str(
            "text_norm_hash",
            "Hash of the normalised text (lower-cased words, URLs and mentions removed, whitespace collapsed) as 16 hex digits; equal for exact duplicates. Links stand in for words as in simhash64; null with neither.",
        )
        .nullable(),
        PREFIX_HASH => FieldSpec::str(
            "text_prefix_hash",
            "Hash of the first 5 normalised words as 16 hex digits; equal for posts that open alike (templates). Links stand in for words as in simhash64; null with neither.",
        )
        .nullable(),
        SHINGLES => FieldSpec::int(
            "shingle_count",
            "Word 3-shingles in the normalised text (1 for texts of one or two words, 0 for none).",
        ),
    ]
}

use crate::hash::K1;
pub use crate::hash::{SEED, hash_word, mix, word_hash};

/// Hashes of the normalised words, in order: the shared word hashes, skipping words inside URLs
/// and mentions.
pub fn word_hashes(a: &Analysis<'_>, out: &mut Vec<u64>) {
    let text = a.text;
    let e = a.entities();
    let hashes = a.word_hashes();
    if e.urls.is_empty() && e.mentions.is_empty() {
        out.extend_from_slice(hashes);
        return;
    }
    let base = text.as_ptr() as usize;
    let mut skip: Vec<Range<usize>> = Vec::with_capacity(e.urls.len() + e.mentions.len());
    skip.extend(e.urls.iter().map(|u| u.range.clone()));
    skip.extend(e.mentions.iter().map(|r| {
        let sigil = text[..r.start]
            .chars()
            .next_back()
            .map_or(0, char::len_utf8);
        r.start - sigil..r.end
    }));
    skip.sort_by_key(|r| r.start);
    let mut k = 0;
    for (w, &h) in a.words().iter().zip(hashes) {
        let start = w.as_ptr() as usize - base;
        while k < skip.len() && skip[k].end <= start {
            k += 1;
        }
        if k < skip.len() && skip[k].start <= start {
            continue;
        }
        out.push(h);
    }
}

/// Hashes of the links of a text without words, in order: each URL as written, lower-cased, and
/// hashed as a word is.
pub fn link_hashes(a: &Analysis<'_>, out: &mut Vec<u64>) {
    for u in &a.entities().urls {
        out.push(word_hash(
            crate::unicode::to_lowercase(&a.text[u.range.clone()]).as_bytes(),
        ));
    }
}

/// Hashes of the word shingles of `words` (one shingle of all words when there are fewer than
/// [`SHINGLE`]): the finalised combination of its (finalised) word hashes at distinct rotations,
/// so order matters.
pub fn shingle_hashes(words: &[u64], out: &mut Vec<u64>) {
    let combine = |s: &[u64]| {
        mix(s
            .iter()
            .enumerate()
            .fold(SEED, |h, (k, &w)| h ^ w.rotate_left(21 * k as u32)))
    };
    if words.is_empty() {
        return;
    }
    if words.len() < SHINGLE {
        out.push(combine(words));
        return;
    }
    out.extend(words.windows(SHINGLE).map(combine));
}

/// Byte `k` of entry `v` is bit `k` of `v`: spreads 8 bits over 8 byte lanes.
const SPREAD: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut v = 0;
    while v < 256 {
        let mut k = 0;
        while k < 8 {
            t[v] |= (((v >> k) & 1) as u64) << (8 * k);
            k += 1;
        }
        v += 1;
    }
    t
};

/// SimHash of a set of feature hashes: bit `b` is set when more than half of the features have
/// it set. Counts are kept in byte lanes (SWAR), flushed every 255 features.
pub fn simhash(features: &[u64]) -> u64 {
    let mut counts = [0u32; 64];
    for chunk in features.chunks(255) {
        let mut lanes = [0u64; 8];
        for &h in chunk {
            for (k, lane) in lanes.iter_mut().enumerate() {
                *lane += SPREAD[((h >> (8 * k)) & 0xff) as usize];
            }
        }
        for (k, lane) in lanes.iter().enumerate() {
            for j in 0..8 {
                counts[8 * k + j] += ((lane >> (8 * j)) & 0xff) as u32;
            }
        }
    }
    let n = features.len() as u32;
    counts
        .iter()
        .enumerate()
        .fold(0u64, |s, (b, &c)| if 2 * c > n { s | (1 << b) } else { s })
}

/// Odd multipliers for the MinHash permutations (multiply-shift hashing), fixed forever.
const MINHASH_MULT: [u64; MINHASH_SIZE] = {
    let mut m = [0u64; MINHASH_SIZE];
    let mut z: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut i = 0;
    while i < MINHASH_SIZE {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        m[i] = mix(z) | 1;
        i += 1;
    }
    m
};

/// MinHash signature: for each permutation, the least 32-bit hash over the features
/// (`u32::MAX` everywhere when there are none).
pub fn minhash(features: &[u64]) -> [u32; MINHASH_SIZE] {
    let mut sig = [u32::MAX; MINHASH_SIZE];
    for &h in features {
        for (s, m) in sig.iter_mut().zip(MINHASH_MULT) {
            *s = (*s).min((h.wrapping_mul(m) >> 32) as u32);
        }
    }
    sig
}

fn hex(out: &mut FieldWriter<'_>, i: usize, v: u64) {
    let mut buf = [0u8; 16];
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (k, b) in buf.iter_mut().enumerate() {
        *b = DIGITS[((v >> (60 - 4 * k)) & 0xf) as usize];
    }
    out.str(i, std::str::from_utf8(&buf).unwrap_or("0000000000000000"));
}

/// Hash of a sequence of (finalised) word hashes: the normalised text joined by spaces.
fn sequence_hash(words: &[u64]) -> u64 {
    let h = words
        .iter()
        .fold(SEED, |h, &w| (h ^ w).wrapping_mul(K1).rotate_left(27));
    mix(h ^ words.len() as u64)
}

impl Extractor for Fingerprints {
    fn name(&self) -> &'static str {
        "dedup"
    }
    fn version(&self) -> u32 {
        2
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let mut words = Vec::with_capacity(a.words().len());
        word_hashes(a, &mut words);
        if words.is_empty() {
            link_hashes(a, &mut words);
        }
        if words.is_empty() {
            for i in [f::SIMHASH, f::MINHASH, f::NORM_HASH, f::PREFIX_HASH] {
                out.null(i);
            }
            out.count(f::SHINGLES, 0);
            return;
        }
        let mut shingles = Vec::with_capacity(words.len());
        shingle_hashes(&words, &mut shingles);
        hex(out, f::SIMHASH, simhash(&shingles));
        let sig = out.ints(f::MINHASH);
        sig.extend(minhash(&shingles).iter().map(|&v| u64::from(v)));
        hex(out, f::NORM_HASH, sequence_hash(&words));
        hex(
            out,
            f::PREFIX_HASH,
            sequence_hash(&words[..words.len().min(PREFIX_WORDS)]),
        );
        out.count(f::SHINGLES, shingles.len());
    }
}

#[cfg(test)]
mod tests;
