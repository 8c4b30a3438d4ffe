//! Our adapters against the real services: `KafkaPublisher` / `KafkaConsumer` on Kafka 4 (KRaft),
//! `ScyllaStore` on Cassandra 5 (the ScyllaDB stand-in) and `RedisCache` on Redis. No mocks: each
//! test goes through the seam the runtime uses, and checks the result with the service's own
//! client. A test whose service is down is SKIPPED, or fails when services are required
//! (`BACKCHANNEL_TEST_SERVICES=required`, CI) — see `common::service_up`.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use collectors::{Synthetic, SyntheticConfig};
use common::{CQL, KAFKA, REDIS, free_port, service_up, unique};
use pipeline::aggregate::{MinuteAggregate, minute_of};
use pipeline::config::Config;
use pipeline::distributed::{KafkaConsumer, KafkaPublisher, RedisCache, ScyllaStore, scylla};
use pipeline::http::Readiness;
use pipeline::signals::SignalStore;
use pipeline::traits::{
    Cache, Consumer, Delivery, Polled, Publisher, Record, Store, Stored, Topic,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{Offset, TopicPartitionList};

/// The ports the tests' own servers get come from below the kernel's ephemeral range, where no
/// outgoing connection can take one between its choosing and the server's bind, and a process
/// never gets one twice (two tests' servers could otherwise be given the same port).
#[test]
fn test_ports_lie_below_the_ephemeral_range_and_never_repeat() {
    let ephemeral_low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..300 {
        let [a, b, c] = common::free_ports();
        for port in [a, b, c, free_port()] {
            assert!(port < ephemeral_low, "{port} is in the ephemeral range");
            assert!(seen.insert(port), "{port} handed out twice");
            assert!(
                std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
                "{port} is free"
            );
        }
    }
}

/// The defaults, pointed at the test's own names.
fn config(vars: &[(&str, &str)]) -> Config {
    let vars = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    Config::load(None, vars).expect("config")
}

/// Enriched, storable mentions made by the runtime's own batch step, created around now.
fn stored(n: u64) -> Vec<Stored> {
    let source = Synthetic::new(SyntheticConfig {
        seed: u64::from(std::process::id()),
        start: Utc::now() - chrono::Duration::seconds(30),
        spacing: chrono::Duration::milliseconds(10),
        ..Default::default()
    });
    let batch = (0..n)
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
    out.stored.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_publisher_and_consumer_round_trip_and_commit() {
    if !service_up("Kafka", KAFKA) {
        return;
    }
    let (topic, dlq, group) = (unique("test_pub"), unique("test_dlq"), unique("test_group"));
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .expect("admin client");
    let new = [
        NewTopic::new(&topic, 4, TopicReplication::Fixed(1)),
        NewTopic::new(&dlq, 1, TopicReplication::Fixed(1)),
    ];
    for r in admin
        .create_topics(&new, &AdminOptions::new())
        .await
        .expect("create_topics request")
    {
        r.expect("topic created");
    }
    // The publisher writes the enriched topic; the consumer reads the same topic as its raw one.
    let cfg = config(&[
        ("BACKCHANNEL__KAFKA__BROKERS", KAFKA),
        ("BACKCHANNEL__KAFKA__ENRICHED_TOPIC", &topic),
        ("BACKCHANNEL__KAFKA__DLQ_TOPIC", &dlq),
        ("BACKCHANNEL__KAFKA__RAW_TOPIC", &topic),
        ("BACKCHANNEL__KAFKA__GROUP_ID", &group),
    ]);
    let publisher = KafkaPublisher::new(&cfg.kafka).expect("publisher");
    let n = 2_000usize;
    let payloads: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| (format!("id-{i}"), format!("payload {i}").into_bytes()))
        .collect();
    let headers: [(&str, &[u8]); 1] = [("content-type", b"text/plain")];
    let mut records: Vec<Record<'_>> = payloads
        .iter()
        .map(|(k, p)| Record {
            topic: Topic::Enriched,
            key: k.as_bytes(),
            payload: Some(p),
            headers: &headers,
        })
        .collect();
    records.push(Record {
        topic: Topic::Enriched,
        key: b"deleted-id",
        payload: None,
        headers: &[],
    });
    publisher.publish(&records).await.expect("acknowledged");
    let dead = Record {
        topic: Topic::DeadLetter,
        key: b"poison",
        payload: Some(b"{not json"),
        headers: &[("reason", b"malformed_json")],
    };
    publisher
        .publish(&[dead])
        .await
        .expect("dead letter acknowledged");

    let ready = Readiness::default();
    let mut consumer = KafkaConsumer::new(&cfg.kafka, ready.clone(), 4096).expect("consumer");
    let mut got: HashMap<String, Delivery> = HashMap::new();
    let mut last: HashMap<i32, i64> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while got.len() < n + 1 {
        let polled =
            tokio::time::timeout_at(deadline, consumer.poll(500, Duration::from_millis(50)))
                .await
                .unwrap_or_else(|_| panic!("timed out with {} of {} records", got.len(), n + 1))
                .expect("poll");
        let Polled::Batch(batch) = polled else {
            panic!("a Kafka consumer never closes")
        };
        for d in batch {
            let key = String::from_utf8(d.key.clone().expect("keyed")).expect("utf8 key");
            let prev = last.insert(d.partition, d.offset);
            assert!(
                prev.is_none_or(|p| p < d.offset),
                "offsets increase per partition"
            );
            assert!(got.insert(key, d).is_none(), "each record delivered once");
        }
    }
    assert!(ready.get(), "ready once partitions are assigned");
    for (k, p) in &payloads {
        let d = &got[k];
        assert!(!d.tombstone);
        assert_eq!(&d.payload, p, "{k} arrived as published");
    }
    assert!(
        got["deleted-id"].tombstone,
        "a null payload arrives as a tombstone"
    );

    // The runtime's commit path: store the last offset per partition, then flush.
    let committer = consumer.committer();
    for (&partition, &offset) in &last {
        committer.commit(partition, offset).expect("commit");
    }
    committer.flush().expect("flush");
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("group.id", &group)
        .create()
        .expect("probe consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..4 {
        tpl.add_partition(&topic, p);
    }
    let committed = probe
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    let total: i64 = committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum();
    // Drop the list before the consumer: a live list makes the consumer's drop hang (STACK.md).
    drop(committed);
    drop(probe);
    assert_eq!(total, (n + 1) as i64, "commits cover every record");

    // A second worker joins the group: each now holds half of the 4 partitions, and the share
    // the store sizes hot topics by follows (worked out off the rebalance callback, after it).
    let mut second = KafkaConsumer::new(&cfg.kafka, Readiness::default(), 4096).expect("second");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while pipeline::distributed::kafka::partition_share() != 0.5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the partition share never became 1/2 (it is {})",
            pipeline::distributed::kafka::partition_share()
        );
        // Polling serves the rebalance; a poll waits for a first message, and none come.
        let both = async {
            tokio::join!(
                consumer.poll(100, Duration::from_millis(50)),
                second.poll(100, Duration::from_millis(50))
            )
        };
        if let Ok((a, b)) = tokio::time::timeout(Duration::from_millis(500), both).await {
            a.expect("poll");
            b.expect("poll");
        }
    }
    drop(second);
    drop(consumer);

    // The dead letter went to the dead-letter topic, not the enriched one.
    let dlq_cfg = config(&[
        ("BACKCHANNEL__KAFKA__BROKERS", KAFKA),
        ("BACKCHANNEL__KAFKA__RAW_TOPIC", &dlq),
        ("BACKCHANNEL__KAFKA__GROUP_ID", &unique("test_dlq_group")),
    ]);
    let mut dlq_consumer =
        KafkaConsumer::new(&dlq_cfg.kafka, Readiness::default(), 1024).expect("dlq consumer");
    let polled = tokio::time::timeout(
        Duration::from_secs(60),
        dlq_consumer.poll(10, Duration::from_millis(50)),
    )
    .await
    .expect("the dead letter arrives")
    .expect("poll");
    let Polled::Batch(batch) = polled else {
        panic!("a Kafka consumer never closes")
    };
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].key.as_deref(), Some(&b"poison"[..]));
    assert_eq!(batch[0].payload, b"{not json");
    drop(dlq_consumer);
    common::delete_topics(&[&topic, &dlq])
        .await
        .expect("delete topics");
}

/// A store on keyspace `ks`, with the schema applied.
async fn scylla_store(ks: &str) -> ScyllaStore {
    let cfg = config(&[
        ("BACKCHANNEL__SCYLLA__NODES", CQL),
        ("BACKCHANNEL__SCYLLA__KEYSPACE", ks),
    ]);
    let session = scylla::connect(&cfg.scylla).await.expect("connect");
    let params = scylla::SchemaParams::from_config(&cfg.scylla).expect("schema parameters");
    scylla::apply_schema(&session, &params)
        .await
        .expect("schema");
    ScyllaStore::new(session, ks, 16).await.expect("prepare")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scylla_store_writes_reads_deletes_rolls_up_and_keeps_signals() {
    if !service_up("Cassandra", CQL) {
        return;
    }
    let ks = unique("test_store");
    let store = scylla_store(&ks).await;
    let params = scylla::SchemaParams::from_config(
        &config(&[("BACKCHANNEL__SCYLLA__KEYSPACE", &ks)]).scylla,
    )
    .expect("schema parameters");
    scylla::apply_schema(store.session(), &params)
        .await
        .expect("applying the schema again is harmless");
    // A table created before minutes could spill gains the static column they are marked in.
    let session = store.session();
    let columns = format!(
        "SELECT column_name FROM system_schema.columns WHERE keyspace_name = '{ks}' \
         AND table_name = 'topic_mentions' AND column_name = 'spilled'"
    );
    let spilled_columns = || async {
        let rows = session.query_unpaged(columns.as_str(), ()).await;
        rows.expect("columns")
            .into_rows_result()
            .expect("rows")
            .rows_num()
    };
    assert_eq!(spilled_columns().await, 1);
    session
        .query_unpaged(format!("ALTER TABLE {ks}.topic_mentions DROP spilled"), ())
        .await
        .expect("an older table");
    assert_eq!(spilled_columns().await, 0);
    scylla::apply_schema(session, &params)
        .await
        .expect("upgrading the schema");
    assert_eq!(spilled_columns().await, 1, "added by schema apply");

    let batch: Arc<[Stored]> = stored(50).into();
    store.write(&batch).await.expect("write");
    store
        .write(&batch)
        .await
        .expect("a replayed batch is harmless");
    for s in batch.iter() {
        let back = store.get(&s.id).await.expect("get");
        assert_eq!(back.as_deref(), Some(&s.record[..]), "{} reads back", s.id);
    }
    assert_eq!(store.get("no-such-id").await.expect("get"), None);
    let recent = store
        .recent("source:synthetic", 10, None)
        .await
        .expect("recent");
    assert_eq!(recent.len(), 10, "the newest ten of the topic");
    for r in &recent {
        assert!(batch.iter().any(|s| &s.record == r), "a written record");
    }

    // Rollups: every minute written is recomputed, and equals the shared aggregate.
    let rolled = store.rollup(Duration::ZERO).await.expect("rollup");
    assert!(rolled > 0, "dirty minutes were rolled up");
    let topic = "source:synthetic";
    let mut expected: HashMap<_, MinuteAggregate> = HashMap::new();
    for s in batch.iter() {
        expected
            .entry(minute_of(s.created_at))
            .or_default()
            .add(s.sentiment, &s.hashtags);
    }
    for (minute, agg) in &expected {
        let rows = store
            .session()
            .query_unpaged(
                format!(
                    "SELECT mentions, positive, neutral, negative FROM {ks}.topic_minute_stats \
                     WHERE topic = ? AND day = ? AND minute = ?"
                ),
                (topic, minute.date_naive(), *minute),
            )
            .await
            .expect("read stats")
            .into_rows_result()
            .expect("rows");
        let row: (i64, i64, i64, i64) = rows.single_row().expect("one stats row");
        assert_eq!(row, (agg.mentions, agg.positive, agg.neutral, agg.negative));
    }

    // Two versions of each of 40 mentions in one batch (a post and its edit): the later one
    // is stored, whether its record sorts before or after the earlier one (Cassandra breaks a
    // tie of write times by the larger value). One node applies statements as they arrive, so
    // this passes without the store's choice too; `mentions.rs` tests the choice itself.
    let originals = stored(40);
    let mut both = originals.clone();
    for (i, s) in originals.iter().enumerate() {
        let mut edit = s.clone();
        match i % 2 {
            0 => edit.record.extend_from_slice(b" edited"),
            _ => edit.record.truncate(s.record.len() - 1),
        }
        both.push(edit);
    }
    store.write(&Arc::from(both.clone())).await.expect("write");
    for edit in &both[originals.len()..] {
        let back = store.get(&edit.id).await.expect("get");
        assert_eq!(
            back.as_deref(),
            Some(&edit.record[..]),
            "{}: the edit",
            edit.id
        );
    }

    // A rewrite (`reprocess`) is written one microsecond after the version it read, so a
    // deletion or edit the worker stores once it has read the row (at a later time) wins
    // whichever lands last.
    let writetime = format!("SELECT WRITETIME(body) FROM {ks}.mentions WHERE id = ?");
    let written = |id: String| {
        let query = writetime.clone();
        async move {
            let rows = session.query_unpaged(query, (id,)).await;
            let rows = rows.expect("writetime").into_rows_result().expect("rows");
            rows.single_row::<(i64,)>().expect("one row").0
        }
    };
    let edit = both[originals.len()].clone();
    let before = written(edit.id.clone()).await;
    let mut rewrite = edit.clone();
    rewrite.record.extend_from_slice(b" reprocessed");
    let old = pipeline::traits::Filed {
        id: edit.id.clone(),
        created_at: edit.created_at,
        topics: edit.topics.clone(),
        sentiment: edit.sentiment,
        hashtags: edit.hashtags.clone(),
    };
    store
        .refile(&Arc::from(vec![rewrite.clone()]), &[old])
        .await
        .expect("refile");
    assert_eq!(written(edit.id.clone()).await, before + 1);
    let back = store.get(&edit.id).await.expect("get");
    assert_eq!(back.as_deref(), Some(&rewrite.record[..]), "rewritten");
    store
        .write(&Arc::from(vec![edit.clone()]))
        .await
        .expect("write");
    let back = store.get(&edit.id).await.expect("get");
    assert_eq!(
        back.as_deref(),
        Some(&edit.record[..]),
        "a later write wins"
    );

    let gone = [batch[0].id.clone()];
    store.delete(&gone).await.expect("delete");
    store
        .delete(&gone)
        .await
        .expect("deleting twice is harmless");
    assert_eq!(store.get(&gone[0]).await.expect("get"), None);

    store
        .put_schema(42, "{\"type\":\"null\"}")
        .await
        .expect("put schema");
    assert_eq!(
        store.schema(42).await.expect("schema").as_deref(),
        Some("{\"type\":\"null\"}")
    );
    assert_eq!(store.schema(43).await.expect("schema"), None);

    let before = store.signal_revision().await.expect("revision");
    let signal = transforms::signals::Signal {
        tenant: "t1".into(),
        id: "brand".into(),
        version: 3,
        query: "acme".into(),
        options: Default::default(),
    };
    store.put_signal(&signal).await.expect("put signal");
    let (rev, all) = store.load_signals().await.expect("load signals");
    assert_ne!(rev, before, "a change bumps the revision");
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].version, all[0].query.as_str()), (3, "acme"));
    assert!(store.delete_signal("t1", "brand").await.expect("delete"));
    assert!(!store.delete_signal("t1", "brand").await.expect("delete"));
    assert!(store.load_signals().await.expect("load").1.is_empty());

    common::drop_keyspace(store.session(), &ks).await;
}

/// Mention rows travel in unlogged batches of rows that one replica and shard own, within the
/// row and byte limits (a row larger than the byte limit goes alone), every row exactly once;
/// records of every size, batched so, are accepted by the server and read back.
/// The detector reads a signal's minutes from the rollup's aggregates, which are recomputed
/// after the writes. A worker that starts while its predecessor's last marks are pending must
/// not read those minutes before it has rolled them up: it would learn them short and never
/// look at them again (a worker e2e caught a spike missed that way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerting_reads_no_minute_before_the_rollup_has_counted_it() {
    use pipeline::alerts::AlertStore;
    use pipeline::alerts::engine::Engine;
    if !service_up("Cassandra", CQL) {
        return;
    }
    let ks = unique("test_alerting");
    let store = Arc::new(scylla_store(&ks).await);
    pipeline::codec::Codec::register(&*store)
        .await
        .expect("schema");
    let signal = transforms::signals::Signal {
        tenant: "acme".into(),
        id: "brand".into(),
        version: 1,
        query: "acme".into(),
        options: Default::default(),
    };
    store.put_signal(&signal).await.expect("signal");
    let matcher = transforms::signals::Matcher::compile(&transforms::signals::SignalSet {
        signals: vec![signal],
    })
    .expect("matcher");
    let mut settings = config(&[]).alerts.settings().expect("settings");
    settings.history = Duration::from_secs(3 * 3600);
    settings.detector.warmup_minutes = 60;

    // Two hours of 4-6 mentions a minute, then three minutes of 40, ending at the last settled
    // minute: stored, and so marked dirty, but not rolled up.
    let now = Utc::now();
    let upto = minute_of(now - chrono::Duration::from_std(settings.settle).expect("settle"));
    let batch = common::spiky_history(upto)
        .into_iter()
        .enumerate()
        .map(|(offset, (_, m))| Delivery {
            partition: 0,
            offset: offset as i64,
            key: None,
            payload: m.into_bytes(),
            tombstone: false,
            mention: None,
        })
        .collect();
    let processed = pipeline::runtime::process_batch(batch, &Default::default(), Some(&matcher));
    assert!(processed.dead.is_empty());
    store.write(&processed.stored).await.expect("write");

    let dir = tempfile::tempdir().expect("tempdir");
    let publisher =
        Arc::new(pipeline::embedded::LocalPublisher::open(dir.path(), 1 << 20).expect("publisher"));
    let engine = Engine::new(store.clone(), publisher, settings).expect("engine");
    assert_eq!(
        store.counted_before(),
        Some(chrono::DateTime::<Utc>::MIN_UTC),
        "nothing is known counted before a rollup"
    );
    assert!(engine.pass(now).await.expect("pass").is_empty());
    assert_eq!(store.detector("acme", "brand").await.expect("read"), None);
    assert!(store.rollup(Duration::ZERO).await.expect("rollup") > 0);
    assert!(store.counted_before() >= Some(now));
    let events = engine.pass(now).await.expect("pass");
    assert!(
        events
            .iter()
            .any(|a| a.kind == pipeline::alerts::AlertKind::VolumeSpike
                && a.state == pipeline::alerts::AlertState::Opened),
        "the spike, once rolled up: {events:#?}"
    );
    assert_eq!(
        store
            .alerts("acme", "brand", 10)
            .await
            .expect("alerts")
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mention_rows_are_batched_by_owner_within_limits_and_read_back() {
    if !service_up("Cassandra", CQL) {
        return;
    }
    let ks = unique("test_mention_batches");
    let store = scylla_store(&ks).await;
    // 300 mentions with records of 100 B to 8 KiB, and two of 40 KiB (over the byte limit).
    let mut batch = stored(300);
    for (i, s) in batch.iter_mut().enumerate() {
        let size = match i {
            7 | 150 => 40 << 10,
            _ => 100 + (i * 997) % (8 << 10),
        };
        s.record = (0..size).map(|b| (b * 31 + i) as u8).collect();
    }
    let insert = store
        .session()
        .prepare(format!(
            "INSERT INTO {ks}.mentions (id, source, created_at, fields_version, body) VALUES (?, ?, ?, ?, ?)"
        ))
        .await
        .expect("prepare");
    let bytes = |s: &&Stored| s.id.len() + s.record.len() + scylla::MENTION_ROW_OVERHEAD as usize;
    let chunks = scylla::replica_batches(
        store.session(),
        &insert,
        batch.iter().collect(),
        |s| s.id.as_str(),
        bytes,
    );
    let cluster = store.session().get_cluster_state();
    let owner = |id: &str| {
        let replicas = cluster
            .get_endpoints(&ks, "mentions", &(id,))
            .expect("endpoints");
        let (node, shard) = replicas.first().expect("a replica");
        (node.host_id, *shard)
    };
    let mut seen = std::collections::HashSet::new();
    for chunk in &chunks {
        assert!(!chunk.is_empty());
        if chunk.len() > 1 {
            assert!(
                chunk.len() <= scylla::MENTIONS_PER_BATCH,
                "{} rows",
                chunk.len()
            );
            let size: usize = chunk.iter().map(bytes).sum();
            assert!(
                size <= scylla::MENTION_BATCH_BYTES,
                "{size} bytes in a batch"
            );
        }
        let first = owner(&chunk[0].id);
        for s in chunk {
            assert_eq!(
                owner(&s.id),
                first,
                "{} is owned by the batch's replica",
                s.id
            );
            assert!(seen.insert(s.id.clone()), "{} in one batch only", s.id);
        }
    }
    assert_eq!(seen.len(), batch.len(), "every row in a batch");
    assert!(
        chunks.len() < batch.len() / 4,
        "rows go together: {} batches for {} rows",
        chunks.len(),
        batch.len()
    );
    for big in [7, 150] {
        let alone = chunks.iter().find(|c| c[0].id == batch[big].id);
        assert!(
            alone.is_some_and(|c| c.len() == 1),
            "a 40 KiB row goes alone"
        );
    }

    let batch: Arc<[Stored]> = batch.into();
    store.write(&batch).await.expect("write");
    for s in batch.iter() {
        let back = store.get(&s.id).await.expect("get");
        assert_eq!(back.as_deref(), Some(&s.record[..]), "{} reads back", s.id);
    }
    common::drop_keyspace(store.session(), &ks).await;
}

/// The cache holds what readers fetched, for its TTL, until a rewrite or delete forgets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cache_fills_on_reads_expires_forgets_and_breaks_the_circuit() {
    use redis::AsyncCommands;
    if !service_up("Redis", REDIS) {
        return;
    }
    let ttl = Duration::from_secs(60);
    let cache = RedisCache::new(REDIS, None, Duration::from_millis(500), ttl).expect("cache");
    let ids: Vec<String> = (0..3).map(|i| unique(&format!("m{i}"))).collect();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            cache.get(id).await.expect("get"),
            None,
            "{id} not cached yet"
        );
        cache.fill(id, &[i as u8; 1200]).await;
    }
    for (i, id) in ids.iter().enumerate() {
        let got = cache.get(id).await.expect("get");
        assert_eq!(got, Some(vec![i as u8; 1200]), "{id} cached");
    }
    let client = redis::Client::open(REDIS).expect("redis url");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let left: i64 = con.ttl(format!("bc:m:{}", ids[0])).await.expect("TTL");
    assert!((1..=60).contains(&left), "cached records expire: {left}");
    cache.forget(&ids).await;
    for id in &ids {
        assert_eq!(cache.get(id).await.expect("get"), None, "{id} forgotten");
    }

    // A Redis that is not there: calls fail fast, then the breaker skips it.
    let down = RedisCache::new(
        &format!("redis://127.0.0.1:{}", free_port()),
        None,
        Duration::from_millis(200),
        ttl,
    )
    .expect("cache");
    for _ in 0..pipeline::distributed::redis_cache::FAILURES_TO_OPEN {
        assert!(down.get("x").await.is_err());
    }
    assert!(down.breaker_open(), "consecutive failures open the breaker");
    let skipped = down.get("x").await.expect_err("skipped");
    assert!(
        skipped.to_string().contains("circuit breaker open"),
        "{skipped}"
    );
    assert_eq!(skipped.class(), pipeline::ErrorClass::External);
    down.fill("x", b"record").await; // best effort: returns without Redis
}

/// A deleted mention stays out of the cache for the hold: a reader that fetched it from the
/// store before the deletion, and fills once the deletion was marked, does not bring it back.
/// A deletion Redis could not take is marked at the cache's next call, before it reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keeps_deleted_mentions_out_and_marks_missed_deletions_later() {
    use redis::AsyncCommands;
    if !service_up("Redis", REDIS) {
        return;
    }
    let ttl = Duration::from_secs(600);
    let cache = RedisCache::new(REDIS, None, Duration::from_secs(2), ttl).expect("cache");
    let id = unique("deleted");
    cache.fill(&id, b"the post").await;
    cache.deleted(std::slice::from_ref(&id)).await;
    assert_eq!(cache.get(&id).await.expect("get"), None);
    cache.fill(&id, b"the post, read before the deletion").await;
    assert_eq!(cache.get(&id).await.expect("get"), None, "not cached again");
    let client = redis::Client::open(REDIS).expect("redis url");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let hold: i64 = con.pttl(format!("bc:m:{id}")).await.expect("PTTL");
    let most = pipeline::traits::DELETED_HOLD.as_millis() as i64;
    assert!((1..=most).contains(&hold), "the mark expires: {hold} ms");

    // A Redis of its own that starts only after the deletion, holding the record from before.
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let late = RedisCache::new(&url, None, Duration::from_millis(500), ttl).expect("cache");
    late.deleted(std::slice::from_ref(&id)).await;
    assert_eq!(late.unmarked_deletions(), 1, "kept for the next call");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut redis = match common::spawn_redis(port, dir.path()) {
        Ok(child) => child,
        Err(e) => {
            assert!(!common::services_required(), "redis-server: {e}");
            return;
        }
    };
    let mut con = common::redis_answers(&url).await;
    let key = format!("bc:m:{id}");
    let () = con.set(&key, b"the post").await.expect("set");
    let got = late.get(&id).await.expect("get");
    let left: Vec<u8> = con.get(&key).await.expect("get");
    let _ = redis.kill();
    let _ = redis.wait();
    assert_eq!(got, None, "the missed deletion was marked before the read");
    assert!(left.is_empty(), "the mark replaced the record");
    assert_eq!(late.unmarked_deletions(), 0);

    // What waits is bounded by bytes.
    let down = RedisCache::new(
        &format!("redis://127.0.0.1:{}", free_port()),
        None,
        Duration::from_millis(200),
        ttl,
    )
    .expect("cache");
    let ids: Vec<String> = (0..40_000).map(|i| format!("{i:064}")).collect();
    down.deleted(&ids).await;
    let kept = down.unmarked_deletions();
    let most = pipeline::distributed::redis_cache::MAX_UNMARKED_BYTES / 64;
    assert!(kept > 0 && kept <= most, "{kept} ids kept, at most {most}");
}

/// Two workers (two `RedisCache` clients) place copies of one post in one near-duplicate cluster,
/// whichever of them sees a copy first, while they assign concurrently: the Redis script claims
/// band keys atomically. A replay gets the same answer, and the claims expire with the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_clusters_near_duplicates_across_two_workers() {
    use redis::AsyncCommands;
    if !service_up("Redis", REDIS) {
        return;
    }
    let window = Duration::from_secs(30);
    let worker = || {
        RedisCache::new(REDIS, None, Duration::from_secs(2), window)
            .expect("cache")
            .with_cluster_window(window)
    };
    let (a, b) = (worker(), worker());
    // Every run posts its own template (Redis keeps the claims of earlier runs for the window).
    let nonce = unique("drop");
    let template = format!(
        "Limited {nonce} sneaker release this Friday at noon, only two hundred pairs, \
         set your alarms and bring a friend because the line starts at dawn"
    );
    let deliveries = |items: &[(&str, String)]| -> Vec<Delivery> {
        items
            .iter()
            .enumerate()
            .map(|(i, (id, text))| {
                let m = serde_json::json!({
                    "id": id, "source": "mastodon", "kind": "post", "text": text,
                    "lang_hint": "en", "author": {"id": "a", "handle": "a"},
                    "created_at": Utc::now(), "collected_at": Utc::now(),
                });
                Delivery {
                    partition: 0,
                    offset: i as i64,
                    key: None,
                    payload: serde_json::to_vec(&m).expect("json"),
                    tombstone: false,
                    mention: None,
                }
            })
            .collect()
    };
    let id = |s: &str| unique(s);
    let (c0, c1, c2, c3) = (id("copy0"), id("copy1"), id("copy2"), id("copy3"));
    let (o1, o2) = (id("other1"), id("other2"));
    let first = deliveries(&[
        (&c0, format!("{template} https://shop.example/1")),
        (
            &o1,
            format!("{nonce} quarterly results are out, revenue up on cloud"),
        ),
        (&c1, format!("@pal {template}")),
    ]);
    let second = deliveries(&[
        (&c2, format!("{template} https://t.co/2")),
        (&c3, format!("RT {template}")),
        (
            &o2,
            format!("{nonce} the weather is lovely by the lake this afternoon"),
        ),
    ]);
    let process =
        |batch: Vec<Delivery>| pipeline::runtime::process_batch(batch, &Default::default(), None);
    let (mut pa, mut pb) = (process(first.clone()), process(second.clone()));
    tokio::join!(
        pipeline::runtime::assign_clusters(&mut pa, &a),
        pipeline::runtime::assign_clusters(&mut pb, &b),
    );
    let layout = transforms::avro::Layout::current();
    let cluster_of = |s: &Stored| -> Option<String> {
        let mut json = Vec::new();
        layout.to_json(&s.record, &mut json).expect("decodes");
        let v: serde_json::Value = serde_json::from_slice(&json).expect("json");
        v.get("cluster_id")
            .and_then(|c| c.as_str())
            .map(str::to_owned)
    };
    let got: HashMap<String, Option<String>> = pa
        .stored
        .iter()
        .chain(pb.stored.iter())
        .map(|s| (s.id.clone(), cluster_of(s)))
        .collect();
    let winner = got[&c0].clone().expect("a cluster");
    assert!(
        winner == c0 || winner == c2,
        "the cluster is the first copy either worker saw: {got:?}"
    );
    for c in [&c1, &c2, &c3] {
        assert_eq!(got[c].as_ref(), Some(&winner), "{c}: {got:?}");
    }
    assert_eq!(
        got[&o1].as_ref(),
        Some(&o1),
        "an unrelated post is its own cluster"
    );
    assert_eq!(got[&o2].as_ref(), Some(&o2));

    // A redelivered batch, on the other worker: the same clusters.
    let mut again = process(second);
    pipeline::runtime::assign_clusters(&mut again, &a).await;
    for s in again.stored.iter() {
        assert_eq!(cluster_of(s), got[&s.id], "{} replayed", s.id);
    }

    // The claims live in Redis for the window, no longer.
    let client = redis::Client::open(REDIS).expect("redis url");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let keys = pa.bands[0].expect("band keys");
    for k in keys {
        let key = format!("bc:nd:{k:016x}");
        let held: Option<String> = con.get(&key).await.expect("GET");
        assert_eq!(held.as_ref(), Some(&winner), "{key}");
        let ttl: i64 = con.pttl(&key).await.expect("PTTL");
        assert!(
            (1..=30_000).contains(&ttl),
            "{key} expires with the window: {ttl} ms"
        );
    }

    // Redis down: the batch goes on, its mentions unclustered.
    let down = RedisCache::new(
        &format!("redis://127.0.0.1:{}", free_port()),
        None,
        Duration::from_millis(200),
        window,
    )
    .expect("cache");
    let mut lost = process(first);
    pipeline::runtime::assign_clusters(&mut lost, &down).await;
    assert!(lost.stored.iter().all(|s| cluster_of(s).is_none()));
}
