//! The store as the limit (issue 11): the rows `benches/e2e`'s worker writes for N synthetic
//! mentions — each mention's compact record and its per-topic rows, of the same sizes, made by
//! the pipeline's own processing before the clock starts — upserted straight through the
//! `scylla` driver with the worker's session settings, concurrency (`scylla.max_concurrency`) and
//! request shape (mention rows that one replica owns together, one partition's topic rows of a
//! batch together), and
//! nothing else: no queue, no transforms, no dirty marks, no rollups, no publishing. What
//! the pipeline achieves is read against this rate.
//!
//! Reads the configuration the way `backchannel` does (BACKCHANNEL__… variables); the keyspace
//! must exist (`backchannel schema apply`). Prints `rawstore_rate=<mentions/s>` last.
//!
//! `target/release/rawstore [N (default 100000)]`

use std::time::Instant;

use futures_util::{StreamExt, stream};
use pipeline::aggregate::minute_of;
use pipeline::distributed::scylla::{
    MENTION_ROW_OVERHEAD, Pending, ROWS_PER_BATCH, replica_batches, upsert,
};
use pipeline::traits::{Delivery, Stored};
use scylla::value::MaybeUnset;

#[tokio::main]
async fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N mentions"))
        .unwrap_or(100_000);
    let config = pipeline::config::Config::load(None, std::env::vars()).expect("configuration");
    let ks = &config.scylla.keyspace;
    let concurrency = config.scylla.max_concurrency;

    // The rows first, off the clock: synthetic mentions through the pipeline's processing.
    let source = collectors::Synthetic::new(collectors::SyntheticConfig {
        seed: 7,
        ..Default::default()
    });
    let mut rows: Vec<Stored> = Vec::with_capacity(n as usize);
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let batch: Vec<Delivery> = chunk
            .iter()
            .map(|&i| Delivery::of_mention(&source.mention(i), 0, i as i64))
            .collect();
        rows.extend(
            pipeline::runtime::process_batch(batch, &Default::default(), None)
                .stored
                .iter()
                .cloned(),
        );
    }
    let topic_rows: usize = rows.iter().map(|s| s.topics.len()).sum();
    let bytes: usize = rows.iter().map(|s| s.record.len()).sum();

    let session = pipeline::distributed::scylla::connect(&config.scylla)
        .await
        .expect("connect");
    let prepare = |q: String| {
        let session = &session;
        async move {
            let mut p = session.prepare(q).await.expect("prepare");
            p.set_is_idempotent(true);
            p
        }
    };
    let insert_mention = prepare(format!(
        "INSERT INTO {ks}.mentions (id, source, created_at, fields_version, body) VALUES (?, ?, ?, ?, ?)"
    ))
    .await;
    let insert_by_topic = prepare(format!(
        "INSERT INTO {ks}.topic_mentions (topic, minute, bucket, created_at, id, sentiment, hashtags) \
         VALUES (?, ?, 0, ?, ?, ?, ?)"
    ))
    .await;

    // The worker's request shape: within each of its batches (`pipeline.batch_size` mentions),
    // mention rows grouped by the replica that owns them (`replica_batches`), and one partition's
    // topic rows as unlogged batches of at most `ROWS_PER_BATCH`.
    enum Write<'a> {
        Mentions(Vec<&'a Stored>),
        Topic(&'a str, Vec<&'a Stored>),
    }
    let mut writes_list: Vec<Write<'_>> = Vec::with_capacity(rows.len() * 2);
    for chunk in rows.chunks(config.batch_size()) {
        let mut partitions: Vec<((&str, i64), Vec<&Stored>)> = Vec::new();
        let mut index = std::collections::HashMap::new();
        let mentions = replica_batches(
            &session,
            &insert_mention,
            chunk.iter().collect(),
            |s| s.id.as_str(),
            |s| s.id.len() + s.record.len() + MENTION_ROW_OVERHEAD as usize,
        );
        writes_list.extend(mentions.into_iter().map(Write::Mentions));
        for s in chunk {
            for t in &s.topics {
                let key = (t.as_str(), minute_of(s.created_at).timestamp());
                let at = *index.entry(key).or_insert_with(|| {
                    partitions.push((key, Vec::new()));
                    partitions.len() - 1
                });
                partitions[at].1.push(s);
            }
        }
        for ((t, _), members) in partitions {
            for group in members.chunks(ROWS_PER_BATCH) {
                writes_list.push(Write::Topic(t, group.to_vec()));
            }
        }
    }
    let requests = writes_list.len();

    let started = Instant::now();
    let (by_mention, by_topic) = (&insert_mention, &insert_by_topic);
    let mut writes = stream::iter(writes_list)
        .map(|w| -> Pending<'_> {
            match w {
                Write::Mentions(group) => {
                    let values = group.iter().map(|s| {
                        (
                            &s.id,
                            s.source.as_str(),
                            s.created_at,
                            s.fields_version,
                            &s.record,
                        )
                    });
                    upsert(&session, by_mention, values.collect())
                }
                Write::Topic(t, group) => {
                    let values = group.iter().map(|s| {
                        (
                            t,
                            minute_of(s.created_at),
                            s.created_at,
                            &s.id,
                            // Unset, not null, as the worker binds it: no tombstone.
                            s.sentiment.map_or(MaybeUnset::Unset, MaybeUnset::Set),
                            &s.hashtags,
                        )
                    });
                    upsert(&session, by_topic, values.collect())
                }
            }
        })
        .buffer_unordered(concurrency);
    while let Some(r) = writes.next().await {
        r.expect("write");
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "raw store: {n} mentions ({} rows: {} mention rows of {:.0} B on average, {topic_rows} topic rows) \
         upserted in {requests} requests at concurrency {concurrency} in {wall:.1} s: {:.0} mentions/s, {:.0} rows/s",
        n as usize + topic_rows,
        n,
        bytes as f64 / n.max(1) as f64,
        n as f64 / wall,
        (n as usize + topic_rows) as f64 / wall
    );
    println!("rawstore_rate={:.0}", n as f64 / wall);
}
