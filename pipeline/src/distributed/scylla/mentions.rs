//! The [`Store`] seam on ScyllaDB: mentions by id, their per-topic rows, dirty-minute marks, and
//! the record schemas readers need.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};

use super::rollup::{bucket_of, shard_of};
use super::{ScyllaStore, buckets, err, first_row, write_err};
use crate::aggregate::{MinuteAggregate, minute_of};
use crate::error::Result;
use crate::telemetry;
use crate::traits::{Before, Filed, ScanPage, Store, Stored};

/// Rows of the cursor's own time read beyond a page, for mentions created in the same
/// millisecond as the cursor's.
const TIE_SLACK: usize = 64;
/// A page of a topic reads this many of the newest minutes one by one, whether or not the rollup
/// has counted them yet (it follows by seconds, unless it has fallen behind); older ones only
/// where the rollup found mentions.
const UNCOUNTED_MINUTES: i64 = 15;

/// For each mention of `batch`, whether a later one of the batch has its id (empty when no id
/// repeats, the usual case).
fn superseded(batch: &[Stored]) -> Vec<bool> {
    let mut seen = std::collections::HashSet::with_capacity(batch.len());
    let mut later = Vec::new();
    for (i, s) in batch.iter().enumerate().rev() {
        if !seen.insert(s.id.as_str()) {
            later.resize(batch.len(), false);
            later[i] = true;
        }
    }
    later
}

/// How a rewrite (`backchannel reprocess`) keeps a stored mention: its remaining time to live
/// (0: none), and the write time it is written at.
///
/// The write time is one microsecond after the version it replaces, not now: a deletion or an
/// edit the worker stores after the rewrite read the row carries a later time, so it wins
/// whichever lands last, where a rewrite at the current time would bring back a mention
/// deleted meanwhile, or an edit's earlier text.
#[derive(Debug, Clone, Copy)]
struct Rewrite {
    ttl: i32,
    at: i64,
}

/// `None` binds as *unset* rather than null: writing a null creates a tombstone, and tombstones
/// make every later read of the partition slower.
fn unset_if_none(v: Option<f64>) -> scylla::value::MaybeUnset<f64> {
    v.map_or(
        scylla::value::MaybeUnset::Unset,
        scylla::value::MaybeUnset::Set,
    )
}

impl Store for ScyllaStore {
    async fn write(&self, batch: &Arc<[Stored]>) -> Result<()> {
        let started = std::time::Instant::now();
        let result = self.write_inner(batch).await;
        telemetry::store_write(started.elapsed().as_secs_f64(), result.is_ok());
        result
    }

    async fn refile(&self, batch: &Arc<[Stored]>, old: &[Filed]) -> Result<()> {
        let started = std::time::Instant::now();
        let result = self.refile_inner(batch, old).await;
        telemetry::store_write(started.elapsed().as_secs_f64(), result.is_ok());
        result
    }

    async fn scan(&self, after: Option<&str>, limit: usize) -> Result<ScanPage> {
        // Token order: the ring, from its start. Murmur3 tokens are above i64::MIN.
        let from: i64 = match after {
            Some(a) => a
                .parse()
                .map_err(|_| crate::error::Error::Config(format!("not a scan position: {a}")))?,
            None => i64::MIN,
        };
        let want = i32::try_from(limit).unwrap_or(i32::MAX);
        let rows = self
            .session
            .execute_unpaged(&self.st.scan, (from, want))
            .await
            .map_err(err)?
            .into_rows_result()
            .map_err(err)?;
        let mut page = ScanPage::default();
        let mut last = from;
        for row in rows.rows::<(String, Vec<u8>, i64)>().map_err(err)? {
            let (id, body, token) = row.map_err(err)?;
            last = token;
            page.rows.push((id, body));
        }
        page.passed = Some((last as f64 - i64::MIN as f64) / 2f64.powi(64));
        page.next = (page.rows.len() == limit).then(|| last.to_string());
        Ok(page)
    }

    async fn get(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let row = self.first_row::<(Vec<u8>,)>(&self.st.get_mention, (id,));
        Ok(row.await?.map(|(b,)| b))
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

    async fn recent(
        &self,
        topic: &str,
        limit: usize,
        before: Option<&Before>,
    ) -> Result<Vec<Vec<u8>>> {
        // Walk minute partitions backwards from now (or from the cursor's minute): the newest
        // ones one by one, since the rollup may not have counted them yet, then only those the
        // rollup found mentions in, back to the retention.
        let now = Utc::now();
        let mut ids = Vec::new();
        let mut minute = minute_of(now);
        if let Some(b) = before {
            let at = DateTime::from_timestamp_millis(b.created_ms).unwrap_or_default();
            // Nothing is kept from before the retention: not even the cursor's minute is read
            // (finding its plan could cost a week of hourly plan reads).
            if at < now - self.retention {
                return Ok(Vec::new());
            }
            minute = minute_of(at);
            // Rows of the cursor's minute up to its time; as old as it, only those after its id
            // (rows of one time are in id order). A few extra cover such ties.
            let rows = self
                .minute_newest(topic, minute, Some(at), limit.saturating_add(TIE_SLACK))
                .await?;
            for (id, created) in rows {
                let ms = created.timestamp_millis();
                if (ms < b.created_ms || id > b.id) && ids.len() < limit {
                    ids.push(id);
                }
            }
            minute -= chrono::Duration::minutes(1);
        }
        let counted = minute_of(now) - chrono::Duration::minutes(UNCOUNTED_MINUTES);
        while ids.len() < limit && minute > counted {
            let rows = self
                .minute_newest(topic, minute, None, limit - ids.len())
                .await?;
            ids.extend(rows.into_iter().map(|(id, _)| id));
            minute -= chrono::Duration::minutes(1);
        }
        let oldest = (now - self.retention).date_naive();
        while ids.len() < limit && minute.date_naive() >= oldest {
            let day = minute.date_naive();
            let mut rows = self
                .session
                .execute_iter(self.st.stats_minutes.clone(), (topic, day, minute))
                .await
                .map_err(err)?
                .rows_stream::<(DateTime<Utc>, Option<i64>)>()
                .map_err(err)?;
            // At most a day's 1,440 minutes, newest first (the table's order).
            let mut counted = Vec::new();
            while let Some(row) = rows.next().await {
                let (m, mentions) = row.map_err(err)?;
                if mentions.unwrap_or(0) > 0 {
                    counted.push(m);
                }
            }
            for m in counted {
                if ids.len() >= limit {
                    break;
                }
                let rows = self
                    .minute_newest(topic, m, None, limit - ids.len())
                    .await?;
                ids.extend(rows.into_iter().map(|(id, _)| id));
            }
            // The day before's last minute.
            minute = day
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc() - chrono::Duration::minutes(1))
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
        }
        // The records, read at the store's concurrency (a page holds up to 1,000), in order.
        type Read<'a> = futures_util::future::BoxFuture<'a, Result<Option<Vec<u8>>>>;
        let reads: Vec<Read<'_>> = ids
            .iter()
            .map(|id| -> Read<'_> { Box::pin(self.get(id)) })
            .collect();
        let records: Vec<Option<Vec<u8>>> = stream::iter(reads)
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        Ok(records.into_iter().flatten().collect())
    }

    async fn series(
        &self,
        topic: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<crate::aggregate::Series> {
        // Stats are partitioned by (topic, day): one paged read per day of the range.
        type Row = (
            DateTime<Utc>,
            Option<i64>,
            Option<f64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<std::collections::HashMap<String, i64>>,
        );
        let mut out = Vec::new();
        if from >= to {
            return Ok(out);
        }
        let last: NaiveDate = (to - chrono::Duration::milliseconds(1)).date_naive();
        let mut day: NaiveDate = from.date_naive();
        while day <= last {
            let mut rows = self
                .session
                .execute_iter(self.st.read_stats.clone(), (topic, day, from, to))
                .await
                .map_err(err)?
                .rows_stream::<Row>()
                .map_err(err)?;
            while let Some(row) = rows.next().await {
                let (minute, mentions, sum, positive, neutral, negative, hashtags) =
                    row.map_err(err)?;
                out.push((
                    minute,
                    MinuteAggregate {
                        mentions: mentions.unwrap_or(0),
                        sentiment_sum: sum.unwrap_or(0.0),
                        positive: positive.unwrap_or(0),
                        neutral: neutral.unwrap_or(0),
                        negative: negative.unwrap_or(0),
                        hashtags: hashtags.unwrap_or_default(),
                    },
                ));
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        out.sort_by_key(|(minute, _)| *minute);
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
        let row = self.first_row::<(String,)>(&self.st.get_schema, (fingerprint as i64,));
        Ok(row.await?.map(|(s,)| s))
    }
}

/// Rows of several buckets in the table's order (newest first, then by id), the first `want`.
fn newest_first(
    mut rows: Vec<(String, DateTime<Utc>)>,
    want: usize,
) -> Vec<(String, DateTime<Utc>)> {
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.truncate(want);
    rows
}

/// A partition of `topic_mentions` (topic, minute, bucket), and whether its rows carry their own
/// time to live (a refile) or the table's default.
type TopicPartition<'a> = (&'a str, DateTime<Utc>, i32, bool);

/// The rows of one batch bound for one partition, each with its time to live in a refile.
type PartitionRows<'a> = (TopicPartition<'a>, Vec<(&'a Stored, Option<Rewrite>)>);

/// At most this many per-topic rows of one partition go in one unlogged batch. A batch within
/// one partition is a single mutation on its replicas: one request and one commit-log entry
/// instead of one per row, which is where a store bound by its CPU per statement gains. At
/// ~150 B a row a full batch stays far below ScyllaDB's batch-size warning (128 KiB);
/// Cassandra does not apply its batch limits to single-partition batches.
pub const ROWS_PER_BATCH: usize = 64;

/// A mention row's bound bytes besides its id and record: source, time and catalogue version.
pub const MENTION_ROW_OVERHEAD: u64 = 24;

/// The statement that upserts `chunk`'s rows into partition `key`: a plain insert for one row,
/// an unlogged batch for more. Each row keeps its own time to live in a refile.
fn topic_rows<'a>(
    st: &'a super::statements::Statements,
    session: &'a scylla::client::session::Session,
    key: TopicPartition<'a>,
    chunk: &[(&'a Stored, Option<Rewrite>)],
) -> Pending<'a> {
    let (topic, minute, bucket, with_ttl) = key;
    let statement = if with_ttl {
        &st.refile_by_topic
    } else {
        &st.insert_by_topic
    };
    let row = |s: &&'a Stored| {
        (
            topic,
            minute,
            bucket,
            s.created_at,
            &s.id,
            unset_if_none(s.sentiment),
            &s.hashtags,
        )
    };
    if with_ttl {
        let rows = chunk.iter().map(|(s, ttl)| {
            let r = row(s);
            (r.0, r.1, r.2, r.3, r.4, r.5, r.6, ttl.map_or(0, |k| k.ttl))
        });
        upsert(session, statement, rows.collect())
    } else {
        upsert(
            session,
            statement,
            chunk.iter().map(|(s, _)| row(s)).collect(),
        )
    }
}

/// The statement that upserts `values`, rows of `statement`: a plain execute for one row, an
/// unlogged batch for more. Idempotent upserts, so a failed one is safe to replay whole.
pub fn upsert<'a, V>(
    session: &'a scylla::client::session::Session,
    statement: &'a scylla::statement::prepared::PreparedStatement,
    mut values: Vec<V>,
) -> Pending<'a>
where
    V: scylla::serialize::row::SerializeRow + Send + Sync + 'a,
{
    if values.len() == 1
        && let Some(row) = values.pop()
    {
        return Box::pin(session.execute_unpaged(statement, row));
    }
    let mut batch =
        scylla::statement::batch::Batch::new(scylla::statement::batch::BatchType::Unlogged);
    batch.set_is_idempotent(true);
    for _ in &values {
        batch.append_statement(statement.clone());
    }
    Box::pin(async move { session.batch(&batch, values).await })
}

/// A `mentions` row as bound: id, source, creation time, catalogue version, record.
type MentionRow<'a> = (
    &'a String,
    &'a str,
    DateTime<Utc>,
    &'static str,
    &'a Vec<u8>,
);

/// At most this many mention rows, and about this many bound bytes, go in one unlogged batch.
/// Each mention is its own partition, so a batch here saves requests rather than mutations: the
/// rows of one batch are owned by the same replica (and shard), which coordinates it as it would
/// each row, while the client sends, routes and awaits one request instead of dozens (the
/// worker's CPU per mention fell 15% in `benches/e2e`). The bytes stay well under Cassandra's
/// default batch failure limit (50 KiB, which it measured about 7% above the bound bytes) and
/// ScyllaDB's warning (128 KiB); a single larger row is written alone.
pub const MENTIONS_PER_BATCH: usize = 32;
/// See [`MENTIONS_PER_BATCH`].
pub const MENTION_BATCH_BYTES: usize = 24 << 10;

/// Splits rows of a table keyed by id (as `statement` writes it) into the unlogged batches they
/// are written in: rows one replica and shard own (found from the driver's view of the ring),
/// at most [`MENTIONS_PER_BATCH`] rows and about [`MENTION_BATCH_BYTES`] (by `bytes`) each. Rows
/// whose owner is unknown (no ring yet) go together: still correct, only coordinated by a node
/// that forwards them.
pub fn replica_batches<T>(
    session: &scylla::client::session::Session,
    statement: &scylla::statement::prepared::PreparedStatement,
    rows: Vec<T>,
    id: impl Fn(&T) -> &str,
    bytes: impl Fn(&T) -> usize,
) -> Vec<Vec<T>> {
    let cluster = session.get_cluster_state();
    let table = statement.get_table_spec();
    let owner = |id: &str| {
        let t = table?;
        let (ks, name) = (t.ks_name(), t.table_name());
        let token = cluster.compute_token(ks, name, &(id,)).ok()?;
        let replicas = cluster.get_token_endpoints(ks, name, token);
        replicas.first().map(|(node, shard)| (node.host_id, *shard))
    };
    let mut groups: std::collections::HashMap<_, Vec<T>> = Default::default();
    for row in rows {
        groups.entry(owner(id(&row))).or_default().push(row);
    }
    let mut out = Vec::new();
    for members in groups.into_values() {
        let mut chunk: Vec<T> = Vec::new();
        let mut size = 0;
        for row in members {
            let b = bytes(&row);
            if !chunk.is_empty()
                && (chunk.len() == MENTIONS_PER_BATCH || size + b > MENTION_BATCH_BYTES)
            {
                out.push(std::mem::take(&mut chunk));
                size = 0;
            }
            size += b;
            chunk.push(row);
        }
        if !chunk.is_empty() {
            out.push(chunk);
        }
    }
    out
}

/// The statement that upserts `chunk`'s mention rows (all with a time to live, or none): a plain
/// insert for one row, an unlogged batch for more.
fn mention_rows<'a>(
    st: &'a super::statements::Statements,
    session: &'a scylla::client::session::Session,
    chunk: &[(MentionRow<'a>, Option<Rewrite>)],
) -> Pending<'a> {
    let with_ttl = chunk.first().is_some_and(|(_, ttl)| ttl.is_some());
    let statement = if with_ttl {
        &st.refile_mention
    } else {
        &st.insert_mention
    };
    if with_ttl {
        let rows = chunk.iter().map(|(r, keep)| {
            let keep = keep.unwrap_or(Rewrite { ttl: 0, at: 0 });
            (r.0, r.1, r.2, r.3, r.4, keep.ttl, keep.at)
        });
        upsert(session, statement, rows.collect())
    } else {
        upsert(session, statement, chunk.iter().map(|(r, _)| *r).collect())
    }
}

/// A statement under way.
pub type Pending<'a> = futures_util::future::BoxFuture<
    'a,
    Result<scylla::response::query_result::QueryResult, scylla::errors::ExecutionError>,
>;

/// Runs statements with at most `n` in flight; the first error fails the lot (the batch is
/// replayed as a whole, which the idempotent upserts make harmless).
async fn run_all(pending: Vec<Pending<'_>>, n: usize) -> Result<()> {
    let mut stream = stream::iter(pending).buffer_unordered(n);
    while let Some(r) = stream.next().await {
        r.map_err(write_err)?;
    }
    Ok(())
}

impl ScyllaStore {
    /// The bucket of every (mention, topic) row of a batch, in the batch's order: each row's
    /// topic and minute give its width (the minute's plan), its id the bucket. Also counts the
    /// rows into the topics' heat and proposes widths for hot topics for the next minutes (best effort: a proposal that fails leaves that minute at width 1).
    async fn place<'a>(
        &self,
        batch: impl Iterator<Item = (&'a Stored, Option<Rewrite>)> + Clone,
    ) -> Result<Vec<i32>> {
        let share = crate::distributed::kafka::partition_share();
        let now = Utc::now();
        // Each hot topic's widest projection over the batch: one proposal per topic and batch.
        let mut proposals: std::collections::HashMap<&str, (i64, u32)> = Default::default();
        // What each row's topic needed when the row was counted, in the batch's order.
        let mut needed = Vec::new();
        {
            let mut heat = self.heat();
            for (s, _) in batch.clone() {
                for t in &s.topics {
                    let bytes = buckets::row_bytes(t, &s.id, &s.hashtags);
                    let width = heat.observe(t, bytes, share, now);
                    needed.push(width);
                    if let Some((m, w)) = heat.proposal(t, width, now) {
                        let p = proposals.entry(t.as_str()).or_insert((m, w));
                        p.1 = p.1.max(w);
                    }
                }
            }
        }
        for (t, (m, w)) in proposals {
            match self.propose_width(t, m, w).await {
                Ok(held) => {
                    tracing::debug!(topic = t, minute = m, proposed = w, held, "width proposed");
                    {
                        let mut heat = self.heat();
                        heat.proposed(m, t, w);
                        heat.holds(m, t, held); // a frozen plan is not retried
                    }
                    if let Err(e) = self.note_seen(t, m, w).await {
                        tracing::warn!(error = %e, topic = t, "recording a proposal failed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, topic = t, "proposing a width failed"),
            }
        }
        let mut widths: std::collections::HashMap<(&str, i64), u32> = Default::default();
        let mut planned = Vec::with_capacity(needed.len());
        for (s, _) in batch.clone() {
            let minute = minute_of(s.created_at).timestamp();
            for t in &s.topics {
                let width = match widths.get(&(t.as_str(), minute)) {
                    Some(w) => *w,
                    None => {
                        let w = self.write_width(t, minute).await?;
                        widths.insert((t.as_str(), minute), w);
                        w
                    }
                };
                planned.push(width);
            }
        }
        let mut out = Vec::with_capacity(planned.len());
        let mut spills = Vec::new();
        {
            let mut heat = self.heat();
            let mut rows = needed.into_iter().zip(planned);
            for (s, _) in batch {
                let minute = minute_of(s.created_at).timestamp();
                for (t, (need, width)) in s.topics.iter().zip(rows.by_ref()) {
                    let (spilled, first) = heat.spill(t, minute, need, width);
                    if first {
                        spills.push((t.as_str(), minute, width));
                    }
                    out.push(if spilled {
                        buckets::spill_bucket(&s.id, width)
                    } else {
                        buckets::bucket_of(&s.id, width)
                    });
                }
            }
        }
        // Marked before any spilled row is written, so a reader that finds one knows to look.
        let marks: Vec<Pending<'_>> = spills
            .iter()
            .map(|&(t, m, w)| -> Pending<'_> {
                let minute = DateTime::from_timestamp(m, 0).unwrap_or_default();
                let n = buckets::spill_width(w) as i32;
                Box::pin(self.session.execute_unpaged(&self.st.spill, (n, t, minute)))
            })
            .collect();
        if let Err(e) = run_all(marks, self.concurrency).await {
            let mut heat = self.heat();
            for (t, m, _) in spills {
                heat.unspill(t, m);
            }
            return Err(e);
        }
        for (t, m, w) in spills {
            let spill = buckets::spill_width(w);
            tracing::info!(topic = t, minute = m, width = w, spill, "minute spilled");
            telemetry::minute_spilled();
        }
        Ok(out)
    }

    /// Whether `(topic, minute)` spilled (its bucket 0 is marked), read afresh.
    pub(super) async fn is_spilled(&self, topic: &str, minute: DateTime<Utc>) -> Result<bool> {
        let row = first_row::<(Option<i32>,)>(&self.session, &self.st.spilled, (topic, minute));
        Ok(matches!(row.await?, Some((Some(_),))))
    }

    /// Mention rows in unlogged batches ([`replica_batches`]), rows with a time to live apart
    /// from rows without.
    fn mention_batches<'a>(
        &'a self,
        rows: Vec<(MentionRow<'a>, Option<Rewrite>)>,
    ) -> Vec<Pending<'a>> {
        let (st, session) = (&*self.st, &*self.session);
        let (refiled, written): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, t)| t.is_some());
        [written, refiled]
            .into_iter()
            .flat_map(|rows| {
                replica_batches(
                    session,
                    &st.insert_mention,
                    rows,
                    |(r, _)| r.0,
                    |(r, _)| r.0.len() + r.4.len() + MENTION_ROW_OVERHEAD as usize,
                )
            })
            .map(|chunk| mention_rows(st, session, &chunk))
            .collect()
    }

    /// The newest `want` rows of `(topic, minute)` (with `at`, those at or before it) across its
    /// buckets, read in parallel and merged in the table's order; a spilled minute's spill
    /// buckets too, a row found in two buckets once.
    async fn minute_newest(
        &self,
        topic: &str,
        minute: DateTime<Utc>,
        at: Option<DateTime<Utc>>,
        want: usize,
    ) -> Result<Vec<(String, DateTime<Utc>)>> {
        let width = self.width_of(topic, minute).await?;
        let (mut rows, marked) = self
            .newest_of(topic, minute, at, want, 0..width as i32)
            .await?;
        // Bucket 0's static cell comes with its rows, or alone when it has none; only a read
        // from a time on can miss it, when no row of bucket 0 is that old.
        let spilled = match marked {
            Some(spilled) => spilled,
            None if at.is_some() => self.is_spilled(topic, minute).await?,
            None => false,
        };
        if spilled {
            let spill = buckets::spill_buckets(width);
            rows.extend(self.newest_of(topic, minute, at, want, spill).await?.0);
            rows = newest_first(rows, usize::MAX);
            rows.dedup_by(|a, b| a.0 == b.0);
        }
        Ok(newest_first(rows, want))
    }

    /// The newest `want` rows of each of `(topic, minute)`'s `buckets`, read in parallel, and
    /// whether bucket 0 (when read) says the minute spilled (`None`: it answered no row).
    async fn newest_of(
        &self,
        topic: &str,
        minute: DateTime<Utc>,
        at: Option<DateTime<Utc>>,
        want: usize,
        buckets: impl Iterator<Item = i32>,
    ) -> Result<(Vec<(String, DateTime<Utc>)>, Option<bool>)> {
        let limit = i32::try_from(want).unwrap_or(i32::MAX);
        type Row = (Option<String>, Option<DateTime<Utc>>, Option<i32>);
        let found: Vec<(i32, Vec<Row>)> = stream::iter(buckets)
            .map(|b| async move {
                let read = match at {
                    None => {
                        self.session
                            .execute_unpaged(&self.st.recent, (topic, minute, b, limit))
                            .await
                    }
                    Some(at) => {
                        self.session
                            .execute_unpaged(&self.st.recent_before, (topic, minute, b, at, limit))
                            .await
                    }
                };
                let rows = read.map_err(err)?.into_rows_result().map_err(err)?;
                let mut out = Vec::new();
                for row in rows.rows::<Row>().map_err(err)? {
                    out.push(row.map_err(err)?);
                }
                Ok::<_, crate::error::Error>((b, out))
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let mut marked = None;
        let mut rows = Vec::new();
        for (b, found) in found {
            if b == 0 && !found.is_empty() {
                marked = Some(found.iter().any(|r| r.2.is_some()));
            }
            // A partition holding only its static cell reads as one row without an id.
            rows.extend(
                found
                    .into_iter()
                    .filter_map(|(id, created, _)| Some((id?, created?))),
            );
        }
        Ok((newest_first(rows, want), marked))
    }

    async fn write_inner(&self, batch: &[Stored]) -> Result<()> {
        // A batch's statements run at once, so of two versions of a mention in one batch (a
        // post and its edit) either could land last: only the later one is written.
        let later = superseded(batch);
        let rows = batch.iter().enumerate();
        let rows = rows.filter(|(i, _)| !later.get(*i).copied().unwrap_or(false));
        self.write_rows(rows.map(|(_, s)| (s, None)), BTreeSet::new())
            .await
    }

    /// Rewrites: each mention keeps its remaining time to live, one no longer stored is
    /// skipped, and the topics its earlier version had and this one lacks lose its row; their
    /// minutes are marked dirty with the rest, so the rollup recounts them from the rows.
    async fn refile_inner(&self, batch: &[Stored], old: &[Filed]) -> Result<()> {
        let (st, session) = (&*self.st, &*self.session);
        type Lookup<'a> = futures_util::future::BoxFuture<'a, Result<Option<Rewrite>>>;
        let lookups: Vec<Lookup<'_>> = batch
            .iter()
            .map(|s| -> Lookup<'_> {
                Box::pin(async move {
                    let row = first_row::<(Option<i32>, Option<i64>)>(
                        session,
                        &st.ttl_of_mention,
                        (&s.id,),
                    );
                    // No row: deleted or expired since it was read. A null TTL: it never expires.
                    Ok(row.await?.map(|(ttl, at)| Rewrite {
                        ttl: ttl.unwrap_or(0),
                        at: at.unwrap_or(0).saturating_add(1),
                    }))
                })
            })
            .collect();
        let ttls: Vec<Result<Option<Rewrite>>> = stream::iter(lookups)
            .buffered(self.concurrency)
            .collect()
            .await;
        let mut live = Vec::with_capacity(batch.len());
        let mut gone = Vec::new();
        for ((s, ttl), f) in batch.iter().zip(ttls).zip(old) {
            let Some(keep) = ttl? else { continue };
            let minute = minute_of(f.created_at);
            // Rows are keyed by the mention's time too (to the millisecond, as CQL stores it):
            // one whose time changed (stored, before times after collection were taken as
            // collected, dated ahead) loses every old row. One whose key stays is not deleted
            // and written again, which coordinators' clocks could order either way.
            let moved = f.created_at.timestamp_millis() != s.created_at.timestamp_millis();
            for t in f.topics.iter().filter(|t| moved || !s.topics.contains(t)) {
                gone.push((t.as_str(), minute, f));
            }
            live.push((s, Some(keep)));
        }
        // A row to take back is in its id's bucket at its minute's width (fixed before the
        // minute began, so the same as when it was written), and in its spill bucket if the
        // minute spilled.
        let mut unfiled: Vec<Pending<'_>> = Vec::new();
        let mut touched = BTreeSet::new();
        let mut spilled = std::collections::HashMap::new();
        for (t, minute, f) in gone {
            let width = self.width_of(t, minute).await?;
            let mut from = vec![buckets::bucket_of(&f.id, width)];
            let spill = match spilled.get(&(t, minute)) {
                Some(s) => *s,
                None => {
                    let s = self.is_spilled(t, minute).await?;
                    spilled.insert((t, minute), s);
                    s
                }
            };
            if spill {
                from.push(buckets::spill_bucket(&f.id, width));
            }
            for bucket in from {
                unfiled.push(Box::pin(session.execute_unpaged(
                    &st.unfile,
                    (t, minute, bucket, f.created_at, &f.id),
                )));
            }
            touched.insert((t, minute));
        }
        run_all(unfiled, self.concurrency).await?;
        self.write_rows(live.into_iter(), touched).await
    }

    /// Writes mentions and their per-topic rows (with a TTL where given), then marks their
    /// minutes and `touched` dirty.
    async fn write_rows<'a>(
        &'a self,
        batch: impl Iterator<Item = (&'a Stored, Option<Rewrite>)> + Clone,
        mut touched: BTreeSet<(&'a str, DateTime<Utc>)>,
    ) -> Result<()> {
        // 1. Mentions and their per-topic rows, concurrently; hot topics' rows spread over the
        //    buckets their minute's plan names.
        let (st, session) = (&*self.st, &*self.session);
        let placed = self.place(batch.clone()).await?;
        let mut rows: Vec<Pending<'_>> = Vec::with_capacity(batch.size_hint().0 * 2);
        // A batch's per-topic rows grouped by partition, in the batch's order.
        let mut partitions: Vec<PartitionRows<'_>> = Vec::new();
        let mut index: std::collections::HashMap<TopicPartition<'_>, usize> = Default::default();
        let mut buckets = placed.iter();
        let mut mentions = Vec::with_capacity(batch.size_hint().0);
        for (s, ttl) in batch.clone() {
            let minute = minute_of(s.created_at);
            let row = (
                &s.id,
                s.source.as_str(),
                s.created_at,
                s.fields_version,
                &s.record,
            );
            mentions.push((row, ttl));
            for (t, bucket) in s.topics.iter().zip(buckets.by_ref()) {
                let key = (t.as_str(), minute, *bucket, ttl.is_some());
                let at = *index.entry(key).or_insert_with(|| {
                    partitions.push((key, Vec::new()));
                    partitions.len() - 1
                });
                partitions[at].1.push((s, ttl));
            }
        }
        rows.extend(self.mention_batches(mentions));
        let mut bytes: u64 = batch
            .clone()
            .map(|(s, _)| (s.id.len() + s.record.len()) as u64 + MENTION_ROW_OVERHEAD)
            .sum();
        for (key, members) in &partitions {
            for (s, _) in members {
                bytes += buckets::row_bytes(key.0, &s.id, &s.hashtags);
            }
            for chunk in members.chunks(ROWS_PER_BATCH) {
                rows.push(topic_rows(st, session, *key, chunk));
            }
        }
        let statements = rows.len();
        run_all(rows, self.concurrency).await?;
        // 2. Only then mark the touched minutes dirty, so a rollup that sees a mark also sees
        //    every row written before it.
        for (s, _) in batch {
            for t in &s.topics {
                touched.insert((t.as_str(), minute_of(s.created_at)));
            }
        }
        // A mark binds its topic, two times and two small ints.
        let bytes = bytes
            + touched
                .iter()
                .map(|(t, _)| t.len() as u64 + 28)
                .sum::<u64>();
        let now = Utc::now();
        let bucket = bucket_of(now);
        let marks: Vec<Pending<'_>> = touched
            .into_iter()
            .map(|(t, m)| -> Pending<'_> {
                Box::pin(session.execute_unpaged(&st.mark_dirty, (bucket, shard_of(t), t, m, now)))
            })
            .collect();
        telemetry::store_statements(statements + marks.len(), bytes);
        run_all(marks, self.concurrency).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The services test cannot tell (one Cassandra node applies a batch's statements in the
    /// order they arrive), so the choice itself is checked here.
    #[test]
    fn of_two_versions_in_a_batch_only_the_later_is_written() {
        let at = Utc::now();
        let version = |id: &str| Stored {
            id: id.to_owned(),
            source: model::Source::Mastodon,
            created_at: at,
            collected_at: at,
            edited: false,
            sentiment: None,
            hashtags: Vec::new(),
            fields_version: "test",
            topics: Vec::new(),
            record: Vec::new(),
            json: None,
        };
        let unique: Vec<Stored> = ["a", "b", "c"].map(version).into();
        assert!(
            superseded(&unique).is_empty(),
            "no id repeats: nothing to skip"
        );
        let batch: Vec<Stored> = ["a", "b", "a", "c", "a"].map(version).into();
        assert_eq!(superseded(&batch), [true, false, true, false, false]);
    }
}
