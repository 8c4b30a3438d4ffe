//! What a benchmark run leaves on the shared services, and dropping it.
//!
//! A bench run writes hundreds of megabytes into keyspaces and topics of its own. Left behind,
//! they fill the development machine's disk run after run, and Cassandra, flushing and
//! compacting them, ran a later run's raw-store step at less than half its rate (14–17k
//! mentions/s with 180 leftover keyspaces, 33–62k on a clean one): a later comparison would
//! measure the leftovers.

use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

/// Whether a keyspace or topic name belongs to the run `prefix`: the prefix itself, or the
/// prefix followed by `_` or `.` (`bench_17_raw`, `bench_17.enriched`, not `bench_170`).
pub fn of_run(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['_', '.']))
}

/// Whether a keyspace or topic name is what a test run's `unique()` (`pipeline/tests/common`)
/// makes, `<prefix>_<pid>_<nanos>` with an optional `.<suffix>` for a topic, or a chaos or
/// `benches/e2e` round's (`chaos_<pid>_<n>`, `bench_<secs>_<round>`): what a test that does not
/// drop its own, fails or is interrupted leaves behind. On the development services
/// (`deploy/dev/services`, data under `.services/`) no one keeps data under such a name.
pub fn is_leftover(name: &str) -> bool {
    let base = name.split_once('.').map_or(name, |(b, _)| b);
    let mut parts = base.rsplitn(3, '_');
    let (Some(last), Some(middle), Some(prefix)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let number = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    number(last)
        && number(middle)
        && prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// What [`drop_runs`] or [`drop_leftovers`] dropped, and what it could not.
#[derive(Debug, Default)]
pub struct Dropped {
    pub keyspaces: Vec<String>,
    pub topics: Vec<String>,
    pub failures: Vec<String>,
}

/// Drops every keyspace and Kafka topic of the runs `prefixes` ([`of_run`]), on the services
/// `config` names. A prefix shorter than 4 characters, one that Cassandra's own keyspaces start
/// with, or one that looks like an option (`-…`) is refused before anything is dropped.
pub async fn drop_runs(
    config: &pipeline::config::Config,
    prefixes: &[&str],
) -> Result<Dropped, String> {
    if let Some(p) = prefixes
        .iter()
        .find(|p| p.len() < 4 || p.starts_with("system") || p.starts_with('-'))
    {
        return Err(format!(
            "refusing the prefix {p:?} (too short, Cassandra's own, or an option)"
        ));
    }
    drop_where(config, |name| prefixes.iter().any(|p| of_run(name, p))).await
}

/// Drops every keyspace and Kafka topic [`is_leftover`] names, except the ones `config` itself
/// uses: what earlier test runs left on a development machine's services, which keep their data
/// from one run to the next. Run only while no test or bench is running on those services.
pub async fn drop_leftovers(config: &pipeline::config::Config) -> Result<Dropped, String> {
    let k = &config.kafka;
    let own = [
        config.scylla.keyspace.as_str(),
        k.raw_topic.as_str(),
        k.enriched_topic.as_str(),
        k.dlq_topic.as_str(),
        k.alerts_topic.as_str(),
    ];
    drop_where(config, |name| is_leftover(name) && !own.contains(&name)).await
}

/// Drops the keyspaces and topics `ours` picks.
async fn drop_where(
    config: &pipeline::config::Config,
    ours: impl Fn(&str) -> bool,
) -> Result<Dropped, String> {
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
            Ok(_) => dropped.keyspaces.push(ks),
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
    let topics: Vec<&str> = metadata
        .topics()
        .iter()
        .map(|t| t.name())
        .filter(|t| ours(t))
        .collect();
    let deleted = pipeline::distributed::kafka::delete_topics(&config.kafka, &topics)
        .await
        .map_err(|e| e.to_string())?;
    dropped.topics = deleted.topics;
    dropped.failures.extend(deleted.refused);
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

    #[test]
    fn leftovers_are_the_names_tests_and_bench_rounds_make() {
        use super::is_leftover;
        for name in [
            "test_spill_10523_899169394",
            "provisional_21398_526511338",
            "test_rollup_race_7_12.raw",
            "e2e_30161_130845193.enriched",
            "chaos_24606_20000",
            "bench_1796566586_1",
        ] {
            assert!(is_leftover(name), "{name}");
        }
        for name in [
            "backchannel",
            "mentions.raw",
            "system_schema",
            "bench_1796566290",
            "bench_clients_28442",
            "prod_2026_x",
            "Test_1_2",
            "_1_2",
            "a__",
            "__consumer_offsets",
        ] {
            assert!(!is_leftover(name), "{name}");
        }
    }
}
