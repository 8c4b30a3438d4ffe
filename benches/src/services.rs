//! What a benchmark run leaves on the shared services, and dropping it.
//!
//! A bench run writes hundreds of megabytes into keyspaces and topics of its own. Left behind,
//! they fill the development machine's disk run after run, and Cassandra, flushing and
//! compacting them, ran a later run's raw-store step at less than half its rate (14–17k
//! mentions/s with 180 leftover keyspaces, 55–60k on a clean one): a later comparison would
//! measure the leftovers.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

/// Whether a keyspace or topic name belongs to the run `prefix`: the prefix itself, or the
/// prefix followed by `_` or `.` (`bench_17_raw`, `bench_17.enriched`, not `bench_170`).
pub fn of_run(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['_', '.']))
}

/// What [`drop_runs`] dropped, and what it could not.
#[derive(Debug, Default)]
pub struct Dropped {
    pub keyspaces: usize,
    pub topics: usize,
    pub failures: Vec<String>,
}

/// Drops every keyspace and Kafka topic of the runs `prefixes` ([`of_run`]), on the services
/// `config` names. A prefix shorter than 4 characters, or one that Cassandra's own keyspaces
/// start with, is refused before anything is dropped.
pub async fn drop_runs(
    config: &pipeline::config::Config,
    prefixes: &[&str],
) -> Result<Dropped, String> {
    if let Some(p) = prefixes
        .iter()
        .find(|p| p.len() < 4 || p.starts_with("system"))
    {
        return Err(format!(
            "refusing the prefix {p:?} (too short, or Cassandra's own)"
        ));
    }
    let ours = |name: &str| prefixes.iter().any(|p| of_run(name, p));
    let mut dropped = Dropped::default();

    let session = pipeline::distributed::scylla::connect(&config.scylla)
        .await
        .map_err(|e| format!("connecting to Cassandra: {e}"))?;
    let rows = session
        .query_unpaged("SELECT keyspace_name FROM system_schema.keyspaces", &[])
        .await
        .map_err(|e| format!("listing keyspaces: {e}"))?
        .into_rows_result()
        .map_err(|e| format!("listing keyspaces: {e}"))?;
    let keyspaces: Vec<String> = rows
        .rows::<(String,)>()
        .map_err(|e| format!("reading keyspace names: {e}"))?
        .filter_map(|r| r.ok().map(|(k,)| k))
        .filter(|k| ours(k))
        .collect();
    for ks in keyspaces {
        match session
            .query_unpaged(format!("DROP KEYSPACE IF EXISTS \"{ks}\""), &[])
            .await
        {
            Ok(_) => dropped.keyspaces += 1,
            Err(e) => dropped.failures.push(format!("keyspace {ks}: {e}")),
        }
    }

    let admin: AdminClient<DefaultClientContext> =
        pipeline::distributed::kafka::client_config(&config.kafka, ClientConfig::new())
            .map_err(|e| format!("Kafka client settings: {e}"))?
            .create()
            .map_err(|e| format!("creating a Kafka admin client: {e}"))?;
    let metadata = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .map_err(|e| format!("reading Kafka's topics: {e}"))?;
    let topics: Vec<String> = metadata
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|t| ours(t))
        .collect();
    if !topics.is_empty() {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let results = admin
            .delete_topics(&names, &AdminOptions::new())
            .await
            .map_err(|e| format!("deleting topics: {e}"))?;
        for r in results {
            match r {
                Ok(_) => dropped.topics += 1,
                Err((topic, code)) => dropped.failures.push(format!("topic {topic}: {code}")),
            }
        }
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::of_run;

    #[test]
    fn a_prefix_matches_its_runs_names_only() {
        assert!(of_run("bench_17", "bench_17"));
        assert!(of_run("bench_17_raw", "bench_17"));
        assert!(of_run("bench_17.raw", "bench_17"));
        assert!(of_run("bench_17_2.enriched", "bench_17"));
        // Another run whose number starts the same is not this run's.
        assert!(!of_run("bench_170", "bench_17"));
        assert!(!of_run("bench_170.raw", "bench_17"));
        assert!(!of_run("bench_1", "bench_17"));
        assert!(!of_run("other", "bench_17"));
    }
}
