//! Emoji sequences by Unicode's emoji data (`emoji-test.txt`, UTS #51): the longest listed
//! sequence wins at each position, so ZWJ sequences, skin-tone modifiers, flags (regional
//! indicator pairs and tag sequences), keycaps and variation selectors stay one emoji.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::LazyLock;

/// How an emoji sequence is written relative to its fully-qualified form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualification {
    /// With every emoji presentation selector it needs.
    Full,
    /// Missing a selector somewhere but the first (still shown as emoji by most systems).
    Minimal,
    /// Missing the first selector: often shown as text (e.g. `©`, `❤` without U+FE0F).
    Unqualified,
    /// A skin-tone or hair component on its own.
    Component,
}

/// Unicode's emoji groups (`# group:` lines in emoji-test.txt), in file order.
pub const GROUPS: [&str; 10] = [
    "smileys_emotion",
    "people_body",
    "component",
    "animals_nature",
    "food_drink",
    "travel_places",
    "activities",
    "objects",
    "symbols",
    "flags",
];

/// One emoji found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emoji {
    pub range: Range<usize>,
    /// Index into [`GROUPS`].
    pub group: u8,
    pub qualification: Qualification,
}

impl Emoji {
    /// The skin tone modifier in the sequence (U+1F3FB..U+1F3FF as 1..=5), if any.
    pub fn skin_tone(&self, text: &str) -> Option<u8> {
        text[self.range.clone()].chars().find_map(|c| match c {
            '\u{1f3fb}'..='\u{1f3ff}' => Some((u32::from(c) - 0x1f3fa) as u8),
            _ => None,
        })
    }
    /// A zero-width-joiner sequence.
    pub fn is_zwj(&self, text: &str) -> bool {
        text[self.range.clone()].contains('\u{200d}')
    }
    /// A national flag (regional indicator pair) or subdivision flag (tag sequence).
    pub fn is_flag(&self, text: &str) -> bool {
        let mut cs = text[self.range.clone()].chars();
        match cs.next() {
            Some('\u{1f1e6}'..='\u{1f1ff}') => true,
            Some('\u{1f3f4}') => matches!(cs.next(), Some('\u{e0020}'..='\u{e007f}')),
            _ => false,
        }
    }
    /// A keycap such as `1️⃣`.
    pub fn is_keycap(&self, text: &str) -> bool {
        text[self.range.clone()].ends_with('\u{20e3}')
    }
}

#[derive(Debug)]
struct Table {
    seqs: HashMap<String, (u8, Qualification)>,
    /// Code points below 0x20000 that start some sequence.
    first: Vec<u64>,
}

const FIRST_LIMIT: u32 = 0x20000;

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut t = Table {
        seqs: HashMap::new(),
        first: vec![0; (FIRST_LIMIT / 64) as usize],
    };
    for line in include_str!("../../../data/entities/emoji.txt").lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut parts = line.split(' ');
        let (Some(cps), Some(q), Some(g)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let seq: String = cps
            .split('-')
            .filter_map(|h| u32::from_str_radix(h, 16).ok().and_then(char::from_u32))
            .collect();
        let q = match q {
            "f" => Qualification::Full,
            "m" => Qualification::Minimal,
            "u" => Qualification::Unqualified,
            _ => Qualification::Component,
        };
        let Some(first) = seq.chars().next() else {
            continue;
        };
        let cp = u32::from(first);
        if cp < FIRST_LIMIT {
            t.first[(cp / 64) as usize] |= 1 << (cp % 64);
        }
        t.seqs.insert(seq, (g.parse().unwrap_or(8), q));
    }
    t
});

fn may_start(c: char) -> bool {
    let cp = u32::from(c);
    cp < FIRST_LIMIT && TABLE.first[(cp / 64) as usize] & (1 << (cp % 64)) != 0
}

fn is_continuation(prev: char, c: char, len: usize) -> bool {
    matches!(c, '\u{fe0f}' | '\u{200d}' | '\u{20e3}' | '\u{1f3fb}'..='\u{1f3ff}' | '\u{e0020}'..='\u{e007f}')
        || prev == '\u{200d}'
        || (len == 1
            && matches!(prev, '\u{1f1e6}'..='\u{1f1ff}')
            && matches!(c, '\u{1f1e6}'..='\u{1f1ff}'))
}

/// Every emoji in `text`, in order.
pub fn emojis(text: &str, out: &mut Vec<Emoji>) {
    // ASCII-only text has none: even keycaps need U+20E3, and © is U+00A9.
    if !text.bytes().any(|b| b >= 0xc2) {
        return;
    }
    let mut i = 0;
    while i < text.len() {
        let Some(c) = text[i..].chars().next() else {
            break;
        };
        let next = i + c.len_utf8();
        if (c.is_ascii() && !matches!(c, '#' | '*' | '0'..='9')) || !may_start(c) {
            i = next;
            continue;
        }
        // Candidate ends: after each code point of the longest plausible sequence.
        let mut ends = [0usize; 16];
        let mut n = 0;
        let mut end = next;
        let mut prev = c;
        ends[n] = end;
        n += 1;
        for d in text[next..].chars() {
            if n == ends.len() || !is_continuation(prev, d, n) {
                break;
            }
            end += d.len_utf8();
            ends[n] = end;
            n += 1;
            prev = d;
        }
        let hit = ends[..n]
            .iter()
            .rev()
            .find_map(|&e| TABLE.seqs.get(&text[i..e]).map(|&(g, q)| (e, g, q)));
        match hit {
            Some((e, group, qualification)) => {
                out.push(Emoji {
                    range: i..e,
                    group,
                    qualification,
                });
                i = e;
            }
            None => i = next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        emojis(text, &mut out);
        out.iter().map(|e| &text[e.range.clone()]).collect()
    }

    #[test]
    fn sequences_stay_whole() {
        assert_eq!(find("hi 👍🏽 ok"), ["👍🏽"]);
        assert_eq!(find("👨‍👩‍👧‍👦"), ["👨‍👩‍👧‍👦"]);
        assert_eq!(find("🇫🇷🇩🇪"), ["🇫🇷", "🇩🇪"]);
        assert_eq!(find("1️⃣ 1 #"), ["1️⃣"]);
        assert_eq!(
            find("🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}").len(),
            1
        );
        assert_eq!(find("❤️ ❤ ©"), ["❤️", "❤", "©"]);
        assert!(find("plain text, é and 日本").is_empty());
    }
}
