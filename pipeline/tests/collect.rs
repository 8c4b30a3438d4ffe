//! `backchannel collect` against the real Kafka: a collector killed with SIGKILL and restarted
//! loses no acknowledged mention, because its cursor is saved only after Kafka acknowledged.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{KAFKA, service_up, unique};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_killed_with_sigkill_resumes_without_losing_acknowledged_mentions() {
    if !service_up("Kafka", KAFKA) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let n = 30_000u64;
    let source = collectors::Synthetic::new(collectors::SyntheticConfig {
        seed: 21,
        ..Default::default()
    });
    let mut lines = String::new();
    for i in 0..n {
        lines += &serde_json::to_string(&source.mention(i)).expect("json");
        lines.push('\n');
    }
    std::fs::write(dir.path().join("replay.jsonl"), lines).expect("write replay file");
    let topic = unique("collect_raw");
    let config = dir.path().join("backchannel.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nraw_topic = \"{topic}\"\n\n[collect]\ncheckpoint_dir = \"{}\"\n\n\
             [collectors.replay]\ntype = \"file\"\npath = \"{}\"\nrate = 15000\n",
            dir.path().join("checkpoints").display(),
            dir.path().join("replay.jsonl").display()
        ),
    )
    .expect("write config");
    let collect = || {
        Command::new(env!("CARGO_BIN_EXE_backchannel"))
            .args(["collect", "--source", "replay", "--config"])
            .arg(&config)
            .env("BACKCHANNEL_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn collect")
    };
    // Kill it twice mid-run, without warning, once a checkpoint exists.
    for _ in 0..2 {
        let mut child = collect();
        let checkpoint = dir.path().join("checkpoints");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::fs::read_dir(&checkpoint)
            .map(|d| d.count())
            .unwrap_or(0)
            == 0
        {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint written"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(700));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }
    let status = collect().wait().expect("collect runs to the end");
    assert!(status.success(), "{status:?}");

    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("group.id", unique("collect_check"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut seen: HashMap<String, u32> = HashMap::new();
    while (seen.len() as u64) < n {
        let m = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} distinct mentions in Kafka", seen.len()))
            .expect("recv");
        let id = String::from_utf8_lossy(m.key().expect("keyed")).into_owned();
        *seen.entry(id).or_default() += 1;
    }
    for i in 0..n {
        assert!(
            seen.contains_key(&format!("synthetic:21-{i}")),
            "mention {i} lost"
        );
    }
    let duplicates: u32 = seen.values().map(|c| c - 1).sum();
    // What was sent after the last saved cursor is sent again: at most ~1 s of it per kill.
    assert!(duplicates < 2 * 15_000 + 1_000, "{duplicates} duplicates");
    eprintln!("{duplicates} duplicates after two SIGKILLs");
}
