//! A brute-force evaluator of parsed queries, the oracle the compiled matcher is tested against.
//!
//! It shares only the parser and the normalising functions with the matcher. It normalises
//! every token afresh for every rule, compares strings instead of keys, scans every position for
//! phrases, tries every pair for `NEAR`, reads facets straight from the view, evaluates every
//! branch, and finds highlight offsets with `unicode_word_indices`.

use unicode_segmentation::UnicodeSegmentation;

use super::filters::{self, View, norm_domain, norm_handle, url_host};
use super::normalise::{Flavor, Normaliser, sub_words};
use super::query::{Expr, Facet, Filter, Query, TextLeaf};

type Spans = Vec<(usize, usize)>;

/// Whether `q` matches the view's mention and, if so, its highlights.
pub fn evaluate<V: View + ?Sized>(
    q: &Query,
    view: &V,
    sentiment_field: Option<usize>,
) -> Option<Vec<[u32; 2]>> {
    let r = Ref {
        view,
        sentiment_field,
        words: view.words().iter().map(|w| w.to_string()).collect(),
    };
    let (ok, spans) = r.eval(&q.expr, q.flavor);
    ok.then(|| r.highlights(spans))
}

struct Ref<'a, V: ?Sized> {
    view: &'a V,
    sentiment_field: Option<usize>,
    words: Vec<String>,
}

impl<V: View + ?Sized> Ref<'_, V> {
    fn norms(&self, flavor: Flavor) -> Vec<String> {
        let n = Normaliser::new(flavor);
        self.words.iter().map(|w| n.normalise(w)).collect()
    }

    /// Per token, the normal forms of its sub-words ([`sub_words`]).
    fn piece_norms(&self, flavor: Flavor) -> Vec<Vec<String>> {
        let n = Normaliser::new(flavor);
        self.words
            .iter()
            .map(|w| sub_words(w).into_iter().map(|p| n.normalise(p)).collect())
            .collect()
    }

    fn occurrences(&self, t: &TextLeaf, flavor: Flavor) -> Spans {
        match t {
            TextLeaf::Phrase(ws) if ws.len() == 1 => {
                let (norms, pieces) = (self.norms(flavor), self.piece_norms(flavor));
                (0..norms.len())
                    .filter(|&p| norms[p] == ws[0] || pieces[p].contains(&ws[0]))
                    .map(|p| (p, p + 1))
                    .collect()
            }
            TextLeaf::Phrase(ws) => {
                let norms = self.norms(flavor);
                (0..norms.len())
                    .filter(|&p| {
                        p + ws.len() <= norms.len()
                            && ws.iter().enumerate().all(|(i, w)| norms[p + i] == *w)
                    })
                    .map(|p| (p, p + ws.len()))
                    .collect()
            }
            TextLeaf::Prefix(pre) => {
                let unstemmed = flavor.unstemmed();
                let pieces = self.piece_norms(unstemmed);
                self.norms(unstemmed)
                    .iter()
                    .enumerate()
                    .filter(|(p, w)| {
                        w.starts_with(pre.as_str())
                            || pieces[*p].iter().any(|x| x.starts_with(pre.as_str()))
                    })
                    .map(|(p, _)| (p, p + 1))
                    .collect()
            }
        }
    }

    fn eval(&self, e: &Expr, flavor: Flavor) -> (bool, Spans) {
        match e {
            Expr::And(v) => {
                let parts: Vec<_> = v.iter().map(|e| self.eval(e, flavor)).collect();
                if parts.iter().all(|(ok, _)| *ok) {
                    (true, parts.into_iter().flat_map(|(_, s)| s).collect())
                } else {
                    (false, Vec::new())
                }
            }
            Expr::Or(v) => {
                let parts: Vec<_> = v.iter().map(|e| self.eval(e, flavor)).collect();
                let ok = parts.iter().any(|(ok, _)| *ok);
                let spans = parts.into_iter().filter(|(ok, _)| *ok).flat_map(|(_, s)| s);
                (ok, spans.collect())
            }
            Expr::Not(e) => (!self.eval(e, flavor).0, Vec::new()),
            Expr::Text(t) => {
                let occ = self.occurrences(t, flavor);
                (!occ.is_empty(), occ)
            }
            Expr::Near {
                left,
                right,
                distance,
            } => {
                let (a, b) = (
                    self.occurrences(left, flavor),
                    self.occurrences(right, flavor),
                );
                let close = |x: (usize, usize), y: (usize, usize)| {
                    let gap = if x.1 <= y.0 {
                        y.0 - x.1
                    } else if y.1 <= x.0 {
                        x.0 - y.1
                    } else {
                        return false; // they share a token
                    };
                    gap <= *distance as usize
                };
                let mut spans = Vec::new();
                for &x in &a {
                    if b.iter().any(|&y| close(x, y)) {
                        spans.push(x);
                    }
                }
                for &y in &b {
                    if a.iter().any(|&x| close(x, y)) {
                        spans.push(y);
                    }
                }
                (!spans.is_empty(), spans)
            }
            Expr::Filter(f) => (self.filter(f), Vec::new()),
        }
    }

    fn filter(&self, f: &Filter) -> bool {
        let m = self.view.mention();
        match f {
            Filter::Fact(facet, v) => match facet {
                Facet::Source => m.source.as_str() == v,
                Facet::Kind => m.kind.as_str() == v,
                Facet::Verified => m.author.verified == Some(true),
                Facet::Lang => self.view.lang().eq_ignore_ascii_case(v),
                Facet::Author => {
                    norm_handle(&m.author.handle) == *v || norm_handle(&m.author.id) == *v
                }
                Facet::Hashtag | Facet::Mention | Facet::Domain => {
                    let mut found = false;
                    self.view.entities(&mut |ef, x| {
                        found |= ef == *facet
                            && match ef {
                                Facet::Domain => norm_domain(url_host(x))
                                    .is_some_and(|h| h == *v || h.ends_with(&format!(".{v}"))),
                                _ => norm_handle(x) == *v,
                            };
                    });
                    found
                }
                Facet::Sentiment => self.sentiment_field.is_some_and(|id| {
                    filters::sentiment_class(self.view.record().values().get(id))
                        == Some(v.as_str())
                }),
            },
            Filter::Cmp { field, op, value } => {
                filters::number(self.view, *field).is_some_and(|x| op.holds(x, *value))
            }
            Filter::Flag(id) => filters::flag(self.view.record(), *id),
        }
    }

    fn highlights(&self, spans: Spans) -> Vec<[u32; 2]> {
        let text = self.view.text();
        let idx: Vec<(usize, &str)> = text.unicode_word_indices().collect();
        let mut bytes: Vec<(usize, usize)> = spans
            .into_iter()
            .map(|(s, e)| (idx[s].0, idx[e - 1].0 + idx[e - 1].1.len()))
            .collect();
        bytes.sort();
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for (s, e) in bytes {
            if let Some(last) = merged.last_mut()
                && s <= last.1
            {
                last.1 = last.1.max(e);
                continue;
            }
            merged.push((s, e));
        }
        let cp = |b: usize| text[..b].chars().count() as u32;
        merged.into_iter().map(|(s, e)| [cp(s), cp(e)]).collect()
    }
}
