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
    /// First bytes of the listed emoticons.
    first: [bool; 256],
    max_len: usize,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut t = Table {
        by_text: HashMap::new(),
        first: [false; 256],
        max_len: 0,
    };
    for line in include_str!("../../data/entities/emoticons.tsv").lines() {
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
        t.first[usize::from(e.as_bytes()[0])] = true;
        t.max_len = t.max_len.max(e.len());
        t.by_text.insert(e, p);
    }
    t
});

/// The shrug, however its backslash and underscores are escaped (Markdown doubles them).
fn is_shrug(token: &str) -> bool {
    token.starts_with('¯') && token.contains("(ツ)") && token.ends_with('¯')
}

/// Every emoticon in `text`, in order.
pub fn emoticons(text: &str, out: &mut Vec<Emoticon>) {
    let t = &*TABLE;
    let base = text.as_ptr() as usize;
    for token in text.split_whitespace() {
        let start = token.as_ptr() as usize - base;
        let first = token.as_bytes()[0];
        if first == 0xc2 && is_shrug(token) {
            out.push(Emoticon {
                range: start..start + token.len(),
                polarity: Polarity::Neutral,
            });
            continue;
        }
        if !t.first[usize::from(first)] || token.len() > t.max_len + 3 {
            continue;
        }
        let hit = t.by_text.get(token).map(|&p| (token.len(), p)).or_else(|| {
            let core = token.trim_end_matches(['.', ',', '!', '?']);
            if core.is_empty() || core.len() == token.len() {
                return None;
            }
            t.by_text.get(core).map(|&p| (core.len(), p))
        });
        if let Some((len, polarity)) = hit {
            out.push(Emoticon {
                range: start..start + len,
                polarity,
            });
        }
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
