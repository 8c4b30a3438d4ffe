//! Readability: the English formulas of textstat 0.7.8 (`lang = "en_US"`), reimplemented to
//! agree with it (syllables from CMUdict, else Liang hyphenation over Pyphen's US English
//! patterns; textstat's own word, sentence and punctuation rules).
//!
//! The formulas are English ones. They are computed for every text, whatever its language, so a
//! column never changes meaning with the language detector's mood; filter on `lang` when only
//! English makes sense. For other languages the counts (`lexicon_count`, `sentence_count`,
//! `letter_count`, `long_word_count`, `miniword_count`, `reading_time_seconds`) remain meaningful,
//! while syllable-based scores fall back to one syllable per unknown word.

mod formulas;
mod hyphen;
mod lexicon;
mod pyclass;
mod scan;
#[cfg(test)]
mod tests;

use std::cell::RefCell;

use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::registry::{FieldSpec, FieldWriter, fields};

pub use lexicon::warm_up;

pub const EXTRACTORS: &[&dyn Extractor] = &[&Readability];

/// textstat-compatible readability scores and the counts behind them.
#[derive(Debug)]
pub struct Readability;

fields! {
    const FIELDS, mod f = [
        FLESCH_READING_EASE => FieldSpec::float(
            "flesch_reading_ease",
            "Flesch reading ease (higher is easier; 60-70 plain English), as textstat 0.7.8 computes it.",
        ),
        FLESCH_KINCAID_GRADE => FieldSpec::float(
            "flesch_kincaid_grade",
            "Flesch-Kincaid US school grade level, as textstat 0.7.8 computes it.",
        ),
        SMOG_INDEX => FieldSpec::float(
            "smog_index",
            "SMOG grade from words of 3+ syllables per sentence, as textstat 0.7.8 computes it.",
        ),
        COLEMAN_LIAU_INDEX => FieldSpec::float(
            "coleman_liau_index",
            "Coleman-Liau grade from letters and sentences per 100 words, as textstat 0.7.8 computes it.",
        ),
        AUTOMATED_READABILITY_INDEX => FieldSpec::float(
            "automated_readability_index",
            "Automated readability index (grade from characters per word), as textstat 0.7.8 computes it.",
        ),
        GUNNING_FOG => FieldSpec::float(
            "gunning_fog",
            "Gunning fog grade (sentence length and unfamiliar 3+ syllable words), as textstat 0.7.8 computes it.",
        ),
        DALE_CHALL => FieldSpec::float(
            "dale_chall_score",
            "New Dale-Chall score from words outside the Dale-Chall familiar list, as textstat 0.7.8 computes it.",
        ),
        DALE_CHALL_V2 => FieldSpec::float(
            "dale_chall_score_v2",
            "Dale-Chall score counting only unfamiliar words of 2+ syllables (textstat 0.7.8's v2).",
        ),
        LINSEAR_WRITE => FieldSpec::float(
            "linsear_write_formula",
            "Linsear Write grade over the first 100 words, as textstat 0.7.8 computes it.",
        ),
        SPACHE => FieldSpec::float(
            "spache_readability",
            "Spache grade for young readers, as textstat 0.7.8 computes it.",
        ),
        LIX => FieldSpec::float(
            "lix",
            "LIX: words per sentence plus the percentage of words over 6 characters.",
        ),
        RIX => FieldSpec::float("rix", "RIX: words over 6 characters per sentence."),
        MCALPINE_EFLAW => FieldSpec::float(
            "mcalpine_eflaw",
            "McAlpine EFLAW for English learners: (words + words of at most 3 characters) per sentence.",
        ),
        GULPEASE => FieldSpec::float(
            "gulpease_index",
            "Gulpease index (0-100, higher is easier) from characters and sentences per word.",
        ),
        TEXT_STANDARD => FieldSpec::float(
            "text_standard_grade",
            "Consensus US grade that most of the grade formulas vote for (textstat's text_standard).",
        ),
        READING_TIME => FieldSpec::float(
            "reading_time_seconds",
            "Estimated reading time in seconds at 14.69 ms per non-space character (textstat's reading_time).",
        ),
        SYLLABLES => FieldSpec::int(
            "syllable_count",
            "English syllables in the words (CMUdict, else US English hyphenation patterns).",
        ),
        LEXICON => FieldSpec::int(
            "lexicon_count",
            "Words as textstat counts them: whitespace-separated after punctuation removal.",
        ),
        SENTENCES => FieldSpec::int(
            "sentence_count",
            "Sentences as textstat counts them (those of 2 words or fewer are not counted; at least 1).",
        ),
        POLYSYLLABLES => FieldSpec::int("polysyllable_count", "Words of 3 or more syllables."),
        MONOSYLLABLES => FieldSpec::int("monosyllable_count", "Words of exactly one syllable."),
        DIFFICULT_WORDS => FieldSpec::int(
            "difficult_words",
            "Distinct words of 2+ syllables that are not on the Dale-Chall familiar-word list.",
        ),
        LONG_WORDS => FieldSpec::int(
            "long_word_count",
            "Words longer than 6 characters (apostrophes not counted).",
        ),
        MINIWORDS => FieldSpec::int(
            "miniword_count",
            "Words of at most 3 characters (apostrophes not counted).",
        ),
        LETTERS => FieldSpec::int(
            "letter_count",
            "Letters and digits (word characters), as textstat's letter_count.",
        ),
        SYLLABLES_PER_WORD => FieldSpec::float(
            "avg_syllables_per_word",
            "Mean syllables per word (0 without words).",
        ),
        LETTERS_PER_WORD => FieldSpec::float(
            "avg_letters_per_word",
            "Mean letters and digits per word (0 without words).",
        ),
        CHARS_PER_WORD => FieldSpec::float(
            "avg_chars_per_word",
            "Mean non-space characters per whitespace token, punctuation included (0 without tokens).",
        ),
        WORDS_PER_SENTENCE => FieldSpec::float(
            "words_per_sentence",
            "Mean words per sentence as textstat counts both (0 for empty text).",
        ),
    ]
}

thread_local! {
    static BUFFERS: RefCell<scan::Buffers> = RefCell::new(scan::Buffers::default());
}

/// textstat's counts and scores for `text` (tests and the oracle comparison).
pub(crate) fn analyse(text: &str) -> (scan::Counts, formulas::Scores) {
    let counts = BUFFERS.with(|b| match b.try_borrow_mut() {
        Ok(mut b) => scan::count(text, &mut b),
        Err(_) => scan::count(text, &mut scan::Buffers::default()),
    });
    let scores = formulas::scores(&counts);
    (counts, scores)
}

impl Extractor for Readability {
    fn name(&self) -> &'static str {
        "readability"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let (c, s) = analyse(a.text);
        out.float(f::FLESCH_READING_EASE, s.flesch_reading_ease);
        out.float(f::FLESCH_KINCAID_GRADE, s.flesch_kincaid_grade);
        out.float(f::SMOG_INDEX, s.smog_index);
        out.float(f::COLEMAN_LIAU_INDEX, s.coleman_liau_index);
        out.float(
            f::AUTOMATED_READABILITY_INDEX,
            s.automated_readability_index,
        );
        out.float(f::GUNNING_FOG, s.gunning_fog);
        out.float(f::DALE_CHALL, s.dale_chall);
        out.float(f::DALE_CHALL_V2, s.dale_chall_v2);
        out.float(f::LINSEAR_WRITE, s.linsear_write);
        out.float(f::SPACHE, s.spache);
        out.float(f::LIX, s.lix);
        out.float(f::RIX, s.rix);
        out.float(f::MCALPINE_EFLAW, s.mcalpine_eflaw);
        out.float(f::GULPEASE, s.gulpease);
        out.float(f::TEXT_STANDARD, s.text_standard);
        out.float(f::READING_TIME, s.reading_time);
        out.int(f::SYLLABLES, i64::from(c.syllables));
        out.int(f::LEXICON, i64::from(c.words));
        out.int(f::SENTENCES, i64::from(c.sentences));
        out.int(f::POLYSYLLABLES, i64::from(c.poly));
        out.int(f::MONOSYLLABLES, i64::from(c.mono));
        out.int(f::DIFFICULT_WORDS, i64::from(c.hard2_unique));
        out.int(f::LONG_WORDS, i64::from(c.long_words));
        out.int(f::MINIWORDS, i64::from(c.mini_words));
        out.int(f::LETTERS, i64::from(c.letters));
        out.float(f::SYLLABLES_PER_WORD, s.syllables_per_word);
        out.float(f::LETTERS_PER_WORD, s.letters_per_word);
        out.float(f::CHARS_PER_WORD, s.chars_per_word);
        out.float(f::WORDS_PER_SENTENCE, s.words_per_sentence);
    }
}
