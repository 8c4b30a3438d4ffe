//! textstat 0.7.8's counts, computed in one pass over the text (plus one for sentences).
//!
//! textstat's words: split on whitespace after deleting every character that is neither `\w`
//! nor whitespace, except an apostrophe followed by a contraction ending (`t s d ve ll re`).
//! Its sentences: the matches of `\b[^.!?]+[.!?]*`, less those of at most two words (but at least
//! one sentence for non-empty text). Lengths are in Unicode scalar values, as Python counts them.

use super::hyphen::Scratch;
use super::lexicon;
use super::pyclass::{is_space, is_word};

/// Raw counts behind every formula.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Counts {
    /// `lexicon_count`: words after punctuation removal.
    pub words: u32,
    /// Whitespace-separated tokens, punctuation included (`chars_per_word`'s denominator).
    pub tokens: u32,
    /// Non-whitespace characters (`char_count`).
    pub chars: u32,
    /// `\w` characters (`letter_count`).
    pub letters: u32,
    pub sentences: u32,
    pub syllables: u32,
    /// Words of 3+ syllables.
    pub poly: u32,
    /// Words of exactly 1 syllable.
    pub mono: u32,
    /// Words longer than 6 characters (apostrophes not counted).
    pub long_words: u32,
    /// Words of at most 3 characters (apostrophes not counted).
    pub mini_words: u32,
    /// Words not on the Dale–Chall list (Dale–Chall score).
    pub unfamiliar: u32,
    /// Unfamiliar words of 3+ syllables (Gunning fog).
    pub hard3: u32,
    /// Unfamiliar words of 2+ syllables (Spache, Dale–Chall v2).
    pub hard2: u32,
    /// Distinct (case-sensitive) unfamiliar words of 2+ syllables (`difficult_words`).
    pub hard2_unique: u32,
    /// Linsear Write over the first 100 words: words of 1–2 syllables, of 3+, and the sentences
    /// of the text those words come from.
    pub linsear_easy: u32,
    pub linsear_hard: u32,
    pub linsear_sentences: u32,
}

/// Linsear Write looks at the first this many words when the text has more tokens.
const LINSEAR_WORDS: u32 = 100;

/// Whether the apostrophe at byte `i` of `text` survives punctuation removal.
#[inline]
fn contraction_apostrophe(text: &str, i: usize) -> bool {
    let rest = text.as_bytes().get(i + 1..).unwrap_or_default();
    matches!(rest.first(), Some(b't' | b's' | b'd'))
        || rest.starts_with(b"ve")
        || rest.starts_with(b"ll")
        || rest.starts_with(b"re")
}

/// Buffers reused from one text to the next.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    word: String,
    lower: String,
    hard: Vec<u64>,
    hyphen: Scratch,
}

/// Counts `text` as textstat does.
pub(crate) fn count(text: &str, buf: &mut Buffers) -> Counts {
    let mut c = Counts::default();
    buf.hard.clear();
    // End (byte) of the token that gave the 100th word, if the text has more tokens than that.
    let mut linsear_end = None;
    let mut in_token = false;
    let mut token_letters = 0u32;
    buf.word.clear();
    let mut iter = text.char_indices().peekable();
    while let Some((i, ch)) = iter.next() {
        let space = is_space(ch);
        if !space {
            c.chars += 1;
            if !in_token {
                in_token = true;
                c.tokens += 1;
            }
            if is_word(ch) {
                c.letters += 1;
                token_letters += 1;
                buf.word.push(ch);
            } else if ch == '\'' && contraction_apostrophe(text, i) {
                buf.word.push(ch);
            }
        }
        let token_ends = in_token && (space || iter.peek().is_none());
        if token_ends {
            in_token = false;
            if !buf.word.is_empty() {
                word(&mut c, buf, token_letters);
                if c.words == LINSEAR_WORDS && linsear_end.is_none() {
                    linsear_end = Some(if space { i } else { text.len() });
                }
            }
            token_letters = 0;
            buf.word.clear();
        }
    }
    c.sentences = count_sentences(text);
    c.linsear_sentences = if c.tokens == 0 {
        0
    } else {
        match linsear_end {
            Some(end) if c.tokens > LINSEAR_WORDS => count_sentences(&text[..end]),
            _ => c.sentences,
        }
    };
    buf.hard.sort_unstable();
    buf.hard.dedup();
    c.hard2_unique = buf.hard.len() as u32;
    c
}

/// Adds one word (in `buf.word`, with `letters` `\w` characters) to the counts.
fn word(c: &mut Counts, buf: &mut Buffers, letters: u32) {
    c.words += 1;
    let w = buf.word.as_str();
    let lower: &str = if w.bytes().all(|b| !b.is_ascii_uppercase() && b.is_ascii()) {
        w
    } else {
        buf.lower.clear();
        if w.is_ascii() {
            buf.lower
                .extend(w.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            buf.lower.push_str(&w.to_lowercase());
        }
        &buf.lower
    };
    let facts = lexicon::facts(lower, &mut buf.hyphen);
    let s = facts.syllables;
    c.syllables += s;
    c.poly += u32::from(s >= 3);
    c.mono += u32::from(s == 1);
    c.long_words += u32::from(letters > 6);
    c.mini_words += u32::from(letters <= 3);
    if !facts.easy {
        c.unfamiliar += 1;
        c.hard3 += u32::from(s >= 3);
        if s >= 2 {
            c.hard2 += 1;
            buf.hard.push(hash(w));
        }
    }
    if c.words <= LINSEAR_WORDS {
        if s >= 3 {
            c.linsear_hard += 1;
        } else if s > 0 {
            c.linsear_easy += 1;
        }
    }
}

fn hash(s: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = lexicon::FxHasher::default();
    h.write(s.as_bytes());
    // A second, independent mix so that distinct words colliding is out of the question in practice.
    let mut g: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        g = (g ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h.finish() ^ g.rotate_left(32)
}

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?')
}

/// textstat's `count_sentences`: matches of `\b[^.!?]+[.!?]*`, minus those of two words or
/// fewer, at least 1 for non-empty text.
pub(crate) fn count_sentences(text: &str) -> u32 {
    if text.is_empty() {
        return 0;
    }
    #[derive(PartialEq)]
    enum State {
        Outside,
        Body,
        Terminators,
    }
    let mut state = State::Outside;
    let (mut matches, mut ignored) = (0u32, 0u32);
    // Words of the current match, counted as textstat would on the match's own text.
    let (mut words, mut in_token, mut token_kept) = (0u32, false, false);
    let close = |words: u32, matches: &mut u32, ignored: &mut u32| {
        *matches += 1;
        if words <= 2 {
            *ignored += 1;
        }
    };
    for (i, ch) in text.char_indices() {
        if state == State::Terminators && !is_terminator(ch) {
            if in_token && token_kept {
                words += 1;
            }
            close(words, &mut matches, &mut ignored);
            state = State::Outside;
        }
        if state == State::Outside {
            // Outside a match every character so far was non-word, so `\b` holds exactly at a
            // word character.
            if !is_word(ch) {
                continue;
            }
            state = State::Body;
            words = 0;
            in_token = false;
            token_kept = false;
        }
        if state == State::Body && is_terminator(ch) {
            state = State::Terminators;
        }
        if is_space(ch) {
            if in_token && token_kept {
                words += 1;
            }
            in_token = false;
            token_kept = false;
        } else {
            in_token = true;
            if is_word(ch) || (ch == '\'' && contraction_apostrophe(text, i)) {
                token_kept = true;
            }
        }
    }
    if state != State::Outside {
        if in_token && token_kept {
            words += 1;
        }
        close(words, &mut matches, &mut ignored);
    }
    matches.saturating_sub(ignored).max(1)
}
