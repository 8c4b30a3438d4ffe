//! Secrets (tokens, client secrets) come from the environment or a file, never from the config
//! text or a command line.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::CollectorError;

/// Where a secret is: `{ env = "MASTODON_TOKEN" }` or `{ file = "/run/secrets/mastodon" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// Name of an environment variable holding the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Path of a file holding the secret (surrounding whitespace is trimmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

impl SecretRef {
    /// Reads the secret; `key` names the config key in the error.
    pub fn resolve(&self, key: &str) -> Result<Secret, CollectorError> {
        let value = match (&self.env, &self.file) {
            (Some(var), None) => std::env::var(var).map_err(|_| {
                CollectorError::Config(format!("{key}: environment variable {var} is not set"))
            })?,
            (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
                CollectorError::Config(format!("{key}: cannot read {}: {e}", path.display()))
            })?,
            _ => {
                return Err(CollectorError::Config(format!(
                    "{key}: expected exactly one of `env` or `file`"
                )));
            }
        };
        let value = value.trim().to_owned();
        if value.is_empty() {
            return Err(CollectorError::Config(format!(
                "{key}: the secret is empty"
            )));
        }
        Ok(Secret(value))
    }
}

/// A resolved secret; `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Compares in time independent of where the inputs differ (for tokens checked by a server).
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}
