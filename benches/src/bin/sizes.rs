//! Bytes per enriched mention in each form, on the real and synthetic corpora: the JSON form, the
//! compact record (Avro, what the enriched topic and ScyllaDB carry) and the compact record
//! LZ4-compressed alone. Deterministic: the same build prints the same table.
//!
//! Then the embedded store on disk: 100,000 mentions of each corpus (the corpus over and over,
//! each pass under new ids) written through the pipeline's own processing into a fresh store in
//! the embedded batch, and the bytes its file takes on disk (allocated blocks, as `du` counts
//! them) and its live keys and values, per mention.
//!
//! ```text
//! cargo run --release -p benches --bin sizes
//! ```

use transforms::{EnrichedRef, Record};

fn main() {
    println!(
        "{:<10} {:>8} {:>11} {:>11} {:>11} {:>7}",
        "corpus", "mentions", "raw JSON", "JSON", "compact", "ratio"
    );
    for name in ["real", "synthetic"] {
        let mentions = benches::corpus(name).expect("a known corpus");
        let mut record = Record::new();
        let (mut raw, mut json, mut compact, mut packed) = (0usize, 0usize, 0usize, 0usize);
        let mut buf = Vec::new();
        for m in &mentions {
            transforms::enrich_into(m, &mut record);
            raw += serde_json::to_vec(m).map_or(0, |v| v.len());
            json += serde_json::to_vec(&EnrichedRef::new(m, &record)).map_or(0, |v| v.len());
            buf.clear();
            transforms::avro::encode(m, &record, &[], &mut buf);
            compact += buf.len();
            packed += lz4_flex::compress_prepend_size(&buf).len();
        }
        let n = mentions.len();
        println!(
            "{name:<10} {n:>8} {:>9} B {:>9} B {:>9} B {:>6.1}x   (LZ4 alone: {} B)",
            raw / n,
            json / n,
            compact / n,
            json as f64 / compact as f64,
            packed / n
        );
    }
    println!();
    println!(
        "{:<10} {:>8} {:>13} {:>13}",
        "embedded", "mentions", "file on disk", "live data"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    for name in ["real", "synthetic"] {
        let mentions = benches::corpus(name).expect("a known corpus");
        let (file, live) = runtime.block_on(on_disk(&mentions, ON_DISK));
        println!(
            "{name:<10} {ON_DISK:>8} {:>11} B {:>11} B",
            file / ON_DISK as u64,
            live / ON_DISK as u64
        );
    }
}

/// Mentions written into the embedded store for its figures.
const ON_DISK: usize = 100_000;

/// Writes `n` mentions (the corpus over and over) into a fresh embedded store as the running
/// pipeline does; returns its file's bytes on disk and its live bytes.
async fn on_disk(corpus: &[model::Mention], n: usize) -> (u64, u64) {
    use pipeline::traits::{Delivery, Store};
    use std::os::unix::fs::MetadataExt;
    let dir = std::env::temp_dir().join(format!("backchannel-sizes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The embedded defaults: a durable commit per batch, no retention within 100,000 mentions.
    let store = pipeline::embedded::RedbStore::open(&dir).expect("a store");
    let ids: Vec<usize> = (0..n).collect();
    for chunk in ids.chunks(pipeline::config::EMBEDDED_BATCH) {
        let batch: Vec<Delivery> = chunk
            .iter()
            .map(|&i| {
                let mut m = corpus[i % corpus.len()].clone();
                m.id = format!("{}#{}", m.id, i / corpus.len());
                Delivery::of_mention(&m, 0, i as i64)
            })
            .collect();
        let processed = pipeline::runtime::process_batch(batch, &Default::default(), None);
        store.write(&processed.stored).await.expect("write");
    }
    store.sync().expect("sync");
    let live = store.live_bytes().expect("live bytes");
    let file = std::fs::metadata(dir.join("backchannel.redb"))
        .expect("the store's file")
        .blocks()
        * 512;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    (file, live)
}
