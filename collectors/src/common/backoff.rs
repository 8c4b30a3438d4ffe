//! Reconnect pacing: exponential backoff with full jitter, and reading the servers' own
//! `Retry-After` / rate-limit headers. [`Backoff`] is the workspace's one backoff: the pipeline's
//! retry loop (store, publish) uses it too.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use super::duration;

/// How a collector paces reconnects after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// Upper bound of the first wait (`"500ms"`); each failure doubles it.
    #[serde(with = "duration")]
    pub initial: Duration,
    /// The longest wait between two attempts (`"2m"`).
    #[serde(with = "duration")]
    pub max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(120),
        }
    }
}

/// Exponential backoff with "full jitter": the n-th wait is uniform in `[0, min(max, initial·2ⁿ)]`,
/// so many collectors that lost the same server do not come back in lockstep.
#[derive(Debug)]
pub struct Backoff {
    cfg: BackoffConfig,
    attempt: u32,
    rng: SmallRng,
}

impl Backoff {
    pub fn new(cfg: BackoffConfig) -> Self {
        Backoff {
            cfg,
            attempt: 0,
            // std's per-process random hasher keys are seed enough for jitter (rand's OS source is not
            // enabled in this workspace).
            rng: SmallRng::seed_from_u64({
                use std::hash::{BuildHasher, Hasher};
                std::collections::hash_map::RandomState::new()
                    .build_hasher()
                    .finish()
            }),
        }
    }

    /// The wait before the next attempt; grows with each call until [`Backoff::reset`].
    pub fn next_delay(&mut self) -> Duration {
        let cap = self
            .cfg
            .initial
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.cfg.max);
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.random_range(0..=nanos))
    }

    /// Call after a success (an item received): the next failure starts from `initial` again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failures since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// The longest wait a server's answer can ask for: a day. Past it (a typo, or a server that
/// misbehaves) a collector would sleep for years; at it, it tries again tomorrow.
pub const LONGEST_WAIT: Duration = Duration::from_secs(86_400);

/// How long the server asked us to wait, from `Retry-After` (seconds or an HTTP date), else from
/// the rate-limit headers: `x-ratelimit-reset` (Reddit: seconds until the window resets, sent
/// with `x-ratelimit-remaining`) or `x-rate-limit-reset` (X: the reset as a Unix time). At most
/// [`LONGEST_WAIT`].
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    asked_wait(headers, now).map(|d| d.min(LONGEST_WAIT))
}

fn asked_wait(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(v) = get("retry-after") {
        if let Ok(secs) = v.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(at) = DateTime::parse_from_rfc2822(v) {
            return Some((at.with_timezone(&Utc) - now).to_std().unwrap_or_default());
        }
    }
    if let Some(v) = get("x-ratelimit-reset")
        && let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(
            secs.min(LONGEST_WAIT.as_secs_f64()),
        ));
    }
    if let Some(v) = get("x-rate-limit-reset")
        && let Ok(epoch) = v.parse::<i64>()
    {
        let at = DateTime::<Utc>::from_timestamp(epoch, 0)?;
        return Some((at - now).to_std().unwrap_or_default());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_grows_is_capped_and_resets() {
        let cfg = BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        let mut b = Backoff::new(cfg);
        for n in 0..10 {
            let cap = Duration::from_millis(100 * (1 << n)).min(cfg.max);
            assert!(b.next_delay() <= cap);
        }
        assert_eq!(b.attempts(), 10);
        b.reset();
        assert!(b.next_delay() <= cfg.initial);
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_ratelimit_headers() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:30 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", HeaderValue::from_static("42"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(42)));
        let mut h = HeaderMap::new();
        let reset = (now.timestamp() + 60).to_string();
        h.insert(
            "x-rate-limit-reset",
            HeaderValue::from_str(&reset).unwrap_or(HeaderValue::from_static("0")),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(60)));
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
        // However far off the server says, a day at most.
        for (name, value) in [
            ("retry-after", "99999999999".to_owned()),
            ("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT".to_owned()),
            ("x-ratelimit-reset", "1e300".to_owned()),
            (
                "x-rate-limit-reset",
                (now.timestamp() + 10_000_000).to_string(),
            ),
        ] {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_str(&value).expect("a header value"));
            assert_eq!(retry_after(&h, now), Some(LONGEST_WAIT), "{name}: {value}");
        }
    }
}
