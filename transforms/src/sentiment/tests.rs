//! Sentiment tests: agreement with the Python reference (golden files and a live oracle run),
//! VADER's rules one by one, the language policy, and awkward input.

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;

use super::score::py_round;
use super::vader::{self, Scores, analyse, polarity_scores};
use super::{label, supported};

const GOLDEN: &str = include_str!("../../data/sentiment/vader_golden.tsv");
const CASES_GOLDEN: &str = include_str!("../../data/sentiment/vader_cases.tsv");
const CASES: &str = include_str!("../../data/sentiment/vader_cases.json");

/// Parses `index<TAB>compound<TAB>pos<TAB>neu<TAB>neg` lines.
fn parse_scores(tsv: &str) -> Vec<Scores> {
    tsv.lines()
        .map(|l| {
            let c: Vec<f64> = l
                .split('\t')
                .skip(1)
                .map(|x| x.parse().expect("golden numbers parse"))
                .collect();
            Scores {
                compound: c[0],
                pos: c[1],
                neu: c[2],
                neg: c[3],
            }
        })
        .collect()
}

fn cases() -> Vec<String> {
    serde_json::from_str(CASES).expect("vader_cases.json is a list of strings")
}

fn corpus_texts() -> Vec<String> {
    crate::corpus::real_posts()
        .into_iter()
        .map(|m| m.text)
        .collect()
}

/// Compares our scores with the reference's; returns the disagreements (compound off by more
/// than 1e-4, or a proportion off by more than 1e-3), printing the first few.
fn disagreements(texts: &[String], want: &[Scores], what: &str) -> usize {
    assert_eq!(texts.len(), want.len(), "{what}: golden rows vs texts");
    let mut bad = 0;
    let mut exact = 0;
    for (i, (t, w)) in texts.iter().zip(want).enumerate() {
        let got = polarity_scores(t);
        let off = (got.compound - w.compound).abs() > 1e-4
            || (got.pos - w.pos).abs() > 1e-3
            || (got.neu - w.neu).abs() > 1e-3
            || (got.neg - w.neg).abs() > 1e-3;
        if off {
            bad += 1;
            if bad <= 10 {
                eprintln!("{what} row {i}: {t:?}\n  ours {got:?}\n  vader {w:?}");
            }
        }
        if got == *w {
            exact += 1;
        }
    }
    eprintln!(
        "{what}: {} texts, {bad} disagree beyond 1e-4, {exact} identical to the last digit",
        texts.len()
    );
    bad
}

#[test]
fn agrees_with_vader_on_the_whole_corpus() {
    let texts = corpus_texts();
    assert_eq!(disagreements(&texts, &parse_scores(GOLDEN), "corpus"), 0);
}

#[test]
fn agrees_with_vader_on_hand_picked_cases() {
    assert_eq!(
        disagreements(&cases(), &parse_scores(CASES_GOLDEN), "cases"),
        0
    );
}

/// Runs the Python reference (vaderSentiment 3.3.2) live over the corpus and the cases.
#[test]
fn agrees_with_live_vader_oracle() {
    let python = crate::oracle::python();
    if !crate::oracle::available(
        &python,
        &["-c", "import vaderSentiment.vaderSentiment"],
        "the Python package vaderSentiment 3.3.2",
    ) {
        return;
    }
    let mut texts = corpus_texts();
    texts.extend(cases());
    texts.extend(fuzz_texts(3_000));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/data/sentiment/gen_golden.py");
    let mut child = Command::new(&python)
        .args([script, "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("oracle starts");
    let mut input = String::new();
    for t in &texts {
        input.push_str(&serde_json::to_string(t).expect("json"));
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("oracle runs");
    writer
        .join()
        .expect("writer")
        .expect("oracle reads its input");
    assert!(out.status.success(), "oracle failed");
    let want = parse_scores(&String::from_utf8(out.stdout).expect("utf-8"));
    assert_eq!(disagreements(&texts, &want, "live oracle"), 0);
}

/// Deterministic random texts built from the words VADER's rules react to, so the live oracle
/// run exercises rule interactions the corpus may not contain.
fn fuzz_texts(n: usize) -> Vec<String> {
    const VOCAB: &[&str] = &[
        "good", "GOOD", "bad", "BAD", "great", "not", "no", "never", "so", "this", "but", "BUT",
        "very", "VERY", "kind", "of", "sort", "just", "enough", "least", "at", "without", "doubt",
        "the", "shit", "bomb", "ass", "kiss", "death", "to", "die", "for", "yeah", "right", "or",
        "nor", "isn't", "don't", "kinda", "barely", "love", "hate", "ok", "lol", ":)", ":(", "<3",
        "😀", "😢", "💔", "!", "?", "!!", "??", "???", "book", "was", "it", "'good'", "good!",
        "...", "a", "--", "x😀y", "\u{a0}", "uh-uh", "fucking", "sux",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|_| {
            let len = (next() % 12) as usize + 1;
            let mut t = String::new();
            for _ in 0..len {
                t.push_str(VOCAB[(next() % VOCAB.len() as u64) as usize]);
                t.push(if next() % 7 == 0 { '\n' } else { ' ' });
            }
            t
        })
        .collect()
}

fn compound(t: &str) -> f64 {
    polarity_scores(t).compound
}

#[test]
fn basic_rules_move_the_score_the_right_way() {
    let base = compound("The book was good.");
    assert!(base > 0.0);
    assert!(compound("The book was very good.") > base, "booster");
    assert!(compound("The book was kind of good.") < base, "dampener");
    assert!(compound("The book was not good.") < 0.0, "negation");
    assert!(compound("The book was good!") > base, "exclamation");
    assert!(
        compound("The book was GOOD.") > base,
        "caps among mixed case"
    );
    assert_eq!(
        compound("GOOD"),
        compound("good"),
        "all caps is no emphasis"
    );
    assert!(compound("good but bad") < 0.0, "but favours what follows");
    assert!(compound("😢") < 0.0 && compound("😀") > 0.0, "emoji");
    assert!(compound(":)") > 0.0 && compound(":(") < 0.0, "emoticons");
    assert!(compound("the least good") < 0.0 && compound("at least good") > 0.0);
}

#[test]
fn report_counts_the_rules_it_applied() {
    let r = analyse("I'm NOT happy, it's not very good but kinda OK 😀 :) !!");
    assert_eq!(r.negations, 2);
    assert_eq!(r.negated_words, 2);
    assert_eq!(r.intensifiers, 1);
    assert_eq!(r.dampeners, 1);
    assert_eq!(r.emoji, 1);
    assert_eq!(r.emoticons, 1);
    assert!(r.punct_emphasis > 0.5);
    assert!(r.but_shift);
    assert!(r.max_negative < 0.0 && r.max_positive > 0.0);
    let r = analyse("kind of good and sort of nice, just enough");
    assert_eq!(r.dampeners, 3);
    let r = analyse("GREAT day");
    assert_eq!(r.caps_emphasis, 1);
    assert_eq!(analyse("GREAT").caps_emphasis, 0);
}

#[test]
fn tokens_follow_vaders_split_and_strip() {
    assert_eq!(
        vader::token_texts("'good' ...great... :) a,b !! 😀x"),
        ["good", "great", ":)", "a,b", "!!", "grinning", "facex"]
    );
}

#[test]
fn py_round_matches_pythons_round() {
    // Exact ties go to even, everything else to nearest of the exact binary value.
    assert_eq!(py_round(0.0625, 3), 0.062);
    assert_eq!(py_round(0.1875, 3), 0.188);
    assert_eq!(py_round(2.675, 2), 2.67);
    assert_eq!(py_round(0.12345, 4), 0.1235);
    assert_eq!(py_round(-0.4404, 4), -0.4404);
    assert_eq!(py_round(-0.00001, 4), 0.0);
    assert_eq!(py_round(1.0, 3), 1.0);
    assert_eq!(py_round(0.5, 3), 0.5);
}

#[test]
fn language_policy() {
    let guess = |code, text| supported(None, code, true, text);
    assert!(guess("en", "anything at all"));
    assert!(!guess("de", "die Katze ist gut"));
    assert!(guess("und", "lol ok"));
    assert!(guess("und", "😀😀 12345"));
    assert!(!guess("und", "東京は今日もいい天気です"));
    assert!(!guess("und", "مرحبا بالعالم hi"));
    // An unreliable guess on Latin text is scored as English; on another script it is not.
    assert!(supported(None, "it", false, "LMAO, AMAZING!"));
    assert!(!supported(None, "ru", false, "привет мир"));
    // The source's hint decides.
    assert!(supported(Some("en"), "de", true, "die Katze ist gut"));
    assert!(!supported(Some("de"), "en", true, "the cat is good"));
    assert!(supported(Some("und"), "en", true, "the cat is good"));
    // Unsupported: words are ignored, emoji and emoticons still count.
    let r = vader::analyse_symbols("die Katze ist tot 😀 :)");
    assert!(r.scores.compound > 0.0);
    assert_eq!(r.lexicon_words, 2, "grinning (face) and :)");
    assert_eq!(
        vader::analyse_symbols("die die die").scores,
        Scores::default()
    );
    assert!(compound("die die die") < 0.0);
}

#[test]
fn labels_use_the_standard_thresholds() {
    assert_eq!(label(0.05), "positive");
    assert_eq!(label(0.0499), "neutral");
    assert_eq!(label(-0.05), "negative");
}

#[test]
fn empty_and_blank_text_score_zero() {
    for t in ["", " \n\t", "\u{3000}\u{1c}"] {
        let r = analyse(t);
        assert_eq!(r.scores, Scores::default());
        assert_eq!(r.tokens, 0);
    }
}

#[test]
fn long_text_with_but_stays_linear() {
    // 16 KiB of repeated equal valences around a "but": the reference rule is quadratic.
    let text = "good bad ".repeat(900) + "but " + &"good bad ".repeat(900);
    let r = analyse(&text);
    assert!(r.tokens > 3_000);
    assert!((-1.0..=1.0).contains(&r.scores.compound));
}

fn but_rule_reference(sent: &mut [f64], bi: usize) {
    // The Python loop, literally: iterate by position, find the first equal value.
    for k in 0..sent.len() {
        let v = sent[k];
        let si = sent.iter().position(|&x| x == v).unwrap_or(k);
        if si < bi {
            sent[si] = v * 0.5;
        } else if si > bi {
            sent[si] = v * 1.5;
        }
    }
}

proptest! {
    #[test]
    fn byte_tokenizer_splits_like_python(s in "(\\PC|[ \\t\\n\\x1c-\\x1f\\u{85}\\u{a0}\\u{1680}\\u{2000}-\\u{200b}\\u{2028}\\u{2029}\\u{202f}\\u{205f}\\u{3000}!?])*") {
        let (got, q, e) = vader::split_for_test(&s);
        let want: Vec<&str> = s
            .split(super::lexicon::is_py_space)
            .filter(|w| !w.is_empty())
            .collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(q, s.matches('?').count());
        prop_assert_eq!(e, s.matches('!').count());
    }

    #[test]
    fn any_unicode_scores_are_bounded(s in "\\PC*") {
        let r = analyse(&s);
        let sc = r.scores;
        prop_assert!((-1.0..=1.0).contains(&sc.compound));
        for p in [sc.pos, sc.neu, sc.neg] {
            prop_assert!((0.0..=1.0).contains(&p));
        }
        if r.tokens > 0 {
            prop_assert!((sc.pos + sc.neu + sc.neg - 1.0).abs() < 0.01);
        }
        let r = vader::analyse_symbols(&s);
        prop_assert!((-1.0..=1.0).contains(&r.scores.compound));
    }

    #[test]
    fn indexed_but_rule_equals_the_reference(
        vals in proptest::collection::vec(prop_oneof![Just(0.0), Just(-0.0), Just(1.5), Just(-2.0), Just(0.75), Just(3.0)], 1..200),
        bi_frac in 0.0f64..1.0,
    ) {
        let bi = ((vals.len() as f64) * bi_frac) as usize;
        let mut want = vals.clone();
        but_rule_reference(&mut want, bi);
        let mut got = vals.clone();
        vader::but_check_for_test(&mut got, bi);
        prop_assert_eq!(want, got);
    }
}

/// VADER's own human-rated sets (tweets, Amazon review snippets), scored by the whole catalogue
/// as a mention without a language hint: the compound field must agree with vaderSentiment on
/// nearly every text. A short English tweet that the language guess gets wrong ("LMAO,
/// AMAZING!" → it) must still be scored by the English lexicon.
#[test]
fn human_rated_sets_score_as_the_reference_through_the_catalogue() {
    let rows = include_str!("../../data/sentiment/human_rated.tsv");
    let compound = crate::field_id("sentiment_compound").expect("field");
    let mut m = crate::corpus::real_posts().swap_remove(0);
    m.lang_hint = None;
    let mut record = crate::Record::new();
    let mut per_set: std::collections::BTreeMap<&str, (usize, usize, Vec<String>)> =
        Default::default();
    for line in rows.lines() {
        let mut cols = line.splitn(4, '\t');
        let (set, _, want, text) = (
            cols.next().expect("set"),
            cols.next().expect("index"),
            cols.next()
                .expect("compound")
                .parse::<f64>()
                .expect("a number"),
            cols.next().expect("text"),
        );
        m.text = text.to_owned();
        crate::catalogue::enrich_into(&m, &mut record);
        let got = match record.get(compound) {
            crate::Value::Float(x) => *x,
            other => panic!("compound is {other:?}"),
        };
        let e = per_set.entry(set).or_default();
        e.0 += 1;
        if (got - want).abs() <= 1e-4 {
            e.1 += 1;
        } else if e.2.len() < 10 {
            e.2.push(format!("{got} vs {want}: {text}"));
        }
    }
    for (set, (n, agree, misses)) in &per_set {
        let share = *agree as f64 / *n as f64;
        eprintln!("{set}: {agree}/{n} = {:.2}% within 1e-4", share * 100.0);
        assert!(
            share >= 0.995,
            "{set}: {agree}/{n} within 1e-4 of vaderSentiment; first misses:\n{}",
            misses.join("\n")
        );
    }
}
