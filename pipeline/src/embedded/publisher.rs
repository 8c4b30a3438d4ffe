use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::error::{Error, Result};
use crate::traits::{Publisher, Record, Topic};

/// Embedded publishing: enriched mentions go to an in-process broadcast channel (local
/// subscribers; slow ones miss messages rather than stall the pipeline), dead letters are
/// appended to `dead-letters.jsonl`, one JSON object per line with the reason headers and the
/// payload (as a string when it is UTF-8, else base64-free hex).
#[derive(Debug, Clone)]
pub struct LocalPublisher {
    enriched: broadcast::Sender<Arc<[u8]>>,
    dlq: Arc<Mutex<std::fs::File>>,
    dlq_path: PathBuf,
}

impl LocalPublisher {
    pub fn open(dir: &Path) -> Result<LocalPublisher> {
        std::fs::create_dir_all(dir)?;
        let dlq_path = dir.join("dead-letters.jsonl");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&dlq_path)?;
        let (enriched, _) = broadcast::channel(4096);
        Ok(LocalPublisher {
            enriched,
            dlq: Arc::new(Mutex::new(file)),
            dlq_path,
        })
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
        let mut lines = Vec::new();
        for r in records {
            match r.topic {
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
                        .map_err(|e| Error::Internal(e.to_string()))?;
                    lines.push(b'\n');
                }
            }
        }
        if !lines.is_empty() {
            let file = self.dlq.clone();
            tokio::task::spawn_blocking(move || -> Result<()> {
                let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
                f.write_all(&lines)?;
                f.sync_data()?;
                Ok(())
            })
            .await
            .map_err(|e| Error::Internal(format!("dead-letter task: {e}")))??;
        }
        Ok(())
    }
}
