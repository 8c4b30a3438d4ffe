//! The store as the limit (issue 11): the rows `benches/e2e`'s worker writes for N synthetic
//! mentions — each mention's compact record and its per-topic rows, of the same sizes, made by
//! the pipeline's own processing before the clock starts — upserted straight through the
//! `scylla` driver with the worker's session settings and concurrency (`scylla.max_concurrency`),
//! and nothing else: no queue, no transforms, no dirty marks, no rollups, no publishing. What
//! the pipeline achieves is read against this rate.
//!
//! Reads the configuration the way `backchannel` does (BACKCHANNEL__… variables); the keyspace
//! must exist (`backchannel schema apply`). Prints `rawstore_rate=<mentions/s>` last.
//!
//! `target/release/rawstore [N (default 100000)]`

use std::time::Instant;

use futures_util::{StreamExt, stream};
use pipeline::aggregate::minute_of;
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
        "INSERT INTO {ks}.mentions_by_topic (topic, minute, created_at, id, sentiment, hashtags) \
         VALUES (?, ?, ?, ?, ?, ?)"
    ))
    .await;

    let started = Instant::now();
    let (by_mention, by_topic) = (&insert_mention, &insert_by_topic);
    let statements = rows.iter().flat_map(|s| {
        std::iter::once((by_mention, s, None))
            .chain(s.topics.iter().map(move |t| (by_topic, s, Some(t))))
    });
    let mut writes = stream::iter(statements)
        .map(|(st, s, topic)| {
            let session = &session;
            async move {
                match topic {
                    None => session
                        .execute_unpaged(
                            st,
                            (
                                &s.id,
                                s.source.as_str(),
                                s.created_at,
                                s.fields_version,
                                &s.record,
                            ),
                        )
                        .await
                        .map(|_| ()),
                    Some(t) => session
                        .execute_unpaged(
                            st,
                            (
                                t,
                                minute_of(s.created_at),
                                s.created_at,
                                &s.id,
                                // Unset, not null, as the worker binds it: no tombstone.
                                s.sentiment.map_or(MaybeUnset::Unset, MaybeUnset::Set),
                                &s.hashtags,
                            ),
                        )
                        .await
                        .map(|_| ()),
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
         upserted at concurrency {concurrency} in {wall:.1} s: {:.0} mentions/s, {:.0} rows/s",
        n as usize + topic_rows,
        n,
        bytes as f64 / n.max(1) as f64,
        n as f64 / wall,
        (n as usize + topic_rows) as f64 / wall
    );
    println!("rawstore_rate={:.0}", n as f64 / wall);
}
