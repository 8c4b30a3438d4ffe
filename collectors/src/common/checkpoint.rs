//! Where a collector's cursor is kept between runs.
//!
//! The runner saves an item's cursor only after Kafka acknowledged that item and every item before
//! it; on restart the collector resumes from the saved cursor. A crash between the ack and the save
//! replays a few mentions, never loses one: delivery is at-least-once and stores upsert by id.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CollectorError;

/// A position in a source, opaque to everyone but the collector that made it: a Jetstream
/// `time_us`, a Mastodon status id, a Hacker News item id, a file's record number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub String);

impl Cursor {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A store of cursors keyed by collector name.
///
/// Both methods may block on disk I/O (an fsync): call them from `spawn_blocking` or accept a
/// short stall; they must not be called while holding a lock other tasks wait on.
pub trait Checkpoint: Send + Sync + std::fmt::Debug {
    /// The last saved cursor of `collector`, or `None` when it never saved one.
    fn load(&self, collector: &str) -> Result<Option<Cursor>, CollectorError>;
    /// Saves `cursor` durably: after `Ok`, a crash still finds it.
    fn save(&self, collector: &str, cursor: &Cursor) -> Result<(), CollectorError>;
}

/// One small file per collector in a directory, replaced atomically (write a temporary file,
/// fsync, rename over the old one, fsync the directory), so a crash leaves the old or the new
/// cursor, never a torn one.
#[derive(Debug, Clone)]
pub struct FileCheckpoint {
    dir: PathBuf,
}

impl FileCheckpoint {
    /// A store in `dir`, created if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, CollectorError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| CollectorError::Checkpoint(format!("{}: {e}", dir.display())))?;
        Ok(FileCheckpoint { dir })
    }

    fn path(&self, collector: &str) -> Result<PathBuf, CollectorError> {
        let ok = !collector.is_empty()
            && collector
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !collector.starts_with('.');
        if !ok {
            return Err(CollectorError::Checkpoint(format!(
                "collector name `{collector}` must be [A-Za-z0-9._-] and not start with a dot"
            )));
        }
        Ok(self.dir.join(format!("{collector}.cursor")))
    }
}

impl Checkpoint for FileCheckpoint {
    fn load(&self, collector: &str) -> Result<Option<Cursor>, CollectorError> {
        let path = self.path(collector)?;
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some(Cursor(s.trim_end_matches('\n').to_owned()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CollectorError::Checkpoint(format!(
                "{}: {e}",
                path.display()
            ))),
        }
    }

    fn save(&self, collector: &str, cursor: &Cursor) -> Result<(), CollectorError> {
        let path = self.path(collector)?;
        write_atomically(&path, cursor.0.as_bytes())
            .map_err(|e| CollectorError::Checkpoint(format!("{}: {e}", path.display())))
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    // The rename is durable only once the directory entry is.
    std::fs::File::open(dir)?.sync_all()
}

/// A store in memory, for tests and for runs that need no resume.
#[derive(Debug, Default)]
pub struct MemoryCheckpoint {
    cursors: std::sync::Mutex<std::collections::HashMap<String, Cursor>>,
}

impl Checkpoint for MemoryCheckpoint {
    fn load(&self, collector: &str) -> Result<Option<Cursor>, CollectorError> {
        let map = self
            .cursors
            .lock()
            .map_err(|_| CollectorError::Checkpoint("poisoned".into()))?;
        Ok(map.get(collector).cloned())
    }

    fn save(&self, collector: &str, cursor: &Cursor) -> Result<(), CollectorError> {
        let mut map = self
            .cursors
            .lock()
            .map_err(|_| CollectorError::Checkpoint("poisoned".into()))?;
        map.insert(collector.to_owned(), cursor.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_checkpoint_round_trips_and_replaces() -> Result<(), CollectorError> {
        let dir = tempfile::tempdir()?;
        let store = FileCheckpoint::new(dir.path().join("cp"))?;
        assert_eq!(store.load("jetstream-main")?, None);
        store.save("jetstream-main", &Cursor("1725911162329308".into()))?;
        store.save("jetstream-main", &Cursor("1725911162329999".into()))?;
        assert_eq!(
            store.load("jetstream-main")?,
            Some(Cursor("1725911162329999".into()))
        );
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("cp"))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("jetstream-main.cursor")]
        );
        assert!(store.save("../escape", &Cursor("1".into())).is_err());
        Ok(())
    }
}
