//! The embedded pipeline (`backchannel run`) end to end: every produced mention is stored, at a
//! limited rate (batches linger while transforms finish: the case that once lost messages when a
//! poll was interrupted) and at full speed.

use pipeline::cmd::run::{self as local, RunOptions};
use pipeline::config::Config;

fn config(dir: &std::path::Path) -> Config {
    let vars = vec![
        (
            "BACKCHANNEL__EMBEDDED__DATA_DIR".to_owned(),
            dir.display().to_string(),
        ),
        ("BACKCHANNEL__METRICS__LISTEN".to_owned(), String::new()),
        ("BACKCHANNEL__API__LISTEN".to_owned(), String::new()),
    ];
    Config::load(None, vars).expect("config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mention_is_stored_at_a_limited_rate_and_at_full_speed() {
    for (rate, limit) in [(5_000, 15_000), (0, 20_000)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = RunOptions {
            rate,
            limit: Some(limit),
            duration: None,
            seed: 3,
            status: false,
            reprocess: false,
        };
        let snap = local::run(&config(dir.path()), opts).await.expect("run");
        assert_eq!(
            (snap.produced, snap.received, snap.stored),
            (limit, limit, limit),
            "rate {rate}"
        );
        let store = pipeline::embedded::RedbStore::open(dir.path()).expect("reopen");
        assert_eq!(store.count().expect("count"), limit);
        let m = pipeline::traits::Store::get(&store, &format!("synthetic:3-{}", limit - 1))
            .await
            .expect("get");
        let mut json = Vec::new();
        transforms::avro::Layout::current()
            .to_json(&m.expect("last mention stored"), &mut json)
            .expect("a compact record");
        let enriched: model::EnrichedMention = serde_json::from_slice(&json).expect("json");
        assert!(enriched.fields.len() > 200);
        assert_eq!(enriched.mention.id, format!("synthetic:3-{}", limit - 1));
        assert!(
            enriched.cluster_id.is_some(),
            "placed in a near-duplicate cluster"
        );
    }
}

/// `run --reprocess`: mentions an older catalogue stored in the data directory are brought up
/// to the running one by the same process that takes live traffic (which holds the store's
/// file, so a separate `backchannel reprocess` could not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_reprocess_brings_stored_mentions_up_to_date_beside_live_traffic() {
    use pipeline::traits::Store;
    let dir = tempfile::tempdir().expect("tempdir");
    let old = 1_000;
    {
        let store = pipeline::embedded::RedbStore::open(dir.path()).expect("open");
        pipeline::codec::Codec::register(&store)
            .await
            .expect("schema");
        let source = collectors::Synthetic::new(collectors::SyntheticConfig {
            seed: 9,
            ..Default::default()
        });
        let deliveries = (0..old)
            .map(|i| pipeline::traits::Delivery::of_mention(&source.mention(i), 0, i as i64))
            .collect();
        let stored: Vec<pipeline::traits::Stored> =
            pipeline::runtime::process_batch(deliveries, &Default::default(), None)
                .stored
                .iter()
                .map(|s| {
                    // Clustered on arrival; a rewrite keeps that cluster.
                    let mut record = s.record.clone();
                    assert!(transforms::avro::set_cluster(&mut record, "cluster-of-old"));
                    pipeline::traits::Stored {
                        record: transforms::avro::restamp(&record, "293.0ld").expect("record"),
                        ..s.clone()
                    }
                })
                .collect();
        store
            .write(&std::sync::Arc::from(stored))
            .await
            .expect("write");
    }
    let opts = RunOptions {
        rate: 4_000,
        limit: Some(12_000),
        duration: None,
        seed: 3,
        status: false,
        reprocess: true,
    };
    let config = config(dir.path());
    let snap = local::run(&config, opts).await.expect("run");
    assert_eq!(snap.stored, 12_000);
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("reprocess.json")).expect("checkpoint"),
    )
    .expect("json");
    assert_eq!(saved["done"], true, "{saved}");
    assert_eq!(saved["rewritten"], old, "{saved}");

    let store = pipeline::embedded::RedbStore::open(dir.path()).expect("reopen");
    let codec = pipeline::codec::Codec::default();
    let (mut after, mut seen) = (None, 0);
    loop {
        let page = store.scan(after.as_deref(), 1_000).await.expect("scan");
        for (id, record) in &page.rows {
            let json: serde_json::Value =
                serde_json::from_slice(&codec.to_json(&store, record).await.expect("decodes"))
                    .expect("json");
            assert_eq!(
                json["fields_version"].as_str(),
                Some(transforms::registry().version.as_str()),
                "{id}"
            );
            let cluster = json["cluster_id"].as_str();
            if id.starts_with("synthetic:9-") {
                assert_eq!(cluster, Some("cluster-of-old"), "{id}");
            } else {
                assert!(
                    cluster.is_some_and(|c| c.starts_with("synthetic:3-")),
                    "{id}"
                );
            }
            seen += 1;
        }
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, 12_000 + old);
}
