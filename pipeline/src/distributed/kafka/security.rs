//! How every Kafka client reaches the brokers: bootstrap servers, TLS, SASL and the expert
//! `[kafka.properties]`, set in [`client_config`] and nowhere else, so the consumer, the
//! producers (worker, collectors, `synthetic`) and the admin client can never disagree.
//!
//! The SASL password is read here, when a client is made, from `kafka.sasl_password_file` or
//! the variable named by `kafka.sasl_password_env`; it is never in the config file or argv.
//! Refused credentials and failed TLS handshakes are reported by librdkafka through the client
//! context (its error callback, or only its log for an untrusted certificate), not as a failed
//! call; [`Refusals`] keeps them so a caller that would otherwise wait for the brokers forever
//! can stop with the broker's reason.

use std::sync::{Arc, Mutex};

use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::{KafkaConfig, kafka_properties, readable, secret};
use crate::error::Result;

/// `own` (a client's role settings: group, acks, ...) with the brokers and every security
/// setting of `cfg` added, then the `[kafka.properties]`, which win. Fails with a `Config` error
/// naming the key when a file named by a key cannot be read or the SASL password is missing.
pub fn client_config(cfg: &KafkaConfig, own: ClientConfig) -> Result<ClientConfig> {
    let mut c = own;
    c.set("bootstrap.servers", &cfg.brokers);
    let protocol = cfg.security_protocol;
    c.set("security.protocol", protocol.as_librdkafka());
    if protocol.sasl() {
        let password = secret(
            "kafka.sasl_password",
            &cfg.sasl_password_env,
            &cfg.sasl_password_file,
        )?;
        c.set("sasl.mechanism", cfg.sasl_mechanism.as_librdkafka())
            .set("sasl.username", &cfg.sasl_username)
            .set("sasl.password", password);
    }
    if protocol.tls() {
        for (key, path, property) in [
            ("kafka.ssl_ca_file", &cfg.ssl_ca_file, "ssl.ca.location"),
            (
                "kafka.ssl_cert_file",
                &cfg.ssl_cert_file,
                "ssl.certificate.location",
            ),
            ("kafka.ssl_key_file", &cfg.ssl_key_file, "ssl.key.location"),
        ] {
            if !path.is_empty() {
                readable(key, path)?;
                c.set(property, path);
            }
        }
        // The brokers' names are checked against their certificates (librdkafka's default since
        // 2.0; said here so an old default can never weaken it). `[kafka.properties]` may undo it.
        c.set("ssl.endpoint.identification.algorithm", "https");
    }
    for (name, value) in kafka_properties(cfg)? {
        c.set(name, value);
    }
    Ok(c)
}

/// The last authentication or TLS failure librdkafka reported for a client, if any.
#[derive(Debug, Clone, Default)]
pub struct Refusals(Arc<Mutex<Option<String>>>);

impl Refusals {
    /// Records `error` when it is a refusal that waiting cannot mend: refused credentials or a
    /// failed TLS handshake (an untrusted or mismatched certificate).
    pub fn note(&self, error: &KafkaError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::Authentication
                    | RDKafkaErrorCode::SaslAuthenticationFailed
                    | RDKafkaErrorCode::SSL
            )
        ) {
            self.record(reason);
        }
    }

    fn record(&self, reason: &str) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some(reason.to_owned());
    }

    /// The broker's reason for the last refusal, if there was one.
    pub fn last(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A client context that logs librdkafka's errors and keeps its refusals.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub refusals: Refusals,
}

impl ClientContext for Watch {
    /// librdkafka's log, to tracing. A broker certificate that fails verification is only
    /// logged (facility FAIL), never passed to `error`, so it is picked out here.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        use RDKafkaLogLevel as L;
        if fac == "FAIL" && log_message.contains("certificate verify failed") {
            self.refusals.record(log_message);
        }
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => {
                tracing::error!(target: "librdkafka", fac, "{log_message}")
            }
            L::Warning => tracing::warn!(target: "librdkafka", fac, "{log_message}"),
            L::Notice | L::Info => tracing::info!(target: "librdkafka", fac, "{log_message}"),
            L::Debug => tracing::debug!(target: "librdkafka", fac, "{log_message}"),
        }
    }
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(error = %error, reason, "kafka client error");
        self.refusals.note(&error, reason);
    }
}

/// Only for the metadata probe of `ensure_topics`, which sends nothing.
impl rdkafka::producer::ProducerContext for Watch {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::producer::DeliveryResult<'_>, _: ()) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn kafka(pairs: &[(&str, &str)]) -> Result<KafkaConfig> {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::load(None, env).map(|c| c.kafka)
    }

    fn get(c: &ClientConfig, key: &str) -> Option<String> {
        c.get(key).map(str::to_owned)
    }

    #[test]
    fn plaintext_by_default_sets_no_credentials() {
        let c = client_config(&kafka(&[]).expect("defaults"), ClientConfig::new())
            .expect("client config");
        assert_eq!(get(&c, "security.protocol").as_deref(), Some("plaintext"));
        assert_eq!(get(&c, "sasl.password"), None);
        assert_eq!(get(&c, "ssl.ca.location"), None);
    }

    #[test]
    fn sasl_reads_the_password_file_and_sets_the_mechanism() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").expect("write");
        let cfg = kafka(&[
            ("BACKCHANNEL__KAFKA__SECURITY_PROTOCOL", "sasl_ssl"),
            ("BACKCHANNEL__KAFKA__SASL_MECHANISM", "SCRAM-SHA-512"),
            ("BACKCHANNEL__KAFKA__SASL_USERNAME", "worker"),
            (
                "BACKCHANNEL__KAFKA__SASL_PASSWORD_FILE",
                pw.to_str().expect("utf-8 path"),
            ),
            (
                "BACKCHANNEL__KAFKA__SSL_CA_FILE",
                pw.to_str().expect("utf-8 path"),
            ),
        ])
        .expect("valid");
        let c = client_config(&cfg, ClientConfig::new()).expect("client config");
        assert_eq!(get(&c, "security.protocol").as_deref(), Some("sasl_ssl"));
        assert_eq!(get(&c, "sasl.mechanism").as_deref(), Some("SCRAM-SHA-512"));
        assert_eq!(get(&c, "sasl.username").as_deref(), Some("worker"));
        assert_eq!(get(&c, "sasl.password").as_deref(), Some("s3cret"));
        assert_eq!(get(&c, "ssl.ca.location"), pw.to_str().map(str::to_owned));
    }

    #[test]
    fn missing_secrets_and_files_name_their_key() {
        let cfg = kafka(&[
            ("BACKCHANNEL__KAFKA__SECURITY_PROTOCOL", "sasl_plaintext"),
            ("BACKCHANNEL__KAFKA__SASL_USERNAME", "worker"),
            (
                "BACKCHANNEL__KAFKA__SASL_PASSWORD_ENV",
                "BACKCHANNEL_TEST_NO_SUCH_VARIABLE",
            ),
        ])
        .expect("valid");
        let e = client_config(&cfg, ClientConfig::new())
            .expect_err("no password")
            .to_string();
        assert!(e.contains("kafka.sasl_password_env"), "{e}");
        assert!(e.contains("BACKCHANNEL_TEST_NO_SUCH_VARIABLE"), "{e}");

        let cfg = kafka(&[
            ("BACKCHANNEL__KAFKA__SECURITY_PROTOCOL", "ssl"),
            ("BACKCHANNEL__KAFKA__SSL_CA_FILE", "/nonexistent/ca.pem"),
        ])
        .expect("valid");
        let e = client_config(&cfg, ClientConfig::new())
            .expect_err("no CA file")
            .to_string();
        assert!(
            e.contains("kafka.ssl_ca_file") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
    }

    #[test]
    fn inconsistent_settings_fail_at_load() {
        let e = |pairs: &[(&str, &str)]| kafka(pairs).expect_err("invalid").to_string();
        let msg = e(&[("BACKCHANNEL__KAFKA__SECURITY_PROTOCOL", "sasl_ssl")]);
        assert!(msg.contains("kafka.sasl_username"), "{msg}");
        let msg = e(&[("BACKCHANNEL__KAFKA__SASL_USERNAME", "worker")]);
        assert!(msg.contains("kafka.sasl_username"), "{msg}");
        let msg = e(&[("BACKCHANNEL__KAFKA__SSL_CA_FILE", "/ca.pem")]);
        assert!(msg.contains("kafka.ssl_ca_file"), "{msg}");
        let msg = e(&[("BACKCHANNEL__KAFKA__SECURITY_PROTOCOL", "tls")]);
        assert!(msg.contains("unknown variant"), "{msg}");
        let msg = e(&[
            ("BACKCHANNEL__KAFKA__SECURITY_PROTOCOL", "ssl"),
            ("BACKCHANNEL__KAFKA__SSL_CERT_FILE", "/cert.pem"),
        ]);
        assert!(msg.contains("kafka.ssl_key_file"), "{msg}");
    }

    #[test]
    fn properties_pass_through_and_refuse_managed_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).expect("write");
            Config::load(Some(&path), Vec::new())
        };
        let c = load("[kafka.properties]\n\"message.timeout.ms\" = 5000\n\"client.id\" = \"bc\"\n")
            .expect("valid properties");
        let cc = client_config(&c.kafka, ClientConfig::new()).expect("client config");
        assert_eq!(get(&cc, "message.timeout.ms").as_deref(), Some("5000"));
        assert_eq!(get(&cc, "client.id").as_deref(), Some("bc"));
        for (text, key) in [
            ("[kafka.properties]\n\"\" = \"x\"\n", "kafka.properties"),
            (
                "[kafka.properties]\n\"sasl.password\" = \"x\"\n",
                "sasl.password",
            ),
            ("[kafka.properties]\n\"client.id\" = \"\"\n", "client.id"),
            ("[kafka.properties]\n\"client.id\" = [1]\n", "client.id"),
        ] {
            let e = load(text).expect_err(text).to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
