//! Language identification for short social text.
//!
//! Script first, statistics second. One scan (`scan`) strips URLs, @mentions, hashtags,
//! digits and emoji, keeps the letters (all-capital words lower-cased) and counts them per
//! script. A script that one major language owns decides on its own (Hangul → ko, kana → ja,
//! Han alone → zh, Greek → el, Thai, Hebrew, Georgian, …); Latin, Cyrillic, Arabic and
//! Devanagari, which many languages share, go to a byte n-gram naive Bayes model (`model`)
//! holding only that script's languages, so a Latin text is never scored against Russian.
//! Close relatives the n-grams confuse on a dozen words (Danish/Norwegian, Indonesian/Malay,
//! Dutch/Afrikaans, English against anything on a short tweet) are arbitrated by marker words
//! (`markers`); Azerbaijani in Cyrillic, which the model lacks, by the letters only it writes
//! (`letters`).
//! Below a few letters we say `und` rather than guess. The whole detection is one linear pass
//! over at most `scan::SCAN_LIMIT` bytes plus table look-ups, and is deterministic.

mod letters;
mod markers;
pub(crate) mod model;
mod scan;
mod script;

#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod udhr_tests;

pub use script::{SCRIPT_COUNT, Script};

use crate::analysis::Analysis;

/// Texts with fewer letters than this in a statistically decided script get `und`.
pub const MIN_LETTERS: u32 = 6;
/// Texts with fewer letters than this in a single-language script get `und`.
pub const MIN_SCRIPT_LETTERS: u32 = 2;
/// Temperature (in nats per unit of evidence) that turns naive Bayes log-likelihoods into a
/// confidence. Overlapping 1–4-grams are far from independent, so raw posteriors are nearly
/// always 1.0; dividing the log-odds by this spreads them over a useful range.
const TEMPERATURE: f64 = 8.0;

/// How a language was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Too little text, or letters of a script we do not know: `und`.
    None,
    /// The script alone (Hangul, kana, Han, Greek, Thai, …).
    Script,
    /// The n-gram model of a shared script.
    Ngram,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::None => "none",
            Method::Script => "script",
            Method::Ngram => "ngram",
        }
    }
}

/// The language of a text.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// ISO 639-1 code, or 639-3 where 639-1 has none, `und` when unknown.
    pub code: &'static str,
    /// 0..1: how sure the detector is of `code` (0 for `und`).
    pub confidence: f64,
    /// The dominant script of the letters ([`Script::Zyyy`] when there are none).
    pub script: Script,
    /// Whether `code` can be trusted: enough letters and a clear winner.
    pub reliable: bool,
    /// The second most likely language, when the n-gram model decided.
    pub runner_up: Option<&'static str>,
    /// Confidence of `runner_up` on the same scale as `confidence` (0 when there is none).
    pub runner_up_confidence: f64,
    /// How `code` was decided.
    pub method: Method,
    /// Letters the detector looked at (URLs, @mentions and, unless nothing else was left,
    /// hashtags excluded).
    pub letters: u32,
    /// Letters per script, indexed by `Script as usize`.
    pub script_letters: [u32; SCRIPT_COUNT],
    /// Changes of script between consecutive letters.
    pub script_switches: u32,
    /// Model n-grams found in the text (0 unless `method` is `Ngram`).
    pub ngram_hits: u32,
    /// Whether hashtag words were used because the rest of the text had too few letters.
    pub used_hashtags: bool,
}

impl Detection {
    /// Share of letters (dense scripts weighted double) in the dominant script, or in Han and
    /// kana together for Japanese; `None` without letters.
    pub fn script_share(&self) -> Option<f64> {
        let total = weighted_total(&self.script_letters);
        (total > 0)
            .then(|| f64::from(family_weight(&self.script_letters, self.script)) / f64::from(total))
    }

    /// Share of all letters in the given scripts (0 without letters).
    pub fn share_of(&self, scripts: &[Script]) -> f64 {
        if self.letters == 0 {
            return 0.0;
        }
        let n: u32 = scripts
            .iter()
            .map(|s| self.script_letters[*s as usize])
            .sum();
        f64::from(n) / f64::from(self.letters)
    }
}

fn weight(s: Script, n: u32) -> u32 {
    if s.is_dense() { n.saturating_mul(2) } else { n }
}

fn weighted_total(counts: &[u32; SCRIPT_COUNT]) -> u32 {
    Script::ALL
        .iter()
        .map(|&s| weight(s, counts[s as usize]))
        .fold(0u32, u32::saturating_add)
}

/// Weighted letters of `s`, counting Han and kana together.
fn family_weight(counts: &[u32; SCRIPT_COUNT], s: Script) -> u32 {
    let c = |s: Script| weight(s, counts[s as usize]);
    match s {
        Script::Hani | Script::Hira | Script::Kana => c(Script::Hani)
            .saturating_add(c(Script::Hira))
            .saturating_add(c(Script::Kana)),
        s => c(s),
    }
}

/// Indices of the best and second-best scores; ties go to the earlier (more common) language,
/// so the result is deterministic.
fn top_two(sc: &[i32]) -> (usize, Option<usize>) {
    let (mut first, mut second) = (0usize, None::<usize>);
    for i in 1..sc.len() {
        if sc[i] > sc[first] {
            (first, second) = (i, Some(first));
        } else if second.is_none_or(|j| sc[i] > sc[j]) {
            second = Some(i);
        }
    }
    (first, second)
}

/// Detects the language of the analysed text.
pub fn detect(a: &Analysis<'_>) -> Detection {
    detect_text(a.text)
}

/// Detects the language of `text` (see the module docs).
pub fn detect_text(text: &str) -> Detection {
    let mut s = scan::scan(text, false);
    let mut used_hashtags = false;
    if s.letters < MIN_LETTERS && text.contains('#') {
        let with_tags = scan::scan(text, true);
        if with_tags.letters > s.letters {
            s = with_tags;
            used_hashtags = true;
        }
    }
    let mut d = Detection {
        code: "und",
        confidence: 0.0,
        script: Script::Zyyy,
        reliable: false,
        runner_up: None,
        runner_up_confidence: 0.0,
        method: Method::None,
        letters: s.letters,
        script_letters: s.counts,
        script_switches: s.switches,
        ngram_hits: 0,
        used_hashtags,
    };
    if s.letters == 0 {
        return d;
    }
    // The dominant script: most weighted letters, Han and kana competing as one family.
    let mut best = Script::Zzzz;
    let mut best_w = 0;
    for &sc in &Script::ALL[1..] {
        let w = match sc {
            Script::Hira | Script::Kana => continue,
            Script::Hani => family_weight(&s.counts, sc),
            _ => weight(sc, s.count(sc)),
        };
        if w > best_w {
            (best, best_w) = (sc, w);
        }
    }
    let share = f64::from(best_w) / f64::from(weighted_total(&s.counts).max(1));
    let letters = if best == Script::Hani {
        s.count(Script::Hani) + s.count(Script::Hira) + s.count(Script::Kana)
    } else {
        s.count(best)
    };
    d.script = best;
    if best == Script::Hani {
        // Japanese mixes kanji with kana; Chinese has (almost) no kana.
        let kana = s.count(Script::Hira) + s.count(Script::Kana);
        let hani = s.count(Script::Hani);
        d.script = [
            (Script::Hani, hani),
            (Script::Hira, s.count(Script::Hira)),
            (Script::Kana, s.count(Script::Kana)),
        ]
        .into_iter()
        .max_by_key(|&(sc, n)| (n, std::cmp::Reverse(sc)))
        .map_or(Script::Hani, |(sc, _)| sc);
        if letters >= MIN_SCRIPT_LETTERS {
            let japanese = kana > 0 && kana * 20 >= letters;
            d.code = if japanese { "ja" } else { "zh" };
            d.method = Method::Script;
            d.confidence = share;
            d.reliable = share >= 0.75 && (japanese || hani >= 6);
        }
        return d;
    }
    if let Some(code) = best.sole_language() {
        if letters >= MIN_SCRIPT_LETTERS {
            d.code = code;
            d.method = Method::Script;
            d.confidence = share;
            d.reliable = share >= 0.75 && letters >= 3;
        }
        return d;
    }
    let Some(group) = model::MODEL.group(best.code()) else {
        return d;
    };
    if letters < MIN_LETTERS {
        return d;
    }
    let scores = group.score(&s.buf);
    let mut all = scores.score;
    let sc = &mut all[..group.langs.len()];
    let (first, _) = top_two(sc);
    markers::boost(group.langs[first], &group.langs, sc, &s.buf);
    let (first, second) = top_two(sc);
    // Softmax at the temperature; terms more than 40 units below the best add nothing a f64
    // could show, and skipping them skips most `exp` calls.
    let unit = model::SCALE * TEMPERATURE;
    let rel = |i: usize| f64::from(sc[i] - sc[first]) / unit;
    let z: f64 = (0..sc.len())
        .map(rel)
        .filter(|&x| x > -40.0)
        .map(f64::exp)
        .sum();
    d.method = Method::Ngram;
    d.ngram_hits = scores.hits;
    d.code = group.langs[first];
    d.confidence = share / z;
    if let Some(j) = second {
        d.runner_up = Some(group.langs[j]);
        d.runner_up_confidence = share * rel(j).exp() / z;
    }
    if best == Script::Cyrl {
        let evidence = letters::azerbaijani_cyrillic(&s.buf);
        if evidence > 0 {
            // Each letter of evidence halves the doubt; the model's pick becomes the runner-up.
            (d.runner_up, d.runner_up_confidence) = (Some(d.code), d.confidence * 0.5);
            d.code = "az";
            d.confidence = share * (1.0 - 0.5f64.powi(evidence.min(30)));
        }
    }
    d.reliable = d.confidence >= 0.75 && letters >= 12;
    d
}
