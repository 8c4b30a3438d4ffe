//! The ScyllaDB store (Cassandra-compatible; Cassandra 5 locally), through the `scylla` driver.
//!
//! Every statement is prepared once and marked idempotent (upserts by key), so the driver's retry
//! policy may retry it and the runtime may replay a whole batch. Requests are routed token-aware
//! by the driver's default policy and run with bounded concurrency. See `deploy/scylla/schema.cql`
//! for the layout and the exact-aggregate design; [`ScyllaStore::rollup`] is its reading half.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, NaiveDate, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::Consistency;
use scylla::statement::prepared::PreparedStatement;

use crate::config::ScyllaConfig;
use crate::error::{BoxError, Error, Result};
use crate::telemetry;
use crate::traits::{Store, Stored};

/// The schema, with `{{keyspace}}` and `{{replication_factor}}` placeholders.
pub const SCHEMA: &str = include_str!("../../../deploy/scylla/schema.cql");

/// Shards of the dirty-minute table (spreads its rows over the ring).
const DIRTY_SHARDS: i32 = 16;
/// Hashtags kept per aggregate row.
const TOP_HASHTAGS: usize = 20;

fn err(e: impl Into<BoxError>) -> Error {
    Error::store("", e)
}

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
    session.await_schema_agreement().await.map_err(err)?;
    Ok(())
}

struct Statements {
    insert_mention: PreparedStatement,
    insert_by_topic: PreparedStatement,
    mark_dirty: PreparedStatement,
    get_mention: PreparedStatement,
    delete_mention: PreparedStatement,
    recent: PreparedStatement,
    dirty_shard: PreparedStatement,
    minute_rows: PreparedStatement,
    write_stats: PreparedStatement,
    clear_dirty: PreparedStatement,
    revision: PreparedStatement,
    bump_revision: PreparedStatement,
    all_signals: PreparedStatement,
    put_signal: PreparedStatement,
    get_signal: PreparedStatement,
    delete_signal: PreparedStatement,
    put_schema: PreparedStatement,
    get_schema: PreparedStatement,
}

/// The distributed store.
#[derive(Clone)]
pub struct ScyllaStore {
    session: Arc<Session>,
    st: Arc<Statements>,
    concurrency: usize,
}

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
        let ks = keyspace;
        let prep = |q: String| {
            let session = &session;
            async move {
                let mut p = session
                    .prepare(q.as_str())
                    .await
                    .map_err(|e| Error::store(format!("prepare {q}"), e))?;
                p.set_is_idempotent(true);
                Ok::<_, Error>(p)
            }
        };
        let st = Statements {
            insert_mention: prep(format!(
                "INSERT INTO {ks}.mentions (id, source, created_at, fields_version, body) VALUES (?, ?, ?, ?, ?)"
            ))
            .await?,
            insert_by_topic: prep(format!(
                "INSERT INTO {ks}.mentions_by_topic (topic, minute, created_at, id, sentiment, hashtags) \
                 VALUES (?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            mark_dirty: prep(format!(
                "INSERT INTO {ks}.dirty_minutes (shard, topic, minute, marked_at) VALUES (?, ?, ?, ?)"
            ))
            .await?,
            get_mention: prep(format!("SELECT body FROM {ks}.mentions WHERE id = ?")).await?,
            delete_mention: prep(format!("DELETE FROM {ks}.mentions WHERE id = ?")).await?,
            recent: prep(format!(
                "SELECT id FROM {ks}.mentions_by_topic WHERE topic = ? AND minute = ? LIMIT ?"
            ))
            .await?,
            dirty_shard: prep(format!(
                "SELECT topic, minute, marked_at, WRITETIME(marked_at) FROM {ks}.dirty_minutes WHERE shard = ?"
            ))
            .await?,
            minute_rows: prep(format!(
                "SELECT sentiment, hashtags FROM {ks}.mentions_by_topic WHERE topic = ? AND minute = ?"
            ))
            .await?,
            write_stats: prep(format!(
                "INSERT INTO {ks}.topic_minute_stats (topic, day, minute, mentions, sentiment_sum, positive, \
                 neutral, negative, hashtags, computed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            clear_dirty: prep(format!(
                "DELETE FROM {ks}.dirty_minutes USING TIMESTAMP ? WHERE shard = ? AND topic = ? AND minute = ?"
            ))
            .await?,
            revision: prep(format!("SELECT revision FROM {ks}.signal_revision WHERE scope = 'signals'")).await?,
            bump_revision: prep(format!("UPDATE {ks}.signal_revision SET revision = ? WHERE scope = 'signals'")).await?,
            all_signals: prep(format!("SELECT tenant, id, version, query, options FROM {ks}.signals")).await?,
            put_signal: prep(format!(
                "INSERT INTO {ks}.signals (tenant, id, version, query, options, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            get_signal: prep(format!("SELECT version FROM {ks}.signals WHERE tenant = ? AND id = ?")).await?,
            delete_signal: prep(format!("DELETE FROM {ks}.signals WHERE tenant = ? AND id = ?")).await?,
            put_schema: prep(format!("INSERT INTO {ks}.record_schemas (fingerprint, avsc) VALUES (?, ?)")).await?,
            get_schema: prep(format!("SELECT avsc FROM {ks}.record_schemas WHERE fingerprint = ?")).await?,
        };
        Ok(ScyllaStore {
            session: Arc::new(session),
            st: Arc::new(st),
            concurrency: concurrency.max(1),
        })
    }

    /// The session, for tests and tools.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Recomputes the aggregates of every dirty minute that has been quiet for `quiet`, and clears
    /// its mark. Returns how many minutes were rolled up. Safe to run from many workers at once:
    /// each computes the same value from the same rows.
    pub async fn rollup(&self, quiet: Duration) -> Result<usize> {
        let cutoff = Utc::now() - chrono::Duration::from_std(quiet).unwrap_or_default();
        let mut due = Vec::new();
        for shard in 0..DIRTY_SHARDS {
            let rows = self
                .session
                .execute_unpaged(&self.st.dirty_shard, (shard,))
                .await
                .map_err(err)?;
            let rows = rows.into_rows_result().map_err(err)?;
            for row in rows
                .rows::<(String, DateTime<Utc>, DateTime<Utc>, i64)>()
                .map_err(err)?
            {
                let (topic, minute, marked_at, writetime) = row.map_err(err)?;
                if marked_at <= cutoff {
                    due.push((shard, topic, minute, writetime));
                }
            }
        }
        let n = due.len();
        stream::iter(due)
            .map(|(shard, topic, minute, writetime)| async move {
                self.rollup_minute(&topic, minute).await?;
                self.session
                    .execute_unpaged(&self.st.clear_dirty, (writetime, shard, &topic, minute))
                    .await
                    .map_err(err)?;
                Ok::<_, Error>(())
            })
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await?;
        telemetry::rollups(n);
        Ok(n)
    }

    async fn rollup_minute(&self, topic: &str, minute: DateTime<Utc>) -> Result<()> {
        let mut rows = self
            .session
            .execute_iter(self.st.minute_rows.clone(), (topic, minute))
            .await
            .map_err(err)?
            .rows_stream::<(Option<f64>, Option<Vec<String>>)>()
            .map_err(err)?;
        let mut agg = MinuteAggregate::default();
        while let Some(row) = rows.next().await {
            let (sentiment, hashtags) = row.map_err(err)?;
            agg.add(sentiment, hashtags.as_deref().unwrap_or_default());
        }
        let day: NaiveDate = minute.date_naive();
        let top = agg.top_hashtags(TOP_HASHTAGS);
        self.session
            .execute_unpaged(
                &self.st.write_stats,
                (
                    topic,
                    day,
                    minute,
                    agg.mentions,
                    agg.sentiment_sum,
                    agg.positive,
                    agg.neutral,
                    agg.negative,
                    top,
                    Utc::now(),
                ),
            )
            .await
            .map_err(err)?;
        Ok(())
    }
}

impl ScyllaStore {
    /// Revisions are microsecond timestamps: unique enough for change detection, no counter.
    async fn bump(&self) -> Result<()> {
        let rev = Utc::now().timestamp_micros();
        self.session
            .execute_unpaged(&self.st.bump_revision, (rev,))
            .await
            .map_err(err)?;
        Ok(())
    }
}

impl crate::signals::SignalStore for ScyllaStore {
    async fn signal_revision(&self) -> Result<u64> {
        let rows = self
            .session
            .execute_unpaged(&self.st.revision, &[])
            .await
            .map_err(err)?;
        let rows = rows.into_rows_result().map_err(err)?;
        Ok(rows
            .maybe_first_row::<(Option<i64>,)>()
            .map_err(err)?
            .and_then(|(r,)| r)
            .unwrap_or(0) as u64)
    }

    async fn load_signals(&self) -> Result<(u64, Vec<transforms::signals::Signal>)> {
        let rev = self.signal_revision().await?;
        let mut rows = self
            .session
            .execute_iter(self.st.all_signals.clone(), &[])
            .await
            .map_err(err)?
            .rows_stream::<(String, String, i64, String, Option<String>)>()
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await {
            let (tenant, id, version, query, options) = row.map_err(err)?;
            let options = match options {
                Some(o) => serde_json::from_str(&o)
                    .map_err(|e| Error::store(format!("signal {tenant}/{id} options"), e))?,
                None => Default::default(),
            };
            out.push(transforms::signals::Signal {
                tenant,
                id,
                version: version as u64,
                query,
                options,
            });
        }
        Ok((rev, out))
    }

    async fn put_signal(&self, s: &transforms::signals::Signal) -> Result<()> {
        let options = serde_json::to_string(&s.options)
            .map_err(|e| Error::internal("serialising signal options", e))?;
        self.session
            .execute_unpaged(
                &self.st.put_signal,
                (
                    &s.tenant,
                    &s.id,
                    s.version as i64,
                    &s.query,
                    options,
                    Utc::now(),
                ),
            )
            .await
            .map_err(err)?;
        self.bump().await
    }

    async fn delete_signal(&self, tenant: &str, id: &str) -> Result<bool> {
        let rows = self
            .session
            .execute_unpaged(&self.st.get_signal, (tenant, id))
            .await
            .map_err(err)?;
        let existed = rows.into_rows_result().map_err(err)?.rows_num() > 0;
        self.session
            .execute_unpaged(&self.st.delete_signal, (tenant, id))
            .await
            .map_err(err)?;
        self.bump().await?;
        Ok(existed)
    }
}

/// The aggregate of one topic-minute, as computed from its mentions.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MinuteAggregate {
    pub mentions: i64,
    pub sentiment_sum: f64,
    pub positive: i64,
    pub neutral: i64,
    pub negative: i64,
    pub hashtags: HashMap<String, i64>,
}

impl MinuteAggregate {
    /// Adds one mention. Labels follow VADER's convention: compound ≥ 0.05 positive, ≤ −0.05
    /// negative, else neutral; a mention without a score counts as neutral.
    pub fn add(&mut self, sentiment: Option<f64>, hashtags: &[String]) {
        self.mentions += 1;
        let s = sentiment.unwrap_or(0.0);
        self.sentiment_sum += s;
        match s {
            s if s >= 0.05 => self.positive += 1,
            s if s <= -0.05 => self.negative += 1,
            _ => self.neutral += 1,
        }
        let mut seen = BTreeSet::new();
        for h in hashtags {
            let h = h.to_lowercase();
            if seen.insert(h.clone()) {
                *self.hashtags.entry(h).or_default() += 1;
            }
        }
    }

    /// The `n` most frequent hashtags (ties broken by name, so the result is deterministic).
    pub fn top_hashtags(&self, n: usize) -> HashMap<String, i64> {
        let mut v: Vec<(&String, &i64)> = self.hashtags.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        v.into_iter()
            .take(n)
            .map(|(k, c)| (k.clone(), *c))
            .collect()
    }
}

/// `None` binds as *unset* rather than null: writing a null creates a tombstone, and tombstones
/// make every later read of the partition slower.
fn unset_if_none(v: Option<f64>) -> scylla::value::MaybeUnset<f64> {
    v.map_or(
        scylla::value::MaybeUnset::Unset,
        scylla::value::MaybeUnset::Set,
    )
}

/// The minute a timestamp falls in.
pub fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(chrono::Duration::minutes(1)).unwrap_or(t)
}

fn shard_of(topic: &str) -> i32 {
    let h = topic.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (h % DIRTY_SHARDS as u32) as i32
}

impl Store for ScyllaStore {
    async fn write(&self, batch: &Arc<[Stored]>) -> Result<()> {
        let started = std::time::Instant::now();
        let result = self.write_inner(batch).await;
        telemetry::store_write(started.elapsed().as_secs_f64(), result.is_ok());
        result
    }

    async fn get(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let rows = self
            .session
            .execute_unpaged(&self.st.get_mention, (id,))
            .await
            .map_err(err)?;
        let rows = rows.into_rows_result().map_err(err)?;
        Ok(rows
            .maybe_first_row::<(Vec<u8>,)>()
            .map_err(err)?
            .map(|(b,)| b))
    }

    async fn delete(&self, ids: &[String]) -> Result<()> {
        let (st, session) = (&*self.st, &*self.session);
        let pending: Vec<Pending<'_>> = ids
            .iter()
            .map(|id| -> Pending<'_> {
                Box::pin(session.execute_unpaged(&st.delete_mention, (id,)))
            })
            .collect();
        run_all(pending, self.concurrency).await
    }

    async fn recent(&self, topic: &str, limit: usize) -> Result<Vec<Vec<u8>>> {
        // Walk minute partitions backwards from now, up to two hours.
        let mut ids = Vec::new();
        let mut minute = minute_of(Utc::now());
        for _ in 0..120 {
            if ids.len() >= limit {
                break;
            }
            let want = i32::try_from(limit - ids.len()).unwrap_or(i32::MAX);
            let rows = self
                .session
                .execute_unpaged(&self.st.recent, (topic, minute, want))
                .await
                .map_err(err)?;
            for row in rows
                .into_rows_result()
                .map_err(err)?
                .rows::<(String,)>()
                .map_err(err)?
            {
                ids.push(row.map_err(err)?.0);
            }
            minute -= chrono::Duration::minutes(1);
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(b) = self.get(&id).await? {
                out.push(b);
            }
        }
        Ok(out)
    }

    async fn put_schema(&self, fingerprint: u64, avsc: &str) -> Result<()> {
        self.put_schema_inner(fingerprint, avsc).await
    }

    async fn schema(&self, fingerprint: u64) -> Result<Option<String>> {
        self.schema_inner(fingerprint).await
    }
}

impl ScyllaStore {
    async fn put_schema_inner(&self, fingerprint: u64, avsc: &str) -> Result<()> {
        self.session
            .execute_unpaged(&self.st.put_schema, (fingerprint as i64, avsc))
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn schema_inner(&self, fingerprint: u64) -> Result<Option<String>> {
        let rows = self
            .session
            .execute_unpaged(&self.st.get_schema, (fingerprint as i64,))
            .await
            .map_err(err)?
            .into_rows_result()
            .map_err(err)?;
        Ok(rows
            .maybe_first_row::<(String,)>()
            .map_err(err)?
            .map(|(s,)| s))
    }
}

type Pending<'a> = futures_util::future::BoxFuture<
    'a,
    Result<scylla::response::query_result::QueryResult, scylla::errors::ExecutionError>,
>;

/// Runs statements with at most `n` in flight; the first error fails the lot (the batch is
/// replayed as a whole, which the idempotent upserts make harmless).
async fn run_all(pending: Vec<Pending<'_>>, n: usize) -> Result<()> {
    let mut stream = stream::iter(pending).buffer_unordered(n);
    while let Some(r) = stream.next().await {
        r.map_err(err)?;
    }
    Ok(())
}

impl ScyllaStore {
    async fn write_inner(&self, batch: &[Stored]) -> Result<()> {
        // 1. Mentions and their per-topic rows, concurrently.
        let (st, session) = (&*self.st, &*self.session);
        let mut rows: Vec<Pending<'_>> = Vec::with_capacity(batch.len() * 3);
        for s in batch {
            rows.push(Box::pin(session.execute_unpaged(
                &st.insert_mention,
                (
                    &s.id,
                    s.source.as_str(),
                    s.created_at,
                    s.fields_version,
                    &s.record,
                ),
            )));
            let minute = minute_of(s.created_at);
            for t in &s.topics {
                rows.push(Box::pin(session.execute_unpaged(
                    &st.insert_by_topic,
                    (
                        t,
                        minute,
                        s.created_at,
                        &s.id,
                        unset_if_none(s.sentiment),
                        &s.hashtags,
                    ),
                )));
            }
        }
        run_all(rows, self.concurrency).await?;
        // 2. Only then mark the touched minutes dirty, so a rollup that sees a mark also sees
        //    every row written before it.
        let mut touched = BTreeSet::new();
        for s in batch {
            for t in &s.topics {
                touched.insert((t.as_str(), minute_of(s.created_at)));
            }
        }
        let now = Utc::now();
        let marks: Vec<Pending<'_>> = touched
            .into_iter()
            .map(|(t, m)| -> Pending<'_> {
                Box::pin(session.execute_unpaged(&st.mark_dirty, (shard_of(t), t, m, now)))
            })
            .collect();
        run_all(marks, self.concurrency).await
    }
}
