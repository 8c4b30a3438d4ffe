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
    /// The plan a new keyspace's first minute is marked with ([`super::buckets::first_plan`]).
    pub first_plan: super::buckets::Plan,
}

impl SchemaParams {
    pub fn from_config(cfg: &ScyllaConfig) -> Result<SchemaParams> {
        Ok(SchemaParams {
            keyspace: cfg.keyspace.clone(),
            replication_factor: cfg.replication_factor,
            mention_ttl: cfg.retention()?,
            stats_ttl: crate::config::duration("scylla.stats_retention", &cfg.stats_retention)?,
            first_plan: super::buckets::first_plan(
                cfg.expected_rate()?,
                cfg.partition_target_bytes()?,
            ),
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
/// agreement. Creating the keyspace's plans (`topic_widths`), it marks the minute before the
/// current one with [`SchemaParams::first_plan`]: nothing has been written or read yet, so the
/// deployment's first minutes, which no worker was there to plan, carry it.
pub async fn apply_schema(session: &Session, p: &SchemaParams) -> Result<()> {
    // Unquoted, as the schema names it, the keyspace's name is folded to lower case.
    let ks = p.keyspace.to_ascii_lowercase();
    let existed = rows(
        session,
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'topic_widths'",
        (ks.as_str(),),
    )
    .await?
        > 0;
    for stmt in schema_statements(p) {
        session
            .query_unpaged(stmt.as_str(), &[])
            .await
            .map_err(|e| Error::store(stmt.as_str(), e))?;
    }
    // Tables created by an older schema lack the columns added since (ScyllaDB has no
    // `ADD IF NOT EXISTS`).
    for (table, column, kind) in missing_columns(session, &ks).await? {
        let add = format!("ALTER TABLE {ks}.{table} ADD {column} {kind}");
        session
            .query_unpaged(add.as_str(), &[])
            .await
            .map_err(|e| Error::store(add.as_str(), e))?;
    }
    session
        .await_schema_agreement()
        .await
        .map_err(|e| Error::store("awaiting schema agreement", e))?;
    // New, and empty: a plan marked into a minute someone has read or written would move rows.
    if !existed && !p.first_plan.is_empty() {
        let any = format!("SELECT hour FROM {ks}.topic_widths LIMIT 1");
        if rows(session, &any, ()).await? == 0 {
            mark_first_plan(session, p, chrono::Utc::now()).await?;
        }
    }
    Ok(())
}

/// Columns added to tables after they were first created, as (table, column, type): the
/// `CREATE TABLE` in `schema.cql` names them too, and `schema apply` adds each to a table that
/// lacks it.
pub const ADDED_COLUMNS: &[(&str, &str, &str)] = &[("topic_mentions", "spilled", "int static")];

/// The [`ADDED_COLUMNS`] keyspace `ks` (as stored: lower case) lacks, in tables it has.
pub async fn missing_columns(
    session: &Session,
    ks: &str,
) -> Result<Vec<(&'static str, &'static str, &'static str)>> {
    let mut out = Vec::new();
    for &(table, column, kind) in ADDED_COLUMNS {
        let q = "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? \
                 AND table_name = ? AND column_name = ?";
        if rows(session, q, (ks, table, column)).await? == 0 {
            let q = "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?";
            if rows(session, q, (ks, table)).await? > 0 {
                out.push((table, column, kind));
            }
        }
    }
    Ok(out)
}

/// How many rows `query` answers.
async fn rows(
    session: &Session,
    query: &str,
    values: impl scylla::serialize::row::SerializeRow,
) -> Result<usize> {
    let answer = session
        .query_unpaged(query, values)
        .await
        .map_err(|e| Error::store(query, e))?;
    Ok(answer.into_rows_result().map_or(0, |r| r.rows_num()))
}

/// Writes `p.first_plan` as the plan of the minute before `now`'s, and marks that minute.
async fn mark_first_plan(
    session: &Session,
    p: &SchemaParams,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    use super::buckets;
    let minute = now.timestamp().div_euclid(60) * 60 - 60;
    let at = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap_or_default();
    let (hour, m) = (at(buckets::hour_of(minute)), at(minute));
    let stmt = format!(
        "INSERT INTO {}.topic_widths (hour, minute, topic, width, fixed) VALUES (?, ?, ?, ?, false)",
        p.keyspace
    );
    let mut plan: Vec<(&String, &u32)> = p.first_plan.iter().collect();
    plan.sort();
    let mark = buckets::MARK.to_owned();
    // The widths first: a mark says the minute's plan is complete.
    for (topic, width) in plan.into_iter().chain([(&mark, &1)]) {
        let width = i32::try_from(*width).unwrap_or(1);
        session
            .query_unpaged(stmt.as_str(), (hour, m, topic.as_str(), width))
            .await
            .map_err(|e| Error::store("marking the first minute's plan", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A column `schema apply` adds to older tables is also in the table's `CREATE`, with the
    /// same type: a new keyspace and an upgraded one end up alike.
    #[test]
    fn added_columns_are_in_their_tables_create() {
        let config = crate::config::Config::load(None, Vec::new()).expect("defaults");
        let params = SchemaParams::from_config(&config.scylla).expect("defaults");
        let statements = schema_statements(&params);
        for (table, column, kind) in ADDED_COLUMNS {
            let create = statements
                .iter()
                .find(|s| s.starts_with("CREATE TABLE") && s.contains(&format!(".{table} (")))
                .unwrap_or_else(|| panic!("no CREATE TABLE for {table}"));
            let declared = create
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .any(|l| l.trim_end_matches(',') == format!("{column} {kind}"));
            assert!(declared, "{table}.{column} {kind} not in:\n{create}");
        }
    }
}
