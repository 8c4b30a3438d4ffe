//! Configuration: one TOML file, defaults embedded, every key overridable by an environment
//! variable `BACKCHANNEL__<SECTION>__<KEY>` (e.g. `BACKCHANNEL__PIPELINE__BATCH_SIZE=1024`).
//!
//! Loading is raw TOML → overrides → typed `Config` (unknown keys rejected) → [`Config::validate`],
//! so a bad config fails at start with a message naming the key and what it expected. Secrets
//! (passwords) are read from the environment or a file named in the config, never from argv.
//!
//! The layering is hand-written rather than figment's: an override's type comes from the
//! default at its key (`GROUP_ID=123` stays the string "123", `SCYLLA__NODES=a,b` becomes a list),
//! and a variable naming no key fails at start naming the variable. figment's `Env` provider
//! types each value on its own and takes lists only as `[a, b]`, so keeping those rules would
//! mean a custom provider that reads the defaults: this code again, behind another crate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

mod security;
pub use security::{SaslMechanism, SecurityProtocol, kafka_properties, readable, secret};

/// The defaults, also the documented reference of every key.
pub const DEFAULTS: &str = include_str!("../../deploy/config/defaults.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub pipeline: PipelineConfig,
    pub embedded: EmbeddedConfig,
    pub kafka: KafkaConfig,
    pub scylla: ScyllaConfig,
    pub redis: RedisConfig,
    pub metrics: MetricsConfig,
    pub api: crate::api::ApiConfig,
    pub alerts: AlertsConfig,
    pub collect: CollectConfig,
    /// Configured collectors by name (the name keys their checkpoint); see `backchannel sources`.
    #[serde(default)]
    pub collectors: std::collections::BTreeMap<String, collectors::SourceConfig>,
}

/// The `[alerts]` section (see `deploy/config/defaults.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    pub enabled: bool,
    pub every: String,
    pub settle: String,
    pub history: String,
    pub stale: String,
    pub shards: i32,
    pub lease_ttl: String,
    pub webhook_timeout: String,
    pub webhook_attempts: u32,
    pub webhook_concurrency: usize,
    /// Whether webhooks may be at loopback, private and other non-public addresses.
    #[serde(default)]
    pub webhook_private_addresses: bool,
    #[serde(default)]
    pub detector: crate::alerts::detect::DetectorConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectConfig {
    pub checkpoint_dir: PathBuf,
    pub max_in_flight: usize,
}

/// Which set of services the pipeline runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Embedded,
    Distributed,
}

/// The embedded mode's batch: each batch is one transaction of the store, and its commit (the
/// pages written, the fsync) is paid per batch. `benches/overhead`-style runs (`run --limit 200000
/// --rate 0`, four interleaved rounds) cost 67.5 µs of CPU per mention at 512, 62.8 at 1,024 and
/// 58.3 at 2,048; 4,096 and 8,192 gained little more.
pub const EMBEDDED_BATCH: usize = 2048;

/// The distributed worker's batch: larger ones did not lower its CPU per mention in
/// `benches/e2e` (75.8 and 77.1 µs at 512, 79.1 and 95.9 at 2,048), and they lengthen a
/// redelivery.
pub const DISTRIBUTED_BATCH: usize = 512;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    pub mode: Mode,
    pub batch_size: usize,
    pub batch_linger: String,
    pub in_flight_batches: usize,
    pub cpu_workers: usize,
    pub max_message_bytes: usize,
    pub max_json_depth: usize,
    pub max_id_bytes: usize,
    pub max_matches: usize,
    pub max_highlights: usize,
    pub max_record_bytes: String,
    pub max_in_flight_bytes: String,
    pub enriched_format: EnrichedFormat,
    pub cluster_window: String,
}

/// How enriched mentions are written to the enriched topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrichedFormat {
    /// Single-object encoded Avro under `deploy/schema/enriched.avsc`.
    Avro,
    /// The EnrichedMention JSON.
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedConfig {
    pub data_dir: PathBuf,
    pub queue_capacity: usize,
    pub sync_interval: String,
    pub cache_ttl: String,
    pub cache_bytes: String,
    pub store_cache_bytes: String,
    pub retention: String,
    pub max_store_bytes: String,
    pub retention_interval: String,
    pub dead_letter_max_bytes: String,
    pub cluster_bytes: String,
}

/// The embedded settings with durations and sizes parsed.
#[derive(Debug, Clone)]
pub struct EmbeddedSettings {
    pub sync_interval: Duration,
    pub cache_ttl: Duration,
    pub cache_bytes: u64,
    pub store_cache_bytes: u64,
    pub retention: Duration,
    pub max_store_bytes: u64,
    pub retention_interval: Duration,
    pub dead_letter_max_bytes: u64,
    pub cluster_bytes: u64,
}

impl EmbeddedConfig {
    /// Parses durations and sizes; every error names its key.
    pub fn settings(&self) -> Result<EmbeddedSettings> {
        Ok(EmbeddedSettings {
            sync_interval: duration("embedded.sync_interval", &self.sync_interval)?,
            cache_ttl: duration("embedded.cache_ttl", &self.cache_ttl)?,
            cache_bytes: size("embedded.cache_bytes", &self.cache_bytes)?,
            store_cache_bytes: size("embedded.store_cache_bytes", &self.store_cache_bytes)?,
            retention: duration("embedded.retention", &self.retention)?,
            max_store_bytes: size("embedded.max_store_bytes", &self.max_store_bytes)?,
            retention_interval: duration("embedded.retention_interval", &self.retention_interval)?,
            dead_letter_max_bytes: size(
                "embedded.dead_letter_max_bytes",
                &self.dead_letter_max_bytes,
            )?,
            cluster_bytes: size("embedded.cluster_bytes", &self.cluster_bytes)?,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    pub brokers: String,
    pub group_id: String,
    pub raw_topic: String,
    pub enriched_topic: String,
    pub dlq_topic: String,
    pub alerts_topic: String,
    pub message_max_bytes: usize,
    pub max_poll_interval: String,
    pub create_topics: bool,
    pub partitions: i32,
    pub replication_factor: i32,
    /// How clients reach the brokers: plaintext, ssl, sasl_plaintext or sasl_ssl.
    pub security_protocol: SecurityProtocol,
    /// With the `sasl_*` protocols: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    pub sasl_mechanism: SaslMechanism,
    pub sasl_username: String,
    /// Name of the environment variable holding the SASL password (never the password itself).
    pub sasl_password_env: String,
    /// A file whose content is the SASL password, if set (wins over the variable).
    pub sasl_password_file: String,
    /// PEM file of the CA(s) that signed the brokers' certificates; empty: the system's roots.
    pub ssl_ca_file: String,
    /// PEM client certificate and key for brokers that require mutual TLS.
    pub ssl_cert_file: String,
    pub ssl_key_file: String,
    /// Expert: further librdkafka properties, passed through as given (after ours).
    #[serde(default)]
    pub properties: std::collections::BTreeMap<String, toml::Value>,
}

impl KafkaConfig {
    /// `kafka.max_poll_interval`, validated at load.
    pub fn max_poll_interval(&self) -> Duration {
        duration("kafka.max_poll_interval", &self.max_poll_interval)
            .unwrap_or(Duration::from_secs(600))
    }
}

/// Room a record needs on top of its payload: key (≤ `pipeline.max_id_bytes`, 1 KiB by default),
/// headers, Kafka's record overhead.
pub const RECORD_HEADROOM: usize = 16 * 1024;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScyllaConfig {
    pub nodes: Vec<String>,
    pub keyspace: String,
    pub replication_factor: u32,
    pub username: String,
    /// Name of the environment variable holding the password (never the password itself).
    pub password_env: String,
    /// A file whose content is the password, if set.
    pub password_file: String,
    pub max_concurrency: usize,
    pub request_timeout: String,
    pub retention: String,
    pub stats_retention: String,
    /// Size a `topic_mentions` partition is kept near: hot topics are spread over more buckets.
    pub partition_target_bytes: String,
    /// Mentions per second the deployment is built for: `schema apply` plans a new keyspace's
    /// first minutes for it (0: no plan).
    pub expected_rate: u64,
    /// PEM CA file to check the nodes' certificates against; set, CQL goes over TLS.
    pub tls_ca_file: String,
    /// PEM client certificate and key, for nodes that require client certificates.
    pub tls_cert_file: String,
    pub tls_key_file: String,
    /// The name every node's certificate must carry; empty: the chain is checked, not the name.
    pub tls_server_name: String,
}

impl ScyllaConfig {
    /// The size `topic_mentions` partitions are bucketed to stay near (at least 64 KiB).
    pub fn partition_target_bytes(&self) -> Result<u64> {
        let key = "scylla.partition_target_bytes";
        let n = size(key, &self.partition_target_bytes)?;
        if n < 64 << 10 {
            return Err(Error::Config(format!(
                "{key}: must be at least 64KiB, got {:?}",
                self.partition_target_bytes
            )));
        }
        Ok(n)
    }

    /// How long mentions are kept (`retention`): their rows' TTL, and how far back a page reads.
    pub fn retention(&self) -> Result<Duration> {
        duration("scylla.retention", &self.retention)
    }

    /// `expected_rate`, checked: a mentions-per-second figure a deployment could be built for.
    pub fn expected_rate(&self) -> Result<u64> {
        if self.expected_rate > MAX_EXPECTED_RATE {
            return Err(Error::Config(format!(
                "scylla.expected_rate: at most {MAX_EXPECTED_RATE} mentions/s, got {}",
                self.expected_rate
            )));
        }
        Ok(self.expected_rate)
    }
}

/// The largest `scylla.expected_rate` taken: a hundred times justSignal's firehose.
const MAX_EXPECTED_RATE: u64 = 100_000_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://` or, for TLS, `rediss://`.
    pub url: String,
    /// With a `rediss://` URL: PEM CA file to trust instead of the system's roots.
    pub ca_file: String,
    pub timeout: String,
    /// How long a record a client fetched stays cached.
    pub ttl: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of the Prometheus `/metrics` endpoint and the health checks (never the client
    /// API, which has `api.listen`); empty disables it. Port 0 picks a free port, logged and printed at start: one per worker when
    /// several run on one host.
    pub listen: String,
}

impl Config {
    /// Loads the defaults, then `path` (if any), then `BACKCHANNEL__*` variables from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config> {
        let mut table: toml::Table = DEFAULTS
            .parse()
            .map_err(|e| Error::Config(format!("embedded defaults: {e}")))?;
        if let Some(path) = path {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
            let file: toml::Table = text
                .parse()
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            merge(&mut table, file, "")?;
        }
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("BACKCHANNEL__") else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            let what = format!("{key}: no such configuration key {}", path.join("."));
            set_path(&mut table, &path, parse_scalar(&value), &what)?;
        }
        // The key a value is wrong for: the merged table has no spans to point at, and a bare
        // "invalid value: integer `-1`, expected usize" leaves the user to guess which one.
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| Error::Config(format!("{}: {}", e.path(), e.inner().message())))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values serde cannot: ranges, durations, addresses.
    pub fn validate(&self) -> Result<()> {
        let p = &self.pipeline;
        positive("pipeline.in_flight_batches", p.in_flight_batches)?;
        positive("pipeline.max_message_bytes", p.max_message_bytes)?;
        positive("pipeline.max_json_depth", p.max_json_depth)?;
        positive("pipeline.max_id_bytes", p.max_id_bytes)?;
        positive("pipeline.max_matches", p.max_matches)?;
        positive("pipeline.max_highlights", p.max_highlights)?;
        self.check_record_limits()?;
        if self.kafka.partitions < 1 || self.kafka.replication_factor < 1 {
            return Err(Error::Config(format!(
                "kafka.partitions and kafka.replication_factor: expected at least 1, got {} and {}",
                self.kafka.partitions, self.kafka.replication_factor
            )));
        }
        security::validate(&self.kafka, &self.scylla, &self.redis)?;
        positive("embedded.queue_capacity", self.embedded.queue_capacity)?;
        positive("scylla.max_concurrency", self.scylla.max_concurrency)?;
        positive("collect.max_in_flight", self.collect.max_in_flight)?;
        self.embedded.settings()?;
        self.api.settings()?;
        self.alerts.settings()?;
        self.max_in_flight_bytes()?;
        self.cluster_window()?;
        self.scylla.partition_target_bytes()?;
        self.scylla.expected_rate()?;
        for name in self.collectors.keys() {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err(Error::Config(format!(
                    "collectors.{name}: a collector name is letters, digits, '.', '_' or '-'"
                )));
            }
        }
        for (key, value) in [
            ("pipeline.batch_linger", &p.batch_linger),
            ("scylla.request_timeout", &self.scylla.request_timeout),
            ("scylla.retention", &self.scylla.retention),
            ("scylla.stats_retention", &self.scylla.stats_retention),
            ("redis.timeout", &self.redis.timeout),
            ("kafka.max_poll_interval", &self.kafka.max_poll_interval),
            ("redis.ttl", &self.redis.ttl),
        ] {
            duration(key, value)?;
        }
        if self.kafka.max_poll_interval() < Duration::from_secs(10) {
            return Err(Error::Config(format!(
                "kafka.max_poll_interval: must be at least the 10s session timeout, got {:?}",
                self.kafka.max_poll_interval
            )));
        }
        if !self.metrics.listen.is_empty()
            && self.metrics.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(Error::Config(format!(
                "metrics.listen: expected an address like \"127.0.0.1:9898\" or \"\", got {:?}",
                self.metrics.listen
            )));
        }
        Ok(())
    }

    /// How long a near-duplicate cluster keeps its band keys (at least a second).
    pub fn cluster_window(&self) -> Result<Duration> {
        let d = duration("pipeline.cluster_window", &self.pipeline.cluster_window)?;
        if d < Duration::from_secs(1) {
            return Err(Error::Config(format!(
                "pipeline.cluster_window: must be at least 1s, got {:?}",
                self.pipeline.cluster_window
            )));
        }
        Ok(d)
    }

    /// Mentions per batch: `pipeline.batch_size`, or the mode's own for 0
    /// ([`EMBEDDED_BATCH`] or [`DISTRIBUTED_BATCH`]).
    pub fn batch_size(&self) -> usize {
        match (self.pipeline.batch_size, self.pipeline.mode) {
            (0, Mode::Embedded) => EMBEDDED_BATCH,
            (0, Mode::Distributed) => DISTRIBUTED_BATCH,
            (n, _) => n,
        }
    }

    /// The number of CPU workers to use (0 in the config means one per core).
    pub fn cpu_workers(&self) -> usize {
        match self.pipeline.cpu_workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }

    /// The byte budget of in-flight raw messages (at least one message of the largest size).
    pub fn max_in_flight_bytes(&self) -> Result<u64> {
        let key = "pipeline.max_in_flight_bytes";
        let n = size(key, &self.pipeline.max_in_flight_bytes)?;
        if n < self.pipeline.max_message_bytes as u64 {
            return Err(Error::Config(format!(
                "{key}: must be at least pipeline.max_message_bytes ({}), got {n}",
                self.pipeline.max_message_bytes
            )));
        }
        Ok(n)
    }

    /// Largest enriched record accepted (Avro or JSON); larger ones are dead-lettered.
    pub fn max_record_bytes(&self) -> Result<usize> {
        let key = "pipeline.max_record_bytes";
        let n = size(key, &self.pipeline.max_record_bytes)?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::Config(format!("{key}: expected a positive size, got {n}")))
    }

    /// Every record the pipeline produces must fit the producer's `message.max.bytes`: a raw
    /// mention a collector accepts, an enriched record, and so a dead letter carrying either.
    /// Checked once at start, so a record is never refused for a size the config allowed.
    fn check_record_limits(&self) -> Result<()> {
        let limit = self.kafka.message_max_bytes;
        for (key, n) in [
            (
                "pipeline.max_message_bytes",
                self.pipeline.max_message_bytes,
            ),
            ("pipeline.max_record_bytes", self.max_record_bytes()?),
        ] {
            if n + RECORD_HEADROOM > limit {
                return Err(Error::Config(format!(
                    "{key} ({n}) plus {RECORD_HEADROOM} bytes for key and headers must fit \
                     kafka.message_max_bytes ({limit}): lower {key} or raise \
                     kafka.message_max_bytes (and the broker's and topics' max.message.bytes)"
                )));
            }
        }
        Ok(())
    }

    /// The largest dead-letter payload: what is left of a record after the headroom. A longer
    /// payload (only an input over `pipeline.max_message_bytes` can be) is cut to this.
    pub fn max_dead_letter_payload(&self) -> usize {
        self.kafka.message_max_bytes.saturating_sub(RECORD_HEADROOM)
    }

    pub fn batch_linger(&self) -> Duration {
        duration("pipeline.batch_linger", &self.pipeline.batch_linger)
            .unwrap_or(Duration::from_millis(20))
    }

    pub fn decode_limits(&self) -> model::DecodeLimits {
        model::DecodeLimits {
            max_bytes: self.pipeline.max_message_bytes,
            max_depth: self.pipeline.max_json_depth,
            max_id_bytes: self.pipeline.max_id_bytes,
        }
    }
}

fn positive(key: &str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(Error::Config(format!(
            "{key}: expected a positive integer, got 0"
        )));
    }
    Ok(())
}

/// Parses a human size: `"512"` (bytes), `"64KiB"`, `"256MiB"`, `"10GiB"`, `"1.5GB"`.
pub fn size(key: &str, s: &str) -> Result<u64> {
    let bad = || {
        Error::Config(format!(
            "{key}: expected a size like \"64MiB\", \"10GiB\" or a number of bytes, got {s:?}"
        ))
    };
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let scale: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let bytes = n * scale;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Parses a human duration (`"250ms"`, `"5s"`, `"2m"`, `"1h"`, `"7d"`, `"1.5s"`; a bare number is
/// an error) with the parser the collectors use; the error names `key`.
pub fn duration(key: &str, s: &str) -> Result<Duration> {
    collectors::common::duration::parse(s).map_err(|e| Error::Config(format!("{key}: {e}")))
}

fn merge(base: &mut toml::Table, over: toml::Table, prefix: &str) -> Result<()> {
    for (k, v) in over {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o, &key)?,
            (Some(toml::Value::Table(_)), _) => {
                return Err(Error::Config(format!("{key}: expected a table")));
            }
            (Some(slot), v) => *slot = v,
            // Collectors are named by the user: any key is a new collector's table; librdkafka
            // properties are passed through (checked by `validate`).
            (None, v) if prefix == "collectors" || prefix == "kafka.properties" => {
                base.insert(k, v);
            }
            (None, _) => return Err(Error::Config(format!("{key}: unknown key"))),
        }
    }
    Ok(())
}

fn set_path(
    table: &mut toml::Table,
    path: &[String],
    value: toml::Value,
    what: &str,
) -> Result<()> {
    let unknown = || Error::Config(what.to_owned());
    match path {
        [] => Err(unknown()),
        [last] => {
            let slot = table.get_mut(last).ok_or_else(unknown)?;
            // Keep strings strings: "0" for a string key stays "0".
            *slot = match (&*slot, value) {
                (toml::Value::String(_), v) => toml::Value::String(scalar_text(v)),
                // A comma-separated list; an empty variable is an empty list.
                (toml::Value::Array(_), toml::Value::String(s)) => toml::Value::Array(
                    s.split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(|x| toml::Value::String(x.to_owned()))
                        .collect(),
                ),
                (_, v) => v,
            };
            Ok(())
        }
        [head, rest @ ..] => match table.get_mut(head) {
            Some(toml::Value::Table(t)) => set_path(t, rest, value, what),
            _ => Err(unknown()),
        },
    }
}

fn parse_scalar(s: &str) -> toml::Value {
    if let Ok(i) = s.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(f) = s.parse::<f64>() {
        toml::Value::Float(f)
    } else if let Ok(b) = s.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(s.to_owned())
    }
}

fn scalar_text(v: toml::Value) -> String {
    match v {
        toml::Value::String(s) => s,
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_load_and_env_overrides_apply() {
        let c = Config::load(None, env(&[])).expect("defaults are valid");
        assert_eq!(c.pipeline.mode, Mode::Embedded);
        // The default batch is the mode's own.
        assert_eq!(c.batch_size(), EMBEDDED_BATCH);
        let c = Config::load(None, env(&[("BACKCHANNEL__PIPELINE__MODE", "distributed")]))
            .expect("valid");
        assert_eq!(c.batch_size(), DISTRIBUTED_BATCH);
        let c = Config::load(
            None,
            env(&[
                ("BACKCHANNEL__PIPELINE__BATCH_SIZE", "7"),
                ("BACKCHANNEL__PIPELINE__MODE", "distributed"),
                ("BACKCHANNEL__KAFKA__GROUP_ID", "123"),
                ("BACKCHANNEL__SCYLLA__NODES", "a:9042, b:9042"),
                ("UNRELATED", "x"),
            ]),
        )
        .expect("overrides are valid");
        assert_eq!(c.pipeline.batch_size, 7);
        assert_eq!(c.batch_size(), 7);
        assert_eq!(c.pipeline.mode, Mode::Distributed);
        assert_eq!(c.kafka.group_id, "123");
        assert_eq!(c.scylla.nodes, vec!["a:9042", "b:9042"]);
        let proxies = |v: &str| {
            let c = Config::load(None, env(&[("BACKCHANNEL__API__TRUSTED_PROXIES", v)]))
                .expect("valid");
            c.api.settings().expect("settings").trusted_proxies
        };
        assert_eq!(
            proxies("10.0.0.0/8, ::1"),
            crate::api::TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).expect("parse")
        );
        assert_eq!(proxies(""), crate::api::TrustedProxies::default());
        let cors = |v: &str| {
            let c =
                Config::load(None, env(&[("BACKCHANNEL__API__CORS_ORIGINS", v)])).expect("valid");
            c.api.settings().expect("settings").cors
        };
        use crate::api::Cors;
        assert_eq!(cors(""), Cors::None);
        assert_eq!(cors("*"), Cors::Any);
        assert_eq!(
            cors("https://App.example, http://localhost:3000"),
            Cors::Origins(vec![
                axum::http::HeaderValue::from_static("https://app.example"),
                axum::http::HeaderValue::from_static("http://localhost:3000"),
            ])
        );
    }

    #[test]
    fn bad_configs_name_the_key() {
        let err = |pairs: &[(&str, &str)]| {
            Config::load(None, env(pairs))
                .expect_err("must fail")
                .to_string()
        };
        assert!(
            err(&[("BACKCHANNEL__PIPELINE__IN_FLIGHT_BATCHES", "0")])
                .contains("pipeline.in_flight_batches")
        );
        assert!(
            err(&[("BACKCHANNEL__PIPELINE__BATCH_LINGER", "soon")])
                .contains("pipeline.batch_linger")
        );
        assert!(err(&[("BACKCHANNEL__PIPELINE__NOPE", "1")]).contains("pipeline.nope"));
        assert!(err(&[("BACKCHANNEL__METRICS__LISTEN", "everywhere")]).contains("metrics.listen"));
        assert!(err(&[("BACKCHANNEL__API__LISTEN", "everywhere")]).contains("api.listen"));
        assert!(err(&[("BACKCHANNEL__API__BURST", "0")]).contains("api.burst"));
        let proxy = err(&[("BACKCHANNEL__API__TRUSTED_PROXIES", "10.0.0.1, lb.internal")]);
        assert!(proxy.contains("api.trusted_proxies"), "{proxy}");
        for bad in [
            "https://app.example/",
            "https://app.example/path",
            "app.example",
            "ftp://app.example",
            "*, https://app.example",
        ] {
            let e = err(&[("BACKCHANNEL__API__CORS_ORIGINS", bad)]);
            assert!(e.contains("api.cors_origins"), "{bad}: {e}");
        }
        for bad in ["0", "lots"] {
            let e = err(&[("BACKCHANNEL__API__STREAM_BUFFER_BYTES", bad)]);
            assert!(e.contains("api.stream_buffer_bytes"), "{e}");
        }
        assert!(err(&[("BACKCHANNEL__API__KEY_CACHE_TTL", "5")]).contains("api.key_cache_ttl"));
        let rate = err(&[("BACKCHANNEL__SCYLLA__EXPECTED_RATE", "1000000000")]);
        assert!(rate.contains("scylla.expected_rate: at most"), "{rate}");
        let mode = err(&[("BACKCHANNEL__PIPELINE__MODE", "cloud")]);
        assert!(mode.contains("pipeline.mode: unknown variant"), "{mode}");
        let negative = err(&[("BACKCHANNEL__PIPELINE__BATCH_SIZE", "-1")]);
        assert!(
            negative.contains("pipeline.batch_size: invalid value"),
            "{negative}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[pipeline]\nbatch_size = \"big\"\n").expect("write");
        let e = Config::load(Some(&path), env(&[]))
            .expect_err("type error")
            .to_string();
        assert!(e.contains("pipeline.batch_size: invalid type"), "{e}");
        std::fs::write(&path, "[pipline]\nbatch_size = 3\n").expect("write");
        let e = Config::load(Some(&path), env(&[]))
            .expect_err("typo")
            .to_string();
        assert!(e.contains("pipline: unknown key"), "{e}");
    }

    #[test]
    fn collectors_from_the_readme_example_load() {
        let readme = include_str!("../../README.md");
        let example = readme
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("README has a TOML example");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, example).expect("write");
        let c =
            Config::load(Some(&path), env(&[])).expect("the README's example is a valid config");
        assert_eq!(
            c.collectors.keys().collect::<Vec<_>>(),
            ["mastodon-social", "rust-subreddit"]
        );
        std::fs::write(
            &path,
            "[collectors.bad]\ntype = \"mastodon\"\nserver = \"x\"\nnope = 1\n",
        )
        .expect("write");
        assert!(
            Config::load(Some(&path), env(&[])).is_err(),
            "unknown keys inside a collector are rejected"
        );
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(size("k", "512").ok(), Some(512));
        assert_eq!(size("k", "64MiB").ok(), Some(64 << 20));
        assert_eq!(size("k", "1.5 GB").ok(), Some(1_500_000_000));
        assert_eq!(size("k", "10GiB").ok(), Some(10 << 30));
        for bad in ["", "MiB", "-1MiB", "5 parsecs", "1e400"] {
            let e = size("embedded.cache_bytes", bad)
                .expect_err(bad)
                .to_string();
            assert!(e.contains("embedded.cache_bytes"), "{e}");
        }
        let e = Config::load(
            None,
            vec![(
                "BACKCHANNEL__PIPELINE__MAX_IN_FLIGHT_BYTES".to_owned(),
                "1KiB".to_owned(),
            )],
        )
        .expect_err("below one message")
        .to_string();
        assert!(e.contains("pipeline.max_in_flight_bytes"), "{e}");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(
            duration("k", "250ms").ok(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            duration("k", "1.5s").ok(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(duration("k", "2m").ok(), Some(Duration::from_secs(120)));
        assert_eq!(duration("k", "7d").ok(), Some(Duration::from_secs(604_800)));
        assert_eq!(duration("k", "1h").ok(), Some(Duration::from_secs(3600)));
        assert!(duration("k", "-1s").is_err());
        let e = duration("embedded.retention", "5").expect_err("a bare number");
        assert!(e.to_string().contains("embedded.retention"), "{e}");
    }
}
