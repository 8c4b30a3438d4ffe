//! Matching one mention against a compiled [`Matcher`].

use model::SignalMatch;

use super::compile::{CExpr, CText, FACT_BIT, Matcher, NONE, Phrase};
use super::filters::{self, Live, View, norm_domain, norm_handle, url_host};
use super::query::Facet;
use crate::Analysis;
use crate::registry::Record;

/// Buffers reused from one mention to the next; keep one per worker thread.
#[derive(Debug, Default)]
pub struct Scratch {
    /// `key << 32 | token position`, sorted.
    hits: Vec<u64>,
    /// The exact-word key of each token in each form (`form * n + position`), or `NONE`.
    tok_keys: Vec<u32>,
    candidates: Vec<u32>,
    spans: Vec<(u32, u32)>,
    norm: String,
    scratch: String,
}

impl Matcher {
    /// The signals `a`'s mention matches, in (tenant, signal id) order, with highlights.
    pub fn matches(&self, a: &Analysis<'_>, record: &Record) -> Vec<SignalMatch> {
        self.matches_with(
            &Live {
                analysis: a,
                record,
            },
            &mut Scratch::default(),
        )
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
        for (f, form) in self.forms.iter().enumerate() {
            if form.words.is_empty() && form.trie.is_empty() {
                continue;
            }
            for (p, w) in words.iter().enumerate() {
                form.norm.normalise_into(w, &mut s.norm, &mut s.scratch);
                if let Some(&k) = form.words.get(s.norm.as_str()) {
                    s.hits.push(pack(k, p));
                    s.tok_keys[f * n + p] = k;
                }
                let hits = &mut s.hits;
                form.trie.walk(&s.norm, |k| hits.push(pack(k, p)));
            }
        }
        if self.facets_used != 0 {
            self.fact_hits(view, &mut s.hits);
        }
        s.hits.sort_unstable();
        s.hits.dedup();

        s.candidates.clear();
        let mut i = 0;
        while i < s.hits.len() {
            let k = (s.hits[i] >> 32) as u32;
            let ki = self.key_index(k);
            let (a, b) = (
                self.post_start[ki] as usize,
                self.post_start[ki + 1] as usize,
            );
            s.candidates.extend_from_slice(&self.postings[a..b]);
            while i < s.hits.len() && (s.hits[i] >> 32) as u32 == k {
                i += 1;
            }
        }
        s.candidates.extend_from_slice(&self.always);
        s.candidates.sort_unstable();
        s.candidates.dedup();

        let ctx = Ctx {
            view,
            hits: &s.hits,
            tok_keys: &s.tok_keys,
            n,
        };
        for &r in &s.candidates {
            let rule = &self.rules[r as usize];
            if !ctx.eval(&rule.expr) {
                continue;
            }
            s.spans.clear();
            ctx.collect(&rule.expr, &mut s.spans);
            out.push(SignalMatch {
                tenant: rule.tenant.clone(),
                signal: rule.signal.clone(),
                version: rule.version,
                highlights: highlights(view.text(), words, &mut s.spans),
            });
        }
        out
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

#[inline]
fn pack(k: u32, p: usize) -> u64 {
    (u64::from(k) << 32) | p as u64
}

struct Ctx<'a, V: ?Sized> {
    view: &'a V,
    hits: &'a [u64],
    tok_keys: &'a [u32],
    n: usize,
}

impl<V: View + ?Sized> Ctx<'_, V> {
    /// The hits of key `k`.
    fn key_hits(&self, k: u32) -> &[u64] {
        let lo = u64::from(k) << 32;
        let a = self.hits.partition_point(|&h| h < lo);
        let b = a + self.hits[a..].partition_point(|&h| h >> 32 == u64::from(k));
        &self.hits[a..b]
    }

    fn eval(&self, e: &CExpr) -> bool {
        match e {
            CExpr::And(v) => v.iter().all(|e| self.eval(e)),
            CExpr::Or(v) => v.iter().any(|e| self.eval(e)),
            CExpr::Not(e) => !self.eval(e),
            CExpr::Key(k) => !self.key_hits(*k).is_empty(),
            CExpr::Phrase(p) => !self.phrase_starts(p).is_empty(),
            CExpr::Near(pair, d) => self.near(&pair.0, &pair.1, *d, None),
            CExpr::Cmp(field, op, v) => {
                filters::number(self.view, *field).is_some_and(|x| op.holds(x, *v))
            }
            CExpr::Flag(id) => filters::flag(self.view.record(), *id),
        }
    }

    /// Like [`Ctx::eval`], and when true, adds the token spans of the leaves that made it true.
    fn collect(&self, e: &CExpr, out: &mut Vec<(u32, u32)>) -> bool {
        let mark = out.len();
        let ok = match e {
            CExpr::And(v) => v.iter().all(|e| self.collect(e, out)),
            CExpr::Or(v) => v.iter().fold(false, |any, e| self.collect(e, out) | any),
            CExpr::Not(e) => !self.eval(e),
            CExpr::Key(k) => {
                let hits = self.key_hits(*k);
                if k & FACT_BIT == 0 {
                    out.extend(hits.iter().map(|&h| (h as u32, h as u32 + 1)));
                }
                !hits.is_empty()
            }
            CExpr::Phrase(p) => {
                let len = p.keys.len() as u32;
                let starts = self.phrase_starts(p);
                out.extend(starts.iter().map(|&s| (s, s + len)));
                !starts.is_empty()
            }
            CExpr::Near(pair, d) => self.near(&pair.0, &pair.1, *d, Some(out)),
            CExpr::Cmp(..) | CExpr::Flag(_) => self.eval(e),
        };
        if !ok {
            out.truncate(mark);
        }
        ok
    }

    /// Token positions where phrase `p` starts, ascending.
    fn phrase_starts(&self, p: &Phrase) -> Vec<u32> {
        let anchor = p.anchor as usize;
        let row = &self.tok_keys[p.form as usize * self.n..][..self.n];
        self.key_hits(p.keys[anchor])
            .iter()
            .filter_map(|&h| {
                let start = (h as u32 as usize).checked_sub(anchor)?;
                let toks = row.get(start..start + p.keys.len())?;
                (toks == &p.keys[..]).then_some(start as u32)
            })
            .collect()
    }

    /// Start positions and length of a `NEAR` operand's occurrences.
    fn occurrences(&self, t: &CText) -> (Vec<u32>, u32) {
        match t {
            CText::Key(k) => (self.key_hits(*k).iter().map(|&h| h as u32).collect(), 1),
            CText::Phrase(p) => (self.phrase_starts(p), p.keys.len() as u32),
        }
    }

    /// Whether some occurrences of `a` and `b` are at most `d` tokens apart without overlapping;
    /// with `out`, adds the spans of every occurrence that takes part in such a pair.
    fn near(&self, a: &CText, b: &CText, d: u32, out: Option<&mut Vec<(u32, u32)>>) -> bool {
        let (sa, la) = self.occurrences(a);
        let (sb, lb) = self.occurrences(b);
        let Some(out) = out else {
            return sa.iter().any(|&x| has_partner(x, la, &sb, lb, d));
        };
        let mark = out.len();
        for &x in &sa {
            if has_partner(x, la, &sb, lb, d) {
                out.push((x, x + la));
            }
        }
        if out.len() == mark {
            return false;
        }
        for &y in &sb {
            if has_partner(y, lb, &sa, la, d) {
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

/// Token spans → merged `[start, end)` code-point offsets into the text.
fn highlights(text: &str, words: &[&str], spans: &mut [(u32, u32)]) -> Vec<[u32; 2]> {
    let base = text.as_ptr() as usize;
    let offset = |w: &str| w.as_ptr() as usize - base;
    let mut bytes: Vec<(usize, usize)> = spans
        .iter()
        .map(|&(s, e)| {
            let last = words[e as usize - 1];
            (offset(words[s as usize]), offset(last) + last.len())
        })
        .collect();
    bytes.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(bytes.len());
    for (s, e) in bytes {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    // Byte offsets → code points, in one pass over the text.
    let (mut at_byte, mut at_char) = (0usize, 0u32);
    let mut to_chars = |b: usize| {
        at_char += text[at_byte..b].chars().count() as u32;
        at_byte = b;
        at_char
    };
    merged
        .into_iter()
        .map(|(s, e)| {
            let s = to_chars(s);
            [s, to_chars(e)]
        })
        .collect()
}
