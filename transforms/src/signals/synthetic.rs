//! Synthetic signal sets shaped like listening queries, drawn from a corpus's own vocabulary,
//! for the criterion bench and the corpus agreement test.
//!
//! Real tenants track brand names, products and topics: words that appear in some mentions but
//! not most. So the words come from the corpus with a document frequency between 2 mentions and
//! 1% of mentions, phrases from bigrams that occur in it, and the query shapes mix ORs of
//! variants, AND/NOT refinements, prefixes, NEAR, filters and stemming. Tenants own 100 signals
//! each. Deterministic for a given corpus, size and seed.

use std::collections::{BTreeMap, BTreeSet};

use model::Mention;
use unicode_segmentation::UnicodeSegmentation;

use super::normalise::{StemLanguage, fold_into};
use super::{Signal, SignalOptions, SignalSet};

/// `n` signals over `corpus`'s vocabulary.
pub fn signal_set(corpus: &[Mention], n: usize, seed: u64) -> SignalSet {
    let (words, bigrams) = vocabulary(corpus);
    let mut rng = SplitMix(seed);
    let signals = (0..n)
        .map(|i| {
            let (query, options) = query(&mut rng, &words, &bigrams);
            Signal {
                tenant: format!("tenant{:05}", i / 100),
                id: format!("s{i}"),
                version: 1 + (i as u64 % 3),
                query,
                options,
            }
        })
        .collect();
    SignalSet { signals }
}

/// Mid-frequency words (at least 3 letters) and the bigrams of them seen at least twice.
fn vocabulary(corpus: &[Mention]) -> (Vec<String>, Vec<(String, String)>) {
    let mut df: BTreeMap<String, usize> = BTreeMap::new();
    let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
    for m in corpus {
        let folded: Vec<String> = m
            .text
            .unicode_words()
            .map(|w| {
                let mut s = String::new();
                fold_into(w, false, &mut s);
                s
            })
            .collect();
        let unique: BTreeSet<&String> = folded.iter().collect();
        for w in unique {
            *df.entry(w.clone()).or_default() += 1;
        }
        for p in folded.windows(2) {
            *pairs.entry((p[0].clone(), p[1].clone())).or_default() += 1;
        }
    }
    let max_df = (corpus.len() / 100).max(2);
    let good = |w: &str, df: usize| {
        (2..=max_df).contains(&df) && w.chars().count() >= 3 && w.chars().all(char::is_alphabetic)
    };
    let words: Vec<String> = df
        .iter()
        .filter(|(w, d)| good(w, **d))
        .map(|(w, _)| w.clone())
        .collect();
    let bigrams = pairs
        .into_iter()
        .filter(|((a, b), c)| *c >= 2 && good(a, df[a]) && good(b, df[b]))
        .map(|(p, _)| p)
        .collect();
    (words, bigrams)
}

fn query(
    rng: &mut SplitMix,
    words: &[String],
    bigrams: &[(String, String)],
) -> (String, SignalOptions) {
    let mut w = || {
        words
            .get(rng.below(words.len()))
            .cloned()
            .unwrap_or_else(|| "word".into())
    };
    let (w1, w2, w3, w4) = (w(), w(), w(), w());
    let phrase = match bigrams.get(rng.below(bigrams.len())) {
        Some((a, b)) => format!("\"{a} {b}\""),
        None => format!("\"{w1} {w2}\""),
    };
    let mut options = SignalOptions::default();
    let q = match rng.below(100) {
        0..20 => format!("{w1} OR {w2} OR {w3}"),
        20..30 => phrase,
        30..35 => format!("{phrase} OR {w1}"),
        35..50 => format!("{w1} AND ({w2} OR {w3}) -{w4}"),
        50..60 => {
            let cut: String = w1.chars().take(4 + rng.below(3)).collect();
            format!("{cut}* {w2}")
        }
        60..70 => format!("{w1} NEAR/5 {w2}"),
        70..75 => format!("{phrase} NEAR/3 {w1}"),
        75..78 => format!("({w1} OR {w2}) lang:en"),
        78..81 => format!("({w1} OR {w2}) source:reddit"),
        81..84 => format!("{w1} -is:reply"),
        84..89 => format!("{w1} followers:>1000"),
        89..94 => format!("hashtag:{w1} OR {w2}"),
        _ => {
            options.stem = Some(StemLanguage::English);
            format!("{w1} {w2}")
        }
    };
    (q, options)
}

/// A tiny deterministic generator (SplitMix64), to keep `rand` out of this crate.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        crate::hash::mix(self.0)
    }

    /// Uniform-ish in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}
