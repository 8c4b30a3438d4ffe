//! The ScyllaDB store (Cassandra-compatible; Cassandra 5 locally), through the `scylla` driver.
//!
//! Every statement is prepared once and marked idempotent (upserts by key), so the driver's retry
//! policy may retry it and the runtime may replay a whole batch. Requests are routed token-aware
//! by the driver's default policy and run with bounded concurrency. See `deploy/scylla/schema.cql`
//! for the layout and the exact-aggregate design; [`ScyllaStore::rollup`] is its reading half.
//!
//! By role: `connect` (session, credentials), `schema` (DDL), `statements` (prepared once),
//! `mentions` (the `Store` seam), `rollup` (per-minute aggregates, computed with
//! [`crate::aggregate`]) and `signals` (the `SignalStore`).

mod connect;
mod mentions;
mod rollup;
mod schema;
mod signals;
mod statements;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use scylla::client::session::Session;

pub use connect::connect;
pub use rollup::{DIRTY_BUCKET, DIRTY_TTL, DirtyMinute, Recomputed, bucket_of, buckets_to_scan};
pub use schema::{SCHEMA, SchemaParams, apply_schema, schema_statements};

use crate::error::{BoxError, Error, Result};
use statements::Statements;

fn err(e: impl Into<BoxError>) -> Error {
    Error::store("", e)
}

/// The distributed store.
#[derive(Clone)]
pub struct ScyllaStore {
    session: Arc<Session>,
    st: Arc<Statements>,
    concurrency: usize,
    /// Closed dirty-mark partitions (bucket, shard) this process found empty: never read again.
    drained: Arc<Mutex<HashSet<Partition>>>,
}

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
        })
    }

    /// The session, for tests and tools.
    pub fn session(&self) -> &Session {
        &self.session
    }
}
