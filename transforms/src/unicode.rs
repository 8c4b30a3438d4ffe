//! Look-ups in the crate's generated Unicode tables (general categories, Python's character
//! classes, twitter-text's classes, scripts): each a sorted list of disjoint, inclusive code
//! point ranges, searched the same way.

use std::cmp::Ordering;

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
}
