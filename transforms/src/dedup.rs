//! Near-duplicate fingerprints: SimHash and MinHash over word shingles, and hashes of the
//! normalised text.
//!
//! **Normalisation** (shared by every field here): the words of the analysed text by Unicode word
//! segmentation (UAX #29, so punctuation, symbols and emoji drop out), lower-cased, skipping every
//! word inside a URL or an @mention (as found by [`crate::entities`]), joined by single spaces.
//! Hashes are our own (64-bit FNV-1a over UTF-8, mixed with the SplitMix64 finaliser), so values
//! are identical on every platform and build; no `RandomState`.

use std::ops::Range;

use crate::analysis::Analysis;
use crate::registry::{Extractor, FieldSpec, FieldWriter};

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

mod f {
    pub const SIMHASH: usize = 0;
    pub const MINHASH: usize = 1;
    pub const NORM_HASH: usize = 2;
    pub const PREFIX_HASH: usize = 3;
    pub const SHINGLES: usize = 4;
}

const FIELDS: &[FieldSpec] = &[
    FieldSpec::str(
        "simhash64",
        "64-bit SimHash of the normalised text's word 3-shingles, as 16 lower-case hex digits; near-duplicates differ in few bits.",
    ),
    FieldSpec::ints(
        "minhash_signature",
        "MinHash signature of the normalised text's word 3-shingles: 16 values below 2^32; the share of equal positions estimates Jaccard similarity.",
    ),
    FieldSpec::str(
        "text_norm_hash",
        "Hash of the normalised text (lower-cased words, URLs and mentions removed, whitespace collapsed) as 16 hex digits; equal for exact duplicates.",
    ),
    FieldSpec::str(
        "text_prefix_hash",
        "Hash of the first 5 normalised words as 16 hex digits; equal for posts that open alike (templates).",
    ),
    FieldSpec::int(
        "shingle_count",
        "Word 3-shingles in the normalised text (1 for texts of one or two words, 0 for none).",
    ),
];

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// 64-bit FNV-1a, continuing from `h`.
#[inline]
pub fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    h
}

/// SplitMix64's finaliser: spreads every input bit over the output.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hashes of the normalised words, in order. ASCII words are lower-cased byte by byte; others
/// by full Unicode lower-casing.
pub fn word_hashes(a: &Analysis<'_>, out: &mut Vec<u64>) {
    let text = a.text;
    let e = a.entities();
    let base = text.as_ptr() as usize;
    let mut skip: Vec<Range<usize>> = Vec::new();
    if !e.urls.is_empty() || !e.mentions.is_empty() {
        skip.extend(e.urls.iter().map(|u| u.range.clone()));
        skip.extend(e.mentions.iter().map(|r| {
            let sigil = text[..r.start]
                .chars()
                .next_back()
                .map_or(0, char::len_utf8);
            r.start - sigil..r.end
        }));
        skip.sort_by_key(|r| r.start);
    }
    let mut k = 0;
    let mut buf = [0u8; 4];
    for w in a.words() {
        let start = w.as_ptr() as usize - base;
        while k < skip.len() && skip[k].end <= start {
            k += 1;
        }
        if k < skip.len() && skip[k].start <= start {
            continue;
        }
        let h = if w.is_ascii() {
            w.bytes().fold(FNV_OFFSET, |h, b| {
                (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(FNV_PRIME)
            })
        } else {
            w.chars()
                .flat_map(char::to_lowercase)
                .fold(FNV_OFFSET, |h, c| {
                    fnv1a(h, c.encode_utf8(&mut buf).as_bytes())
                })
        };
        out.push(h);
    }
}

/// Hashes of the word shingles of `words` (one shingle of all words when there are fewer than
/// [`SHINGLE`]).
pub fn shingle_hashes(words: &[u64], out: &mut Vec<u64>) {
    if words.is_empty() {
        return;
    }
    if words.len() < SHINGLE {
        out.push(mix(words.iter().fold(FNV_OFFSET, |h, w| mix(h ^ w))));
        return;
    }
    out.extend(
        words
            .windows(SHINGLE)
            .map(|s| mix(s.iter().fold(FNV_OFFSET, |h, w| mix(h ^ w)))),
    );
}

/// SimHash of a set of feature hashes: bit `b` is set when more features have it set than not.
pub fn simhash(features: &[u64]) -> u64 {
    let mut acc = [0i32; 64];
    for &h in features {
        for (b, slot) in acc.iter_mut().enumerate() {
            *slot += (((h >> b) & 1) as i32) * 2 - 1;
        }
    }
    acc.iter()
        .enumerate()
        .fold(0u64, |s, (b, &v)| if v > 0 { s | (1 << b) } else { s })
}

/// Odd multipliers for the MinHash permutations (multiply-shift hashing), fixed forever.
const MINHASH_MULT: [u64; MINHASH_SIZE] = {
    let mut m = [0u64; MINHASH_SIZE];
    let mut z: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut i = 0;
    while i < MINHASH_SIZE {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = z;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        m[i] = (x ^ (x >> 31)) | 1;
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

/// Hash of a sequence of word hashes (the normalised text joined by spaces).
fn sequence_hash(words: &[u64]) -> u64 {
    mix(words.iter().fold(FNV_OFFSET, |h, &w| mix(h ^ w)) ^ words.len() as u64)
}

impl Extractor for Fingerprints {
    fn name(&self) -> &'static str {
        "dedup"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let mut words = Vec::with_capacity(a.words().len());
        word_hashes(a, &mut words);
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
