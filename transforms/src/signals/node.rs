//! The compiled form of a rule: a flattened tree of small [`Node`]s, and the key sentinels
//! compilation, lowering and the prefix trie share.

/// Marks a key as a facet value (no token position) rather than a word or prefix.
pub(super) const FACT_BIT: u32 = 1 << 31;
/// No key.
pub(super) const NONE: u32 = u32::MAX;

/// One node of a flattened rule tree. Composite nodes are followed by their children; their
/// `size` counts the nodes of the whole subtree, so the next sibling is `size` nodes on.
///
/// Eight bytes, so that a rule's nodes share a cache line: anything larger lives in a side
/// table of the matcher and the node holds its index.
#[derive(Debug, Clone, Copy)]
pub(super) enum Node {
    /// Heads each rule's tree (which follows it), naming the rule; postings point here, so
    /// evaluating a candidate starts with one memory access.
    Head {
        rule: u32,
    },
    And {
        size: u32,
    },
    Or {
        size: u32,
    },
    Not {
        size: u32,
    },
    /// A single word, a prefix, or a facet value: true when the key is hit.
    Key(u32),
    /// Words in a row in one form: `Matcher::phrase_keys[i..]` holds the form, the number
    /// of words, the anchor word's index, then the words.
    Phrase(u32),
    /// Followed by its two operands, each a `Key` or a `Phrase`.
    Near {
        distance: u32,
    },
    /// A numeric filter: `Matcher::cmps[i]`.
    Cmp(u32),
    /// A boolean field of the registry, by id.
    Flag(u32),
}

const _: () = assert!(std::mem::size_of::<Node>() == 8);

impl Node {
    /// Nodes in the subtree rooted here.
    #[inline]
    pub fn size(&self) -> usize {
        match *self {
            Node::And { size } | Node::Or { size } | Node::Not { size } => size as usize,
            Node::Near { .. } => 3,
            _ => 1,
        }
    }
}
