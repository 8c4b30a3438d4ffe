//! Compiling a [`SignalSet`] into one [`Matcher`]: keys for every word, prefix and filter
//! value, a compact tree per rule, and the anchor index from keys to rules.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use model::SignalId;

use super::filters::SENTIMENT_FIELD;
use super::lower::{CExpr, CText, Flat, Phrase, anchors, fact_cost, flatten, required};
use super::node::{FACT_BIT, NONE, Node};
use super::normalise::{Flavor, Normaliser};
use super::query::{CmpOp, Expr, Facet, Filter, NumField, TextLeaf};
use super::trie::Trie;
use super::words::WordTable;
use super::{CompileError, FieldLookup, Limits, Signal, SignalSet, parser, registry_fields};
use crate::hash::SeededMap;

/// All tenants' signals, compiled for matching.
///
/// `Send + Sync` and immutable: hold it in an `Arc` and swap in a new one to reload.
#[derive(Debug)]
pub struct Matcher {
    /// Unique per compiled matcher, so a [`super::Scratch`] knows when its cache is stale.
    pub(super) id: u64,
    /// Rules in storage order: grouped by anchor key, so that the candidates one key brings
    /// up sit next to each other in memory.
    pub(super) rules: Vec<Rule>,
    /// Every rule's tree, flattened in pre-order; a rule's nodes are contiguous.
    pub(super) nodes: Vec<Node>,
    /// Each phrase as `form, len, anchor`, then its words as keys.
    pub(super) phrase_keys: Vec<u32>,
    /// The comparisons of numeric filters (`Node::Cmp` indexes this).
    pub(super) cmps: Vec<(NumField, CmpOp, f64)>,
    pub(super) forms: Vec<Form>,
    /// Fact keys (without [`FACT_BIT`]) by facet, then value.
    pub(super) facts: Vec<SeededMap<Box<str>, u32>>,
    /// Bit `facet as u32` set when some rule filters on that facet.
    pub(super) facets_used: u32,
    /// The id of `sentiment_compound`, when a rule filters on sentiment.
    pub(super) sentiment_field: Option<usize>,
    pub(super) n_text_keys: u32,
    /// The rules anchored under each key (CSR: `post_start[k]..post_start[k + 1]` into
    /// `postings`), as `(head, required)`: the rule's head in `nodes` and a key every match of
    /// the rule hits besides its anchors, or [`NONE`].
    pub(super) post_start: Vec<u32>,
    pub(super) postings: Vec<(u32, u32)>,
    /// The heads of the rules with no anchor, evaluated for every mention.
    pub(super) always: Vec<u32>,
}

/// One compiled signal, as reported (its tree is in `Matcher::nodes`). `Matcher::rules` is in
/// (tenant, signal id) order, the order matches are reported in, so a rule's index is its rank.
#[derive(Debug)]
pub(super) struct Rule {
    pub version: u64,
    /// Built once here, so that a match clones one pointer instead of allocating strings.
    pub id: SignalId,
}

/// A normal form of tokens and the words and prefixes rules look up in it.
#[derive(Debug)]
pub(super) struct Form {
    pub norm: Normaliser,
    pub words: WordTable,
    pub trie: Trie,
}

impl Matcher {
    /// Compiles every signal with the default [`Limits`] against this build's catalogue;
    /// fails on the first invalid signal.
    pub fn compile(set: &SignalSet) -> Result<Matcher, CompileError> {
        Matcher::compile_with(set, &Limits::default(), &registry_fields)
    }

    /// Compiles every signal; fails on the first invalid signal.
    pub fn compile_with(
        set: &SignalSet,
        limits: &Limits,
        fields: FieldLookup<'_>,
    ) -> Result<Matcher, CompileError> {
        let (m, mut errors) = Matcher::compile_lenient(set, limits, fields);
        match errors.is_empty() {
            true => Ok(m),
            false => Err(errors.swap_remove(0)),
        }
    }

    /// Compiles the valid signals and reports the others, so that one tenant's bad rule does
    /// not stop every tenant's matching on reload. Signals over a tenant's limits are dropped
    /// in id order.
    pub fn compile_lenient(
        set: &SignalSet,
        limits: &Limits,
        fields: FieldLookup<'_>,
    ) -> (Matcher, Vec<CompileError>) {
        let mut b = Builder::default();
        let mut errors = Vec::new();
        let mut order: Vec<&Signal> = set.signals.iter().collect();
        order.sort_by(|a, b| (&a.tenant, &a.id).cmp(&(&b.tenant, &b.id)));
        let mut per_tenant: HashMap<&str, (usize, usize)> = HashMap::new();
        let mut prev: Option<(&str, &str)> = None;
        for s in order {
            if prev == Some((&s.tenant, &s.id)) {
                errors.push(CompileError::Duplicate {
                    tenant: s.tenant.clone(),
                    signal: s.id.clone(),
                });
                continue;
            }
            prev = Some((&s.tenant, &s.id));
            let counts = per_tenant.entry(&s.tenant).or_default();
            counts.0 += 1;
            if counts.0 > limits.max_rules_per_tenant {
                if counts.0 == limits.max_rules_per_tenant + 1 {
                    errors.push(CompileError::TooManyRules {
                        tenant: s.tenant.clone(),
                        limit: limits.max_rules_per_tenant,
                    });
                }
                continue;
            }
            let query = match parser::parse(&s.query, s.options.flavor(), limits, fields) {
                Ok(q) => q,
                Err(error) => {
                    errors.push(CompileError::Query {
                        tenant: s.tenant.clone(),
                        signal: s.id.clone(),
                        error: Box::new(error),
                    });
                    continue;
                }
            };
            let expr = b.lower(&query.expr, query.flavor);
            let anchor = anchors(&expr, &|k| b.key_cost(k));
            if anchor.is_none() {
                counts.1 += 1;
                if counts.1 > limits.max_unanchored_per_tenant {
                    errors.push(CompileError::TooManyUnanchored {
                        tenant: s.tenant.clone(),
                        signal: s.id.clone(),
                        limit: limits.max_unanchored_per_tenant,
                    });
                    continue;
                }
            }
            let anchor = anchor.map(|(_, keys)| {
                let also = required(&expr, &|k| b.key_cost(k), &keys).map_or(NONE, |(_, k)| k);
                (keys, also)
            });
            b.add_rule(s, expr, anchor);
        }
        if b.facets_used & (1 << Facet::Sentiment as u32) != 0 {
            b.sentiment_field = fields(SENTIMENT_FIELD).map(|(id, _)| id);
        }
        (b.finish(), errors)
    }

    /// Number of compiled signals.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Number of compiled signals evaluated for every mention (no anchor).
    pub fn unanchored(&self) -> usize {
        self.always.len()
    }

    /// The postings index of key `k`.
    #[inline]
    pub(super) fn key_index(&self, k: u32) -> usize {
        if k & FACT_BIT != 0 {
            (self.n_text_keys + (k & !FACT_BIT)) as usize
        } else {
            k as usize
        }
    }
}

/// A rule before flattening.
struct Pending {
    tenant: String,
    signal: String,
    version: u64,
    expr: CExpr,
}

#[derive(Default)]
struct Builder {
    rules: Vec<Pending>,
    /// Each rule's anchor keys and the key it also requires (or [`NONE`]); `None` if unanchored.
    anchors: Vec<Option<(Vec<u32>, u32)>>,
    flavors: Vec<Flavor>,
    /// Each form's normaliser, words with their keys, and prefixes.
    forms: Vec<(Normaliser, SeededMap<Box<str>, u32>, Trie)>,
    facts: Vec<SeededMap<Box<str>, u32>>,
    /// The anchor cost of each fact key, by fact id.
    fact_costs: Vec<u32>,
    facets_used: u32,
    sentiment_field: Option<usize>,
    next_text_key: u32,
}

impl Builder {
    fn form(&mut self, flavor: Flavor) -> u32 {
        if let Some(i) = self.flavors.iter().position(|f| *f == flavor) {
            return i as u32;
        }
        self.flavors.push(flavor);
        self.forms.push((
            Normaliser::new(flavor),
            SeededMap::default(),
            Trie::default(),
        ));
        (self.forms.len() - 1) as u32
    }

    fn word(&mut self, form: u32, w: &str) -> u32 {
        let next = &mut self.next_text_key;
        *self.forms[form as usize]
            .1
            .entry(w.into())
            .or_insert_with(|| {
                *next += 1;
                *next - 1
            })
    }

    fn text(&mut self, t: &TextLeaf, flavor: Flavor) -> CText {
        match t {
            TextLeaf::Prefix(p) => {
                let form = self.form(flavor.unstemmed());
                CText::Key(
                    self.forms[form as usize]
                        .2
                        .insert(p, &mut self.next_text_key),
                )
            }
            TextLeaf::Phrase(words) => {
                let form = self.form(flavor);
                if let [w] = &words[..] {
                    return CText::Key(self.word(form, w));
                }
                let keys: Box<[u32]> = words.iter().map(|w| self.word(form, w)).collect();
                let anchor = (0..words.len())
                    .max_by_key(|&i| (words[i].len(), usize::MAX - i))
                    .unwrap_or(0) as u32;
                CText::Phrase(Phrase { form, keys, anchor })
            }
        }
    }

    fn lower(&mut self, e: &Expr, flavor: Flavor) -> CExpr {
        match e {
            Expr::And(v) => CExpr::And(v.iter().map(|e| self.lower(e, flavor)).collect()),
            Expr::Or(v) => CExpr::Or(v.iter().map(|e| self.lower(e, flavor)).collect()),
            Expr::Not(e) => CExpr::Not(Box::new(self.lower(e, flavor))),
            Expr::Text(t) => match self.text(t, flavor) {
                CText::Key(k) => CExpr::Key(k),
                CText::Phrase(p) => CExpr::Phrase(p),
            },
            Expr::Near {
                left,
                right,
                distance,
            } => {
                let pair = (self.text(left, flavor), self.text(right, flavor));
                CExpr::Near(Box::new(pair), *distance)
            }
            Expr::Filter(Filter::Fact(facet, v)) => {
                self.facets_used |= 1 << *facet as u32;
                let next = self.fact_costs.len() as u32;
                if self.facts.is_empty() {
                    self.facts.resize_with(Facet::COUNT, SeededMap::default);
                }
                let id = *self.facts[*facet as usize]
                    .entry(v.as_str().into())
                    .or_insert(next);
                if id == next {
                    self.fact_costs.push(fact_cost(*facet));
                }
                CExpr::Key(FACT_BIT | id)
            }
            Expr::Filter(Filter::Cmp { field, op, value }) => CExpr::Cmp(*field, *op, *value),
            Expr::Filter(Filter::Flag(id)) => CExpr::Flag(*id),
        }
    }

    fn key_cost(&self, k: u32) -> u32 {
        match k & FACT_BIT {
            0 => 1,
            _ => self.fact_costs[(k & !FACT_BIT) as usize],
        }
    }

    fn add_rule(&mut self, s: &Signal, expr: CExpr, anchor: Option<(Vec<u32>, u32)>) {
        self.rules.push(Pending {
            tenant: s.tenant.clone(),
            signal: s.id.clone(),
            version: s.version,
            expr,
        });
        self.anchors.push(anchor);
    }

    fn finish(self) -> Matcher {
        let n_text = self.next_text_key;
        let n_facts = self.fact_costs.len() as u32;
        let n_keys = (n_text + n_facts) as usize;
        let index = |k: u32| {
            if k & FACT_BIT != 0 {
                (n_text + (k & !FACT_BIT)) as usize
            } else {
                k as usize
            }
        };
        // Storage order: by first anchor key (unanchored last), then rank.
        let mut order: Vec<u32> = (0..self.rules.len() as u32).collect();
        order.sort_by_key(|&r| {
            let first = self.anchors[r as usize].as_ref().and_then(|a| a.0.first());
            (first.map_or(usize::MAX, |&k| index(k)), r)
        });
        // Pending rules are in (tenant, signal id) order already.
        let rules = self
            .rules
            .iter()
            .map(|p| Rule {
                version: p.version,
                id: SignalId::new(&p.tenant, &p.signal),
            })
            .collect();
        let (mut nodes, mut phrase_keys, mut cmps) = (Vec::new(), Vec::new(), Vec::new());
        let mut heads = Vec::with_capacity(order.len());
        for &r in &order {
            let p = &self.rules[r as usize];
            heads.push(nodes.len() as u32);
            nodes.push(Node::Head { rule: r });
            flatten(
                &p.expr,
                &mut Flat {
                    nodes: &mut nodes,
                    phrase_keys: &mut phrase_keys,
                    cmps: &mut cmps,
                },
            );
        }
        let mut counts = vec![0u32; n_keys + 1];
        let mut always = Vec::new();
        for (stored, &r) in order.iter().enumerate() {
            match &self.anchors[r as usize] {
                Some((keys, _)) => keys.iter().for_each(|&k| counts[index(k) + 1] += 1),
                None => always.push(heads[stored]),
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let post_start = counts.clone();
        let mut fill = counts;
        let mut postings = vec![(0, NONE); post_start[n_keys] as usize];
        for (stored, &r) in order.iter().enumerate() {
            if let Some((keys, also)) = &self.anchors[r as usize] {
                for &k in keys {
                    let slot = &mut fill[index(k)];
                    postings[*slot as usize] = (heads[stored], *also);
                    *slot += 1;
                }
            }
        }
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Matcher {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            rules,
            nodes,
            phrase_keys,
            cmps,
            forms: self
                .forms
                .into_iter()
                .map(|(norm, words, trie)| Form {
                    norm,
                    words: WordTable::new(words.iter().map(|(w, &k)| (&**w, k))),
                    trie,
                })
                .collect(),
            facts: self.facts,
            facets_used: self.facets_used,
            sentiment_field: self.sentiment_field,
            n_text_keys: n_text,
            post_start,
            postings,
            always,
        }
    }
}
