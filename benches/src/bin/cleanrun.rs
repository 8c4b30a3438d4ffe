//! Drops what benchmark runs left on the shared services: every keyspace and every Kafka topic
//! named `PREFIX`, `PREFIX_…` or `PREFIX.…`, for each prefix given (`benches::services`, which
//! says why). `benches/e2e` and `benches/reprocess` call it as they finish.
//!
//! `--leftovers` instead drops every keyspace and topic named as test runs name theirs
//! (`<prefix>_<pid>_<nanos>`, `benches::services::is_leftover`), except the configuration's own:
//! `deploy/dev/test` runs it before the tests, so repeated local runs on services that keep their
//! data do not pile up what earlier runs left.
//!
//! Reads the configuration the way `backchannel` does (BACKCHANNEL__… variables) for the brokers
//! and the Cassandra nodes. Exits 1 when something could not be dropped, 2 on a refused prefix.
//!
//! `target/release/cleanrun PREFIX...` or `target/release/cleanrun --leftovers`

#[tokio::main]
async fn main() {
    let prefixes: Vec<String> = std::env::args().skip(1).collect();
    if prefixes.is_empty() {
        eprintln!("usage: cleanrun PREFIX... | cleanrun --leftovers");
        std::process::exit(2);
    }
    let config = pipeline::config::Config::load(None, std::env::vars()).expect("configuration");
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let leftovers = refs == ["--leftovers"];
    let dropped = if leftovers {
        benches::services::drop_leftovers(&config).await
    } else {
        benches::services::drop_runs(&config, &refs).await
    };
    match dropped {
        Ok(d) => {
            println!(
                "cleanrun: dropped {} keyspaces and {} topics",
                d.keyspaces.len(),
                d.topics.len()
            );
            if leftovers && !d.keyspaces.is_empty() {
                println!("cleanrun: keyspaces {}", d.keyspaces.join(" "));
            }
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
