//! textstat 0.7.8's formulas over [`Counts`], with its zero-division rules (a formula whose
//! denominator is zero is 0.0) and its operation order, so results agree to the last bit.

use super::scan::Counts;

/// Every score textstat computes for English (`lang = "en_US"`), unrounded.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Scores {
    pub flesch_reading_ease: f64,
    pub flesch_kincaid_grade: f64,
    pub smog_index: f64,
    pub coleman_liau_index: f64,
    pub automated_readability_index: f64,
    pub gunning_fog: f64,
    pub dale_chall: f64,
    pub dale_chall_v2: f64,
    pub linsear_write: f64,
    pub spache: f64,
    pub lix: f64,
    pub rix: f64,
    pub mcalpine_eflaw: f64,
    pub gulpease: f64,
    pub text_standard: f64,
    pub reading_time: f64,
    pub words_per_sentence: f64,
    pub syllables_per_word: f64,
    pub letters_per_word: f64,
    pub chars_per_word: f64,
}

/// `a / b`, or 0.0 when `b` is zero (textstat's `except ZeroDivisionError: return 0.0`).
fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        0.0
    } else {
        f64::from(a) / f64::from(b)
    }
}

pub(crate) fn scores(c: &Counts) -> Scores {
    let wps = ratio(c.words, c.sentences);
    let spw = ratio(c.syllables, c.words);
    let lpw = ratio(c.letters, c.words);
    let cpw = ratio(c.chars, c.tokens);
    let sentences_per_word = ratio(c.sentences, c.words);

    let flesch_reading_ease = if wps == 0.0 || spw == 0.0 {
        0.0
    } else {
        206.835 - 1.015 * wps - 84.6 * spw
    };
    let flesch_kincaid_grade = if wps == 0.0 || spw == 0.0 {
        0.0
    } else {
        0.39 * wps + 11.8 * spw - 15.59
    };
    let smog_index = if c.sentences == 0 {
        0.0
    } else {
        1.043 * (30.0 * ratio(c.poly, c.sentences)).powf(0.5) + 3.1291
    };
    let coleman_liau_index = {
        let l = lpw * 100.0;
        let s = sentences_per_word * 100.0;
        if l == 0.0 || s == 0.0 {
            0.0
        } else {
            0.058 * l - 0.296 * s - 15.8
        }
    };
    let automated_readability_index = if cpw == 0.0 || wps == 0.0 {
        0.0
    } else {
        4.71 * cpw + 0.5 * wps - 21.43
    };
    let per_words = |n: u32| ratio(100 * n, c.words);
    let gunning_fog = if c.words == 0 {
        0.0
    } else {
        0.4 * (wps + per_words(c.hard3))
    };
    let dale_chall = if c.words == 0 {
        0.0
    } else {
        let pdw = per_words(c.unfamiliar);
        let score = 0.1579 * pdw + 0.0496 * wps;
        if pdw > 5.0 { score + 3.6365 } else { score }
    };
    let dale_chall_v2 = if c.words == 0 {
        0.0
    } else {
        let raw = 0.1579 * per_words(c.hard2) + 0.0496 * wps;
        if raw > 0.05 { raw + 3.6365 } else { raw }
    };
    let linsear_write = if c.linsear_sentences == 0 {
        0.0
    } else {
        let mut n = f64::from(c.linsear_easy + 3 * c.linsear_hard) / f64::from(c.linsear_sentences);
        if n <= 20.0 {
            n -= 2.0;
        }
        n / 2.0
    };
    let spache = if c.words == 0 {
        0.0
    } else {
        0.141 * wps + 0.086 * per_words(c.hard2) + 0.839
    };
    let lix = if c.words == 0 {
        0.0
    } else {
        let per_long = per_words(c.long_words);
        wps + per_long
    };
    let rix = ratio(c.long_words, c.sentences);
    let mcalpine_eflaw = ratio(c.words + c.mini_words, c.sentences);
    let gulpease = if sentences_per_word == 0.0 || cpw == 0.0 {
        0.0
    } else {
        300.0 * sentences_per_word - 10.0 * cpw + 89.0
    };
    let reading_time = 14.69 * f64::from(c.chars) / 1000.0;
    let text_standard = consensus(&[
        Grade::Range(flesch_kincaid_grade),
        Grade::Flesch(flesch_reading_ease),
        Grade::Range(smog_index),
        Grade::Range(coleman_liau_index),
        Grade::Range(automated_readability_index),
        Grade::Range(dale_chall),
        Grade::Range(linsear_write),
        Grade::Range(gunning_fog),
    ]);
    Scores {
        flesch_reading_ease,
        flesch_kincaid_grade,
        smog_index,
        coleman_liau_index,
        automated_readability_index,
        gunning_fog,
        dale_chall,
        dale_chall_v2,
        linsear_write,
        spache,
        lix,
        rix,
        mcalpine_eflaw,
        gulpease,
        text_standard,
        reading_time,
        words_per_sentence: wps,
        syllables_per_word: spw,
        letters_per_word: lpw,
        chars_per_word: cpw,
    }
}

enum Grade {
    /// A grade-level score: votes for its floor, ceiling and nearest integer.
    Range(f64),
    /// Flesch reading ease: votes for the school grade(s) of its band.
    Flesch(f64),
}

/// textstat's `text_standard`: the grade most formulas vote for; ties go to the grade voted
/// for first (Python's `Counter.most_common` keeps insertion order among equals).
fn consensus(grades: &[Grade]) -> f64 {
    // At most 3 votes per formula: 24 distinct grades.
    let mut votes = [(0i64, 0u32); 24];
    let mut used = 0;
    let mut vote = |g: i64| match votes[..used].iter_mut().find(|v| v.0 == g) {
        Some(v) => v.1 += 1,
        None => {
            votes[used] = (g, 1);
            used += 1;
        }
    };
    for g in grades {
        match *g {
            Grade::Range(s) => {
                // Python's round() rounds half to even.
                vote(s.floor() as i64);
                vote(s.ceil() as i64);
                vote(s.round_ties_even() as i64);
            }
            Grade::Flesch(s) => match s {
                s if (90.0..100.0).contains(&s) => vote(5),
                s if (80.0..90.0).contains(&s) => vote(6),
                s if (70.0..80.0).contains(&s) => vote(7),
                s if (60.0..70.0).contains(&s) => {
                    vote(8);
                    vote(9);
                }
                s if (50.0..60.0).contains(&s) => vote(10),
                s if (40.0..50.0).contains(&s) => vote(11),
                s if (30.0..40.0).contains(&s) => vote(12),
                _ => vote(13),
            },
        }
    }
    let mut best = (0i64, 0u32);
    for &(g, n) in &votes[..used] {
        if n > best.1 {
            best = (g, n);
        }
    }
    best.0 as f64
}
