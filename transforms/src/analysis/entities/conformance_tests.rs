//! twitter-text's conformance cases (`data/entities/extract.json`, from twitter-text's
//! `conformance/extract.yml`, Apache-2.0) run against our extractors. Each section reports its
//! pass count; every case must pass except those listed in [`SKIPPED`] with the reason.

use serde_json::Value;

use super::{twitter, urls};

/// Cases we knowingly do not follow, by description, with why.
const SKIPPED: &[(&str, &str)] = &[];

fn cases() -> serde_json::Map<String, Value> {
    serde_json::from_str(include_str!("../../../data/entities/extract.json")).expect("valid JSON")
}

/// Code point offset of byte offset `b` (the conformance file counts code points).
fn cp(text: &str, b: usize) -> u64 {
    text[..b].chars().count() as u64
}

fn hashtags(text: &str) -> Vec<std::ops::Range<usize>> {
    // twitter-text's extractHashtags drops hashtags that overlap a URL.
    let mut tags = Vec::new();
    twitter::hashtags(text, &mut tags);
    let mut found = Vec::new();
    urls::urls(text, &mut found);
    tags.retain(|t| {
        let start = t.start - super::chars::char_before(text, t.start).map_or(0, char::len_utf8);
        !found.iter().any(|u| {
            (u.range.start <= start && start < u.range.end)
                || (start < u.range.start && u.range.start < t.end)
        })
    });
    tags
}

fn mentions(text: &str) -> Vec<twitter::MentionMatch> {
    let mut out = Vec::new();
    twitter::mentions_or_lists(text, &mut out);
    out
}

fn cashtags(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    twitter::cashtags(text, &mut out);
    out
}

fn url_list(text: &str) -> Vec<urls::UrlMatch> {
    let mut out = Vec::new();
    urls::urls(text, &mut out);
    out
}

/// What our extractor gives for one case, in the case's own JSON shape.
fn actual(section: &str, text: &str) -> Value {
    let s = |r: &std::ops::Range<usize>| Value::from(&text[r.clone()]);
    let idx = |r: &std::ops::Range<usize>| Value::from(vec![cp(text, r.start), cp(text, r.end)]);
    let sig = |r: &std::ops::Range<usize>| {
        r.start - super::chars::char_before(text, r.start).map_or(0, char::len_utf8)..r.end
    };
    match section {
        "mentions" => mentions(text)
            .iter()
            .filter(|m| m.list.is_empty())
            .map(|m| s(&m.name))
            .collect(),
        "mentions_with_indices" => mentions(text)
            .iter()
            .filter(|m| m.list.is_empty())
            .map(|m| serde_json::json!({"screen_name": s(&m.name), "indices": idx(&m.whole)}))
            .collect(),
        "mentions_or_lists_with_indices" => mentions(text)
            .iter()
            .map(|m| {
                serde_json::json!({"screen_name": s(&m.name), "list_slug": s(&m.list),
                    "indices": idx(&m.whole)})
            })
            .collect(),
        "replies" => twitter::reply(text).map_or(Value::Null, |r| s(&r)),
        "urls" | "tco_urls_with_params" => url_list(text).iter().map(|u| s(&u.range)).collect(),
        "urls_with_indices" | "urls_with_directional_markers" => url_list(text)
            .iter()
            .map(|u| serde_json::json!({"url": s(&u.range), "indices": idx(&u.range)}))
            .collect(),
        "hashtags" | "hashtags_from_astral" => hashtags(text).iter().map(s).collect(),
        "hashtags_with_indices" => hashtags(text)
            .iter()
            .map(|h| serde_json::json!({"hashtag": s(h), "indices": idx(&sig(h))}))
            .collect(),
        "cashtags" => cashtags(text).iter().map(s).collect(),
        "cashtags_with_indices" => cashtags(text)
            .iter()
            .map(|c| serde_json::json!({"cashtag": s(c), "indices": idx(&(c.start - 1..c.end))}))
            .collect(),
        other => panic!("unknown conformance section {other}"),
    }
}

#[test]
fn twitter_text_conformance() {
    let mut failures = Vec::new();
    let mut report = Vec::new();
    for (section, list) in cases() {
        let list = list.as_array().expect("a list of cases");
        let mut pass = 0;
        for case in list {
            let text = case["text"].as_str().expect("text");
            let desc = case["description"].as_str().unwrap_or_default();
            let expected = &case["expected"];
            let got = actual(&section, text);
            if &got == expected {
                pass += 1;
            } else if !SKIPPED.iter().any(|(d, _)| *d == desc) {
                failures.push(format!(
                    "{section}: {desc}\n  text: {text:?}\n  want: {expected}\n  got:  {got}"
                ));
            }
        }
        report.push(format!("{section}: {pass}/{}", list.len()));
    }
    println!("twitter-text conformance: {}", report.join(", "));
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
