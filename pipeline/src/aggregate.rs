//! Per-minute aggregates of a topic — mention count, sentiment sum and labels, top hashtags —
//! computed from the mentions themselves. Pure, so both modes can use it: the distributed store
//! rolls minutes up from ScyllaDB rows with it; the embedded store can do the same from redb.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, DurationRound, Utc};

/// The minute a timestamp falls in.
pub fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(chrono::Duration::minutes(1)).unwrap_or(t)
}

/// The aggregate of one topic-minute, as computed from its mentions.
#[derive(Debug, Default, Clone, PartialEq)]
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
        self.mentions += 1;
        let s = sentiment.unwrap_or(0.0);
        self.sentiment_sum += s;
        match s {
            s if s >= 0.05 => self.positive += 1,
            s if s <= -0.05 => self.negative += 1,
            _ => self.neutral += 1,
        }
        let mut seen = BTreeSet::new();
        for h in hashtags {
            let h = h.to_lowercase();
            if seen.insert(h.clone()) {
                *self.hashtags.entry(h).or_default() += 1;
            }
        }
    }

    /// The `n` most frequent hashtags (ties broken by name, so the result is deterministic).
    pub fn top_hashtags(&self, n: usize) -> HashMap<String, i64> {
        let mut v: Vec<(&String, &i64)> = self.hashtags.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        v.into_iter()
            .take(n)
            .map(|(k, c)| (k.clone(), *c))
            .collect()
    }
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
