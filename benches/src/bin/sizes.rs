//! Bytes per enriched mention in each form, on the real and synthetic corpora: the JSON form, the
//! compact record (Avro, what the enriched topic and ScyllaDB carry) and the compact record as
//! the embedded store keeps it (LZ4). Deterministic: the same build prints the same table.
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
        let (mut block, mut blocked) = (Vec::new(), 0usize);
        let mut dict = Vec::new();
        let mut dicted = 0usize;
        for (i, m) in mentions.iter().enumerate() {
            transforms::enrich_into(m, &mut record);
            raw += serde_json::to_vec(m).map_or(0, |v| v.len());
            json += serde_json::to_vec(&EnrichedRef::new(m, &record)).map_or(0, |v| v.len());
            buf.clear();
            transforms::avro::encode(m, &record, &[], &mut buf);
            compact += buf.len();
            packed += lz4_flex::compress_prepend_size(&buf).len();
            if dict.len() < 60_000 && i % 7 == 0 {
                dict.extend_from_slice(&buf);
            }
            dicted += lz4_flex::block::compress_prepend_size_with_dict(&buf, &dict).len();
            block.extend_from_slice(&buf);
            if i % 64 == 63 || i + 1 == mentions.len() {
                blocked += lz4_flex::compress_prepend_size(&block).len();
                block.clear();
            }
        }
        eprintln!(
            "{name}: LZ4 over blocks of 64: {} B, with a dictionary {} B",
            blocked / mentions.len(),
            dicted / mentions.len()
        );
        let n = mentions.len();
        println!(
            "{name:<10} {n:>8} {:>9} B {:>9} B {:>9} B {:>6.1}x   (LZ4 as stored: {} B)",
            raw / n,
            json / n,
            compact / n,
            json as f64 / compact as f64,
            packed / n
        );
    }
}
