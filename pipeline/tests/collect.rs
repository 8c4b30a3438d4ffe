//! `backchannel collect` against the real Kafka: a collector killed with SIGKILL and restarted
//! loses no acknowledged mention, because its cursor is saved only after Kafka acknowledged; and
//! what a collector cannot read goes to the dead-letter topic, not only into a log.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{KAFKA, service_up, unique};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Headers;

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
    // The last run resumes from the cursor the kills left: it sends exactly the records after
    // it (the file collector's cursor is the count of records read).
    let resumed_from: u64 = std::fs::read_to_string(dir.path().join("checkpoints/replay.cursor"))
        .expect("a saved cursor")
        .trim()
        .parse()
        .expect("a record count");
    let before = records_in(&topic);
    let status = collect().wait().expect("collect runs to the end");
    assert!(status.success(), "{status:?}");
    assert_eq!(
        records_in(&topic) - before,
        n - resumed_from,
        "the last run sent what follows its cursor ({resumed_from}), no more, no less"
    );

    let consumer = reader(&topic);
    let mut seen: HashMap<String, u32> = HashMap::new();
    // A consumer group's first rebalance on a fresh broker can hand this consumer its partitions
    // twice, from the start each time: a record read again is the consumer's repeat, not one the
    // collector sent twice, so records count once per (partition, offset).
    let (mut read, mut reread): (HashSet<(i32, i64)>, u64) = (HashSet::new(), 0);
    while (seen.len() as u64) < n {
        let m = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} distinct mentions in Kafka", seen.len()))
            .expect("recv");
        if !read.insert((m.partition(), m.offset())) {
            reread += 1;
            continue;
        }
        let id = String::from_utf8_lossy(m.key().expect("keyed")).into_owned();
        *seen.entry(id).or_default() += 1;
    }
    for i in 0..n {
        assert!(
            seen.contains_key(&format!("synthetic:21-{i}")),
            "mention {i} lost"
        );
    }
    // What was sent after the last saved cursor is sent again. How much that is depends on how
    // fast the broker acknowledged (on a fresh broker the first save may hold a few records and
    // everything sent since is repeated), so it is reported, not bounded; resuming from the
    // cursor is checked exactly above.
    let duplicates: u32 = seen.values().map(|c| c - 1).sum();
    eprintln!(
        "{duplicates} duplicates after two SIGKILLs ({reread} records delivered twice to the \
         reading consumer)"
    );
    drop(consumer);
    common::delete_topics(&[&topic])
        .await
        .expect("delete the topic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_a_collector_cannot_read_go_to_the_dead_letter_topic() {
    if !service_up("Kafka", KAFKA) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let source = collectors::Synthetic::new(collectors::SyntheticConfig {
        seed: 22,
        ..Default::default()
    });
    let good = |i| serde_json::to_vec(&source.mention(i)).expect("json");
    let mut huge = source.mention(3);
    huge.text = "word ".repeat(1_000); // 5,000 bytes of text: a mention, but over the message cap
    let lines: Vec<Vec<u8>> = vec![
        good(0),
        b"{not json".to_vec(),
        good(1),
        b"{\"id\":\"x\",\"text\":\"\xff\xfe\"}".to_vec(), // not UTF-8
        "x".repeat(20_000).into_bytes(),                  // over the file's max_record_bytes
        serde_json::to_vec(&huge).expect("json"),
        good(2),
    ];
    std::fs::write(dir.path().join("replay.jsonl"), lines.join(&b'\n')).expect("write replay");
    let (raw, dlq) = (unique("collect_raw"), unique("collect_dlq"));
    let config = dir.path().join("backchannel.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nraw_topic = \"{raw}\"\ndlq_topic = \"{dlq}\"\n\n\
             [pipeline]\nmax_message_bytes = 4096\n\n\
             [collect]\ncheckpoint_dir = \"{}\"\n\n\
             [collectors.replay]\ntype = \"file\"\npath = \"{}\"\nmax_record_bytes = 16384\n",
            dir.path().join("checkpoints").display(),
            dir.path().join("replay.jsonl").display()
        ),
    )
    .expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_backchannel"))
        .args(["collect", "--source", "replay", "--config"])
        .arg(&config)
        .env("BACKCHANNEL_LOG", "warn")
        .stdout(Stdio::null())
        .output()
        .expect("run collect");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("replay: 3 mentions, 0 deletions, 4 dead-lettered (1 of them mentions over the size limit)"),
        "{stderr}"
    );
    assert_eq!(records_in(&raw), 3, "the good lines, and only them");

    let consumer = reader(&dlq);
    let mut dead = Vec::new();
    while dead.len() < 4 {
        let m = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of 4 dead letters: {dead:#?}", dead.len()))
            .expect("recv");
        let headers: HashMap<String, String> = m
            .headers()
            .expect("headers")
            .iter()
            .map(|h| {
                let v = String::from_utf8_lossy(h.value.expect("a value")).into_owned();
                (h.key.to_owned(), v)
            })
            .collect();
        assert_eq!(
            m.key(),
            Some(&b"replay"[..]),
            "keyed by the collector's name"
        );
        assert_eq!(headers["collector"], "replay");
        assert_eq!(headers["source"], "file");
        dead.push((headers, m.payload().expect("a payload").to_vec()));
    }
    // One partition each way would keep the order; with several, sort by the line.
    dead.sort_by_key(|(_, payload)| {
        lines
            .iter()
            .position(|l| l.starts_with(&payload[..payload.len().min(200)]))
            .expect("a line of the file")
    });
    let summary: Vec<(&str, &str, Option<&str>)> = dead
        .iter()
        .map(|(h, _)| {
            (
                h["reason"].as_str(),
                h["payload_truncated"].as_str(),
                h.get("payload_bytes").map(String::as_str),
            )
        })
        .collect();
    let huge_len = lines[5].len().to_string();
    assert_eq!(
        summary,
        [
            ("malformed_json", "false", Some("9")),
            (
                "invalid_utf8",
                "false",
                Some(lines[3].len().to_string().as_str())
            ),
            ("too_large", "true", None),
            ("too_large", "false", Some(huge_len.as_str())),
        ]
    );
    assert_eq!(dead[0].1, lines[1], "the line as it was");
    assert_eq!(
        dead[1].1, lines[3],
        "bytes that are not UTF-8 kept as they were"
    );
    assert_eq!(
        dead[2].1,
        lines[4][..200],
        "the start of a line over the file's limit"
    );
    assert!(
        dead[2].0["detail"].contains("max_record_bytes (16384 bytes)"),
        "{}",
        dead[2].0["detail"]
    );
    assert_eq!(
        dead[3].1, lines[5],
        "the whole mention that was over the message cap"
    );
    assert!(
        dead[3].0["detail"].contains("over pipeline.max_message_bytes (4096)"),
        "{}",
        dead[3].0["detail"]
    );
    drop(consumer);
    common::delete_topics(&[&raw, &dlq])
        .await
        .expect("delete the topics");
}

/// A consumer of `topic` from its start, in a group of its own.
fn reader(topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("group.id", unique("collect_check"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

/// Records in every partition of `topic` (the sum of its high watermarks; nothing is deleted).
fn records_in(topic: &str) -> u64 {
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .expect("consumer");
    let timeout = Duration::from_secs(10);
    let meta = c.fetch_metadata(Some(topic), timeout).expect("metadata");
    let partitions = meta.topics().first().expect("the topic").partitions();
    assert!(!partitions.is_empty(), "the topic has partitions");
    partitions
        .iter()
        .map(|p| {
            let (low, high) = c
                .fetch_watermarks(topic, p.id(), timeout)
                .expect("watermarks");
            assert_eq!(low, 0, "nothing deleted");
            u64::try_from(high).expect("a count")
        })
        .sum()
}

/// A source that goes quiet after a burst (an RSS feed polled every five minutes) still has its
/// cursor saved within about a second of Kafka acknowledging the burst, not at its next item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_source_has_its_cursor_saved_within_a_second() {
    if !service_up("Kafka", KAFKA) {
        return;
    }
    let feed = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
        <link>https://example.com/</link><description>d</description>
        <item><title>one</title><link>https://example.com/1</link><guid>g1</guid>
          <pubDate>Mon, 07 Dec 2026 09:00:00 GMT</pubDate></item>
        <item><title>two</title><link>https://example.com/2</link><guid>g2</guid>
          <pubDate>Mon, 07 Dec 2026 09:01:00 GMT</pubDate></item>
        </channel></rss>"#;
    let app = axum::Router::new().route(
        "/feed.xml",
        axum::routing::get(
            move || async move { ([("content-type", "application/rss+xml")], feed) },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let topic = unique("collect_quiet");
    let config = dir.path().join("backchannel.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nraw_topic = \"{topic}\"\n\n[collect]\ncheckpoint_dir = \"{}\"\n\n\
             [collectors.feed]\ntype = \"rss\"\nurl = \"http://{addr}/feed.xml\"\n\
             poll_interval = \"10m\"\n",
            dir.path().join("checkpoints").display(),
        ),
    )
    .expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_backchannel"))
        .args(["collect", "--source", "feed", "--config"])
        .arg(&config)
        .env("BACKCHANNEL_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn collect");
    // Both entries reach Kafka at the first poll, then the feed is quiet for ten minutes: the
    // cursor must be saved long before that (within a second of the acknowledgements; the old
    // runner saved only when its next item came).
    let cursor = dir.path().join("checkpoints/feed.cursor");
    let started = std::time::Instant::now();
    while !cursor.exists() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("no cursor saved 30 s after the start, with the feed quiet");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().expect("kill");
    let _ = child.wait();
    assert_eq!(records_in(&topic), 2);
    let saved = std::fs::read_to_string(&cursor).expect("cursor");
    // The feed's cursor: a hash of each entry seen.
    assert_eq!(saved.trim().split(',').count(), 2, "{saved}");
    common::delete_topics(&[&topic])
        .await
        .expect("delete the topic");
}
