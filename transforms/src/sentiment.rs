//! Sentiment: VADER's scores (Hutto & Gilbert 2014) and the facts behind them.
//!
//! [`vader`] is a faithful port of vaderSentiment 3.3.2, checked against the Python reference
//! over the whole real corpus (a committed golden file, plus a live oracle test). VADER is an
//! English model, so what the scores mean depends on the language:
//!
//! - A mention whose source says its language (`lang_hint`) is taken at its word: English is
//!   scored in full, any other language by its signs only (below).
//! - Without a hint: English (`en`), or text whose language guess is not reliable (short text,
//!   no clear winner, `und`) and whose letters are mostly Latin script (or that has no letters:
//!   emoji, emoticons, numbers): full VADER over the text, and `sentiment_supported` is true.
//!   On a short tweet the guess is often wrong ("LMAO, AMAZING!" looks Italian to n-grams), and
//!   every listening tool scores such text with the English lexicon rather than not at all.
//! - A reliably detected other language, or text mostly in another script: the words are not
//!   scored (a German "die" is not the English verb), only the language-independent signs,
//!   emoji and emoticons, are; `sentiment_supported` is false. All fields stay well-defined.

pub mod lexicon;
mod rules;
mod score;
mod tokens;
pub mod vader;
pub(crate) mod word_table;

#[cfg(test)]
mod tests;

use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::registry::{FieldSpec, FieldWriter, fields};

pub const EXTRACTORS: &[&dyn Extractor] = &[&Vader];

/// VADER sentiment scores, label and rule facts.
#[derive(Debug)]
pub struct Vader;

fields! {
    const FIELDS, mod f = [
        COMPOUND => FieldSpec::float(
            "sentiment_compound",
            "VADER compound score, -1 (most negative) to 1 (most positive), as vaderSentiment 3.3.2 rounds it; for unsupported languages from emoji and emoticons only.",
        ),
        POS => FieldSpec::float(
            "sentiment_pos",
            "VADER share of the text that is positive (0..1, 3 decimals).",
        ),
        NEU => FieldSpec::float(
            "sentiment_neu",
            "VADER share of the text that is neutral (0..1, 3 decimals; 0 for empty text).",
        ),
        NEG => FieldSpec::float(
            "sentiment_neg",
            "VADER share of the text that is negative (0..1, 3 decimals).",
        ),
        LABEL => FieldSpec::str(
            "sentiment_label",
            "positive (compound >= 0.05), negative (<= -0.05) or neutral, VADER's standard thresholds.",
        ),
        SUPPORTED => FieldSpec::bool(
            "sentiment_supported",
            "The words were scored: language en, or und with mostly Latin letters or none; else only emoji and emoticons count.",
        ),
        LEXICON_WORDS => FieldSpec::int(
            "sentiment_lexicon_words",
            "Tokens found in VADER's sentiment lexicon.",
        ),
        POSITIVE_WORDS => FieldSpec::int(
            "sentiment_positive_words",
            "Tokens with a positive valence after VADER's rules (negation, boosters, but).",
        ),
        NEGATIVE_WORDS => FieldSpec::int(
            "sentiment_negative_words",
            "Tokens with a negative valence after VADER's rules (negation, boosters, but).",
        ),
        MAX_POSITIVE => FieldSpec::float(
            "sentiment_max_positive",
            "Largest positive token valence after VADER's rules (0 when none).",
        ),
        MAX_NEGATIVE => FieldSpec::float(
            "sentiment_max_negative",
            "Most negative token valence after VADER's rules (0 when none).",
        ),
        NEGATIONS => FieldSpec::int(
            "sentiment_negations",
            "Negation tokens by VADER's list (not, never, without, ...) or containing n't.",
        ),
        NEGATED_WORDS => FieldSpec::int(
            "sentiment_negated_words",
            "Lexicon words whose valence a negation rule (not, no, least) flipped.",
        ),
        INTENSIFIERS => FieldSpec::int(
            "sentiment_intensifiers",
            "Booster words that raise intensity (very, really, extremely, ...).",
        ),
        DAMPENERS => FieldSpec::int(
            "sentiment_dampeners",
            "Words that lower intensity (barely, slightly, kind of, sort of, ...).",
        ),
        CAPS_EMPHASIS => FieldSpec::int(
            "sentiment_caps_emphasis",
            "Lexicon words in ALL CAPS within mixed-case text, which VADER emphasises.",
        ),
        EMOJI => FieldSpec::int(
            "sentiment_emoji",
            "Emoji VADER translated to words (its emoji lexicon, single code points).",
        ),
        EMOTICONS => FieldSpec::int(
            "sentiment_emoticons",
            "Emoticon tokens in VADER's lexicon, such as :) <3 :-(.",
        ),
        PUNCT_EMPHASIS => FieldSpec::float(
            "sentiment_punct_emphasis",
            "Amplifier VADER adds for ! (up to 4) and repeated ? marks.",
        ),
        BUT_SHIFT => FieldSpec::bool(
            "sentiment_but_shift",
            "The text has a but, and the valence before it and after it have opposite signs.",
        ),
    ]
}

impl Extractor for Vader {
    fn name(&self) -> &'static str {
        "sentiment"
    }
    fn version(&self) -> u32 {
        2
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let hint = a
            .mention
            .lang_hint
            .as_deref()
            .and_then(crate::lang::normalize_hint);
        let d = a.lang();
        let ok = supported(hint, d.code, d.reliable, a.text);
        let r = if ok {
            vader::analyse(a.text)
        } else {
            vader::analyse_symbols(a.text)
        };
        write(&r, ok, out);
    }
}

fn write(r: &vader::Report, supported: bool, out: &mut FieldWriter<'_>) {
    let s = r.scores;
    out.float(f::COMPOUND, s.compound);
    out.float(f::POS, s.pos);
    out.float(f::NEU, s.neu);
    out.float(f::NEG, s.neg);
    out.str(f::LABEL, label(s.compound));
    out.bool(f::SUPPORTED, supported);
    out.count(f::LEXICON_WORDS, r.lexicon_words);
    out.count(f::POSITIVE_WORDS, r.positive_tokens);
    out.count(f::NEGATIVE_WORDS, r.negative_tokens);
    out.float(f::MAX_POSITIVE, r.max_positive);
    out.float(f::MAX_NEGATIVE, r.max_negative);
    out.count(f::NEGATIONS, r.negations);
    out.count(f::NEGATED_WORDS, r.negated_words);
    out.count(f::INTENSIFIERS, r.intensifiers);
    out.count(f::DAMPENERS, r.dampeners);
    out.count(f::CAPS_EMPHASIS, r.caps_emphasis);
    out.count(f::EMOJI, r.emoji);
    out.count(f::EMOTICONS, r.emoticons);
    out.float(f::PUNCT_EMPHASIS, r.punct_emphasis);
    out.bool(f::BUT_SHIFT, r.but_shift);
}

/// VADER's conventional label for a compound score.
pub fn label(compound: f64) -> &'static str {
    if compound >= 0.05 {
        "positive"
    } else if compound <= -0.05 {
        "negative"
    } else {
        "neutral"
    }
}

/// Whether VADER scores the words of a text: the source's language `hint` decides when there is
/// one; else the detected language `code` (ISO 639, `und` when undetermined) when the detection
/// is `reliable` and not English; else whether the text is mostly Latin script or has no letters.
pub fn supported(hint: Option<&str>, code: &str, reliable: bool, text: &str) -> bool {
    match (hint, code) {
        (Some(hint), _) if hint != "und" => hint == "en",
        (_, "en") => true,
        (_, "und" | "") => mostly_latin(text),
        _ if !reliable => mostly_latin(text),
        _ => false,
    }
}

/// At least half of the letters are Latin script (or there are none).
fn mostly_latin(text: &str) -> bool {
    if text.is_ascii() {
        return true;
    }
    let (mut latin, mut other) = (0usize, 0usize);
    for c in text.chars() {
        if c.is_ascii_alphabetic() {
            latin += 1;
        } else if !c.is_ascii()
            // General punctuation and the emoji blocks hold no letters; skip the table lookup.
            && !matches!(c, '\u{2000}'..='\u{206f}' | '\u{1f300}'..='\u{1faff}')
            && crate::unicode::is_alphabetic(c)
        {
            if matches!(c, '\u{c0}'..='\u{24f}' | '\u{1e00}'..='\u{1eff}' | '\u{ff21}'..='\u{ff5a}')
            {
                latin += 1;
            } else {
                other += 1;
            }
        }
    }
    latin >= other
}
