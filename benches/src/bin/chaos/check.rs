//! What the run is judged by: the group's committed backlog, the stored rows and aggregates
//! against a recount made here, and the enriched topic as kcat reads it.

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use collectors::{Synthetic, SyntheticConfig};
use futures_util::StreamExt;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use scylla::client::session::Session;

use crate::{DATA_SEED, Error, KAFKA};

/// The group's committed offsets against the raw topic's end: the backlog not yet durable.
pub(crate) struct Offsets {
    pub(crate) consumer: BaseConsumer,
    pub(crate) topic: String,
}

impl Offsets {
    /// Messages not yet committed, or `None` while Kafka cannot say.
    pub(crate) fn remaining(&self) -> Option<i64> {
        let md = self
            .consumer
            .fetch_metadata(Some(&self.topic), Duration::from_secs(5))
            .ok()?;
        let partitions: Vec<i32> = md
            .topics()
            .first()?
            .partitions()
            .iter()
            .map(|p| p.id())
            .collect();
        drop(md);
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition(&self.topic, *p);
        }
        let committed = self
            .consumer
            .committed_offsets(tpl, Duration::from_secs(5))
            .ok()?;
        let mut left = 0;
        for e in committed.elements() {
            let (_, high) = self
                .consumer
                .fetch_watermarks(&self.topic, e.partition(), Duration::from_secs(5))
                .ok()?;
            let at = match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            };
            left += (high - at).max(0);
        }
        // A list from `committed_offsets` alive when the consumer drops hangs the drop (STACK.md).
        drop(committed);
        Some(left)
    }
}

/// Counts per (topic, minute): mentions, positive, neutral, negative, and the sentiment sum.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Counts {
    mentions: i64,
    positive: i64,
    neutral: i64,
    negative: i64,
    sentiment_sum: f64,
}

impl Counts {
    pub(crate) fn matches(&self, t: &Counts) -> bool {
        (self.mentions, self.positive, self.neutral, self.negative)
            == (t.mentions, t.positive, t.neutral, t.negative)
            && (self.sentiment_sum - t.sentiment_sum).abs() < 1e-6 * t.mentions.max(1) as f64
    }
}

pub(crate) type Key = (String, DateTime<Utc>);

/// The ids and per-minute counts of mentions `0..n`, recounted from the generator and the
/// transforms, independently of the worker's aggregation.
pub(crate) fn ground_truth(n: u64) -> (Vec<String>, HashMap<Key, Counts>) {
    let source = Synthetic::new(SyntheticConfig {
        seed: DATA_SEED,
        ..Default::default()
    });
    let mut record = transforms::Record::new();
    let (mut ids, mut truth) = (
        Vec::with_capacity(n as usize),
        HashMap::<Key, Counts>::new(),
    );
    for i in 0..n {
        let m = source.mention(i);
        transforms::enrich_into(&m, &mut record);
        let s = match record.by_name("sentiment_compound") {
            Some(transforms::Value::Float(x)) => *x,
            _ => 0.0,
        };
        let mut topics = vec![format!("source:{}", m.source.as_str())];
        if let Some(transforms::Value::StrList(tags)) = record.by_name("hashtags") {
            for h in tags {
                let t = format!("hashtag:{}", h.to_lowercase());
                if topics.len() < 8 && !topics.contains(&t) {
                    topics.push(t);
                }
            }
        }
        let minute = m
            .created_at
            .duration_trunc(chrono::Duration::minutes(1))
            .unwrap_or(m.created_at);
        for t in topics {
            let c = truth.entry((t, minute)).or_default();
            c.mentions += 1;
            c.sentiment_sum += s;
            match s {
                s if s >= 0.05 => c.positive += 1,
                s if s <= -0.05 => c.negative += 1,
                _ => c.neutral += 1,
            }
        }
        ids.push(m.id);
    }
    (ids, truth)
}

pub(crate) async fn wait_rollups(session: &Session, ks: &str) -> Result<(), Error> {
    let q = format!("SELECT COUNT(*) FROM {ks}.dirty_marks");
    for _ in 0..600 {
        if let Ok(r) = session.query_unpaged(q.as_str(), &[]).await
            && r.into_rows_result()?.single_row::<(i64,)>()?.0 == 0
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err("rollups did not finish within 5 minutes".into())
}

pub(crate) async fn stored_ids(session: &Session, ks: &str) -> Result<Vec<String>, Error> {
    let mut rows = session
        .query_iter(format!("SELECT id FROM {ks}.mentions"), &[])
        .await?
        .rows_stream::<(String,)>()?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().await {
        out.push(r?.0);
    }
    Ok(out)
}

pub(crate) async fn stored_stats(
    session: &Session,
    ks: &str,
) -> Result<HashMap<Key, Counts>, Error> {
    let q = format!(
        "SELECT topic, minute, mentions, sentiment_sum, positive, neutral, negative FROM {ks}.topic_minute_stats"
    );
    let mut rows =
        session
            .query_iter(q, &[])
            .await?
            .rows_stream::<(String, DateTime<Utc>, i64, f64, i64, i64, i64)>()?;
    let mut out = HashMap::new();
    while let Some(r) = rows.next().await {
        let (topic, minute, mentions, sentiment_sum, positive, neutral, negative) = r?;
        out.insert(
            (topic, minute),
            Counts {
                mentions,
                positive,
                neutral,
                negative,
                sentiment_sum,
            },
        );
    }
    Ok(out)
}

/// Keys of every record on the enriched topic, read by kcat (a client we did not write).
pub(crate) fn enriched_keys(topic: &str) -> Result<HashSet<String>, Error> {
    let out = Command::new("kcat")
        .args([
            "-C",
            "-b",
            KAFKA,
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%k\n",
        ])
        .output()?;
    if !out.status.success() {
        return Err(format!("kcat: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}
