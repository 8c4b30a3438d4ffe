//! Look-ups in the crate's generated Unicode tables (general categories, Python's character
//! classes, twitter-text's classes, scripts): each a sorted list of disjoint, inclusive code
//! point ranges, searched the same way.
//!
//! Also the character properties the scans ask of every non-ASCII character (alphabetic, upper
//! and lower case, numeric, whether lowercasing changes it), answered from a table of the Basic
//! Multilingual Plane built once from the standard library's own answers. The standard library
//! searches its compressed tables on every call, and on multilingual text those searches were
//! ~7% of the transforms' time; the table answers with two loads and gives the same answers
//! (`the_table_agrees_with_the_standard_library_everywhere` checks every code point).

use std::cmp::Ordering;
use std::sync::LazyLock;

const ALPHABETIC: u8 = 1;
const UPPERCASE: u8 = 1 << 1;
const LOWERCASE: u8 = 1 << 2;
const NUMERIC: u8 = 1 << 3;
/// `char::to_lowercase` gives the character back unchanged.
const LOWER_ITSELF: u8 = 1 << 4;

/// Code points per block of the table: the BMP is 512 blocks, and blocks with the same
/// properties throughout (most of them: CJK, Hangul, unassigned) are stored once.
const BLOCK: usize = 128;

struct Table {
    index: [u16; 0x10000 / BLOCK],
    blocks: Vec<[u8; BLOCK]>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut index = [0u16; 0x10000 / BLOCK];
    let mut blocks: Vec<[u8; BLOCK]> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (b, slot) in index.iter_mut().enumerate() {
        let mut block = [0u8; BLOCK];
        for (i, props) in block.iter_mut().enumerate() {
            // Surrogates are not chars; they get no properties.
            *props = char::from_u32((b * BLOCK + i) as u32).map_or(0, computed);
        }
        *slot = *seen.entry(block).or_insert_with(|| {
            blocks.push(block);
            u16::try_from(blocks.len() - 1).expect("at most 512 blocks")
        });
    }
    Table { index, blocks }
});

/// A character's properties as the standard library computes them.
fn computed(c: char) -> u8 {
    let mut lower = c.to_lowercase();
    let itself = lower.next() == Some(c) && lower.next().is_none();
    [
        (c.is_alphabetic(), ALPHABETIC),
        (c.is_uppercase(), UPPERCASE),
        (c.is_lowercase(), LOWERCASE),
        (c.is_numeric(), NUMERIC),
        (itself, LOWER_ITSELF),
    ]
    .into_iter()
    .filter(|&(has, _)| has)
    .fold(0, |props, (_, bit)| props | bit)
}

#[inline]
fn props(c: char) -> u8 {
    let u = c as usize;
    if u < 0x10000 {
        let t = &*TABLE;
        t.blocks[usize::from(t.index[u / BLOCK])][u % BLOCK]
    } else {
        computed(c)
    }
}

/// Whether `c` has one of `bits`: ASCII answered by `ascii`, the rest from the table.
#[inline]
fn has(c: char, ascii: impl Fn(&char) -> bool, bits: u8) -> bool {
    if c.is_ascii() {
        ascii(&c)
    } else {
        props(c) & bits != 0
    }
}

/// `char::is_alphabetic`, from the table.
#[inline]
pub(crate) fn is_alphabetic(c: char) -> bool {
    has(c, char::is_ascii_alphabetic, ALPHABETIC)
}

/// `char::is_alphanumeric`, from the table.
#[inline]
pub(crate) fn is_alphanumeric(c: char) -> bool {
    has(c, char::is_ascii_alphanumeric, ALPHABETIC | NUMERIC)
}

/// `char::is_numeric`, from the table.
#[inline]
pub(crate) fn is_numeric(c: char) -> bool {
    has(c, char::is_ascii_digit, NUMERIC)
}

/// `char::is_uppercase`, from the table.
#[inline]
pub(crate) fn is_uppercase(c: char) -> bool {
    has(c, char::is_ascii_uppercase, UPPERCASE)
}

/// `char::is_lowercase`, from the table.
#[inline]
pub(crate) fn is_lowercase(c: char) -> bool {
    has(c, char::is_ascii_lowercase, LOWERCASE)
}

/// `c`'s lowercase when it is one character (`c` itself when lowercasing leaves it alone or
/// makes more than one).
#[inline]
pub(crate) fn lower_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    if props(c) & LOWER_ITSELF != 0 {
        return c;
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Appends `str::to_lowercase(s)` to `out`. That is each character lowercased on its own
/// ([`extend_lowercase_chars`]) except a capital sigma, whose lowercase depends on whether it ends
/// a word: the one contextual mapping `str::to_lowercase` applies, so text holding one goes to it.
pub(crate) fn push_lowercase(out: &mut String, s: &str) {
    if s.is_ascii() {
        let start = out.len();
        out.push_str(s);
        out[start..].make_ascii_lowercase();
    } else if s.contains('Σ') {
        out.push_str(&s.to_lowercase());
    } else {
        extend_lowercase_chars(out, s);
    }
}

/// Appends each character of `s` lowercased on its own (`s.chars().flat_map(char::to_lowercase)`:
/// no context rules), looking up in the table first.
pub(crate) fn extend_lowercase_chars(out: &mut String, s: &str) {
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if props(c) & LOWER_ITSELF != 0 {
            out.push(c);
        } else {
            out.extend(c.to_lowercase());
        }
    }
}

/// `str::to_lowercase`, through [`push_lowercase`].
pub(crate) fn to_lowercase(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_lowercase(&mut out, s);
    out
}

/// Whether `c` lies in one of `ranges` (sorted, disjoint, inclusive `(lo, hi)`).
#[inline]
pub(crate) fn in_ranges(ranges: &[(u32, u32)], c: char) -> bool {
    find_range(ranges, c, |&r| r).is_some()
}

/// The index of the entry of `table` whose range holds `c`; `bounds` gives an entry's inclusive
/// `(lo, hi)`, and the ranges must be sorted and disjoint.
#[inline]
pub(crate) fn find_range<T>(
    table: &[T],
    c: char,
    bounds: impl Fn(&T) -> (u32, u32),
) -> Option<usize> {
    let c = u32::from(c);
    table
        .binary_search_by(|entry| {
            let (lo, hi) = bounds(entry);
            if hi < c {
                Ordering::Less
            } else if lo > c {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_range_holding_a_char() {
        let t = [(0x41, 0x5A), (0x61, 0x7A), (0x3B1, 0x3C9)];
        for (c, want) in [('A', Some(0)), ('Z', Some(0)), ('[', None), ('m', Some(1))] {
            assert_eq!(find_range(&t, c, |&r| r), want, "{c:?}");
        }
        assert!(in_ranges(&t, 'α'));
        assert!(!in_ranges(&t, '0'));
        assert!(!in_ranges(&[], 'a'));
    }

    #[test]
    fn the_table_agrees_with_the_standard_library_everywhere() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(is_alphabetic(c), c.is_alphabetic(), "{c:?} alphabetic");
            assert_eq!(
                is_alphanumeric(c),
                c.is_alphanumeric(),
                "{c:?} alphanumeric"
            );
            assert_eq!(is_numeric(c), c.is_numeric(), "{c:?} numeric");
            assert_eq!(is_uppercase(c), c.is_uppercase(), "{c:?} uppercase");
            assert_eq!(is_lowercase(c), c.is_lowercase(), "{c:?} lowercase");
            let mut lower = c.to_lowercase();
            let want = match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                _ => c,
            };
            assert_eq!(lower_char(c), want, "{c:?} lowercase of");
        }
        // Blocks alike are stored once: the whole table stays small enough to sit in cache.
        assert!(TABLE.blocks.len() < 256, "{} blocks", TABLE.blocks.len());
    }

    #[test]
    fn lowercasing_text_matches_the_standard_library() {
        let cases = [
            "",
            "plain ascii WORDS",
            "Ärger über Öl",
            "ΟΔΟΣ ΣΟΦΙΑΣ",
            "odos Σ",
            "İstanbul",
            "ǅemal",
            "ＡＢＣ",
            "東京タワー",
            "déjà VU",
            "ПРИВЕТ мир",
            "straße STRASSE",
            "𐐀𐐨 deseret",
        ];
        // Every character alone, inside a word and ending one.
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            for s in [format!("{c}"), format!("a{c}b"), format!("Ab{c}")] {
                assert_eq!(to_lowercase(&s), s.to_lowercase(), "{s:?}");
            }
        }
        for s in cases {
            assert_eq!(to_lowercase(s), s.to_lowercase(), "{s:?}");
            let mut out = String::from("kept ");
            push_lowercase(&mut out, s);
            assert_eq!(out, format!("kept {}", s.to_lowercase()), "{s:?}");
        }
    }
}
