//! Top-level domains that make a host name a URL: twitter-text's list, built from IANA's root
//! zone database (`transforms/data/entities/tlds.txt`; see the README there).

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// Whether a TLD is a country code or generic one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TldKind {
    Country,
    Generic,
}

#[derive(Debug)]
struct Tlds {
    /// Lower-case ASCII TLDs (country and generic).
    ascii: HashSet<&'static str>,
    country: HashSet<&'static str>,
    /// Bit `36 * a + b` is set when some ASCII TLD starts with the characters numbered `a`, `b`
    /// (0-9 digits, 10-35 letters): rejects most non-TLDs before hashing.
    prefixes: [u64; 21],
    /// Non-ASCII TLDs by first character, longest first so that a longer one wins over its
    /// prefix.
    unicode: HashMap<char, Vec<&'static str>>,
}

static TLDS: LazyLock<Tlds> = LazyLock::new(|| {
    let mut t = Tlds {
        ascii: HashSet::new(),
        country: HashSet::new(),
        prefixes: [0; 21],
        unicode: HashMap::new(),
    };
    for line in include_str!("../../../data/entities/tlds.txt").lines() {
        let Some((kind, tld)) = line.split_once(' ') else {
            continue;
        };
        if kind == "country" {
            t.country.insert(tld);
        }
        if tld.is_ascii() {
            t.ascii.insert(tld);
            if let Some(bit) = prefix_bit(tld.as_bytes()) {
                t.prefixes[bit / 64] |= 1 << (bit % 64);
            }
        } else if let Some(c) = tld.chars().next() {
            t.unicode.entry(c).or_default().push(tld);
        }
    }
    for list in t.unicode.values_mut() {
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
    t
});

fn alnum_index(b: u8) -> Option<usize> {
    match b.to_ascii_lowercase() {
        c @ b'0'..=b'9' => Some(usize::from(c - b'0')),
        c @ b'a'..=b'z' => Some(usize::from(c - b'a') + 10),
        _ => None,
    }
}

/// The prefix-table bit of a TLD candidate's first two bytes.
fn prefix_bit(b: &[u8]) -> Option<usize> {
    Some(36 * alnum_index(*b.first()?)? + alnum_index(*b.get(1)?)?)
}

/// What may follow a TLD: anything but an ASCII letter or digit, `@`, `+` or `-`.
fn tld_may_end_before(s: &str, i: usize) -> bool {
    !matches!(s.as_bytes().get(i), Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'@' | b'+' | b'-'))
}

/// The end of a valid TLD starting at `i` in `s` (looking no further than `s`'s end), if any.
pub fn tld_end(s: &str, i: usize) -> Option<usize> {
    let rest = &s[i..];
    let b = rest.as_bytes();
    let first = *b.first()?;
    if first.is_ascii_alphanumeric() {
        let run = b.iter().take_while(|c| c.is_ascii_alphanumeric()).count();
        let known_prefix =
            prefix_bit(b).is_some_and(|bit| TLDS.prefixes[bit / 64] & (1 << (bit % 64)) != 0);
        if (2..=24).contains(&run) && known_prefix && tld_may_end_before(s, i + run) {
            let mut buf = [0u8; 24];
            buf[..run].copy_from_slice(&b[..run]);
            buf[..run].make_ascii_lowercase();
            if std::str::from_utf8(&buf[..run]).is_ok_and(|t| TLDS.ascii.contains(t)) {
                return Some(i + run);
            }
        }
        // Punycode TLD: "xn--" and at least one more letter, digit or hyphen (no end check).
        if b.len() > 4 && b[..4].eq_ignore_ascii_case(b"xn--") {
            let n = b[4..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-')
                .count();
            if n > 0 {
                return Some(i + 4 + n);
            }
        }
        return None;
    }
    if first < 0x80 {
        return None;
    }
    let c = rest.chars().next()?;
    TLDS.unicode
        .get(&c)?
        .iter()
        .find(|t| rest.starts_with(**t) && tld_may_end_before(s, i + t.len()))
        .map(|t| i + t.len())
}

/// The kind of a lower-case TLD, if it is on the list.
pub fn kind(tld: &str) -> Option<TldKind> {
    if TLDS.country.contains(tld) {
        Some(TldKind::Country)
    } else if TLDS.ascii.contains(tld)
        || tld
            .chars()
            .next()
            .and_then(|c| TLDS.unicode.get(&c))
            .is_some_and(|l| l.contains(&tld))
    {
        Some(TldKind::Generic)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tlds() {
        assert_eq!(tld_end("com", 0), Some(3));
        assert_eq!(tld_end("COM/x", 0), Some(3));
        assert_eq!(tld_end("comm", 0), None);
        assert_eq!(tld_end("com@x", 0), None);
        assert_eq!(tld_end("みんなです", 0), Some("みんな".len()));
        assert_eq!(kind("jp"), Some(TldKind::Country));
        assert_eq!(kind("com"), Some(TldKind::Generic));
        assert_eq!(kind("notatld"), None);
    }
}
