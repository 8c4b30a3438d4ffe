//! Agreement with langid.py, the oracle: the committed golden answers always, and a live run
//! of the oracle when it is installed.
//!
//! The two are not meant to agree everywhere: we strip URLs, @mentions and hashtags, weigh
//! scripts first and say `und` below a few letters, where langid.py reads the raw text and
//! always answers. So agreement is measured where we answer, and on the corpus only on posts
//! with enough letters for either to be sure.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use super::tests::testset;
use super::*;

const GOLDEN: &str = include_str!("../../../data/lang/golden_langid.tsv");
const GEN_GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/lang/gen_golden.py");
/// Only every 4th real post is in the golden file (see `gen_golden.py`).
const EVERY: usize = 4;
/// Corpus posts with fewer letters than this are too short to compare.
const MIN_CORPUS_LETTERS: u32 = 40;

/// Texts compared with the oracle: (set, row, text).
fn inputs() -> Vec<(&'static str, usize, String)> {
    let mut out: Vec<_> = testset()
        .into_iter()
        .enumerate()
        .map(|(i, (_, t))| ("testset", i, t.to_owned()))
        .collect();
    for (i, m) in crate::corpus::real_posts().into_iter().enumerate() {
        if i % EVERY == 0 {
            out.push(("corpus", i, m.text));
        }
    }
    out
}

/// Agreement per set: (agreeing, compared), and a sample of disagreements.
#[derive(Debug, Default)]
struct Agreement {
    sets: BTreeMap<&'static str, (usize, usize)>,
    samples: Vec<String>,
}

fn compare(inputs: &[(&'static str, usize, String)], oracle: &[&str]) -> Agreement {
    assert_eq!(inputs.len(), oracle.len(), "one oracle answer per input");
    let mut a = Agreement::default();
    for ((set, row, text), want) in inputs.iter().zip(oracle) {
        let d = detect_text(text);
        if d.code == "und" || (*set == "corpus" && d.letters < MIN_CORPUS_LETTERS) {
            continue;
        }
        let e = a.sets.entry(set).or_default();
        e.1 += 1;
        if d.code == *want {
            e.0 += 1;
        } else if a.samples.len() < 25 {
            let short: String = text.chars().take(70).collect();
            a.samples.push(format!(
                "{set}:{row} ours {} oracle {want}: {short:?}",
                d.code
            ));
        }
    }
    a
}

fn check(a: &Agreement, label: &str) {
    for (set, (k, n)) in &a.sets {
        println!(
            "{label}: {set} agreement {k}/{n} = {:.3}",
            *k as f64 / *n as f64
        );
    }
    for s in &a.samples {
        println!("  {s}");
    }
    let rate = |set: &str| {
        let (k, n) = a.sets.get(set).copied().unwrap_or_default();
        assert!(n > 0, "nothing compared in {set}");
        k as f64 / n as f64
    };
    assert!(
        rate("testset") >= 0.93,
        "test-set agreement {:.3}",
        rate("testset")
    );
    assert!(
        rate("corpus") >= 0.95,
        "corpus agreement {:.3}",
        rate("corpus")
    );
}

#[test]
fn agrees_with_committed_oracle_answers() {
    let golden: BTreeMap<(&str, usize), &str> = GOLDEN
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.split('\t');
            Some(((it.next()?, it.next()?.parse().ok()?), it.next()?))
        })
        .collect();
    let inputs = inputs();
    let oracle: Vec<&str> = inputs
        .iter()
        .map(|(set, row, _)| golden.get(&(*set, *row)).copied().unwrap_or("missing"))
        .collect();
    assert!(
        !oracle.contains(&"missing"),
        "golden file is stale: regenerate it"
    );
    check(&compare(&inputs, &oracle), "golden");
}

/// Runs langid.py now (the python in `BACKCHANNEL_PYTHON`, default `python3`).
#[test]
fn agrees_with_live_oracle() {
    let python = crate::oracle::python();
    let skip = |why: String| crate::oracle::missing(&format!("langid.py via {python}: {why}"));
    let inputs = inputs();
    let child = Command::new(&python)
        .arg(GEN_GOLDEN)
        .arg("--stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return skip(format!("cannot start: {e}")),
    };
    let mut payload = String::new();
    for (_, _, t) in &inputs {
        payload += &serde_json::json!({ "text": t }).to_string();
        payload.push('\n');
    }
    // Write from a thread so a full stdout pipe cannot deadlock us.
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(payload.as_bytes()));
    let out = child.wait_with_output().expect("oracle runs");
    let _ = writer.join();
    if out.status.code() == Some(3) {
        return skip(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("oracle prints UTF-8");
    let oracle: Vec<&str> = stdout.lines().collect();
    check(&compare(&inputs, &oracle), "live");
}
