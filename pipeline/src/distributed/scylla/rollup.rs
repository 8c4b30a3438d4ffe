//! The reading half of the exact-aggregate design (see `deploy/scylla/schema.cql`): writers mark
//! the topic-minutes they touched dirty; a rollup recomputes each quiet dirty minute from its
//! per-topic rows with [`MinuteAggregate`] and clears the mark.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};

use super::{ScyllaStore, err};
use crate::aggregate::MinuteAggregate;
use crate::error::{Error, Result};
use crate::telemetry;

/// Shards of the dirty-minute table (spreads its rows over the ring).
pub(super) const DIRTY_SHARDS: i32 = 16;
/// Hashtags kept per aggregate row.
const TOP_HASHTAGS: usize = 20;

impl ScyllaStore {
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

/// The dirty-minute shard of a topic.
pub(super) fn shard_of(topic: &str) -> i32 {
    let h = topic.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (h % DIRTY_SHARDS as u32) as i32
}
