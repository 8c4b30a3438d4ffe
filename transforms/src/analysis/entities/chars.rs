//! Character classes used by the twitter-text rules, with ASCII fast paths.

use super::unicode_tables::{DECIMAL_NUMBER, LETTER_OR_MARK};
use crate::unicode::in_ranges;

/// General category L* or M*.
#[inline]
pub(super) fn is_letter_or_mark(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        in_ranges(LETTER_OR_MARK, c)
    }
}

/// General category Nd.
#[inline]
pub(super) fn is_decimal(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        in_ranges(DECIMAL_NUMBER, c)
    }
}

/// A character that may appear in a hashtag: letters, marks, decimal digits, underscore and the
/// joiners and script punctuation twitter-text allows inside words.
#[inline]
pub(super) fn is_hashtag_char(c: char) -> bool {
    is_letter_or_mark(c)
        || is_decimal(c)
        || matches!(
            c,
            '_' | '\u{200c}'
                | '\u{200d}'
                | '\u{a67e}'
                | '\u{05be}'
                | '\u{05f3}'
                | '\u{05f4}'
                | '\u{ff5e}'
                | '\u{301c}'
                | '\u{309b}'
                | '\u{309c}'
                | '\u{30a0}'
                | '\u{30fb}'
                | '\u{3003}'
                | '\u{0f0b}'
                | '\u{0f0c}'
                | '\u{00b7}'
        )
}

/// Unicode white space as twitter-text lists it.
#[inline]
pub(super) const fn is_space(c: char) -> bool {
    matches!(c, '\u{09}'..='\u{0d}' | ' ' | '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{180e}'
        | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

/// ASCII punctuation as twitter-text lists it (note: no `"` and no backquote).
#[inline]
pub(super) const fn is_punct(c: char) -> bool {
    matches!(
        c,
        '!' | '\''
            | '#'
            | '%'
            | '&'
            | '('
            | ')'
            | '*'
            | '+'
            | ','
            | '\\'
            | '-'
            | '.'
            | '/'
            | ':'
            | ';'
            | '<'
            | '='
            | '>'
            | '?'
            | '@'
            | '['
            | ']'
            | '^'
            | '_'
            | '{'
            | '|'
            | '}'
            | '~'
            | '$'
    )
}

/// Byte-order marks and non-characters that twitter-text treats as invalid.
#[inline]
pub(super) fn is_invalid(c: char) -> bool {
    matches!(c, '\u{fffe}' | '\u{feff}' | '\u{ffff}')
}

/// Bidirectional formatting marks.
#[inline]
pub(super) fn is_directional(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2066}'..='\u{2069}')
}

/// Latin letters with diacritics (and combining diacritics) that URL paths and mentions treat
/// like letters.
#[inline]
pub(super) fn is_latin_accent(c: char) -> bool {
    matches!(c, '\u{c0}'..='\u{d6}' | '\u{d8}'..='\u{f6}' | '\u{f8}'..='\u{ff}' | '\u{100}'..='\u{24f}'
        | '\u{253}' | '\u{254}' | '\u{256}' | '\u{257}' | '\u{259}' | '\u{25b}' | '\u{263}'
        | '\u{268}' | '\u{26f}' | '\u{272}' | '\u{289}' | '\u{28b}' | '\u{2bb}'
        | '\u{300}'..='\u{36f}' | '\u{1e00}'..='\u{1eff}')
}

#[inline]
pub(super) fn is_cyrillic(c: char) -> bool {
    matches!(c, '\u{400}'..='\u{4ff}')
}

/// A character allowed in a domain label: anything but punctuation, space, invalid and
/// directional characters.
#[inline]
pub(super) fn is_domain_char(c: char) -> bool {
    if c.is_ascii() {
        ASCII_DOMAIN[c as usize]
    } else {
        !(is_space(c) || is_invalid(c) || is_directional(c))
    }
}

/// [`is_domain_char`] for ASCII, as a table.
static ASCII_DOMAIN: [bool; 128] = {
    let mut t = [false; 128];
    let mut i = 0;
    while i < 128 {
        let c = i as u8 as char;
        t[i] = !(is_punct(c) || is_space(c));
        i += 1;
    }
    t
};

/// The character just before `i` in `s`, if any.
#[inline]
pub(crate) fn char_before(s: &str, i: usize) -> Option<char> {
    s[..i].chars().next_back()
}

/// The character at `i` in `s`, if any.
#[inline]
pub(super) fn char_at(s: &str, i: usize) -> Option<char> {
    s.get(i..).and_then(|r| r.chars().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(is_letter_or_mark('é') && is_letter_or_mark('\u{301}') && is_letter_or_mark('日'));
        assert!(!is_letter_or_mark('1') && !is_letter_or_mark('🙂') && !is_letter_or_mark('_'));
        assert!(is_decimal('٣') && !is_decimal('²'));
        assert!(is_hashtag_char('_') && is_hashtag_char('\u{200d}') && !is_hashtag_char('-'));
        assert!(is_letter_or_mark('\u{20021}'));
    }
}
