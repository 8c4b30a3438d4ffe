//! Text emoticons (`:)`, `:-(`, `<3`, `xD`, `¯\_(ツ)_/¯` …): a whitespace-delimited token that is
//! exactly an emoticon, possibly followed by `.`, `,`, `!` or `?`. Polarity comes from the VADER
//! lexicon's valence where VADER lists the emoticon (see `data/entities/README.md`).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::LazyLock;

/// Positive, negative or neutral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    Positive,
    Negative,
    Neutral,
}

/// One emoticon found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emoticon {
    pub range: Range<usize>,
    pub polarity: Polarity,
}

#[derive(Debug)]
struct Table {
    by_text: HashMap<&'static str, Polarity>,
    /// First bytes of the listed emoticons (and of the shrug).
    first: [bool; 256],
    /// Second bytes of the listed emoticons (0 for one-byte ones, which we do not list).
    second: [bool; 256],
    max_len: usize,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut t = Table {
        by_text: HashMap::new(),
        first: [false; 256],
        second: [false; 256],
        max_len: 0,
    };
    for line in include_str!("../../../data/entities/emoticons.tsv").lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut cols = line.split('\t');
        let (Some(e), Some(p)) = (cols.next(), cols.next()) else {
            continue;
        };
        let p = match p {
            "+" => Polarity::Positive,
            "-" => Polarity::Negative,
            _ => Polarity::Neutral,
        };
        if is_shrug(e) {
            continue; // matched by shape, however it is escaped
        }
        let b = e.as_bytes();
        t.first[usize::from(b[0])] = true;
        t.second[usize::from(b.get(1).copied().unwrap_or(0))] = true;
        t.max_len = t.max_len.max(e.len());
        t.by_text.insert(e, p);
    }
    t.first[0xc2] = true; // '¯', the shrug
    t
});

/// The shrug, however its backslash and underscores are escaped (Markdown doubles them).
fn is_shrug(token: &str) -> bool {
    token.starts_with('¯') && token.contains("(ツ)") && token.ends_with('¯')
}

/// Whether a token may begin at byte `i`: at the start or after white space.
fn token_starts_at(text: &str, i: usize) -> bool {
    match text.as_bytes()[..i].last() {
        None => true,
        Some(&b) if b < 0x80 => b.is_ascii_whitespace(),
        Some(_) => super::chars::char_before(text, i).is_some_and(char::is_whitespace),
    }
}

/// The end of the token starting at `i`, if it ends within `max` bytes.
fn token_end(text: &str, i: usize, max: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut k = i;
    while k < b.len() {
        if b[k] < 0x80 {
            if b[k].is_ascii_whitespace() {
                break;
            }
            k += 1;
        } else {
            let c = super::chars::char_at(text, k)?;
            if c.is_whitespace() {
                break;
            }
            k += c.len_utf8();
        }
        if k - i > max {
            return None;
        }
    }
    Some(k)
}

/// Every emoticon in `text`, in order.
pub fn emoticons(text: &str, out: &mut Vec<Emoticon>) {
    let t = &*TABLE;
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let second = b.get(i + 1).copied().unwrap_or(0);
        if !t.first[usize::from(b[i])]
            || !(t.second[usize::from(second)] || b[i] == 0xc2)
            || !token_starts_at(text, i)
        {
            i += 1;
            continue;
        }
        let shrug = b[i] == 0xc2;
        let max = if shrug { 64 } else { t.max_len + 3 };
        let Some(end) = token_end(text, i, max) else {
            i += 1;
            continue;
        };
        let token = &text[i..end];
        let hit = if shrug {
            is_shrug(token).then_some((token.len(), Polarity::Neutral))
        } else {
            t.by_text.get(token).map(|&p| (token.len(), p)).or_else(|| {
                let core = token.trim_end_matches(['.', ',', '!', '?']);
                if core.is_empty() || core.len() == token.len() {
                    return None;
                }
                t.by_text.get(core).map(|&p| (core.len(), p))
            })
        };
        if let Some((len, polarity)) = hit {
            out.push(Emoticon {
                range: i..i + len,
                polarity,
            });
        }
        i = end.max(i + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<(&str, Polarity)> {
        let mut out = Vec::new();
        emoticons(text, &mut out);
        out.iter()
            .map(|e| (&text[e.range.clone()], e.polarity))
            .collect()
    }

    #[test]
    fn finds_emoticons_as_tokens() {
        use Polarity::*;
        assert_eq!(
            find("great :) but :-( meh <3! xD"),
            [
                (":)", Positive),
                (":-(", Negative),
                ("<3", Positive),
                ("xD", Positive)
            ]
        );
        assert_eq!(find(r"oh well ¯\\_(ツ)_/¯"), [(r"¯\\_(ツ)_/¯", Neutral)]);
        assert!(find("http://x.com/:) a:b (see 3:)").is_empty());
    }
}
