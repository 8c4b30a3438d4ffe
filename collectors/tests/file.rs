//! File replay: JSON lines and CSV from disk, malformed records skipped and counted, resume from
//! the record-count cursor, and pacing at a fixed rate.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use collectors::{Cursor, Event, FileConfig, FileFormat, FileReplay, Synthetic, SyntheticConfig};
use support::{last_cursor, mentions, take};

fn jsonl_file(lines: &[String]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    for l in lines {
        writeln!(f, "{l}").expect("write");
    }
    f
}

fn cfg(path: &std::path::Path, format: FileFormat, rate: f64) -> FileConfig {
    FileConfig {
        path: path.display().to_string(),
        format,
        rate,
        max_record_bytes: 64 * 1024,
    }
}

#[tokio::test]
async fn jsonl_replays_skips_malformed_and_resumes_from_cursor() {
    let synth = Synthetic::new(SyntheticConfig::default());
    let good: Vec<String> = (0..6)
        .map(|i| serde_json::to_string(&synth.mention(i)).expect("json"))
        .collect();
    let mut lines = good.clone();
    lines.insert(2, "{not json".into());
    lines.insert(4, r#"{"id":"x"}"#.into()); // JSON, but not a mention
    lines.insert(5, "x".repeat(100_000)); // over the record limit
    lines.insert(6, String::new()); // blank lines are not records
    let f = jsonl_file(&lines);

    let mut s = FileReplay::new(cfg(f.path(), FileFormat::Jsonl, 0.0))
        .expect("cfg")
        .stream(None);
    let items = take(&mut s, 100, Duration::from_secs(5)).await;
    let got = mentions(&items);
    assert_eq!(got.len(), 6, "every good line, none of the bad ones");
    assert_eq!(got[0], synth.mention(0));
    assert_eq!(got[5], synth.mention(5));
    // The cursor counts records, malformed ones included: 6 good + 3 bad.
    assert_eq!(last_cursor(&items), Some(Cursor("9".into())));
    // Each bad line is handed on to be dead-lettered, with the cursor after it: what a line
    // read whole holds, the start of one over the limit.
    let bad: Vec<_> = items
        .iter()
        .filter_map(|i| {
            let i = i.as_ref().ok()?;
            match &i.event {
                Event::Malformed(b) => Some((b.reason, b.bytes, b.payload.len(), i.cursor.clone())),
                _ => None,
            }
        })
        .collect();
    let at = |n: &str| Some(Cursor(n.into()));
    assert_eq!(
        bad,
        [
            ("malformed_json", Some(9), 9, at("3")),
            ("not_a_mention", Some(10), 10, at("5")),
            ("too_large", None, 200, at("6")),
        ]
    );

    // A restart after the first bad line resumes with the record after it.
    let third = items[2].as_ref().expect("item").cursor.clone();
    assert_eq!(third, at("3"));
    let mut s = FileReplay::new(cfg(f.path(), FileFormat::Jsonl, 0.0))
        .expect("cfg")
        .stream(third);
    let rest = mentions(&take(&mut s, 100, Duration::from_secs(5)).await);
    assert_eq!(rest.len(), 4);
    assert_eq!(rest[0], synth.mention(2));
}

#[tokio::test]
async fn csv_rows_become_mentions_with_quoted_newlines_and_extra_columns() {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(
        b"id,created_at,text,author_id,author_handle,likes,campaign\n\
          42,2024-05-01T10:00:00Z,\"two\nlines, with a comma\",u1,@ann,7,spring\n\
          43,not-a-date,bad row,u2,bob,,\n\
          44,2024-05-01T10:00:02Z,no author,,,,\n\
          reddit:t1_x,2024-05-01T10:00:03Z,plain,u3,cy,0,\n",
    )
    .expect("write");
    let mut c = cfg(f.path(), FileFormat::Csv, 0.0);
    c.path = f.path().display().to_string();
    let mut s = FileReplay::new(c).expect("cfg").stream(None);
    let got = mentions(&take(&mut s, 10, Duration::from_secs(5)).await);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, "file:42");
    assert_eq!(got[0].text, "two\nlines, with a comma");
    assert_eq!(got[0].author.handle, "ann");
    assert_eq!(got[0].engagement.likes, Some(7));
    assert_eq!(
        got[0].extra.get("campaign"),
        Some(&serde_json::json!("spring"))
    );
    assert_eq!(
        got[1].id, "file:reddit:t1_x",
        "a file row's id is qualified by its own source"
    );
}

#[tokio::test]
async fn rate_paces_the_replay() {
    let synth = Synthetic::new(SyntheticConfig::default());
    let lines: Vec<String> = (0..6)
        .map(|i| serde_json::to_string(&synth.mention(i)).expect("json"))
        .collect();
    let f = jsonl_file(&lines);
    let started = Instant::now();
    let mut s = FileReplay::new(cfg(f.path(), FileFormat::Jsonl, 50.0))
        .expect("cfg")
        .stream(None);
    let got = mentions(&take(&mut s, 100, Duration::from_secs(5)).await);
    assert_eq!(got.len(), 6);
    // Six mentions at 50/s: the sixth is due 100 ms after the first.
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn config_is_strict_and_validated() {
    let bad: Result<FileConfig, _> = serde_json::from_str(r#"{"path":"a","sped":2}"#);
    assert!(bad.is_err(), "unknown keys are rejected");
    let c: FileConfig =
        serde_json::from_str(r#"{"path":"a","format":"ndjson","rate":-1}"#).expect("parse");
    assert!(FileReplay::new(c).is_err());
}
