//! Drops what benchmark runs left on the shared services: every keyspace and every Kafka topic
//! named `PREFIX`, `PREFIX_…` or `PREFIX.…`, for each prefix given (`benches::services`, which
//! says why). `benches/e2e` and `benches/reprocess` call it as they finish.
//!
//! Reads the configuration the way `backchannel` does (BACKCHANNEL__… variables) for the brokers
//! and the Cassandra nodes. Exits 1 when something could not be dropped, 2 on a refused prefix.
//!
//! `target/release/cleanrun PREFIX...`

#[tokio::main]
async fn main() {
    let prefixes: Vec<String> = std::env::args().skip(1).collect();
    if prefixes.is_empty() {
        eprintln!("usage: cleanrun PREFIX...");
        std::process::exit(2);
    }
    let config = pipeline::config::Config::load(None, std::env::vars()).expect("configuration");
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    match benches::services::drop_runs(&config, &refs).await {
        Ok(d) => {
            println!(
                "cleanrun: dropped {} keyspaces and {} topics",
                d.keyspaces, d.topics
            );
            for f in &d.failures {
                eprintln!("cleanrun: could not drop {f}");
            }
            if !d.failures.is_empty() {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("cleanrun: {e}");
            std::process::exit(2);
        }
    }
}
