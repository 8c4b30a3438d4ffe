//! Read-only word tables for the affect groups: a packed open-addressing table for the hot
//! per-token lookups, and a plain map with a small fast hasher for building and for rare long
//! words. VADER, Empath and the intent cues all use it.

use crate::hash::FastMap;

/// A read-only map from short words to values, built once, tuned for lookups of text tokens.
///
/// Words of up to 16 bytes are packed into two `u64`s and kept in an open-addressing table, so a
/// lookup is one multiply, usually one probe and one 16-byte compare, without hashing bytes one
/// at a time or calling `memcmp`. Longer words go to a plain map, and tokens longer than the
/// longest key are rejected at once.
#[derive(Debug)]
pub(crate) struct WordTable<V> {
    /// Packed key and value (`None` for a free slot), side by side so a probe touches one
    /// cache line.
    slots: Box<[([u64; 2], Option<V>)]>,
    long: FastMap<&'static str, V>,
    min_len: usize,
    max_len: usize,
    shift: u32,
}

/// Packs a word of 1..=16 bytes (ASCII-lower-cased when `lower`) into two little-endian words,
/// zero-padded; `None` when it cannot be a short key. Reads overlap instead of copying, so the
/// packing stays in registers.
#[inline]
fn pack(w: &[u8], lower: bool) -> Option<[u64; 2]> {
    let n = w.len();
    if n == 0 || n > 16 || w[n - 1] == 0 {
        return None;
    }
    let k = if n >= 8 {
        let lo = read_u64(w, 0);
        let hi = if n == 8 {
            0
        } else {
            read_u64(w, n - 8) >> (8 * (16 - n))
        };
        [lo, hi]
    } else if n >= 4 {
        let a = u64::from(read_u32(w, 0));
        let b = u64::from(read_u32(w, n - 4)) << (8 * (n - 4));
        [a | b, 0]
    } else {
        let mid = n / 2;
        let x = u64::from(w[0])
            | (u64::from(w[mid]) << (8 * mid))
            | (u64::from(w[n - 1]) << (8 * (n - 1)));
        [x, 0]
    };
    Some(if lower {
        [lower_ascii(k[0]), lower_ascii(k[1])]
    } else {
        k
    })
}

#[inline]
fn read_u64(w: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&w[at..at + 8]);
    u64::from_le_bytes(b)
}

#[inline]
fn read_u32(w: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&w[at..at + 4]);
    u32::from_le_bytes(b)
}

/// Lower-cases the ASCII letters in eight bytes that are all below 0x80.
#[inline]
fn lower_ascii(x: u64) -> u64 {
    const H: u64 = 0x8080_8080_8080_8080;
    let ge_a = x.wrapping_add(0x3f3f_3f3f_3f3f_3f3f); // high bit set where byte >= 'A'
    let gt_z = x.wrapping_add(0x2525_2525_2525_2525); // high bit set where byte > 'Z'
    x | (((ge_a & !gt_z) & H) >> 2)
}

#[inline]
fn slot_hash(k: [u64; 2]) -> u64 {
    (k[0] ^ k[1].rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl<V: Copy> WordTable<V> {
    /// Builds the table from `(word, value)` pairs (later pairs for the same word win).
    pub fn new(entries: impl IntoIterator<Item = (&'static str, V)>) -> Self {
        let mut short: Vec<([u64; 2], V)> = Vec::new();
        let mut index: FastMap<[u64; 2], usize> = FastMap::default();
        let mut long: FastMap<&'static str, V> = FastMap::default();
        let (mut min_len, mut max_len) = (usize::MAX, 0);
        for (w, v) in entries {
            min_len = min_len.min(w.len());
            max_len = max_len.max(w.len());
            match pack(w.as_bytes(), false) {
                Some(k) => match index.get(&k) {
                    Some(&i) => short[i].1 = v,
                    None => {
                        index.insert(k, short.len());
                        short.push((k, v));
                    }
                },
                None => {
                    long.insert(w, v);
                }
            }
        }
        let bits = (short.len().max(1) * 2)
            .next_power_of_two()
            .trailing_zeros()
            .max(4);
        let size = 1usize << bits;
        let mut slots: Box<[([u64; 2], Option<V>)]> =
            (0..size).map(|_| ([0u64; 2], None)).collect();
        let shift = 64 - bits;
        for (k, v) in short {
            let mut i = (slot_hash(k) >> shift) as usize;
            while slots[i].1.is_some() {
                i = (i + 1) & (size - 1);
            }
            slots[i] = (k, Some(v));
        }
        WordTable {
            slots,
            long,
            min_len,
            max_len,
            shift,
        }
    }

    #[inline]
    fn probe(&self, k: [u64; 2]) -> Option<&V> {
        let mask = self.slots.len() - 1;
        let mut i = (slot_hash(k) >> self.shift) as usize;
        loop {
            let (key, v) = &self.slots[i];
            match v {
                None => return None,
                Some(v) if *key == k => return Some(v),
                Some(_) => {}
            }
            i = (i + 1) & mask;
        }
    }

    /// The value of `w`, compared byte for byte.
    #[inline]
    pub fn get(&self, w: &str) -> Option<&V> {
        // Short function words ("a", "to", "of") are frequent; a table of longer keys rejects
        // them without hashing.
        if w.len() > self.max_len || w.len() < self.min_len {
            return None;
        }
        match pack(w.as_bytes(), false) {
            Some(k) => self.probe(k),
            None => self.long.get(w),
        }
    }

    /// The value of the ASCII-lower-cased form of `w`, which must be ASCII. `None` when `w` is
    /// longer than 16 bytes but not longer than the longest key: the caller then lower-cases
    /// it and uses [`WordTable::get`].
    #[inline]
    pub fn get_ascii_lower_short(&self, w: &str) -> Option<Option<&V>> {
        debug_assert!(w.is_ascii());
        if w.len() > self.max_len {
            return Some(None);
        }
        pack(w.as_bytes(), true).map(|k| self.probe(k))
    }

    /// [`WordTable::get_ascii_lower_short`] for the ASCII word `w == buf[start..start + w.len()]`:
    /// where 16 bytes can be read from `start`, packing is two loads and two masks, with no
    /// branch on the length.
    #[inline]
    pub fn get_ascii_lower_in(&self, buf: &[u8], start: usize, w: &str) -> Option<Option<&V>> {
        let len = w.len();
        debug_assert!(buf.get(start..start + len) == Some(w.as_bytes()));
        if len > self.max_len {
            return Some(None);
        }
        if len == 0 || len > 16 || start + 16 > buf.len() {
            return self.get_ascii_lower_short(w);
        }
        if buf[start + len - 1] == 0 {
            return None;
        }
        let (lo_mask, hi_mask) = MASKS[len];
        let lo = read_u64(buf, start) & lo_mask;
        let hi = read_u64(buf, start + 8) & hi_mask;
        Some(self.probe([lower_ascii(lo), lower_ascii(hi)]))
    }
}

/// For a word of `n` bytes, the masks keeping its bytes in the low and high packed words.
const MASKS: [(u64, u64); 17] = {
    let mut t = [(0u64, 0u64); 17];
    let mut n = 1;
    while n <= 16 {
        let lo = if n >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * n)) - 1
        };
        let hi = if n >= 16 {
            u64::MAX
        } else if n <= 8 {
            0
        } else {
            (1u64 << (8 * (n - 8))) - 1
        };
        t[n] = (lo, hi);
        n += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::{WordTable, lower_ascii, pack};
    use crate::hash::FastMap;
    use crate::sentiment::lexicon::TABLES;
    use proptest::prelude::*;

    fn naive_pack(w: &[u8], lower: bool) -> Option<[u64; 2]> {
        if w.is_empty() || w.len() > 16 || w[w.len() - 1] == 0 {
            return None;
        }
        let mut b = [0u8; 16];
        for (i, &c) in w.iter().enumerate() {
            b[i] = if lower { c.to_ascii_lowercase() } else { c };
        }
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&b[..8]);
        hi.copy_from_slice(&b[8..]);
        Some([u64::from_le_bytes(lo), u64::from_le_bytes(hi)])
    }

    proptest! {
        #[test]
        fn packing_equals_the_naive_copy(w in proptest::collection::vec(any::<u8>(), 0..20)) {
            prop_assert_eq!(pack(&w, false), naive_pack(&w, false));
            let ascii: Vec<u8> = w.iter().map(|b| b & 0x7f).collect();
            prop_assert_eq!(pack(&ascii, true), naive_pack(&ascii, true));
        }

        #[test]
        fn masked_packing_equals_packing(
            buf in "((good|BAD|Very|kinda|can't|:\\)|no|[ -~\\x00]) ?){0,12}",
            start in 0usize..60,
            len in 0usize..20,
        ) {
            let b = buf.as_bytes();
            let start = start.min(b.len());
            let len = len.min(b.len() - start);
            let w = &buf[start..start + len];
            let words = &TABLES.words;
            prop_assert_eq!(words.get_ascii_lower_in(b, start, w), words.get_ascii_lower_short(w));
        }

        #[test]
        fn swar_lower_case_is_per_byte(x in any::<u64>()) {
            let x = x & 0x7f7f_7f7f_7f7f_7f7f;
            let want = u64::from_le_bytes(x.to_le_bytes().map(|b| b.to_ascii_lowercase()));
            prop_assert_eq!(lower_ascii(x), want);
        }

        #[test]
        fn table_agrees_with_a_hash_map(
            keys in proptest::collection::vec("[a-z:)'<-]{1,20}", 1..200),
            probes in proptest::collection::vec("[a-z:)'<-]{0,20}", 0..50),
        ) {
            let keys: Vec<&'static str> = keys.into_iter().map(|k| &*Box::leak(k.into_boxed_str())).collect();
            let map: FastMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
            let table = WordTable::new(keys.iter().enumerate().map(|(i, k)| (*k, i)));
            for k in keys.iter().copied().chain(probes.iter().map(String::as_str)) {
                prop_assert_eq!(table.get(k), map.get(k));
                if !k.is_empty() && k.len() <= 16 {
                    let upper = k.to_ascii_uppercase();
                    prop_assert_eq!(table.get_ascii_lower_short(&upper), Some(map.get(k)));
                }
            }
        }
    }
}
