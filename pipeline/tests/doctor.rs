//! `backchannel doctor` against the real services: all OK with a keyspace `schema apply` made and
//! topics that exist; a plain FAIL (and exit status 1) for a keyspace or a topic that does not.

mod common;
mod harness;

use std::process::Command;

use common::{CQL, KAFKA, REDIS, service_up};
use harness::Env;

/// Runs `backchannel doctor` with `vars`: exit status and stdout.
fn doctor(vars: &[(String, String)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_backchannel"))
        .arg("doctor")
        .env_remove("BACKCHANNEL_CONFIG")
        .envs(vars.iter().cloned())
        .output()
        .expect("run doctor");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn services() -> bool {
    service_up("Kafka", KAFKA) && service_up("Cassandra", CQL) && service_up("Redis", REDIS)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_on_a_good_setup_and_names_what_is_missing() {
    if !services() {
        return;
    }
    let env = Env::new("doctor").await;
    let mut vars = env.vars();
    vars.push(("BACKCHANNEL__KAFKA__CREATE_TOPICS".into(), "false".into()));

    let (code, out) = doctor(&vars);
    assert_eq!(code, 0, "{out}");
    for check in [
        "config",
        "kafka",
        "topic",
        "cassandra",
        "schema",
        "clock",
        "redis",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("OK") && l.contains(&format!(" {check}: "))),
            "no OK {check} line in:\n{out}"
        );
    }
    assert!(!out.contains("FAIL"), "{out}");
    assert!(
        out.contains(&format!("{}: 4 partitions, replication 1", env.raw)),
        "{out}"
    );

    // A keyspace an older build created, before `topic_mentions` had the column spilled
    // minutes are marked in: this build's workers could not prepare their statements.
    let ks = &env.keyspace;
    env.session
        .query_unpaged(format!("ALTER TABLE {ks}.topic_mentions DROP spilled"), ())
        .await
        .expect("an older table");
    let (code, out) = doctor(&vars);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("FAIL")
            && l.contains(" schema: ")
            && l.contains("lacks topic_mentions.spilled")
            && l.contains("schema apply")),
        "{out}"
    );
    env.session
        .query_unpaged(
            format!("ALTER TABLE {ks}.topic_mentions ADD spilled int static"),
            (),
        )
        .await
        .expect("upgraded");
    let (code, out) = doctor(&vars);
    assert_eq!(code, 0, "{out}");

    // A keyspace nobody created and a raw topic that does not exist.
    let mut bad = vars.clone();
    bad.push((
        "BACKCHANNEL__SCYLLA__KEYSPACE".into(),
        format!("{}_missing", env.keyspace),
    ));
    bad.push((
        "BACKCHANNEL__KAFKA__RAW_TOPIC".into(),
        format!("{}.missing", env.raw),
    ));
    let (code, out) = doctor(&bad);
    assert_eq!(code, 1, "{out}");
    let fail = |what: &str| {
        out.lines()
            .any(|l| l.starts_with("FAIL") && l.contains(what))
    };
    assert!(
        fail(&format!("keyspace {}_missing does not exist", env.keyspace)) && fail("schema apply"),
        "{out}"
    );
    assert!(
        fail(&format!(
            "{}.missing does not exist; create it with",
            env.raw
        )),
        "{out}"
    );
    // The rest still checked, and still fine.
    assert!(out.lines().any(|l| l.starts_with("OK   redis")), "{out}");

    // A worker on the missing keyspace exits at once with the same advice: waiting is for
    // outages, and no outage explains a keyspace that was never made.
    let mut worker = Command::new(env!("CARGO_BIN_EXE_backchannel"))
        .arg("worker")
        .env_remove("BACKCHANNEL_CONFIG")
        .envs(bad.iter().cloned())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run worker");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = worker.try_wait().expect("status") {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = worker.kill();
            panic!("a worker without a schema was still waiting after 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut worker.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert!(!status.success(), "{err}");
    assert!(err.contains("schema apply"), "{err}");
    env.drop_all().await;
}

#[test]
fn doctor_fails_plainly_on_a_bad_config_and_unreachable_services() {
    let (code, out) = doctor(&[("BACKCHANNEL__PIPELINE__BATCH_SIZE".into(), "-1".into())]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("FAIL config: "), "{out}");
    assert!(out.contains("pipeline.batch_size: invalid value"), "{out}");

    // Nothing listens on port 1.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("unreachable.toml");
    std::fs::write(
        &file,
        "[pipeline]\nmode = \"distributed\"\n[kafka]\nbrokers = \"127.0.0.1:1\"\n\
         [scylla]\nnodes = [\"127.0.0.1:1\"]\n[redis]\nurl = \"redis://127.0.0.1:1\"\n",
    )
    .expect("config file");
    let (code, out) = doctor(&[("BACKCHANNEL_CONFIG".into(), file.display().to_string())]);
    assert_eq!(code, 1, "{out}");
    for check in ["kafka", "cassandra", "redis"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("FAIL {check}: "))),
            "no FAIL {check} in:\n{out}"
        );
    }
}
