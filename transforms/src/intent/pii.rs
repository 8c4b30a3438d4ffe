//! Personal data detectors: e-mail addresses, phone numbers, payment card numbers, IBANs and
//! US social security numbers. They answer yes or no; nothing found is ever copied out.
//!
//! Each detector walks the text once: candidates are maximal runs of the characters the thing
//! can be written with, runs do not overlap, and a run is checked in time bounded by a small
//! constant (lengths are capped), so the work is linear in the text.
//!
//! Precision over recall: a phone number needs the shape of one (NANP `(555) 123-4567`,
//! international `+44 20 7946 0958`, national `020 7946 0958`), so dates, prices, times and
//! long ids are not flagged; a card number must pass the Luhn check and start like a real card;
//! an IBAN must have its country's length and pass the mod-97 check.

/// What personal data a text seems to contain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pii {
    pub email: bool,
    pub phone: bool,
    pub payment_card: bool,
    pub iban: bool,
    pub us_ssn: bool,
}

impl Pii {
    /// The kinds found, in a fixed order.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.email, "email"),
            (self.phone, "phone"),
            (self.payment_card, "payment_card"),
            (self.iban, "iban"),
            (self.us_ssn, "us_ssn"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
    }
}

/// Scans `text` for every kind.
pub fn scan(text: &str) -> Pii {
    let b = text.as_bytes();
    let mut p = Pii {
        email: b.contains(&b'@') && has_email(b),
        ..Pii::default()
    };
    // Every other kind has digits; most posts have none.
    if b.iter().fold(false, |d, c| d | c.is_ascii_digit()) {
        scan_numbers(b, &mut p);
    }
    p
}

fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-')
}

/// `local@domain.tld`: a non-empty local part, a domain of dot-separated labels, and an
/// alphabetic top-level label of two letters or more.
fn has_email(b: &[u8]) -> bool {
    for (at, _) in b.iter().enumerate().filter(|(_, c)| **c == b'@') {
        // Local part: back to the previous non-local byte (regions between '@' do not overlap).
        let mut s = at;
        while s > 0 && is_local(b[s - 1]) && at - s < 64 {
            s -= 1;
        }
        let local = &b[s..at];
        if local.is_empty() || local.iter().all(|&c| c == b'.') {
            continue;
        }
        let mut e = at + 1;
        while e < b.len() && is_domain(b[e]) && e - at < 254 {
            e += 1;
        }
        let domain = trim_end(&b[at + 1..e], b".-");
        if valid_domain(domain) {
            return true;
        }
    }
    false
}

fn trim_end<'a>(mut s: &'a [u8], chars: &[u8]) -> &'a [u8] {
    while let [rest @ .., last] = s {
        if chars.contains(last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn valid_domain(d: &[u8]) -> bool {
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in d.split(|&c| c == b'.') {
        if label.is_empty() || label.starts_with(b"-") || label.ends_with(b"-") {
            return false;
        }
        labels += 1;
        last = label;
    }
    labels >= 2 && last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic)
}

/// Bytes a phone or card number may be written with.
fn is_number_char(c: u8) -> bool {
    c.is_ascii_digit() || matches!(c, b' ' | b'-' | b'.' | b'(' | b')' | b'+')
}

/// A byte before a number that makes it something else: part of a word or id, a price, a
/// path or a handle.
fn blocks_before(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'$' | b'#' | b'/' | b'@' | b'_' | b'.' | b',' | b':')
        // The last byte of €, £, ¥ (and of other non-ASCII letters) is a continuation byte.
        || c >= 0x80
}

fn blocks_after(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'%' | b'/' | b'@' | b'_' | b'$')
}

const MAX_GROUPS: usize = 8;
const MAX_DIGITS: usize = 20;

/// One candidate number: digit groups and the separators between them.
#[derive(Debug, Default)]
struct Run {
    digits: [u8; MAX_DIGITS],
    n_digits: usize,
    groups: [u8; MAX_GROUPS],
    n_groups: usize,
    plus: bool,
    paren: bool,
    /// Separators used: bit 0 space, 1 hyphen, 2 dot, 3 parenthesis.
    seps: u8,
    /// Two separators in a row other than ") " / ")-".
    double_sep: bool,
}

fn scan_numbers(b: &[u8], p: &mut Pii) {
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let starts = c.is_ascii_digit() || c == b'+' || c == b'(';
        if !starts || (i > 0 && blocks_before(b[i - 1])) {
            // Digits right after two capitals at a word start may begin an IBAN.
            if c.is_ascii_digit()
                && i >= 2
                && b[i - 1].is_ascii_uppercase()
                && b[i - 2].is_ascii_uppercase()
                && (i == 2 || !b[i - 3].is_ascii_alphanumeric())
            {
                p.iban |= iban_at(b, i - 2);
            }
            i += 1;
            continue;
        }
        // The maximal run, without trailing separators.
        let mut e = i;
        while e < b.len() && is_number_char(b[e]) {
            e += 1;
        }
        let mut end = e;
        while end > i && !b[end - 1].is_ascii_digit() && b[end - 1] != b')' {
            end -= 1;
        }
        // Trailing separators were trimmed, so the byte at `end` is one of them or the byte
        // after the run.
        let after_ok = end == b.len() || !blocks_after(b[end]);
        if end > i
            && after_ok
            && let Some(run) = parse_run(&b[i..end])
        {
            p.phone |= is_phone(&run);
            p.payment_card |= is_card(&run);
            p.us_ssn |= is_ssn(&run);
        }
        i = e.max(i + 1);
    }
}

fn parse_run(s: &[u8]) -> Option<Run> {
    let mut r = Run::default();
    let mut in_group = false;
    let mut prev_sep: Option<u8> = None;
    for (k, &c) in s.iter().enumerate() {
        if c.is_ascii_digit() {
            if r.n_digits == MAX_DIGITS {
                return None;
            }
            r.digits[r.n_digits] = c - b'0';
            r.n_digits += 1;
            if !in_group {
                if r.n_groups == MAX_GROUPS {
                    return None;
                }
                r.n_groups += 1;
                in_group = true;
            }
            r.groups[r.n_groups - 1] += 1;
            prev_sep = None;
            continue;
        }
        in_group = false;
        match c {
            b'+' if k == 0 => r.plus = true,
            b'+' => return None,
            b'(' | b')' => {
                r.paren = true;
                r.seps |= 8;
            }
            b' ' => r.seps |= 1,
            b'-' => r.seps |= 2,
            b'.' => r.seps |= 4,
            _ => return None,
        }
        if let Some(p) = prev_sep
            && p != b')'
            && c != b'('
        {
            r.double_sep = true;
        }
        prev_sep = Some(c);
    }
    (r.n_digits > 0).then_some(r)
}

impl Run {
    fn groups(&self) -> &[u8] {
        &self.groups[..self.n_groups]
    }
    fn digits(&self) -> &[u8] {
        &self.digits[..self.n_digits]
    }
}

fn is_phone(r: &Run) -> bool {
    if r.double_sep {
        return false;
    }
    let d = r.digits();
    let g = r.groups();
    if r.plus {
        // E.164: country code and number, 9 to 15 digits, no leading zero.
        return (9..=15).contains(&d.len()) && d[0] != 0;
    }
    // NANP: 3-3-4 or 1-3-3-4, area code and exchange starting 2-9.
    let nanp = match g {
        [3, 3, 4] => Some(0),
        [1, 3, 3, 4] if d[0] == 1 => Some(1),
        _ => None,
    };
    if let Some(o) = nanp {
        // Dots alone are also how versions and IPs are written: only with hyphen/space/paren.
        return d[o] >= 2 && d[o + 3] >= 2 && r.seps & !4 != 0;
    }
    // National format with a trunk zero: 10 or 11 digits in 2+ groups of 2+ digits, spaces or
    // hyphens (dots would be dates).
    d.len() >= 10
        && d.len() <= 11
        && d[0] == 0
        && d[1] != 0
        && g.len() >= 2
        && g.iter().all(|&n| n >= 2)
        && r.seps & !3 == 0
}

/// Luhn-valid 13 to 19 digits with a card-issuer prefix, digits grouped by spaces or hyphens
/// or not at all.
fn is_card(r: &Run) -> bool {
    let d = r.digits();
    if r.plus || r.paren || r.seps & 4 != 0 || r.double_sep || !(13..=19).contains(&d.len()) {
        return false;
    }
    if d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let prefix = |n: usize| d[..n].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let issuer = d[0] == 4 // Visa
        || (51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4)) // Mastercard
        || matches!(prefix(2), 34 | 37) // Amex
        || prefix(4) == 6011 || prefix(2) == 65 || (644..=649).contains(&prefix(3)) // Discover
        || (3528..=3589).contains(&prefix(4)) // JCB
        || matches!(prefix(2), 36 | 38) || (300..=305).contains(&prefix(3)) // Diners
        || prefix(2) == 62; // UnionPay
    issuer && luhn(d)
}

/// The Luhn checksum over decimal digits.
pub fn luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `AAA-GG-SSSS` with hyphens, excluding numbers never issued (area 000, 666, 900+; group 00;
/// serial 0000).
fn is_ssn(r: &Run) -> bool {
    if r.groups() != [3, 2, 4] || r.seps != 2 || r.plus {
        return false;
    }
    let d = r.digits();
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    area != 0 && area != 666 && area < 900 && (d[3], d[4]) != (0, 0) && d[5..] != [0, 0, 0, 0]
}

/// IBAN lengths by country (the SWIFT IBAN registry).
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SC", 31),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

/// An IBAN starting at `b[i]`: country code, two check digits, the country's length of
/// upper-case letters and digits (optionally in groups of four separated by single spaces),
/// mod 97 == 1, and no letter or digit right after it.
fn iban_at(b: &[u8], i: usize) -> bool {
    if i + 4 > b.len() || !b[i + 2].is_ascii_digit() || !b[i + 3].is_ascii_digit() {
        return false;
    }
    let Some(&(_, len)) = IBAN_LENGTHS.iter().find(|(c, _)| c[..] == b[i..i + 2]) else {
        return false;
    };
    let mut chars = [0u8; 34];
    let mut n = 0;
    let mut k = i;
    while k < b.len() && n < len {
        let c = b[k];
        if c.is_ascii_digit() || c.is_ascii_uppercase() {
            chars[n] = c;
            n += 1;
        } else if !(c == b' ' && n % 4 == 0 && k + 1 < b.len() && b[k + 1] != b' ') {
            break;
        }
        k += 1;
    }
    let ends_clean = k >= b.len() || !b[k].is_ascii_alphanumeric();
    n == len && ends_clean && iban_checksum(&chars[..n])
}

fn iban_checksum(s: &[u8]) -> bool {
    let mut rem: u32 = 0;
    for &c in s[4..].iter().chain(&s[..4]) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            let v = u32::from(c - b'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    rem == 1
}
