//! Agreement with reference implementations over the real-post corpus:
//!
//! - twitter-text 3.1.0 (npm), through `data/entities/gen_golden.js`: hashtags, mentions, URLs,
//!   cashtags and replies;
//! - the Python `emoji` package 2.16.0, through `data/entities/gen_golden_emoji.py`: emoji.
//!
//! The golden files are committed so agreement is always checked; the live tests rerun the
//! oracles when they are installed (see [`oracle`] for when a missing oracle fails the test).

use std::collections::HashMap;
use std::process::Command;

use serde_json::{Value, json};

use super::{Entities, extract};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/entities");

/// Rows where we knowingly differ from twitter-text 3.1.0, with why (none so far).
const TWITTER_KNOWN: &[(usize, &str)] = &[];

/// Our entities for one text in the compact golden shape.
fn twitter_row(i: usize, text: &str) -> Option<Value> {
    let e = extract(text);
    let mut row = serde_json::Map::new();
    row.insert("i".into(), json!(i));
    let mut put = |k: &str, v: Vec<&str>| {
        if !v.is_empty() {
            row.insert(k.into(), json!(v));
        }
    };
    put("hashtags", Entities::strs(text, &e.hashtags).collect());
    put("mentions", Entities::strs(text, &e.mentions).collect());
    put("urls", e.url_strs(text).collect());
    put("cashtags", Entities::strs(text, &e.cashtags).collect());
    if let Some(r) = &e.reply_to {
        row.insert("reply".into(), json!(&text[r.clone()]));
    }
    (row.len() > 1).then_some(Value::Object(row))
}

fn emoji_row(i: usize, text: &str) -> Option<Value> {
    let e = extract(text);
    let list: Vec<&str> = e.emojis.iter().map(|m| &text[m.range.clone()]).collect();
    (!list.is_empty()).then(|| json!({"i": i, "emojis": list}))
}

fn parse_rows(jsonl: &str) -> HashMap<usize, Value> {
    jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("golden rows are JSON");
            let i = v["i"].as_u64().expect("row index") as usize;
            (i, v)
        })
        .collect()
}

/// Compares our rows with the oracle's, field by field; returns (agreeing rows, differences).
fn compare(
    oracle: &HashMap<usize, Value>,
    ours: impl Fn(usize, &str) -> Option<Value>,
    known: &[(usize, &str)],
) -> (usize, Vec<String>) {
    let texts = crate::corpus::real_posts();
    let mut agree = 0;
    let mut diffs = Vec::new();
    for (i, m) in texts.iter().enumerate() {
        let want = oracle.get(&i).cloned();
        let got = ours(i, &m.text);
        if want == got {
            agree += 1;
        } else if !known.iter().any(|(k, _)| *k == i) {
            diffs.push(format!(
                "row {i}: {:?}\n  oracle: {}\n  ours:   {}",
                m.text.chars().take(160).collect::<String>(),
                want.unwrap_or(Value::Null),
                got.unwrap_or(Value::Null)
            ));
        }
    }
    (agree, diffs)
}

fn check(
    name: &str,
    oracle: &HashMap<usize, Value>,
    ours: impl Fn(usize, &str) -> Option<Value>,
    known: &[(usize, &str)],
) {
    let (agree, diffs) = compare(oracle, ours, known);
    let total = crate::corpus::real_posts().len();
    println!(
        "{name}: {agree}/{total} corpus rows agree ({} with entities in the oracle), {} known differences",
        oracle.len(),
        known.len()
    );
    assert!(
        diffs.is_empty(),
        "{name}: {} rows differ:\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn golden_twitter_text_agreement() {
    let golden =
        std::fs::read_to_string(format!("{DATA}/golden_twitter.jsonl")).expect("golden file");
    check(
        "twitter-text 3.1.0",
        &parse_rows(&golden),
        twitter_row,
        TWITTER_KNOWN,
    );
}

#[test]
fn golden_emoji_agreement() {
    let golden =
        std::fs::read_to_string(format!("{DATA}/golden_emoji.jsonl")).expect("golden file");
    check("emoji 2.16.0", &parse_rows(&golden), emoji_row, &[]);
}

/// Runs an oracle program, or says why it cannot ([`crate::oracle::available`]).
fn oracle(program: &str, probe: &[&str], run: &[&str], what: &str) -> Option<String> {
    if !crate::oracle::available(program, probe, what) {
        return None;
    }
    let out = Command::new(program)
        .args(run)
        .output()
        .expect("oracle runs");
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).expect("oracle writes UTF-8"))
}

#[test]
fn live_twitter_text_oracle() {
    let node = std::env::var("BACKCHANNEL_NODE").unwrap_or_else(|_| "node".into());
    let script = format!("{DATA}/gen_golden.js");
    let Some(out) = oracle(
        &node,
        &["-e", "require('twitter-text')"],
        &[&script, crate::corpus::REAL_POSTS],
        "the npm package twitter-text@3.1.0 (set NODE_PATH to its node_modules)",
    ) else {
        return;
    };
    check(
        "twitter-text (live)",
        &parse_rows(&out),
        twitter_row,
        TWITTER_KNOWN,
    );
}

#[test]
fn live_emoji_oracle() {
    let python = crate::oracle::python();
    let script = format!("{DATA}/gen_golden_emoji.py");
    let Some(out) = oracle(
        &python,
        &["-c", "import emoji"],
        &[&script, crate::corpus::REAL_POSTS],
        "the Python package emoji==2.16.0",
    ) else {
        return;
    };
    check("emoji (live)", &parse_rows(&out), emoji_row, &[]);
}
