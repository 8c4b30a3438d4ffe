//! Accuracy on long, formal text: every paragraph of the Universal Declaration of Human Rights in
//! each supported language (`data/lang/udhr.tsv`, from `gen_udhr.py`). Social posts are short,
//! but this set is large, independent of the tuning sets and covers every language we report, so
//! it catches confusions between relatives (af/nl, id/ms) and scripts shared by many languages.
//!
//! Run with `cargo test -p transforms udhr -- --nocapture` to print the per-language table.

use std::collections::BTreeMap;

use super::detect_text;

const UDHR: &str = include_str!("../../../data/lang/udhr.tsv");

/// The 20 languages most used on the web (of those in the set).
const MAJOR: &[&str] = &[
    "en", "es", "de", "ja", "fr", "pt", "ru", "it", "zh", "nl", "pl", "tr", "fa", "vi", "id", "ko",
    "cs", "ar", "uk", "sv",
];

/// Files below the 95% bar, with the paragraphs they must still get right (today's count): Malay
/// against Indonesian, Kyrgyz against Kazakh, Pashto against Persian/Urdu and Serbian against
/// Macedonian/Bulgarian are known weak spots of the n-gram model, held here so they do not slip.
const WEAK: &[(&str, usize)] = &[("mly_latn", 39), ("kir", 41), ("pbu", 42), ("srp_cyrl", 55)];

/// (expected code, UDHR file, paragraph).
fn rows() -> Vec<(&'static str, &'static str, &'static str)> {
    UDHR.lines()
        .filter_map(|l| {
            let (code, rest) = l.split_once('\t')?;
            let (file, text) = rest.split_once('\t')?;
            Some((code, file, text))
        })
        .collect()
}

/// Per UDHR file: the expected code, paragraphs right, paragraphs, and the wrong answers given.
struct Tally {
    code: &'static str,
    right: usize,
    total: usize,
    wrong: BTreeMap<&'static str, usize>,
}

/// Tallies per UDHR file. Set `UDHR_MISSES=1` to print each wrong paragraph.
fn evaluate() -> BTreeMap<&'static str, Tally> {
    let show = std::env::var_os("UDHR_MISSES").is_some();
    let mut per = BTreeMap::new();
    for (want, file, text) in rows() {
        let t = per.entry(file).or_insert_with(|| Tally {
            code: want,
            right: 0,
            total: 0,
            wrong: BTreeMap::new(),
        });
        let got = detect_text(text).code;
        t.total += 1;
        if got == want {
            t.right += 1;
        } else {
            *t.wrong.entry(got).or_insert(0) += 1;
            if show {
                println!("miss {want} -> {got}: {text}");
            }
        }
    }
    per
}

/// Share of paragraphs right, over all files or those of the `only` languages.
fn share(per: &BTreeMap<&str, Tally>, only: Option<&[&str]>) -> f64 {
    let (k, n) = per
        .values()
        .filter(|t| only.is_none_or(|o| o.contains(&t.code)))
        .fold((0, 0), |(k, n), t| (k + t.right, n + t.total));
    k as f64 / n as f64
}

#[test]
fn udhr_accuracy_per_language_and_overall() {
    let per = evaluate();
    for (file, t) in &per {
        let (code, k, n) = (t.code, t.right, t.total);
        println!("udhr {code:>2} {file:<14} {k:>2}/{n:<2} {:?}", t.wrong);
    }
    let overall = share(&per, None);
    let major = share(&per, Some(MAJOR));
    println!(
        "udhr overall {overall:.4}, 20 major {major:.4}, {} files",
        per.len()
    );
    assert!(per.len() >= 60);
    assert!(overall >= 0.974, "overall {overall:.4}");
    assert!(major >= 0.99, "20 major languages {major:.4}");
    for (file, t) in &per {
        let (code, k, n) = (t.code, t.right, t.total);
        match WEAK.iter().find(|w| w.0 == *file) {
            Some(&(_, floor)) => assert!(k >= floor, "{code} ({file}): {k}/{n} < {floor}"),
            None => assert!(
                k * 100 >= n * 95,
                "{code} ({file}): {k}/{n}, instead {:?}",
                t.wrong
            ),
        }
    }
}
