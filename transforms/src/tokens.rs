//! Tokens and stems: the lower-cased UAX #29 words of a text, their vocabulary statistics,
//! stop words and Snowball stems for the detected language.
//!
//! Language-dependent fields key on `a.lang().code` (ISO 639-1). Where the language has a
//! Snowball stemmer (ar da nl en fi fr de el hu it no/nb pt ro ru es sv ta tr) we stem and count
//! stop words; elsewhere `stems` is empty, `stems_lang` is "" and the stop-word fields are null.

mod lang;
#[cfg(test)]
mod tests;

use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::registry::{FieldSpec, FieldWriter, fields};

pub use lang::{Lang, warm_up};

pub const EXTRACTORS: &[&dyn Extractor] = &[&Tokens];

/// At most this many tokens (and stems) are listed; counts cover all tokens.
pub const MAX_LISTED: usize = 256;

/// Tokens, vocabulary statistics, stop words and stems.
#[derive(Debug)]
pub struct Tokens;

fields! {
    const FIELDS, mod f = [
        TOKENS => FieldSpec::strs(
            "tokens",
            "Lower-cased UAX #29 words in order, the first 256 only (text_words counts them all).",
        ),
        TOKENS_TRUNCATED => FieldSpec::bool(
            "tokens_truncated",
            "The text has more than 256 tokens, so tokens and stems list only the first 256.",
        ),
        UNIQUE_TOKENS => FieldSpec::int("unique_tokens", "Distinct lower-cased tokens."),
        TYPE_TOKEN_RATIO => FieldSpec::float(
            "type_token_ratio",
            "Lexical diversity: distinct tokens / tokens (0 without tokens).",
        ),
        HAPAX => FieldSpec::int(
            "hapax_count",
            "Tokens that occur exactly once (hapax legomena).",
        ),
        MAX_REPEAT => FieldSpec::int(
            "max_token_repeat",
            "Occurrences of the most repeated token (0 without tokens).",
        ),
        ENTROPY => FieldSpec::float(
            "token_entropy",
            "Shannon entropy of the token distribution in bits (0 for one repeated token or none).",
        ),
        YULES_K => FieldSpec::float(
            "yules_k",
            "Yule's K vocabulary repetitiveness, 10^4 (sum f^2 - N) / N^2 (0 without tokens).",
        ),
        STEMS_LANG => FieldSpec::str(
            "stems_lang",
            "Language of the stop-word list and Snowball stemmer used (detected ISO 639-1; \"\" if none).",
        ),
        STOP_WORDS => FieldSpec::int(
            "stop_word_count",
            "Tokens on the detected language's stop-word list (null when there is no list).",
        )
        .nullable(),
        STOP_WORD_RATIO => FieldSpec::float(
            "stop_word_ratio",
            "Share of tokens that are stop words of the detected language (null when no list).",
        )
        .nullable(),
        STEMS => FieldSpec::strs(
            "stems",
            "Snowball stems of the listed tokens for the detected language (empty when unsupported).",
        ),
        UNIQUE_STEMS => FieldSpec::int(
            "unique_stems",
            "Distinct stems among the listed tokens (null when the language has no stemmer).",
        )
        .nullable(),
    ]
}

impl Extractor for Tokens {
    fn name(&self) -> &'static str {
        "tokens"
    }
    fn version(&self) -> u32 {
        2
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let lower = a.lower_words();
        let n = lower.len();
        {
            let mut list = out.strs_reuse(f::TOKENS);
            lower.iter().take(MAX_LISTED).for_each(|t| list.push(t));
        }
        out.bool(f::TOKENS_TRUNCATED, n > MAX_LISTED);

        let v = vocabulary(a.word_hashes());
        out.count(f::UNIQUE_TOKENS, v.unique);
        out.float(f::TYPE_TOKEN_RATIO, ratio(v.unique, n));
        out.count(f::HAPAX, v.hapax);
        out.count(f::MAX_REPEAT, v.max_repeat);
        out.float(f::ENTROPY, v.entropy);
        out.float(f::YULES_K, v.yules_k);

        match Lang::from_code(a.lang().code) {
            Some(lang) => {
                out.str(f::STEMS_LANG, a.lang().code);
                let mut stems = out.strs_reuse(f::STEMS);
                let mut stops = 0usize;
                let mut hashes = STEM_HASHES.take();
                hashes.clear();
                lang::with_cache(lang, |cache| {
                    for (i, t) in lower.iter().enumerate() {
                        if i < MAX_LISTED {
                            stops += usize::from(cache.stem_with(t, |stem, h| {
                                stems.push(stem);
                                hashes.push(h);
                            }));
                        } else {
                            stops += usize::from(lang.is_stop_word(t));
                        }
                    }
                });
                drop(stems);
                hashes.sort_unstable();
                hashes.dedup();
                let unique = hashes.len();
                STEM_HASHES.set(hashes);
                out.count(f::STOP_WORDS, stops);
                out.float(f::STOP_WORD_RATIO, ratio(stops, n));
                out.count(f::UNIQUE_STEMS, unique);
            }
            None => {
                out.str(f::STEMS_LANG, "");
                out.null(f::STOP_WORDS);
                out.null(f::STOP_WORD_RATIO);
                out.strs(f::STEMS);
                out.null(f::UNIQUE_STEMS);
            }
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Frequency statistics of a token sequence.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Vocabulary {
    pub unique: usize,
    pub hapax: usize,
    pub max_repeat: usize,
    pub entropy: f64,
    pub yules_k: f64,
}

/// Counts each distinct token, by its word hash ([`Analysis::word_hashes`], shared with the
/// spam and dedup groups; distinct tokens colliding in 64 bits is out of the question in
/// practice), in a small open-addressing table, then reads the statistics off the frequencies.
///
/// The word hashes are stable and public, so anyone could post words whose hashes share their
/// low bits. Slots are therefore picked by the high bits of the hash mixed with a seed of this
/// thread's own, which an outsider cannot aim at one run of slots.
pub(crate) fn vocabulary(hashes: &[u64]) -> Vocabulary {
    let n = hashes.len();
    if n == 0 {
        return Vocabulary::default();
    }
    VOCAB.with(|cell| {
        let VocabScratch {
            seed,
            mut table,
            mut repeated,
        } = cell.take();
        let seed = if seed == 0 {
            crate::hash::random_seed() | 1
        } else {
            seed
        };
        let size = (2 * n).next_power_of_two();
        table.clear();
        table.resize(size, (0, 0));
        let (mask, shift) = (size - 1, 64 - size.trailing_zeros());
        for &h in hashes {
            // 0 marks an empty slot; a token hashing to 0 is nudged.
            let h = h.max(1);
            let mut i = ((h ^ seed).wrapping_mul(crate::hash::K1) >> shift) as usize & mask;
            loop {
                let slot = &mut table[i];
                if slot.0 == h {
                    slot.1 += 1;
                    break;
                }
                if slot.0 == 0 {
                    *slot = (h, 1);
                    break;
                }
                i = (i + 1) & mask;
            }
        }
        let mut v = Vocabulary::default();
        let mut sum_sq = 0u64;
        // The repeated tokens' counts, summed in ascending order below, so the float sum (and
        // the fields) do not depend on where the seed put each token.
        repeated.clear();
        for &(h, f) in table.iter() {
            if h == 0 {
                continue;
            }
            v.unique += 1;
            v.hapax += usize::from(f == 1);
            v.max_repeat = v.max_repeat.max(f as usize);
            sum_sq += u64::from(f) * u64::from(f);
            if f > 1 {
                repeated.push(f);
            }
        }
        repeated.sort_unstable();
        let sum_flogf: f64 = repeated
            .iter()
            .map(|&f| f64::from(f) * f64::from(f).log2())
            .sum();
        cell.set(VocabScratch {
            seed,
            table,
            repeated,
        });
        let (nf, sum_sq) = (n as f64, sum_sq as f64);
        // H = log2 N - (1/N) sum f log2 f
        v.entropy = (nf.log2() - sum_flogf / nf).max(0.0);
        v.yules_k = 1e4 * (sum_sq - nf) / (nf * nf);
        v
    })
}

/// [`vocabulary`]'s table and its seed (0 until first use), and the counts of repeated tokens.
#[derive(Default)]
struct VocabScratch {
    seed: u64,
    table: Vec<(u64, u32)>,
    repeated: Vec<u32>,
}

thread_local! {
    /// Hashes of one mention's stems, reused from one mention to the next.
    static STEM_HASHES: std::cell::Cell<Vec<u64>> = const { std::cell::Cell::new(Vec::new()) };
    /// The frequency table, reused from one mention to the next.
    static VOCAB: std::cell::Cell<VocabScratch> = const {
        std::cell::Cell::new(VocabScratch {
            seed: 0,
            table: Vec::new(),
            repeated: Vec::new(),
        })
    };
}
