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
    }
}
