//! One small, fast, non-cryptographic hasher for the crate's static word tables (the rustc "Fx"
//! multiply-rotate scheme). The tables are built from fixed data and only looked up with
//! mention text, so hash flooding cannot grow them; speed on short keys is what matters.

use std::hash::Hasher;

/// The Fx hasher: eight bytes at a time, the tail length folded into the last word.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const FX_K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    /// A hasher that starts from `seed` instead of zero: tables keyed by text that anyone can
    /// post take a random seed, so that nobody can aim keys at one run of slots.
    pub(crate) fn with_seed(seed: u64) -> FxHasher {
        FxHasher(seed)
    }

    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(FX_K);
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
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
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

/// FxHash of a byte string with a final avalanche, so that both the high bits (a tag) and the
/// low bits (an index) of the result mix well (for open-addressing tables).
#[inline]
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    hash_bytes_seeded(0, b)
}

/// [`hash_bytes`] from a seeded hasher ([`FxHasher::with_seed`]).
#[inline]
pub(crate) fn hash_bytes_seeded(seed: u64, b: &[u8]) -> u64 {
    let mut h = FxHasher::with_seed(seed);
    h.write(b);
    let x = h.finish();
    (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (x >> 32)
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
