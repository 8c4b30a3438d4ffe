//! The hasher of the matcher's remaining hash maps (facet values, prefix-trie edges, and the
//! maps compilation builds): the crate's [`FxHasher`], finished differently.
//!
//! The maps are built from tenants' rules and only *looked up* with mention text, so an attacker
//! posting mentions cannot choose colliding keys; SipHash's flood resistance would buy nothing
//! here and costs several times more per short word.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::hash::FxHasher;

/// A hash map with [`WordHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

/// [`FxHasher`] with its result rotated: a multiply leaves the low bits, which hashbrown indexes
/// buckets by, depending on the low bytes of the key alone; the rotation brings well-mixed high
/// bits down. The maps here are keyed by many similar short terms.
#[derive(Debug, Default, Clone, Copy)]
pub struct WordHasher(FxHasher);

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.0.write_u8(i);
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.0.write_u32(i);
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0.write_u64(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.0.write_usize(i);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0.finish().rotate_left(20)
    }
}
