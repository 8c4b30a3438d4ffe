//! Connecting to ScyllaDB (or Cassandra): contact points, credentials, timeouts, consistency.

use std::time::Duration;

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::Consistency;

use crate::config::ScyllaConfig;
use crate::error::{Error, Result};

/// Connects with the configured nodes, credentials and timeout.
pub async fn connect(cfg: &ScyllaConfig) -> Result<Session> {
    let timeout = crate::config::duration("scylla.request_timeout", &cfg.request_timeout)?;
    let profile = ExecutionProfile::builder()
        .request_timeout(Some(timeout))
        .consistency(Consistency::LocalQuorum)
        .build();
    let mut builder = SessionBuilder::new()
        .known_nodes(&cfg.nodes)
        .default_execution_profile_handle(profile.into_handle())
        .connection_timeout(Duration::from_secs(5));
    if !cfg.username.is_empty() {
        builder = builder.user(&cfg.username, password(cfg)?);
    }
    builder
        .build()
        .await
        .map_err(|e| Error::store(format!("connecting to {:?}", cfg.nodes), e))
}

/// The password from `password_file` or the environment variable `password_env`.
fn password(cfg: &ScyllaConfig) -> Result<String> {
    if !cfg.password_file.is_empty() {
        return std::fs::read_to_string(&cfg.password_file)
            .map(|s| s.trim_end().to_owned())
            .map_err(|e| {
                Error::Config(format!(
                    "scylla.password_file: cannot read {}: {e}",
                    cfg.password_file
                ))
            });
    }
    std::env::var(&cfg.password_env).map_err(|_| {
        Error::Config(format!(
            "scylla.username is set but ${} holds no password",
            cfg.password_env
        ))
    })
}
