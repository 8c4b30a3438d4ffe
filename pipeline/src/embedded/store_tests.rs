use super::*;
use chrono::{TimeZone, Utc};

use crate::aggregate::MinuteAggregate;

fn stored(id: &str, secs: i64, topic: &str) -> Stored {
    stored_sized(id, secs, topic, 0)
}

fn stored_sized(id: &str, secs: i64, topic: &str, extra: usize) -> Stored {
    // Incompressible filler, different in every mention (mentions are compressed together), so
    // sizes on disk are what the test thinks they are.
    let mut x = id.bytes().fold(0x9e37_79b9_7f4a_7c15_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let filler: Vec<u8> = (0..extra)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_be_bytes()[0]
        })
        .collect();
    let mut record = format!("{{\"id\":\"{id}\"}}").into_bytes();
    record.extend_from_slice(&filler);
    Stored {
        id: id.into(),
        source: model::Source::Synthetic,
        created_at: Utc.timestamp_opt(secs, 0).single().expect("valid time"),
        collected_at: Utc.timestamp_opt(secs, 0).single().expect("valid time"),
        edited: false,
        sentiment: None,
        hashtags: Vec::new(),
        fields_version: "test",
        topics: vec![topic.into(), "source:synthetic".into()],
        record,
        json: None,
    }
}

#[tokio::test]
async fn upserts_are_idempotent_and_recent_is_newest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path()).expect("open");
    store
        .write(&Arc::from([
            stored("a", 10, "t"),
            stored("b", 30, "t"),
            stored("c", 20, "u"),
        ]))
        .await
        .expect("write");
    // A redelivery moves the mention to a segment of its own and rewrites its old one without
    // it, so redelivering it again and again stores it once.
    store
        .write(&Arc::from([stored("a", 10, "t")]))
        .await
        .expect("rewrite");
    let live = store.live_bytes().expect("live");
    for _ in 0..5 {
        store
            .write(&Arc::from([stored("a", 10, "t")]))
            .await
            .expect("rewrite");
    }
    assert_eq!(store.count().expect("count"), 3);
    assert_eq!(
        store.live_bytes().expect("live"),
        live,
        "a rewrite adds nothing"
    );
    assert_eq!(live, recounted(&store), "counted as the tables hold it");
    assert_eq!(
        store.get("b").await.expect("get").as_deref(),
        Some(&b"{\"id\":\"b\"}"[..])
    );
    assert_eq!(store.get("zz").await.expect("get"), None);
    let recent = store.recent("t", 10, None).await.expect("recent");
    assert_eq!(
        recent,
        vec![b"{\"id\":\"b\"}".to_vec(), b"{\"id\":\"a\"}".to_vec()]
    );
    // A rewrite with another creation time moves the mention in its topics' order.
    store
        .write(&Arc::from([stored("a", 40, "t")]))
        .await
        .expect("rewrite");
    let recent = store.recent("t", 10, None).await.expect("recent");
    assert_eq!(recent[0], b"{\"id\":\"a\"}".to_vec());
    assert_eq!(recent.len(), 2, "no stale index row for the old time");

    store
        .delete(&["b".into(), "nope".into()])
        .await
        .expect("delete");
    assert_eq!(store.count().expect("count"), 2);
    assert_eq!(store.recent("t", 10, None).await.expect("recent").len(), 1);
    assert_eq!(
        store.get("c").await.expect("get").as_deref(),
        Some(&b"{\"id\":\"c\"}"[..]),
        "the rest of a rewritten segment stays readable"
    );
    // Twice in one batch: the later one is kept.
    store
        .write(&Arc::from([stored("d", 50, "t"), stored("d", 5, "t")]))
        .await
        .expect("write");
    let recent = store.recent("t", 10, None).await.expect("recent");
    assert_eq!(recent.len(), 2);
    assert_eq!(
        recent[1],
        b"{\"id\":\"d\"}".to_vec(),
        "filed at its later time"
    );
    assert_eq!(store.count().expect("count"), 3);
    drop(store);
    // Durable across reopen.
    let store = RedbStore::open(dir.path()).expect("reopen");
    assert_eq!(store.count().expect("count"), 3);
}

/// Every id a scan gives, `limit` at a time, from the start; `meanwhile` runs once, after the
/// second page.
/// Mentions arrive out of creation order, from every source, and the topic index keeps each
/// second's rows in write order: `recent` still gives a topic's mentions newest first by
/// creation time (ties by id, descending), page after page, whatever batches they came in,
/// and a rewrite with another creation time moves its mention.
#[tokio::test]
async fn recent_is_newest_first_by_creation_whatever_order_they_were_written_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path()).expect("open");
    // 60 mentions over ~4 s, several created in the same millisecond, some before the epoch.
    let at = |i: i64| -1_500 + (i * 37) % 23 * 170;
    let mentions: Vec<Stored> = (0..60)
        .map(|i| {
            let mut s = stored(&format!("m{i:02}"), 0, "t");
            s.created_at = Utc.timestamp_millis_opt(at(i)).single().expect("time");
            s
        })
        .collect();
    // Written in a scrambled order, seven to a batch, each batch a write of its own.
    let order: Vec<usize> = (0..60).map(|i| i * 17 % 60).collect();
    for batch in order.chunks(7) {
        let batch: Vec<Stored> = batch.iter().map(|&i| mentions[i].clone()).collect();
        store.write(&Arc::from(batch)).await.expect("write");
    }
    let newest_first = |list: &mut Vec<(i64, String)>| list.sort_by(|a, b| b.cmp(a));
    let mut expected: Vec<(i64, String)> = (0..60).map(|i| (at(i), format!("m{i:02}"))).collect();
    newest_first(&mut expected);
    let id_of = |r: &[u8]| {
        let v: serde_json::Value = serde_json::from_slice(r).expect("record");
        v["id"].as_str().expect("id").to_owned()
    };
    // Every page of `topic`, each after the last mention of the one before; `known` gives the
    // creation times the cursors need.
    let pages = |store: RedbStore, topic: &'static str, size: usize, known: Vec<(i64, String)>| async move {
        let mut got: Vec<String> = Vec::new();
        let mut before: Option<Before> = None;
        loop {
            let page = store
                .recent(topic, size, before.as_ref())
                .await
                .expect("recent");
            got.extend(page.iter().map(|r| id_of(r)));
            let Some(last) = got.last().filter(|_| page.len() == size) else {
                return got;
            };
            let (created_ms, _) = known.iter().find(|(_, id)| id == last).expect("known");
            before = Some(Before {
                created_ms: *created_ms,
                id: last.clone(),
            });
        }
    };
    let ids = |list: &[(i64, String)]| list.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>();
    for size in [1, 8, 60, 100] {
        assert_eq!(
            pages(store.clone(), "t", size, expected.clone()).await,
            ids(&expected),
            "pages of {size}"
        );
    }
    // Another topic of every mention holds them all too.
    assert_eq!(
        store
            .recent("source:synthetic", 100, None)
            .await
            .expect("recent")
            .len(),
        60
    );
    // A rewrite that moves m00 to the newest millisecond, and a redelivery of m01 as it was.
    let mut moved = mentions[0].clone();
    moved.created_at = Utc.timestamp_millis_opt(2_500).single().expect("time");
    store
        .write(&Arc::from([moved, mentions[1].clone()]))
        .await
        .expect("rewrite");
    expected.retain(|(_, id)| id != "m00");
    expected.insert(0, (2_500, "m00".to_owned()));
    let got = store.recent("t", 100, None).await.expect("recent");
    assert_eq!(
        got.iter().map(|r| id_of(r)).collect::<Vec<_>>(),
        ids(&expected)
    );
    // A busy second: 150 mentions created in it, in a scrambled order; a short page keeps only
    // the newest it needs as it reads them, and all 30 pages still give them in order.
    let busy: Vec<Stored> = (0..150)
        .map(|i| {
            let mut s = stored(&format!("b{i:03}"), 0, "busy");
            s.created_at = Utc
                .timestamp_millis_opt(10_000 + i * 61 % 150)
                .single()
                .expect("time");
            s
        })
        .collect();
    store.write(&Arc::from(busy)).await.expect("write");
    let mut want: Vec<(i64, String)> = (0..150)
        .map(|i| (10_000 + i * 61 % 150, format!("b{i:03}")))
        .collect();
    newest_first(&mut want);
    assert_eq!(
        pages(store.clone(), "busy", 5, want.clone()).await,
        ids(&want)
    );
}

async fn scan_all(
    store: &RedbStore,
    limit: usize,
    meanwhile: impl std::future::Future<Output = ()>,
) -> Vec<String> {
    let (mut ids, mut after, mut pages) = (Vec::new(), None, 0);
    let mut meanwhile = Some(meanwhile);
    loop {
        let page = store.scan(after.as_deref(), limit).await.expect("scan");
        assert!(page.rows.len() <= limit);
        assert!(page.passed.is_some_and(|p| (0.0..=1.0).contains(&p)));
        ids.extend(page.rows.into_iter().map(|(id, _)| id));
        pages += 1;
        if pages == 2
            && let Some(f) = meanwhile.take()
        {
            f.await;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn a_scan_gives_every_mention_once_and_not_those_written_after_it_began() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path()).expect("open");
    // Three writes, the second large enough to fill several segments.
    let batch = |range: std::ops::Range<i64>, extra: usize| -> Arc<[Stored]> {
        range
            .map(|n| stored_sized(&format!("m{n:04}"), n, "t", extra))
            .collect()
    };
    store.write(&batch(0..10, 0)).await.expect("write");
    store.write(&batch(10..300, 1_000)).await.expect("write");
    store.write(&batch(300..310, 0)).await.expect("write");
    let everything: Vec<String> = (0..310).map(|n| format!("m{n:04}")).collect();
    assert_eq!(scan_all(&store, 7, async {}).await, everything);
    assert_eq!(scan_all(&store, 1_000, async {}).await, everything);
    // Newest first over every segment, more of them than a read keeps decompressed.
    let recent = store.recent("t", 1_000, None).await.expect("recent");
    let ids: Vec<String> = recent
        .iter()
        .map(|r| String::from_utf8_lossy(&r[7..12]).into_owned())
        .collect();
    let newest_first: Vec<String> = everything.iter().rev().cloned().collect();
    assert_eq!(ids, newest_first);

    // Meanwhile: new mentions (not met), a deletion ahead of the scan (not met), and a
    // redelivery of one already passed (moved to a new segment: not met again).
    let meanwhile = async {
        store.write(&batch(400..450, 0)).await.expect("write");
        store.write(&batch(3..4, 0)).await.expect("redeliver");
        store.delete(&["m0200".into()]).await.expect("delete");
    };
    let ids = scan_all(&store, 25, meanwhile).await;
    let expected: Vec<String> = everything.into_iter().filter(|id| id != "m0200").collect();
    assert_eq!(ids, expected);

    let e = store
        .scan(Some("m0004"), 10)
        .await
        .expect_err("an id is not a position");
    assert!(e.to_string().contains("not one this store wrote"), "{e}");
}

#[tokio::test]
async fn schemas_are_kept_by_fingerprint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path()).expect("open");
    assert_eq!(store.schema(7).await.expect("read"), None);
    store.put_schema(7, "{\"a\":1}").await.expect("put");
    store.put_schema(7, "{\"a\":1}").await.expect("idempotent");
    assert_eq!(
        store.schema(7).await.expect("read").as_deref(),
        Some("{\"a\":1}")
    );
}

/// A store whose mentions expire 300 ms after they are written.
fn expiring(dir: &Path) -> RedbStore {
    let options = StoreOptions {
        retention: Some(Duration::from_millis(300)),
        ..StoreOptions::default()
    };
    RedbStore::open_with(dir, options).expect("open")
}

#[tokio::test]
async fn retention_deletes_expired_mentions_and_their_index_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = expiring(dir.path());
    store
        .write(&Arc::from([stored("old1", 1, "t"), stored("old2", 2, "t")]))
        .await
        .expect("write");
    assert_eq!(store.sweep().expect("sweep"), 0, "nothing expired yet");
    tokio::time::sleep(Duration::from_millis(400)).await;
    store
        .write(&Arc::from([stored("new", 3, "t")]))
        .await
        .expect("write");
    assert_eq!(store.sweep().expect("sweep"), 2);
    assert_eq!(store.count().expect("count"), 1);
    assert_eq!(store.get("old1").await.expect("get"), None);
    let recent = store.recent("t", 10, None).await.expect("recent");
    assert_eq!(recent, vec![b"{\"id\":\"new\"}".to_vec()]);
    let only_new = store.live_bytes().expect("live");
    store.delete(&["new".into()]).await.expect("delete");
    assert_eq!(
        store.live_bytes().expect("live"),
        0,
        "{only_new} bytes left"
    );
}

#[tokio::test]
async fn eviction_keeps_the_id_row_of_a_mention_filed_in_another_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = expiring(dir.path());
    store
        .write(&Arc::from([stored("a", 1, "t"), stored("b", 2, "t")]))
        .await
        .expect("write");
    let at = |id: &str| {
        let txn = store.db.begin_read().expect("read");
        let ids = txn.open_table(IDS).expect("ids");
        ids.get(id).expect("get").map(|v| v.value())
    };
    let first = at("a").expect("a is filed");
    tokio::time::sleep(Duration::from_millis(400)).await;
    store
        .write(&Arc::from([stored("c", 3, "t")]))
        .await
        .expect("write");
    let second = at("c").expect("c is filed");
    assert_ne!(first, second);
    // "a" filed in the second segment while its slot is still in the first, as a rewrite that
    // moved it would leave it: evicting the first segment must not take its id row.
    {
        let txn = store.db.begin_write().expect("write");
        txn.open_table(IDS)
            .expect("ids")
            .insert("a", second)
            .expect("insert");
        txn.commit().expect("commit");
    }
    assert_eq!(store.sweep().expect("sweep"), 1, "b only");
    assert_eq!(at("a"), Some(second));
    assert_eq!(at("b"), None);
    assert_eq!(at("c"), Some(second));
}

#[tokio::test]
async fn retention_keeps_the_file_under_its_size_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limit: u64 = 8 << 20;
    let options = StoreOptions {
        max_bytes: Some(limit),
        ..StoreOptions::default()
    };
    let store = RedbStore::open_with(dir.path(), options).expect("open");
    let path = dir.path().join("backchannel.redb");
    // 24 MiB of records through an 8 MiB store, swept after every batch as the running
    // pipeline's timer would.
    let mut sizes = Vec::new();
    for b in 0..96 {
        let batch: Vec<Stored> = (0..256)
            .map(|i| {
                let n = b * 256 + i;
                stored_sized(&format!("m{n}"), n, &format!("hashtag:{}", n % 50), 1000)
            })
            .collect();
        store.write(&Arc::from(batch)).await.expect("write");
        store.sweep().expect("sweep");
        sizes.push(std::fs::metadata(&path).expect("file").len());
    }
    let kept = store.count().expect("count");
    let peak = sizes.iter().copied().max().unwrap_or(0);
    // redb grows its file in steps (doubling while it is small), so the file may pass the
    // limit by part of a step; what matters is that it stops growing.
    assert!(
        peak <= limit + limit / 8,
        "file reached {peak} bytes, limit {limit}"
    );
    assert_eq!(
        sizes[48], sizes[95],
        "the file stops growing once retention holds: {sizes:?}"
    );
    assert!(
        store.live_bytes().expect("live") <= (limit as f64 * LIVE_SHARE) as u64,
        "live data over its share"
    );
    assert!(kept > 1_000, "keeps a useful share: {kept} mentions");
    // Eviction took exactly what the evicted brought.
    assert_eq!(store.live_bytes().expect("live"), recounted(&store));
    // The newest survive, the oldest went.
    assert!(store.get("m24575").await.expect("get").is_some());
    assert!(store.get("m0").await.expect("get").is_none());
}

#[test]
fn a_store_held_elsewhere_is_reported_as_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _held = RedbStore::open(dir.path()).expect("open");
    match RedbStore::open(dir.path()) {
        Err(e @ Error::StoreInUse { .. }) => {
            assert_eq!(e.class(), crate::ErrorClass::External);
            assert!(
                std::error::Error::source(&e).is_some(),
                "keeps redb's error"
            );
        }
        other => panic!("expected StoreInUse, got {other:?}"),
    }
}

fn charted(id: &str, at: chrono::DateTime<Utc>, sentiment: f64, hashtags: &[&str]) -> Stored {
    let mut s = stored(id, 0, "signal:acme/brand");
    s.created_at = at;
    s.sentiment = Some(sentiment);
    s.hashtags = hashtags.iter().map(|h| (*h).to_owned()).collect();
    s
}

#[tokio::test]
async fn signal_minutes_are_counted_once_per_mention_and_equal_a_recount() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path()).expect("open");
    let t0 = Utc
        .with_ymd_and_hms(2026, 12, 3, 10, 0, 0)
        .single()
        .expect("time");
    let at = |secs: i64| t0 + chrono::Duration::seconds(secs);
    let all: Vec<Stored> = (0..300)
        .map(|i| {
            let tags: &[&str] = if i % 3 == 0 {
                &["Rust", "tokio"]
            } else {
                &["rust"]
            };
            charted(
                &format!("m{i}"),
                at(i),
                [0.6, 0.0, -0.4][i as usize % 3],
                tags,
            )
        })
        .collect();
    // In three batches, the middle one delivered twice: a redelivery is not counted again.
    for chunk in [&all[..100], &all[100..200], &all[100..200], &all[200..]] {
        store.write(&Arc::from(chunk)).await.expect("write");
    }
    let series = store
        .series("signal:acme/brand", t0, at(300))
        .await
        .expect("series");
    let mut expected: std::collections::BTreeMap<i64, MinuteAggregate> = Default::default();
    for s in &all {
        expected
            .entry(s.created_at.timestamp() / 60)
            .or_default()
            .add(s.sentiment, &s.hashtags);
    }
    // Sums of floats depend on their order (a minute is split across batches): compare the
    // sentiment sums within rounding, everything else exactly.
    let close = |(m, mut a): (i64, MinuteAggregate)| {
        a.sentiment_sum = (a.sentiment_sum * 1e9).round() / 1e9;
        (m, a)
    };
    let got: Vec<(i64, MinuteAggregate)> = series
        .into_iter()
        .map(|(m, a)| close((m.timestamp() / 60, a)))
        .collect();
    assert_eq!(got, expected.into_iter().map(close).collect::<Vec<_>>());
    assert_eq!(got.len(), 5, "five minutes of 60 mentions");
    assert_eq!(got[0].1.mentions, 60);
    assert_eq!(got[0].1.hashtags.get("rust"), Some(&60), "case-folded");
    // The range is half-open and by topic: other topics and minutes are not read.
    let two = store
        .series("signal:acme/brand", at(60), at(180))
        .await
        .expect("series");
    assert_eq!(two.len(), 2);
    assert!(
        store
            .series("source:synthetic", t0, at(300))
            .await
            .expect("series")
            .is_empty(),
        "only signals are charted"
    );
    assert!(
        store
            .series("signal:acme/other", t0, at(300))
            .await
            .expect("series")
            .is_empty()
    );
}

#[tokio::test]
async fn retention_drops_old_signal_minutes_and_keeps_recent_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        retention: Some(Duration::from_secs(3600)),
        ..StoreOptions::default()
    };
    let store = RedbStore::open_with(dir.path(), options).expect("open");
    let now = Utc::now();
    let old = now - chrono::Duration::hours(3);
    store
        .write(&Arc::from([
            charted("old", old, 0.5, &[]),
            charted("new", now, 0.5, &[]),
        ]))
        .await
        .expect("write");
    let everything = |store: RedbStore| async move {
        store
            .series(
                "signal:acme/brand",
                old - chrono::Duration::hours(1),
                now + chrono::Duration::hours(1),
            )
            .await
            .expect("series")
            .len()
    };
    assert_eq!(everything(store.clone()).await, 2);
    store.sweep().expect("sweep");
    assert_eq!(
        everything(store.clone()).await,
        1,
        "the minute 3 h ago is past retention"
    );
    // Stored minutes count against the size limit: with every mention deleted, the remaining
    // minute is what the live bytes hold.
    store
        .delete(&["old".into(), "new".into()])
        .await
        .expect("delete");
    assert!(
        store.live_bytes().expect("live") > 0,
        "the stored minute is accounted"
    );
}

/// What `meta` holds under `key`.
fn meta(store: &RedbStore, key: &str) -> Option<u64> {
    let txn = store.db.begin_read().expect("read");
    let meta = txn.open_table(META).expect("meta");
    meta.get(key).expect("meta").map(|v| v.value())
}

#[tokio::test]
async fn busy_signals_minutes_keep_to_their_share_and_a_written_batch_stays_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limit: u64 = 2 << 20;
    let options = StoreOptions {
        max_bytes: Some(limit),
        retention: Some(Duration::from_secs(30 * 24 * 3600)),
        ..StoreOptions::default()
    };
    let store = RedbStore::open_with(dir.path(), options).expect("open");
    let budget = (limit as f64 * LIVE_SHARE) as u64;
    let cap = (budget as f64 * STATS_SHARE) as u64;
    let t0 = Utc
        .timestamp_opt((Utc::now().timestamp() / 60 - 10 * 1440) * 60, 0)
        .single()
        .expect("a minute ten days ago");
    // 40 signals that all match every mention, each mention in a minute of its own: ~1,000
    // stored minutes a batch, so the minutes alone would pass the whole budget within a few
    // batches. Before they had a share of their own, the writer then evicted every mention,
    // the batch it had just written included, and the write still returned Ok.
    let signals: Vec<String> = (0..40).map(|j| format!("signal:acme/s{j}")).collect();
    for b in 0..40i64 {
        let batch: Vec<Stored> = (0..25i64)
            .map(|i| {
                let n = b * 25 + i;
                let mut s = stored_sized(&format!("m{n}"), 0, "t", 200);
                s.created_at = t0 + chrono::Duration::minutes(n);
                s.sentiment = Some(0.5);
                s.hashtags = vec![format!("tag{}", n % 7), "launch".into()];
                s.topics.extend(signals.iter().cloned());
                s
            })
            .collect();
        let ids: Vec<String> = batch.iter().map(|s| s.id.clone()).collect();
        store.write(&Arc::from(batch)).await.expect("write");
        for id in &ids {
            assert!(
                store.get(id).await.expect("get").is_some(),
                "batch {b}: {id} was written and is gone"
            );
        }
        let held = meta(&store, "stats_bytes").expect("counted");
        assert!(
            held <= cap,
            "batch {b}: minutes hold {held} bytes, their share {cap}"
        );
        if b % 8 == 7 {
            store.sweep().expect("sweep");
        }
    }
    let held = meta(&store, "stats_bytes").expect("counted");
    assert!(
        held > cap / 2,
        "the minutes used their share: {held} of {cap}"
    );
    assert!(store.live_bytes().expect("live") <= budget + budget / 4);
    // Every count is exact: live bytes and the minutes' own.
    assert_eq!(store.live_bytes().expect("live"), recounted(&store));
    let txn = store.db.begin_read().expect("read");
    let stats = txn.open_table(TOPIC_STATS).expect("stats");
    let recount: u64 = stats
        .iter()
        .expect("stats")
        .map(|r| {
            let (k, v) = r.expect("stat");
            stat_footprint(k.value().0, v.value().len())
        })
        .sum();
    assert_eq!(held, recount);
    // The oldest minutes went first: the newest is charted, the first is not.
    let series = |store: RedbStore, at: chrono::DateTime<Utc>| async move {
        store
            .series("signal:acme/s0", at, at + chrono::Duration::minutes(1))
            .await
            .expect("series")
            .len()
    };
    assert_eq!(
        series(store.clone(), t0 + chrono::Duration::minutes(999)).await,
        1
    );
    assert_eq!(series(store.clone(), t0).await, 0);
}

#[tokio::test]
async fn a_store_counts_the_bytes_of_minutes_an_earlier_version_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path()).expect("open");
    let now = Utc::now();
    store
        .write(&Arc::from([
            charted("a", now, 0.5, &["x"]),
            charted("b", now - chrono::Duration::minutes(5), -0.5, &[]),
        ]))
        .await
        .expect("write");
    let held = meta(&store, "stats_bytes").expect("counted");
    assert!(held > 0);
    // As an earlier version left it: the minutes, and no count.
    {
        let txn = store.db.begin_write().expect("write");
        txn.open_table(META)
            .expect("meta")
            .remove("stats_bytes")
            .expect("remove");
        txn.commit().expect("commit");
    }
    drop(store);
    let store = RedbStore::open(dir.path()).expect("open");
    assert_eq!(meta(&store, "stats_bytes"), Some(held));
}

#[tokio::test]
async fn a_clock_stepped_back_files_new_batches_after_old_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path()).expect("open");
    let at = |id: &str| {
        let txn = store.db.begin_read().expect("read");
        let ids = txn.open_table(IDS).expect("ids");
        ids.get(id).expect("get").map(|v| v.value())
    };
    // The clock ran an hour ahead for the first batch and was then set right.
    let ahead = Utc::now().timestamp_millis() + 3_600_000;
    {
        let txn = store.db.begin_write().expect("write");
        txn.open_table(META)
            .expect("meta")
            .insert("last_write_ms", ahead as u64)
            .expect("insert");
        txn.commit().expect("commit");
    }
    store
        .write(&Arc::from([stored("early", 1, "t")]))
        .await
        .expect("write");
    store
        .write(&Arc::from([stored("late", 2, "t")]))
        .await
        .expect("write");
    let (early, late) = (at("early").expect("filed"), at("late").expect("filed"));
    assert_eq!(early.0, ahead, "not before the last write");
    assert!(
        late > early,
        "a later batch sorts after: {late:?} vs {early:?}"
    );
}

/// The names of the tables in the store's file.
fn table_names(store: &RedbStore) -> Vec<String> {
    let txn = store.db.begin_read().expect("read");
    txn.list_tables()
        .expect("tables")
        .map(|t| redb::TableHandle::name(&t).to_owned())
        .collect()
}

/// The live bytes a store should count, recounted from its tables: every segment's stored
/// bytes, the index rows of each mention filed in it, and each charted minute.
fn recounted(store: &RedbStore) -> u64 {
    let txn = store.db.begin_read().expect("read");
    let segments = txn.open_table(SEGMENTS).expect("segments");
    let ids = txn.open_table(IDS).expect("ids");
    let mut at: Vec<At> = segments
        .iter()
        .expect("segments")
        .map(|r| {
            let (k, _) = r.expect("chunk");
            let (ms, seq, _) = k.value();
            (ms, seq)
        })
        .collect();
    at.dedup();
    let mut live = 0;
    for a in at {
        let (body, bytes) = load_segment(&segments, a)
            .expect("load")
            .expect("a segment");
        live += bytes;
        for slot in segment::slots(&body).expect("slots") {
            let filed = ids.get(slot.id).expect("id").map(|v| v.value());
            if filed == Some(a) {
                live += indexed(slot.id, &slot.topics);
            }
        }
    }
    let stats = txn.open_table(TOPIC_STATS).expect("stats");
    for r in stats.iter().expect("stats") {
        let (k, v) = r.expect("stat");
        live += stat_footprint(k.value().0, v.value().len());
    }
    live
}

#[tokio::test]
async fn a_store_of_the_earlier_layout_is_moved_into_segments() {
    const ROWS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("mentions");
    const OLD_BY_TIME: TableDefinition<'_, (i64, &str), &[u8]> = TableDefinition::new("by_time");
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_ms();
    let hours_ago = |h: i64| now - h * 3_600_000;
    // (id, written, created, topics); "b" was written twice, so it has a stale time entry, and
    // "e" cannot be decompressed.
    let writes: [(&str, i64, i64, &[&str]); 5] = [
        ("a", hours_ago(3), 10_000, &["t", "source:x"]),
        ("b", hours_ago(3), 20_000, &["t"]),
        ("c", hours_ago(2), 30_000, &["u"]),
        ("b", hours_ago(1), 40_000, &["t", "u"]),
        ("e", hours_ago(1), 50_000, &["u"]),
    ];
    {
        let db = Database::create(dir.path().join("backchannel.redb")).expect("create");
        let txn = db.begin_write().expect("txn");
        {
            let mut rows = txn.open_table(ROWS).expect("rows");
            let mut by_time = txn.open_table(OLD_BY_TIME).expect("by_time");
            let mut by_topic = txn.open_table(migrate::BY_TOPIC).expect("by_topic");
            let mut meta = txn.open_table(META).expect("meta");
            let mut live = 0;
            for (id, written, created, topics) in writes {
                let record = format!("{{\"id\":\"{id}\",\"at\":{created}}}");
                let mut row = written.to_le_bytes().to_vec();
                if id == "e" {
                    row.extend_from_slice(&[0xff; 12]);
                } else {
                    row.extend_from_slice(&lz4_flex::compress_prepend_size(record.as_bytes()));
                }
                rows.insert(id, row.as_slice()).expect("row");
                let mut entry = created.to_le_bytes().to_vec();
                for t in topics {
                    entry.extend_from_slice(&(t.len() as u16).to_le_bytes());
                    entry.extend_from_slice(t.as_bytes());
                }
                by_time
                    .insert((written, id), entry.as_slice())
                    .expect("entry");
                for t in topics {
                    by_topic.insert((*t, created, id), ()).expect("topic");
                }
                // What that layout counted: the row (none for the stale entry, whose row is the
                // later write's), the entry and the topic rows.
                let row_len = if (id, written) == ("b", hours_ago(3)) {
                    0
                } else {
                    row.len()
                };
                let n = id.len();
                live +=
                    (2 * n + row_len + 16 + 2 * entry.len() - 8 + topics.len() * (n + 8)) as u64;
            }
            // b's first write was replaced by its second: its old topic row went then.
            by_topic.remove(("t", 20_000, "b")).expect("remove");
            meta.insert("live_bytes", live).expect("live");
        }
        txn.commit().expect("commit");
    }
    let options = StoreOptions {
        retention: Some(Duration::from_secs(90 * 60)),
        ..StoreOptions::default()
    };
    let store = RedbStore::open_with(dir.path(), options.clone()).expect("open and move");
    assert_eq!(store.count().expect("count"), 3);
    // Counted as a store of this layout would count what it holds: a count left low would
    // otherwise only show as deletions saturating at 0 below.
    assert_eq!(store.live_bytes().expect("live"), recounted(&store));
    assert_eq!(
        store.get("b").await.expect("get").as_deref(),
        Some(&b"{\"id\":\"b\",\"at\":40000}"[..]),
        "the later write"
    );
    let recent = |topic: &'static str| {
        let store = store.clone();
        async move {
            let rows = store.recent(topic, 10, None).await.expect("recent");
            rows.into_iter()
                .map(|r| String::from_utf8(r).expect("utf-8"))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        recent("u").await,
        ["{\"id\":\"b\",\"at\":40000}", "{\"id\":\"c\",\"at\":30000}"]
    );
    let scanned: Vec<String> = scan_all(&store, 2, async {}).await;
    assert_eq!(scanned, ["a", "c", "b"], "oldest write first");
    let names = table_names(&store);
    assert!(
        !names.iter().any(|n| n == "mentions" || n == "by_time"),
        "{names:?}"
    );
    // Each mention kept its write time: retention of 90 minutes takes the two of 2 and 3 hours
    // ago, and the bytes each brought leave with it.
    assert_eq!(store.sweep().expect("sweep"), 2);
    assert_eq!(recent("t").await, ["{\"id\":\"b\",\"at\":40000}"]);
    assert_eq!(store.live_bytes().expect("live"), recounted(&store));
    store.delete(&["b".into()]).await.expect("delete");
    assert_eq!(store.count().expect("count"), 0);
    assert_eq!(store.live_bytes().expect("live"), 0, "accounted exactly");
    drop(store);
    let again = RedbStore::open_with(dir.path(), options).expect("reopen");
    assert_eq!(again.count().expect("count"), 0, "nothing moved twice");
}

/// A store of stops 28-33 (segments, and the topic index keyed by creation time alone) has its
/// topic rows moved to the new keys at open: reads, deletes and the live-byte count go on as if
/// it had been written with them.
#[tokio::test]
async fn a_topic_index_of_the_earlier_layout_is_moved_to_its_new_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batch: Vec<Stored> = (0..50)
        .map(|i| stored(&format!("m{i:02}"), 100 + i % 7, ["t", "u"][i as usize % 2]))
        .collect();
    let (recent_t, live) = {
        let store = RedbStore::open(dir.path()).expect("open");
        store.write(&Arc::from(batch.clone())).await.expect("write");
        let recent_t = store.recent("t", 100, None).await.expect("recent");
        let live = store.live_bytes().expect("live");
        // Back to the earlier layout, and to what it counted.
        let txn = store.db.begin_write().expect("txn");
        {
            let mut index = txn.open_table(TOPIC_INDEX).expect("index");
            let mut old = txn.open_table(migrate::BY_TOPIC).expect("by_topic");
            let rows: Vec<(String, i64, String)> = index
                .iter()
                .expect("rows")
                .map(|r| {
                    let (k, v) = r.expect("row");
                    let (topic, _, _, id) = k.value();
                    (topic.to_owned(), v.value(), id.to_owned())
                })
                .collect();
            assert_eq!(rows.len(), 100, "two topics a mention");
            for (topic, created_ms, id) in &rows {
                old.insert((topic.as_str(), *created_ms, id.as_str()), ())
                    .expect("old row");
            }
            index.retain(|_, _| false).expect("empty the new index");
            txn.open_table(META)
                .expect("meta")
                .insert("live_bytes", live - 16 * rows.len() as u64)
                .expect("live");
        }
        txn.commit().expect("commit");
        (recent_t, live)
    };
    let store = RedbStore::open(dir.path()).expect("reopen and move");
    assert_eq!(
        store.recent("t", 100, None).await.expect("recent"),
        recent_t
    );
    assert_eq!(
        store.recent("u", 100, None).await.expect("recent").len(),
        25
    );
    assert_eq!(
        store.live_bytes().expect("live"),
        live,
        "counted as if written so"
    );
    let names = table_names(&store);
    assert!(!names.iter().any(|n| n == "by_topic"), "{names:?}");
    let ids: Vec<String> = batch.iter().map(|s| s.id.clone()).collect();
    store.delete(&ids).await.expect("delete");
    assert_eq!(store.live_bytes().expect("live"), 0, "accounted exactly");
    assert!(
        store
            .recent("t", 10, None)
            .await
            .expect("recent")
            .is_empty()
    );
}

#[tokio::test]
async fn a_segment_compressed_with_lz4_before_zstd_reads_and_is_rewritten_with_zstd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RedbStore::open(dir.path()).expect("open");
    let batch: Vec<Stored> = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(i, id)| stored_sized(id, 10 + i as i64, "t", 5_000))
        .collect();
    store.write(&Arc::from(batch.clone())).await.expect("write");
    // Recompress the one segment as the stores of stop 28 and before did, in chunks as they were.
    {
        let txn = store.db.begin_write().expect("txn");
        {
            let mut segments = txn.open_table(SEGMENTS).expect("segments");
            let mut meta = txn.open_table(META).expect("meta");
            let (ms, seq, _) = segments
                .first()
                .expect("first")
                .expect("a segment")
                .0
                .value();
            let (body, bytes) = load_segment(&segments, (ms, seq))
                .expect("load")
                .expect("body");
            for chunk in 0..u32::MAX {
                if segments.remove((ms, seq, chunk)).expect("remove").is_none() {
                    break;
                }
            }
            let old = lz4_flex::compress_prepend_size(&body);
            let mut chunks = 0;
            for (i, chunk) in old.chunks(segment::CHUNK).enumerate() {
                segments.insert((ms, seq, i as u32), chunk).expect("chunk");
                chunks += 1;
            }
            assert!(chunks > 1, "the test covers a segment of several chunks");
            let live = meta
                .get("live_bytes")
                .expect("live")
                .expect("counted")
                .value();
            let now = live - bytes + old.len() as u64 + 20 * chunks;
            meta.insert("live_bytes", now).expect("live");
        }
        txn.commit().expect("commit");
    }
    let first_chunk = |store: &RedbStore| {
        let txn = store.db.begin_read().expect("read");
        let segments = txn.open_table(SEGMENTS).expect("segments");
        let first = segments.first().expect("first").expect("a segment");
        first.1.value()[..4].to_vec()
    };
    assert_ne!(first_chunk(&store), b"\x28\xb5\x2f\xfd", "LZ4 now");
    for s in &batch {
        assert_eq!(
            store.get(&s.id).await.expect("get").as_deref(),
            Some(&s.record[..])
        );
    }
    assert_eq!(store.recent("t", 10, None).await.expect("recent").len(), 3);
    assert_eq!(scan_all(&store, 2, async {}).await, ["a", "b", "c"]);
    // A redelivery of "a" rewrites the old segment without it, in zstd.
    store
        .write(&Arc::from([batch[0].clone()]))
        .await
        .expect("redeliver");
    assert_eq!(
        first_chunk(&store),
        b"\x28\xb5\x2f\xfd",
        "rewritten with zstd"
    );
    assert_eq!(
        store.get("b").await.expect("get").as_deref(),
        Some(&batch[1].record[..])
    );
    store
        .delete(&["a".into(), "b".into(), "c".into()])
        .await
        .expect("delete");
    assert_eq!(store.count().expect("count"), 0);
    assert_eq!(store.live_bytes().expect("live"), 0, "accounted exactly");
}
