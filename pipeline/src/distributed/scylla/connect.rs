//! Connecting to ScyllaDB (or Cassandra): contact points, credentials, TLS, timeouts, consistency.
//!
//! TLS is the driver's OpenSSL backend (the OpenSSL librdkafka links anyway; the driver's rustls
//! backend would compile a second crypto provider, aws-lc, next to our `ring`). With
//! `scylla.tls_ca_file` set, every connection is TLS and nodes are trusted only if that CA signed
//! them. The driver reaches nodes by IP address and does not check a name; `tls_server_name`
//! makes it check that every node's certificate carries that name.

use std::time::Duration;

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::OpenSsl010Config;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::Consistency;

use openssl::ssl::{SslConnector, SslConnectorBuilder, SslFiletype, SslMethod, SslVersion};
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;

use crate::config::ScyllaConfig;
use crate::error::{Error, Result};

/// Connects with the configured nodes, credentials and timeout.
pub async fn connect(cfg: &ScyllaConfig) -> Result<Session> {
    let timeout = crate::config::duration("scylla.request_timeout", &cfg.request_timeout)?;
    let profile = ExecutionProfile::builder()
        .request_timeout(Some(timeout))
        .consistency(Consistency::LocalQuorum)
        .build();
    let mut builder = SessionBuilder::new()
        .known_nodes(&cfg.nodes)
        .default_execution_profile_handle(profile.into_handle())
        .connection_timeout(Duration::from_secs(5));
    if !cfg.username.is_empty() {
        builder = builder.user(&cfg.username, password(cfg)?);
    }
    if let Some(tls) = tls_connector(cfg)? {
        builder = builder.tls_context(Some(OpenSsl010Config::new(tls)));
    }
    builder
        .build()
        .await
        .map_err(|e| Error::store(format!("connecting to {:?}", cfg.nodes), e))
}

/// The password from `password_file` or the environment variable `password_env`.
fn password(cfg: &ScyllaConfig) -> Result<String> {
    crate::config::secret("scylla.password", &cfg.password_env, &cfg.password_file)
}

/// The TLS settings of `cfg` as an OpenSSL connector builder, or `None` when
/// `scylla.tls_ca_file` is empty (plain CQL). Errors name the key whose file is unreadable or
/// not what it should be.
pub fn tls_connector(cfg: &ScyllaConfig) -> Result<Option<SslConnectorBuilder>> {
    if cfg.tls_ca_file.is_empty() {
        return Ok(None);
    }
    let bad = |key: &str, path: &str, e: &dyn std::fmt::Display| {
        Error::Config(format!("scylla.{key}: {path}: {e}"))
    };
    let ca_path = &cfg.tls_ca_file;
    let pem = std::fs::read(ca_path).map_err(|e| bad("tls_ca_file", ca_path, &e))?;
    let cas = X509::stack_from_pem(&pem).map_err(|e| bad("tls_ca_file", ca_path, &e))?;
    if cas.is_empty() {
        return Err(bad("tls_ca_file", ca_path, &"no PEM certificate in it"));
    }
    // Only the configured CA(s): not the system's roots as well.
    let mut store = X509StoreBuilder::new().map_err(|e| Error::internal("OpenSSL store", e))?;
    for ca in cas {
        store
            .add_cert(ca)
            .map_err(|e| bad("tls_ca_file", ca_path, &e))?;
    }
    let mut tls = SslConnector::builder(SslMethod::tls_client())
        .map_err(|e| Error::internal("OpenSSL connector", e))?;
    tls.set_cert_store(store.build());
    tls.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(|e| Error::internal("OpenSSL connector", e))?;
    if !cfg.tls_cert_file.is_empty() {
        let (cert, key) = (&cfg.tls_cert_file, &cfg.tls_key_file);
        tls.set_certificate_chain_file(cert)
            .map_err(|e| bad("tls_cert_file", cert, &e))?;
        tls.set_private_key_file(key, SslFiletype::PEM)
            .map_err(|e| bad("tls_key_file", key, &e))?;
        tls.check_private_key()
            .map_err(|e| bad("tls_key_file", key, &e))?;
    }
    if !cfg.tls_server_name.is_empty() {
        tls.verify_param_mut()
            .set_host(&cfg.tls_server_name)
            .map_err(|e| bad("tls_server_name", &cfg.tls_server_name, &e))?;
    }
    Ok(Some(tls))
}

/// The integration tests' certificate maker, shared rather than copied.
#[cfg(test)]
#[path = "../../../tests/common/certs.rs"]
mod test_certs;

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use openssl::ssl::{Ssl, SslAcceptor};

    use super::*;

    use super::test_certs as certs;

    fn scylla(pairs: &[(&str, &str)]) -> ScyllaConfig {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        crate::config::Config::load(None, env)
            .expect("valid config")
            .scylla
    }

    /// One TLS handshake from a connector built of `cfg` against a server presenting `leaf`,
    /// done the way the driver does it: a bare `Ssl` of the context, no per-connection name.
    fn handshake(cfg: &ScyllaConfig, leaf: &certs::Leaf) -> bool {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut acceptor =
            SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).expect("acceptor");
        let cert = X509::from_pem(&leaf.cert_pem).expect("cert");
        let key = openssl::pkey::PKey::private_key_from_pem(&leaf.key_pem).expect("key");
        acceptor.set_certificate(&cert).expect("cert");
        acceptor.set_private_key(&key).expect("key");
        let acceptor = acceptor.build();
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().expect("accept");
            if let Ok(mut tls) = acceptor.accept(tcp) {
                let _ = tls.write_all(b"ok");
            }
        });
        let context = tls_connector(cfg)
            .expect("connector")
            .expect("TLS is on")
            .build()
            .into_context();
        let tcp = TcpStream::connect(addr).expect("connect");
        let ok = Ssl::new(&context)
            .expect("ssl")
            .connect(tcp)
            .ok()
            .and_then(|mut tls| {
                let mut buf = [0; 2];
                tls.read_exact(&mut buf).ok().map(|()| buf == *b"ok")
            })
            .unwrap_or(false);
        server.join().expect("server thread");
        ok
    }

    #[test]
    fn no_ca_file_means_plain_cql() {
        assert!(tls_connector(&scylla(&[])).expect("ok").is_none());
    }

    #[test]
    fn the_configured_ca_is_trusted_and_no_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = certs::Ca::new("backchannel test CA");
        let ca_file = certs::write(dir.path(), "ca.pem", &ca.cert_pem());
        let node = ca.issue("node", &["cql.internal"], &["127.0.0.1"]);
        let ca_path = ca_file.to_str().expect("utf-8 path");
        let cfg = scylla(&[("BACKCHANNEL__SCYLLA__TLS_CA_FILE", ca_path)]);
        assert!(handshake(&cfg, &node), "a node signed by the CA is trusted");

        let stranger = certs::Ca::new("someone else").issue("node", &[], &["127.0.0.1"]);
        assert!(
            !handshake(&cfg, &stranger),
            "a node signed by another CA is refused"
        );

        let named = |name: &str| {
            scylla(&[
                ("BACKCHANNEL__SCYLLA__TLS_CA_FILE", ca_path),
                ("BACKCHANNEL__SCYLLA__TLS_SERVER_NAME", name),
            ])
        };
        assert!(handshake(&named("cql.internal"), &node), "the name matches");
        assert!(
            !handshake(&named("other.internal"), &node),
            "a wrong name is refused"
        );

        // A client certificate and its key load (for require_client_auth nodes).
        let client = ca.issue("worker", &["worker"], &[]);
        let cert = certs::write(dir.path(), "client.pem", &client.cert_pem);
        let key = certs::write(dir.path(), "client.key", &client.key_pem);
        let cfg = scylla(&[
            ("BACKCHANNEL__SCYLLA__TLS_CA_FILE", ca_path),
            (
                "BACKCHANNEL__SCYLLA__TLS_CERT_FILE",
                cert.to_str().expect("utf-8"),
            ),
            (
                "BACKCHANNEL__SCYLLA__TLS_KEY_FILE",
                key.to_str().expect("utf-8"),
            ),
        ]);
        assert!(tls_connector(&cfg).expect("client cert loads").is_some());
    }

    #[test]
    fn bad_files_name_their_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = |pairs: &[(&str, &str)]| match tls_connector(&scylla(pairs)) {
            Ok(_) => panic!("{pairs:?} must fail"),
            Err(e) => e.to_string(),
        };
        let e = err(&[("BACKCHANNEL__SCYLLA__TLS_CA_FILE", "/nonexistent/ca.pem")]);
        assert!(
            e.contains("scylla.tls_ca_file") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
        let junk = certs::write(dir.path(), "junk.pem", b"not a certificate");
        let e = err(&[(
            "BACKCHANNEL__SCYLLA__TLS_CA_FILE",
            junk.to_str().expect("utf-8"),
        )]);
        assert!(e.contains("scylla.tls_ca_file"), "{e}");
        let ca = certs::write(dir.path(), "ca.pem", &certs::Ca::new("ca").cert_pem());
        let e = err(&[
            (
                "BACKCHANNEL__SCYLLA__TLS_CA_FILE",
                ca.to_str().expect("utf-8"),
            ),
            ("BACKCHANNEL__SCYLLA__TLS_CERT_FILE", "/nonexistent/c.pem"),
            ("BACKCHANNEL__SCYLLA__TLS_KEY_FILE", "/nonexistent/c.key"),
        ]);
        assert!(e.contains("scylla.tls_cert_file"), "{e}");
        // A name or client certificate without a CA is a config error at load.
        let env = [(
            "BACKCHANNEL__SCYLLA__TLS_SERVER_NAME".to_owned(),
            "x".to_owned(),
        )];
        let e = crate::config::Config::load(None, env)
            .expect_err("name without CA")
            .to_string();
        assert!(e.contains("scylla.tls_ca_file"), "{e}");
    }
}
