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
use std::collections::BTreeSet;

use super::lexicon::{B_INCR, C_INCR, FastMap, N_SCALAR, TABLES, Word, kw};

/// VADER's four scores, rounded as the reference rounds them (compound to 4 places, the
/// proportions to 3).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scores {
    /// Normalised sum of valences, -1..1.
    pub compound: f64,
    /// Proportion of the text that is positive.
    pub pos: f64,
    /// Proportion that is neutral.
    pub neu: f64,
    /// Proportion that is negative.
    pub neg: f64,
}

/// The scores and the facts VADER's rules found on the way.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Report {
    pub scores: Scores,
    /// Tokens after whitespace splitting (and emoji translation).
    pub tokens: usize,
    /// Tokens found in the lexicon.
    pub lexicon_words: usize,
    /// Tokens whose final valence (after all rules) is positive / negative.
    pub positive_tokens: usize,
    pub negative_tokens: usize,
    /// Largest positive and most negative final token valence (0 when there is none).
    pub max_positive: f64,
    pub max_negative: f64,
    /// Negation tokens (VADER's `NEGATE` list or containing "n't").
    pub negations: usize,
    /// Lexicon words whose sign a negation rule flipped.
    pub negated_words: usize,
    /// Booster tokens that raise / lower intensity (dampeners include "kind of", "sort of",
    /// "just enough").
    pub intensifiers: usize,
    pub dampeners: usize,
    /// Lexicon words in ALL CAPS that got the caps emphasis (only among mixed-case text).
    pub caps_emphasis: usize,
    /// Emoji translated to words.
    pub emoji: usize,
    /// Emoticon tokens (lexicon entries such as `:)` or `<3`).
    pub emoticons: usize,
    /// The amplifier from `!` and `?` added to the sum of valences.
    pub punct_emphasis: f64,
    /// There is a "but", and the valence before it and after it have opposite signs.
    pub but_shift: bool,
}

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

/// One token: what the lexicon says about its lower-cased form, and its shape.
#[derive(Debug, Clone, Copy)]
struct Tok {
    word: Word,
    upper: bool,
    /// Lower form contains "n't".
    nt: bool,
}

impl Tok {
    #[inline]
    fn negated(&self) -> bool {
        self.word.negation() || self.nt
    }
    #[inline]
    fn kw(&self) -> u8 {
        self.word.kw
    }
    #[inline]
    fn in_lexicon(&self) -> bool {
        self.word.in_lexicon()
    }
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
                self.lower.push_str(&tok.to_lowercase());
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
        (tokens.question_marks, tokens.exclamation_marks)
    }
}

/// Replaces each emoji code point with its description (a space before it unless the previous
/// char was a space, none after), as VADER does. Returns how many were replaced.
fn translate_emoji(text: &str, out: &mut String) -> usize {
    let emoji = &TABLES.emoji;
    out.clear();
    let mut n = 0;
    let mut prev_space = true;
    for c in text.chars() {
        if let Some(desc) = (!c.is_ascii()).then(|| emoji.get(&c)).flatten() {
            if !prev_space {
                out.push(' ');
            }
            out.push_str(desc);
            prev_space = false;
            n += 1;
        } else {
            out.push(c);
            prev_space = c == ' ';
        }
    }
    n
}

const SPACE: u8 = 1;
const PUNCT: u8 = 2;
const UPPER: u8 = 4;
const LOWER: u8 = 8;
const HIGH: u8 = 16;
const APOS: u8 = 32;

/// Byte classes for the tokenizer.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b >= 0x80 {
            HIGH
        } else if matches!(b, b' ' | 0x09..=0x0d | 0x1c..=0x1f) {
            SPACE
        } else if b.is_ascii_uppercase() {
            UPPER
        } else if b.is_ascii_lowercase() {
            LOWER
        } else if b == b'\'' {
            PUNCT | APOS
        } else if b.is_ascii_punctuation() {
            PUNCT
        } else {
            0
        };
        c += 1;
    }
    t
};

/// Python's `str.split()` in one pass over bytes, with the byte classes of each token and the
/// `?` / `!` counts VADER's punctuation emphasis needs.
#[derive(Debug)]
struct Tokens<'s> {
    s: &'s str,
    i: usize,
    question_marks: usize,
    exclamation_marks: usize,
}

impl<'s> Tokens<'s> {
    fn new(s: &'s str) -> Self {
        Tokens {
            s,
            i: 0,
            question_marks: 0,
            exclamation_marks: 0,
        }
    }

    #[inline]
    fn space_at(b: &[u8], i: usize, class: u8) -> usize {
        if class & SPACE != 0 {
            1
        } else if class & HIGH != 0 {
            py_space_len(b, i)
        } else {
            0
        }
    }

    #[inline]
    fn next_token(&mut self) -> Option<(&'s str, u8)> {
        let b = self.s.as_bytes();
        let mut i = self.i;
        while i < b.len() {
            let n = Self::space_at(b, i, CLASS[b[i] as usize]);
            if n == 0 {
                break;
            }
            i += n;
        }
        if i >= b.len() {
            self.i = i;
            return None;
        }
        let start = i;
        let mut flags = 0u8;
        while i < b.len() {
            let c = b[i];
            let class = CLASS[c as usize];
            if class & (SPACE | HIGH) != 0 && Self::space_at(b, i, class) != 0 {
                break;
            }
            flags |= class;
            self.question_marks += usize::from(c == b'?');
            self.exclamation_marks += usize::from(c == b'!');
            i += 1;
        }
        self.i = i;
        // Both ends are char boundaries: `start` follows whitespace or the text start, and `i`
        // is at whitespace (a lead byte) or the end.
        self.s.get(start..i).map(|t| (t, flags))
    }
}

/// Byte length of the Python whitespace char starting at `b[i]`, or 0.
#[inline(always)]
fn py_space_len(b: &[u8], i: usize) -> usize {
    let c = b[i];
    if c < 0x80 {
        return usize::from(ASCII_SPACE[c as usize]);
    }
    let at = |k: usize| b.get(i + k).copied().unwrap_or(0);
    match c {
        0xc2 if matches!(at(1), 0x85 | 0xa0) => 2,
        0xe1 if at(1) == 0x9a && at(2) == 0x80 => 3,
        0xe2 if at(1) == 0x80 && matches!(at(2), 0x80..=0x8a | 0xa8 | 0xa9 | 0xaf) => 3,
        0xe2 if at(1) == 0x81 && at(2) == 0x9f => 3,
        0xe3 if at(1) == 0x80 && at(2) == 0x80 => 3,
        _ => 0,
    }
}

/// ASCII bytes Python's `str.split()` splits on.
const ASCII_SPACE: [bool; 128] = {
    let mut t = [false; 128];
    let mut c = 0;
    while c < 128 {
        t[c] = matches!(c as u8, b' ' | 0x09..=0x0d | 0x1c..=0x1f);
        c += 1;
    }
    t
};

/// `_strip_punc_if_word`: strip leading and trailing ASCII punctuation unless at most two
/// characters would remain (then it is likely an emoticon and kept whole).
#[inline(always)]
fn strip_punc_if_word(token: &str) -> &str {
    let b = token.as_bytes();
    let (mut lo, mut hi) = (0, b.len());
    while lo < hi && CLASS[b[lo] as usize] & PUNCT != 0 {
        lo += 1;
    }
    while hi > lo && CLASS[b[hi - 1] as usize] & PUNCT != 0 {
        hi -= 1;
    }
    // ASCII bytes are char boundaries.
    let stripped = token.get(lo..hi).unwrap_or(token);
    let short = if stripped.len() <= 2 {
        true
    } else if stripped.is_ascii() {
        false
    } else {
        stripped.chars().nth(2).is_none()
    };
    if short { token } else { stripped }
}

/// Python's `str.isupper`: at least one cased char, and no lower-case or title-case char.
fn py_isupper(s: &str) -> bool {
    let mut cased = false;
    for c in s.chars() {
        if c.is_lowercase() || is_titlecase(c) {
            return false;
        }
        if c.is_uppercase() {
            cased = true;
        }
    }
    cased
}

/// Unicode general category Lt (title-case letters).
fn is_titlecase(c: char) -> bool {
    matches!(c,
        '\u{1c5}' | '\u{1c8}' | '\u{1cb}' | '\u{1f2}'
        | '\u{1f88}'..='\u{1f8f}' | '\u{1f98}'..='\u{1f9f}' | '\u{1fa8}'..='\u{1faf}'
        | '\u{1fbc}' | '\u{1fcc}' | '\u{1ffc}')
}

/// `_punctuation_emphasis`: up to four `!` at 0.292 each, plus 0.18 per `?` for two or three
/// of them and 0.96 for more.
fn punctuation_emphasis(ep: usize, qm: usize) -> f64 {
    let ep_amp = ep.min(4) as f64 * 0.292;
    let qm_amp = match qm {
        0 | 1 => 0.0,
        2 | 3 => qm as f64 * 0.18,
        _ => 0.96,
    };
    ep_amp + qm_amp
}

/// `scalar_inc_dec`: the boost a preceding booster word gives.
fn scalar_inc_dec(t: &Tok, valence: f64, is_cap_diff: bool) -> f64 {
    let Some(b) = t.word.booster() else {
        return 0.0;
    };
    let mut scalar = if valence < 0.0 { -b } else { b };
    if t.upper && is_cap_diff {
        if valence > 0.0 {
            scalar += C_INCR;
        } else {
            scalar -= C_INCR;
        }
    }
    scalar
}

/// `sentiment_valence` for token `i` (not a booster, not "kind" before "of").
fn sentiment_valence(toks: &[Tok], i: usize, is_cap_diff: bool, report: &mut Report) -> f64 {
    let t = &toks[i];
    let Some(lex) = t.word.valence() else {
        return 0.0;
    };
    let n = toks.len();
    let w = |j: usize| toks[j].kw();
    // Sign flips applied by negation rules, to report negated words.
    let mut flips = 0u32;
    let mut valence = lex;
    if t.kw() == kw::NO && i != n - 1 && toks[i + 1].in_lexicon() {
        valence = 0.0;
    }
    if (i > 0 && w(i - 1) == kw::NO)
        || (i > 1 && w(i - 2) == kw::NO)
        || (i > 2 && w(i - 3) == kw::NO && matches!(w(i - 1), kw::OR | kw::NOR))
    {
        valence = lex * N_SCALAR;
        flips += 1;
    }
    if t.upper && is_cap_diff {
        report.caps_emphasis += 1;
        if valence > 0.0 {
            valence += C_INCR;
        } else {
            valence -= C_INCR;
        }
    }
    for start_i in 0..3 {
        if i > start_i && !toks[i - (start_i + 1)].in_lexicon() {
            let mut s = scalar_inc_dec(&toks[i - (start_i + 1)], valence, is_cap_diff);
            if start_i == 1 && s != 0.0 {
                s *= 0.95;
            }
            if start_i == 2 && s != 0.0 {
                s *= 0.9;
            }
            valence += s;
            valence = negation_check(valence, toks, start_i, i, &mut flips);
            if start_i == 2 {
                valence = special_idioms_check(valence, toks, i);
            }
        }
    }
    valence = least_check(valence, toks, i, &mut flips);
    if flips % 2 == 1 {
        report.negated_words += 1;
    }
    valence
}

/// `_negation_check` for the word `start_i + 1` places before token `i`.
fn negation_check(valence: f64, toks: &[Tok], start_i: usize, i: usize, flips: &mut u32) -> f64 {
    let w = |j: usize| toks[j].kw();
    let mut negate = |v: f64| {
        *flips += 1;
        v * N_SCALAR
    };
    match start_i {
        0 => {
            if toks[i - 1].negated() {
                return negate(valence);
            }
        }
        1 => {
            if w(i - 2) == kw::NEVER && matches!(w(i - 1), kw::SO | kw::THIS) {
                return valence * 1.25;
            } else if w(i - 2) == kw::WITHOUT && w(i - 1) == kw::DOUBT {
                return valence;
            } else if toks[i - 2].negated() {
                return negate(valence);
            }
        }
        _ => {
            // Python precedence makes this `(never and (so or this)) or (so or this)`.
            if (w(i - 3) == kw::NEVER && matches!(w(i - 2), kw::SO | kw::THIS))
                || matches!(w(i - 1), kw::SO | kw::THIS)
            {
                return valence * 1.25;
            } else if w(i - 3) == kw::WITHOUT && (w(i - 2) == kw::DOUBT || w(i - 1) == kw::DOUBT) {
                return valence;
            } else if toks[i - 3].negated() {
                return negate(valence);
            }
        }
    }
    valence
}

/// VADER's `SPECIAL_CASES` as sequences of [`kw`] ids.
const SPECIAL_CASES: &[(&[u8], f64)] = &[
    (&[kw::THE, kw::SHIT], 3.0),
    (&[kw::THE, kw::BOMB], 3.0),
    (&[kw::BAD, kw::ASS], 1.5),
    (&[kw::BUS, kw::STOP], 0.0),
    (&[kw::YEAH, kw::RIGHT], -2.0),
    (&[kw::KISS, kw::OF, kw::DEATH], -1.5),
    (&[kw::TO, kw::DIE, kw::FOR], 3.0),
    (&[kw::BEATING, kw::HEART], 3.5),
];

fn special_case(seq: &[u8]) -> Option<f64> {
    if seq.contains(&kw::NONE) {
        return None;
    }
    SPECIAL_CASES
        .iter()
        .find(|(k, _)| *k == seq)
        .map(|&(_, v)| v)
}

/// `_special_idioms_check` for token `i` (`i >= 3`).
fn special_idioms_check(mut valence: f64, toks: &[Tok], i: usize) -> f64 {
    let n = toks.len();
    let w = |j: usize| toks[j].kw();
    let (w3, w2, w1, w0) = (w(i - 3), w(i - 2), w(i - 1), w(i));
    let sequences: [&[u8]; 5] = [
        &[w1, w0],
        &[w2, w1, w0],
        &[w2, w1],
        &[w3, w2, w1],
        &[w3, w2],
    ];
    if let Some(v) = sequences.iter().find_map(|s| special_case(s)) {
        valence = v;
    }
    if n - 1 > i
        && let Some(v) = special_case(&[w0, w(i + 1)])
    {
        valence = v;
    }
    if n - 1 > i + 1
        && let Some(v) = special_case(&[w0, w(i + 1), w(i + 2)])
    {
        valence = v;
    }
    // Two-word dampeners ending one or two words back (no three-word booster exists).
    for (a, b) in [(w3, w2), (w2, w1)] {
        if matches!(
            (a, b),
            (kw::KIND, kw::OF) | (kw::SORT, kw::OF) | (kw::JUST, kw::ENOUGH)
        ) {
            valence -= B_INCR;
        }
    }
    valence
}

/// `_least_check`: "least" before a word negates it, unless "at least" or "very least".
fn least_check(valence: f64, toks: &[Tok], i: usize, flips: &mut u32) -> f64 {
    let is_least = |j: usize| !toks[j].in_lexicon() && toks[j].kw() == kw::LEAST;
    if i > 1 && is_least(i - 1) {
        if !matches!(toks[i - 2].kw(), kw::AT | kw::VERY) {
            *flips += 1;
            return valence * N_SCALAR;
        }
    } else if i > 0 && is_least(i - 1) {
        *flips += 1;
        return valence * N_SCALAR;
    }
    valence
}

/// At most this many non-zero valences run the "but" rule as the reference does.
const BUT_DIRECT_MAX: usize = 64;

/// `_but_check`: halves each valence before the first "but" and multiplies those after by 1.5,
/// reproducing the reference's `list.index(value)` lookup (the first equal value is the one
/// changed).
///
/// Zeros are left out: scaling a zero leaves a zero (at most its sign changes, which no score
/// can see), and a non-zero value never becomes zero, so steps on zeros change nothing and
/// non-zero values only ever match each other.
fn but_check(sent: &mut [f64], bi: usize, scratch: &mut Vec<(usize, f64)>) {
    scratch.clear();
    scratch.extend(
        sent.iter()
            .enumerate()
            .filter(|(_, v)| **v != 0.0)
            .map(|(i, &v)| (i, v)),
    );
    if scratch.len() <= BUT_DIRECT_MAX {
        but_check_direct(scratch, bi);
    } else {
        but_check_indexed(scratch, bi);
    }
    for &(i, v) in scratch.iter() {
        sent[i] = v;
    }
}

#[inline]
fn scale_for(si: usize, bi: usize, v: f64) -> Option<f64> {
    match si.cmp(&bi) {
        std::cmp::Ordering::Less => Some(v * 0.5),
        std::cmp::Ordering::Greater => Some(v * 1.5),
        std::cmp::Ordering::Equal => None,
    }
}

/// The rule over `(position, value)` pairs in position order, as the reference runs it.
fn but_check_direct(vals: &mut [(usize, f64)], bi: usize) {
    for k in 0..vals.len() {
        let v = vals[k].1;
        let j = vals[..=k].iter().position(|x| x.1 == v).unwrap_or(k);
        if let Some(nv) = scale_for(vals[j].0, bi, v) {
            vals[j].1 = nv;
        }
    }
}

/// The same rule in O(n log n): for each value, the ordered set of slots holding it.
fn but_check_indexed(vals: &mut [(usize, f64)], bi: usize) {
    let mut at: FastMap<u64, BTreeSet<usize>> = FastMap::default();
    for (k, &(_, v)) in vals.iter().enumerate() {
        at.entry(v.to_bits()).or_default().insert(k);
    }
    for k in 0..vals.len() {
        let v = vals[k].1;
        let Some(j) = at.get(&v.to_bits()).and_then(|s| s.first().copied()) else {
            continue;
        };
        if let Some(nv) = scale_for(vals[j].0, bi, v) {
            if let Some(s) = at.get_mut(&v.to_bits()) {
                s.remove(&j);
            }
            at.entry(nv.to_bits()).or_default().insert(j);
            vals[j].1 = nv;
        }
    }
}

/// VADER's `normalize` with alpha 15.
fn normalize(score: f64) -> f64 {
    (score / (score * score + 15.0).sqrt()).clamp(-1.0, 1.0)
}

/// `score_valence`.
fn score_valence(sent: &[f64], punct: f64) -> Scores {
    if sent.is_empty() {
        return Scores::default();
    }
    let mut sum_s: f64 = sent.iter().fold(0.0, |a, &b| a + b);
    if sum_s > 0.0 {
        sum_s += punct;
    } else if sum_s < 0.0 {
        sum_s -= punct;
    }
    let compound = normalize(sum_s);
    let (mut pos_sum, mut neg_sum, mut neu) = (0.0f64, 0.0f64, 0usize);
    for &s in sent {
        if s > 0.0 {
            pos_sum += s + 1.0;
        }
        if s < 0.0 {
            neg_sum += s - 1.0;
        }
        if s == 0.0 {
            neu += 1;
        }
    }
    if pos_sum > neg_sum.abs() {
        pos_sum += punct;
    } else if pos_sum < neg_sum.abs() {
        neg_sum -= punct;
    }
    let total = pos_sum + neg_sum.abs() + neu as f64;
    Scores {
        compound: py_round(compound, 4),
        pos: py_round((pos_sum / total).abs(), 3),
        neu: py_round((neu as f64 / total).abs(), 3),
        neg: py_round((neg_sum / total).abs(), 3),
    }
}

/// Python's `round(x, nd)` for `nd <= 8`: the exact binary value rounded half-to-even to `nd`
/// decimals, then the nearest double. Negative zero becomes zero.
pub(crate) fn py_round(x: f64, nd: u32) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    if !x.is_finite() {
        return x;
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (m, e) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    };
    // |x| * 10^nd == big * 2^sh exactly.
    let big = u128::from(m) * 5u128.pow(nd);
    let sh = e + nd as i32;
    if sh >= 0 {
        return x; // already an integer multiple of 10^-nd
    }
    let s = sh.unsigned_abs();
    let r = if s >= 120 {
        0
    } else {
        let q = big >> s;
        let rem = big & ((1u128 << s) - 1);
        let half = 1u128 << (s - 1);
        if rem > half || (rem == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    // r < 2^63 (|x| * 10^nd rounded, for the small |x| VADER rounds), so the u64 is exact.
    let y = u64::try_from(r).unwrap_or(u64::MAX) as f64 / 10f64.powi(nd as i32);
    if x < 0.0 && y != 0.0 { -y } else { y }
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
    (out, tokens.question_marks, tokens.exclamation_marks)
}
