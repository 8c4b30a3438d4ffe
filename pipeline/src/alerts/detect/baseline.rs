//! What a signal usually looks like: its level, its daily rhythm, how much it wanders, its
//! negative share and its usual hashtags, each an exponentially weighted average so the state
//! is small, constant-size and serialisable.
//!
//! The level is kept *deseasonalised* (mentions per minute divided by the hour-of-day factor)
//! and follows changes within an hour or two, so slow drifts and a rhythm not yet learned are
//! tracked instead of alerted; the 24 hour-of-day factors learn the rhythm over days, so an
//! established signal is judged against what this time of day usually brings.

use std::collections::HashMap;

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::DetectorConfig;
use crate::aggregate::MinuteAggregate;

/// Hashtag averages kept at most (the most frequent), so a signal's state stays small.
const MAX_HASHTAGS: usize = 150;
/// A hashtag seen less than this often per minute is forgotten.
const MIN_HASHTAG_RATE: f64 = 1e-4;
/// The negative share assumed before any mention was seen (a typical social stream).
const PRIOR_NEGATIVE_SHARE: f64 = 0.2;

/// The learned baseline of one signal. Only `learn` changes it; the detector decides when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Baseline {
    /// Mentions per minute with the hour-of-day factor divided out.
    level: f64,
    /// Multiplicative hour-of-day factors (slot `h` is centred on `h:30`), mean 1.
    season: [f64; 24],
    /// Average absolute difference between a minute's mentions and what was expected.
    spread: f64,
    /// Average mentions and negative mentions per minute, for the negative share and the
    /// hashtag shares (not deseasonalised: shares do not follow the clock).
    mentions: f64,
    negative: f64,
    /// Average minute count per hashtag.
    hashtags: HashMap<String, f64>,
    /// Minutes learned so far; early on the averages are plain means, so they start fast.
    minutes: u64,
}

impl Default for Baseline {
    fn default() -> Self {
        Self {
            level: 0.0,
            season: [1.0; 24],
            spread: 0.0,
            mentions: 0.0,
            negative: 0.0,
            hashtags: HashMap::new(),
            minutes: 0,
        }
    }
}

/// The two hour slots a minute lies between, and the weight of the second one.
fn slots(minute: DateTime<Utc>) -> (usize, usize, f64) {
    let hours = f64::from(minute.hour()) + f64::from(minute.minute()) / 60.0 - 0.5;
    let hours = hours.rem_euclid(24.0);
    let first = hours.floor();
    let i = (first as usize) % 24;
    (i, (i + 1) % 24, hours - first)
}

/// The weight of a new value in an average over about `minutes`, after `seen` values: a
/// plain mean while fewer than `minutes` were seen.
fn weight(minutes: f64, seen: u64) -> f64 {
    (1.0 / minutes.max(1.0)).max(1.0 / (seen as f64 + 1.0))
}

impl Baseline {
    /// The hour-of-day factor at `minute`, interpolated between slot centres.
    fn season_at(&self, minute: DateTime<Utc>) -> f64 {
        let (i, j, f) = slots(minute);
        self.season[i] * (1.0 - f) + self.season[j] * f
    }

    /// Mentions expected in `minute`.
    pub(super) fn expected(&self, minute: DateTime<Utc>) -> f64 {
        (self.level * self.season_at(minute)).max(0.0)
    }

    /// The usual absolute error of `expected` for one minute.
    pub(super) fn spread(&self) -> f64 {
        self.spread
    }

    /// The usual share of negative mentions.
    pub(super) fn negative_share(&self) -> f64 {
        let prior = 1e-3;
        (self.negative + PRIOR_NEGATIVE_SHARE * prior) / (self.mentions + prior)
    }

    /// The hashtag counts expected among `mentions` ordinary mentions, for `tags`.
    pub(super) fn hashtags_expected<'a>(
        &self,
        tags: impl Iterator<Item = &'a String>,
        mentions: f64,
    ) -> HashMap<String, f64> {
        let per_mention = 1.0 / self.mentions.max(1e-9);
        tags.map(|t| {
            let rate = self.hashtags.get(t).copied().unwrap_or(0.0);
            (t.clone(), rate * per_mention * mentions)
        })
        .collect()
    }

    /// Learns one minute. A count far above the expectation is cut down first, so a spike
    /// the detector has not (yet) opened teaches the baseline little.
    pub(super) fn learn(
        &mut self,
        cfg: &DetectorConfig,
        minute: DateTime<Utc>,
        agg: &MinuteAggregate,
    ) {
        let seen = self.minutes;
        self.minutes += 1;
        let x = agg.mentions.max(0) as f64;
        let expected = self.expected(minute);
        let x = if seen == 0 {
            x
        } else {
            x.min(2.0 * expected + 3.0 * expected.sqrt() + 3.0)
        };
        if seen > 0 {
            let w = weight(cfg.level_minutes, seen - 1);
            self.spread += w * ((x - expected).abs() - self.spread);
        }
        let season = self.season_at(minute).max(0.05);
        self.level += weight(cfg.level_minutes, seen) * (x / season - self.level);
        self.learn_season(cfg, minute, x);
        self.learn_shares(cfg, seen, agg);
    }

    /// Moves the two hour slots around `minute` towards this minute's ratio to the level,
    /// then rescales the factors to mean 1 (moving the scale into the level).
    fn learn_season(&mut self, cfg: &DetectorConfig, minute: DateTime<Utc>, x: f64) {
        if self.level < 0.05 {
            return;
        }
        let ratio = (x / self.level).min(5.0);
        let (i, j, f) = slots(minute);
        for (slot, share) in [(i, 1.0 - f), (j, f)] {
            self.season[slot] += cfg.season_rate * share * (ratio - self.season[slot]);
        }
        let mean = self.season.iter().sum::<f64>() / 24.0;
        if mean > 0.0 {
            self.season.iter_mut().for_each(|s| *s /= mean);
            self.level *= mean;
        }
    }

    /// Learns the negative share and the hashtag shares.
    fn learn_shares(&mut self, cfg: &DetectorConfig, seen: u64, agg: &MinuteAggregate) {
        let w = weight(cfg.share_minutes, seen);
        self.mentions += w * (agg.mentions.max(0) as f64 - self.mentions);
        self.negative += w * (agg.negative.max(0) as f64 - self.negative);
        self.hashtags.values_mut().for_each(|r| *r *= 1.0 - w);
        for (tag, count) in &agg.hashtags {
            *self.hashtags.entry(tag.clone()).or_default() += w * (*count).max(0) as f64;
        }
        self.hashtags.retain(|_, r| *r >= MIN_HASHTAG_RATE);
        if self.hashtags.len() > 2 * MAX_HASHTAGS {
            let mut ranked: Vec<(String, f64)> = self.hashtags.drain().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            ranked.truncate(MAX_HASHTAGS);
            self.hashtags = ranked.into_iter().collect();
        }
    }
}
