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
use pipeline::traits::{Delivery, Filed, Store, Stored};

const TOPICS: [&str; 2] = ["race:a", "race:b"];

/// Applies the schema to a fresh keyspace and opens `n` stores on it, one session each.
async fn stores(ks: &str, n: usize) -> Vec<ScyllaStore> {
    stores_with(ks, n, &[]).await
}

/// The configuration of keyspace `ks` on the local Cassandra, with more variables.
fn config(ks: &str, more: &[(&str, &str)]) -> Config {
    let base = [
        ("BACKCHANNEL__SCYLLA__NODES", CQL),
        ("BACKCHANNEL__SCYLLA__KEYSPACE", ks),
    ];
    let vars = base
        .iter()
        .chain(more)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    Config::load(None, vars).expect("config")
}

/// [`stores`] with more configuration variables.
async fn stores_with(ks: &str, n: usize, more: &[(&str, &str)]) -> Vec<ScyllaStore> {
    let cfg = config(ks, more);
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
            mention: None,
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

/// How `m` was filed, as a rewrite of it is told.
fn filed(m: &Stored) -> Filed {
    Filed {
        id: m.id.clone(),
        created_at: m.created_at,
        topics: m.topics.clone(),
        sentiment: m.sentiment,
        hashtags: m.hashtags.clone(),
    }
}

/// The aggregate recounted from the minute's rows in `topic_mentions`, over its plan's buckets
/// (not its spill buckets: the tests that recount never spill).
async fn recount(store: &ScyllaStore, ks: &str, topic: &str, minute: DateTime<Utc>) -> Agg {
    let width = common::topic_buckets(store.session(), ks, topic, minute)
        .await
        .expect("widths");
    let mut agg = MinuteAggregate::default();
    for bucket in 0..width {
        let mut rows = store
            .session()
            .query_iter(
                format!(
                    "SELECT id, sentiment, hashtags FROM {ks}.topic_mentions WHERE topic = ? AND minute = ? AND bucket = ?"
                ),
                (topic, minute, bucket),
            )
            .await
            .expect("read rows")
            .rows_stream::<(String, Option<f64>, Option<Vec<String>>)>()
            .expect("typed rows");
        while let Some(row) = rows.next().await {
            let (_, sentiment, hashtags) = row.expect("row");
            agg.add(sentiment, hashtags.as_deref().unwrap_or_default());
        }
    }
    Agg::of(&agg)
}

/// How many mentions the store's own rollup counts in `(topic, minute)`, over its buckets.
async fn rolled_up(store: &ScyllaStore, topic: &str, minute: DateTime<Utc>) -> i64 {
    let dirty = scylla::DirtyMinute {
        topic: topic.to_owned(),
        minute,
        bucket: minute,
        shard: 0,
        writetime: 0,
    };
    let read = store.recompute(dirty).await.expect("recompute");
    read.aggregate.mentions
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
    common::drop_keyspace(s[0].session(), &ks).await;
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
    // race:a's minutes are hot: planned at 8 buckets, so rollups must read every bucket.
    for minute in minutes {
        s[0].propose_width(TOPICS[0], minute.timestamp(), 8)
            .await
            .expect("plan");
    }
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
            let width = common::topic_buckets(s[0].session(), &ks, topic, minute)
                .await
                .expect("widths");
            assert_eq!(width, if topic == TOPICS[0] { 8 } else { 1 }, "{topic}");
            assert_eq!(
                stored_stats(&s[0], &ks, topic, minute).await,
                want,
                "{topic} {minute}"
            );
        }
    }
    common::drop_keyspace(s[0].session(), &ks).await;
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
    common::drop_keyspace(s[0].session(), &ks).await;
}

/// A hot topic's minute spread over buckets reads back as if it were one partition: recent
/// mentions newest first (ties by id) page after page with cursors, and a rewrite that drops a
/// topic takes the row back out of whichever bucket it was written to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucketed_minutes_read_newest_first_page_by_page_and_unfile_exactly() {
    if !service_up("Cassandra", CQL) {
        return;
    }
    let ks = unique("test_buckets");
    let s = stores(&ks, 2).await;
    let store = &s[0];
    let minute = minute_of(Utc::now()) - chrono::Duration::minutes(2);
    // race:a is hot that minute: 16 buckets (as a worker would have planned it ahead).
    assert_eq!(
        store
            .propose_width(TOPICS[0], minute.timestamp(), 16)
            .await
            .expect("plan"),
        16
    );
    assert_eq!(
        s[1].propose_width(TOPICS[0], minute.timestamp(), 4)
            .await
            .expect("plan"),
        16,
        "the first proposal holds"
    );
    // 300 mentions, three to a millisecond (ties are ordered by id), in batches as a worker
    // writes them.
    let all: Vec<Stored> = mentions(0, 300, &[minute])
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut m = m.clone();
            m.created_at = minute + chrono::Duration::milliseconds((i / 3) as i64 * 7);
            m
        })
        .collect();
    for chunk in all.chunks(25) {
        store.write(&Arc::from(chunk)).await.expect("write");
    }
    // Redelivered, through another worker's store: the same keys, so nothing doubles.
    for chunk in all.chunks(40) {
        s[1].write(&Arc::from(chunk)).await.expect("rewrite");
    }
    let topic = TOPICS[0];
    let width = common::topic_buckets(store.session(), &ks, topic, minute)
        .await
        .expect("widths");
    assert_eq!(width, 16);
    let mut filled = 0;
    for bucket in 0..width {
        let n: i64 = store
            .session()
            .query_unpaged(
                format!("SELECT COUNT(*) FROM {ks}.topic_mentions WHERE topic = ? AND minute = ? AND bucket = ?"),
                (topic, minute, bucket),
            )
            .await
            .expect("count")
            .into_rows_result()
            .expect("rows")
            .single_row::<(i64,)>()
            .expect("row")
            .0;
        filled += i32::from(n > 0);
    }
    assert_eq!(filled, 16, "every bucket holds some of the minute");
    assert_eq!(
        common::count_topic_rows(store.session(), &ks, topic, minute)
            .await
            .expect("count"),
        300,
        "each row once, redelivery included"
    );

    let (got, want) = every_recent(store, topic, &all, 40).await;
    assert_eq!(got.len(), want.len(), "every mention once");
    assert_eq!(
        got, want,
        "newest first, ties by id, across buckets and pages"
    );

    // Rewrites of 30 mentions that are no longer filed under race:b.
    let old: Vec<Filed> = all[..30].iter().map(filed).collect();
    let new: Vec<Stored> = all[..30]
        .iter()
        .map(|m| Stored {
            topics: vec![TOPICS[0].to_owned()],
            ..m.clone()
        })
        .collect();
    store.refile(&Arc::from(new), &old).await.expect("refile");
    while store.rollup(Duration::ZERO).await.expect("rollup") > 0 {}
    let b = recount(store, &ks, TOPICS[1], minute).await;
    assert_eq!(b.mentions, 270, "the 30 rows left race:b's buckets");
    assert_eq!(stored_stats(store, &ks, TOPICS[1], minute).await, b);
    assert_eq!(recount(store, &ks, TOPICS[0], minute).await.mentions, 300);

    // A rewrite that moves 10 mentions to the next minute (a time stored ahead of collection,
    // taken as collected when reprocessed): their old rows go, under every topic.
    let next = minute + chrono::Duration::minutes(1);
    let old: Vec<Filed> = all[30..40].iter().map(filed).collect();
    let moved: Vec<Stored> = all[30..40]
        .iter()
        .map(|m| Stored {
            created_at: next,
            ..m.clone()
        })
        .collect();
    store.refile(&Arc::from(moved), &old).await.expect("refile");
    while store.rollup(Duration::ZERO).await.expect("rollup") > 0 {}
    for (topic, left) in [(TOPICS[0], 290), (TOPICS[1], 260)] {
        let a = recount(store, &ks, topic, minute).await;
        assert_eq!(
            a.mentions, left,
            "{topic}: the moved rows left the old minute"
        );
        assert_eq!(stored_stats(store, &ks, topic, minute).await, a);
        assert_eq!(
            recount(store, &ks, topic, next).await.mentions,
            10,
            "{topic}"
        );
    }
    common::drop_keyspace(s[0].session(), &ks).await;
}

/// `topic`'s recent mentions read page after page (`page` a page, each from the cursor the
/// last one ended at), as (time, id), beside what they should be: every mention of `all`,
/// newest first, ties by id.
async fn every_recent(
    store: &ScyllaStore,
    topic: &str,
    all: &[Stored],
    page: usize,
) -> (Vec<(DateTime<Utc>, String)>, Vec<(DateTime<Utc>, String)>) {
    use pipeline::traits::Before;
    let mut want: Vec<(DateTime<Utc>, String)> =
        all.iter().map(|m| (m.created_at, m.id.clone())).collect();
    want.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    // The rows' times and ids by record (the records keep the synthetic source's own; a
    // worker's agree).
    let row_of: HashMap<&[u8], (DateTime<Utc>, String)> = all
        .iter()
        .map(|m| (m.record.as_slice(), (m.created_at, m.id.clone())))
        .collect();
    let mut got = Vec::new();
    let mut before: Option<Before> = None;
    loop {
        let records = store
            .recent(topic, page, before.as_ref())
            .await
            .expect("recent");
        if records.is_empty() {
            break;
        }
        got.extend(records.iter().map(|r| row_of[r.as_slice()].clone()));
        let (at, id) = got.last().cloned().expect("a page");
        before = Some(Before {
            created_ms: at.timestamp_millis(),
            id,
        });
    }
    (got, want)
}

/// A topic's pages reach back through the retention, not a fixed two hours: past its newest
/// minutes, a page reads only the minutes the rollup counted mentions in, so a sparse topic pages
/// through mentions minutes, hours and days old, newest first, each once; a page never looks
/// past the retention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_a_sparse_topic_reach_back_through_the_retention() {
    if !service_up("Cassandra", CQL) {
        return;
    }
    let ks = unique("test_sparse_pages");
    let store = stores(&ks, 1).await.remove(0);
    let now = minute_of(Utc::now());
    let ago = |m: i64| now - chrono::Duration::minutes(m);
    // Three mentions in each of five minutes: 3 minutes, 5 hours, 26 hours, 3 and 9 days ago.
    let minutes = [ago(3), ago(300), ago(26 * 60), ago(3 * 1440), ago(9 * 1440)];
    let all = mentions(0, 15, &minutes);
    store.write(&all).await.expect("write");
    store.rollup(Duration::ZERO).await.expect("rollup");
    let topic = TOPICS[0];
    let (got, want) = every_recent(&store, topic, &all, 2).await;
    assert_eq!(got, want, "pages of two");
    let (got, want) = every_recent(&store, topic, &all, 1000).await;
    assert_eq!(got, want, "one page");
    // Kept for five days: the 9-day-old minute is past it and not read.
    let kept = store.with_retention(Duration::from_secs(5 * 86_400));
    let (got, want) = every_recent(&kept, topic, &all, 4).await;
    assert_eq!(got, want[..12], "all but the oldest minute's three");
    // A cursor from before the retention: an empty page (the store does not read for it).
    let old = pipeline::traits::Before {
        created_ms: (now - chrono::Duration::days(6)).timestamp_millis(),
        id: String::new(),
    };
    assert!(
        kept.recent(topic, 10, Some(&old))
            .await
            .expect("recent")
            .is_empty()
    );
    common::drop_keyspace(kept.session(), &ks).await;
}

/// Every id of `(topic, minute)`'s rows in the plan buckets and spill buckets of a minute
/// planned at `width`, as many times as they are stored.
async fn ids_stored(
    store: &ScyllaStore,
    ks: &str,
    topic: &str,
    minute: DateTime<Utc>,
    width: u32,
) -> Vec<String> {
    let mut out = Vec::new();
    for bucket in (0..width as i32).chain(scylla::buckets::spill_buckets(width)) {
        let rows = store
            .session()
            .query_unpaged(
                format!("SELECT id FROM {ks}.topic_mentions WHERE topic = ? AND minute = ? AND bucket = ?"),
                (topic, minute, bucket),
            )
            .await
            .expect("read ids")
            .into_rows_result()
            .expect("rows");
        for row in rows.rows::<(Option<String>,)>().expect("typed rows") {
            out.extend(row.expect("row").0);
        }
    }
    out
}

/// A minute no plan foresaw spills: the writer that projects a topic's minute above twice its
/// plan marks the minute and writes its later rows to the spill buckets, so the plan bucket
/// stops growing. A worker that had not spilled (a restart) writes redelivered rows into the
/// plan bucket again; the rollup, recent reads and a rewrite that drops a topic still see
/// each mention once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minutes_no_plan_foresaw_spill_and_read_back_once() {
    if !service_up("Cassandra", CQL) {
        return;
    }
    spills_and_reads_back_once(1, 800).await;
}

/// The same for a minute planned at four buckets that takes far more than four buckets' worth:
/// each plan bucket overflows into its own sixteen of the 64 spill buckets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_minutes_that_outgrow_their_plan_spill_and_read_back_once() {
    if !service_up("Cassandra", CQL) {
        return;
    }
    spills_and_reads_back_once(4, 2_000).await;
}

/// `n` mentions of race:a and race:b written into a minute planned at `width` by a writer whose
/// buckets are of 8 KiB, which spills; the first half written again by a writer that did not.
async fn spills_and_reads_back_once(width: u32, n: usize) {
    let ks = unique("test_spill");
    let mut s = stores(&ks, 2).await;
    // A worker started since, which has seen none of this traffic (the default target).
    let restarted = s.pop().expect("store");
    // Buckets of 8 KiB: n rows of ~100 B written in seconds project far above twice `width` of
    // them (the projection scales what was counted to the whole minute).
    let store = s.pop().expect("store").with_partition_target(8 << 10);
    let minute = minute_of(Utc::now()) - chrono::Duration::minutes(2);
    let (topic, other) = (TOPICS[0], TOPICS[1]);
    for t in TOPICS {
        let planned = store.propose_width(t, minute.timestamp(), width).await;
        assert_eq!(planned.expect("plan"), width);
    }
    let half = n / 2;
    let all: Vec<Stored> = mentions(0, n as u64, &[minute]).to_vec();
    for chunk in all.chunks(50) {
        store.write(&Arc::from(chunk)).await.expect("write");
    }
    let marked: Option<i32> = store
        .session()
        .query_unpaged(
            format!("SELECT spilled FROM {ks}.topic_mentions WHERE topic = ? AND minute = ? AND bucket = 0 LIMIT 1"),
            (topic, minute),
        )
        .await
        .expect("marker")
        .into_rows_result()
        .expect("rows")
        .single_row::<(Option<i32>,)>()
        .expect("bucket 0")
        .0;
    assert_eq!(marked, Some(64), "marked spilled, into 64 buckets");
    let planned = common::count_topic_rows(store.session(), &ks, topic, minute)
        .await
        .expect("count");
    // The plan buckets hold the first rows written, until the spill: twice the target a bucket
    // counted (scaled up to the whole minute, so at most that), plus the row that crossed it.
    let row = |m: &Stored| scylla::buckets::row_bytes(topic, &m.id, &m.hashtags);
    let bytes: u64 = all[..planned as usize].iter().map(row).sum();
    let largest = all.iter().map(row).max().unwrap_or(0);
    assert!(
        planned > 0 && bytes <= 2 * (8 << 10) * u64::from(width) + largest,
        "{planned} rows ({bytes} B) in the plan buckets: they stopped growing at the spill"
    );
    assert!(
        (planned as usize) < half - 100,
        "room for the rewrite below"
    );
    let stored = ids_stored(&store, &ks, topic, minute, width).await;
    assert_eq!(
        stored.len(),
        n,
        "each row once, in its plan bucket or spilled"
    );

    // Redelivered through the worker that has not spilled: half the rows into the plan
    // buckets, most of them spilled before.
    for chunk in all[..half].chunks(50) {
        restarted.write(&Arc::from(chunk)).await.expect("rewrite");
    }
    let stored = ids_stored(&store, &ks, topic, minute, width).await;
    let once: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(once.len(), n);
    // The plan buckets hold the first rows written, until the spill: the rest of the half are
    // now stored twice, the case readers must handle.
    let twice = (stored.len() - once.len()) as i64;
    assert_eq!(twice, (half as i64) - planned, "rows stored twice");

    // The rollup counts each mention once, exactly as the mentions themselves add up.
    while store.rollup(Duration::ZERO).await.expect("rollup") > 0 {}
    let expected = |of: &[&Stored]| {
        let mut agg = MinuteAggregate::default();
        for m in of {
            agg.add(m.sentiment, &m.hashtags);
        }
        Agg::of(&agg)
    };
    let every: Vec<&Stored> = all.iter().collect();
    assert_eq!(
        stored_stats(&store, &ks, topic, minute).await,
        expected(&every)
    );
    assert_eq!(rolled_up(&restarted, topic, minute).await, n as i64);

    // Recent mentions, page after page: every one once, newest first, ties by id.
    let (got, want) = every_recent(&store, topic, &all, 70).await;
    assert_eq!(got, want, "each mention once across plan and spill buckets");

    // Rewrites of 100 mentions stored twice that are no longer filed under race:b: both rows go.
    let dropped = &all[half - 100..half];
    let old: Vec<Filed> = dropped.iter().map(filed).collect();
    let new: Vec<Stored> = dropped
        .iter()
        .map(|m| Stored {
            topics: vec![topic.to_owned()],
            ..m.clone()
        })
        .collect();
    store.refile(&Arc::from(new), &old).await.expect("refile");
    let left = ids_stored(&store, &ks, other, minute, width).await;
    let gone: BTreeSet<&String> = dropped.iter().map(|m| &m.id).collect();
    assert!(
        left.iter().all(|id| !gone.contains(id)),
        "no row of a dropped mention is left, in either bucket"
    );
    while store.rollup(Duration::ZERO).await.expect("rollup") > 0 {}
    let kept: Vec<&Stored> = all.iter().filter(|m| !gone.contains(&m.id)).collect();
    assert_eq!(
        stored_stats(&store, &ks, other, minute).await,
        expected(&kept)
    );
    assert_eq!(
        stored_stats(&store, &ks, topic, minute).await,
        expected(&every)
    );
    common::drop_keyspace(store.session(), &ks).await;
}

/// Writers plan: a topic seen above the target is proposed for a minute ahead, at the
/// width that brings a minute of it under the target; a row dated in a minute whose plan is not
/// final yet fixes its topics' widths first (a cold topic's at 1, a hot one's at no less than it
/// needs now), so a later proposal cannot move rows written before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_topics_are_planned_ahead_and_early_minutes_fixed_before_writing() {
    if !service_up("Cassandra", CQL) {
        return;
    }
    let ks = unique("test_plans");
    let mut s = stores(&ks, 1).await;
    // Buckets of 8 KiB: 600 rows (~60 KB) of race:a in a few seconds project to more than that
    // a minute.
    let store = s.pop().expect("store").with_partition_target(8 << 10);
    let now = Utc::now();
    let batch = mentions(0, 600, &[minute_of(now)]);
    store.write(&batch).await.expect("write");
    let ahead = minute_of(Utc::now()) + chrono::Duration::minutes(2);
    let planned = |topic: &'static str, minute| {
        let store = &store;
        let ks = &ks;
        async move {
            common::topic_buckets(store.session(), ks, topic, minute)
                .await
                .expect("plan")
        }
    };
    // The next minute or the one after (tolerating a minute boundary after the write).
    let mut width = 1;
    for back in 0..3 {
        width = width.max(planned(TOPICS[0], ahead - chrono::Duration::minutes(back)).await);
    }
    assert!(width >= 8, "race:a planned at {width} buckets ahead");

    // Until a minute's plan is final, proposals only widen it.
    let open = (minute_of(Utc::now()) + chrono::Duration::minutes(20)).timestamp();
    let grow = "hashtag:growing";
    for (proposed, holds) in [(4, 4), (16, 16), (8, 16)] {
        assert_eq!(
            store
                .propose_width(grow, open, proposed)
                .await
                .expect("propose"),
            holds,
            "proposed {proposed}"
        );
    }
    // Mention `n` dated `at`, filed under `topic` only.
    let one = |n, topic: &str, at| -> Arc<[Stored]> {
        mentions(n, 1, &[at])
            .iter()
            .map(|m| Stored {
                topics: vec![topic.to_owned()],
                ..m.clone()
            })
            .collect()
    };
    // A mention dated ten minutes ahead: its minute's plan is not final, so writing fixes it.
    let later = minute_of(Utc::now()) + chrono::Duration::minutes(10);
    let cold = "hashtag:rare-cold-topic";
    store.write(&one(1_000, cold, later)).await.expect("write");
    assert_eq!(
        store
            .propose_width(cold, later.timestamp(), 64)
            .await
            .expect("propose"),
        1,
        "fixed at 1 when its first row was written"
    );
    // A second row for that minute takes the frozen width (kept by the process, no second
    // transaction), whatever was proposed since.
    store.write(&one(1_001, cold, later)).await.expect("write");
    assert_eq!(
        common::count_topic_rows(store.session(), &ks, cold, later)
            .await
            .expect("count"),
        2
    );
    assert_eq!(
        common::topic_buckets(store.session(), &ks, cold, later)
            .await
            .expect("buckets"),
        1,
        "the minute still has one bucket"
    );

    // A hot topic's row dated ahead freezes its minute no narrower than the topic needs now.
    // Frozen at 1, one early post would put a whole minute of race:a into one partition.
    let hot_later = minute_of(Utc::now()) + chrono::Duration::minutes(12);
    store
        .write(&one(2_000, TOPICS[0], hot_later))
        .await
        .expect("write");
    let frozen = planned(TOPICS[0], hot_later).await;
    assert!(frozen >= 8, "race:a frozen at {frozen} buckets, not 1");
    assert_eq!(
        store
            .propose_width(TOPICS[0], hot_later.timestamp(), 1024)
            .await
            .expect("propose") as i32,
        frozen,
        "frozen: a later proposal changes nothing"
    );
    // A narrower plan proposed before is widened as it is frozen.
    let proposed_narrow = hot_later + chrono::Duration::minutes(2);
    store
        .propose_width(TOPICS[0], proposed_narrow.timestamp(), 2)
        .await
        .expect("propose");
    store
        .write(&one(2_001, TOPICS[0], proposed_narrow))
        .await
        .expect("write");
    let widened = planned(TOPICS[0], proposed_narrow).await;
    assert!(widened >= 8, "race:a frozen at {widened} buckets, not 2");

    // A topic gone quiet (its own collector down while the workers keep up with the rest)
    // keeps its width for what that collector replays into its minutes later: a worker marking
    // a minute half an hour on, race:a silent since, first proposes it at the width it had.
    let quiet =
        minute_of(Utc::now()) + chrono::Duration::minutes(30) + chrono::Duration::seconds(5);
    let (held, never) = widths_when_marked(&store, &ks, quiet, [TOPICS[0], cold]).await;
    assert!(
        held >= width,
        "race:a held at {held} buckets, planned at {width} before"
    );
    assert_eq!(never, 1, "a topic never hot holds nothing");

    // A worker that starts now (a restart, a roll of every worker) has seen none of race:a's
    // traffic, and holds it all the same: the table records what the workers before it saw.
    let restarted = stores(&ks, 1).await.pop().expect("store");
    let later = quiet + chrono::Duration::minutes(3);
    let (held, never) = widths_when_marked(&restarted, &ks, later, [TOPICS[0], cold]).await;
    assert!(
        held >= width,
        "race:a held at {held} buckets by a worker started since, planned at {width}"
    );
    assert_eq!(never, 1);
    common::drop_keyspace(store.session(), &ks).await;
}

/// Has `store`, watching for five minutes at `now`, mark the minute it plans, and answers the
/// widths `topics` are planned at in it.
async fn widths_when_marked(
    store: &ScyllaStore,
    ks: &str,
    now: DateTime<Utc>,
    topics: [&str; 2],
) -> (i32, i32) {
    let marked = store
        .mark_planned(now - chrono::Duration::minutes(5), now)
        .await
        .expect("mark")
        .expect("a minute marked");
    let marked = DateTime::from_timestamp(marked, 0).expect("minute");
    let width = |topic| common::topic_buckets(store.session(), ks, topic, marked);
    let widths = (width(topics[0]).await, width(topics[1]).await);
    (widths.0.expect("plan"), widths.1.expect("plan"))
}

/// Minutes no worker was running to plan (an outage of every worker or of the store) carry the
/// plan of the last minute a worker marked, so the backlog written into them afterwards is
/// spread like the traffic before; a marked minute keeps its own plan. The history is written
/// into `topic_widths` directly, hours back, where every plan is final.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minutes_nobody_planned_carry_the_last_marked_plan() {
    if !service_up("Cassandra", CQL) {
        return;
    }
    let ks = unique("test_carry");
    let store = stores(&ks, 1).await.pop().expect("store");
    let session = store.session();
    let hour = minute_of(Utc::now() - chrono::Duration::hours(3));
    let hour = hour - chrono::Duration::seconds(hour.timestamp().rem_euclid(3600));
    let at = |minutes: i64| hour + chrono::Duration::minutes(minutes);
    let insert = format!(
        "INSERT INTO {ks}.topic_widths (hour, minute, topic, width, fixed) VALUES (?, ?, ?, ?, ?)"
    );
    let (a, b) = (TOPICS[0], TOPICS[1]);
    // Two days before, the last mark before an outage of more than a day.
    let before = -48 * 60 + 5;
    // (minute, topic, width, frozen); topic "" marks the minute planned.
    let history: [(i64, &str, i32, bool); 10] = [
        (before, "", 1, false),
        (before, a, 32, false),
        (10, "", 1, false),
        (10, a, 8, false),
        (12, a, 2, false), // a young worker's narrower proposal: the carried 8 holds
        (12, b, 2, true),  // frozen by a row dated ahead: holds as it is
        (13, "", 1, false),
        (59, "", 1, false),
        (59, a, 16, false),
        (59, b, 4, false),
    ];
    for (m, topic, width, frozen) in history {
        let part = at(m) - chrono::Duration::seconds(at(m).timestamp().rem_euclid(3600));
        session
            .query_unpaged(insert.as_str(), (part, at(m), topic, width, frozen))
            .await
            .expect("history");
    }
    // Minute → (race:a's width, race:b's width) the rows must be spread over.
    let expected: [(i64, (i32, i32)); 7] = [
        (-20 * 60, (32, 1)), // 28 hours after the last mark: carried from it
        (10, (8, 1)),        // marked: its own plan
        (11, (8, 1)),        // nobody planned it: carried from 10
        (12, (8, 2)),        // carried, frozen race:b as frozen
        (13, (1, 1)),        // marked, race:a not hot any more
        (14, (1, 1)),        // carried from 13
        (65, (16, 4)),       // the next hour: carried from 59
    ];
    let minutes: Vec<DateTime<Utc>> = expected.iter().map(|(m, _)| at(*m)).collect();
    let per_minute = 240u64;
    let batch = mentions(50_000, per_minute * minutes.len() as u64, &minutes);
    store.write(&batch).await.expect("write");
    for (m, (wa, wb)) in expected {
        for (topic, want) in [(a, wa), (b, wb)] {
            // Where the rows are, bucket by bucket, read with the driver alone.
            let q = format!(
                "SELECT COUNT(*) FROM {ks}.topic_mentions WHERE topic = ? AND minute = ? AND bucket = ?"
            );
            let mut used = Vec::new();
            let mut total = 0;
            for bucket in 0..32 {
                let n = session
                    .query_unpaged(q.as_str(), (topic, at(m), bucket))
                    .await
                    .expect("count")
                    .into_rows_result()
                    .expect("rows")
                    .single_row::<(i64,)>()
                    .expect("count")
                    .0;
                if n > 0 {
                    used.push(bucket);
                }
                total += n;
            }
            assert_eq!(total, per_minute as i64, "{topic} at minute {m}");
            assert_eq!(
                used,
                (0..want).collect::<Vec<_>>(),
                "{topic} at minute {m} spread over {want} buckets"
            );
            // The independent reading of the plan agrees, and so does the store's reader.
            assert_eq!(
                common::topic_buckets(session, &ks, topic, at(m))
                    .await
                    .expect("buckets"),
                want,
                "{topic} at minute {m}"
            );
            assert_eq!(
                common::count_topic_rows(session, &ks, topic, at(m))
                    .await
                    .expect("count"),
                per_minute as i64
            );
        }
    }
    assert_eq!(
        rolled_up(&store, a, at(65)).await,
        per_minute as i64,
        "the rollup reads them all"
    );

    // A worker marks the minute it plans once it has watched for a minute, and once, while
    // 30 s or more remain before that minute. (Five seconds into the next minute: the mark is
    // for the one after, 55 s ahead.)
    let now = minute_of(Utc::now()) + chrono::Duration::seconds(65);
    let late = now + chrono::Duration::seconds(30);
    let watched = now - chrono::Duration::seconds(90);
    assert_eq!(
        store.mark_planned(watched, late).await.expect("mark"),
        None,
        "25 s before the minute after: too late to mark it"
    );
    let young = store
        .mark_planned(now - chrono::Duration::seconds(30), now)
        .await
        .expect("mark");
    assert_eq!(young, None, "watched for 30 s: no mark");
    let marked = store.mark_planned(watched, now).await.expect("mark");
    let minute = scylla::buckets::proposal_minute(now);
    assert_eq!(marked, Some(minute));
    assert_eq!(store.mark_planned(watched, now).await.expect("mark"), None);
    let row = session
        .query_unpaged(
            format!(
                "SELECT width FROM {ks}.topic_widths WHERE hour = ? AND minute = ? AND topic = ''"
            ),
            (
                DateTime::from_timestamp(scylla::buckets::hour_of(minute), 0).expect("hour"),
                DateTime::from_timestamp(minute, 0).expect("minute"),
            ),
        )
        .await
        .expect("read the mark")
        .into_rows_result()
        .expect("rows")
        .maybe_first_row::<(Option<i32>,)>()
        .expect("row");
    assert!(row.is_some(), "the mark is stored");
    common::drop_keyspace(store.session(), &ks).await;
}

/// A new keyspace's first minutes, which no worker was there to plan, carry the plan `schema
/// apply` marks for the expected rate: every source topic spread from the first row on. Applied
/// again to a keyspace that has plans, it marks nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_keyspace_plans_its_first_minutes_for_the_expected_rate() {
    if !service_up("Cassandra", CQL) {
        return;
    }
    // Unquoted, a keyspace's name is folded to lower case: the schema's own lookups must fold it.
    let ks = unique("test_First");
    let rate = [("BACKCHANNEL__SCYLLA__EXPECTED_RATE", "1000000")];
    let store = stores_with(&ks, 1, &rate).await.pop().expect("store");
    let session = store.session();
    let applied = minute_of(Utc::now());
    // 1,000,000 mentions/s of 128-byte rows is 7.7 GB a minute: 256 buckets of 32 MiB.
    let wide = 256;
    let plan = |minute: DateTime<Utc>| {
        let q = format!("SELECT topic, width FROM {ks}.topic_widths WHERE hour = ? AND minute = ?");
        let hour = minute - chrono::Duration::seconds(minute.timestamp().rem_euclid(3600));
        async move {
            session
                .query_unpaged(q, (hour, minute))
                .await
                .expect("plan")
                .into_rows_result()
                .expect("rows")
                .rows::<(String, Option<i32>)>()
                .expect("typed")
                .map(|r| r.expect("row"))
                .collect::<BTreeSet<_>>()
        }
    };
    let first = plan(applied - chrono::Duration::minutes(1)).await;
    let expected: BTreeSet<(String, Option<i32>)> = model::Source::ALL
        .iter()
        .map(|s| (format!("source:{}", s.as_str()), Some(wide)))
        .chain([(String::new(), Some(1))])
        .collect();
    assert_eq!(
        first, expected,
        "the minute before the schema's: marked, sources wide"
    );

    // Rows dated now land in an unmarked minute: spread over the carried width.
    let now = minute_of(Utc::now());
    let n = 3_000u64;
    let batch: Arc<[Stored]> = mentions(70_000, n, &[now])
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.topics = vec!["source:synthetic".to_owned(), TOPICS[0].to_owned()];
            s
        })
        .collect();
    store.write(&batch).await.expect("write");
    let width = |topic| common::topic_buckets(session, &ks, topic, now);
    assert_eq!(width("source:synthetic").await.expect("buckets"), wide);
    assert_eq!(width(TOPICS[0]).await.expect("buckets"), 1, "not a source");
    // Every bucket any width could name, read with the driver alone.
    let q = format!(
        "SELECT bucket FROM {ks}.topic_mentions WHERE topic = ? AND minute = ? AND bucket IN ?"
    );
    let all: Vec<i32> = (0..scylla::buckets::MAX_WIDTH as i32).collect();
    let mut used: HashMap<i32, i64> = HashMap::new();
    for row in session
        .query_unpaged(q, ("source:synthetic", now, all))
        .await
        .expect("count")
        .into_rows_result()
        .expect("rows")
        .rows::<(i32,)>()
        .expect("typed")
    {
        *used.entry(row.expect("row").0).or_default() += 1;
    }
    assert_eq!(used.values().sum::<i64>(), n as i64);
    assert!(used.keys().all(|b| *b < wide), "{used:?}");
    // 3,000 rows over 256 buckets leave about none empty; one partition would hold them all.
    assert!(used.len() > 240, "spread over {} buckets", used.len());
    assert_eq!(
        rolled_up(&store, "source:synthetic", now).await,
        n as i64,
        "the rollup reads them all"
    );

    // A keyspace with plans is not new: applying the schema again marks no minute.
    let gone = format!("DELETE FROM {ks}.topic_widths WHERE hour = ? AND minute = ?");
    let before = applied - chrono::Duration::minutes(1);
    let hour = before - chrono::Duration::seconds(before.timestamp().rem_euclid(3600));
    session
        .query_unpaged(gone, (hour, before))
        .await
        .expect("delete");
    let params = scylla::SchemaParams::from_config(&config(&ks, &rate).scylla).expect("params");
    scylla::apply_schema(session, &params)
        .await
        .expect("schema");
    assert_eq!(plan(before).await, BTreeSet::new(), "nothing marked again");
    assert_eq!(
        plan(minute_of(Utc::now()) - chrono::Duration::minutes(1)).await,
        BTreeSet::new()
    );
    common::drop_keyspace(session, &ks).await;
}
