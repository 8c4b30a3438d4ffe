//! Why an incident happened, in terms a person checks in seconds: the hashtags, terms, domains
//! and authors over-represented in the incident's window against the baseline, and a few
//! representative mentions.
//!
//! Counts are rate-normalised (the baseline is scaled to the window's length), so a hashtag
//! that is always there does not explain a spike just by being frequent; the lift is smoothed
//! (`(c_w + 1) / (c_b + 1)`) so one mention from nowhere is not "infinitely" over-represented,
//! and drivers are ranked by `count · ln(lift)`, which favours what is both frequent and new.
//! Examples are one per near-duplicate cluster (`dup_key`), so three copies of one retweet do
//! not fill the list.

use std::collections::{HashMap, HashSet};

use super::{AlertKind, Driver};

/// Fewest mentions carrying an item, in the window, for it to be a driver.
pub const MIN_DRIVER_COUNT: i64 = 3;
/// Least smoothed lift for an item to be a driver.
pub const MIN_DRIVER_LIFT: f64 = 2.0;
/// Drivers kept per kind, and overall.
pub const MAX_DRIVERS_PER_KIND: usize = 5;
pub const MAX_DRIVERS: usize = 10;
/// Example mentions returned.
pub const MAX_EXAMPLES: usize = 3;

/// A mention as the explainer needs it (the caller fetches these from the store).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub id: String,
    pub author: String,
    pub hashtags: Vec<String>,
    pub domains: Vec<String>,
    pub terms: Vec<String>,
    /// Equal for near-duplicates (retweets, copies), so examples can skip them.
    pub dup_key: u64,
}

/// The mentions of a stretch of time, with its length. Samples must be all the mentions of
/// that time, or a sample at the same rate as the other period's, for rates to compare.
#[derive(Debug, Clone, Copy)]
pub struct Period<'a> {
    pub samples: &'a [Sample],
    pub minutes: f64,
}

/// Exact hashtag counts from the minute aggregates: the window's counts and the baseline's
/// expected counts for the same window (as [`super::detect::Incident`] carries them). When
/// given, they replace the samples' hashtags, which may be a subset.
pub type HashtagCounts<'a> = (&'a HashMap<String, i64>, &'a HashMap<String, f64>);

/// How to read one kind of item off a sample.
type Items = fn(&Sample) -> &[String];

/// The kinds of item a driver can be, with how to read them off a sample.
const KINDS: [(&str, Items); 4] = [
    ("hashtag", |s| &s.hashtags),
    ("term", |s| &s.terms),
    ("domain", |s| &s.domains),
    ("author", |s| std::slice::from_ref(&s.author)),
];

/// The drivers of an incident and up to [`MAX_EXAMPLES`] example mention ids.
pub fn explain(
    window: Period<'_>,
    baseline: Period<'_>,
    hashtag_counts: Option<HashtagCounts<'_>>,
) -> (Vec<Driver>, Vec<String>) {
    let scale = if baseline.minutes > 0.0 {
        window.minutes / baseline.minutes
    } else {
        0.0
    };
    let mut drivers = Vec::new();
    for (kind, items) in KINDS {
        let (counts, expected) = match (kind, hashtag_counts) {
            ("hashtag", Some((w, b))) => (w.clone(), b.clone()),
            _ => {
                let b = count(baseline.samples, items);
                let b = b.into_iter().map(|(k, c)| (k, c as f64 * scale)).collect();
                (count(window.samples, items), b)
            }
        };
        drivers.extend(drivers_of(kind, &counts, &expected));
    }
    // On equal scores a hashtag, a domain or an author says more than a word does (the words
    // of one copied post all tie with its hashtag).
    let precedence = |d: &Driver| match d.kind.as_str() {
        "hashtag" => 0,
        "domain" => 1,
        "author" => 2,
        _ => 3,
    };
    drivers.sort_by(|a, b| {
        score(b)
            .total_cmp(&score(a))
            .then_with(|| precedence(a).cmp(&precedence(b)))
            .then_with(|| a.value.cmp(&b.value))
    });
    drivers.truncate(MAX_DRIVERS);
    let examples = examples(window.samples, &drivers);
    (drivers, examples)
}

/// Mentions carrying each item (an item counts once per mention).
fn count(samples: &[Sample], items: Items) -> HashMap<String, i64> {
    let mut counts = HashMap::new();
    for s in samples {
        let distinct: HashSet<&String> = items(s).iter().filter(|i| !i.is_empty()).collect();
        for item in distinct {
            *counts.entry(item.clone()).or_default() += 1;
        }
    }
    counts
}

fn score(d: &Driver) -> f64 {
    d.count as f64 * d.lift.ln()
}

/// The over-represented items of one kind, best first, at most [`MAX_DRIVERS_PER_KIND`].
fn drivers_of(
    kind: &str,
    counts: &HashMap<String, i64>,
    expected: &HashMap<String, f64>,
) -> Vec<Driver> {
    let mut out: Vec<Driver> = counts
        .iter()
        .filter(|(_, c)| **c >= MIN_DRIVER_COUNT)
        .map(|(value, c)| {
            let baseline = expected.get(value).copied().unwrap_or(0.0).max(0.0);
            Driver {
                kind: kind.to_owned(),
                value: value.clone(),
                count: *c,
                baseline,
                lift: (*c as f64 + 1.0) / (baseline + 1.0),
            }
        })
        .filter(|d| d.lift >= MIN_DRIVER_LIFT)
        .collect();
    out.sort_by(|a, b| {
        score(b)
            .total_cmp(&score(a))
            .then_with(|| a.value.cmp(&b.value))
    });
    out.truncate(MAX_DRIVERS_PER_KIND);
    out
}

/// Up to [`MAX_EXAMPLES`] mention ids, one per `dup_key`, those carrying the strongest drivers
/// first (ties: the earlier mention).
fn examples(samples: &[Sample], drivers: &[Driver]) -> Vec<String> {
    let weight = |s: &Sample| -> f64 { drivers.iter().filter(|d| carries(s, d)).map(score).sum() };
    let mut ranked: Vec<(f64, usize)> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| (weight(s), i))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut seen = HashSet::new();
    ranked
        .into_iter()
        .filter_map(|(_, i)| samples.get(i))
        .filter(|s| seen.insert(s.dup_key))
        .take(MAX_EXAMPLES)
        .map(|s| s.id.clone())
        .collect()
}

fn carries(s: &Sample, d: &Driver) -> bool {
    KINDS
        .iter()
        .find(|(kind, _)| *kind == d.kind)
        .is_some_and(|(_, items)| items(s).iter().any(|i| i.eq_ignore_ascii_case(&d.value)))
}

/// How a driver reads in a sentence: `#tag`, `@author`, `"term"`, `domain`.
fn label(d: &Driver) -> String {
    match d.kind.as_str() {
        "hashtag" => format!("#{}", d.value),
        "author" => format!("@{}", d.value),
        "term" => format!("\"{}\"", d.value),
        _ => d.value.clone(),
    }
}

/// A count for people: whole numbers as such, small fractional ones with one decimal.
fn number(x: f64) -> String {
    if x >= 10.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// Plain words for an alert, e.g. "mentions per minute 48 vs 6 expected (8.0×), driven by
/// #outage (120 mentions, 40× baseline)". Names at most three drivers, one of each kind.
pub fn summary(kind: AlertKind, observed: f64, expected: f64, drivers: &[Driver]) -> String {
    let ratio = if expected > 0.0 {
        format!(" ({:.1}×)", observed / expected)
    } else {
        String::new()
    };
    let mut s = match kind {
        AlertKind::VolumeSpike => {
            format!(
                "mentions per minute {} vs {} expected{ratio}",
                number(observed),
                number(expected)
            )
        }
        AlertKind::NegativeShift => format!(
            "negative share {:.0}% vs {:.0}% expected{ratio}",
            observed * 100.0,
            expected * 100.0
        ),
    };
    // The best driver of each kind, best first: the words of one copied post would otherwise
    // crowd out its hashtag, domain or author.
    let mut kinds = HashSet::new();
    let named: Vec<String> = drivers
        .iter()
        .filter(|d| kinds.insert(d.kind.as_str()))
        .take(3)
        .map(|d| {
            format!(
                "{} ({} mentions, {:.0}× baseline)",
                label(d),
                d.count,
                d.lift
            )
        })
        .collect();
    if !named.is_empty() {
        s.push_str(", driven by ");
        s.push_str(&named.join(", "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: usize, tags: &[&str], author: &str, dup_key: u64) -> Sample {
        Sample {
            id: format!("m{id}"),
            author: author.to_owned(),
            hashtags: tags.iter().map(|t| (*t).to_owned()).collect(),
            domains: vec!["example.com".to_owned()],
            terms: vec![],
            dup_key,
        }
    }

    #[test]
    fn names_the_new_hashtag_not_the_usual_one_and_picks_distinct_examples() {
        // Baseline: 60 minutes, 2 mentions a minute, all #usual.
        let baseline: Vec<Sample> = (0..120)
            .map(|i| sample(i, &["usual"], "a", i as u64))
            .collect();
        // Window: 2 minutes, the usual 4 plus 20 copies of one #outage post (10 dup clusters).
        let mut window: Vec<Sample> = (0..4)
            .map(|i| sample(1000 + i, &["usual"], "a", 1000 + i as u64))
            .collect();
        window
            .extend((0..20).map(|i| sample(2000 + i, &["outage", "usual"], "b", (i % 10) as u64)));
        let (drivers, examples) = explain(
            Period {
                samples: &window,
                minutes: 2.0,
            },
            Period {
                samples: &baseline,
                minutes: 60.0,
            },
            None,
        );
        // #outage and author b tie on score (both 20 mentions, lift 21) and lead, the hashtag
        // first.
        let top = &drivers[0];
        assert_eq!(
            (top.kind.as_str(), top.value.as_str(), top.count),
            ("hashtag", "outage", 20)
        );
        assert_eq!(
            (drivers[1].kind.as_str(), drivers[1].value.as_str()),
            ("author", "b")
        );
        assert!((top.lift - 21.0).abs() < 1e-9, "{top:?}");
        assert!(drivers.iter().any(|d| d.kind == "author" && d.value == "b"));
        // #usual: 24 in the window against 4 expected (lift 5): a driver, ranked below.
        assert!(
            drivers.windows(2).all(|w| score(&w[0]) >= score(&w[1])),
            "{drivers:?}"
        );
        assert!(
            !drivers.iter().any(|d| d.value == "a"),
            "author a is as usual: {drivers:?}"
        );
        assert_eq!(examples.len(), 3);
        let keys: HashSet<u64> = examples
            .iter()
            .map(|id| {
                window
                    .iter()
                    .find(|s| &s.id == id)
                    .map(|s| s.dup_key)
                    .unwrap_or(u64::MAX)
            })
            .collect();
        assert_eq!(
            keys.len(),
            3,
            "one example per duplicate cluster: {examples:?}"
        );
        assert!(
            examples.iter().all(|id| id.starts_with("m20")),
            "{examples:?}"
        );
    }

    #[test]
    fn aggregate_hashtag_counts_replace_the_samples_and_rare_items_are_not_drivers() {
        let window = vec![sample(1, &["rare"], "a", 1), sample(2, &["rare"], "a", 2)];
        let counts = HashMap::from([("spike".to_owned(), 50_i64), ("rare".to_owned(), 2)]);
        let expected = HashMap::from([("spike".to_owned(), 1.5_f64)]);
        let (drivers, _) = explain(
            Period {
                samples: &window,
                minutes: 2.0,
            },
            Period {
                samples: &[],
                minutes: 60.0,
            },
            Some((&counts, &expected)),
        );
        let tags: Vec<&str> = drivers
            .iter()
            .filter(|d| d.kind == "hashtag")
            .map(|d| d.value.as_str())
            .collect();
        assert_eq!(tags, vec!["spike"]);
        assert!((drivers[0].baseline - 1.5).abs() < 1e-9);
    }

    #[test]
    fn summary_reads_as_plain_words() {
        let d = Driver {
            kind: "hashtag".into(),
            value: "outage".into(),
            count: 120,
            baseline: 2.0,
            lift: 40.3,
        };
        assert_eq!(
            summary(AlertKind::VolumeSpike, 48.0, 6.0, std::slice::from_ref(&d)),
            "mentions per minute 48 vs 6 expected (8.0×), driven by #outage (120 mentions, 40× baseline)"
        );
        assert_eq!(
            summary(AlertKind::NegativeShift, 0.62, 0.18, &[]),
            "negative share 62% vs 18% expected (3.4×)"
        );
    }
}
