//! Cue phrases for intents and profanity, matched over lower-case words.
//!
//! The intent cue lists are ours (`data/intent/cues.tsv`): short, specific phrases written after
//! reading real support, complaint and shopping posts, chosen to say the intent on their own
//! ("still waiting", "where can i buy") rather than single words that often mean something else
//! ("terrible"). The profanity words come from better_profanity 0.7.0 (MIT), less the entries in
//! `data/intent/profanity_excluded.txt`; see `data/intent/README.md`.
//!
//! All phrases go into one table from first word to candidate tails, so a text costs one lookup
//! per word plus a short tail comparison where a first word matches.

use std::sync::LazyLock;

use crate::hash::FastMap;
use crate::sentiment::word_table::WordTable;

/// Bits of the intents a phrase signals.
pub mod bit {
    pub const QUESTION: u16 = 1 << 0;
    pub const COMPLAINT: u16 = 1 << 1;
    pub const PURCHASE: u16 = 1 << 2;
    pub const SUPPORT: u16 = 1 << 3;
    pub const RECOMMEND: u16 = 1 << 4;
    pub const GRATITUDE: u16 = 1 << 5;
    pub const CHURN: u16 = 1 << 6;
    pub const PROFANITY: u16 = 1 << 7;
    pub const HELP: u16 = 1 << 8;
}

pub(crate) static CUES: &str = include_str!("../../data/intent/cues.tsv");
/// Entries of the better_profanity list we do not count (reasons in the file's header).
static PROFANITY_EXCLUDED: &str = include_str!("../../data/intent/profanity_excluded.txt");

/// The [`bit`] of an intent name in `cues.tsv`.
pub(crate) fn intent_bit(name: &str) -> Option<u16> {
    Some(match name {
        "question" => bit::QUESTION,
        "complaint" => bit::COMPLAINT,
        "purchase" => bit::PURCHASE,
        "support" => bit::SUPPORT,
        "help" => bit::HELP,
        "recommendation" => bit::RECOMMEND,
        "gratitude" => bit::GRATITUDE,
        "churn" => bit::CHURN,
        _ => return None,
    })
}

/// Non-comment, non-blank lines of a data file.
pub(crate) fn data_lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

static PROFANITY_LIST: &str = include_str!("../../data/intent/profanity_wordlist.txt");

/// Phrases to match, as tails by first word.
#[derive(Debug)]
pub struct Phrases {
    first: WordTable<u32>,
    tails: Vec<Vec<(Vec<&'static str>, u16)>>,
}

/// Collects phrases before they are frozen into [`Phrases`].
#[derive(Debug, Default)]
struct Builder {
    first: FastMap<&'static str, Vec<(Vec<&'static str>, u16)>>,
}

impl Builder {
    fn add(&mut self, phrase: &'static str, bits: u16) {
        let mut words = phrase.split(' ').filter(|w| !w.is_empty());
        let Some(first) = words.next() else {
            return;
        };
        let tail: Vec<&'static str> = words.collect();
        let list = self.first.entry(first).or_default();
        match list.iter_mut().find(|(t, _)| *t == tail) {
            Some((_, b)) => *b |= bits,
            None => list.push((tail, bits)),
        }
    }

    fn build(self) -> Phrases {
        let mut tails = Vec::with_capacity(self.first.len());
        let mut index = Vec::with_capacity(self.first.len());
        for (w, list) in self.first {
            index.push((w, tails.len() as u32));
            tails.push(list);
        }
        Phrases {
            first: WordTable::new(index),
            tails,
        }
    }
}

/// The intent cue phrases and the profanity words, in one table so a text is scanned once.
pub static PHRASES: LazyLock<Phrases> = LazyLock::new(|| {
    let mut p = Builder::default();
    for line in data_lines(CUES) {
        if let Some((intent, phrase)) = line.split_once('\t')
            && let Some(b) = intent_bit(intent)
        {
            p.add(phrase, b);
        }
    }
    let excluded: std::collections::HashSet<&str> = data_lines(PROFANITY_EXCLUDED).collect();
    for w in PROFANITY_LIST.lines().map(str::trim) {
        // Entries with capitals ("LEN", "aSanchez") are not words anyone types lower-case.
        if !w.is_empty() && !w.bytes().any(|b| b.is_ascii_uppercase()) && !excluded.contains(w) {
            p.add(w, bit::PROFANITY);
        }
    }
    p.build()
});

/// Whether word `w` equals pattern `p`, treating the typographic apostrophe as `'`.
#[inline]
fn word_eq(w: &str, p: &str) -> bool {
    w == p
        || (!w.is_ascii() && w.contains('\u{2019}') && w.chars().map(fold_apostrophe).eq(p.chars()))
}

#[inline]
fn fold_apostrophe(c: char) -> char {
    if c == '\u{2019}' { '\'' } else { c }
}

/// What the cue phrases found in a sequence of lower-case words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Found {
    /// Union of [`bit`]s.
    pub bits: u16,
    /// Profanity words and phrases matched.
    pub profanity: usize,
}

/// Matches every phrase starting at every word; `word(i)` is the `i`-th of `n` lower-case words.
pub fn scan<'w>(n: usize, word: impl Fn(usize) -> &'w str) -> Found {
    let p = &*PHRASES;
    let mut found = Found::default();
    let mut folded = String::new();
    for i in 0..n {
        let w = word(i);
        let key = if !w.is_ascii() && w.contains('\u{2019}') {
            folded.clear();
            folded.extend(w.chars().map(fold_apostrophe));
            folded.as_str()
        } else {
            w
        };
        let Some(cands) = p.first.get(key).and_then(|&i| p.tails.get(i as usize)) else {
            continue;
        };
        for (tail, bits) in cands {
            if i + tail.len() < n
                && tail
                    .iter()
                    .enumerate()
                    .all(|(k, t)| word_eq(word(i + 1 + k), t))
            {
                found.bits |= bits;
                if bits & bit::PROFANITY != 0 {
                    found.profanity += 1;
                }
            }
        }
    }
    found
}
