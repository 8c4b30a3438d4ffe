//! How long and how much a collector's HTTP may take: one struct, one set of defaults, the same
//! `[collectors.NAME.http]` table for every network source.
//!
//! Polled requests (feeds, listings, items, a stream's REST side calls) get a connect timeout, a
//! read timeout (no byte for that long, waiting for the headers included) and a total timeout,
//! and their bodies are read incrementally up to `max_body_bytes`. Long-lived streams have no
//! total timeout; their source's `idle_timeout` is their read timeout (it depends on the
//! source's heartbeat), and lines, SSE events and WebSocket messages are capped instead. A
//! redirect is followed only to the configured origin or to a host the config names.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::CollectorError;

/// A collector's HTTP limits (`[collectors.NAME.http]`); every key has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// Time to open the TCP (and TLS) connection.
    #[serde(with = "super::duration")]
    pub connect_timeout: Duration,
    /// A polled request that receives no byte for this long (headers or body) fails.
    #[serde(with = "super::duration")]
    pub read_timeout: Duration,
    /// A polled request, from sending to the body's last byte, fails after this long. Streams
    /// have none: they use their source's `idle_timeout`.
    #[serde(with = "super::duration")]
    pub request_timeout: Duration,
    /// Largest polled response body; reading stops with an error past it.
    pub max_body_bytes: usize,
    /// Longest line of a line-delimited or SSE stream; a longer one is dropped and counted.
    pub max_line_bytes: usize,
    /// Largest SSE event (its `data:` lines together); a larger one is dropped and counted.
    pub max_event_bytes: usize,
    /// Largest WebSocket message (and frame); a larger one ends the connection, which is
    /// reopened from the cursor.
    pub max_frame_bytes: usize,
    /// Redirects followed per request.
    pub max_redirects: usize,
    /// Hosts (`"cdn.example.org"` or `"cdn.example.org:8443"`) a redirect may lead to besides
    /// the configured URL's own scheme, host and port. A redirect anywhere else stops the
    /// collector with an error naming this key. `https` is never downgraded to `http`.
    pub allow_redirect_hosts: Vec<String>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 8 << 20,
            max_line_bytes: 4 << 20,
            max_event_bytes: 4 << 20,
            max_frame_bytes: 4 << 20,
            max_redirects: 5,
            allow_redirect_hosts: Vec::new(),
        }
    }
}

impl HttpLimits {
    /// Checks the limits; `key` is the table's path for messages (`"rss.http"`).
    pub fn validate(&self, key: &str) -> Result<(), CollectorError> {
        let bad = |k: &str, what: &str| CollectorError::Config(format!("{key}.{k}: {what}"));
        for (k, d) in [
            ("connect_timeout", self.connect_timeout),
            ("read_timeout", self.read_timeout),
            ("request_timeout", self.request_timeout),
        ] {
            if d.is_zero() {
                return Err(bad(k, "expected a duration above zero"));
            }
        }
        for (k, n) in [
            ("max_body_bytes", self.max_body_bytes),
            ("max_line_bytes", self.max_line_bytes),
            ("max_event_bytes", self.max_event_bytes),
            ("max_frame_bytes", self.max_frame_bytes),
        ] {
            if n == 0 {
                return Err(bad(k, "expected at least 1 byte"));
            }
        }
        for h in &self.allow_redirect_hosts {
            if h.is_empty() || h.contains('/') || h.contains('*') {
                return Err(bad(
                    "allow_redirect_hosts",
                    &format!("expected a host or host:port like \"cdn.example.org\", got {h:?}"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_missing_keys_and_bad_values_name_the_key() {
        let l: HttpLimits = toml::from_str("read_timeout = \"2s\"\nmax_body_bytes = 10\n")
            .expect("parse partial table");
        assert_eq!(l.read_timeout, Duration::from_secs(2));
        assert_eq!(l.max_body_bytes, 10);
        assert_eq!(l.request_timeout, HttpLimits::default().request_timeout);
        assert!(toml::from_str::<HttpLimits>("read_timeout = \"30\"\n").is_err());
        assert!(toml::from_str::<HttpLimits>("timeout = \"3s\"\n").is_err());
        let zero = HttpLimits {
            max_line_bytes: 0,
            ..HttpLimits::default()
        };
        let e = zero.validate("x.http").expect_err("zero cap").to_string();
        assert!(e.contains("x.http.max_line_bytes"), "{e}");
        let wild = HttpLimits {
            allow_redirect_hosts: vec!["*.example.org".into()],
            ..HttpLimits::default()
        };
        assert!(wild.validate("rss.http").is_err());
    }
}
