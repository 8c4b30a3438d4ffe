//! Alerts: per-signal spike and sentiment-shift detection over the exact per-minute aggregates,
//! explained by what drives them, and delivered to the tenant's stream, a Kafka topic and webhooks.
//!
//! By role: `detect` (the per-signal detector: a baseline that learns the signal's level and
//! daily rhythm, the tests that open an incident, the hysteresis that keeps one incident one
//! alert), `explain` (the hashtags, terms, domains and authors over-represented in an incident's
//! window, and a few representative mentions), and `webhook` (HMAC-signed delivery with retries).
//! The detector is pure and its state serialisable, so whoever owns a signal can save it and a
//! restart resumes an open incident instead of alerting it again.

pub mod detect;
pub mod engine;
pub mod explain;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod settings;
pub mod store;
pub mod webhook;

pub use settings::SignalAlertSettings;
pub use store::AlertStore;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Mentions per minute well above what the signal's baseline expects for this time of day.
    VolumeSpike,
    /// The share of negative mentions well above the baseline's share.
    NegativeShift,
}

/// Where an incident is in its life. One incident is one alert id: `opened` once, `updated`
/// while it grows, `resolved` once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Opened,
    Updated,
    Resolved,
}

/// One thing over-represented in an incident's window against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Driver {
    /// `hashtag`, `term`, `domain` or `author`.
    pub kind: String,
    pub value: String,
    /// Mentions carrying it in the incident's window.
    pub count: i64,
    /// Mentions carrying it in a baseline window of the same length (expected, may be fractional).
    pub baseline: f64,
    /// How many times more often it appears in the window than in the baseline (smoothed).
    pub lift: f64,
}

/// An alert as delivered and stored: one incident of one signal, at one point of its life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The incident's id, stable across its `opened`, `updated` and `resolved` events.
    pub id: String,
    pub tenant: String,
    pub signal: String,
    pub kind: AlertKind,
    pub state: AlertState,
    /// The first minute of the incident.
    pub started_at: DateTime<Utc>,
    /// The minute this event is about (the last one observed).
    pub at: DateTime<Utc>,
    /// What was observed in `at`'s minute (mentions, or the negative share for a shift).
    pub observed: f64,
    /// What the baseline expected there.
    pub expected: f64,
    /// How far from the baseline, in the detector's own score (higher is stronger).
    pub score: f64,
    /// Mentions in the incident so far.
    pub mentions: i64,
    /// Plain words: what happened, against what.
    pub summary: String,
    pub drivers: Vec<Driver>,
    /// Ids of a few representative mentions, one per near-duplicate cluster.
    pub examples: Vec<String>,
}
