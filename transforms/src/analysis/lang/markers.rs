//! Tie-breaking between close relatives (Danish/Norwegian/Swedish, Dutch/Afrikaans,
//! Indonesian/Malay, Croatian/Slovenian, Czech/Slovak, the Iberian languages,
//! Hindi/Marathi/Nepali, Russian/Bulgarian/Ukrainian) by common words that only one of them uses.
//!
//! Character n-grams separate these pairs poorly on a dozen words, and langid.py's priors lean
//! towards whichever had more training text. When the model's best language has such relatives,
//! each marker word of one of them found in the text adds [`BONUS`] to its score
//! (at most [`MAX_HITS`] times). The lists (`words`) are our own, from the languages' grammar
//! and everyday vocabulary: function words, pronouns, weekdays, spelling variants.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::model::SCALE;

mod words;
use words::{ENGLISH, MARKERS};

/// Score added per marker word: 4 nats, about the gap of a close call on a short post.
pub const BONUS: i32 = (4.0 * SCALE) as i32;
/// Marker words counted per language at most.
pub const MAX_HITS: i32 = 3;
/// Score per marker word between Dutch and Afrikaans: 6 nats. langid.py's prior puts Dutch 3.6
/// nats ahead of Afrikaans (more training text), so two Afrikaans-only words at 4 nats could not
/// outweigh it on a formal sentence.
const NL_AF_BONUS: i32 = (6.0 * SCALE) as i32;

/// Groups of languages that the markers arbitrate between.
const CLUSTERS: &[&[&str]] = &[
    &["da", "no", "sv"],
    &["nl", "af"],
    &["id", "ms"],
    &["hr", "sl", "sr", "bs"],
    &["cs", "sk"],
    &["es", "gl", "ca", "pt", "fr", "it"],
    &["hi", "mr", "ne"],
    &["ru", "bg", "uk", "mk", "be", "sr"],
];

/// Whether `a` and `b` are relatives the markers arbitrate between.
#[cfg(test)]
pub fn close(a: &str, b: &str) -> bool {
    CLUSTERS.iter().any(|c| c.contains(&a) && c.contains(&b))
}

/// Adds marker bonuses to `score` (one entry per language of `langs`) for the words of `buf`
/// (the scanner's buffer: words separated by single spaces). Only the languages of `anchor`'s
/// cluster (`anchor` is the model's best guess) take part; nothing happens outside clusters.
pub fn boost(anchor: &str, langs: &[&str], score: &mut [i32], buf: &[u8]) {
    let cluster = CLUSTERS.iter().find(|c| c.contains(&anchor));
    let english = (anchor != "en")
        .then(|| langs.iter().position(|l| *l == "en"))
        .flatten();
    if cluster.is_none() && english.is_none() {
        return;
    }
    let mut hits = [0i32; super::model::MAX_LANGS];
    // Dutch writes the digraph "ij" where Afrikaans writes "y" (vrij/vry, bij/by), and English
    // never does. (A "y" is no sign of Afrikaans: English words have it too.)
    let dutch = cluster
        .is_some_and(|c| c.contains(&"af"))
        .then(|| langs.iter().position(|l| *l == "nl"))
        .flatten();
    for word in buf.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
        if let Some(nl) = dutch
            && word.windows(2).any(|p| p.eq_ignore_ascii_case(b"ij"))
        {
            hits[nl] = (hits[nl] + 1).min(MAX_HITS);
        }
        let Ok(word) = std::str::from_utf8(word) else {
            continue;
        };
        // The scanner keeps case; markers are lower-case.
        let lower;
        let word = if word.chars().any(crate::unicode::is_uppercase) {
            lower = crate::unicode::to_lowercase(word);
            lower.as_str()
        } else {
            word
        };
        let Some(marked) = INDEX.get(word) else {
            continue;
        };
        for &lang in marked {
            let i = if lang == "en" {
                english
            } else if cluster.is_some_and(|c| c.contains(&lang)) {
                langs.iter().position(|l| *l == lang)
            } else {
                None
            };
            if let Some(i) = i {
                hits[i] = (hits[i] + 1).min(MAX_HITS);
            }
        }
    }
    let bonus = if cluster.is_some_and(|c| c.contains(&"af")) {
        NL_AF_BONUS
    } else {
        BONUS
    };
    for (i, (s, h)) in score.iter_mut().zip(hits).enumerate() {
        // English words arbitrate at the common rate whatever the cluster.
        *s += h * if Some(i) == english { BONUS } else { bonus };
    }
}

/// Marker word → the languages it marks (English included), built once.
static INDEX: LazyLock<HashMap<&'static str, Vec<&'static str>>> = LazyLock::new(|| {
    let mut index: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
    let all = MARKERS
        .iter()
        .copied()
        .chain(std::iter::once(("en", ENGLISH)));
    for (lang, words) in all {
        for w in words {
            index.entry(*w).or_default().push(lang);
        }
    }
    index
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_languages_are_in_clusters() {
        for (lang, words) in MARKERS {
            assert!(CLUSTERS.iter().any(|c| c.contains(lang)), "{lang}");
            assert!(words.iter().all(|w| w.chars().all(|c| !c.is_uppercase())));
        }
        assert!(close("da", "no") && close("no", "sv") && !close("en", "da"));
    }

    #[test]
    fn dutch_and_afrikaans_markers_weigh_more_and_ij_is_dutch() {
        let langs = ["nl", "af", "en"];
        let mut score = [0; 3];
        boost(
            "nl",
            &langs,
            &mut score,
            " ek het nie tyd vir hierdie ".as_bytes(),
        );
        assert_eq!(score, [0, MAX_HITS * NL_AF_BONUS, 0]);
        let mut score = [0; 3];
        boost("af", &langs, &mut score, " ik ben vrij blij ".as_bytes());
        assert_eq!(score, [MAX_HITS * NL_AF_BONUS, 0, 0]);
        // English words in a Dutch-looking post still count at the common rate.
        let mut score = [0; 3];
        boost("nl", &langs, &mut score, " very funny you're ".as_bytes());
        assert_eq!(score, [0, 0, 2 * BONUS]);
    }

    #[test]
    fn markers_count_whole_words_up_to_the_cap() {
        let langs = ["da", "no", "sv", "en"];
        let mut score = [0; 4];
        boost(
            "da",
            &langs,
            &mut score,
            " jeg vet ikke hva du mener med meg og deg igjen ".as_bytes(),
        );
        assert_eq!(score, [0, MAX_HITS * BONUS, 0, 0]);
        let mut score = [0; 4];
        boost("en", &langs, &mut score, " hva meg ".as_bytes());
        assert_eq!(score, [0; 4]);
        // English function words count for English whatever the anchor.
        let mut score = [0; 4];
        boost("da", &langs, &mut score, " I love the snow ".as_bytes());
        assert_eq!(score, [0, 0, 0, 2 * BONUS]);
    }
}
