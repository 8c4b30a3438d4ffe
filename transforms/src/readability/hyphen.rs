//! Liang's hyphenation algorithm (the TeX one) over a Hunspell/Pyphen pattern file, used to count
//! syllables of words that CMUdict does not know, as textstat 0.7.8 does through Pyphen.
//!
//! The patterns are held in a trie so that one word costs one walk per start position, bounded
//! by the longest pattern, instead of one hash lookup per substring.

use std::collections::BTreeMap;

use crate::hash::SeededMap;

/// A pattern set compiled into a trie.
#[derive(Debug)]
pub(crate) struct Patterns {
    nodes: Vec<Node>,
    /// Children of every node, grouped per node and sorted by char.
    edges: Vec<(char, u32)>,
    /// Direct children of the root for ASCII chars (`u32::MAX` when absent).
    root_ascii: [u32; 128],
    /// Inter-letter values of all patterns, concatenated.
    values: Vec<u8>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Node {
    edges_start: u32,
    edges_len: u32,
    /// Where this node's pattern values start in `values`, and how many; `len == 0`: none.
    values_start: u32,
    values_len: u8,
    /// Offset of the first value from the start of the pattern.
    offset: u8,
}

/// Pyphen's defaults, which textstat keeps: no break within the first 2 or the last 2 letters.
const LEFT_MIN: usize = 2;
const RIGHT_MIN: usize = 2;

impl Patterns {
    /// Parses a `hyph_*.dic` file: first line is the encoding, then one pattern per line;
    /// keyword and comment lines are skipped. A later duplicate of a pattern replaces the
    /// earlier one, as in Pyphen.
    pub(crate) fn parse(dic: &str) -> Patterns {
        const IGNORED: [&str; 6] = [
            "%",
            "#",
            "LEFTHYPHENMIN",
            "RIGHTHYPHENMIN",
            "COMPOUNDLEFTHYPHENMIN",
            "COMPOUNDRIGHTHYPHENMIN",
        ];
        let mut patterns: BTreeMap<Vec<char>, (u8, Vec<u8>)> = BTreeMap::new();
        for line in dic.lines().skip(1) {
            let line = line.trim();
            if line.is_empty() || IGNORED.iter().any(|p| line.starts_with(p)) {
                continue;
            }
            let (mut letters, mut values) = (Vec::new(), Vec::new());
            let mut pending = 0u8;
            for c in line.chars() {
                if let Some(d) = c.to_digit(10) {
                    pending = d as u8;
                } else {
                    letters.push(c);
                    values.push(pending);
                    pending = 0;
                }
            }
            values.push(pending);
            let Some(start) = values.iter().position(|&v| v != 0) else {
                continue;
            };
            let end = values
                .iter()
                .rposition(|&v| v != 0)
                .map_or(start, |e| e + 1);
            patterns.insert(letters, (start as u8, values[start..end].to_vec()));
        }
        Self::build(patterns)
    }

    fn build(patterns: BTreeMap<Vec<char>, (u8, Vec<u8>)>) -> Patterns {
        // A plain pointer trie first, then flattened.
        let mut children: Vec<BTreeMap<char, u32>> = vec![BTreeMap::new()];
        let mut nodes = vec![Node::default()];
        let mut values = Vec::new();
        for (letters, (offset, vals)) in patterns {
            let mut at = 0usize;
            for c in letters {
                let next = children.len() as u32;
                let child = *children[at].entry(c).or_insert(next);
                if child == next {
                    children.push(BTreeMap::new());
                    nodes.push(Node::default());
                }
                at = child as usize;
            }
            nodes[at].values_start = values.len() as u32;
            nodes[at].values_len = vals.len() as u8;
            nodes[at].offset = offset;
            values.extend_from_slice(&vals);
        }
        let mut edges = Vec::new();
        for (node, kids) in nodes.iter_mut().zip(&children) {
            node.edges_start = edges.len() as u32;
            node.edges_len = kids.len() as u32;
            edges.extend(kids.iter().map(|(&c, &n)| (c, n)));
        }
        let mut root_ascii = [u32::MAX; 128];
        for &(c, n) in &edges[..nodes[0].edges_len as usize] {
            if c.is_ascii() {
                root_ascii[c as usize] = n;
            }
        }
        Patterns {
            nodes,
            edges,
            root_ascii,
            values,
        }
    }

    #[inline]
    fn child(&self, node: u32, c: char) -> Option<u32> {
        if node == 0 && c.is_ascii() {
            let n = self.root_ascii[c as usize];
            return (n != u32::MAX).then_some(n);
        }
        let n = &self.nodes[node as usize];
        let kids = &self.edges[n.edges_start as usize..(n.edges_start + n.edges_len) as usize];
        if kids.len() <= 8 {
            kids.iter().find(|e| e.0 == c).map(|e| e.1)
        } else {
            kids.binary_search_by_key(&c, |e| e.0)
                .ok()
                .map(|i| kids[i].1)
        }
    }

    /// The number of hyphenation points Pyphen finds in `word` (already lower-cased), after
    /// its left/right minimums. `scratch` is reused between calls.
    pub(crate) fn count_points(&self, word: &str, scratch: &mut Scratch) -> usize {
        let Scratch { chars, points, .. } = scratch;
        chars.clear();
        chars.push('.');
        chars.extend(word.chars());
        chars.push('.');
        let n_word = chars.len() - 2;
        points.clear();
        points.resize(chars.len() + 1, 0);
        for i in 0..chars.len() - 1 {
            let mut node = 0u32;
            for &c in &chars[i..] {
                let Some(next) = self.child(node, c) else {
                    break;
                };
                node = next;
                let n = self.nodes[node as usize];
                if n.values_len > 0 {
                    let vals = &self.values
                        [n.values_start as usize..n.values_start as usize + n.values_len as usize];
                    let at = i + n.offset as usize;
                    for (p, &v) in points.iter_mut().skip(at).zip(vals) {
                        *p = (*p).max(v);
                    }
                }
            }
        }
        // Point k sits before pointed-word char k, i.e. after k-1 letters of the word.
        points
            .iter()
            .enumerate()
            .filter(|&(k, &v)| {
                v % 2 == 1
                    && k >= 1
                    && (LEFT_MIN..=n_word.saturating_sub(RIGHT_MIN)).contains(&(k - 1))
            })
            .count()
    }
}

/// Buffers reused across [`Patterns::count_points`] calls, and a bounded cache of recent
/// results (words unknown to CMUdict repeat: "rt", "subreddit", "lol").
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    chars: Vec<char>,
    points: Vec<u8>,
    cache: SeededMap<Box<str>, u32>,
    /// The lexicon's front cache of recent words' facts (see `lexicon::facts`).
    pub(super) front: Vec<[u64; 2]>,
}

const CACHE_MAX: usize = 20_000;
/// Longer words are not cached, so the cache stays small whatever the input.
const CACHE_KEY_MAX: usize = 40;

impl Scratch {
    /// `compute(word)`, remembered.
    pub(crate) fn cached(
        &mut self,
        word: &str,
        compute: impl FnOnce(&str, &mut Scratch) -> u32,
    ) -> u32 {
        if let Some(&n) = self.cache.get(word) {
            return n;
        }
        let n = compute(word, self);
        if word.len() <= CACHE_KEY_MAX {
            if self.cache.len() >= CACHE_MAX {
                self.cache.clear();
            }
            self.cache.insert(word.into(), n);
        }
        n
    }
}
