//! A signal's own alert thresholds, over the configured defaults (`[alerts.detector]`): a
//! tenant whose brand is mentioned thousands of times a minute wants a higher bar than one whose
//! niche product is mentioned twice an hour, and some signals should not alert at all.

use serde::{Deserialize, Serialize};

use super::detect::DetectorConfig;
use crate::error::{Error, Result};

/// What a tenant may set per signal; every key is optional and falls back to the configured
/// default. The calm thresholds (when an open incident resolves) stay the configured ones, so
/// these only move the bar for opening one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalAlertSettings {
    /// `false`: the signal is not watched; no alerts at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Fewest mentions in a spike's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_mentions: Option<u64>,
    /// How many times the expectation a spike must reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spike_ratio: Option<f64>,
    /// How surprising a spike must be: `-log10` of its Poisson tail probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spike_score: Option<f64>,
    /// Fewest mentions in a negative shift's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_min_mentions: Option<u64>,
    /// How far above the usual share the negative share must be (0.15: 15 points).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_shift: Option<f64>,
    /// Calm minutes in a row that resolve an incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_after: Option<u32>,
}

impl SignalAlertSettings {
    /// Whether the signal is watched.
    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }

    /// The detector configuration for this signal: `base` with these settings over it. An
    /// error names the setting and the range it must be in.
    pub fn apply(&self, base: &DetectorConfig) -> Result<DetectorConfig> {
        let bad = |key: &str, want: String, got: &dyn std::fmt::Display| {
            Err(Error::Config(format!(
                "alert settings: {key}: expected {want}, got {got}"
            )))
        };
        let mut c = base.clone();
        if let Some(v) = self.min_mentions {
            if v < 1 {
                return bad("min_mentions", "at least 1".into(), &v);
            }
            c.min_mentions = v;
        }
        if let Some(v) = self.spike_ratio {
            if !(v > base.calm_ratio && v <= 1_000.0) {
                return bad(
                    "spike_ratio",
                    format!(
                        "above {} (where an open spike counts as calm) and at most 1000",
                        base.calm_ratio
                    ),
                    &v,
                );
            }
            c.spike_ratio = v;
        }
        if let Some(v) = self.spike_score {
            if !(v > base.calm_score && v <= 300.0) {
                return bad(
                    "spike_score",
                    format!("above {} and at most 300", base.calm_score),
                    &v,
                );
            }
            c.spike_score = v;
        }
        if let Some(v) = self.negative_min_mentions {
            if v < 1 {
                return bad("negative_min_mentions", "at least 1".into(), &v);
            }
            c.negative_min_mentions = v;
        }
        if let Some(v) = self.negative_shift {
            if !(v > base.negative_calm_shift && v < 1.0) {
                return bad(
                    "negative_shift",
                    format!("above {} and below 1", base.negative_calm_shift),
                    &v,
                );
            }
            c.negative_shift = v;
        }
        if let Some(v) = self.resolve_after {
            if !(1..=1_440).contains(&v) {
                return bad("resolve_after", "1 to 1440 minutes".into(), &v);
            }
            c.resolve_after = v;
        }
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: &str) -> SignalAlertSettings {
        serde_json::from_str(json).expect("settings JSON")
    }

    #[test]
    fn own_thresholds_replace_the_defaults_and_nothing_else() {
        let base = DetectorConfig::default();
        let s = settings(r#"{"spike_ratio": 4.0, "min_mentions": 30}"#);
        let c = s.apply(&base).expect("valid");
        assert_eq!((c.spike_ratio, c.min_mentions), (4.0, 30));
        assert_eq!(c.negative_shift, base.negative_shift);
        assert!(s.enabled());
        assert!(!settings(r#"{"enabled": false}"#).enabled());
        assert_eq!(
            SignalAlertSettings::default().apply(&base).expect("ok"),
            base
        );
    }

    #[test]
    fn settings_out_of_range_or_unknown_are_refused_by_name() {
        let base = DetectorConfig::default();
        for (json, key) in [
            (r#"{"spike_ratio": 1.2}"#, "spike_ratio"),
            (r#"{"spike_score": 0.5}"#, "spike_score"),
            (r#"{"negative_shift": 1.5}"#, "negative_shift"),
            (r#"{"min_mentions": 0}"#, "min_mentions"),
            (r#"{"resolve_after": 0}"#, "resolve_after"),
        ] {
            let e = settings(json).apply(&base).expect_err(json).to_string();
            assert!(e.contains(key), "{json}: {e}");
        }
        assert!(serde_json::from_str::<SignalAlertSettings>(r#"{"window": 9}"#).is_err());
        assert!(serde_json::from_str::<SignalAlertSettings>(r#"{"spike_ratio": "x"}"#).is_err());
    }
}
