//! The per-signal detector: fed every closed minute of one signal, in order, it opens, grows
//! and resolves incidents of two kinds, volume spikes and negative shifts.
//!
//! Why it is shaped this way:
//! - The baseline ([`baseline`]) learns the signal's own level and daily rhythm, so "high" means
//!   high for this signal at this time of day; it is frozen while an incident is open (and cuts
//!   down outliers before that), so a spike does not teach the baseline that spikes are normal.
//! - A volume spike needs three things at once over a short window (2–3 minutes, so one noisy
//!   minute is not enough and detection still lags at most two minutes): a Poisson tail that
//!   small counts cannot fake, a ratio to the expectation that large counts cannot fake by being
//!   merely significant, and a floor of mentions, so a quiet signal going from 0 to 3 stays quiet.
//!   A robust z-score against the signal's own spread guards signals noisier than Poisson, and
//!   every minute of the window must be above the calm bar (a one-minute burst is not a spike).
//! - A negative shift compares the negative share of a short window with the baseline share,
//!   by a binomial tail plus a minimum shift and a floor of mentions.
//! - Hysteresis: an incident opens on strong evidence and resolves only after `resolve_after`
//!   calm minutes below a much lower bar, so one incident is one `Opened` and one `Resolved`,
//!   with `Updated` only when it grows by half again.
//! - The whole state is plain data (serde), so a restart resumes an open incident.

mod baseline;
mod evidence;
mod tail;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::AlertKind;
use crate::aggregate::{MinuteAggregate, minute_of};
use crate::error::{Error, Result};
use baseline::Baseline;

/// The detector's knobs. Defaults are meant for production; every one can be overridden.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// Fewest mentions in the spike window for a volume spike: below it nothing is a spike.
    pub min_mentions: u64,
    /// Mentions in the window must be at least this many times the expectation.
    pub spike_ratio: f64,
    /// ... and this surprising: `-log10` of the Poisson tail probability.
    pub spike_score: f64,
    /// ... and this many robust standard deviations (the signal's own spread) above it.
    pub spike_z: f64,
    /// The longest window a spike is judged over, in minutes.
    pub window: usize,
    /// The shortest one (2: a single minute is never enough).
    pub min_window: usize,
    /// An open spike is calm in a minute whose window is below this ratio or `calm_score`.
    pub calm_ratio: f64,
    /// The surprise (`-log10 p`) below which an open incident's window counts as calm.
    pub calm_score: f64,
    /// Fewest mentions in the window for a negative shift.
    pub negative_min_mentions: u64,
    /// The negative share must exceed the baseline share by at least this much.
    pub negative_shift: f64,
    /// ... and be this surprising: `-log10` of the binomial tail probability.
    pub negative_score: f64,
    /// An open shift is calm in a minute where the share is less than this above the baseline.
    pub negative_calm_shift: f64,
    /// The longest window a negative shift is judged over, in minutes.
    pub negative_window: usize,
    /// Calm minutes in a row that resolve an incident.
    pub resolve_after: u32,
    /// Minutes a new signal is only learned, never alerted.
    pub warmup_minutes: u64,
    /// About how many minutes the level remembers (shorter tracks drifts and rhythm faster).
    pub level_minutes: f64,
    /// How fast the hour-of-day factors learn, per minute of their hour (0.02: most of a day).
    pub season_rate: f64,
    /// About how many minutes the negative share and the hashtag shares remember.
    pub share_minutes: f64,
    /// An open incident is reported again (`Updated`) when it grows by this factor.
    pub update_growth: f64,
    /// An incident open this long is taken as the new normal: the baseline learns again
    /// (outliers still cut), so a lasting step up resolves instead of staying open for ever.
    pub relearn_after: u32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            min_mentions: 8,
            spike_ratio: 2.5,
            spike_score: 7.0,
            spike_z: 5.0,
            window: 3,
            min_window: 2,
            calm_ratio: 1.5,
            calm_score: 2.0,
            negative_min_mentions: 20,
            negative_shift: 0.15,
            negative_score: 6.0,
            negative_calm_shift: 0.07,
            negative_window: 5,
            resolve_after: 5,
            warmup_minutes: 360,
            level_minutes: 90.0,
            season_rate: 0.02,
            share_minutes: 360.0,
            update_growth: 1.5,
            relearn_after: 180,
        }
    }
}

impl DetectorConfig {
    /// Checks the knobs make sense together; the error names the key.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |key: &str, want: &str| Err(Error::Config(format!("alerts.{key}: expected {want}")));
        if self.min_window < 1 || self.window < self.min_window {
            return bad("window", "window >= min_window >= 1");
        }
        if self.negative_window < self.min_window {
            return bad("negative_window", "negative_window >= min_window");
        }
        if self.spike_ratio <= self.calm_ratio || self.calm_ratio < 1.0 {
            return bad("calm_ratio", "1 <= calm_ratio < spike_ratio");
        }
        if self.negative_calm_shift >= self.negative_shift {
            return bad("negative_calm_shift", "a value below negative_shift");
        }
        if !(self.season_rate > 0.0 && self.season_rate < 1.0) {
            return bad("season_rate", "a value in (0, 1)");
        }
        if self.update_growth <= 1.0 {
            return bad("update_growth", "a factor above 1");
        }
        Ok(())
    }
}

/// One incident at one point of its life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub kind: AlertKind,
    /// The first minute that looked anomalous.
    pub started_at: DateTime<Utc>,
    /// The minute this event is about.
    pub at: DateTime<Utc>,
    /// Volume: mentions per minute over the window; shift: the window's negative share.
    pub observed: f64,
    /// What the baseline expected for the same (mentions per minute, or negative share).
    pub expected: f64,
    /// `-log10` of the tail probability of the window (higher is stronger).
    pub score: f64,
    /// Mentions from `started_at` to `at`.
    pub mentions: i64,
    /// Hashtag counts summed from `started_at` to `at` (from the minute aggregates, so only
    /// each minute's top hashtags).
    pub hashtags: HashMap<String, i64>,
    /// For each hashtag in `hashtags`: the count the baseline expects over as many ordinary
    /// mentions as the same minutes should have brought.
    pub baseline_hashtags: HashMap<String, f64>,
}

/// What one minute did to an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Transition {
    Opened(Incident),
    Updated(Incident),
    Resolved(Incident),
}

impl Transition {
    pub fn incident(&self) -> &Incident {
        match self {
            Self::Opened(i) | Self::Updated(i) | Self::Resolved(i) => i,
        }
    }

    pub fn state(&self) -> super::AlertState {
        match self {
            Self::Opened(_) => super::AlertState::Opened,
            Self::Updated(_) => super::AlertState::Updated,
            Self::Resolved(_) => super::AlertState::Resolved,
        }
    }
}

/// One minute as the windows need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Minute {
    at: DateTime<Utc>,
    mentions: i64,
    negative: i64,
    expected: f64,
    hashtags: HashMap<String, i64>,
}

/// An open incident and what hysteresis needs to know about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Open {
    incident: Incident,
    /// Ordinary mentions the baseline expected over the incident's minutes.
    expected_mentions: f64,
    /// `observed` when it was last reported (Opened or Updated).
    reported: f64,
    calm: u32,
    minutes: u32,
}

/// How one window compares with the baseline.
#[derive(Debug, Clone, Copy)]
struct Evidence {
    minutes: usize,
    observed: f64,
    expected: f64,
    score: f64,
    /// Volume: observed / expected; shift: observed share minus the baseline share.
    excess: f64,
    z: f64,
    mentions: u64,
    /// Volume: the lowest ratio of one minute to its expectation in the window. A spike must
    /// hold every minute of it, so one bursting minute between ordinary ones opens nothing.
    weakest: f64,
}

/// The whole state of one signal's detector; serialise it to resume after a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignalDetector {
    baseline: Baseline,
    recent: VecDeque<Minute>,
    last: Option<DateTime<Utc>>,
    seen: u64,
    volume: Option<Open>,
    negative: Option<Open>,
}

/// A gap longer than this is not replayed minute by minute (the baseline has long forgotten).
const MAX_GAP_MINUTES: i64 = 7 * 24 * 60;

impl SignalDetector {
    /// A detector that knows nothing yet (it learns for `warmup_minutes` before alerting).
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether an incident of `kind` is open.
    pub fn is_open(&self, kind: AlertKind) -> bool {
        match kind {
            AlertKind::VolumeSpike => self.volume.is_some(),
            AlertKind::NegativeShift => self.negative.is_some(),
        }
    }

    /// Ends every open incident now, whatever the counts say (the signal's alerts were turned
    /// off, or it was deleted): each one's `Resolved`, as last reported.
    pub fn close(&mut self) -> Vec<Transition> {
        [self.volume.take(), self.negative.take()]
            .into_iter()
            .flatten()
            .map(|open| Transition::Resolved(open.incident))
            .collect()
    }

    /// Feeds one closed minute (call once per minute, in order; a minute without mentions is
    /// `MinuteAggregate::default()`). Minutes skipped since the last call are taken as empty;
    /// a minute not after the last one is ignored. Returns what happened to incidents.
    pub fn observe(
        &mut self,
        cfg: &DetectorConfig,
        minute: DateTime<Utc>,
        agg: &MinuteAggregate,
    ) -> Vec<Transition> {
        let minute = minute_of(minute);
        let mut out = Vec::new();
        if let Some(last) = self.last {
            if minute <= last {
                return out;
            }
            let mut t =
                (last + Duration::minutes(1)).max(minute - Duration::minutes(MAX_GAP_MINUTES));
            let empty = MinuteAggregate::default();
            while t < minute {
                self.step(cfg, t, &empty, &mut out);
                t += Duration::minutes(1);
            }
        }
        self.step(cfg, minute, agg, &mut out);
        out
    }

    fn step(
        &mut self,
        cfg: &DetectorConfig,
        at: DateTime<Utc>,
        agg: &MinuteAggregate,
        out: &mut Vec<Transition>,
    ) {
        let expected = self.baseline.expected(at);
        self.recent.push_back(Minute {
            at,
            mentions: agg.mentions,
            negative: agg.negative,
            expected,
            hashtags: agg.hashtags.clone(),
        });
        while self.recent.len() > cfg.window.max(cfg.negative_window).max(1) {
            self.recent.pop_front();
        }
        self.seen += 1;
        if self.seen > cfg.warmup_minutes {
            self.track(cfg, AlertKind::VolumeSpike, out);
            self.track(cfg, AlertKind::NegativeShift, out);
        }
        let open_minutes = [&self.volume, &self.negative]
            .into_iter()
            .flatten()
            .map(|o| o.minutes)
            .max();
        if open_minutes.is_none_or(|m| m > cfg.relearn_after) {
            self.baseline.learn(cfg, at, agg);
        }
        self.last = Some(at);
    }

    /// Opens, grows or resolves the incident of `kind` with the newest minute.
    fn track(&mut self, cfg: &DetectorConfig, kind: AlertKind, out: &mut Vec<Transition>) {
        let open = match kind {
            AlertKind::VolumeSpike => self.volume.take(),
            AlertKind::NegativeShift => self.negative.take(),
        };
        let open = match open {
            Some(open) => self.carry_on(cfg, open, out),
            None => self.try_open(cfg, kind, out),
        };
        match kind {
            AlertKind::VolumeSpike => self.volume = open,
            AlertKind::NegativeShift => self.negative = open,
        }
    }

    fn try_open(
        &self,
        cfg: &DetectorConfig,
        kind: AlertKind,
        out: &mut Vec<Transition>,
    ) -> Option<Open> {
        let e = self.strongest(cfg, kind)?;
        let window = self.recent.iter().skip(self.recent.len() - e.minutes);
        let first = self.first_anomalous(cfg, kind, e.minutes)?;
        let mut open = Open {
            incident: Incident {
                kind,
                started_at: first,
                at: first,
                observed: 0.0,
                expected: 0.0,
                score: 0.0,
                mentions: 0,
                hashtags: HashMap::new(),
                baseline_hashtags: HashMap::new(),
            },
            expected_mentions: 0.0,
            reported: 0.0,
            calm: 0,
            minutes: 0,
        };
        for m in window.filter(|m| m.at >= first) {
            add_minute(&mut open, m);
        }
        self.report(&mut open, e);
        out.push(Transition::Opened(open.incident.clone()));
        Some(open)
    }

    fn carry_on(
        &self,
        cfg: &DetectorConfig,
        mut open: Open,
        out: &mut Vec<Transition>,
    ) -> Option<Open> {
        if let Some(m) = self.recent.back() {
            add_minute(&mut open, m);
        }
        let kind = open.incident.kind;
        let e = self.current(cfg, kind);
        let calm = e.is_none_or(|e| self.is_calm(cfg, kind, &e));
        open.calm = if calm { open.calm + 1 } else { 0 };
        if open.calm >= cfg.resolve_after {
            if let Some(e) = e {
                self.report(&mut open, e);
            }
            out.push(Transition::Resolved(open.incident));
            return None;
        }
        if let Some(e) = e.filter(|e| !calm && e.observed >= cfg.update_growth * open.reported) {
            self.report(&mut open, e);
            out.push(Transition::Updated(open.incident.clone()));
        } else if let Some(m) = self.recent.back() {
            open.incident.at = m.at;
        }
        Some(open)
    }

    /// Writes the evidence and the baseline's hashtags into the incident, as it is reported.
    fn report(&self, open: &mut Open, e: Evidence) {
        let inc = &mut open.incident;
        if let Some(m) = self.recent.back() {
            inc.at = m.at;
        }
        inc.observed = e.observed;
        inc.expected = e.expected;
        inc.score = e.score;
        inc.baseline_hashtags = self
            .baseline
            .hashtags_expected(inc.hashtags.keys(), open.expected_mentions);
        open.reported = e.observed;
    }
}

/// Adds one minute's counts to an open incident.
fn add_minute(open: &mut Open, m: &Minute) {
    open.minutes += 1;
    open.expected_mentions += m.expected;
    open.incident.mentions += m.mentions;
    open.incident.at = m.at;
    for (tag, c) in &m.hashtags {
        *open.incident.hashtags.entry(tag.clone()).or_default() += c;
    }
}
