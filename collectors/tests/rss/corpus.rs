//! The whole of feedparser's test-feed corpus (598 feeds, every dialect) against feedparser
//! 6.0.14's own results: how many of its entries we read with the same title and link, and
//! whether every entry of every feed gets an id of its own.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Utc;
use collectors::common::html;
use serde_json::Value;

const GOLDEN: &str = include_str!("../fixtures/rss/feedparser-6.0.14-golden.jsonl");
const FEEDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rss/feeds/");

/// Each golden line with its feed document.
fn corpus() -> Vec<(Value, Vec<u8>)> {
    GOLDEN
        .lines()
        .map(|line| {
            let g: Value = serde_json::from_str(line).expect("golden line");
            let file = g["file"].as_str().expect("file");
            let bytes = std::fs::read(format!("{FEEDS}{file}")).expect("fixture feed");
            (g, bytes)
        })
        .collect()
}

/// Each corpus feed is served from a URL of its own, as it would be in production.
fn feed_url(g: &Value) -> String {
    format!(
        "http://feeds.example.org/{}",
        g["file"].as_str().unwrap_or("")
    )
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Same title: feedparser keeps sanitised markup in HTML titles where we keep the text a reader
/// sees, and keeps plain-text titles as written; either form of its value counts.
pub fn same_title(ours: Option<&str>, theirs: Option<&str>) -> bool {
    match (
        ours.map(squash),
        theirs.map(squash).filter(|t| !t.is_empty()),
    ) {
        (None, None) => true,
        (Some(o), Some(t)) => o == t || o == squash(&html::to_text(&t)),
        _ => false,
    }
}

#[derive(Default)]
struct Tally {
    feeds: usize,
    parsed: usize,
    entries: usize,
    matched: usize,
}

/// Issue 13's goal: at least 98% of feedparser's entries with the same title and link (it was
/// 287 of 326, 88.0%, with 32 feeds unreadable). The misses left are where feedparser is
/// the odd one: it takes an `<image>`'s title inside a `<category>` for the item's, keeps a
/// host's case (`item.TEST`, which the URL parser under feed-rs lowercases), and takes an
/// Atom id that is not a URL (`right`) for the link.
#[test]
fn corpus_entries_match_feedparser() {
    let mut by_version: BTreeMap<String, Tally> = BTreeMap::new();
    let mut misses = Vec::new();
    for (g, bytes) in corpus() {
        let file = g["file"].as_str().unwrap_or("");
        let t = by_version
            .entry(g["version"].as_str().unwrap_or("?").to_owned())
            .or_default();
        t.feeds += 1;
        let want = g["entries"].as_array().expect("entries");
        t.entries += want.len();
        let p = match collectors::rss::parse(&bytes, &feed_url(&g), Utc::now()) {
            Ok(p) => p,
            Err(e) => {
                misses.push(format!("{file}: not parsed: {e}"));
                continue;
            }
        };
        t.parsed += 1;
        for (i, ge) in want.iter().enumerate() {
            let ours = p.entries.get(i);
            let title = ours.and_then(|e| e.title.as_deref());
            let link = ours.and_then(|e| e.mention.url.as_deref());
            if ours.is_some()
                && same_title(title, ge["title"].as_str())
                && link == ge["link"].as_str().filter(|l| !l.is_empty())
            {
                t.matched += 1;
            } else {
                misses.push(format!(
                    "{file}[{i}]: ours {title:?} {link:?}, feedparser {} {}",
                    ge["title"], ge["link"]
                ));
            }
        }
    }
    let mut all = Tally::default();
    for (v, t) in &by_version {
        println!(
            "{v:8} feeds {:3}/{:3} parsed, entries {:3}/{:3} matched",
            t.parsed, t.feeds, t.matched, t.entries
        );
        all.feeds += t.feeds;
        all.parsed += t.parsed;
        all.entries += t.entries;
        all.matched += t.matched;
    }
    let ratio = all.matched as f64 / all.entries as f64;
    println!(
        "all      feeds {}/{} parsed, entries {}/{} matched = {:.1}% of feedparser's",
        all.parsed,
        all.feeds,
        all.matched,
        all.entries,
        100.0 * ratio
    );
    for m in &misses {
        println!("  {m}");
    }
    for v in [
        "rss090", "rss091n", "rss091u", "rss092", "rss093", "rss094", "rss10", "rss20",
    ] {
        assert!(by_version.contains_key(v), "no {v} feed in the corpus");
    }
    for v in ["atom03", "atom10"] {
        assert!(by_version.contains_key(v), "no {v} feed in the corpus");
    }
    assert!(
        ratio >= 0.98,
        "{:.1}% of feedparser's entries",
        100.0 * ratio
    );
}

/// Issue 13: entries without a guid/id shared one id across feeds (309 mentions, 53 ids), so
/// the store kept one. Derived ids are scoped to the feed; only a publisher's URI id (the same
/// `guid`/`id` in several feeds: one entry, syndicated) may repeat.
#[test]
fn corpus_ids_are_distinct_across_feeds() {
    let mut by_id: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut mentions = 0;
    for (g, bytes) in corpus() {
        let url = feed_url(&g);
        let p = collectors::rss::parse(&bytes, &url, Utc::now()).expect("every corpus feed parses");
        for e in p.entries {
            mentions += 1;
            by_id
                .entry(e.mention.id)
                .or_default()
                .push((url.clone(), e.id));
        }
    }
    let shared: Vec<_> = by_id.iter().filter(|(_, v)| v.len() > 1).collect();
    let repeats: usize = shared.iter().map(|(_, v)| v.len() - 1).sum();
    println!(
        "{mentions} mentions, {} distinct ids; {} ids shared by {repeats} more mentions, all publisher URIs",
        by_id.len(),
        shared.len()
    );
    for (id, v) in &shared {
        let feeds: HashSet<&str> = v.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(feeds.len(), v.len(), "{id}: twice in one feed");
        for (_, entry_id) in v.iter() {
            assert!(
                !entry_id.starts_with("urn:x-backchannel:"),
                "a derived id repeats: {id}"
            );
            assert_eq!(format!("rss:{entry_id}"), **id, "a feed-scoped id repeats");
        }
    }
    assert_eq!(mentions, 326, "feedparser's entry count");
    assert!(by_id.len() >= mentions - 16, "{} distinct ids", by_id.len());
}
