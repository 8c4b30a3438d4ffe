//! A rule's tree with words replaced by keys, the anchors chosen from it, and its flattening
//! into the matcher's node arena.

use super::node::Node;
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

impl CText {
    /// Its word or prefix key, or its phrase's words.
    fn keys(&self) -> &[u32] {
        match self {
            CText::Key(k) => std::slice::from_ref(k),
            CText::Phrase(p) => &p.keys,
        }
    }
}

/// Two or more words in a row, in one form.
#[derive(Debug)]
pub(super) struct Phrase {
    pub form: u32,
    pub keys: Box<[u32]>,
    /// The word whose hits are used to find candidate starts (the longest, as likely rarest).
    pub anchor: u32,
}

/// Where a flattened rule's nodes and their side tables go.
pub(super) struct Flat<'a> {
    pub nodes: &'a mut Vec<Node>,
    /// Each phrase as `form, len, anchor`, then its `len` keys.
    pub phrase_keys: &'a mut Vec<u32>,
    /// The comparisons of numeric filters, out of line so that a node stays small.
    pub cmps: &'a mut Vec<(NumField, CmpOp, f64)>,
}

/// Appends `e` to `out.nodes` in pre-order.
pub(super) fn flatten(e: &CExpr, out: &mut Flat<'_>) {
    let phrase = |p: &Phrase, out: &mut Flat<'_>| {
        out.nodes.push(Node::Phrase(out.phrase_keys.len() as u32));
        out.phrase_keys
            .extend([p.form, p.keys.len() as u32, p.anchor]);
        out.phrase_keys.extend_from_slice(&p.keys);
    };
    let text = |t: &CText, out: &mut Flat<'_>| match t {
        CText::Key(k) => out.nodes.push(Node::Key(*k)),
        CText::Phrase(p) => phrase(p, out),
    };
    let start = out.nodes.len();
    match e {
        CExpr::And(v) | CExpr::Or(v) => {
            out.nodes.push(Node::And { size: 0 });
            v.iter().for_each(|c| flatten(c, out));
            let size = (out.nodes.len() - start) as u32;
            out.nodes[start] = match e {
                CExpr::And(_) => Node::And { size },
                _ => Node::Or { size },
            };
        }
        CExpr::Not(c) => {
            out.nodes.push(Node::Not { size: 0 });
            flatten(c, out);
            out.nodes[start] = Node::Not {
                size: (out.nodes.len() - start) as u32,
            };
        }
        CExpr::Key(k) => out.nodes.push(Node::Key(*k)),
        CExpr::Phrase(p) => phrase(p, out),
        CExpr::Near(pair, d) => {
            out.nodes.push(Node::Near { distance: *d });
            text(&pair.0, out);
            text(&pair.1, out);
        }
        CExpr::Cmp(f, op, v) => {
            out.nodes.push(Node::Cmp(out.cmps.len() as u32));
            out.cmps.push((*f, *op, *v));
        }
        // Field ids index the registry's few hundred fields.
        CExpr::Flag(id) => out.nodes.push(Node::Flag(*id as u32)),
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

/// A key, other than those in `skip`, that every match of `e` hits, with its cost (lower is
/// more selective); `None` when there is none.
///
/// Checked against the mention's keys before a candidate's tree is read, it turns away most
/// candidates that would fail (an `AND` whose other side is absent, a phrase whose anchor word
/// came without the others) for one probe of a small table.
pub(super) fn required(e: &CExpr, cost: &dyn Fn(u32) -> u32, skip: &[u32]) -> Option<(u32, u32)> {
    let pick = |keys: &mut dyn Iterator<Item = u32>| {
        keys.filter(|k| !skip.contains(k))
            .map(|k| (cost(k), k))
            .min()
    };
    match e {
        CExpr::Key(k) => pick(&mut std::iter::once(*k)),
        CExpr::Phrase(p) => pick(&mut p.keys.iter().copied()),
        CExpr::Near(pair, _) => pick(&mut pair.0.keys().iter().chain(pair.1.keys()).copied()),
        CExpr::And(v) => v.iter().filter_map(|e| required(e, cost, skip)).min(),
        CExpr::Or(_) | CExpr::Not(_) | CExpr::Cmp(..) | CExpr::Flag(_) => None,
    }
}
