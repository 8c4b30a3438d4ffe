//! Per-minute rollups on Cassandra 5 with several workers: rollup instances (each with its own
//! session, as separate worker processes would have) race over one keyspace while writers keep
//! writing into the same minutes, and the aggregates must still equal a recount of the rows. Also
//! the dirty-mark table's bounds: bucketed partitions, TTL'd marks, closed buckets not re-read.
//! SKIPPED without services, failed when they are required (see `common::service_up`).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use collectors::{Synthetic, SyntheticConfig};
use common::{CQL, service_up, unique};
use futures_util::StreamExt;
use pipeline::aggregate::{MinuteAggregate, minute_of};
use pipeline::config::Config;
use pipeline::distributed::{ScyllaStore, scylla};
use pipeline::traits::{Delivery, Store, Stored};

const TOPICS: [&str; 2] = ["race:a", "race:b"];

/// Applies the schema to a fresh keyspace and opens `n` stores on it, one session each.
async fn stores(ks: &str, n: usize) -> Vec<ScyllaStore> {
    let vars = [
        ("BACKCHANNEL__SCYLLA__NODES", CQL),
        ("BACKCHANNEL__SCYLLA__KEYSPACE", ks),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let cfg = Config::load(None, vars).expect("config");
    let params = scylla::SchemaParams::from_config(&cfg.scylla).expect("schema parameters");
    let mut out = Vec::new();
    for _ in 0..n {
        let session = scylla::connect(&cfg.scylla).await.expect("connect");
        if out.is_empty() {
            scylla::apply_schema(&session, &params)
                .await
                .expect("schema");
        }
        out.push(ScyllaStore::new(session, ks, 16).await.expect("prepare"));
    }
    out
}

/// Mentions `first..first + n`, filed under both race topics, spread over `minutes` (in turn).
fn mentions(first: u64, n: u64, minutes: &[DateTime<Utc>]) -> Arc<[Stored]> {
    let source = Synthetic::new(SyntheticConfig {
        seed: 7,
        ..Default::default()
    });
    let batch = (first..first + n)
        .map(|i| Delivery {
            partition: 0,
            offset: i as i64,
            key: None,
            payload: serde_json::to_vec(&source.mention(i)).expect("json"),
            tombstone: false,
        })
        .collect();
    let out = pipeline::runtime::process_batch(batch, &Default::default(), None);
    assert!(out.dead.is_empty(), "synthetic mentions are valid");
    out.stored
        .iter()
        .zip(first..)
        .map(|(s, i)| {
            let mut s = s.clone();
            s.id = format!("race-{i}");
            let minute = minutes[(i % minutes.len() as u64) as usize];
            s.created_at = minute + chrono::Duration::milliseconds((i % 59_000) as i64);
            s.topics = TOPICS.iter().map(|t| (*t).to_owned()).collect();
            s
        })
        .collect()
}

/// The aggregate recounted from the minute's rows in `mentions_by_topic`.
async fn recount(store: &ScyllaStore, ks: &str, topic: &str, minute: DateTime<Utc>) -> Agg {
    let mut rows = store
        .session()
        .query_iter(
            format!("SELECT sentiment, hashtags FROM {ks}.mentions_by_topic WHERE topic = ? AND minute = ?"),
            (topic, minute),
        )
        .await
        .expect("read rows")
        .rows_stream::<(Option<f64>, Option<Vec<String>>)>()
        .expect("typed rows");
    let mut agg = MinuteAggregate::default();
    while let Some(row) = rows.next().await {
        let (sentiment, hashtags) = row.expect("row");
        agg.add(sentiment, hashtags.as_deref().unwrap_or_default());
    }
    Agg::of(&agg)
}

/// The stored aggregate of one topic-minute, comparable with a recount.
#[derive(Debug, PartialEq)]
struct Agg {
    mentions: i64,
    /// Sentiment sum in millionths, so float summation order does not matter.
    sentiment_micros: i64,
    labels: (i64, i64, i64),
    hashtags: HashMap<String, i64>,
}

impl Agg {
    fn of(a: &MinuteAggregate) -> Agg {
        Agg {
            mentions: a.mentions,
            sentiment_micros: (a.sentiment_sum * 1e6).round() as i64,
            labels: (a.positive, a.neutral, a.negative),
            hashtags: a.top_hashtags(20),
        }
    }
}

async fn stored_stats(store: &ScyllaStore, ks: &str, topic: &str, minute: DateTime<Utc>) -> Agg {
    type Row = (i64, f64, i64, i64, i64, Option<HashMap<String, i64>>);
    let row: Row = store
        .session()
        .query_unpaged(
            format!(
                "SELECT mentions, sentiment_sum, positive, neutral, negative, hashtags \
                 FROM {ks}.topic_minute_stats WHERE topic = ? AND day = ? AND minute = ?"
            ),
            (topic, minute.date_naive(), minute),
        )
        .await
        .expect("read stats")
        .into_rows_result()
        .expect("rows")
        .single_row()
        .expect("one stats row");
    Agg {
        mentions: row.0,
        sentiment_micros: (row.1 * 1e6).round() as i64,
        labels: (row.2, row.3, row.4),
        hashtags: row.5.unwrap_or_default(),
    }
}

/// Live dirty marks, as (topic, minute).
async fn marks(store: &ScyllaStore, ks: &str) -> BTreeSet<(String, DateTime<Utc>)> {
    let mut rows = store
        .session()
        .query_iter(format!("SELECT topic, minute FROM {ks}.dirty_marks"), &[])
        .await
        .expect("scan marks")
        .rows_stream::<(String, DateTime<Utc>)>()
        .expect("typed rows");
    let mut out = BTreeSet::new();
    while let Some(row) = rows.next().await {
        out.insert(row.expect("row"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_rollup_that_finishes_last_does_not_win() {
    if !service_up("Cassandra", CQL) {
        return;
    }
    let ks = unique("test_rollup_stale");
    let s = stores(&ks, 2).await;
    let minute = minute_of(Utc::now()) - chrono::Duration::minutes(2);
    let topic = TOPICS[0];

    // Rollup A reads the minute's 20 rows…
    s[0].write(&mentions(0, 20, &[minute]))
        .await
        .expect("write");
    let due: Vec<_> = s[0]
        .dirty_minutes(Duration::ZERO)
        .await
        .expect("scan")
        .into_iter()
        .filter(|d| d.topic == topic && d.minute == minute)
        .collect();
    assert_eq!(due.len(), 1, "one mark for the topic-minute: {due:?}");
    let stale = s[0].recompute(due[0].clone()).await.expect("recompute");
    assert_eq!(stale.aggregate.mentions, 20);
    // …then 20 more land and rollup B completes, clearing the newer mark…
    s[1].write(&mentions(20, 20, &[minute]))
        .await
        .expect("write");
    assert!(s[1].rollup(Duration::ZERO).await.expect("rollup B") >= 2);
    assert!(marks(&s[1], &ks).await.is_empty(), "B cleared every mark");
    assert_eq!(stored_stats(&s[1], &ks, topic, minute).await.mentions, 40);
    // …and only then does A write what it computed from its older read.
    s[0].publish(stale).await.expect("publish A");

    let want = recount(&s[0], &ks, topic, minute).await;
    assert_eq!(want.mentions, 40);
    assert_eq!(
        stored_stats(&s[0], &ks, topic, minute).await,
        want,
        "B's rollup, which covers the newer mark, stands"
    );
    assert!(
        marks(&s[0], &ks).await.is_empty(),
        "no mark left to fix it later"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_rollups_racing_writers_end_exact() {
    if !service_up("Cassandra", CQL) {
        return;
    }
    let ks = unique("test_rollup_race");
    let s = Arc::new(stores(&ks, 3).await);
    let now = minute_of(Utc::now());
    let minutes = [
        now - chrono::Duration::minutes(3),
        now - chrono::Duration::minutes(2),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    // Warm up, as running workers are: a process's first scan reads the whole look-back window.
    for store in s.iter() {
        store.dirty_minutes(Duration::ZERO).await.expect("scan");
    }

    // Two plain rollup loops, and one that pauses between its read and its write, so that its
    // writes are often stale by the time they land.
    let mut loops = Vec::new();
    for i in 0..3 {
        let (s, stop) = (s.clone(), stop.clone());
        loops.push(tokio::spawn(async move {
            let mut published = 0;
            while !stop.load(Ordering::Relaxed) {
                if i < 2 {
                    published += s[i].rollup(Duration::ZERO).await.expect("rollup");
                    continue;
                }
                for d in s[i].dirty_minutes(Duration::ZERO).await.expect("scan") {
                    let r = s[i].recompute(d).await.expect("recompute");
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    s[i].publish(r).await.expect("publish");
                    published += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            published
        }));
    }
    // Two writers, each through its own store, into the same topic-minutes.
    let mut writers = Vec::new();
    for w in 0..2u64 {
        let s = s.clone();
        writers.push(tokio::spawn(async move {
            for b in 0..15u64 {
                let first = (w * 15 + b) * 8;
                s[w as usize]
                    .write(&mentions(first, 8, &minutes))
                    .await
                    .expect("write");
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut published = 0;
    for l in loops {
        published += l.await.expect("rollup loop");
    }
    assert!(
        published > 4,
        "the rollups ran while writes landed ({published})"
    );
    // Whatever the race left marked, one more pass settles.
    while s[0].rollup(Duration::ZERO).await.expect("rollup") > 0 {}
    assert!(marks(&s[0], &ks).await.is_empty());

    for topic in TOPICS {
        for minute in minutes {
            let want = recount(&s[0], &ks, topic, minute).await;
            assert_eq!(
                want.mentions, 120,
                "every mention of {topic} {minute} was written"
            );
            assert_eq!(
                stored_stats(&s[0], &ks, topic, minute).await,
                want,
                "{topic} {minute}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dirty_marks_are_bucketed_expire_and_closed_buckets_are_not_read_again() {
    if !service_up("Cassandra", CQL) {
        return;
    }
    let ks = unique("test_rollup_marks");
    let s = stores(&ks, 2).await;

    // The table expires marks and lets compaction purge their tombstones soon.
    let (ttl, gc_grace, compaction): (i32, i32, HashMap<String, String>) = s[0]
        .session()
        .query_unpaged(
            "SELECT default_time_to_live, gc_grace_seconds, compaction FROM system_schema.tables \
             WHERE keyspace_name = ? AND table_name = 'dirty_marks'",
            (&ks,),
        )
        .await
        .expect("table options")
        .into_rows_result()
        .expect("rows")
        .single_row()
        .expect("one table");
    assert_eq!(ttl as u64, scylla::DIRTY_TTL.as_secs());
    assert_eq!(gc_grace, 3600);
    assert!(compaction["class"].ends_with("TimeWindowCompactionStrategy"));

    // Marks land in the bucket of their write time, with a TTL.
    let minute = minute_of(Utc::now()) - chrono::Duration::minutes(1);
    let before = scylla::bucket_of(Utc::now());
    s[0].write(&mentions(0, 10, &[minute]))
        .await
        .expect("write");
    let after = scylla::bucket_of(Utc::now());
    let rows: Vec<(DateTime<Utc>, Option<i32>)> = s[0]
        .session()
        .query_unpaged(
            format!("SELECT bucket, TTL(marked_at) FROM {ks}.dirty_marks"),
            &[],
        )
        .await
        .expect("marks")
        .into_rows_result()
        .expect("rows")
        .rows()
        .expect("typed")
        .collect::<Result<_, _>>()
        .expect("row");
    assert_eq!(rows.len(), TOPICS.len());
    for (bucket, ttl) in rows {
        assert!(
            bucket == before || bucket == after,
            "{bucket} is the write's bucket"
        );
        let ttl = ttl.expect("marks expire") as u64;
        assert!(0 < ttl && ttl <= scylla::DIRTY_TTL.as_secs());
    }
    assert_eq!(s[0].rollup(Duration::ZERO).await.expect("rollup"), 2);
    assert!(marks(&s[0], &ks).await.is_empty());

    // A closed bucket a scan found empty is not read again by that process: a mark slipped into
    // one (by hand; writers only write the current bucket) is invisible to it, while a fresh
    // process, and the window's limit, still see exactly what they should.
    let closed = scylla::bucket_of(Utc::now() - chrono::Duration::minutes(30));
    let too_old = scylla::bucket_of(
        Utc::now() - chrono::Duration::seconds(scylla::DIRTY_TTL.as_secs() as i64 + 1200),
    );
    for (bucket, topic) in [(closed, "late:closed"), (too_old, "late:expired")] {
        s[0].session()
            .query_unpaged(
                format!(
                    "INSERT INTO {ks}.dirty_marks (bucket, shard, topic, minute, marked_at) \
                     VALUES (?, 0, ?, ?, ?) USING TTL 600"
                ),
                (bucket, topic, minute, Utc::now()),
            )
            .await
            .expect("slip a mark in");
    }
    let seen = |d: Vec<scylla::DirtyMinute>| d.into_iter().map(|d| d.topic).collect::<Vec<_>>();
    assert_eq!(
        seen(s[0].dirty_minutes(Duration::ZERO).await.expect("scan")),
        Vec::<String>::new(),
        "the drained closed bucket was not read"
    );
    assert_eq!(
        seen(s[1].dirty_minutes(Duration::ZERO).await.expect("scan")),
        ["late:closed"],
        "a new process reads it once; nothing older than the TTL is read"
    );
}
