//! The ScyllaDB store (Cassandra-compatible; Cassandra 5 locally), through the `scylla` driver.
//!
//! Every statement is prepared once and marked idempotent (upserts by key), so the driver's retry
//! policy may retry it and the runtime may replay a whole batch. Requests are routed token-aware
//! by the driver's default policy and run with bounded concurrency. See `deploy/scylla/schema.cql`
//! for the layout and the exact-aggregate design; [`ScyllaStore::rollup`] is its reading half.
//!
//! By role: `connect` (session, credentials), `schema` (DDL), `statements` (prepared once),
//! `mentions` (the `Store` seam), `rollup` (per-minute aggregates, computed with
//! [`crate::aggregate`]), `signals` (the `SignalStore`) and `tenants` (the `TenantStore`).

mod alerts;
pub mod buckets;
mod connect;
mod mentions;
mod plans;
mod rollup;
mod schema;
mod signals;
mod statements;
mod tenants;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use scylla::client::session::Session;

pub use connect::connect;
pub use mentions::{
    MENTION_BATCH_BYTES, MENTION_ROW_OVERHEAD, MENTIONS_PER_BATCH, Pending, ROWS_PER_BATCH,
    replica_batches, upsert,
};
pub use rollup::{DIRTY_BUCKET, DIRTY_TTL, DirtyMinute, Recomputed, bucket_of, buckets_to_scan};
pub use schema::{
    ADDED_COLUMNS, SCHEMA, SchemaParams, apply_schema, missing_columns, schema_statements,
};

use crate::error::{BoxError, Error, Result};
use statements::Statements;

fn err(e: impl Into<BoxError>) -> Error {
    Error::store("", e)
}

/// A failed write, classified. The server answering InvalidRequest (a partition key over 64 KiB,
/// a value it refuses) or the driver refusing to send it (a key too long to route, a value that
/// does not serialise) is about this request, not the cluster: retrying cannot help, so it is
/// [`Error::Rejected`] and the runtime dead-letters the mention. Anything else (timeouts,
/// unavailable replicas, lost connections, overload) is an outage and is retried.
fn write_err(e: scylla::errors::ExecutionError) -> Error {
    use scylla::errors::{BadQuery, DbError, ExecutionError as E, RequestAttemptError as A};
    match &e {
        E::BadQuery(BadQuery::ValuesTooLongForKey(..) | BadQuery::SerializationError(_))
        | E::LastAttemptError(A::DbError(DbError::Invalid, _) | A::SerializationError(_)) => {
            Error::rejected("the store refused the write", e)
        }
        _ => err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use scylla::errors::{BadQuery, DbError, ExecutionError, RequestAttemptError};

    #[test]
    fn refused_writes_are_rejected_and_outages_are_retried() {
        let invalid = ExecutionError::LastAttemptError(RequestAttemptError::DbError(
            DbError::Invalid,
            "Key length of 70000 is longer than maximum of 65535".into(),
        ));
        assert_eq!(write_err(invalid).class(), ErrorClass::Rejected);
        let too_long = ExecutionError::BadQuery(BadQuery::ValuesTooLongForKey(70_000, 65_535));
        assert_eq!(write_err(too_long).class(), ErrorClass::Rejected);
        let overloaded = ExecutionError::LastAttemptError(RequestAttemptError::DbError(
            DbError::Overloaded,
            "busy".into(),
        ));
        assert_eq!(write_err(overloaded).class(), ErrorClass::External);
        let timeout = ExecutionError::RequestTimeout(std::time::Duration::from_secs(2));
        assert_eq!(write_err(timeout).class(), ErrorClass::External);
    }
}

/// The distributed store.
#[derive(Clone)]
pub struct ScyllaStore {
    session: Arc<Session>,
    st: Arc<Statements>,
    concurrency: usize,
    /// Closed dirty-mark partitions (bucket, shard) this process found empty: never read again.
    drained: Arc<Mutex<HashSet<Partition>>>,
    /// Every mark written before this time had been rolled up when this process's last
    /// successful rollup finished; `None` before its first ([`AlertStore::counted_before`]).
    ///
    /// [`AlertStore::counted_before`]: crate::alerts::AlertStore::counted_before
    rolled_up: Arc<Mutex<Option<chrono::DateTime<chrono::Utc>>>>,
    /// How hot each topic is, for the width of its `topic_mentions` partitions.
    heat: Arc<Mutex<buckets::Heat>>,
    /// Final plans of minutes (`topic_widths`).
    plans: Arc<Mutex<plans::PlanCache>>,
    /// How long mentions are kept (`scylla.retention`): how far back a page of a topic looks.
    retention: std::time::Duration,
}

/// The size `topic_mentions` partitions are bucketed to stay under unless configured
/// (`scylla.partition_target_bytes`).
pub const DEFAULT_PARTITION_TARGET: u64 = 32 << 20;
/// `scylla.retention`'s default, for a store made without a configuration.
pub const DEFAULT_RETENTION: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// A dirty-mark partition: (bucket, shard).
type Partition = (chrono::DateTime<chrono::Utc>, i32);

impl std::fmt::Debug for ScyllaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScyllaStore")
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl ScyllaStore {
    /// Prepares every statement against an existing schema in `keyspace`.
    pub async fn new(session: Session, keyspace: &str, concurrency: usize) -> Result<ScyllaStore> {
        let st = Statements::prepare(&session, keyspace).await?;
        Ok(ScyllaStore {
            session: Arc::new(session),
            st: Arc::new(st),
            concurrency: concurrency.max(1),
            drained: Arc::default(),
            rolled_up: Arc::default(),
            heat: Arc::new(Mutex::new(buckets::Heat::new(DEFAULT_PARTITION_TARGET))),
            plans: Arc::default(),
            retention: DEFAULT_RETENTION,
        })
    }

    /// The same store with mentions kept for `retention` (`scylla.retention`).
    pub fn with_retention(self, retention: std::time::Duration) -> ScyllaStore {
        ScyllaStore { retention, ..self }
    }

    /// The same store with `topic_mentions` partitions bucketed to about `bytes` each.
    pub fn with_partition_target(self, bytes: u64) -> ScyllaStore {
        ScyllaStore {
            heat: Arc::new(Mutex::new(buckets::Heat::new(bytes))),
            ..self
        }
    }

    /// The session, for tests and tools.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The first row `statement` answers with `values`, if any: every single-row read.
    async fn first_row<R>(
        &self,
        statement: &scylla::statement::prepared::PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<Option<R>>
    where
        R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
    {
        first_row(&self.session, statement, values).await
    }
}

/// [`ScyllaStore::first_row`] on a session.
async fn first_row<R>(
    session: &Session,
    statement: &scylla::statement::prepared::PreparedStatement,
    values: impl scylla::serialize::row::SerializeRow,
) -> Result<Option<R>>
where
    R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
{
    session
        .execute_unpaged(statement, values)
        .await
        .map_err(err)?
        .into_rows_result()
        .map_err(err)?
        .maybe_first_row::<R>()
        .map_err(err)
}
