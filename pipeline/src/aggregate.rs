//! Per-minute aggregates of a topic — mention count, sentiment sum and labels, top hashtags —
//! computed from the mentions themselves. Pure, so both modes can use it: the distributed store
//! rolls minutes up from ScyllaDB rows with it; the embedded store can do the same from redb.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, DurationRound, Utc};

/// Hashtags kept per minute by the distributed rollup and shown per step by a series.
pub const TOP_HASHTAGS: usize = 20;

/// Per-minute aggregates of one topic, oldest first.
pub type Series = Vec<(DateTime<Utc>, MinuteAggregate)>;

/// The minute a timestamp falls in.
pub fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(chrono::Duration::minutes(1)).unwrap_or(t)
}

/// The aggregate of one topic-minute, as computed from its mentions.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MinuteAggregate {
    pub mentions: i64,
    pub sentiment_sum: f64,
    pub positive: i64,
    pub neutral: i64,
    pub negative: i64,
    pub hashtags: HashMap<String, i64>,
}

impl MinuteAggregate {
    /// Adds one mention. Labels follow VADER's convention: compound ≥ 0.05 positive, ≤ −0.05
    /// negative, else neutral; a mention without a score counts as neutral.
    pub fn add(&mut self, sentiment: Option<f64>, hashtags: &[String]) {
        self.count(1, sentiment, hashtags);
    }

    /// Takes one mention back out, the inverse of [`MinuteAggregate::add`]: the earlier version
    /// of a rewritten mention. In a batch's delta the counts may go below zero until it is
    /// merged into the stored minute; [`MinuteAggregate::merge`] drops hashtags that reach zero.
    pub fn remove(&mut self, sentiment: Option<f64>, hashtags: &[String]) {
        self.count(-1, sentiment, hashtags);
    }

    fn count(&mut self, sign: i64, sentiment: Option<f64>, hashtags: &[String]) {
        self.mentions += sign;
        let s = sentiment.unwrap_or(0.0);
        self.sentiment_sum += sign as f64 * s;
        match s {
            s if s >= 0.05 => self.positive += sign,
            s if s <= -0.05 => self.negative += sign,
            _ => self.neutral += sign,
        }
        let mut seen = BTreeSet::new();
        for h in hashtags {
            let h = h.to_lowercase();
            if seen.insert(h.clone()) {
                *self.hashtags.entry(h).or_default() += sign;
            }
        }
    }

    /// The `n` most frequent hashtags (ties broken by name, so the result is deterministic).
    pub fn top_hashtags(&self, n: usize) -> HashMap<String, i64> {
        self.ranked_hashtags(n)
            .into_iter()
            .map(|(k, c)| (k.to_owned(), c))
            .collect()
    }

    /// The `n` most frequent hashtags, most frequent first (ties by name).
    pub fn ranked_hashtags(&self, n: usize) -> Vec<(&str, i64)> {
        let mut v: Vec<(&str, i64)> = self
            .hashtags
            .iter()
            .map(|(k, c)| (k.as_str(), *c))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        v.truncate(n);
        v
    }

    /// Adds another aggregate's counts to this one (two minutes into one step, or a batch's
    /// counts into a stored minute).
    pub fn merge(&mut self, other: &MinuteAggregate) {
        self.mentions += other.mentions;
        self.sentiment_sum += other.sentiment_sum;
        self.positive += other.positive;
        self.neutral += other.neutral;
        self.negative += other.negative;
        for (h, c) in &other.hashtags {
            *self.hashtags.entry(h.clone()).or_default() += c;
        }
        // A delta that takes mentions back out can bring a hashtag to zero.
        self.hashtags.retain(|_, c| *c > 0);
    }

    /// Keeps only the `n` most frequent hashtags, so a stored minute stays small.
    pub fn keep_top_hashtags(&mut self, n: usize) {
        if self.hashtags.len() > n {
            self.hashtags = self.top_hashtags(n);
        }
    }

    /// Mean compound sentiment, or `None` without mentions.
    pub fn mean_sentiment(&self) -> Option<f64> {
        (self.mentions > 0).then(|| self.sentiment_sum / self.mentions as f64)
    }
}

/// Folds per-minute aggregates into consecutive steps of `step` from `from` (cut to the step)
/// up to `to`, every step present (zero where nothing was posted), oldest first. Minutes outside
/// the range are ignored.
pub fn steps(
    minutes: &[(DateTime<Utc>, MinuteAggregate)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: chrono::Duration,
) -> Vec<(DateTime<Utc>, MinuteAggregate)> {
    let start = from.duration_trunc(step).unwrap_or(from);
    let mut out = Vec::new();
    let mut t = start;
    while t < to {
        out.push((t, MinuteAggregate::default()));
        t += step;
    }
    let (Ok(step_ms), false) = (usize::try_from(step.num_milliseconds()), out.is_empty()) else {
        return out;
    };
    for (minute, agg) in minutes {
        if *minute < start || *minute >= to {
            continue;
        }
        let i = usize::try_from((*minute - start).num_milliseconds()).unwrap_or(0) / step_ms.max(1);
        if let Some((_, slot)) = out.get_mut(i) {
            slot.merge(agg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn counts_labels_and_sums_sentiment() {
        let mut agg = MinuteAggregate::default();
        agg.add(Some(0.5), &[]);
        agg.add(Some(0.05), &[]);
        agg.add(Some(-0.3), &[]);
        agg.add(Some(0.01), &[]);
        agg.add(None, &[]);
        assert_eq!(agg.mentions, 5);
        assert_eq!((agg.positive, agg.neutral, agg.negative), (2, 2, 1));
        assert!((agg.sentiment_sum - 0.26).abs() < 1e-9);
    }

    #[test]
    fn hashtags_count_once_per_mention_case_insensitively_and_rank_deterministically() {
        let tags = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let mut agg = MinuteAggregate::default();
        agg.add(None, &tags(&["Rust", "rust", "tokio"]));
        agg.add(None, &tags(&["RUST", "serde"]));
        agg.add(None, &tags(&["tokio", "axum"]));
        assert_eq!(agg.hashtags.get("rust"), Some(&2), "once per mention");
        let top = agg.top_hashtags(3);
        assert_eq!(top.len(), 3);
        assert_eq!(top.get("rust"), Some(&2));
        assert_eq!(top.get("tokio"), Some(&2));
        assert_eq!(
            top.get("axum"),
            Some(&1),
            "ties broken by name: axum before serde"
        );
        assert!(!top.contains_key("serde"));
    }

    #[test]
    fn steps_fold_minutes_and_fill_gaps() {
        let at = |h, m| {
            Utc.with_ymd_and_hms(2026, 12, 3, h, m, 0)
                .single()
                .expect("time")
        };
        let one = |s: f64, tag: &str| {
            let mut a = MinuteAggregate::default();
            a.add(Some(s), &[tag.to_owned()]);
            a
        };
        let minutes = [
            (at(9, 59), one(0.9, "early")),
            (at(10, 0), one(0.5, "rust")),
            (at(10, 1), one(-0.5, "rust")),
            (at(10, 5), one(0.0, "go")),
            (at(11, 0), one(0.9, "late")),
        ];
        let hourly = steps(&minutes, at(10, 0), at(11, 0), chrono::Duration::hours(1));
        assert_eq!(hourly.len(), 1);
        let (t, agg) = &hourly[0];
        assert_eq!(*t, at(10, 0));
        assert_eq!(agg.mentions, 3, "9:59 and 11:00 are outside [10:00, 11:00)");
        assert_eq!((agg.positive, agg.neutral, agg.negative), (1, 1, 1));
        assert_eq!(agg.hashtags.get("rust"), Some(&2));
        assert_eq!(agg.ranked_hashtags(1), [("rust", 2)]);
        assert_eq!(agg.mean_sentiment(), Some(0.0));

        let by_minute = steps(
            &minutes,
            at(10, 0),
            at(10, 10),
            chrono::Duration::minutes(1),
        );
        assert_eq!(by_minute.len(), 10, "every minute present");
        let counts: Vec<i64> = by_minute.iter().map(|(_, a)| a.mentions).collect();
        assert_eq!(counts, [1, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(by_minute[2].1.mean_sentiment(), None);
        // A `from` inside a step starts at the step's beginning.
        let cut = steps(&minutes, at(10, 30), at(11, 0), chrono::Duration::hours(1));
        assert_eq!((cut[0].0, cut[0].1.mentions), (at(10, 0), 3));
    }

    #[test]
    fn merged_minutes_keep_their_top_hashtags() {
        let mut a = MinuteAggregate::default();
        for i in 0..50 {
            a.add(None, &[format!("t{}", i % 10), "common".to_owned()]);
        }
        let mut b = a.clone();
        b.merge(&a);
        assert_eq!(b.mentions, 100);
        assert_eq!(b.hashtags.get("common"), Some(&100));
        b.keep_top_hashtags(3);
        assert_eq!(b.hashtags.len(), 3);
        assert_eq!(b.ranked_hashtags(1), [("common", 100)]);
    }

    #[test]
    fn minutes_truncate() {
        let t = Utc
            .with_ymd_and_hms(2026, 12, 3, 16, 20, 59)
            .single()
            .expect("time");
        let m = Utc
            .with_ymd_and_hms(2026, 12, 3, 16, 20, 0)
            .single()
            .expect("time");
        assert_eq!(minute_of(t), m);
        assert_eq!(minute_of(m), m);
    }
}
