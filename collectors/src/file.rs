//! File replay: mentions from a JSON-lines (NDJSON) or CSV file, or stdin, as fast as the
//! consumer takes them or at a fixed rate.
//!
//! Reading and parsing happen on a blocking thread (files and stdin are blocking I/O); the async
//! side only paces and emits. The cursor is the number of records consumed (good and malformed
//! alike), so a restart with it skips exactly what was already delivered. Stdin cannot be
//! rewound: a cursor given for stdin skips that many records of whatever arrives.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use chrono::{DateTime, Utc};
use model::{Author, DecodeLimits, Engagement, Kind, Mention, Source};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::common::lines::{Line, LineBuffer};
use crate::common::{CollectorError, Cursor, Emitter, ItemStream, Malformed};

/// How to replay a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The file to read, or `"-"` for standard input.
    pub path: String,
    /// `jsonl` (alias `ndjson`): one `Mention` JSON object a line. `csv`: a header row, then one
    /// mention a row (see [`FileFormat::Csv`] for the columns).
    #[serde(default)]
    pub format: FileFormat,
    /// Mentions per second; `0` replays as fast as the consumer takes them. A replay held up
    /// downstream resumes at this rate, without a burst to make up the time lost.
    #[serde(default)]
    pub rate: f64,
    /// Largest accepted record in bytes; longer ones are counted as malformed and skipped.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
}

fn default_max_record_bytes() -> usize {
    1 << 20
}

/// A replay file's format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// One `Mention` JSON object a line, as `backchannel` writes them.
    #[default]
    #[serde(alias = "ndjson", alias = "json_lines")]
    Jsonl,
    /// Comma-separated with a header row. Required columns: `id`, `created_at` (RFC 3339),
    /// `text`, `author_id`. Optional: `source` (default `file`), `kind` (default `post`), `url`,
    /// `lang`, `author_handle`, `author_name`, `followers`, `likes`, `reposts`, `replies`,
    /// `collected_at`, `edited_at` (RFC 3339). Other columns are kept in `extra`. An `id` without a `source:` prefix gets
    /// one.
    Csv,
}

impl FileConfig {
    /// Checks the knobs serde cannot.
    pub fn validate(&self) -> Result<(), CollectorError> {
        if self.path.is_empty() {
            return Err(CollectorError::Config(
                "file.path: must not be empty".into(),
            ));
        }
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            return Err(CollectorError::Config(format!(
                "file.rate: expected mentions per second >= 0, got {}",
                self.rate
            )));
        }
        Ok(())
    }
}

/// The file replay collector.
#[derive(Debug, Clone)]
pub struct FileReplay {
    cfg: FileConfig,
}

impl FileReplay {
    pub fn new(cfg: FileConfig) -> Result<Self, CollectorError> {
        cfg.validate()?;
        Ok(FileReplay { cfg })
    }

    /// Replays the file from the start, or after the record that `resume` names. The stream ends
    /// at the end of the file.
    pub fn stream(self, resume: Option<Cursor>) -> ItemStream {
        crate::common::spawn(Source::File, move |em| self.run(em, resume))
    }

    async fn run(self, mut em: Emitter, resume: Option<Cursor>) -> Result<(), CollectorError> {
        let skip: u64 = match &resume {
            Some(c) => c.as_str().parse().map_err(|_| {
                CollectorError::Checkpoint(format!("file cursor `{c}` is not a record count"))
            })?,
            None => 0,
        };
        let input: Box<dyn Read + Send> = if self.cfg.path == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(&self.cfg.path).map_err(|e| {
                CollectorError::Config(format!("file.path: cannot open {}: {e}", self.cfg.path))
            })?)
        };
        let (tx, mut rx) = mpsc::channel::<Record>(256);
        let (format, max) = (self.cfg.format, self.cfg.max_record_bytes);
        let reader = tokio::task::spawn_blocking(move || match format {
            FileFormat::Jsonl => read_jsonl(input, max, &tx),
            FileFormat::Csv => read_csv(input, max, &tx),
        });
        let mut pace = (self.cfg.rate > 0.0)
            .then(|| Spacing::new(Duration::from_secs_f64(1.0 / self.cfg.rate)));
        let mut n = 0u64;
        while let Some(rec) = rx.recv().await {
            n += 1;
            if n <= skip {
                continue;
            }
            let cursor = Some(Cursor(n.to_string()));
            match rec {
                Record::Mention(m) => {
                    if let Some(pace) = &mut pace {
                        pace.wait().await;
                    }
                    em.mention(*m, cursor).await?;
                }
                Record::Bad(bad) => em.malformed_frame(bad, cursor).await?,
            }
        }
        match reader.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CollectorError::Io(e)),
            Err(e) => Err(CollectorError::Transport(format!(
                "file reader thread: {e}"
            ))),
        }
    }
}

/// How far behind its schedule a replay may fall and still catch up. Timer granularity and
/// scheduling make a fast replay fall behind by a few milliseconds all the time, and it catches
/// up to keep its average rate; a stall downstream (a broker away for a minute) is not made up
/// for, or the replay would send a minute's records at full speed when the broker came back.
const CATCH_UP: Duration = Duration::from_millis(100);

/// Spaces records `interval` apart on average, one timer wait per record (a wait for an instant
/// already past returns at once, so rates above the timer's 1 ms resolution still hold).
#[derive(Debug)]
struct Spacing {
    interval: Duration,
    next: tokio::time::Instant,
}

impl Spacing {
    fn new(interval: Duration) -> Spacing {
        Spacing {
            interval,
            next: tokio::time::Instant::now(),
        }
    }

    async fn wait(&mut self) {
        let now = tokio::time::Instant::now();
        if self.next + CATCH_UP < now {
            // Stalled: resume the pace from now instead of bursting to make up the gap.
            self.next = now;
        }
        tokio::time::sleep_until(self.next).await;
        self.next += self.interval;
    }
}

/// One record read from the file.
#[derive(Debug)]
enum Record {
    Mention(Box<Mention>),
    Bad(Malformed),
}

fn read_jsonl(
    input: Box<dyn Read + Send>,
    max: usize,
    tx: &mpsc::Sender<Record>,
) -> std::io::Result<()> {
    let limits = DecodeLimits {
        max_bytes: max,
        ..DecodeLimits::default()
    };
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut lines = LineBuffer::new(max);
    let mut out = Vec::new();
    let send = |line: Line| -> bool {
        let rec = match line {
            Line::Complete(l) if l.iter().all(u8::is_ascii_whitespace) => return true,
            Line::Complete(l) => match Mention::decode(&l, limits) {
                Ok(m) => Record::Mention(Box::new(m)),
                Err(e) => Record::Bad(Malformed::new(e.reason(), e.to_string(), &l)),
            },
            Line::TooLong { prefix } => Record::Bad(Malformed::oversized(
                "a line",
                "max_record_bytes",
                max,
                "reading on at the next line",
                &prefix,
            )),
        };
        tx.blocking_send(rec).is_ok()
    };
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        lines.push(chunk, &mut out);
        let len = chunk.len();
        reader.consume(len);
        for line in out.drain(..) {
            if !send(line) {
                return Ok(()); // the consumer went away
            }
        }
    }
    if let Some(tail) = lines.finish() {
        send(Line::Complete(tail));
    }
    Ok(())
}

fn read_csv(
    input: Box<dyn Read + Send>,
    max: usize,
    tx: &mpsc::Sender<Record>,
) -> std::io::Result<()> {
    use csv_core::ReadRecordResult::{End, InputEmpty, OutputEndsFull, OutputFull, Record as Row};
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut core = csv_core::Reader::new();
    // The record so far: its fields' bytes and ends (ends count from the record's start), grown
    // up to `max` bytes and MAX_CSV_FIELDS fields. Past either, the rest of the record is parsed
    // into `scratch` and dropped, so one runaway record (an unclosed quote) costs no memory.
    // One byte more than `max` tells a record over it.
    let (mut out, mut ends) = (vec![0u8; (max + 1).min(4096)], vec![0usize; 64]);
    let (mut outlen, mut endlen) = (0, 0);
    let (mut scratch, mut scratch_ends) = (vec![0u8; 4096], vec![0usize; 64]);
    let mut over = false;
    let mut headers: Option<Vec<String>> = None;
    loop {
        let input = reader.fill_buf()?;
        let (res, nin, nout, nend) = if over {
            core.read_record(input, &mut scratch, &mut scratch_ends)
        } else {
            core.read_record(input, &mut out[outlen..], &mut ends[endlen..])
        };
        reader.consume(nin);
        if !over {
            outlen += nout;
            endlen += nend;
        }
        match res {
            InputEmpty => {}
            OutputFull if !over && out.len() <= max => {
                out.resize((out.len() * 2).min(max + 1), 0);
            }
            OutputEndsFull if !over && ends.len() < MAX_CSV_FIELDS => {
                ends.resize((ends.len() * 2).min(MAX_CSV_FIELDS), 0);
            }
            OutputFull | OutputEndsFull => over = true,
            Row => {
                let fields = &ends[..endlen];
                over |= outlen > max;
                if headers.is_none() && (over || std::str::from_utf8(&out[..outlen]).is_err()) {
                    return Err(std::io::Error::other(format!(
                        "CSV header: not UTF-8, or longer than {max} bytes or {MAX_CSV_FIELDS} \
                         fields"
                    )));
                }
                // What the record makes: nothing for a blank line or the header.
                let r = if over {
                    Some(Record::Bad(Malformed::oversized(
                        "a record",
                        "max_record_bytes",
                        max,
                        "reading on at the next record",
                        &out[..outlen.min(200)],
                    )))
                } else if outlen == 0 && fields.len() <= 1 {
                    None
                } else {
                    let cells: Result<Vec<&str>, _> = fields
                        .iter()
                        .scan(0, |at, &end| {
                            let cell = std::str::from_utf8(&out[*at..end]);
                            *at = end;
                            Some(cell)
                        })
                        .collect();
                    let bad = |reason| {
                        let frame = joined(&out[..outlen], fields);
                        Some(Record::Bad(Malformed::new(reason, String::new(), &frame)))
                    };
                    match (cells, &headers) {
                        (Err(_), _) => bad("invalid_utf8"),
                        (Ok(cells), None) => {
                            headers = Some(cells.iter().map(|c| c.trim().to_owned()).collect());
                            None
                        }
                        (Ok(cells), Some(h)) => match csv_mention(h, &cells) {
                            Ok(m) => Some(Record::Mention(Box::new(m))),
                            Err(reason) => bad(reason),
                        },
                    }
                };
                (over, outlen, endlen) = (false, 0, 0);
                if let Some(r) = r
                    && tx.blocking_send(r).is_err()
                {
                    return Ok(()); // the consumer went away
                }
            }
            End => return Ok(()),
        }
    }
}

/// A CSV record's fields joined by commas, for a dead letter (quoting is not restored): `data`
/// holds the fields one after another, and `ends` where each ends.
fn joined(data: &[u8], ends: &[usize]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(data.len() + ends.len());
    let mut at = 0;
    for (i, &end) in ends.iter().enumerate() {
        if i > 0 {
            frame.push(b',');
        }
        frame.extend_from_slice(&data[at..end]);
        at = end;
    }
    frame
}

/// Fields a CSV record may have; a record with more is too large.
const MAX_CSV_FIELDS: usize = 4096;

/// One CSV row as a mention; the error is a reason code.
fn csv_mention(headers: &[String], rec: &[&str]) -> Result<Mention, &'static str> {
    let mut row: HashMap<&str, &str> = HashMap::new();
    for (h, v) in headers.iter().zip(rec) {
        row.insert(h.as_str(), *v);
    }
    let get = |k: &str| row.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let num = |k: &str| get(k).and_then(|v| v.parse::<u64>().ok());
    let time = |k: &str| -> Result<Option<DateTime<Utc>>, &'static str> {
        get(k)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|d| d.with_timezone(&Utc))
                    .map_err(|_| "bad_timestamp")
            })
            .transpose()
    };
    let source = match get("source") {
        Some(s) => serde_json::from_value::<Source>(serde_json::Value::String(s.to_owned()))
            .map_err(|_| "unknown_source")?,
        None => Source::File,
    };
    let kind = match get("kind") {
        Some(k) => serde_json::from_value::<Kind>(serde_json::Value::String(k.to_owned()))
            .map_err(|_| "unknown_kind")?,
        None => Kind::Post,
    };
    let id = get("id").ok_or("missing_id")?;
    let id = if id.starts_with(&format!("{}:", source.as_str())) {
        id.to_owned()
    } else {
        format!("{}:{id}", source.as_str())
    };
    const KNOWN: &[&str] = &[
        "id",
        "source",
        "kind",
        "url",
        "created_at",
        "collected_at",
        "edited_at",
        "text",
        "lang",
        "author_id",
        "author_handle",
        "author_name",
        "followers",
        "likes",
        "reposts",
        "replies",
    ];
    let extra = row
        .iter()
        .filter(|(k, _)| !KNOWN.contains(k))
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
        .collect();
    let m = Mention {
        id,
        source,
        kind,
        url: get("url").map(str::to_owned),
        created_at: time("created_at")?.ok_or("missing_created_at")?,
        collected_at: time("collected_at")?.unwrap_or_else(Utc::now),
        edited_at: time("edited_at")?,
        text: row.get("text").copied().unwrap_or("").to_owned(),
        lang_hint: get("lang").map(str::to_owned),
        author: Author {
            id: get("author_id").ok_or("missing_author_id")?.to_owned(),
            handle: get("author_handle")
                .unwrap_or("")
                .trim_start_matches('@')
                .to_owned(),
            display_name: get("author_name").map(str::to_owned),
            followers: num("followers"),
            ..Author::default()
        },
        engagement: Engagement {
            likes: num("likes"),
            reposts: num("reposts"),
            replies: num("replies"),
            ..Engagement::default()
        },
        refs: Default::default(),
        media: Vec::new(),
        geo: None,
        raw: None,
        extra,
    };
    m.validate().map_err(|_| "not_a_mention")?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// Time for `n` waits.
    async fn waits(pace: &mut Spacing, n: u32) -> Duration {
        let t = Instant::now();
        for _ in 0..n {
            pace.wait().await;
        }
        t.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_the_rate_and_does_not_burst_after_a_stall() {
        let mut pace = Spacing::new(Duration::from_millis(10));
        // The first record goes at once, then one every 10 ms.
        assert_eq!(waits(&mut pace, 11).await, Duration::from_millis(100));
        // A little behind (jitter): caught up at once, so the average rate holds.
        tokio::time::advance(Duration::from_millis(50)).await;
        assert_eq!(waits(&mut pace, 5).await, Duration::ZERO);
        // Far behind (the consumer stalled for a minute): the next records keep the pace
        // instead of 6,000 of them going out at once.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(waits(&mut pace, 11).await, Duration::from_millis(100));
    }

    /// What `read_csv` makes of `bytes` with records of at most `max` bytes.
    fn read(bytes: Vec<u8>, max: usize) -> Vec<std::result::Result<String, &'static str>> {
        let (tx, mut rx) = mpsc::channel(100);
        read_csv(Box::new(std::io::Cursor::new(bytes)), max, &tx).expect("reads");
        drop(tx);
        let mut got = Vec::new();
        while let Ok(r) = rx.try_recv() {
            got.push(match r {
                Record::Mention(m) => Ok(m.id),
                Record::Bad(bad) => Err(bad.reason),
            });
        }
        got
    }

    #[test]
    fn a_csv_record_over_the_limit_is_reported_and_the_next_are_read() {
        let t = "2024-05-01T10:00:00Z";
        let mut csv = format!("id,created_at,author_id,text\r\n1,{t},u,short\n\n").into_bytes();
        csv.extend_from_slice(format!("2,{t},u,\"{}\"\n", "long, long\n".repeat(40)).as_bytes());
        csv.extend_from_slice(format!("3,{t},u,after\n4,{t},u,not utf-8 ").as_bytes());
        csv.push(0xff);
        csv.extend_from_slice(format!("\n5,{t},u,fine\n").as_bytes());
        // An unclosed quote runs to the end of the file: one record, read without being held.
        csv.extend_from_slice(format!("6,{t},u,\"open {}", "x,\n".repeat(10_000)).as_bytes());
        assert_eq!(
            read(csv, 100),
            vec![
                Ok("file:1".to_owned()),
                Err("too_large"),
                Ok("file:3".to_owned()),
                Err("invalid_utf8"),
                Ok("file:5".to_owned()),
                Err("too_large"),
            ]
        );
    }

    #[test]
    fn a_csv_header_that_cannot_be_read_is_an_error() {
        let (tx, _rx) = mpsc::channel(10);
        let bad = b"id,te\xffxt\n1,a\n".to_vec();
        let err = read_csv(Box::new(std::io::Cursor::new(bad)), 100, &tx).expect_err("refused");
        assert!(err.to_string().contains("CSV header"), "{err}");
    }
}
