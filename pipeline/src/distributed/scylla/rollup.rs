//! The reading half of the exact-aggregate design (see `deploy/scylla/schema.cql`): writers mark
//! the topic-minutes they touched dirty; a rollup recomputes each quiet dirty minute from its
//! per-topic rows with [`MinuteAggregate`] and clears the mark.
//!
//! # Exact with any number of workers
//!
//! Every worker rolls up every shard, so two rollups of one minute can overlap. A blind overwrite
//! would let the slower one win even when it read before a new mention landed, after the faster
//! one had already cleared the newer mark: the aggregate would stay short for good. So the stats
//! row is written `USING TIMESTAMP` = the write time of the mark the rollup covers, and CQL's
//! last-write-wins orders the rollups, not their finishing order:
//!
//! - a mark is written only after its rows are durable, and a rollup reads the rows only after it
//!   has seen the mark, so a rollup stamped `T` has read every row whose mark is at or before `T`;
//! - a mark newer than `T` survives the rollup's clear (`DELETE … USING TIMESTAMP T`), so some
//!   later rollup is stamped with it and supersedes every stale one, whatever order they finish;
//! - two rollups of the same mark that read different rows (a write landed between their reads)
//!   tie, but that write left a newer mark, so a third rollup overwrites both.
//!
//! The stamp is the mark's server-side write time, one clock for all workers, rather than the
//! time a rollup started reading, which would compare the clocks of different worker hosts.
//! Shard ownership (one worker per shard) would also serialize rollups, but needs membership and
//! hand-over, and a lagging ex-owner could still write late; the timestamp makes overlap harmless,
//! so every worker may keep rolling up every shard and none is special.
//!
//! # Bounded tombstones
//!
//! Clearing a mark leaves a tombstone, and one partition per shard forever would collect them
//! until reads fail. Marks are partitioned by `(bucket, shard)` where the bucket is the mark's
//! write time cut to [`DIRTY_BUCKET`]: a bucket stops receiving marks once its ten minutes pass,
//! and a closed bucket that a scan found empty is never read again by that worker. Marks expire
//! after [`DIRTY_TTL`] (the table's default TTL), which is also how far back a scan looks, and the
//! table's short `gc_grace_seconds` plus one-hour time windows let compaction drop whole expired
//! SSTables, tombstones included. A resurrected mark (a replica missed a delete and gc grace
//! passed) costs only one idempotent rollup, stamped with its old time, so it cannot win either.
//! Scans are paged.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};

use super::{ScyllaStore, buckets, err};
use crate::aggregate::MinuteAggregate;
use crate::error::{Error, Result};
use crate::telemetry;

/// Shards of a dirty-mark bucket (spread its rows over the ring).
pub(super) const DIRTY_SHARDS: i32 = 16;
/// Width of a dirty-mark bucket: marks are partitioned by the time they were written, cut to this.
pub const DIRTY_BUCKET: Duration = Duration::from_secs(600);
/// Marks expire after this (the table's default TTL) and scans look this far back: a minute
/// marked while no worker rolls up for longer keeps its last aggregate.
pub const DIRTY_TTL: Duration = Duration::from_secs(86_400);
/// Rollups and shard scans in flight per worker.
const IN_FLIGHT: usize = 16;
/// Plan buckets of a spilled minute read at once, each with its ids in memory.
const SPILLED_IN_FLIGHT: usize = 4;

/// What [`ScyllaStore::recompute`] does with the ids of a bucket it reads.
#[derive(Clone, Copy)]
enum Ids<'a> {
    /// Keeps them if the bucket says the minute spilled (bucket 0, read first).
    IfSpilled,
    /// Keeps them: a plan bucket of a spilled minute.
    Keep,
    /// Skips the rows whose id a plan bucket holds: one of its spill buckets.
    Skip(&'a HashSet<String>),
    /// Neither: a plan bucket of a minute that did not spill.
    Drop,
}

/// One bucket's rows as the rollup reads them ([`ScyllaStore::recompute`]).
struct BucketRows {
    aggregate: MinuteAggregate,
    /// The ids read, where the minute spilled and the bucket is a plan bucket.
    ids: HashSet<String>,
    /// Whether bucket 0's static cell marks the minute spilled.
    spilled: bool,
}

/// One dirty topic-minute found by a scan: what [`ScyllaStore::recompute`] reads.
#[derive(Debug, Clone, PartialEq)]
pub struct DirtyMinute {
    pub topic: String,
    pub minute: DateTime<Utc>,
    /// The mark's bucket and shard: its partition.
    pub bucket: DateTime<Utc>,
    pub shard: i32,
    /// The mark's write time (µs): the stamp of the stats row, and of the clearing delete.
    pub writetime: i64,
}

/// A dirty minute recomputed from its rows, not yet written: [`ScyllaStore::publish`] writes it.
#[derive(Debug, Clone)]
pub struct Recomputed {
    pub dirty: DirtyMinute,
    pub aggregate: MinuteAggregate,
}

/// The bucket of a mark written at `t`.
pub fn bucket_of(t: DateTime<Utc>) -> DateTime<Utc> {
    let width = DIRTY_BUCKET.as_secs() as i64;
    DateTime::from_timestamp(t.timestamp().div_euclid(width) * width, 0).unwrap_or(t)
}

/// The buckets a scan at `now` reads, oldest first: back to [`DIRTY_TTL`], and the current one.
pub fn buckets_to_scan(now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let width = chrono::Duration::seconds(DIRTY_BUCKET.as_secs() as i64);
    let newest = bucket_of(now);
    let mut b = bucket_of(now - chrono::Duration::seconds(DIRTY_TTL.as_secs() as i64));
    let mut out = Vec::new();
    while b <= newest {
        out.push(b);
        b += width;
    }
    out
}

/// Whether no mark can still be written into `bucket` at `now`: the bucket ended a whole bucket
/// ago (one more bucket of slack for writers whose clocks lag).
fn closed(bucket: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let width = chrono::Duration::seconds(DIRTY_BUCKET.as_secs() as i64);
    bucket + width + width <= bucket_of(now)
}

impl ScyllaStore {
    /// Recomputes the aggregates of every dirty minute that has been quiet for `quiet`, and clears
    /// its mark. Returns how many marks were rolled up. Exact with many workers at once (see the
    /// module doc): [`Self::dirty_minutes`], then [`Self::recompute`] and [`Self::publish`] each.
    pub async fn rollup(&self, quiet: Duration) -> Result<usize> {
        // Every mark written `quiet` before the scan began is due in it, or was cleared by a
        // rollup that had published its minute first.
        let covered = Utc::now() - chrono::Duration::from_std(quiet).unwrap_or_default();
        let due = self.dirty_minutes(quiet).await?;
        let n = due.len();
        telemetry::rollup_due(n);
        stream::iter(due)
            .map(|d| async move { self.publish(self.recompute(d).await?).await })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        telemetry::rollups(n);
        let mut rolled_up = self.rolled_up.lock().unwrap_or_else(|p| p.into_inner());
        *rolled_up = (*rolled_up).max(Some(covered));
        Ok(n)
    }

    /// Scans the open buckets (and the closed ones not yet seen empty) for marks quiet for
    /// `quiet`. Remembers closed buckets found empty, so they are not read again.
    pub async fn dirty_minutes(&self, quiet: Duration) -> Result<Vec<DirtyMinute>> {
        let now = Utc::now();
        let cutoff = now - chrono::Duration::from_std(quiet).unwrap_or_default();
        let buckets = buckets_to_scan(now);
        let oldest = buckets.first().copied().unwrap_or(now);
        let todo: Vec<(DateTime<Utc>, i32)> = {
            let mut drained = self.drained.lock().unwrap_or_else(|p| p.into_inner());
            drained.retain(|(b, _)| *b >= oldest);
            buckets
                .iter()
                .flat_map(|b| (0..DIRTY_SHARDS).map(move |s| (*b, s)))
                .filter(|k| !drained.contains(k))
                .collect()
        };
        let scanned: Vec<(DateTime<Utc>, i32, Vec<Mark>)> = stream::iter(todo)
            .map(|(bucket, shard)| async move {
                Ok::<_, Error>((bucket, shard, self.scan(bucket, shard).await?))
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect()
            .await?;
        let mut newly_drained = HashSet::new();
        let mut due = Vec::new();
        for (bucket, shard, marks) in scanned {
            if marks.is_empty() && closed(bucket, now) {
                newly_drained.insert((bucket, shard));
            }
            for m in marks {
                if m.marked_at <= cutoff {
                    due.push(DirtyMinute {
                        topic: m.topic,
                        minute: m.minute,
                        bucket,
                        shard,
                        writetime: m.writetime,
                    });
                }
            }
        }
        self.drained
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(newly_drained);
        Ok(due)
    }

    /// Every live mark of one partition, paged.
    async fn scan(&self, bucket: DateTime<Utc>, shard: i32) -> Result<Vec<Mark>> {
        let mut rows = self
            .session
            .execute_iter(self.st.dirty_shard.clone(), (bucket, shard))
            .await
            .map_err(err)?
            .rows_stream::<(String, DateTime<Utc>, DateTime<Utc>, i64)>()
            .map_err(err)?;
        let mut marks = Vec::new();
        while let Some(row) = rows.next().await {
            let (topic, minute, marked_at, writetime) = row.map_err(err)?;
            marks.push(Mark {
                topic,
                minute,
                marked_at,
                writetime,
            });
        }
        Ok(marks)
    }

    /// Reads the minute's rows (paged; a hot topic's buckets in parallel) and aggregates them:
    /// bucket 0 first, whose static cell says whether the minute spilled. A spilled minute's
    /// row may be in its plan bucket and in one of that bucket's spill buckets (a redelivery
    /// written by a worker that had not spilled), so each plan bucket is read with its own
    /// spill buckets and a row is counted once. Writes nothing.
    pub async fn recompute(&self, dirty: DirtyMinute) -> Result<Recomputed> {
        let width = self.width_of(&dirty.topic, dirty.minute).await?;
        let (topic, minute) = (dirty.topic.as_str(), dirty.minute);
        let first = self.bucket_rows(topic, minute, 0, Ids::IfSpilled).await?;
        let parts: Vec<MinuteAggregate> = if first.spilled {
            // One plan bucket's ids in memory at a time per read in flight: a plan bucket
            // stops growing at the spill (about twice the target).
            let first = &first;
            stream::iter(0..width as i32)
                .map(|bucket| async move {
                    let own = if bucket == 0 {
                        None
                    } else {
                        Some(self.bucket_rows(topic, minute, bucket, Ids::Keep).await?)
                    };
                    let own = own.as_ref().unwrap_or(first);
                    let skip = Ids::Skip(&own.ids);
                    let spilled: Vec<BucketRows> =
                        stream::iter(buckets::spill_buckets_of(bucket, width))
                            .map(|spill| self.bucket_rows(topic, minute, spill, skip))
                            .buffer_unordered(IN_FLIGHT)
                            .try_collect()
                            .await?;
                    let mut aggregate = own.aggregate.clone();
                    for read in &spilled {
                        aggregate.merge(&read.aggregate);
                    }
                    Ok::<_, Error>(aggregate)
                })
                .buffer_unordered(SPILLED_IN_FLIGHT)
                .try_collect()
                .await?
        } else {
            let mut parts: Vec<MinuteAggregate> = stream::iter(1..width as i32)
                .map(|bucket| async move {
                    let read = self.bucket_rows(topic, minute, bucket, Ids::Drop).await?;
                    Ok::<_, Error>(read.aggregate)
                })
                .buffer_unordered(IN_FLIGHT)
                .try_collect()
                .await?;
            parts.push(first.aggregate);
            parts
        };
        let mut aggregate = MinuteAggregate::default();
        for p in &parts {
            aggregate.merge(p);
        }
        Ok(Recomputed { dirty, aggregate })
    }

    /// One bucket of a topic's minute, paged: its aggregate (without the rows `ids` skips),
    /// whether the minute spilled (bucket 0's static cell), and the ids `ids` keeps.
    async fn bucket_rows(
        &self,
        topic: &str,
        minute: DateTime<Utc>,
        bucket: i32,
        ids: Ids<'_>,
    ) -> Result<BucketRows> {
        type Row = (
            Option<String>,
            Option<f64>,
            Option<Vec<String>>,
            Option<i32>,
        );
        let mut rows = self
            .session
            .execute_iter(self.st.minute_rows.clone(), (topic, minute, bucket))
            .await
            .map_err(err)?
            .rows_stream::<Row>()
            .map_err(err)?;
        let mut out = BucketRows {
            aggregate: MinuteAggregate::default(),
            ids: HashSet::new(),
            spilled: false,
        };
        while let Some(row) = rows.next().await {
            let (id, sentiment, hashtags, spilled) = row.map_err(err)?;
            out.spilled |= spilled.is_some();
            // A partition holding only its static cell reads as a row without an id.
            let Some(id) = id else { continue };
            if let Ids::Skip(seen) = ids
                && seen.contains(&id)
            {
                continue;
            }
            out.aggregate
                .add(sentiment, hashtags.as_deref().unwrap_or_default());
            if matches!(ids, Ids::Keep) || (matches!(ids, Ids::IfSpilled) && out.spilled) {
                out.ids.insert(id);
            }
        }
        Ok(out)
    }

    /// Writes the stats row stamped with the mark's write time (so a rollup that covers a newer
    /// mark wins, whenever either finishes), then clears the mark at that same time (so a newer
    /// mark survives).
    pub async fn publish(&self, r: Recomputed) -> Result<()> {
        let Recomputed {
            dirty: d,
            aggregate: agg,
        } = r;
        let day: NaiveDate = d.minute.date_naive();
        let top = agg.top_hashtags(crate::aggregate::TOP_HASHTAGS);
        self.session
            .execute_unpaged(
                &self.st.write_stats,
                (
                    &d.topic,
                    day,
                    d.minute,
                    agg.mentions,
                    agg.sentiment_sum,
                    agg.positive,
                    agg.neutral,
                    agg.negative,
                    top,
                    Utc::now(),
                    d.writetime,
                ),
            )
            .await
            .map_err(err)?;
        self.session
            .execute_unpaged(
                &self.st.clear_dirty,
                (d.writetime, d.bucket, d.shard, &d.topic, d.minute),
            )
            .await
            .map_err(err)?;
        Ok(())
    }
}

/// One row of a dirty-mark partition.
struct Mark {
    topic: String,
    minute: DateTime<Utc>,
    marked_at: DateTime<Utc>,
    writetime: i64,
}

/// The dirty-mark shard of a topic.
pub(super) fn shard_of(topic: &str) -> i32 {
    let h = topic.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (h % DIRTY_SHARDS as u32) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn buckets_cut_mark_time_to_ten_minutes() {
        let t = Utc.with_ymd_and_hms(2026, 12, 3, 10, 19, 59).unwrap();
        assert_eq!(
            bucket_of(t),
            Utc.with_ymd_and_hms(2026, 12, 3, 10, 10, 0).unwrap()
        );
        assert_eq!(bucket_of(bucket_of(t)), bucket_of(t));
    }

    #[test]
    fn a_scan_reads_a_bounded_window_back_to_the_ttl() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 10, 19, 59).unwrap();
        let b = buckets_to_scan(now);
        let per_ttl = (DIRTY_TTL.as_secs() / DIRTY_BUCKET.as_secs()) as usize;
        assert_eq!(
            b.len(),
            per_ttl + 1,
            "the TTL's buckets and the current one"
        );
        assert_eq!(b.last(), Some(&bucket_of(now)));
        let ttl = chrono::Duration::seconds(DIRTY_TTL.as_secs() as i64);
        assert!(
            b[0] <= now - ttl && now - ttl < b[1],
            "nothing older than a mark can live"
        );
    }

    #[test]
    fn only_buckets_a_whole_bucket_old_are_closed() {
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 10, 19, 59).unwrap();
        let width = chrono::Duration::seconds(DIRTY_BUCKET.as_secs() as i64);
        assert!(!closed(bucket_of(now), now));
        assert!(!closed(bucket_of(now) - width, now), "late writers' slack");
        assert!(closed(bucket_of(now) - width - width, now));
    }
}
