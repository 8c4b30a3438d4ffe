//! A faithful port of VADER's `SentimentIntensityAnalyzer.polarity_scores` (vaderSentiment
//! 3.3.2, Hutto & Gilbert 2014), written from a reading of the algorithm.
//!
//! Faithful means the quirks too, because the scores must match the reference to 1e-4:
//! emoji are replaced by their descriptions code point by code point, without a space after;
//! tokens are split on Python whitespace and lose leading/trailing ASCII punctuation only when
//! more than two characters remain; the "but" rule finds each score's *first equal value* in the
//! list (so equal scores on either side of "but" interact); "so"/"this" just before a word
//! boost it by 1.25 through the three-words-back negation check; the question-mark amplifier
//! jumps from 0.54 to 0.96 at four marks; scores are rounded as Python's `round` does.
//!
//! Work is linear in the text: one pass to translate emoji, one to split, one map lookup per
//! token, constant work per token for the rules, and an indexed form of the "but" rule for
//! long texts (the reference is quadratic there).

use std::cell::RefCell;

use super::lexicon::{TABLES, kw};
use super::rules::{but_check, sentiment_valence};
use super::score::{punctuation_emphasis, score_valence};
use super::tokens::{
    APOS, HIGH, LOWER, Tok, Tokens, UPPER, count_marks, py_isupper, strip_punc_if_word,
    translate_emoji,
};

pub use super::score::{Report, Scores};

/// VADER's `polarity_scores(text)`.
pub fn polarity_scores(text: &str) -> Scores {
    analyse(text).scores
}

/// Runs VADER over `text` and reports the scores with the facts behind them.
pub fn analyse(text: &str) -> Report {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => s.run(text),
        Err(_) => Scratch::default().run(text),
    })
}

/// Runs VADER over only the emoji and emoticons of `text`: the language-independent part,
/// used where the words are not English.
pub fn analyse_symbols(text: &str) -> Report {
    let t = &*TABLES;
    let mut reduced = String::new();
    let mut tokens = Tokens::new(text);
    while let Some((raw, _)) = tokens.next_token() {
        let tok = strip_punc_if_word(raw);
        let is_emoticon = tok.is_ascii()
            && t.words
                .get(tok.to_ascii_lowercase().as_str())
                .is_some_and(|w| w.emoticon());
        if is_emoticon {
            reduced.push_str(tok);
            reduced.push(' ');
        } else if !raw.is_ascii() {
            for c in raw.chars().filter(|c| t.emoji.contains_key(c)) {
                reduced.push(c);
                reduced.push(' ');
            }
        }
    }
    analyse(&reduced)
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Buffers reused from one call to the next on the same thread.
#[derive(Debug, Default)]
struct Scratch {
    translated: String,
    lower: String,
    toks: Vec<Tok>,
    sent: Vec<f64>,
    nonzero: Vec<(usize, f64)>,
}

impl Scratch {
    fn run(&mut self, text: &str) -> Report {
        let mut report = Report::default();
        let mut translated = std::mem::take(&mut self.translated);
        let emoji = &TABLES.emoji;
        let has_emoji = !text.is_ascii()
            && text
                .chars()
                .any(|c| !c.is_ascii() && emoji.contains_key(&c));
        let src: &str = if has_emoji {
            report.emoji = translate_emoji(text, &mut translated);
            &translated
        } else {
            text
        };
        let (qm, ep) = self.tokenise(src, &mut report);
        self.translated = translated;
        let toks = &self.toks;
        let n = toks.len();
        report.tokens = n;
        let allcaps = toks.iter().filter(|t| t.upper).count();
        let is_cap_diff = allcaps > 0 && allcaps < n;

        self.sent.clear();
        for i in 0..n {
            let t = &toks[i];
            if t.word.booster != 0
                || (i + 1 < n && t.kw() == kw::KIND && toks[i + 1].kw() == kw::OF)
            {
                self.sent.push(0.0);
                continue;
            }
            let v = sentiment_valence(toks, i, is_cap_diff, &mut report);
            self.sent.push(v);
        }

        if let Some(bi) = toks.iter().position(|t| t.kw() == kw::BUT) {
            let before: f64 = self.sent[..bi].iter().sum();
            let after: f64 = self.sent[bi + 1..].iter().sum();
            report.but_shift = (before > 0.0 && after < 0.0) || (before < 0.0 && after > 0.0);
            but_check(&mut self.sent, bi, &mut self.nonzero);
        }

        for &s in &self.sent {
            if s > 0.0 {
                report.positive_tokens += 1;
                report.max_positive = report.max_positive.max(s);
            } else if s < 0.0 {
                report.negative_tokens += 1;
                report.max_negative = report.max_negative.min(s);
            }
        }
        report.punct_emphasis = punctuation_emphasis(ep, qm);
        report.scores = score_valence(&self.sent, report.punct_emphasis);
        report
    }

    /// `SentiText._words_and_emoticons`, with the lexicon lookup and per-token facts.
    fn tokenise(&mut self, src: &str, report: &mut Report) -> (usize, usize) {
        let t = &*TABLES;
        self.toks.clear();
        let mut prev_dampener_kw = kw::NONE;
        let mut tokens = Tokens::new(src);
        while let Some((raw, flags)) = tokens.next_token() {
            let tok = strip_punc_if_word(raw);
            // Flags of the raw token: stripping removes only ASCII punctuation, so the case
            // and high-byte flags are those of `tok`; the apostrophe flag is only a hint.
            let has_upper = flags & UPPER != 0;
            let has_lower = flags & LOWER != 0;
            let apostrophe = flags & APOS != 0;
            let high = if flags & HIGH != 0 { 0x80u8 } else { 0 };
            let ascii = high < 0x80;
            let upper;
            let mut lower: &str = tok;
            let word = if !ascii {
                self.lower.clear();
                crate::unicode::push_lowercase(&mut self.lower, tok);
                upper = py_isupper(tok);
                lower = &self.lower;
                t.words.get(lower)
            } else {
                upper = has_upper && !has_lower;
                let start = tok.as_ptr() as usize - src.as_ptr() as usize;
                match t.words.get_ascii_lower_in(src.as_bytes(), start, tok) {
                    Some(found) => {
                        if apostrophe && has_upper {
                            self.lower.clear();
                            self.lower.push_str(&tok.to_ascii_lowercase());
                            lower = &self.lower;
                        }
                        found
                    }
                    None => {
                        self.lower.clear();
                        self.lower.push_str(&tok.to_ascii_lowercase());
                        lower = &self.lower;
                        t.words.get(lower)
                    }
                }
            };
            let word = word.copied().unwrap_or_default();
            let nt = (apostrophe || !ascii) && lower.contains("n't");
            // Counted without branches: these flags vary from token to token.
            report.negations += usize::from(word.negation() || nt);
            report.intensifiers += usize::from(word.booster > 0);
            report.dampeners += usize::from(word.booster < 0);
            report.dampeners += usize::from(matches!(
                (prev_dampener_kw, word.kw),
                (kw::KIND, kw::OF) | (kw::SORT, kw::OF) | (kw::JUST, kw::ENOUGH)
            ));
            prev_dampener_kw = word.kw;
            report.lexicon_words += usize::from(word.in_lexicon());
            report.emoticons += usize::from(word.emoticon());
            self.toks.push(Tok { word, upper, nt });
        }
        count_marks(src)
    }
}

/// VADER's tokens for `text` (tests).
#[cfg(test)]
pub(crate) fn token_texts(text: &str) -> Vec<String> {
    let mut src = String::new();
    translate_emoji(text, &mut src);
    let mut tokens = Tokens::new(&src);
    std::iter::from_fn(|| tokens.next_token())
        .map(|(w, _)| strip_punc_if_word(w).to_owned())
        .collect()
}

/// The "but" rule as [`analyse`] applies it (tests).
#[cfg(test)]
pub(crate) fn but_check_for_test(sent: &mut [f64], bi: usize) {
    but_check(sent, bi, &mut Vec::new());
}

/// The raw whitespace-split tokens and the `?` / `!` counts (tests).
#[cfg(test)]
pub(crate) fn split_for_test(text: &str) -> (Vec<&str>, usize, usize) {
    let mut tokens = Tokens::new(text);
    let mut out = Vec::new();
    while let Some((t, _)) = tokens.next_token() {
        out.push(t);
    }
    let (q, e) = count_marks(text);
    (out, q, e)
}
