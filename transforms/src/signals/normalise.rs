//! Word normalisation shared by queries and mentions: NFKC, full case folding, and (by default)
//! removal of diacritics, optionally followed by a Snowball stemmer.
//!
//! Queries and mentions go through exactly the same functions, so a term matches a token when
//! their normal forms are equal. ASCII words (most of them) take a fast path: NFKC and diacritic
//! removal are the identity on ASCII, and case folding is `to_ascii_lowercase`.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::casefold_table::FOLD_EXCEPTIONS;

/// A Snowball stemmer language for signals that match stems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StemLanguage {
    Arabic,
    Danish,
    Dutch,
    English,
    Finnish,
    French,
    German,
    Greek,
    Hungarian,
    Italian,
    Norwegian,
    Portuguese,
    Romanian,
    Russian,
    Spanish,
    Swedish,
    Tamil,
    Turkish,
}

impl StemLanguage {
    fn algorithm(self) -> rust_stemmers::Algorithm {
        use rust_stemmers::Algorithm as A;
        match self {
            StemLanguage::Arabic => A::Arabic,
            StemLanguage::Danish => A::Danish,
            StemLanguage::Dutch => A::Dutch,
            StemLanguage::English => A::English,
            StemLanguage::Finnish => A::Finnish,
            StemLanguage::French => A::French,
            StemLanguage::German => A::German,
            StemLanguage::Greek => A::Greek,
            StemLanguage::Hungarian => A::Hungarian,
            StemLanguage::Italian => A::Italian,
            StemLanguage::Norwegian => A::Norwegian,
            StemLanguage::Portuguese => A::Portuguese,
            StemLanguage::Romanian => A::Romanian,
            StemLanguage::Russian => A::Russian,
            StemLanguage::Spanish => A::Spanish,
            StemLanguage::Swedish => A::Swedish,
            StemLanguage::Tamil => A::Tamil,
            StemLanguage::Turkish => A::Turkish,
        }
    }
}

/// How a word is turned into the form that terms are compared in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flavor {
    /// Keep diacritics (`café` ≠ `cafe`). Off by default.
    pub keep_accents: bool,
    /// Compare Snowball stems instead of whole words.
    pub stem: Option<StemLanguage>,
}

impl Flavor {
    /// The same flavor without stemming: the form prefix wildcards are matched against.
    pub fn unstemmed(self) -> Flavor {
        Flavor { stem: None, ..self }
    }
}

/// A ready-to-use normaliser for one flavor (holds the stemmer).
pub struct Normaliser {
    flavor: Flavor,
    stemmer: Option<rust_stemmers::Stemmer>,
}

impl std::fmt::Debug for Normaliser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Normaliser({:?})", self.flavor)
    }
}

impl Normaliser {
    pub fn new(flavor: Flavor) -> Normaliser {
        Normaliser {
            flavor,
            stemmer: flavor
                .stem
                .map(|l| rust_stemmers::Stemmer::create(l.algorithm())),
        }
    }

    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// Replaces `out` with the normal form of `word`; `scratch` is a reusable buffer.
    pub fn normalise_into(&self, word: &str, out: &mut String, scratch: &mut String) {
        out.clear();
        match &self.stemmer {
            None => fold_into(word, self.flavor.keep_accents, out),
            Some(stemmer) => {
                // Snowball stemmers expect lower-case words with their accents.
                scratch.clear();
                fold_into(word, true, scratch);
                let stem = stemmer.stem(scratch);
                if self.flavor.keep_accents {
                    out.push_str(&stem);
                } else {
                    fold_into(&stem, false, out);
                }
            }
        }
    }

    /// The normal form of `word` (allocates; for queries and tests).
    pub fn normalise(&self, word: &str) -> String {
        let (mut out, mut scratch) = (String::new(), String::new());
        self.normalise_into(word, &mut out, &mut scratch);
        out
    }
}

/// Appends NFKC + full case folding of `word` to `out`, without diacritics unless
/// `keep_accents`.
pub fn fold_into(word: &str, keep_accents: bool, out: &mut String) {
    if word.is_ascii() {
        out.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        return;
    }
    // NFKD, fold, decompose what folding recomposed, drop diacritics, recompose (NFKC).
    let folded = word.nfkd().flat_map(fold_char).nfkd();
    if keep_accents {
        out.extend(folded.nfkc());
    } else {
        out.extend(folded.filter(|&c| !is_diacritic(c)).nfkc());
    }
}

/// The full case folding of one char, as an iterator. Typographic apostrophes (U+2019, U+02BC,
/// U+2018) fold to `'`, so `can't` matches "Can’t".
fn fold_char(c: char) -> FoldChar {
    if c.is_ascii() {
        return FoldChar::One(Some(c.to_ascii_lowercase()));
    }
    if matches!(c, '\u{2019}' | '\u{02BC}' | '\u{2018}') {
        return FoldChar::One(Some('\''));
    }
    match FOLD_EXCEPTIONS.binary_search_by_key(&c, |&(k, _)| k) {
        Ok(i) => FoldChar::Table(FOLD_EXCEPTIONS[i].1.chars()),
        Err(_) => FoldChar::Lower(c.to_lowercase()),
    }
}

enum FoldChar {
    One(Option<char>),
    Lower(std::char::ToLowercase),
    Table(std::str::Chars<'static>),
}

impl Iterator for FoldChar {
    type Item = char;
    fn next(&mut self) -> Option<char> {
        match self {
            FoldChar::One(c) => c.take(),
            FoldChar::Lower(it) => it.next(),
            FoldChar::Table(it) => it.next(),
        }
    }
}

/// The sub-words a term may also match inside a token (see QUERY_LANGUAGE.md, "Word
/// boundaries"): a token joined by `.` or `_` ("reddit.com", "incremental_games", a URL's host)
/// gives its parts, and a possessive ("Obama's", "players’") gives its base. Empty when the
/// token is one plain word. Other apostrophes are not split: `can` must not match "can't".
pub fn sub_words(token: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let joined = token.contains(['.', '_']);
    let parts = token.split(['.', '_']).filter(|p| !p.is_empty());
    for part in parts {
        let base = possessive_base(part);
        if joined || base.len() < part.len() {
            out.push(base);
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// `word` without a possessive ending: `'s` (any apostrophe, any case) or the apostrophe after
/// a plural `s`.
fn possessive_base(word: &str) -> &str {
    for apostrophe in ['\'', '\u{2019}', '\u{02BC}'] {
        let a = apostrophe.len_utf8();
        if let Some(base) = word
            .strip_suffix(['s', 'S'])
            .and_then(|w| w.strip_suffix(apostrophe))
        {
            return base;
        }
        if word.ends_with(apostrophe) && word[..word.len() - a].ends_with(['s', 'S']) {
            return &word[..word.len() - a];
        }
    }
    word
}

/// Marks removed for diacritic-insensitive matching: the generic combining diacritics used with
/// Latin, Greek and Cyrillic, Hebrew points and Arabic harakat. Marks that are letters of their
/// script (Indic vowel signs, kana voicing marks) are kept.
pub fn is_diacritic(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{0591}'..='\u{05BD}'
        | '\u{05BF}'
        | '\u{05C1}'..='\u{05C2}'
        | '\u{05C4}'..='\u{05C5}'
        | '\u{05C7}'
        | '\u{0610}'..='\u{061A}'
        | '\u{064B}'..='\u{065F}'
        | '\u{0670}'
        | '\u{06D6}'..='\u{06DC}'
        | '\u{06DF}'..='\u{06E4}'
        | '\u{06E7}'..='\u{06E8}'
        | '\u{06EA}'..='\u{06ED}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(s: &str) -> String {
        Normaliser::new(Flavor::default()).normalise(s)
    }

    fn fold_accents(s: &str) -> String {
        Normaliser::new(Flavor {
            keep_accents: true,
            stem: None,
        })
        .normalise(s)
    }

    #[test]
    fn folds_case_width_ligatures_and_diacritics() {
        assert_eq!(fold("Climate"), "climate");
        assert_eq!(fold("CAFÉ"), "cafe");
        assert_eq!(fold("cafe\u{301}"), "cafe");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("ＡＢＣ"), "abc");
        assert_eq!(fold("ﬁre"), "fire");
        assert_eq!(fold("ΣΟΦΟΣ"), fold("σοφος"));
        assert_eq!(fold("σοφος"), "σοφοσ");
        assert_eq!(fold("Ǆ"), "dz");
        assert_eq!(fold("naïve"), "naive");
        assert_eq!(fold("Ørsted"), "ørsted", "ø is a letter, not o + mark");
    }

    #[test]
    fn keeps_accents_when_asked() {
        assert_eq!(fold_accents("CAFÉ"), "café");
        assert_eq!(fold_accents("cafe\u{301}"), "café");
        assert_eq!(fold_accents("Straße"), "strasse");
    }

    #[test]
    fn keeps_script_letters_that_are_marks() {
        assert_eq!(fold("हिंदी"), "हिंदी");
        assert_eq!(fold("が"), "が");
        assert_eq!(fold("שָׁלוֹם"), "שלום");
    }

    #[test]
    fn stems_after_folding() {
        let n = Normaliser::new(Flavor {
            keep_accents: false,
            stem: Some(StemLanguage::English),
        });
        assert_eq!(n.normalise("Running"), "run");
        assert_eq!(n.normalise("runs"), "run");
        let fr = Normaliser::new(Flavor {
            keep_accents: false,
            stem: Some(StemLanguage::French),
        });
        assert_eq!(fr.normalise("Élections"), fr.normalise("election"));
    }

    #[test]
    fn typographic_apostrophes_fold_to_ascii() {
        assert_eq!(fold("Can\u{2019}t"), "can't");
        assert_eq!(fold("can\u{02BC}t"), "can't");
    }

    #[test]
    fn sub_words_split_joined_tokens_and_possessives_only() {
        assert_eq!(sub_words("reddit.com"), ["reddit", "com"]);
        assert_eq!(sub_words("incremental_games"), ["incremental", "games"]);
        assert_eq!(sub_words("Obama's"), ["Obama"]);
        assert_eq!(sub_words("python\u{2019}s"), ["python"]);
        assert_eq!(sub_words("players'"), ["players"]);
        assert_eq!(
            sub_words("news.ycombinator.com's"),
            ["news", "ycombinator", "com"]
        );
        assert!(sub_words("can't").is_empty(), "a contraction is not split");
        assert!(sub_words("plain").is_empty());
        assert!(sub_words("_").is_empty());
    }

    #[test]
    fn fold_table_is_sorted() {
        assert!(FOLD_EXCEPTIONS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
