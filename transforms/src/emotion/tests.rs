//! Emotion tests: agreement with Empath itself (golden file and live oracle), examples, and
//! awkward input.

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;

use super::{CATEGORIES, N, count};
use crate::analysis::Analysis;

const GOLDEN_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/emotion/empath_golden.tsv"
);
const GOLDEN: &str = include_str!("../../data/emotion/empath_golden.tsv");

/// Lower-case words of every corpus row, as the extractor sees them.
fn corpus_words() -> Vec<Vec<String>> {
    crate::corpus::real_posts()
        .iter()
        .map(|m| {
            Analysis::new(m)
                .lower_words()
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn ours(words: &[Vec<String>]) -> Vec<[u32; N]> {
    words
        .iter()
        .map(|w| count(w.iter().map(String::as_str)).per_category)
        .collect()
}

/// Golden rows are `row<TAB>cat:count,cat:count` for rows with any hit.
fn parse_golden(text: &str, rows: usize) -> Vec<[u32; N]> {
    let mut out = vec![[0u32; N]; rows];
    for line in text.lines() {
        let (row, cells) = line.split_once('\t').expect("row<TAB>cells");
        let row: usize = row.parse().expect("row index");
        for cell in cells.split(',') {
            let (c, n) = cell.split_once(':').expect("cat:count");
            out[row][c.parse::<usize>().expect("cat")] = n.parse().expect("count");
        }
    }
    out
}

fn render_golden(rows: &[[u32; N]]) -> String {
    let mut s = String::new();
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| format!("{c}:{n}"))
            .collect();
        if !cells.is_empty() {
            s.push_str(&format!("{i}\t{}\n", cells.join(",")));
        }
    }
    s
}

fn disagreements(got: &[[u32; N]], want: &[[u32; N]], what: &str) -> usize {
    let mut bad = 0;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g != w {
            bad += 1;
            if bad <= 5 {
                eprintln!("{what} row {i}: ours {g:?}\n  empath {w:?}");
            }
        }
    }
    eprintln!("{what}: {} rows, {bad} disagree", got.len());
    bad
}

#[test]
fn agrees_with_empath_golden_on_the_corpus() {
    let words = corpus_words();
    let want = parse_golden(GOLDEN, words.len());
    assert_eq!(disagreements(&ours(&words), &want, "golden"), 0);
}

/// Runs Empath live over the corpus words; with `BACKCHANNEL_BLESS` set, rewrites the golden.
#[test]
fn agrees_with_live_empath_oracle() {
    let python = crate::oracle::python();
    if !crate::oracle::available(
        &python,
        &["-c", "import empath"],
        "the Python package empath",
    ) {
        return;
    }
    let mut words = corpus_words();
    words.push(vec!["worst".into(), "part".into(), "worst_part".into()]);
    words.push(vec!["so_much_pain".into(), "poor".into()]);
    words.push(Vec::new());
    let mut input = String::new();
    for w in &words {
        input.push_str(&serde_json::to_string(w).expect("json"));
        input.push('\n');
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/data/emotion/empath_oracle.py");
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("oracle starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("oracle runs");
    writer
        .join()
        .expect("writer")
        .expect("oracle reads its input");
    assert!(out.status.success(), "oracle failed");
    let want: Vec<[u32; N]> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let mut r = [0u32; N];
            for (c, n) in l.split('\t').skip(1).enumerate() {
                r[c] = n.parse().expect("count");
            }
            r
        })
        .collect();
    let got = ours(&words);
    assert_eq!(disagreements(&got, &want, "live empath"), 0);
    if std::env::var_os("BACKCHANNEL_BLESS").is_some() {
        let corpus_rows = words.len() - 3;
        std::fs::write(GOLDEN_PATH, render_golden(&want[..corpus_rows])).expect("write golden");
    }
}

fn cat(name: &str) -> usize {
    CATEGORIES
        .iter()
        .position(|c| *c == name)
        .expect("category")
}

fn words(s: &str) -> Vec<&str> {
    s.split(' ').collect()
}

#[test]
fn counts_real_examples() {
    let c = count(words("i am elated and so full of gratitude today"));
    assert!(c.per_category[cat("joy")] >= 1);
    assert!(c.per_category[cat("positive_emotion")] >= 1);
    assert_eq!(c.dominant, Some(cat("joy")));
    let c = count(words("this is terrifying and i am scared"));
    assert!(c.per_category[cat("fear")] >= 2);
    assert_eq!(c.dominant, Some(cat("fear")));
    let c = count(words("the table is brown"));
    assert_eq!(c, super::Counts::default());
}

#[test]
fn two_word_terms_match_adjacent_words_and_underscored_tokens() {
    let neg = cat("negative_emotion");
    // "worst" is a term of its own, and "worst part" another.
    assert_eq!(count(words("the worst part")).per_category[neg], 2);
    assert_eq!(count(words("worst_part")).per_category[neg], 1);
    assert_eq!(count(words("the worst of part")).per_category[neg], 1);
}

#[test]
fn dominant_ties_go_to_the_first_seen() {
    let joy = count(words("happy scared"));
    let fear = count(words("scared happy"));
    if joy.per_category[cat("joy")] == joy.per_category[cat("fear")] {
        assert_eq!(joy.dominant, Some(cat("joy")));
        assert_eq!(fear.dominant, Some(cat("fear")));
    }
}

proptest! {
    #[test]
    fn any_words_give_consistent_counts(s in "\\PC*") {
        let c = count(s.split_whitespace());
        let max = c.per_category.iter().copied().max().unwrap_or(0) as usize;
        prop_assert!(max <= c.hits);
        prop_assert_eq!(c.dominant.is_some(), c.per_category[..8].iter().any(|&n| n > 0));
    }
}
