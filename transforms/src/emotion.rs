//! Emotion: word counts in the emotion categories of the Empath lexicon (Fast, Chen & Bernstein,
//! CHI 2016; MIT licence, see `data/emotion/README.md`).
//!
//! Empath's categories were grown from seed words over word embeddings and checked by crowd
//! workers; we use the 26 that name an emotion, Plutchik's eight basic emotions among them.
//! Counting follows Empath's `analyze` with its bigram tokenizer: every word, and every pair of
//! adjacent words (its `worst_part`-style terms), that is a term of a category adds one to that
//! category. Words are [`Analysis::lower_words`]; one map lookup per word gives a bit set of
//! categories, so the cost is one pass over the words.

use std::sync::LazyLock;

use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::hash::FastMap;
use crate::registry::{FieldSpec, FieldWriter, fields};
use crate::sentiment::word_table::WordTable;

#[cfg(test)]
mod tests;

pub const EXTRACTORS: &[&dyn Extractor] = &[&Emotions];

/// Empath emotion category counts and the dominant emotion.
#[derive(Debug)]
pub struct Emotions;

/// Empath category names, in field order. The first eight are Plutchik's basic emotions, the
/// candidates for `emotion_dominant`.
pub const CATEGORIES: [&str; 26] = [
    "joy",
    "anger",
    "fear",
    "sadness",
    "surprise",
    "disgust",
    "trust",
    "anticipation",
    "love",
    "hate",
    "rage",
    "envy",
    "shame",
    "pride",
    "nervousness",
    "optimism",
    "affection",
    "contentment",
    "cheerfulness",
    "disappointment",
    "sympathy",
    "horror",
    "confusion",
    "suffering",
    "positive_emotion",
    "negative_emotion",
];

const PLUTCHIK: usize = 8;
const N: usize = CATEGORIES.len();

macro_rules! count_field {
    ($name:literal, $what:literal) => {
        FieldSpec::int(
            $name,
            concat!("Words in Empath's ", $what, " category (MIT lexicon)."),
        )
    };
}

fields! {
    const FIELDS, mod f = [
        /// One count per category, in [`super::CATEGORIES`] order.
        COUNTS => [
            count_field!("emotion_joy", "joy"),
            count_field!("emotion_anger", "anger"),
            count_field!("emotion_fear", "fear"),
            count_field!("emotion_sadness", "sadness"),
            count_field!("emotion_surprise", "surprise"),
            count_field!("emotion_disgust", "disgust"),
            count_field!("emotion_trust", "trust"),
            count_field!("emotion_anticipation", "anticipation"),
            count_field!("emotion_love", "love"),
            count_field!("emotion_hate", "hate"),
            count_field!("emotion_rage", "rage"),
            count_field!("emotion_envy", "envy"),
            count_field!("emotion_shame", "shame"),
            count_field!("emotion_pride", "pride"),
            count_field!("emotion_nervousness", "nervousness"),
            count_field!("emotion_optimism", "optimism"),
            count_field!("emotion_affection", "affection"),
            count_field!("emotion_contentment", "contentment"),
            count_field!("emotion_cheerfulness", "cheerfulness"),
            count_field!("emotion_disappointment", "disappointment"),
            count_field!("emotion_sympathy", "sympathy"),
            count_field!("emotion_horror", "horror"),
            count_field!("emotion_confusion", "confusion"),
            count_field!("emotion_suffering", "suffering"),
            FieldSpec::int(
                "emotion_positive",
                "Words and phrases in Empath's positive_emotion category (MIT lexicon).",
            ),
            FieldSpec::int(
                "emotion_negative",
                "Words and phrases in Empath's negative_emotion category (MIT lexicon).",
            ),
        ],
        DOMINANT => FieldSpec::str(
            "emotion_dominant",
            "The Plutchik emotion (joy, anger, fear, sadness, surprise, disgust, trust, anticipation) with most words; ties go to the first seen; null when none.",
        )
        .nullable(),
        WORDS => FieldSpec::int(
            "emotion_words",
            "Words and phrases in at least one of the 26 Empath emotion categories.",
        ),
        CATEGORIES => FieldSpec::int(
            "emotion_categories",
            "How many of the 26 Empath emotion categories have at least one word.",
        ),
        DENSITY => FieldSpec::float(
            "emotion_density",
            "Emotion words and phrases per word of text (0 for text without words).",
        ),
    ]
}

// One count field per category.
const _: () = assert!(f::DOMINANT == N);

static DATA: &str = include_str!("../data/emotion/empath_emotions.tsv");

/// Bit set over [`CATEGORIES`]; bit 31 marks a word that starts a two-word term.
type Mask = u32;
const PHRASE_START: Mask = 1 << 31;

#[derive(Debug)]
struct Lexicon {
    words: WordTable<Mask>,
    /// Two-word terms (Empath writes them `first_second`).
    pairs: Vec<(&'static str, &'static str, Mask)>,
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
    let mut words: FastMap<&'static str, Mask> = FastMap::default();
    let mut pairs: Vec<(&'static str, &'static str, Mask)> = Vec::new();
    for line in DATA.lines() {
        let mut cols = line.split('\t');
        let Some(bit) = cols
            .next()
            .and_then(|name| CATEGORIES.iter().position(|c| *c == name))
        else {
            continue;
        };
        let bit: Mask = 1 << bit;
        for term in cols.filter(|t| !t.is_empty()) {
            // A term also matches as one token written with underscores, as in Empath.
            *words.entry(term).or_default() |= bit;
            // Two-word terms match adjacent words; longer ones match no Empath tokenizer.
            if let Some((a, b)) = term.split_once('_')
                && !b.contains('_')
            {
                *words.entry(a).or_default() |= PHRASE_START;
                match pairs.iter_mut().find(|p| p.0 == a && p.1 == b) {
                    Some(p) => p.2 |= bit,
                    None => pairs.push((a, b, bit)),
                }
            }
        }
    }
    Lexicon {
        words: WordTable::new(words),
        pairs,
    }
});

/// Category counts for a sequence of lower-case words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Per category of [`CATEGORIES`].
    pub per_category: [u32; N],
    /// Index in [`CATEGORIES`] of the dominant Plutchik emotion.
    pub dominant: Option<usize>,
    /// Words and two-word phrases in any category.
    pub hits: usize,
}

/// Counts the emotion words among `words` (lower-case).
pub fn count<'w>(words: impl IntoIterator<Item = &'w str>) -> Counts {
    let lex = &*LEXICON;
    let mut c = Counts::default();
    let mut first_seen = [usize::MAX; PLUTCHIK];
    let mut add = |mask: Mask, at: usize, c: &mut Counts| {
        let mask = mask & !PHRASE_START;
        if mask == 0 {
            return;
        }
        c.hits += 1;
        let mut m = mask;
        while m != 0 {
            let i = m.trailing_zeros() as usize;
            c.per_category[i] += 1;
            if i < PLUTCHIK && first_seen[i] == usize::MAX {
                first_seen[i] = at;
            }
            m &= m - 1;
        }
    };
    let mut prev: Option<&str> = None;
    for (at, w) in words.into_iter().enumerate() {
        if let Some(p) = prev.take()
            && let Some(&(_, _, mask)) = lex.pairs.iter().find(|t| t.0 == p && t.1 == w)
        {
            add(mask, at, &mut c);
        }
        let mask = lex.words.get(w).copied().unwrap_or(0);
        add(mask, at, &mut c);
        if mask & PHRASE_START != 0 {
            prev = Some(w);
        }
    }
    c.dominant = (0..PLUTCHIK)
        .filter(|&i| c.per_category[i] > 0)
        .max_by(|&a, &b| {
            c.per_category[a]
                .cmp(&c.per_category[b])
                .then(first_seen[b].cmp(&first_seen[a]))
        });
    c
}

impl Extractor for Emotions {
    fn name(&self) -> &'static str {
        "emotion"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let words = a.lower_words();
        let c = count(words.iter());
        for (i, &n) in c.per_category.iter().enumerate() {
            out.int(f::COUNTS + i, i64::from(n));
        }
        match c.dominant {
            Some(i) => out.str(f::DOMINANT, CATEGORIES[i]),
            None => out.null(f::DOMINANT),
        }
        out.count(f::WORDS, c.hits);
        out.count(
            f::CATEGORIES,
            c.per_category.iter().filter(|&&n| n > 0).count(),
        );
        let density = if words.is_empty() {
            0.0
        } else {
            c.hits as f64 / words.len() as f64
        };
        out.float(f::DENSITY, density);
    }
}
