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

// Character class bits, in Python's sense.
const WORD: u8 = 1;
const SPACE: u8 = 2;
const TERMINATOR: u8 = 4;
const APOSTROPHE: u8 = 8;
const UPPER: u8 = 16;
const NON_ASCII: u8 = 32;

const fn ascii_class(b: u8) -> u8 {
    match b {
        b'A'..=b'Z' => WORD | UPPER,
        b'a'..=b'z' | b'0'..=b'9' | b'_' => WORD,
        b'\t'..=b'\r' | 0x1c..=0x1f | b' ' => SPACE,
        b'.' | b'!' | b'?' => TERMINATOR,
        b'\'' => APOSTROPHE,
        _ => 0,
    }
}

static ASCII: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        t[i] = ascii_class(i as u8);
        i += 1;
    }
    t
};

#[inline(always)]
fn class_of(ch: char) -> u8 {
    if ch.is_ascii() {
        ASCII[ch as usize]
    } else {
        // Upper-case non-ASCII letters are caught by lower-casing every non-ASCII word.
        NON_ASCII
            | if is_word(ch) {
                WORD
            } else if is_space(ch) {
                SPACE
            } else {
                0
            }
    }
}

/// The current token: where it starts, its `\w` chars, and what its characters were like.
#[derive(Debug, Clone, Copy)]
struct Token {
    start: usize,
    letters: u32,
    /// Every character so far survives punctuation removal.
    pure: bool,
    /// Union of the class bits of its characters.
    classes: u8,
}

/// State of the single pass.
#[derive(Debug, Default)]
struct Pass {
    counts: Counts,
    sentences: Sentences,
    token: Option<Token>,
    /// End (byte) of the token that gave the 100th word.
    linsear_end: Option<usize>,
}

impl Pass {
    #[inline(always)]
    fn step(&mut self, buf: &mut Buffers, text: &str, i: usize, class: u8) {
        let word = class & WORD != 0;
        let kept = word || (class & APOSTROPHE != 0 && contraction_apostrophe(text.as_bytes(), i));
        self.sentences.push(class, kept);
        if class & SPACE != 0 {
            if let Some(t) = self.token.take() {
                end_token(&mut self.counts, buf, text, t, i, &mut self.linsear_end);
            }
        } else {
            self.counts.chars += 1;
            let counts = &mut self.counts;
            let t = self.token.get_or_insert_with(|| {
                counts.tokens += 1;
                Token {
                    start: i,
                    letters: 0,
                    pure: true,
                    classes: 0,
                }
            });
            t.letters += u32::from(word);
            t.pure &= kept;
            t.classes |= class;
        }
    }
}

/// Counts `text` as textstat does, in one pass.
pub(crate) fn count(text: &str, buf: &mut Buffers) -> Counts {
    buf.hard.clear();
    let mut p = Pass::default();
    if text.is_ascii() {
        for (i, &b) in text.as_bytes().iter().enumerate() {
            p.step(buf, text, i, ASCII[usize::from(b)]);
        }
    } else {
        for (i, ch) in text.char_indices() {
            p.step(buf, text, i, class_of(ch));
        }
    }
    if let Some(t) = p.token.take() {
        end_token(&mut p.counts, buf, text, t, text.len(), &mut p.linsear_end);
    }
    let mut c = p.counts;
    c.sentences = if text.is_empty() {
        0
    } else {
        p.sentences.finish()
    };
    c.linsear_sentences = if c.tokens == 0 {
        0
    } else {
        match p.linsear_end {
            Some(end) if c.tokens > LINSEAR_WORDS => count_sentences(&text[..end]),
            _ => c.sentences,
        }
    };
    buf.hard.sort_unstable();
    buf.hard.dedup();
    c.hard2_unique = buf.hard.len() as u32;
    c
}

/// Closes `token`, ending at byte `end`: its kept characters are a word unless there are none.
fn end_token(
    c: &mut Counts,
    buf: &mut Buffers,
    text: &str,
    token: Token,
    end: usize,
    linsear_end: &mut Option<usize>,
) {
    if token.classes & (WORD | APOSTROPHE) == 0 {
        return; // punctuation only
    }
    let raw = &text[token.start..end];
    let mut word = std::mem::take(&mut buf.word);
    let w: &str = if token.pure {
        raw
    } else {
        word.clear();
        let bytes = text.as_bytes();
        for (j, ch) in raw.char_indices() {
            let class = class_of(ch);
            if class & WORD != 0
                || (class & APOSTROPHE != 0 && contraction_apostrophe(bytes, token.start + j))
            {
                word.push(ch);
            }
        }
        &word
    };
    if !w.is_empty() {
        c.letters += token.letters;
        add_word(c, buf, w, token.letters, token.classes);
        if c.words == LINSEAR_WORDS && linsear_end.is_none() {
            *linsear_end = Some(end);
        }
    }
    buf.word = word;
}

/// Adds one word `w` (with `letters` `\w` characters, its token's class bits `classes`) to the
/// counts.
fn add_word(c: &mut Counts, buf: &mut Buffers, w: &str, letters: u32, classes: u8) {
    c.words += 1;
    let lower: &str = if classes & (UPPER | NON_ASCII) == 0 {
        w
    } else {
        buf.lower.clear();
        if w.is_ascii() {
            buf.lower
                .extend(w.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            crate::unicode::push_lowercase(&mut buf.lower, w);
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
            buf.hard.push(crate::hash::hash_bytes(w.as_bytes()));
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

/// textstat's `count_sentences`: matches of `\b[^.!?]+[.!?]*`, minus those of two words or
/// fewer, at least 1 for non-empty text.
pub(crate) fn count_sentences(text: &str) -> u32 {
    if text.is_empty() {
        return 0;
    }
    let mut s = Sentences::default();
    let bytes = text.as_bytes();
    for (i, ch) in text.char_indices() {
        let class = class_of(ch);
        let kept =
            class & WORD != 0 || (class & APOSTROPHE != 0 && contraction_apostrophe(bytes, i));
        s.push(class, kept);
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
    #[inline(always)]
    fn push(&mut self, class: u8, kept: bool) {
        let terminator = class & TERMINATOR != 0;
        if self.state == State::Terminators && !terminator {
            self.close();
        }
        if self.state == State::Outside {
            if class & WORD == 0 {
                return;
            }
            self.state = State::Body;
            self.words = 0;
            self.in_token = false;
            self.token_kept = false;
        }
        if self.state == State::Body && terminator {
            self.state = State::Terminators;
        }
        if class & SPACE != 0 {
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
