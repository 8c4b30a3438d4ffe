//! Agreement with textstat 0.7.8: a committed golden file (always runs) and a live run of the
//! oracle over the whole corpus (needs Python with textstat; see `deploy/dev/test`).

use super::{FIELDS, analyse};
use crate::analysis::MAX_TEXT_BYTES;
use crate::analysis::cap;

const GOLDEN: &str = include_str!("../../data/readability/golden.jsonl");
const GEN_GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/readability/gen_golden.py"
);

/// Our values in the order of `FIELDS` (the oracle writes the same order).
fn ours(text: &str) -> Vec<f64> {
    let (c, s) = analyse(text);
    let ints = [
        c.syllables,
        c.words,
        c.sentences,
        c.poly,
        c.mono,
        c.hard2_unique,
        c.long_words,
        c.mini_words,
        c.letters,
    ];
    let mut v = vec![
        s.flesch_reading_ease,
        s.flesch_kincaid_grade,
        s.smog_index,
        s.coleman_liau_index,
        s.automated_readability_index,
        s.gunning_fog,
        s.dale_chall,
        s.dale_chall_v2,
        s.linsear_write,
        s.spache,
        s.lix,
        s.rix,
        s.mcalpine_eflaw,
        s.gulpease,
        s.text_standard,
        s.reading_time,
    ];
    v.extend(ints.iter().map(|&n| f64::from(n)));
    v.extend([
        s.syllables_per_word,
        s.letters_per_word,
        s.chars_per_word,
        s.words_per_sentence,
    ]);
    v
}

/// Per-metric agreement over many texts.
#[derive(Debug, Default, Clone)]
struct Agreement {
    n: usize,
    exact: usize,
    max_err: f64,
    sum_err: f64,
    worst: String,
}

/// Compares oracle rows (`{"row": i | "text": t, "v": [...]}`) with ours.
fn compare(rows: &str, corpus: &[String]) -> Vec<Agreement> {
    let mut stats = vec![Agreement::default(); FIELDS.len()];
    for line in rows.lines().filter(|l| !l.trim().is_empty()) {
        let row: serde_json::Value = serde_json::from_str(line).expect("oracle rows are JSON");
        let text = match (&row["row"], &row["text"]) {
            (serde_json::Value::Number(i), _) => {
                corpus[i.as_u64().expect("row index") as usize].clone()
            }
            (_, serde_json::Value::String(t)) => cap(t, MAX_TEXT_BYTES).to_owned(),
            _ => panic!("oracle row without row or text: {line}"),
        };
        let theirs: Vec<f64> = row["v"]
            .as_array()
            .expect("values")
            .iter()
            .map(|x| x.as_f64().expect("numeric value"))
            .collect();
        assert_eq!(theirs.len(), FIELDS.len(), "oracle metric list changed");
        for ((st, a), b) in stats.iter_mut().zip(ours(&text)).zip(theirs) {
            let err = (a - b).abs();
            st.n += 1;
            // Identical up to float rounding of the same operations.
            if err <= 1e-9 * b.abs().max(1.0) {
                st.exact += 1;
            }
            st.sum_err += err;
            if err > st.max_err {
                st.max_err = err;
                st.worst = format!(
                    "ours {a} textstat {b} for {:?}",
                    text.chars().take(120).collect::<String>()
                );
            }
        }
    }
    stats
}

fn corpus_texts() -> Vec<String> {
    crate::corpus::real_posts()
        .into_iter()
        .map(|m| cap(&m.text, MAX_TEXT_BYTES).to_owned())
        .collect()
}

fn report(what: &str, stats: &[Agreement]) {
    eprintln!("readability vs textstat 0.7.8 ({what}):");
    eprintln!(
        "{:<28} {:>6} {:>9} {:>12} {:>12}",
        "field", "n", "exact%", "max_abs_err", "mean_abs_err"
    );
    for (f, s) in FIELDS.iter().zip(stats) {
        eprintln!(
            "{:<28} {:>6} {:>8.3}% {:>12.6} {:>12.8}",
            f.name,
            s.n,
            100.0 * s.exact as f64 / s.n.max(1) as f64,
            s.max_err,
            s.sum_err / s.n.max(1) as f64
        );
    }
}

/// Every metric must agree exactly (to float rounding) on at least `min_rate` of the texts.
/// The golden file is held to 100%; the live run allows for a different Python (its Unicode
/// tables decide what `\w` and `str.lower()` mean for rare characters).
fn check(stats: &[Agreement], min_rate: f64) {
    for (f, s) in FIELDS.iter().zip(stats) {
        let rate = s.exact as f64 / s.n.max(1) as f64;
        assert!(
            rate >= min_rate,
            "{}: only {:.3}% exact; worst: {}",
            f.name,
            100.0 * rate,
            s.worst
        );
    }
}

#[test]
fn agrees_with_textstat_golden() {
    let stats = compare(GOLDEN, &corpus_texts());
    report("golden file", &stats);
    check(&stats, 1.0);
}

#[test]
fn agrees_with_textstat_live_over_the_corpus() {
    let python = crate::oracle::python();
    let probe = "import importlib.metadata as m, textstat; v = m.version('textstat'); \
                 assert v == '0.7.8', f'textstat {v}, need 0.7.8'";
    if !crate::oracle::available(&python, &["-c", probe], "textstat==0.7.8") {
        return;
    }
    let out = std::process::Command::new(&python)
        .args([GEN_GOLDEN, "--all"])
        .output()
        .expect("run the textstat oracle");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = String::from_utf8(out.stdout).expect("oracle output is UTF-8");
    let stats = compare(&rows, &corpus_texts());
    report("live, whole corpus", &stats);
    check(&stats, 0.999);
}

#[test]
fn known_values() {
    let (c, s) = analyse("The cat sat on the mat. It was happy there.");
    assert_eq!((c.words, c.sentences, c.syllables), (10, 2, 11));
    assert!((s.flesch_reading_ease - (206.835 - 1.015 * 5.0 - 84.6 * 1.1)).abs() < 1e-9);
    let (c, s) = analyse("");
    assert_eq!((c.words, c.sentences), (0, 0));
    assert_eq!(s, super::formulas::Scores::default());
    // Whitespace only: textstat counts one sentence but no words.
    let (c, _) = analyse(" \n ");
    assert_eq!((c.words, c.sentences), (0, 1));
}

#[test]
fn sentences_follow_textstat_rules() {
    use super::scan::count_sentences;
    assert_eq!(count_sentences(""), 0);
    assert_eq!(count_sentences("..."), 1);
    // Two-word sentences are not counted.
    assert_eq!(count_sentences("Hi there. I am here now. Go."), 1);
    assert_eq!(
        count_sentences("One two three. Four five six! Seven eight nine?"),
        3
    );
    assert_eq!(count_sentences("a.b.c"), 1);
}

#[test]
fn hostile_inputs_are_handled() {
    let inputs = [
        "x".repeat(16 * 1024),
        "'".repeat(5000),
        "a'".repeat(5000),
        "don't ".repeat(3000),
        ".".repeat(10_000),
        "a.".repeat(8000),
        "\u{301}".repeat(5000),
        "👩‍👩‍👧".repeat(700),
        "ünïcödé ".repeat(2000),
        "word ".repeat(3000),
        "١٢٣ ٤٥٦".repeat(1000),
    ];
    for t in &inputs {
        let (c, _) = analyse(t);
        assert!(c.words <= c.tokens);
        for v in ours(t) {
            assert!(v.is_finite());
        }
    }
}

mod prop {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn any_text_gives_finite_scores(text in "\\PC{0,200}|[a-z .!?'\\n]{0,300}") {
            let (c, s) = super::analyse(&text);
            prop_assert!(c.words <= c.tokens && c.tokens <= c.chars);
            prop_assert!(c.sentences <= c.chars.max(1));
            for v in super::ours(&text) {
                prop_assert!(v.is_finite());
            }
            prop_assert!(s.text_standard >= -100.0);
        }
    }
}
