//! How the newest minutes compare with the baseline: the windows, the tests that open an
//! incident, and the much lower bar that keeps one open.

use chrono::{DateTime, Utc};

use super::tail::{binomial_score, poisson_score};
use super::{AlertKind, DetectorConfig, Evidence, SignalDetector};

/// The least expectation per minute: a signal that never speaks still "expects" a little, so
/// ratios stay finite (the mention floor is what keeps quiet signals quiet).
const MIN_EXPECTED_PER_MINUTE: f64 = 0.05;
/// The mean absolute deviation of a normal law is 0.8 σ; this turns the spread into a σ.
const SPREAD_TO_SIGMA: f64 = 1.25;

impl SignalDetector {
    /// The last `minutes` minutes against the baseline, if that many were seen.
    fn window(&self, kind: AlertKind, minutes: usize) -> Option<Evidence> {
        if minutes == 0 || minutes > self.recent.len() {
            return None;
        }
        let window = self.recent.iter().skip(self.recent.len() - minutes);
        let (mut n, mut neg, mut expected) = (0_i64, 0_i64, 0.0_f64);
        let mut weakest = f64::INFINITY;
        for m in window {
            n += m.mentions.max(0);
            neg += m.negative.max(0);
            expected += m.expected;
            weakest = weakest.min(m.mentions as f64 / m.expected.max(MIN_EXPECTED_PER_MINUTE));
        }
        let (n, neg) = (n as u64, neg as u64);
        Some(match kind {
            AlertKind::VolumeSpike => Evidence {
                weakest,
                ..self.volume_evidence(minutes, n, expected)
            },
            AlertKind::NegativeShift => self.shift_evidence(minutes, n, neg),
        })
    }

    fn volume_evidence(&self, minutes: usize, n: u64, expected: f64) -> Evidence {
        let w = minutes as f64;
        let expected = expected.max(MIN_EXPECTED_PER_MINUTE * w);
        let observed = n as f64;
        let sigma = expected
            .max((SPREAD_TO_SIGMA * self.baseline.spread()).powi(2) * w)
            .sqrt();
        Evidence {
            minutes,
            observed: observed / w,
            expected: expected / w,
            score: poisson_score(n, expected),
            excess: observed / expected,
            z: (observed - expected) / sigma,
            mentions: n,
            weakest: 0.0,
        }
    }

    fn shift_evidence(&self, minutes: usize, n: u64, neg: u64) -> Evidence {
        let p0 = self.baseline.negative_share();
        let share = if n == 0 { 0.0 } else { neg as f64 / n as f64 };
        let sigma = (p0 * (1.0 - p0) / n.max(1) as f64).sqrt().max(1e-9);
        Evidence {
            minutes,
            observed: share,
            expected: p0,
            score: binomial_score(neg, n, p0),
            excess: share - p0,
            z: (share - p0) / sigma,
            mentions: n,
            weakest: 0.0,
        }
    }

    /// Whether a window is strong enough to open an incident.
    fn is_strong(cfg: &DetectorConfig, kind: AlertKind, e: &Evidence) -> bool {
        match kind {
            AlertKind::VolumeSpike => {
                e.mentions >= cfg.min_mentions
                    && e.excess >= cfg.spike_ratio
                    && e.score >= cfg.spike_score
                    && e.z >= cfg.spike_z
                    && e.weakest >= cfg.calm_ratio
            }
            AlertKind::NegativeShift => {
                e.mentions >= cfg.negative_min_mentions
                    && e.excess >= cfg.negative_shift
                    && e.score >= cfg.negative_score
            }
        }
    }

    /// Whether the current window of an open incident is calm (below the low bar).
    pub(super) fn is_calm(&self, cfg: &DetectorConfig, kind: AlertKind, e: &Evidence) -> bool {
        let bar = match kind {
            AlertKind::VolumeSpike => cfg.calm_ratio,
            AlertKind::NegativeShift => cfg.negative_calm_shift,
        };
        e.excess < bar || e.score < cfg.calm_score
    }

    fn longest_window(cfg: &DetectorConfig, kind: AlertKind) -> usize {
        match kind {
            AlertKind::VolumeSpike => cfg.window,
            AlertKind::NegativeShift => cfg.negative_window,
        }
    }

    /// The strongest window that opens an incident of `kind`, if any.
    pub(super) fn strongest(&self, cfg: &DetectorConfig, kind: AlertKind) -> Option<Evidence> {
        (cfg.min_window.max(1)..=Self::longest_window(cfg, kind))
            .filter_map(|w| self.window(kind, w))
            .filter(|e| Self::is_strong(cfg, kind, e))
            .max_by(|a, b| a.score.total_cmp(&b.score))
    }

    /// The full window an open incident is judged on (shorter while fewer minutes were seen).
    pub(super) fn current(&self, cfg: &DetectorConfig, kind: AlertKind) -> Option<Evidence> {
        let w = Self::longest_window(cfg, kind).min(self.recent.len());
        self.window(kind, w)
    }

    /// The first of the last `minutes` minutes that looks anomalous on its own (the window's
    /// first minute if none does): where an incident that opens on this window started.
    pub(super) fn first_anomalous(
        &self,
        cfg: &DetectorConfig,
        kind: AlertKind,
        minutes: usize,
    ) -> Option<DateTime<Utc>> {
        let skip = self.recent.len().saturating_sub(minutes);
        let mut window = self.recent.iter().skip(skip);
        let p0 = self.baseline.negative_share();
        let anomalous = |m: &&super::Minute| match kind {
            AlertKind::VolumeSpike => {
                m.mentions as f64 > cfg.calm_ratio * m.expected.max(MIN_EXPECTED_PER_MINUTE)
            }
            AlertKind::NegativeShift => {
                m.mentions > 0
                    && m.negative as f64 / m.mentions as f64 - p0 >= cfg.negative_calm_shift
            }
        };
        let first = self.recent.get(skip).map(|m| m.at);
        window.find(anomalous).map(|m| m.at).or(first)
    }
}
