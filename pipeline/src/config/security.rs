//! Transport-security settings: Kafka's security protocol and SASL mechanism, and the one way
//! every secret is read (an environment variable or a file named in the config, never argv and
//! never the config file itself).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{KafkaConfig, RedisConfig, ScyllaConfig};
use crate::error::{Error, Result};

/// `kafka.security_protocol`: how clients talk to the brokers (librdkafka's `security.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    /// librdkafka's spelling.
    pub fn as_librdkafka(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

/// `kafka.sasl_mechanism` (used with the `sasl_*` protocols).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    pub fn as_librdkafka(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// librdkafka properties Backchannel sets itself from typed keys: `[kafka.properties]` may not
/// name them, so there is one place each is configured. Secrets are refused there too: the
/// config file is not where a password lives.
const MANAGED_PROPERTIES: &[(&str, &str)] = &[
    ("bootstrap.servers", "kafka.brokers"),
    ("security.protocol", "kafka.security_protocol"),
    ("sasl.mechanism", "kafka.sasl_mechanism"),
    ("sasl.mechanisms", "kafka.sasl_mechanism"),
    ("sasl.username", "kafka.sasl_username"),
    (
        "sasl.password",
        "kafka.sasl_password_env or kafka.sasl_password_file",
    ),
    ("ssl.ca.location", "kafka.ssl_ca_file"),
    ("ssl.certificate.location", "kafka.ssl_cert_file"),
    ("ssl.key.location", "kafka.ssl_key_file"),
    (
        "ssl.key.password",
        "an unencrypted key file readable only by the worker",
    ),
    ("group.id", "kafka.group_id"),
];

/// Reads a secret: the content of `file` (trailing newline dropped) when it is set, else the
/// environment variable `env`. `what` names the keys in errors, e.g. "scylla.password".
pub fn secret(what: &str, env: &str, file: &str) -> Result<String> {
    if !file.is_empty() {
        return std::fs::read_to_string(file)
            .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
            .map_err(|e| Error::Config(format!("{what}_file: cannot read {file}: {e}")));
    }
    match std::env::var(env) {
        Ok(s) if !s.is_empty() => Ok(s),
        _ => Err(Error::Config(format!(
            "{what}: neither {what}_file is set nor does ${env} ({what}_env) hold a password"
        ))),
    }
}

/// Checks that an optional file setting names a readable file; `key` names it in the error.
pub fn readable(key: &str, path: &str) -> Result<()> {
    if path.is_empty() {
        return Ok(());
    }
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| Error::Config(format!("{key}: cannot read {path}: {e}")))
}

/// The `[kafka.properties]` values as librdkafka strings (numbers and booleans are written out).
pub fn kafka_properties(k: &KafkaConfig) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (key, value) in &k.properties {
        let name = key.trim();
        if name.is_empty() {
            return Err(Error::Config(
                "kafka.properties: a property name is empty".into(),
            ));
        }
        if let Some((_, instead)) = MANAGED_PROPERTIES.iter().find(|(p, _)| *p == name) {
            return Err(Error::Config(format!(
                "kafka.properties.\"{name}\": set by Backchannel; use {instead}"
            )));
        }
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(Error::Config(format!(
                    "kafka.properties.\"{name}\": expected a string, number or boolean"
                )));
            }
        };
        if text.is_empty() {
            return Err(Error::Config(format!(
                "kafka.properties.\"{name}\": the value is empty"
            )));
        }
        out.insert(name.to_owned(), text);
    }
    Ok(out)
}

/// What `Config::validate` checks of the security keys: consistent settings, not the files or
/// secrets themselves (those are read when a client is made, and their errors name the key).
pub fn validate(k: &KafkaConfig, s: &ScyllaConfig, r: &RedisConfig) -> Result<()> {
    let p = k.security_protocol;
    if p.sasl() && k.sasl_username.is_empty() {
        return Err(Error::Config(format!(
            "kafka.sasl_username: required with kafka.security_protocol = \"{}\"",
            p.as_librdkafka()
        )));
    }
    if !p.sasl() && !k.sasl_username.is_empty() {
        return Err(Error::Config(format!(
            "kafka.sasl_username is set but kafka.security_protocol = \"{}\" does not \
             authenticate: use \"sasl_plaintext\" or \"sasl_ssl\"",
            p.as_librdkafka()
        )));
    }
    if !p.tls() {
        for (key, v) in [
            ("kafka.ssl_ca_file", &k.ssl_ca_file),
            ("kafka.ssl_cert_file", &k.ssl_cert_file),
            ("kafka.ssl_key_file", &k.ssl_key_file),
        ] {
            if !v.is_empty() {
                return Err(Error::Config(format!(
                    "{key} is set but kafka.security_protocol = \"{}\" has no TLS: use \"ssl\" \
                     or \"sasl_ssl\"",
                    p.as_librdkafka()
                )));
            }
        }
    }
    pair(
        "kafka.ssl_cert_file",
        &k.ssl_cert_file,
        "kafka.ssl_key_file",
        &k.ssl_key_file,
    )?;
    kafka_properties(k)?;
    pair(
        "scylla.tls_cert_file",
        &s.tls_cert_file,
        "scylla.tls_key_file",
        &s.tls_key_file,
    )?;
    let scylla_tls_extras = [&s.tls_cert_file, &s.tls_key_file, &s.tls_server_name];
    if s.tls_ca_file.is_empty() && scylla_tls_extras.iter().any(|v| !v.is_empty()) {
        return Err(Error::Config(
            "scylla.tls_ca_file: required when scylla.tls_cert_file, tls_key_file or \
             tls_server_name is set (TLS is on only with a CA to check the nodes against)"
                .into(),
        ));
    }
    if !r.ca_file.is_empty() && !r.url.starts_with("rediss://") {
        return Err(Error::Config(format!(
            "redis.ca_file is set but redis.url {:?} is not a rediss:// (TLS) URL",
            r.url
        )));
    }
    Ok(())
}

/// A client certificate and its key come together or not at all.
fn pair(cert_key: &str, cert: &str, key_key: &str, key: &str) -> Result<()> {
    if cert.is_empty() != key.is_empty() {
        return Err(Error::Config(format!(
            "{cert_key} and {key_key}: set both (client certificate and its key) or neither"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, SaslMechanism, SecurityProtocol};

    #[test]
    fn the_readme_transport_security_example_loads() {
        let readme = include_str!("../../../README.md");
        let section = readme
            .split("## Transport security")
            .nth(1)
            .expect("README has a Transport security section");
        let example = section
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("the section has a TOML example");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, example).expect("write");
        let c = Config::load(Some(&path), Vec::new()).expect("the example is a valid config");
        assert_eq!(c.kafka.security_protocol, SecurityProtocol::SaslSsl);
        assert_eq!(c.kafka.sasl_mechanism, SaslMechanism::ScramSha512);
        assert_eq!(c.kafka.properties.len(), 1);
    }
}
