//! The CQL schema (`deploy/scylla/schema.cql`) with the configured keyspace, replication and TTLs,
//! and applying it.

use std::time::Duration;

use scylla::client::session::Session;

use crate::config::ScyllaConfig;
use crate::error::{Error, Result};

/// The schema, with `{{keyspace}}` and `{{replication_factor}}` placeholders.
pub const SCHEMA: &str = include_str!("../../../../deploy/scylla/schema.cql");

/// What `schema apply` substitutes into the schema.
#[derive(Debug, Clone)]
pub struct SchemaParams {
    pub keyspace: String,
    pub replication_factor: u32,
    /// Default TTL of mentions and their per-topic rows.
    pub mention_ttl: Duration,
    /// Default TTL of per-minute aggregates.
    pub stats_ttl: Duration,
}

impl SchemaParams {
    pub fn from_config(cfg: &ScyllaConfig) -> Result<SchemaParams> {
        Ok(SchemaParams {
            keyspace: cfg.keyspace.clone(),
            replication_factor: cfg.replication_factor,
            mention_ttl: crate::config::duration("scylla.retention", &cfg.retention)?,
            stats_ttl: crate::config::duration("scylla.stats_retention", &cfg.stats_retention)?,
        })
    }
}

/// The schema's statements, in order.
pub fn schema_statements(p: &SchemaParams) -> Vec<String> {
    let text: String = SCHEMA
        .lines()
        .map(|l| l.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.replace("{{keyspace}}", &p.keyspace)
                .replace("{{replication_factor}}", &p.replication_factor.to_string())
                .replace("{{mention_ttl}}", &p.mention_ttl.as_secs().to_string())
                .replace("{{stats_ttl}}", &p.stats_ttl.as_secs().to_string())
                .replace(
                    "{{dirty_ttl}}",
                    &super::rollup::DIRTY_TTL.as_secs().to_string(),
                )
        })
        .collect()
}

/// Applies the schema (idempotent: `IF NOT EXISTS` creates, TTL-setting alters) and waits for
/// agreement.
pub async fn apply_schema(session: &Session, p: &SchemaParams) -> Result<()> {
    for stmt in schema_statements(p) {
        session
            .query_unpaged(stmt.as_str(), &[])
            .await
            .map_err(|e| Error::store(stmt.as_str(), e))?;
    }
    session
        .await_schema_agreement()
        .await
        .map_err(|e| Error::store("awaiting schema agreement", e))?;
    Ok(())
}
