//! The [`Store`] seam on ScyllaDB: mentions by id, their per-topic rows, dirty-minute marks, and
//! the record schemas readers need.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::{StreamExt, stream};

use super::rollup::{bucket_of, shard_of};
use super::{ScyllaStore, err, write_err};
use crate::aggregate::{MinuteAggregate, minute_of};
use crate::error::Result;
use crate::telemetry;
use crate::traits::{Before, Filed, ScanPage, Store, Stored};

/// Rows of the cursor's own time read beyond a page, for mentions created in the same
/// millisecond as the cursor's.
const TIE_SLACK: usize = 64;

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

    async fn recent(
        &self,
        topic: &str,
        limit: usize,
        before: Option<&Before>,
    ) -> Result<Vec<Vec<u8>>> {
        // Walk minute partitions backwards from now (or from the cursor's minute), up to two
        // hours.
        let mut ids = Vec::new();
        let mut minute = minute_of(Utc::now());
        if let Some(b) = before {
            let at = DateTime::from_timestamp_millis(b.created_ms).unwrap_or_default();
            minute = minute_of(at);
            // Rows of the cursor's minute up to its time; as old as it, only those after its id
            // (rows of one time are in id order). A few extra cover such ties.
            let want = i32::try_from(limit.saturating_add(TIE_SLACK)).unwrap_or(i32::MAX);
            let rows = self
                .session
                .execute_unpaged(&self.st.recent_before, (topic, minute, at, want))
                .await
                .map_err(err)?;
            for row in rows
                .into_rows_result()
                .map_err(err)?
                .rows::<(String, DateTime<Utc>)>()
                .map_err(err)?
            {
                let (id, created) = row.map_err(err)?;
                let ms = created.timestamp_millis();
                if (ms < b.created_ms || id > b.id) && ids.len() < limit {
                    ids.push(id);
                }
            }
            minute -= chrono::Duration::minutes(1);
        }
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
        r.map_err(write_err)?;
    }
    Ok(())
}

impl ScyllaStore {
    async fn write_inner(&self, batch: &[Stored]) -> Result<()> {
        self.write_rows(batch.iter().map(|s| (s, None)), BTreeSet::new())
            .await
    }

    /// Rewrites: each mention keeps its remaining time to live, one no longer stored is
    /// skipped, and the topics its earlier version had and this one lacks lose its row; their
    /// minutes are marked dirty with the rest, so the rollup recounts them from the rows.
    async fn refile_inner(&self, batch: &[Stored], old: &[Filed]) -> Result<()> {
        let (st, session) = (&*self.st, &*self.session);
        type Lookup<'a> = futures_util::future::BoxFuture<'a, Result<Option<i32>>>;
        let lookups: Vec<Lookup<'_>> = batch
            .iter()
            .map(|s| -> Lookup<'_> {
                Box::pin(async move {
                    let rows = session
                        .execute_unpaged(&st.ttl_of_mention, (&s.id,))
                        .await
                        .map_err(err)?
                        .into_rows_result()
                        .map_err(err)?;
                    // No row: deleted or expired since it was read. A null TTL: it never expires.
                    Ok(rows
                        .maybe_first_row::<(Option<i32>,)>()
                        .map_err(err)?
                        .map(|(ttl,)| ttl.unwrap_or(0)))
                })
            })
            .collect();
        let ttls: Vec<Result<Option<i32>>> = stream::iter(lookups)
            .buffered(self.concurrency)
            .collect()
            .await;
        let mut live = Vec::with_capacity(batch.len());
        let mut unfiled: Vec<Pending<'_>> = Vec::new();
        let mut touched = BTreeSet::new();
        for ((s, ttl), f) in batch.iter().zip(ttls).zip(old) {
            let Some(ttl) = ttl? else { continue };
            let minute = minute_of(f.created_at);
            for t in f.topics.iter().filter(|t| !s.topics.contains(t)) {
                unfiled.push(Box::pin(
                    session.execute_unpaged(&st.unfile, (t, minute, f.created_at, &f.id)),
                ));
                touched.insert((t.as_str(), minute));
            }
            live.push((s, Some(ttl)));
        }
        run_all(unfiled, self.concurrency).await?;
        self.write_rows(live.into_iter(), touched).await
    }

    /// Writes mentions and their per-topic rows (with a TTL where given), then marks their
    /// minutes and `touched` dirty.
    async fn write_rows<'a>(
        &'a self,
        batch: impl Iterator<Item = (&'a Stored, Option<i32>)> + Clone,
        mut touched: BTreeSet<(&'a str, DateTime<Utc>)>,
    ) -> Result<()> {
        // 1. Mentions and their per-topic rows, concurrently.
        let (st, session) = (&*self.st, &*self.session);
        let mut rows: Vec<Pending<'_>> = Vec::with_capacity(batch.size_hint().0 * 3);
        for (s, ttl) in batch.clone() {
            let minute = minute_of(s.created_at);
            match ttl {
                None => {
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
                Some(ttl) => {
                    rows.push(Box::pin(session.execute_unpaged(
                        &st.refile_mention,
                        (
                            &s.id,
                            s.source.as_str(),
                            s.created_at,
                            s.fields_version,
                            &s.record,
                            ttl,
                        ),
                    )));
                    for t in &s.topics {
                        rows.push(Box::pin(session.execute_unpaged(
                            &st.refile_by_topic,
                            (
                                t,
                                minute,
                                s.created_at,
                                &s.id,
                                unset_if_none(s.sentiment),
                                &s.hashtags,
                                ttl,
                            ),
                        )));
                    }
                }
            }
        }
        run_all(rows, self.concurrency).await?;
        // 2. Only then mark the touched minutes dirty, so a rollup that sees a mark also sees
        //    every row written before it.
        for (s, _) in batch {
            for t in &s.topics {
                touched.insert((t.as_str(), minute_of(s.created_at)));
            }
        }
        let now = Utc::now();
        let bucket = bucket_of(now);
        let marks: Vec<Pending<'_>> = touched
            .into_iter()
            .map(|(t, m)| -> Pending<'_> {
                Box::pin(session.execute_unpaged(&st.mark_dirty, (bucket, shard_of(t), t, m, now)))
            })
            .collect();
        run_all(marks, self.concurrency).await
    }
}
