//! The `[api]` section: where the client API listens and the per-tenant limits it enforces.

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The operator key must be at least this long: it guards every tenant's data.
const MIN_OPERATOR_KEY: usize = 32;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address of the client API (`/v1`, `/admin`); empty disables it. Loopback by default.
    pub listen: String,
    /// Requests per second each tenant may make, per process (a token bucket).
    pub requests_per_second: u32,
    /// Requests a tenant may make at once above that rate (the bucket's size).
    pub burst: u32,
    /// Requests of one tenant in progress at once, per process.
    pub max_in_flight: u32,
    /// Signals a tenant may hold; creating one more through the API answers 409.
    pub max_signals: u32,
    /// How long a key read from the store is trusted: revocation takes effect within this.
    pub key_cache_ttl: String,
    /// Name of the environment variable holding the operator key (never the key itself).
    pub operator_key_env: String,
    /// A file whose content is the operator key, if set.
    pub operator_key_file: String,
    /// Stream connections (`/v1/stream`, `/v1/ws`) a tenant may hold open at once, per process.
    pub max_streams: u32,
    /// Bytes of matched mentions the live push keeps for clients that reconnect (`"64MiB"`).
    pub replay_bytes: String,
    /// How far back a reconnecting client can resume (`"1h"`); older cursors get `lagged`.
    pub replay_window: String,
    /// Events queued to one stream connection; a client that falls this far behind is sent
    /// `lagged` and catches up from the replay buffer.
    pub stream_buffer: u32,
    /// Bytes of events queued to one stream connection (`"4MiB"`), likewise.
    pub stream_buffer_bytes: String,
    /// How often an idle stream gets a `heartbeat` event (`"15s"`).
    pub heartbeat: String,
    /// Connections open at once, over all tenants and none (streams included), per process.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long a client may take to send a request's head (`"30s"`).
    #[serde(default = "default_head_timeout")]
    pub head_timeout: String,
    /// Key ids the store does not hold that one client address (an IPv6 /64) may present per
    /// minute, per process; past it that address gets 429 until its budget refills.
    #[serde(default = "default_unknown_keys_per_minute")]
    pub unknown_keys_per_minute: u32,
    /// Reverse proxies (addresses or blocks) whose `X-Forwarded-For` names the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Web origins (`https://app.example.com`) whose pages may call the API from a browser;
    /// `*` for any. Empty: none (browsers refuse cross-origin calls).
    #[serde(default)]
    pub cors_origins: Vec<String>,
}

fn default_unknown_keys_per_minute() -> u32 {
    ApiSettings::default().unknown_keys_per_minute
}

// The API's connection limits default to those of every other listener.
fn default_max_connections() -> u32 {
    collectors::common::serve::ServeLimits::default().max_connections as u32
}
fn default_head_timeout() -> String {
    let limits = collectors::common::serve::ServeLimits::default();
    humantime::format_duration(limits.head_timeout).to_string()
}

/// The API settings, parsed.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub requests_per_second: u32,
    pub burst: u32,
    pub max_in_flight: u32,
    pub max_signals: u32,
    pub key_cache_ttl: Duration,
    pub unknown_keys_per_minute: u32,
    /// Whose `X-Forwarded-For` is believed for the client's address.
    pub trusted_proxies: super::proxies::TrustedProxies,
    /// Which web origins may call the API from a browser.
    pub cors: Cors,
    pub max_streams: u32,
    pub heartbeat: Duration,
    pub push: crate::push::HubSettings,
    /// Connections and request heads, for every client.
    pub serve: collectors::common::serve::ServeLimits,
}

/// The web origins whose pages may call the API from a browser (`api.cors_origins`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    /// None: no CORS headers, so browsers refuse cross-origin calls.
    None,
    /// Any origin (`*`). The API's keys are bearer tokens a page must hold anyway, never cookies,
    /// so this lets no site act with a visitor's rights.
    Any,
    /// These origins, exactly as a browser sends them (`https://app.example.com`).
    Origins(Vec<axum::http::HeaderValue>),
}

impl Cors {
    /// Parses `api.cors_origins`: `*`, or origins of the form `scheme://host[:port]`.
    pub fn parse(entries: &[String]) -> Result<Cors> {
        let entries: Vec<&str> = entries.iter().map(|e| e.trim()).collect();
        if entries.is_empty() {
            return Ok(Cors::None);
        }
        if entries.contains(&"*") {
            return if entries.len() == 1 {
                Ok(Cors::Any)
            } else {
                Err(Error::Config(
                    "api.cors_origins: \"*\" allows every origin; list it alone".into(),
                ))
            };
        }
        let mut origins = Vec::with_capacity(entries.len());
        for entry in entries {
            let bad = || {
                Error::Config(format!(
                    "api.cors_origins: expected an origin like \"https://app.example.com\" \
                     (scheme, host and port; no path), or \"*\"; got {entry:?}"
                ))
            };
            let (scheme, rest) = entry.split_once("://").ok_or_else(bad)?;
            let host_ok = !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
            if !matches!(scheme, "http" | "https") || !host_ok {
                return Err(bad());
            }
            // Browsers send the origin's scheme and host in lower case.
            let origin = entry.to_ascii_lowercase();
            origins.push(axum::http::HeaderValue::from_str(&origin).map_err(|_| bad())?);
        }
        Ok(Cors::Origins(origins))
    }
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            requests_per_second: 20,
            burst: 40,
            max_in_flight: 16,
            max_signals: 100,
            key_cache_ttl: Duration::from_secs(5),
            unknown_keys_per_minute: 60,
            trusted_proxies: super::proxies::TrustedProxies::default(),
            cors: Cors::None,
            max_streams: 16,
            heartbeat: Duration::from_secs(15),
            push: crate::push::HubSettings::default(),
            serve: collectors::common::serve::ServeLimits::default(),
        }
    }
}

impl ApiConfig {
    /// Checks and parses every knob; errors name the key.
    pub fn settings(&self) -> Result<ApiSettings> {
        if !self.listen.is_empty() && self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(Error::Config(format!(
                "api.listen: expected an address like \"127.0.0.1:8787\" or \"\", got {:?}",
                self.listen
            )));
        }
        for (key, v) in [
            ("api.requests_per_second", self.requests_per_second),
            ("api.burst", self.burst),
            ("api.max_in_flight", self.max_in_flight),
            ("api.max_signals", self.max_signals),
            ("api.max_streams", self.max_streams),
            ("api.stream_buffer", self.stream_buffer),
            ("api.max_connections", self.max_connections),
            ("api.unknown_keys_per_minute", self.unknown_keys_per_minute),
        ] {
            if v == 0 {
                return Err(Error::Config(format!(
                    "{key}: expected a positive integer, got 0"
                )));
            }
        }
        Ok(ApiSettings {
            requests_per_second: self.requests_per_second,
            burst: self.burst,
            max_in_flight: self.max_in_flight,
            max_signals: self.max_signals,
            key_cache_ttl: crate::config::duration("api.key_cache_ttl", &self.key_cache_ttl)?,
            unknown_keys_per_minute: self.unknown_keys_per_minute,
            trusted_proxies: super::proxies::TrustedProxies::parse(&self.trusted_proxies)?,
            cors: Cors::parse(&self.cors_origins)?,
            max_streams: self.max_streams,
            heartbeat: crate::config::duration("api.heartbeat", &self.heartbeat)?,
            push: crate::push::HubSettings {
                replay_bytes: usize::try_from(crate::config::size(
                    "api.replay_bytes",
                    &self.replay_bytes,
                )?)
                .unwrap_or(usize::MAX),
                replay_window: crate::config::duration("api.replay_window", &self.replay_window)?,
                client_buffer: self.stream_buffer as usize,
                client_buffer_bytes: match crate::config::size(
                    "api.stream_buffer_bytes",
                    &self.stream_buffer_bytes,
                )? {
                    0 => {
                        return Err(Error::Config(
                            "api.stream_buffer_bytes: expected a positive size, got 0".into(),
                        ));
                    }
                    b => usize::try_from(b).unwrap_or(usize::MAX),
                },
            },
            serve: collectors::common::serve::ServeLimits {
                head_timeout: crate::config::duration("api.head_timeout", &self.head_timeout)?,
                max_connections: self.max_connections as usize,
            },
        })
    }

    /// The operator key from `operator_key_file` or the variable `operator_key_env`; `None` when
    /// neither holds one. A key shorter than 32 characters is refused.
    pub fn operator_key(&self) -> Result<Option<String>> {
        let key = if !self.operator_key_file.is_empty() {
            std::fs::read_to_string(&self.operator_key_file)
                .map(|s| s.trim().to_owned())
                .map_err(|e| {
                    Error::Config(format!(
                        "api.operator_key_file: cannot read {}: {e}",
                        self.operator_key_file
                    ))
                })?
        } else {
            std::env::var(&self.operator_key_env).unwrap_or_default()
        };
        if key.is_empty() {
            return Ok(None);
        }
        if key.len() < MIN_OPERATOR_KEY {
            return Err(Error::Config(format!(
                "the operator key (api.operator_key_env / api.operator_key_file) must be at least \
                 {MIN_OPERATOR_KEY} characters, e.g. `openssl rand -hex 32`"
            )));
        }
        Ok(Some(key))
    }
}
