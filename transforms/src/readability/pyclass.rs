//! Python's `re` character classes `\w` and `\s`, so that our tokenizer cuts text exactly where
//! textstat (which works with Python regular expressions) does. Rust's `char::is_alphanumeric`
//! differs: it counts combining marks as alphabetic, Python does not.

use crate::unicode::in_ranges;

#[rustfmt::skip]
mod table {
    include!("pyclass_table.rs");
}

/// Whether Python's `re` matches `c` with `\w` (letters, digits, numerics and `_`).
#[inline]
pub(crate) fn is_word(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    in_ranges(table::WORD, c)
}

/// Whether Python's `re` matches `c` with `\s`; `str.split()` splits on the same characters.
#[inline]
pub(crate) fn is_space(c: char) -> bool {
    if c.is_ascii() {
        return matches!(c, '\t'..='\r' | '\x1c'..='\x1f' | ' ');
    }
    in_ranges(table::SPACE, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_python() {
        for c in ['a', 'Z', '0', '_', 'é', 'ß', '中', '٣', 'ǅ'] {
            assert!(is_word(c), "{c:?}");
        }
        // Combining marks, punctuation, symbols and emoji are not `\w` in Python.
        for c in ['\u{301}', '-', '\'', '€', '🙂', '\u{200d}', ' '] {
            assert!(!is_word(c), "{c:?}");
        }
        for c in [
            ' ', '\n', '\x1f', '\u{a0}', '\u{3000}', '\u{2028}', '\u{85}',
        ] {
            assert!(is_space(c), "{c:?}");
        }
        for c in ['\u{200b}', 'a', '\u{feff}'] {
            assert!(!is_space(c), "{c:?}");
        }
    }
}
