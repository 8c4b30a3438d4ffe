use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::error::{Error, Result};
use crate::traits::{Publisher, Record, Topic};

/// Embedded publishing: enriched mentions go to an in-process broadcast channel (local
/// subscribers; slow ones miss messages rather than stall the pipeline), dead letters are
/// appended to `dead-letters.jsonl`, one JSON object per line with the reason headers and the
/// payload (as a string when it is UTF-8, else hex). The file is rotated when it reaches its size
/// limit: the full one becomes `dead-letters.1.jsonl` (replacing the one before), so dead letters
/// take at most twice the limit on disk.
///
/// With a live push hub ([`LocalPublisher::with_hub`]) every enriched record also goes to the
/// hub at the next offset of partition 0. Offsets start at the microseconds since the Unix epoch
/// when the publisher opened, so they keep growing across restarts: a client's cursor from
/// before a restart reads as older than the (new, empty) replay buffer, and it is told so.
#[derive(Debug, Clone)]
pub struct LocalPublisher {
    enriched: broadcast::Sender<Arc<[u8]>>,
    hub: Option<(Arc<crate::push::Hub>, Arc<Mutex<i64>>)>,
    dlq: Arc<Mutex<DeadLetterFile>>,
    dlq_path: PathBuf,
}

#[derive(Debug)]
struct DeadLetterFile {
    file: std::fs::File,
    path: PathBuf,
    len: u64,
    max_bytes: u64,
}

impl DeadLetterFile {
    fn append(&mut self, lines: &[u8]) -> std::io::Result<()> {
        if self.len > 0 && self.len + lines.len() as u64 > self.max_bytes {
            std::fs::rename(&self.path, self.path.with_extension("1.jsonl"))?;
            self.file = open_append(&self.path)?;
            self.len = 0;
        }
        self.file.write_all(lines)?;
        self.file.sync_data()?;
        self.len += lines.len() as u64;
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

impl LocalPublisher {
    /// Opens `dir/dead-letters.jsonl`, rotated at `max_dead_letter_bytes`.
    pub fn open(dir: &Path, max_dead_letter_bytes: u64) -> Result<LocalPublisher> {
        std::fs::create_dir_all(dir)?;
        let dlq_path = dir.join("dead-letters.jsonl");
        let file = open_append(&dlq_path)?;
        let len = file.metadata()?.len();
        let (enriched, _) = broadcast::channel(4096);
        Ok(LocalPublisher {
            enriched,
            hub: None,
            dlq: Arc::new(Mutex::new(DeadLetterFile {
                file,
                path: dlq_path.clone(),
                len,
                max_bytes: max_dead_letter_bytes,
            })),
            dlq_path,
        })
    }

    /// Feeds `hub` with every enriched record published from now on.
    pub fn with_hub(mut self, hub: Arc<crate::push::Hub>) -> LocalPublisher {
        let start = chrono::Utc::now().timestamp_micros();
        hub.begin(0, start);
        self.hub = Some((hub, Arc::new(Mutex::new(start))));
        self
    }

    /// Subscribes to enriched mentions published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<[u8]>> {
        self.enriched.subscribe()
    }

    pub fn dead_letter_path(&self) -> &Path {
        &self.dlq_path
    }
}

impl Publisher for LocalPublisher {
    async fn publish(&self, records: &[Record<'_>]) -> Result<()> {
        if let Some((hub, next)) = &self.hub {
            // Offsets are taken and ingested under one lock, so the hub sees them in order.
            let mut next = next.lock().unwrap_or_else(|p| p.into_inner());
            use crate::runtime::sink::{
                HEADER_MATCHED, HEADER_REPROCESS, HEADER_STORED_AT, says_unmatched,
            };
            fn header<'a>(r: &Record<'a>, key: &str) -> Option<&'a [u8]> {
                r.headers.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
            }
            // A reprocessed mention's rewrite is not news: its clients saw it when it was new.
            for r in records
                .iter()
                .filter(|r| r.topic == Topic::Enriched && header(r, HEADER_REPROCESS).is_none())
            {
                let Some(payload) = r.payload else { continue };
                // One that matched no signal is for no client: the hub only moves past it.
                if says_unmatched(header(r, HEADER_MATCHED)) {
                    hub.pass(0, *next);
                } else {
                    hub.ingest(0, *next, payload, header(r, HEADER_STORED_AT));
                }
                *next += 1;
            }
        }
        let mut lines = Vec::new();
        for r in records {
            match r.topic {
                Topic::Alerts => {
                    // Embedded, alerts reach clients through the hub's live streams (and the
                    // store, where the API lists them); there is no topic to keep them in.
                    if let (Some((hub, _)), Some(payload)) = (&self.hub, r.payload) {
                        hub.alert(payload);
                    }
                }
                Topic::Enriched => {
                    // No subscribers is fine.
                    let _ = self.enriched.send(Arc::from(r.payload.unwrap_or_default()));
                }
                Topic::DeadLetter => {
                    let headers: serde_json::Map<String, serde_json::Value> = r
                        .headers
                        .iter()
                        .map(|(k, v)| {
                            (
                                (*k).to_owned(),
                                String::from_utf8_lossy(v).into_owned().into(),
                            )
                        })
                        .collect();
                    let bytes = r.payload.unwrap_or_default();
                    let payload = match std::str::from_utf8(bytes) {
                        Ok(s) => serde_json::Value::String(s.to_owned()),
                        Err(_) => {
                            serde_json::json!({"hex": bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()})
                        }
                    };
                    let line = serde_json::json!({"headers": headers, "payload": payload});
                    serde_json::to_writer(&mut lines, &line)
                        .map_err(|e| Error::internal("serialising a dead letter", e))?;
                    lines.push(b'\n');
                }
            }
        }
        if !lines.is_empty() {
            let file = self.dlq.clone();
            tokio::task::spawn_blocking(move || -> Result<()> {
                let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
                Ok(f.append(&lines)?)
            })
            .await
            .map_err(|e| Error::internal("dead-letter task", e))??;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dead_letters_rotate_at_their_size_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let publisher = LocalPublisher::open(dir.path(), 4096).expect("open");
        let payload = vec![b'x'; 500];
        for i in 0..40u32 {
            let key = i.to_string();
            publisher
                .publish(&[Record {
                    topic: Topic::DeadLetter,
                    key: key.as_bytes(),
                    payload: Some(&payload),
                    headers: &[("reason", b"too_large")],
                }])
                .await
                .expect("publish");
        }
        let len = |name: &str| std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len());
        let (current, previous) = (len("dead-letters.jsonl"), len("dead-letters.1.jsonl"));
        assert!(
            current <= 4096 && previous <= 4096,
            "{current} + {previous}"
        );
        assert!(previous > 0, "rotated once at least");
        let last = std::fs::read_to_string(dir.path().join("dead-letters.jsonl")).expect("read");
        let last: serde_json::Value =
            serde_json::from_str(last.lines().last().expect("a line")).expect("json");
        assert_eq!(last["headers"]["reason"], "too_large");
    }

    /// The hub moves past a record whose `matched` header says it matched no signal without
    /// reading it (this one's body claims a match, so only the header can have skipped it), and
    /// still reads one that says it matched and one from before the header existed. Each takes
    /// its own position either way.
    #[tokio::test]
    async fn the_hub_steps_over_records_that_say_they_matched_no_signal() {
        use crate::push::{Filter, Hub, HubSettings, Step};
        use crate::runtime::sink::HEADER_MATCHED;
        let dir = tempfile::tempdir().expect("tempdir");
        let hub = Arc::new(Hub::new(HubSettings::default()));
        let publisher = LocalPublisher::open(dir.path(), 1 << 20)
            .expect("open")
            .with_hub(hub.clone());
        let filter = Filter {
            tenant: "a".into(),
            signals: None,
            fields: Vec::new(),
        };
        let mut sub = hub.subscribe(filter.clone(), None);
        // The position before the first record published.
        let begun = sub.cursor().get(0);
        let record = |id: &str| {
            serde_json::json!({
                "mention": {"id": id, "text": "x", "author": {"handle": "h"}},
                "signals": [{"tenant": "a", "signal": "s", "version": 1}],
            })
            .to_string()
            .into_bytes()
        };
        let (one, two, three) = (record("m1"), record("m2"), record("m3"));
        let stored_at = ("stored_at", b"2026-12-05T00:00:00.000Z".as_slice());
        let unmatched = [stored_at, (HEADER_MATCHED, b"false".as_slice())];
        let matched = [stored_at, (HEADER_MATCHED, b"true".as_slice())];
        let before_the_header = [stored_at];
        let records = [("m1", &one, &unmatched[..]), ("m2", &two, &matched[..])]
            .into_iter()
            .chain([("m3", &three, &before_the_header[..])])
            .map(|(key, payload, headers)| Record {
                topic: Topic::Enriched,
                key: key.as_bytes(),
                payload: Some(payload.as_slice()),
                headers,
            })
            .collect::<Vec<_>>();
        publisher.publish(&records).await.expect("publish");
        let mut got = Vec::new();
        while let Ok(Step::Match(e, cursor)) =
            tokio::time::timeout(std::time::Duration::from_millis(100), sub.next()).await
        {
            let event: serde_json::Value =
                serde_json::from_str(&e.event(&filter, &cursor, hub.layout())).expect("json");
            got.push((e.offset, event["mention"]["id"].as_str().map(str::to_owned)));
        }
        assert_eq!(
            got,
            [
                (begun + 2, Some("m2".into())),
                (begun + 3, Some("m3".into()))
            ],
            "m1 took position {} and was not delivered",
            begun + 1
        );
    }
}
