//! Matching one mention against a compiled [`Matcher`].

use model::{Highlights, SignalMatch};

use std::cell::RefCell;

use super::compile::Matcher;
use super::filters::{self, Live, View, norm_domain, norm_handle, url_host};
use super::node::{FACT_BIT, NONE, Node};
use super::normalise;
use super::query::{CmpOp, Facet, NumField};
use super::words::WordCache;
use crate::Analysis;
use crate::catalogue::Record;

/// Buffers reused from one mention to the next, and a cache of what each word looks up to (its
/// normal forms' keys), which spares re-normalising and re-stemming frequent words. Keep one
/// per worker thread; it follows whichever [`Matcher`] it is used with.
#[derive(Debug, Default)]
pub struct Scratch {
    /// The matcher the cache was filled for.
    matcher_id: u64,
    /// Word → one exact-word key (or `NONE`) per form, then the keys of its prefixes.
    cache: WordCache,
    /// `key << 32 | token position`, sorted.
    pub(super) hits: Vec<u64>,
    /// The exact-word key of each token in each form (`form * n + position`), or `NONE`.
    tok_keys: Vec<u32>,
    pub(super) candidates: Vec<u32>,
    /// The postings range of each key the mention hit.
    lists: Vec<(u32, u32)>,
    /// Each candidate's head and rule.
    heads: Vec<(u32, u32)>,
    /// Where each key's run of `hits` is, so that a rule's leaf finds it in one probe.
    runs: KeyRuns,
    /// The token spans of every matched rule this mention, one run per entry of `found`.
    spans: Vec<(u32, u32)>,
    /// This mention's matches, before sorting: `(rule, spans[a..b])`. Only small tuples are
    /// sorted; each `SignalMatch` is built once, in place in the output.
    found: Vec<(u32, u32, u32)>,
    /// Occurrence starts of a `NEAR`'s two operands, reused rather than allocated per rule.
    near: RefCell<(Vec<u32>, Vec<u32>)>,
    /// Code-point `[start, end)` of each token of a mention with matches, when not ASCII.
    tok_chars: Vec<(u32, u32)>,
    norm: String,
    scratch: String,
}

impl Matcher {
    /// The signals `a`'s mention matches, in (tenant, signal id) order, with highlights.
    ///
    /// Uses a thread-local [`Scratch`] (its word cache holds at most 65,536 short words).
    pub fn matches(&self, a: &Analysis<'_>, record: &Record) -> Vec<SignalMatch> {
        thread_local! {
            static SCRATCH: RefCell<Scratch> = RefCell::default();
        }
        let view = Live {
            analysis: a,
            record,
        };
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => self.matches_with(&view, &mut s),
            Err(_) => self.matches_with(&view, &mut Scratch::default()),
        })
    }

    /// [`Matcher::matches`] over any [`View`], reusing `scratch`.
    pub fn matches_with<V: View + ?Sized>(&self, view: &V, s: &mut Scratch) -> Vec<SignalMatch> {
        let mut out = Vec::new();
        if self.rules.is_empty() {
            return out;
        }
        let words = view.words();
        let n = words.len();
        s.hits.clear();
        s.tok_keys.clear();
        s.tok_keys.resize(self.forms.len() * n, NONE);
        if s.matcher_id != self.id {
            s.cache.clear();
            s.matcher_id = self.id;
        }
        let forms = self.forms.len();
        for (p, w) in words.iter().enumerate() {
            let (norm, scratch) = (&mut s.norm, &mut s.scratch);
            let found = s
                .cache
                .keys(w, |arena| self.lookup_word(w, arena, norm, scratch));
            let keys = s.cache.get(found);
            for (f, &k) in keys[..forms].iter().enumerate() {
                if k != NONE {
                    s.hits.push(pack(k, p));
                    s.tok_keys[f * n + p] = k;
                }
            }
            s.hits.extend(keys[forms..].iter().map(|&k| pack(k, p)));
            s.cache.release(found);
        }
        if self.facets_used != 0 {
            self.fact_hits(view, &mut s.hits);
        }
        s.hits.sort_unstable();
        s.hits.dedup();

        s.candidates.clear();
        s.runs.reset(s.hits.len());
        s.lists.clear();
        let mut i = 0;
        while i < s.hits.len() {
            let k = (s.hits[i] >> 32) as u32;
            let ki = self.key_index(k);
            s.lists.push((self.post_start[ki], self.post_start[ki + 1]));
            let start = i;
            while i < s.hits.len() && (s.hits[i] >> 32) as u32 == k {
                i += 1;
            }
            s.runs.insert(k, start as u32, i as u32);
        }
        // Every hit key is in `runs` now: a rule whose required key is missing cannot match.
        for &(a, b) in &s.lists {
            s.candidates.extend(
                self.postings[a as usize..b as usize]
                    .iter()
                    .filter(|&&(_, also)| also == NONE || s.runs.contains(also))
                    .map(|&(head, _)| head),
            );
        }
        s.candidates.extend_from_slice(&self.always);
        s.candidates.sort_unstable();
        s.candidates.dedup();

        let ctx = Ctx {
            view,
            nodes: &self.nodes,
            phrase_keys: &self.phrase_keys,
            cmps: &self.cmps,
            hits: &s.hits,
            runs: &s.runs,
            tok_keys: &s.tok_keys,
            n,
            near: &s.near,
        };
        s.spans.clear();
        s.found.clear();
        // Read every candidate's head before evaluating any: these loads are independent, so
        // their cache misses overlap instead of stalling one rule at a time.
        s.heads.clear();
        s.heads
            .extend(s.candidates.iter().map(|&h| match self.nodes[h as usize] {
                Node::Head { rule } => (h, rule),
                _ => (h, NONE),
            }));
        for &(head, rule) in &s.heads {
            if rule == NONE {
                continue;
            }
            let mark = s.spans.len();
            if !ctx.collect(head as usize + 1, &mut s.spans) {
                continue;
            }
            s.found.push((rule, mark as u32, s.spans.len() as u32));
        }
        if s.found.is_empty() {
            return out;
        }
        // Highlights are in code points. In ASCII text a token's are its byte offsets; else
        // every token's are counted in one pass over the text.
        let text = view.text();
        let ascii = text.is_ascii();
        s.tok_chars.clear();
        if !ascii {
            token_chars(text, words, &mut s.tok_chars);
        }
        let base = text.as_ptr() as usize;
        let tok_chars = &s.tok_chars;
        let span_of = |p: usize| match ascii {
            true => {
                let start = (words[p].as_ptr() as usize - base) as u32;
                (start, start + words[p].len() as u32)
            }
            false => tok_chars[p],
        };
        // Candidates came in storage (anchor) order; report in (tenant, signal id) order.
        s.found.sort_unstable_by_key(|&(rule, ..)| rule);
        out.reserve_exact(s.found.len());
        for &(rule, a, b) in &s.found {
            let rule = &self.rules[rule as usize];
            out.push(SignalMatch {
                signal: rule.id.clone(),
                version: rule.version,
                highlights: highlights(span_of, &mut s.spans[a as usize..b as usize]),
            });
        }
        out
    }

    /// Appends to `arena` the exact-word key (or `NONE`) of `w` in each form, then the keys
    /// of the prefixes it starts with.
    fn lookup_word(&self, w: &str, arena: &mut Vec<u32>, norm: &mut String, scratch: &mut String) {
        let start = arena.len();
        arena.resize(start + self.forms.len(), NONE);
        for (f, form) in self.forms.iter().enumerate() {
            form.norm.normalise_into(w, norm, scratch);
            if let Some(k) = form.words.get(norm) {
                arena[start + f] = k;
            }
            form.trie.walk(norm, |k| arena.push(k));
        }
        // Terms and prefixes also match the sub-words of a joined token or a possessive, at the
        // token's position; phrases of several words compare whole tokens (`tok_keys`).
        for piece in normalise::sub_words(w) {
            for form in &self.forms {
                form.norm.normalise_into(piece, norm, scratch);
                if let Some(k) = form.words.get(norm) {
                    arena.push(k);
                }
                form.trie.walk(norm, |k| arena.push(k));
            }
        }
    }

    /// Adds a hit (at position 0) for each of the mention's facet values some rule filters on.
    fn fact_hits<V: View + ?Sized>(&self, view: &V, hits: &mut Vec<u64>) {
        let used = |f: Facet| self.facets_used & (1 << f as u32) != 0;
        let mut hit = |f: Facet, v: &str| {
            if let Some(&k) = self.facts[f as usize].get(v) {
                hits.push(pack(FACT_BIT | k, 0));
            }
        };
        let m = view.mention();
        if used(Facet::Source) {
            hit(Facet::Source, m.source.as_str());
        }
        if used(Facet::Kind) {
            hit(Facet::Kind, m.kind.as_str());
        }
        if used(Facet::Verified) && m.author.verified == Some(true) {
            hit(Facet::Verified, "verified");
        }
        if used(Facet::Lang) {
            hit(Facet::Lang, &view.lang().to_ascii_lowercase());
        }
        if used(Facet::Author) {
            hit(Facet::Author, &norm_handle(&m.author.handle));
            hit(Facet::Author, &norm_handle(&m.author.id));
        }
        if used(Facet::Sentiment)
            && let Some(id) = self.sentiment_field
            && let Some(class) = filters::sentiment_class(view.record().values().get(id))
        {
            hit(Facet::Sentiment, class);
        }
        if used(Facet::Hashtag) || used(Facet::Mention) || used(Facet::Domain) {
            view.entities(&mut |f, v| match f {
                Facet::Hashtag | Facet::Mention if used(f) => hit(f, &norm_handle(v)),
                Facet::Domain if used(f) => {
                    if let Some(host) = norm_domain(url_host(v)) {
                        // The host and each parent domain with at least one dot.
                        let mut d = host.as_str();
                        while d.contains('.') {
                            hit(Facet::Domain, d);
                            d = d.split_once('.').map_or("", |(_, rest)| rest);
                        }
                    }
                }
                _ => {}
            });
        }
    }
}

/// A small open-addressing table from key to its run `[start, end)` of the mention's sorted
/// hits, sized to the mention (not to the rules), so resetting it costs as little as the mention.
#[derive(Debug, Default)]
struct KeyRuns {
    /// `(key, start, end)`; `end == 0` marks an empty slot (a present run is never empty).
    slots: Vec<(u32, u32, u32)>,
    mask: usize,
}

impl KeyRuns {
    /// Empties the table, with room for `n` keys at most half full.
    fn reset(&mut self, n: usize) {
        let cap = (2 * n).next_power_of_two().max(16);
        self.slots.clear();
        self.slots.resize(cap, (0, 0, 0));
        self.mask = cap - 1;
    }

    #[inline]
    fn slot(&self, k: u32) -> usize {
        (k.wrapping_mul(0x9e37_79b1).rotate_left(16) as usize) & self.mask
    }

    fn insert(&mut self, k: u32, start: u32, end: u32) {
        let mut i = self.slot(k);
        while self.slots[i].2 != 0 {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = (k, start, end);
    }

    /// Whether the mention hit key `k`.
    #[inline]
    fn contains(&self, k: u32) -> bool {
        self.get(k).1 != 0
    }

    /// The run of key `k`; empty when the mention did not hit it.
    #[inline]
    fn get(&self, k: u32) -> (u32, u32) {
        if self.slots.is_empty() {
            return (0, 0);
        }
        let mut i = self.slot(k);
        loop {
            let (key, start, end) = self.slots[i];
            if end == 0 {
                return (0, 0);
            }
            if key == k {
                return (start, end);
            }
            i = (i + 1) & self.mask;
        }
    }
}

#[inline]
fn pack(k: u32, p: usize) -> u64 {
    (u64::from(k) << 32) | p as u64
}

struct Ctx<'a, V: ?Sized> {
    view: &'a V,
    nodes: &'a [Node],
    phrase_keys: &'a [u32],
    cmps: &'a [(NumField, CmpOp, f64)],
    hits: &'a [u64],
    runs: &'a KeyRuns,
    tok_keys: &'a [u32],
    n: usize,
    near: &'a RefCell<(Vec<u32>, Vec<u32>)>,
}

impl<V: View + ?Sized> Ctx<'_, V> {
    /// The hits of key `k`.
    fn key_hits(&self, k: u32) -> &[u64] {
        let (a, b) = self.runs.get(k);
        &self.hits[a as usize..b as usize]
    }

    /// The children of the composite node at `i`.
    fn children(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let end = i + self.nodes[i].size();
        let mut c = i + 1;
        std::iter::from_fn(move || {
            (c < end).then(|| {
                let at = c;
                c += self.nodes[at].size();
                at
            })
        })
    }

    /// Whether the subtree at node `i` holds.
    fn eval(&self, i: usize) -> bool {
        match self.nodes[i] {
            Node::And { .. } => self.children(i).all(|c| self.eval(c)),
            Node::Or { .. } => self.children(i).any(|c| self.eval(c)),
            Node::Not { .. } => !self.eval(i + 1),
            Node::Key(k) => !self.key_hits(k).is_empty(),
            Node::Phrase(_) => self.phrase_starts(i).next().is_some(),
            Node::Near { distance } => self.near(i, distance, None),
            Node::Cmp(c) => {
                let (field, op, v) = self.cmps[c as usize];
                filters::number(self.view, field).is_some_and(|x| op.holds(x, v))
            }
            Node::Flag(id) => filters::flag(self.view.record(), id as usize),
            Node::Head { .. } => false,
        }
    }

    /// Like [`Ctx::eval`], and when true, adds the token spans of the leaves that made it true.
    fn collect(&self, i: usize, out: &mut Vec<(u32, u32)>) -> bool {
        let mark = out.len();
        let ok = match self.nodes[i] {
            Node::And { .. } => self.children(i).all(|c| self.collect(c, out)),
            Node::Or { .. } => self
                .children(i)
                .fold(false, |any, c| self.collect(c, out) | any),
            Node::Not { .. } => !self.eval(i + 1),
            Node::Key(k) => {
                let hits = self.key_hits(k);
                if k & FACT_BIT == 0 {
                    out.extend(hits.iter().map(|&h| (h as u32, h as u32 + 1)));
                }
                !hits.is_empty()
            }
            Node::Phrase(p) => {
                let len = self.phrase_keys[p as usize + 1];
                out.extend(self.phrase_starts(i).map(|s| (s, s + len)));
                out.len() > mark
            }
            Node::Near { distance } => self.near(i, distance, Some(out)),
            Node::Cmp(..) | Node::Flag(_) | Node::Head { .. } => self.eval(i),
        };
        if !ok {
            out.truncate(mark);
        }
        ok
    }

    /// Token positions where the phrase at node `i` starts, ascending.
    fn phrase_starts(&self, i: usize) -> impl Iterator<Item = u32> + '_ {
        let (form, keys, anchor) = match self.nodes[i] {
            Node::Phrase(p) => match &self.phrase_keys[p as usize..] {
                &[form, len, anchor, ref rest @ ..] => {
                    (form as usize, &rest[..len as usize], anchor as usize)
                }
                _ => (0, &[][..], 0),
            },
            _ => (0, &[][..], 0),
        };
        let row = &self.tok_keys[form * self.n..][..self.n];
        let hits = keys.get(anchor).map_or(&[][..], |&k| self.key_hits(k));
        hits.iter().filter_map(move |&h| {
            let start = (h as u32 as usize).checked_sub(anchor)?;
            let toks = row.get(start..start + keys.len())?;
            // Phrases are a few words: an inline loop beats a call to `memcmp`.
            toks.iter()
                .zip(keys)
                .all(|(t, k)| t == k)
                .then_some(start as u32)
        })
    }

    /// Puts in `starts` the start positions of the occurrences of the `NEAR` operand at node
    /// `i`; returns their length.
    fn occurrences(&self, i: usize, starts: &mut Vec<u32>) -> u32 {
        starts.clear();
        match self.nodes[i] {
            Node::Phrase(p) => {
                starts.extend(self.phrase_starts(i));
                self.phrase_keys[p as usize + 1]
            }
            Node::Key(k) => {
                starts.extend(self.key_hits(k).iter().map(|&h| h as u32));
                1
            }
            _ => 1,
        }
    }

    /// Whether some occurrences of the operands of the `NEAR` at node `i` are at most `d`
    /// tokens apart without overlapping; with `out`, adds the spans of every occurrence that
    /// takes part in such a pair.
    fn near(&self, i: usize, d: u32, out: Option<&mut Vec<(u32, u32)>>) -> bool {
        // Operands are leaves, so no other `NEAR` is evaluated while these buffers are held;
        // fresh ones stand in should that ever change.
        let mut fresh = Default::default();
        let mut held = self.near.try_borrow_mut().ok();
        let (sa, sb): &mut (Vec<u32>, Vec<u32>) = match held.as_deref_mut() {
            Some(bufs) => bufs,
            None => &mut fresh,
        };
        let la = self.occurrences(i + 1, sa);
        let lb = self.occurrences(i + 2, sb);
        let (sa, sb) = (&*sa, &*sb);
        let Some(out) = out else {
            return sa.iter().any(|&x| has_partner(x, la, sb, lb, d));
        };
        let mark = out.len();
        for &x in sa {
            if has_partner(x, la, sb, lb, d) {
                out.push((x, x + la));
            }
        }
        if out.len() == mark {
            return false;
        }
        for &y in sb {
            if has_partner(y, lb, sa, la, d) {
                out.push((y, y + lb));
            }
        }
        true
    }
}

/// Whether an occurrence in `others` (sorted starts, each `lo` long) lies within `d` tokens
/// before or after the occurrence `[x, x + lx)` without overlapping it.
fn has_partner(x: u32, lx: u32, others: &[u32], lo: u32, d: u32) -> bool {
    let within = |from: u32, to: u32| {
        let i = others.partition_point(|&s| s < from);
        i < others.len() && others[i] <= to
    };
    let after = x.saturating_add(lx);
    if within(after, after.saturating_add(d)) {
        return true;
    }
    x >= lo && within((x - lo).saturating_sub(d), x - lo)
}

/// The code-point `[start, end)` of each word (slices of `text`), in one pass over the text.
fn token_chars(text: &str, words: &[&str], out: &mut Vec<(u32, u32)>) {
    let base = text.as_ptr() as usize;
    let (mut at_byte, mut at_char) = (0usize, 0u32);
    for w in words {
        let start = w.as_ptr() as usize - base;
        at_char += text[at_byte..start].chars().count() as u32;
        let len = w.chars().count() as u32;
        out.push((at_char, at_char + len));
        at_char += len;
        at_byte = start + w.len();
    }
}

/// Token spans → merged code-point `[start, end)` offsets into the text.
fn highlights(span_of: impl Fn(usize) -> (u32, u32), spans: &mut [(u32, u32)]) -> Highlights {
    spans.sort_unstable();
    let mut merged = Highlights::new();
    for &(s, e) in spans.iter() {
        let (s, e) = (span_of(s as usize).0, span_of(e as usize - 1).1);
        match merged.last_mut() {
            Some(last) if s <= last[1] => last[1] = last[1].max(e),
            _ => merged.push([s, e]),
        }
    }
    merged
}
