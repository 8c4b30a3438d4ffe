//! A rule's tree with words replaced by keys, the anchors chosen from it, and its flattening
//! into the matcher's node arena.

use super::compile::Node;
use super::query::{CmpOp, Facet, NumField};

/// A rule's tree with words replaced by keys (compile time only; flattened into [`Node`]s).
#[derive(Debug)]
pub(super) enum CExpr {
    And(Box<[CExpr]>),
    Or(Box<[CExpr]>),
    Not(Box<CExpr>),
    /// A single word, a prefix, or a facet value: true when the key is hit.
    Key(u32),
    Phrase(Phrase),
    Near(Box<(CText, CText)>, u32),
    Cmp(NumField, CmpOp, f64),
    Flag(usize),
}

/// An operand of `NEAR`.
#[derive(Debug)]
pub(super) enum CText {
    Key(u32),
    Phrase(Phrase),
}

/// Two or more words in a row, in one form.
#[derive(Debug)]
pub(super) struct Phrase {
    pub form: u32,
    pub keys: Box<[u32]>,
    /// The word whose hits are used to find candidate starts (the longest, as likely rarest).
    pub anchor: u32,
}

/// Appends `e` to `nodes` in pre-order.
pub(super) fn flatten(e: &CExpr, nodes: &mut Vec<Node>, phrase_keys: &mut Vec<u32>) {
    let phrase = |p: &Phrase, nodes: &mut Vec<Node>, phrase_keys: &mut Vec<u32>| {
        nodes.push(Node::Phrase {
            form: p.form,
            keys: phrase_keys.len() as u32,
            len: p.keys.len() as u32,
            anchor: p.anchor,
        });
        phrase_keys.extend_from_slice(&p.keys);
    };
    let text = |t: &CText, nodes: &mut Vec<Node>, phrase_keys: &mut Vec<u32>| match t {
        CText::Key(k) => nodes.push(Node::Key(*k)),
        CText::Phrase(p) => phrase(p, nodes, phrase_keys),
    };
    let start = nodes.len();
    match e {
        CExpr::And(v) | CExpr::Or(v) => {
            nodes.push(Node::And { size: 0 });
            v.iter().for_each(|c| flatten(c, nodes, phrase_keys));
            let size = (nodes.len() - start) as u32;
            nodes[start] = match e {
                CExpr::And(_) => Node::And { size },
                _ => Node::Or { size },
            };
        }
        CExpr::Not(c) => {
            nodes.push(Node::Not { size: 0 });
            flatten(c, nodes, phrase_keys);
            nodes[start] = Node::Not {
                size: (nodes.len() - start) as u32,
            };
        }
        CExpr::Key(k) => nodes.push(Node::Key(*k)),
        CExpr::Phrase(p) => phrase(p, nodes, phrase_keys),
        CExpr::Near(pair, d) => {
            nodes.push(Node::Near { distance: *d });
            text(&pair.0, nodes, phrase_keys);
            text(&pair.1, nodes, phrase_keys);
        }
        CExpr::Cmp(f, op, v) => nodes.push(Node::Cmp(*f, *op, *v)),
        CExpr::Flag(id) => nodes.push(Node::Flag(*id)),
    }
}

/// How unselective a key is as an anchor: words and prefixes are usually rare in a mention,
/// hashtags, handles and domains too; source, kind, language, sentiment and the verified flag
/// are shared by large fractions of all mentions.
pub(super) fn fact_cost(facet: Facet) -> u32 {
    match facet {
        Facet::Author | Facet::Hashtag | Facet::Mention | Facet::Domain => 2,
        Facet::Source | Facet::Kind | Facet::Verified | Facet::Lang | Facet::Sentiment => 1000,
    }
}

/// Keys of which at least one must be hit for `e` to hold, with a cost (lower is more
/// selective); `None` when `e` can hold without any key hit.
pub(super) fn anchors(e: &CExpr, cost: &dyn Fn(u32) -> u32) -> Option<(u32, Vec<u32>)> {
    match e {
        CExpr::Key(k) => Some((cost(*k), vec![*k])),
        CExpr::Phrase(p) => Some((1, vec![p.keys[p.anchor as usize]])),
        CExpr::Near(pair, _) => {
            let k = match &pair.0 {
                CText::Key(k) => *k,
                CText::Phrase(p) => p.keys[p.anchor as usize],
            };
            Some((cost(k), vec![k]))
        }
        CExpr::And(v) => v
            .iter()
            .filter_map(|e| anchors(e, cost))
            .min_by_key(|(c, _)| *c),
        CExpr::Or(v) => {
            let mut all = (0u32, Vec::new());
            for e in v.iter() {
                let (c, keys) = anchors(e, cost)?;
                all.0 = all.0.saturating_add(c);
                all.1.extend(keys);
            }
            all.1.sort_unstable();
            all.1.dedup();
            Some(all)
        }
        CExpr::Not(_) | CExpr::Cmp(..) | CExpr::Flag(_) => None,
    }
}
