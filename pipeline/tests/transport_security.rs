//! Transport security against real servers started by the test itself, on their own ports (the
//! shared dev services on 9092/9093 and 6379 are not touched):
//!
//! - a throwaway `redis-server` with only a TLS port and a certificate made here: our
//!   `RedisCache` works over `rediss://` with `redis.ca_file` and refuses an untrusted server;
//! - a throwaway single-node Kafka (KRaft, the dev jars) with SASL_PLAINTEXT and SASL_SSL
//!   listeners: our producer, consumer and `ensure_topics` work with the right password and fail
//!   clearly with a wrong one; over TLS they trust the broker through `kafka.ssl_ca_file` and
//!   refuse a broker signed by another CA.
//!
//! A missing `redis-server`, Java or Kafka jars skips (loudly) unless services are required.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::certs::{Ca, write};
use common::{free_port, free_ports, services_required, unique};
use pipeline::config::Config;
use pipeline::distributed::redis_cache::RedisCache;
use pipeline::traits::Cache as _;

/// Kills the server it holds when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn skip(what: &str) -> bool {
    assert!(!services_required(), "{what} (required in CI)");
    eprintln!("SKIPPED: {what}");
    true
}

fn wait_for_port(port: u16, within: Duration, server: &mut Server, log: &Path) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = server.0.try_wait() {
            let out = std::fs::read_to_string(log).unwrap_or_default();
            panic!("server exited ({status}) before listening on {port}:\n{out}");
        }
        assert!(
            start.elapsed() < within,
            "nothing listening on {port} after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cache_speaks_tls_and_refuses_an_untrusted_server() {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        skip("redis-server is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("backchannel test CA");
    let server = ca.issue("redis", &["localhost"], &["127.0.0.1"]);
    let ca_file = write(dir.path(), "ca.pem", &ca.cert_pem());
    let cert = write(dir.path(), "redis.pem", &server.cert_pem);
    let key = write(dir.path(), "redis.key", &server.key_pem);
    let port = free_port();
    let log = dir.path().join("redis.log");
    let mut redis = Server(
        Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(&ca_file)
            .args(["--tls-auth-clients", "no"])
            .arg("--logfile")
            .arg(&log)
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server"),
    );
    wait_for_port(port, Duration::from_secs(10), &mut redis, &log);
    let url = format!("rediss://127.0.0.1:{port}");
    let (timeout, ttl) = (Duration::from_secs(2), Duration::from_secs(60));

    // Trusted through redis.ca_file: the cache works.
    let cache = RedisCache::new(&url, Some(&ca_file), timeout, ttl).expect("TLS cache");
    let id = unique("tls");
    cache.fill(&id, b"over tls").await;
    assert_eq!(
        cache.get(&id).await.expect("get over TLS").as_deref(),
        Some(&b"over tls"[..])
    );

    // A server whose CA we do not trust: every call fails, nothing is sent in the clear.
    let other = write(dir.path(), "other.pem", &Ca::new("another CA").cert_pem());
    let stranger = RedisCache::new(&url, Some(&other), timeout, ttl).expect("cache");
    let e = stranger.get(&id).await.expect_err("untrusted certificate");
    eprintln!("untrusted server refused: {e}");
    // The system's roots do not know our test CA either.
    let system = RedisCache::new(&url, None, timeout, ttl).expect("cache");
    assert!(
        system.get(&id).await.is_err(),
        "not trusted by the system roots"
    );

    // Config: a CA file with a plain redis:// URL is refused, naming the keys.
    let e = Config::load(
        None,
        [(
            "BACKCHANNEL__REDIS__CA_FILE".to_owned(),
            ca_file.display().to_string(),
        )],
    )
    .expect_err("ca_file without rediss://")
    .to_string();
    assert!(
        e.contains("redis.ca_file") && e.contains("rediss://"),
        "{e}"
    );
    let e = RedisCache::new(&url, Some(Path::new("/nonexistent/ca.pem")), timeout, ttl)
        .expect_err("missing CA file")
        .to_string();
    assert!(e.contains("redis.ca_file"), "{e}");
}

// ------------------------------------------------------------------------------------ Kafka

/// The Kafka jars `deploy/dev/services` fetched: `$BACKCHANNEL_KAFKA_LIB`, else
/// `<repo>/.services/cache/kafka-<KAFKA_VERSION>/lib`.
fn kafka_lib() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("BACKCHANNEL_KAFKA_LIB") {
        return Some(PathBuf::from(dir));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let versions = std::fs::read_to_string(root.join("deploy/versions.env")).ok()?;
    let version = versions
        .lines()
        .find_map(|l| l.strip_prefix("KAFKA_VERSION="))?
        .trim();
    let lib = root.join(format!(".services/cache/kafka-{version}/lib"));
    lib.is_dir().then_some(lib)
}

/// `$JAVA_HOME/bin/java` when set (as `deploy/dev/services` prefers), else `java` on the PATH.
fn java() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .map(|home| PathBuf::from(home).join("bin/java"))
        .filter(|java| java.is_file())
        .unwrap_or_else(|| PathBuf::from("java"))
}

const ADMIN_PASSWORD: &str = "broker-secret";
const WORKER_PASSWORD: &str = "worker-secret";

/// A throwaway broker's client addresses.
struct Listeners {
    sasl_plaintext: String,
    sasl_ssl: String,
}

/// Formats and starts a one-node KRaft Kafka with two client listeners, SASL_PLAINTEXT and
/// SASL_SSL (PLAIN, users `admin` and `worker`; the TLS one presents `keystore`, a PEM file
/// with key and certificate); returns it once it answers.
fn start_sasl_kafka(lib: &Path, dir: &Path, keystore: &Path) -> (Server, Listeners) {
    let [port, tls_port, controller] = free_ports();
    let jaas = format!(
        "org.apache.kafka.common.security.plain.PlainLoginModule required \
         username=\"admin\" password=\"{ADMIN_PASSWORD}\" \
         user_admin=\"{ADMIN_PASSWORD}\" user_worker=\"{WORKER_PASSWORD}\";"
    );
    let props = format!(
        "process.roles=broker,controller\nnode.id=1\n\
         controller.quorum.voters=1@127.0.0.1:{controller}\n\
         listeners=SASL://127.0.0.1:{port},TLS://127.0.0.1:{tls_port},\
         CONTROLLER://127.0.0.1:{controller}\n\
         advertised.listeners=SASL://127.0.0.1:{port},TLS://127.0.0.1:{tls_port}\n\
         controller.listener.names=CONTROLLER\ninter.broker.listener.name=SASL\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL:SASL_PLAINTEXT,TLS:SASL_SSL\n\
         sasl.enabled.mechanisms=PLAIN\nsasl.mechanism.inter.broker.protocol=PLAIN\n\
         listener.name.sasl.plain.sasl.jaas.config={jaas}\n\
         listener.name.tls.plain.sasl.jaas.config={jaas}\n\
         listener.name.tls.ssl.keystore.type=PEM\n\
         listener.name.tls.ssl.keystore.location={keystore}\n\
         log.dirs={logs}\nnum.partitions=1\ndefault.replication.factor=1\n\
         offsets.topic.replication.factor=1\noffsets.topic.num.partitions=1\n\
         transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n\
         share.coordinator.state.topic.replication.factor=1\n\
         share.coordinator.state.topic.min.isr=1\ngroup.initial.rebalance.delay.ms=0\n\
         num.network.threads=1\nnum.io.threads=2\nbackground.threads=2\n",
        logs = dir.join("logs").display(),
        keystore = keystore.display(),
    );
    let conf = write(dir, "server.properties", props.as_bytes());
    let classpath = format!("{}/*", lib.display());
    let jvm = [
        "-Xms128m",
        "-Xmx384m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Djava.awt.headless=true",
    ];
    let log4j = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/dev/kafka-log4j2.xml");
    let out = dir.join("kafka.out");
    let format = Command::new(java())
        .args(jvm)
        .arg(format!("-Dkafka.logs.dir={}", dir.display()))
        .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
        .args(["-cp", &classpath, "kafka.tools.StorageTool", "format"])
        .args(["-t", "c2FzbC10ZXN0LWNsdXN0ZXI", "-c"])
        .arg(&conf)
        .output()
        .expect("run kafka StorageTool");
    assert!(
        format.status.success(),
        "formatting the throwaway Kafka failed: {}{}",
        String::from_utf8_lossy(&format.stdout),
        String::from_utf8_lossy(&format.stderr)
    );
    let mut kafka = Server(
        Command::new(java())
            .args(jvm)
            .arg(format!("-Dkafka.logs.dir={}", dir.display()))
            .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
            .args(["-cp", &classpath, "kafka.Kafka"])
            .arg(&conf)
            .stdout(std::fs::File::create(&out).expect("kafka.out"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start the throwaway Kafka"),
    );
    wait_for_port(port, Duration::from_secs(90), &mut kafka, &out);
    wait_for_port(tls_port, Duration::from_secs(10), &mut kafka, &out);
    let listeners = Listeners {
        sasl_plaintext: format!("127.0.0.1:{port}"),
        sasl_ssl: format!("127.0.0.1:{tls_port}"),
    };
    (kafka, listeners)
}

fn sasl_config(dir: &Path, brokers: &str, password: &str, group: &str) -> Config {
    sasl_config_with(dir, brokers, password, group, None)
}

/// With `ca_file`, SASL_SSL trusting that CA; without, SASL_PLAINTEXT.
fn sasl_config_with(
    dir: &Path,
    brokers: &str,
    password: &str,
    group: &str,
    ca_file: Option<&Path>,
) -> Config {
    let pw = write(
        dir,
        &format!("pw-{password}"),
        format!("{password}\n").as_bytes(),
    );
    let security = match ca_file {
        None => "security_protocol = \"sasl_plaintext\"".to_owned(),
        Some(ca) => format!(
            "security_protocol = \"sasl_ssl\"\nssl_ca_file = \"{}\"",
            ca.display()
        ),
    };
    let file = write(
        dir,
        &format!("backchannel-{}.toml", unique("c")),
        format!(
            "[kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"{group}\"\n\
             raw_topic = \"sasl.raw\"\nenriched_topic = \"sasl.enriched\"\n\
             dlq_topic = \"sasl.dlq\"\npartitions = 1\n\
             {security}\nsasl_mechanism = \"PLAIN\"\n\
             sasl_username = \"worker\"\nsasl_password_file = \"{}\"\n\
             [kafka.properties]\n\"message.timeout.ms\" = 3000\n",
            pw.display()
        )
        .as_bytes(),
    );
    Config::load(Some(&file), Vec::new()).expect("valid SASL config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_clients_authenticate_with_sasl_and_tls_and_fail_clearly_when_refused() {
    use pipeline::distributed::kafka::{KafkaConsumer, KafkaPublisher, ensure_topics};
    use pipeline::traits::{Consumer as _, Polled, Publisher as _, Record, Topic};

    let Some(lib) = kafka_lib() else {
        skip("no Kafka jars: run `deploy/dev/services install` or set BACKCHANNEL_KAFKA_LIB");
        return;
    };
    if Command::new(java()).arg("-version").output().is_err() {
        skip("no java on PATH");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("backchannel test CA");
    let ca_file = write(dir.path(), "ca.pem", &ca.cert_pem());
    let broker = ca.issue("kafka", &["localhost"], &["127.0.0.1"]);
    let keystore = write(
        dir.path(),
        "broker.pem",
        &[&broker.key_pem[..], &broker.cert_pem[..]].concat(),
    );
    let started = Instant::now();
    let (_kafka, listeners) = start_sasl_kafka(&lib, dir.path(), &keystore);
    let brokers = listeners.sasl_plaintext;
    eprintln!(
        "throwaway SASL Kafka listening after {:?}",
        started.elapsed()
    );

    // The right password: topics are created, a record goes out and comes back.
    let good = sasl_config(dir.path(), &brokers, WORKER_PASSWORD, &unique("sasl"));
    let k = &good.kafka;
    tokio::time::timeout(
        Duration::from_secs(60),
        ensure_topics(k, &[&k.raw_topic, &k.enriched_topic]),
    )
    .await
    .expect("topics within 60 s")
    .expect("ensure_topics authenticates");
    let publisher = KafkaPublisher::new(k).expect("publisher");
    let mut consumer =
        KafkaConsumer::new(k, pipeline::http::Readiness::default(), 1024).expect("consumer");
    // The consumer reads the raw topic; publish there through a producer of the same config.
    let producer = pipeline::distributed::kafka::producer(k).expect("producer");
    producer
        .send(
            rdkafka::producer::FutureRecord::to(&k.raw_topic)
                .key("m1")
                .payload("hello over SASL"),
            Duration::from_secs(10),
        )
        .await
        .expect("raw record acknowledged");
    publisher
        .publish(&[Record {
            topic: Topic::Enriched,
            key: b"m1",
            payload: Some(b"enriched over SASL"),
            headers: &[],
        }])
        .await
        .expect("enriched record acknowledged");
    let polled = tokio::time::timeout(
        Duration::from_secs(60),
        consumer.poll(10, Duration::from_millis(200)),
    )
    .await
    .expect("a record within 60 s")
    .expect("consume over SASL");
    let Polled::Batch(batch) = polled else {
        panic!("expected a batch");
    };
    assert_eq!(batch[0].payload, b"hello over SASL");
    eprintln!(
        "right password: round trip done after {:?}",
        started.elapsed()
    );

    // A wrong password: ensure_topics stops with the broker's reason instead of waiting.
    let bad = sasl_config(dir.path(), &brokers, "not-the-password", &unique("sasl"));
    let k = &bad.kafka;
    let e = tokio::time::timeout(Duration::from_secs(30), ensure_topics(k, &[&k.raw_topic]))
        .await
        .expect("a refusal, not a wait")
        .expect_err("wrong password refused")
        .to_string();
    eprintln!("ensure_topics with a wrong password: {e}");
    assert!(
        e.contains("refused") && e.to_ascii_lowercase().contains("authentication"),
        "{e}"
    );
    // The producer's delivery fails (message.timeout.ms = 3 s via [kafka.properties]) ...
    let producer = pipeline::distributed::kafka::producer(k).expect("producer");
    let sent = producer
        .send(
            rdkafka::producer::FutureRecord::to(&k.raw_topic)
                .key("m2")
                .payload("x"),
            Duration::from_secs(1),
        )
        .await;
    assert!(sent.is_err(), "no delivery with a wrong password");
    // ... and the consumer's poll ends the worker (authentication errors are fatal).
    let mut consumer =
        KafkaConsumer::new(k, pipeline::http::Readiness::default(), 1024).expect("consumer");
    let polled = tokio::time::timeout(
        Duration::from_secs(30),
        consumer.poll(10, Duration::from_millis(200)),
    )
    .await
    .expect("an error, not a wait");
    let e = polled.expect_err("wrong password refused").to_string();
    eprintln!("poll with a wrong password: {e}");
    drop(consumer);

    // SASL over TLS with the broker's CA: topics and a round trip through our producer.
    let brokers = &listeners.sasl_ssl;
    let good = sasl_config_with(
        dir.path(),
        brokers,
        WORKER_PASSWORD,
        &unique("ssl"),
        Some(&ca_file),
    );
    let k = &good.kafka;
    tokio::time::timeout(Duration::from_secs(60), ensure_topics(k, &[&k.dlq_topic]))
        .await
        .expect("topics within 60 s")
        .expect("ensure_topics over SASL_SSL");
    pipeline::distributed::kafka::producer(k)
        .expect("producer")
        .send(
            rdkafka::producer::FutureRecord::to(&k.dlq_topic)
                .key("m3")
                .payload("over TLS"),
            Duration::from_secs(10),
        )
        .await
        .expect("record acknowledged over SASL_SSL");
    eprintln!("sasl_ssl: round trip done after {:?}", started.elapsed());

    // A broker whose CA we do not trust: refused at once, with the TLS reason.
    let other = write(dir.path(), "other.pem", &Ca::new("another CA").cert_pem());
    let bad = sasl_config_with(
        dir.path(),
        brokers,
        WORKER_PASSWORD,
        &unique("ssl"),
        Some(&other),
    );
    let k = &bad.kafka;
    let e = tokio::time::timeout(Duration::from_secs(30), ensure_topics(k, &[&k.dlq_topic]))
        .await
        .expect("a refusal, not a wait")
        .expect_err("untrusted broker refused")
        .to_string();
    eprintln!("ensure_topics with an untrusted broker: {e}");
    assert!(e.contains("refused") && e.contains("SSL"), "{e}");
    eprintln!("whole test {:?}", started.elapsed());
}

/// The dev Cassandra (deploy/dev/services) takes TLS on its CQL port, optionally, with a
/// certificate its own throwaway CA signed (`.services/tls/cassandra/ca.pem`). Plain clients keep
/// working, so only a refusal proves the driver really used TLS: the same connection trusting
/// another CA must fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cql_speaks_tls_to_cassandra_and_refuses_a_node_another_ca_signed() {
    if !common::service_up("Cassandra", common::CQL) {
        return;
    }
    let ca_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.services/tls/cassandra/ca.pem");
    if !ca_file.exists() {
        skip(&format!(
            "{} is missing: the dev Cassandra was not started by deploy/dev/services",
            ca_file.display()
        ));
        return;
    }
    let config = |ca: &Path, name: &str| {
        Config::load(
            None,
            [
                ("BACKCHANNEL__SCYLLA__NODES", common::CQL.to_owned()),
                ("BACKCHANNEL__SCYLLA__TLS_CA_FILE", ca.display().to_string()),
                ("BACKCHANNEL__SCYLLA__TLS_SERVER_NAME", name.to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        )
        .expect("config")
    };
    let trusted = config(&ca_file, "localhost");
    let session = pipeline::distributed::scylla::connect(&trusted.scylla)
        .await
        .expect("CQL over TLS with the dev CA");
    let rows = session
        .query_unpaged("SELECT release_version FROM system.local", &[])
        .await
        .expect("a query over TLS")
        .into_rows_result()
        .expect("rows");
    assert_eq!(rows.rows_num(), 1);

    let dir = tempfile::tempdir().expect("tempdir");
    let other = write(
        dir.path(),
        "other-ca.pem",
        &Ca::new("some other CA").cert_pem(),
    );
    let refused = pipeline::distributed::scylla::connect(&config(&other, "localhost").scylla).await;
    match refused {
        Ok(_) => panic!("a node signed by another CA must be refused"),
        Err(e) => eprintln!("refused as expected: {e}"),
    }
    let wrong_name =
        pipeline::distributed::scylla::connect(&config(&ca_file, "cassandra.example").scylla).await;
    assert!(
        wrong_name.is_err(),
        "a certificate without the configured name is refused"
    );
}
