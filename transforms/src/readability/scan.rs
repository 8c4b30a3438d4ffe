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
fn contraction_apostrophe(text: &[u8], i: usize) -> bool {
    let rest = text.get(i + 1..).unwrap_or_default();
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

/// Counts `text` as textstat does, in one pass.
pub(crate) fn count(text: &str, buf: &mut Buffers) -> Counts {
    let mut c = Counts::default();
    buf.hard.clear();
    let mut sentences = Sentences::default();
    // End (byte) of the token that gave the 100th word, if the text has more tokens than that.
    let mut linsear_end = None;
    // The current token: start byte, `\w` chars, whether every char so far is kept.
    let mut token: Option<(usize, u32, bool)> = None;
    let bytes = text.as_bytes();
    for (i, ch) in text.char_indices() {
        let (word, space) = classify(ch);
        let kept = word || (ch == '\'' && contraction_apostrophe(bytes, i));
        sentences.push(ch, word, space, kept);
        if space {
            if let Some(t) = token.take() {
                end_token(&mut c, buf, text, t, i, &mut linsear_end);
            }
        } else {
            c.chars += 1;
            let t = token.get_or_insert_with(|| {
                c.tokens += 1;
                (i, 0, true)
            });
            t.1 += u32::from(word);
            t.2 &= kept;
        }
    }
    if let Some(t) = token.take() {
        end_token(&mut c, buf, text, t, text.len(), &mut linsear_end);
    }
    c.sentences = if text.is_empty() {
        0
    } else {
        sentences.finish()
    };
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

/// Closes the token `(start, letters, pure)` ending at byte `end`: its kept characters are a
/// word unless there are none.
fn end_token(
    c: &mut Counts,
    buf: &mut Buffers,
    text: &str,
    (start, letters, pure): (usize, u32, bool),
    end: usize,
    linsear_end: &mut Option<usize>,
) {
    let raw = &text[start..end];
    let mut word = std::mem::take(&mut buf.word);
    let w: &str = if pure {
        raw
    } else {
        word.clear();
        let bytes = text.as_bytes();
        for (j, ch) in raw.char_indices() {
            if classify(ch).0 || (ch == '\'' && contraction_apostrophe(bytes, start + j)) {
                word.push(ch);
            }
        }
        &word
    };
    if !w.is_empty() {
        c.letters += letters;
        add_word(c, buf, w, letters);
        if c.words == LINSEAR_WORDS && linsear_end.is_none() {
            *linsear_end = Some(end);
        }
    }
    buf.word = word;
}

/// `(is \w, is \s)` in Python's sense.
#[inline]
fn classify(ch: char) -> (bool, bool) {
    if ch.is_ascii() {
        let b = ch as u8;
        (
            b.is_ascii_alphanumeric() || b == b'_',
            matches!(b, b'\t'..=b'\r' | 0x1c..=0x1f | b' '),
        )
    } else {
        (is_word(ch), is_space(ch))
    }
}

/// Adds one word `w` (with `letters` `\w` characters) to the counts.
fn add_word(c: &mut Counts, buf: &mut Buffers, w: &str, letters: u32) {
    c.words += 1;
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
            buf.hard.push(lexicon::hash_bytes(w.as_bytes()));
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

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?')
}

/// textstat's `count_sentences`: matches of `\b[^.!?]+[.!?]*`, minus those of two words or
/// fewer, at least 1 for non-empty text.
pub(crate) fn count_sentences(text: &str) -> u32 {
    if text.is_empty() {
        return 0;
    }
    let mut s = Sentences::default();
    let bytes = text.as_bytes();
    for (i, ch) in text.char_indices() {
        let (word, space) = classify(ch);
        let kept = word || (ch == '\'' && contraction_apostrophe(bytes, i));
        s.push(ch, word, space, kept);
    }
    s.finish()
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum State {
    /// Between matches: every character since the last match is non-word, so `\b` holds
    /// exactly at the next word character.
    #[default]
    Outside,
    /// In `[^.!?]+`.
    Body,
    /// In the trailing `[.!?]*`.
    Terminators,
}

/// The sentence matcher, fed one character at a time; it also counts each match's words as
/// textstat's `count_words` would on the match alone.
#[derive(Debug, Default)]
struct Sentences {
    state: State,
    matches: u32,
    ignored: u32,
    words: u32,
    in_token: bool,
    token_kept: bool,
}

impl Sentences {
    #[inline]
    fn push(&mut self, ch: char, word: bool, space: bool, kept: bool) {
        if self.state == State::Terminators && !is_terminator(ch) {
            self.close();
        }
        if self.state == State::Outside {
            if !word {
                return;
            }
            self.state = State::Body;
            self.words = 0;
            self.in_token = false;
            self.token_kept = false;
        }
        if self.state == State::Body && is_terminator(ch) {
            self.state = State::Terminators;
        }
        if space {
            self.end_token();
        } else {
            self.in_token = true;
            self.token_kept |= kept;
        }
    }

    #[inline]
    fn end_token(&mut self) {
        if self.in_token && self.token_kept {
            self.words += 1;
        }
        self.in_token = false;
        self.token_kept = false;
    }

    fn close(&mut self) {
        self.end_token();
        self.matches += 1;
        if self.words <= 2 {
            self.ignored += 1;
        }
        self.state = State::Outside;
    }

    fn finish(mut self) -> u32 {
        if self.state != State::Outside {
            self.close();
        }
        self.matches.saturating_sub(self.ignored).max(1)
    }
}
