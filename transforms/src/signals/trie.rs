//! Prefixes as a byte trie, walked along a token's bytes: the cost per token is bounded by the
//! longest prefix, whatever the number of prefixes.

use super::node::NONE;
use crate::hash::FastMap;

/// Prefixes as a byte trie, walked along a token's bytes.
#[derive(Debug, Default)]
pub(super) struct Trie {
    edges: FastMap<(u32, u8), u32>,
    /// The key of the prefix ending at each node, or [`NONE`]; node 0 is the root.
    keys: Vec<u32>,
    depth: usize,
}

impl Trie {
    pub fn insert(&mut self, s: &str, next_key: &mut u32) -> u32 {
        if self.keys.is_empty() {
            self.keys.push(NONE);
        }
        let mut node = 0u32;
        for &b in s.as_bytes() {
            let fresh = self.keys.len() as u32;
            node = *self.edges.entry((node, b)).or_insert(fresh);
            if node == fresh {
                self.keys.push(NONE);
            }
        }
        self.depth = self.depth.max(s.len());
        let slot = &mut self.keys[node as usize];
        if *slot == NONE {
            *slot = *next_key;
            *next_key += 1;
        }
        *slot
    }

    /// Calls `f` with the key of every prefix of `s` in the trie, shortest first.
    #[inline]
    pub fn walk(&self, s: &str, mut f: impl FnMut(u32)) {
        let mut node = 0u32;
        for &b in s.as_bytes().iter().take(self.depth) {
            match self.edges.get(&(node, b)) {
                Some(&n) => node = n,
                None => return,
            }
            let k = self.keys[node as usize];
            if k != NONE {
                f(k);
            }
        }
    }
}
