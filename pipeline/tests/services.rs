//! Proof that our clients work against the real services: Kafka 4 (KRaft), Cassandra 5 (the
//! ScyllaDB stand-in, through the `scylla` driver) and Redis. No mocks.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use collectors::{Synthetic, SyntheticConfig};
use common::{CQL, KAFKA, REDIS, service_up, unique};
use model::Mention;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_round_trip_of_10k_mentions_through_a_consumer_group() {
    if !service_up("Kafka", KAFKA) {
        return;
    }
    let topic = unique("test_roundtrip");
    let admin: AdminClient<_> = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .expect("admin client");
    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, 4, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create_topics request");
    for r in created {
        r.expect("topic created");
    }

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .create()
        .expect("producer");
    let sent: Vec<Mention> = Synthetic::new(SyntheticConfig {
        seed: 7,
        ..Default::default()
    })
    .take(10_000)
    .collect();
    let payloads: Vec<Vec<u8>> = sent
        .iter()
        .map(|m| serde_json::to_vec(m).expect("serialise"))
        .collect();
    let mut acks = Vec::with_capacity(sent.len());
    for (m, payload) in sent.iter().zip(&payloads) {
        let record = FutureRecord::to(&topic)
            .key(m.id.as_bytes())
            .payload(payload);
        // send_result enqueues at once; `send` would only enqueue when awaited.
        acks.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueued"),
        );
    }
    for ack in acks {
        ack.await
            .expect("delivery reported")
            .expect("delivery acknowledged");
    }

    let group = unique("test_group");
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut got: HashMap<String, Mention> = HashMap::new();
    let mut deliveries = 0usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while got.len() < sent.len() {
        let msg = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out with {} of {} mentions", got.len(), sent.len()))
            .expect("consume");
        deliveries += 1;
        let m = Mention::decode(msg.payload().expect("payload"), Default::default())
            .expect("valid mention");
        assert_eq!(msg.key(), Some(m.id.as_bytes()), "keyed by mention id");
        got.insert(m.id.clone(), m);
    }
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit");
    assert_eq!(
        deliveries,
        sent.len(),
        "each mention delivered exactly once"
    );
    for m in &sent {
        assert_eq!(
            got.get(&m.id),
            Some(m),
            "mention {} arrived exactly as sent",
            m.id
        );
    }
    // The group's committed offsets cover every message.
    let committed = consumer
        .committed(Duration::from_secs(10))
        .expect("committed offsets");
    let total: i64 = committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            other => panic!(
                "partition {} has no committed offset: {other:?}",
                e.partition()
            ),
        })
        .sum();
    // Drop the list before the consumer: a live list makes the consumer's drop hang (STACK.md).
    drop(committed);
    assert_eq!(total, sent.len() as i64);
    admin
        .delete_topics(&[&topic], &AdminOptions::new())
        .await
        .expect("delete topic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cassandra_prepared_insert_reads_back_equal() {
    use scylla::client::session_builder::SessionBuilder;
    if !service_up("Cassandra", CQL) {
        return;
    }
    let session = SessionBuilder::new()
        .known_node(CQL)
        .build()
        .await
        .expect("connect to CQL");
    let ks = unique("test_ks");
    session
        .query_unpaged(
            format!("CREATE KEYSPACE {ks} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"),
            &[],
        )
        .await
        .expect("create keyspace");
    session
        .query_unpaged(
            format!(
                "CREATE TABLE {ks}.mentions (id text PRIMARY KEY, created_at timestamp, body text)"
            ),
            &[],
        )
        .await
        .expect("create table");
    let m = Synthetic::new(SyntheticConfig::default()).mention(42);
    let body = serde_json::to_string(&m).expect("serialise");
    let insert = session
        .prepare(format!(
            "INSERT INTO {ks}.mentions (id, created_at, body) VALUES (?, ?, ?)"
        ))
        .await
        .expect("prepare");
    session
        .execute_unpaged(&insert, (&m.id, m.created_at, &body))
        .await
        .expect("insert");
    let select = session
        .prepare(format!(
            "SELECT created_at, body FROM {ks}.mentions WHERE id = ?"
        ))
        .await
        .expect("prepare");
    let rows = session
        .execute_unpaged(&select, (&m.id,))
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows");
    let (created_at, back): (chrono::DateTime<chrono::Utc>, String) =
        rows.single_row().expect("one row");
    assert_eq!(created_at, m.created_at);
    let back: Mention = serde_json::from_str(&back).expect("stored JSON is a mention");
    assert_eq!(back, m);
    let missing = session
        .execute_unpaged(&select, ("no-such-id",))
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows");
    assert_eq!(missing.rows_num(), 0);
    session
        .query_unpaged(format!("DROP KEYSPACE {ks}"), &[])
        .await
        .expect("drop keyspace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_set_with_expiry_get_and_gone() {
    use redis::AsyncCommands;
    if !service_up("Redis", REDIS) {
        return;
    }
    let client = redis::Client::open(REDIS).expect("redis url");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let key = unique("test_key");
    let _: () = con.set_ex(&key, "hello", 60).await.expect("SET EX");
    let got: Option<String> = con.get(&key).await.expect("GET");
    assert_eq!(got.as_deref(), Some("hello"));
    let ttl: i64 = con.ttl(&key).await.expect("TTL");
    assert!((1..=60).contains(&ttl), "expiry set: {ttl}");
    // A short expiry really expires.
    let short = format!("{key}_short");
    let _: () = redis::cmd("SET")
        .arg(&short)
        .arg("bye")
        .arg("PX")
        .arg(150)
        .query_async(&mut con)
        .await
        .expect("SET PX");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let gone: Option<String> = con.get(&short).await.expect("GET after expiry");
    assert_eq!(gone, None, "an expired key reads as absent");
    let _: () = con.del(&key).await.expect("DEL");
    let gone: Option<String> = con.get(&key).await.expect("GET after DEL");
    assert_eq!(gone, None);
}
