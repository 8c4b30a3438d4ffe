//! A small, fast, non-cryptographic hasher for the matcher's lookup tables.
//!
//! The tables are built from tenants' rules and only *looked up* with mention text, so an
//! attacker posting mentions cannot choose colliding keys; SipHash's flood resistance would buy
//! nothing here and costs several times more per short word.
//!
//! It differs from the crate's shared [`crate::fxhash::FxHasher`] on purpose: `finish` rotates
//! the high bits down, because the matcher's maps are hashbrown maps keyed by many similar
//! short terms, whose 7-bit control tags come from the top of the hash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A hash map with [`WordHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

/// Multiply-rotate hashing over 8-byte chunks (the scheme of rustc's FxHash).
#[derive(Debug, Default, Clone, Copy)]
pub struct WordHasher(u64);

const K: u64 = 0xf135_7aea_2e62_a9c5;

impl WordHasher {
    /// A hasher that starts from `seed` instead of zero.
    pub fn seeded(seed: u64) -> WordHasher {
        WordHasher(seed)
    }

    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(26) ^ w).wrapping_mul(K);
    }
}

impl Hasher for WordHasher {
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
        // Mix the high bits down: hashbrown uses the top 7 bits as a tag.
        self.0.rotate_left(20)
    }
}
