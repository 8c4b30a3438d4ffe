//! VADER's text handling, reproduced byte for byte: emoji translation, Python's whitespace
//! split, punctuation stripping and `str.isupper`.

use super::lexicon::{TABLES, Word};

/// One token: what the lexicon says about its lower-cased form, and its shape.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tok {
    pub(super) word: Word,
    pub(super) upper: bool,
    /// Lower form contains "n't".
    pub(super) nt: bool,
}

impl Tok {
    #[inline]
    pub(super) fn negated(&self) -> bool {
        self.word.negation() || self.nt
    }
    #[inline]
    pub(super) fn kw(&self) -> u8 {
        self.word.kw
    }
    #[inline]
    pub(super) fn in_lexicon(&self) -> bool {
        self.word.in_lexicon()
    }
}

/// Replaces each emoji code point with its description (a space before it unless the previous
/// char was a space, none after), as VADER does. Returns how many were replaced.
pub(super) fn translate_emoji(text: &str, out: &mut String) -> usize {
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

pub(super) const SPACE: u8 = 1;
pub(super) const PUNCT: u8 = 2;
pub(super) const UPPER: u8 = 4;
pub(super) const LOWER: u8 = 8;
pub(super) const HIGH: u8 = 16;
pub(super) const APOS: u8 = 32;

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

/// Python's `str.split()` in one pass over bytes, with the byte classes of each token.
#[derive(Debug)]
pub(super) struct Tokens<'s> {
    s: &'s str,
    i: usize,
}

impl<'s> Tokens<'s> {
    pub(super) fn new(s: &'s str) -> Self {
        Tokens { s, i: 0 }
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
    pub(super) fn next_token(&mut self) -> Option<(&'s str, u8)> {
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
pub(super) fn py_space_len(b: &[u8], i: usize) -> usize {
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
pub(super) fn strip_punc_if_word(token: &str) -> &str {
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
pub(super) fn py_isupper(s: &str) -> bool {
    let mut cased = false;
    for c in s.chars() {
        if crate::unicode::is_lowercase(c) || is_titlecase(c) {
            return false;
        }
        if crate::unicode::is_uppercase(c) {
            cased = true;
        }
    }
    cased
}

/// Unicode general category Lt (title-case letters).
pub(super) fn is_titlecase(c: char) -> bool {
    matches!(c,
        '\u{1c5}' | '\u{1c8}' | '\u{1cb}' | '\u{1f2}'
        | '\u{1f88}'..='\u{1f8f}' | '\u{1f98}'..='\u{1f9f}' | '\u{1fa8}'..='\u{1faf}'
        | '\u{1fbc}' | '\u{1fcc}' | '\u{1ffc}')
}

/// `text.count("?")` and `text.count("!")`, in one branch-free pass the compiler vectorises.
pub(super) fn count_marks(text: &str) -> (usize, usize) {
    let (mut q, mut e) = (0usize, 0usize);
    // u32 lanes vectorise better; chunks keep them from overflowing on any input.
    for chunk in text.as_bytes().chunks(1 << 20) {
        let (mut cq, mut ce) = (0u32, 0u32);
        for &c in chunk {
            cq += u32::from(c == b'?');
            ce += u32::from(c == b'!');
        }
        q += cq as usize;
        e += ce as usize;
    }
    (q, e)
}
