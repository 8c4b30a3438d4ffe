//! `backchannel doctor`: the checks an operator would otherwise run by hand before (or instead
//! of) starting a worker, each printed as one line — `OK`, `WARN` or `FAIL`, what was found and,
//! when it is not OK, what to do. Exit status 1 on any FAIL.
//!
//! Every check reads, none writes: doctor may run beside live workers and against production.
//! A check that cannot run because an earlier one failed (no session, no broker) is skipped
//! rather than failed twice.

use std::time::Duration;

use ::scylla::client::session::Session;
use rdkafka::ClientConfig;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::config::{Config, Mode};
use crate::distributed::scylla;
use crate::error::Result;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// One check's finding, printed as one line.
#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub check: &'static str,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.level {
            Level::Ok => "OK  ",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        write!(f, "{level} {}: {}", self.check, self.message)
    }
}

fn finding(level: Level, check: &'static str, message: impl Into<String>) -> Finding {
    Finding {
        level,
        check,
        message: message.into(),
    }
}

/// A clock further than this from Cassandra's is worth a warning (rollup marks allow one bucket
/// of slack; TTLs and freshness figures drift), and this far a failure.
const SKEW_WARN: Duration = Duration::from_secs(1);
const SKEW_FAIL: Duration = Duration::from_secs(30);
/// How long each network check waits.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Runs every check for `config` (or reports why it did not load), printing each finding as it
/// comes. Returns the findings; the caller exits non-zero if any is a FAIL.
pub async fn main(config: Result<Config>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut note = |f: Finding| {
        println!("{f}");
        out.push(f);
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            note(finding(
                Level::Fail,
                "config",
                format!("{e}; fix that key (deploy/config/defaults.toml documents every key)"),
            ));
            return out;
        }
    };
    match config.pipeline.mode {
        Mode::Embedded => {
            note(finding(Level::Ok, "config", "valid; mode embedded"));
            note(data_dir(&config));
        }
        Mode::Distributed => {
            note(finding(Level::Ok, "config", "valid; mode distributed"));
            for f in kafka(&config).await {
                note(f);
            }
            match cassandra(&config).await {
                Ok(session) => {
                    note(finding(
                        Level::Ok,
                        "cassandra",
                        format!("connected to {:?}", config.scylla.nodes),
                    ));
                    note(schema(&session, &config).await);
                    note(clock_skew(&session).await);
                }
                Err(f) => note(f),
            }
            note(redis(&config).await);
        }
    }
    out
}

/// The embedded store's directory exists (or can be created) and is writable.
fn data_dir(config: &Config) -> Finding {
    let dir = std::path::Path::new(&config.embedded.data_dir);
    let probe = dir.join(".doctor-probe");
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b"ok"))
        .and_then(|()| std::fs::remove_file(&probe));
    match written {
        Err(e) => finding(
            Level::Fail,
            "data_dir",
            format!(
                "cannot write in {}: {e}; fix its permissions or set embedded.data_dir",
                dir.display()
            ),
        ),
        Ok(()) => {
            let store = dir.join("backchannel.redb");
            let size = std::fs::metadata(&store).map_or(0, |m| m.len());
            finding(
                Level::Ok,
                "data_dir",
                format!(
                    "{} is writable; store file {} MiB (budget embedded.max_store_bytes = {})",
                    dir.display(),
                    size / (1 << 20),
                    config.embedded.max_store_bytes
                ),
            )
        }
    }
}

/// The brokers answer, and the three topics exist with the partitions and replication the
/// configuration asks for.
async fn kafka(config: &Config) -> Vec<Finding> {
    let k = &config.kafka;
    // The workers' own client settings: brokers, TLS, SASL and `[kafka.properties]`.
    let admin: AdminClient<DefaultClientContext> =
        match crate::distributed::kafka::client_config(k, ClientConfig::new()).and_then(|c| {
            c.create()
                .map_err(|e| crate::error::Error::queue("creating the client", e))
        }) {
            Ok(a) => a,
            Err(e) => {
                return vec![finding(
                    Level::Fail,
                    "kafka",
                    format!(
                        "cannot create a client for kafka.brokers = {:?}: {e}",
                        k.brokers
                    ),
                )];
            }
        };
    let md = tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(None, TIMEOUT)).await;
    let md = match md {
        Ok(Ok(md)) => md,
        Ok(Err(e)) => {
            return vec![finding(
                Level::Fail,
                "kafka",
                format!(
                    "no broker answered at {} within {TIMEOUT:?}: {e}; start Kafka or fix kafka.brokers",
                    k.brokers
                ),
            )];
        }
        Err(e) => return vec![finding(Level::Fail, "kafka", format!("metadata task: {e}"))],
    };
    let mut out = vec![finding(
        Level::Ok,
        "kafka",
        format!("{} broker(s) answered at {}", md.brokers().len(), k.brokers),
    )];
    for name in [
        &k.raw_topic,
        &k.enriched_topic,
        &k.dlq_topic,
        &k.alerts_topic,
    ] {
        let topic = md
            .topics()
            .iter()
            .find(|t| t.name() == name && t.error().is_none() && !t.partitions().is_empty());
        let Some(topic) = topic else {
            let shape = format!(
                "{} partitions and replication {}",
                k.partitions, k.replication_factor
            );
            let (level, what) = if k.create_topics {
                (
                    Level::Warn,
                    format!(
                        "a starting worker creates it with {shape} (kafka.create_topics = true)"
                    ),
                )
            } else {
                (
                    Level::Fail,
                    format!("create it with {shape}, or set kafka.create_topics = true"),
                )
            };
            out.push(finding(
                level,
                "topic",
                format!("{name} does not exist; {what}"),
            ));
            continue;
        };
        let partitions = topic.partitions().len();
        let replication = topic
            .partitions()
            .iter()
            .map(|p| p.replicas().len())
            .min()
            .unwrap_or(0);
        let wanted = usize::try_from(k.replication_factor).unwrap_or(0);
        let (level, advice) = if replication < wanted {
            (
                Level::Warn,
                format!(
                    "; kafka.replication_factor asks for {wanted}: a broker loss can lose data (reassign replicas)"
                ),
            )
        } else {
            (Level::Ok, String::new())
        };
        out.push(finding(
            level,
            "topic",
            format!("{name}: {partitions} partitions, replication {replication}{advice}"),
        ));
    }
    out
}

async fn cassandra(config: &Config) -> std::result::Result<Session, Finding> {
    match tokio::time::timeout(TIMEOUT * 2, scylla::connect(&config.scylla)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(finding(
            Level::Fail,
            "cassandra",
            format!("{e}; start ScyllaDB/Cassandra or fix scylla.nodes and its credentials"),
        )),
        Err(_) => Err(finding(
            Level::Fail,
            "cassandra",
            format!(
                "no answer from {:?} within {:?}",
                config.scylla.nodes,
                TIMEOUT * 2
            ),
        )),
    }
}

/// The tables `schema apply` creates, from its own statements.
fn expected_tables(config: &Config) -> Result<Vec<String>> {
    let params = scylla::SchemaParams::from_config(&config.scylla)?;
    let prefix = format!("{}.", config.scylla.keyspace);
    Ok(scylla::schema_statements(&params)
        .iter()
        .filter_map(|s| {
            let rest = s.split("CREATE TABLE IF NOT EXISTS ").nth(1)?;
            let name = rest.split_whitespace().next()?;
            Some(name.strip_prefix(&prefix)?.to_owned())
        })
        .collect())
}

/// The keyspace exists and holds every table `schema apply` creates.
async fn schema(session: &Session, config: &Config) -> Finding {
    let ks = &config.scylla.keyspace;
    let expected = match expected_tables(config) {
        Ok(t) => t,
        Err(e) => return finding(Level::Fail, "schema", e.to_string()),
    };
    let rows = session
        .query_unpaged(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
            // Unquoted in the schema, the name is folded to lower case.
            (ks.to_ascii_lowercase(),),
        )
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.into_rows_result().map_err(|e| e.to_string()))
        .and_then(|r| {
            r.rows::<(String,)>()
                .map_err(|e| e.to_string())?
                .map(|row| row.map(|(t,)| t).map_err(|e| e.to_string()))
                .collect::<std::result::Result<Vec<String>, String>>()
        });
    let tables = match rows {
        Ok(t) => t,
        Err(e) => return finding(Level::Fail, "schema", format!("reading system_schema: {e}")),
    };
    if tables.is_empty() {
        return finding(
            Level::Fail,
            "schema",
            format!(
                "keyspace {ks} does not exist (or has no tables); run `backchannel schema apply`"
            ),
        );
    }
    let missing: Vec<&String> = expected.iter().filter(|t| !tables.contains(t)).collect();
    if missing.is_empty() {
        // Tables an older build created lack the columns added since; this build's statements
        // name them, so workers would not start.
        let columns = match scylla::missing_columns(session, &ks.to_ascii_lowercase()).await {
            Ok(c) => c,
            Err(e) => {
                return finding(Level::Fail, "schema", format!("reading system_schema: {e}"));
            }
        };
        if !columns.is_empty() {
            let named: Vec<String> = columns.iter().map(|(t, c, _)| format!("{t}.{c}")).collect();
            return finding(
                Level::Fail,
                "schema",
                format!(
                    "keyspace {ks} was created by an older build and lacks {}; run `backchannel schema apply` before starting workers",
                    named.join(", ")
                ),
            );
        }
        finding(
            Level::Ok,
            "schema",
            format!("keyspace {ks} has all {} tables", expected.len()),
        )
    } else {
        finding(
            Level::Fail,
            "schema",
            format!(
                "keyspace {ks} lacks tables {missing:?}; run `backchannel schema apply` (it only adds what is missing)"
            ),
        )
    }
}

/// This machine's clock against the Cassandra coordinator's, to within the round trip.
async fn clock_skew(session: &Session) -> Finding {
    let before = chrono::Utc::now();
    let answer = session
        .query_unpaged("SELECT toUnixTimestamp(now()) FROM system.local", &[])
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.into_rows_result().map_err(|e| e.to_string()))
        .and_then(|r| r.single_row::<(i64,)>().map_err(|e| e.to_string()));
    let after = chrono::Utc::now();
    let theirs = match answer {
        Ok((t,)) => t,
        Err(e) => {
            return finding(
                Level::Warn,
                "clock",
                format!("could not read the time: {e}"),
            );
        }
    };
    let ours = before.timestamp_millis() + (after - before).num_milliseconds() / 2;
    let skew = Duration::from_millis((theirs - ours).unsigned_abs());
    let message = format!(
        "{} ms {} Cassandra",
        skew.as_millis(),
        if theirs > ours { "behind" } else { "ahead of" }
    );
    if skew >= SKEW_FAIL {
        finding(
            Level::Fail,
            "clock",
            format!("{message}; fix NTP (chrony/systemd-timesyncd) here or on the node"),
        )
    } else if skew >= SKEW_WARN {
        finding(
            Level::Warn,
            "clock",
            format!("{message}; check NTP: rollups and freshness figures assume synced clocks"),
        )
    } else {
        finding(Level::Ok, "clock", message)
    }
}

/// Redis answers PING within the timeout.
async fn redis(config: &Config) -> Finding {
    let url = &config.redis.url;
    let ca = &config.redis.ca_file;
    let ca = Some(std::path::Path::new(ca)).filter(|p| !p.as_os_str().is_empty());
    let client = match crate::distributed::redis_cache::client(url, ca) {
        Ok(c) => c,
        Err(e) => return finding(Level::Fail, "redis", e.to_string()),
    };
    let ping = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(TIMEOUT, ping).await {
        Ok(Ok(_)) => finding(Level::Ok, "redis", format!("PING answered at {url}")),
        Ok(Err(e)) => finding(
            Level::Fail,
            "redis",
            format!("{e}; start Redis or fix redis.url (workers run without it, slower to read)"),
        ),
        Err(_) => finding(
            Level::Fail,
            "redis",
            format!("no answer from {url} within {TIMEOUT:?}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_tables_come_from_the_schema() {
        let config = Config::load(None, Vec::new()).expect("defaults");
        let tables = expected_tables(&config).expect("tables");
        for t in [
            "mentions",
            "topic_mentions",
            "topic_minute_stats",
            "tenants",
        ] {
            assert!(tables.iter().any(|x| x == t), "{t} missing from {tables:?}");
        }
    }

    #[test]
    fn a_bad_config_is_one_plain_fail() {
        let bad = Config::load(
            None,
            [(
                "BACKCHANNEL__PIPELINE__IN_FLIGHT_BATCHES".into(),
                "0".into(),
            )],
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let out = rt.block_on(main(bad));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].level, Level::Fail);
        assert!(
            out[0].to_string().starts_with("FAIL config: "),
            "{}",
            out[0]
        );
    }
}
