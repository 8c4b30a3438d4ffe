//! The crate's hashing, in one place, by what the keys are:
//!
//! - Maps and sets keyed by fixed data (lexicons, lists, the catalogue) and only *looked up*
//!   with mention text ([`FastMap`]) use rustc's Fx hash (the `rustc-hash` crate): fast on short
//!   keys, and nobody can choose what goes into them, so flood resistance would buy nothing.
//!   [`WordSet`] is the exception for the hottest look-up, every token against a stop-word list:
//!   [`hash_bytes`] measured faster there (see its doc).
//! - Tables whose keys someone outside chooses need a seed that enters every chunk of the key:
//!   [`hash_bytes_seeded`] with a [`random_seed`] of their own. That is every table that mention
//!   text goes *into* (each thread's caches of stems, syllables and signal words), and every
//!   table built from tenants' rules, which serves every tenant's mentions ([`SeededMap`], the
//!   signals' word table). The Fx hash cannot serve there: its seed only offsets a hash of the
//!   bytes that is the same for every seed, so colliding words stay colliding whatever the seed,
//!   and anyone who can make words collide can make every probe walk one long run of slots.
//!   The signals' prefix trie keeps Fx: its keys are its own node numbers, handed out as rules
//!   arrive, each with one byte, so a rule chooses at most which of 256 keys a node gets.
//! - Fingerprints and the registry version must be the same on every platform, build and run:
//!   [`word_hash`] and [`Fnv32`].

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use rustc_hash::FxBuildHasher;

/// A hash map with rustc's Fx hash, for keys mention text cannot choose.
pub(crate) type FastMap<K, V> = HashMap<K, V, FxBuildHasher>;

/// A set of short strings hashed with [`hash_bytes`], for a look-up per token of text. The
/// tokens extractor, which checks every token against a stop-word list, took 7.5–7.7 µs per
/// mention with an Fx-hashed set and 6.4–6.9 with this (CPU time, real corpus, interleaved runs).
pub(crate) type WordSet<T> = HashSet<T, BuildHasherDefault<BytesHasher>>;

/// A hash map for keys that someone outside chooses: mention text, or tenants' rules. Each map
/// hashes with [`hash_bytes_seeded`] from a [`random_seed`] of its own, so no poster or tenant
/// can aim keys at one run of slots.
pub(crate) type SeededMap<K, V> = HashMap<K, V, Seeded>;

/// The hasher factory of a [`SeededMap`]: a random seed per map.
#[derive(Debug, Clone)]
pub(crate) struct Seeded(u64);

impl Default for Seeded {
    fn default() -> Self {
        Seeded(random_seed())
    }
}

impl BuildHasher for Seeded {
    type Hasher = BytesHasher;
    #[inline]
    fn build_hasher(&self) -> BytesHasher {
        BytesHasher(self.0)
    }
}

/// A seed for one table's hash, from the process's random state: it differs between tables and
/// between processes.
pub(crate) fn random_seed() -> u64 {
    RandomState::new().hash_one(0x5eed_u64)
}

/// [`hash_bytes`] as a [`Hasher`]: each `write` continues from the state so far.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BytesHasher(u64);

impl Hasher for BytesHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_bytes_seeded(self.0, bytes);
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.0 = self.0.rotate_left(8) ^ u64::from(i);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Multiplier of the byte hash (the 64-bit constant of the original Fx hash).
const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// A hash of a byte string, eight bytes at a time (multiply-rotate, the tail length folded into
/// the last word), finished so that both the high bits (a tag) and the low bits (an index) mix
/// well, for open-addressing tables.
#[inline]
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    hash_bytes_seeded(0, b)
}

/// [`hash_bytes`] starting from `seed` instead of zero: tables keyed by text that anyone can
/// post take a random seed, which enters every step, so nobody can aim keys at one run of
/// slots.
#[inline]
pub(crate) fn hash_bytes_seeded(seed: u64, b: &[u8]) -> u64 {
    let add = |h: u64, word: u64| (h.rotate_left(5) ^ word).wrapping_mul(K);
    let mut h = seed;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        h = add(
            h,
            u64::from_le_bytes(<[u8; 8]>::try_from(c).unwrap_or_default()),
        );
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = add(h, u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
    }
    (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (h >> 32)
}

/// 32-bit FNV-1a, for the registry version: stable across builds and platforms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv32(pub u32);

impl Default for Fnv32 {
    fn default() -> Self {
        Fnv32(0x811c_9dc5)
    }
}

impl Fnv32 {
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
}

// Stable word hashes: identical on every platform and build, so fingerprints computed from them
// can be stored and compared across releases.

/// Seed of the stable word hashes.
pub const SEED: u64 = 0x243f_6a88_85a3_08d3;
pub(crate) const K1: u64 = 0x9e37_79b9_7f4a_7c15;
pub(crate) const K2: u64 = 0xc2b2_ae3d_27d4_eb4f;

/// Hash of a word's bytes: eight bytes at a time (little-endian), multiply and rotate. Not
/// finalised: callers combine word hashes through [`mix`].
#[inline]
pub fn hash_word(b: &[u8]) -> u64 {
    let mut h = SEED ^ (b.len() as u64).wrapping_mul(K2);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(<[u8; 8]>::try_from(c).unwrap_or_default());
        h = (h ^ w).wrapping_mul(K1).rotate_left(29);
    }
    let r = chunks.remainder();
    if !r.is_empty() {
        let w = r
            .iter()
            .enumerate()
            .fold(0u64, |w, (k, &x)| w | (u64::from(x) << (8 * k)));
        h = (h ^ w).wrapping_mul(K2).rotate_left(29);
    }
    h
}

/// The finalised hash of one word's bytes (what `Analysis::word_hashes` holds).
#[inline]
pub fn word_hash(b: &[u8]) -> u64 {
    mix(hash_word(b))
}

/// SplitMix64's finaliser: spreads every input bit over the output.
#[inline]
pub const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `n` lower-case words whose unseeded [`hash_bytes`] ends in `bits` zero bits: what anyone
    /// who knows the hash can post to pile words onto one slot of an unseeded table.
    pub(crate) fn colliding_words(n: usize, bits: u32) -> Vec<String> {
        let mask = (1u64 << bits) - 1;
        (0u64..)
            .map(|mut i| {
                let mut w = String::new();
                loop {
                    w.push(char::from(b'a' + (i % 26) as u8));
                    i /= 26;
                    if i == 0 {
                        return w;
                    }
                }
            })
            .filter(|w| hash_bytes(w.as_bytes()) & mask == 0)
            .take(n)
            .collect()
    }

    #[test]
    fn a_seeded_map_spreads_words_that_collide_unseeded() {
        let words = colliding_words(400, 10);
        assert!(words.iter().all(|w| hash_bytes(w.as_bytes()) & 1023 == 0));
        let seeded = Seeded::default();
        let slots: HashSet<u64> = words.iter().map(|w| seeded.hash_one(w) & 1023).collect();
        // 400 keys thrown at random into 1,024 slots fill about 330 of them.
        assert!(slots.len() > 250, "{} slots", slots.len());
        assert_ne!(
            Seeded::default().0,
            seeded.0,
            "each map has a seed of its own"
        );
    }
}
