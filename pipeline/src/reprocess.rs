//! Reprocessing: bringing stored mentions up to the running field catalogue.
//!
//! A job scans the store page by page ([`Store::scan`]), reads each record back whatever
//! catalogue wrote it ([`Codec`]), and re-enriches the mentions of its range whose
//! `fields_version` is not the running one (or all of them, with `all`) through the pipeline's
//! own path: [`process_batch`] with the tenants' current signals, then the sink, which rewrites
//! them over what they were filed under before ([`Store::refile`]: topics re-filed, aggregates
//! corrected), dead-letters any the catalogue can no longer take (reason and mention kept),
//! republishes them to the enriched topic with the `reprocess` header (the live push passes
//! over those: clients saw the mention when it was new) and refreshes the cache.
//!
//! Idempotent and resumable: the rewrite of a mention is an upsert, and after every page the job
//! saves where it is to a checkpoint file (written aside and renamed, so a kill leaves the old
//! one or the new one). A job started again with the same range and the same catalogue carries
//! on from there; a page it had written but not yet checkpointed is rewritten, to the same
//! result. It is paced to `rate` mentions a second so live traffic keeps its latency.
//!
//! The catalogue version is a hash, not a sequence: "not the running one" is what can be told.
//! Reprocess with the newest build, after a rolling upgrade has finished, so that no mention
//! written by a newer catalogue is brought back to an older one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use model::{Mention, SignalMatch, Source};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::codec::Codec;
use crate::error::{Error, ErrorClass, Result};
use crate::runtime::sink::{SinkContext, sink_batch};
use crate::runtime::{Settings, process_batch, topics};
use crate::stats::Stats;
use crate::traits::{Cache, Committer, Delivery, Filed, Publisher, Store};

/// Mentions rewritten per second by default: well under what one worker core enriches, so the
/// store and the live path keep their headroom.
pub const DEFAULT_RATE: u64 = 2_000;
/// Mentions read per page by default (a checkpoint after each).
pub const DEFAULT_PAGE: usize = 500;

/// What to reprocess.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Mentions created at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Mentions created before this.
    pub until: Option<DateTime<Utc>>,
    /// Mentions of this source only.
    pub source: Option<Source>,
    /// Every mention in the range, not only those another catalogue version wrote.
    pub all: bool,
    /// Mentions rewritten per second at most; 0 = as fast as the store takes them. A resumed
    /// job may change it.
    pub rate: u64,
    /// Mentions read per page. A resumed job may change it.
    pub page: usize,
}

/// Where a job is: saved after every page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The job: its range, and the catalogue it brings mentions to. A checkpoint of another
    /// job is never resumed.
    pub options: Options,
    pub fields_version: String,
    /// The scan position after the last page done (`None`: from the start).
    pub after: Option<String>,
    /// Mentions read, in the range or not.
    pub scanned: u64,
    /// Mentions rewritten.
    pub rewritten: u64,
    /// Mentions of the range already on the running catalogue.
    pub current: u64,
    /// Mentions the running catalogue could not take: dead-lettered, left as they were.
    pub failed: u64,
    /// How much of the store the scan has passed, 0 to 1, when known.
    pub passed: Option<f64>,
    /// The scan reached the end.
    pub done: bool,
}

/// What a running job reports after every page.
#[derive(Debug, Clone)]
pub struct Progress {
    pub checkpoint: Checkpoint,
    /// Mentions read per second since this run started.
    pub rate: f64,
    /// Time left at that rate, when the share passed is known.
    pub eta: Option<Duration>,
}

impl Progress {
    /// One line: `[#####-----] 48.2% 12,000 rewritten, 310 current, 0 failed · 1,990/s · ETA 1m 4s`.
    pub fn line(&self) -> String {
        let c = &self.checkpoint;
        let bar = match c.passed {
            Some(p) => {
                let filled = (p.clamp(0.0, 1.0) * 20.0).round() as usize;
                format!(
                    "[{}{}] {:5.1}% ",
                    "#".repeat(filled),
                    "-".repeat(20 - filled),
                    p * 100.0
                )
            }
            None => String::new(),
        };
        let eta = match self.eta {
            Some(d) => format!(" · ETA {}", minutes_and_seconds(d)),
            None => String::new(),
        };
        format!(
            "{bar}{} read, {} rewritten, {} already current, {} failed · {:.0}/s{eta}",
            c.scanned, c.rewritten, c.current, c.failed, self.rate
        )
    }
}

fn minutes_and_seconds(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

/// The record of a stored mention, as much as reprocessing reads of it.
#[derive(Deserialize)]
struct StoredRecord {
    fields_version: String,
    mention: Mention,
    fields: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    signals: Vec<SignalMatch>,
    #[serde(default)]
    cluster_id: Option<String>,
}

/// The services a job runs on, and the pipeline settings it enriches with (signals, caps).
pub struct Services<'a, S, K, P> {
    pub store: &'a S,
    pub cache: &'a K,
    pub publisher: &'a P,
    pub settings: &'a Settings,
}

impl<S, K, P> std::fmt::Debug for Services<'_, S, K, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

/// Runs (or resumes) the job until it is done or `stop` turns true; returns where it got to.
/// `report` is called after every page.
pub async fn run<S: Store, K: Cache, P: Publisher>(
    svc: &Services<'_, S, K, P>,
    options: &Options,
    checkpoint_path: &Path,
    stop: watch::Receiver<bool>,
    mut report: impl FnMut(&Progress),
) -> Result<Checkpoint> {
    let mut cp = resume(checkpoint_path, options)?;
    if cp.done {
        return Ok(cp);
    }
    let codec = Codec::default();
    let stats = Stats::default();
    let cx = SinkContext {
        source_topic: "reprocess",
        stats: &stats,
        shutdown: &stop,
        max_dead_letter_payload: svc.settings.max_dead_letter_payload,
    };
    let started = Instant::now();
    let (scanned_before, rewritten_before) = (cp.scanned, cp.rewritten);
    let passed_before = cp.passed.unwrap_or(0.0);
    let page = options.page.max(1);
    let mut backoff = collectors::common::Backoff::new(collectors::common::BackoffConfig {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(5),
    });
    while !*stop.borrow() {
        let scanned = match svc.store.scan(cp.after.as_deref(), page).await {
            Ok(p) => p,
            Err(e) if e.class() == ErrorClass::External => {
                let wait = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?wait, "reading the store failed; retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        backoff.reset();
        let mut deliveries = Vec::new();
        let mut old = Vec::new();
        // A cluster was assigned on arrival, against what had arrived before: a rewrite keeps it.
        let mut clusters = std::collections::HashMap::new();
        for (id, record) in &scanned.rows {
            cp.scanned += 1;
            let read = match codec.to_json(svc.store, record).await {
                Ok(json) => serde_json::from_slice::<StoredRecord>(&json)
                    .map_err(|e| Error::corrupt(format!("stored mention {id} unreadable: {e}"))),
                Err(e) => Err(e),
            };
            let r = match read {
                Ok(r) => r,
                // The store failing to give a schema ends this run; the checkpoint is before
                // this page, so running again reads it again.
                Err(e) if e.class() == ErrorClass::External => return Err(e),
                // One unreadable record is that record's problem: left as it is, counted.
                Err(e) => {
                    tracing::warn!(error = %e, id, "a stored mention cannot be read; left as it is");
                    cp.failed += 1;
                    continue;
                }
            };
            if !in_range(&r.mention, options) {
                continue;
            }
            if !options.all && r.fields_version == transforms::registry().version {
                cp.current += 1;
                continue;
            }
            old.push(filed(&r));
            if let Some(c) = r.cluster_id {
                clusters.insert(r.mention.id.clone(), c);
            }
            deliveries.push(Delivery::of_mention(&r.mention, -1, -1));
        }
        if !deliveries.is_empty() {
            let n = deliveries.len() as u64;
            let caps = svc.settings.caps();
            let matcher = svc.settings.signals.current();
            let mut batch = tokio::task::spawn_blocking(move || {
                process_batch(deliveries, &caps, matcher.as_deref())
            })
            .await
            .map_err(|e| Error::internal("reprocess task", e))?;
            if let Some(stored) = std::sync::Arc::get_mut(&mut batch.stored) {
                for s in stored.iter_mut() {
                    if let Some(c) = clusters.get(&s.id) {
                        crate::runtime::set_cluster(s, c);
                    }
                }
            }
            // What each rewritten mention was filed under, in the order the batch keeps.
            batch.refiled = batch
                .stored
                .iter()
                .filter_map(|s| old.iter().find(|f| f.id == s.id).cloned())
                .collect();
            let failed = batch.dead.len() as u64;
            sink_batch(
                &batch,
                svc.publisher,
                svc.store,
                svc.cache,
                &Uncommitted,
                &cx,
            )
            .await?;
            cp.failed += failed;
            cp.rewritten += n - failed;
        }
        cp.after = scanned.next.clone();
        cp.done = scanned.next.is_none();
        cp.passed = if cp.done {
            Some(1.0)
        } else {
            scanned.passed.or_else(|| {
                scanned
                    .total
                    .filter(|t| *t > 0)
                    .map(|t| (cp.scanned as f64 / t as f64).min(1.0))
            })
        };
        save(checkpoint_path, &cp)?;
        let elapsed = started.elapsed().as_secs_f64().max(1e-3);
        let rate = (cp.scanned - scanned_before) as f64 / elapsed;
        // At this run's pace over the share of the store it has passed.
        let eta = cp
            .passed
            .filter(|p| *p > passed_before)
            .map(|p| Duration::from_secs_f64((elapsed * (1.0 - p) / (p - passed_before)).min(1e7)));
        report(&Progress {
            checkpoint: cp.clone(),
            rate,
            eta,
        });
        if cp.done {
            break;
        }
        if options.rate > 0 {
            // Paced on what was rewritten: reading past current mentions costs the store little.
            let due = Duration::from_secs_f64(
                (cp.rewritten - rewritten_before) as f64 / options.rate as f64,
            );
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                let mut stop = stop.clone();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
            }
        }
    }
    Ok(cp)
}

fn in_range(m: &Mention, o: &Options) -> bool {
    o.since.is_none_or(|t| m.created_at >= t)
        && o.until.is_none_or(|t| m.created_at < t)
        && o.source.is_none_or(|s| m.source == s)
}

/// What a stored compact record was filed under, read back: the version a rewrite replaces.
pub(crate) async fn filed_of<S: Store>(codec: &Codec, store: &S, record: &[u8]) -> Result<Filed> {
    let json = codec.to_json(store, record).await?;
    let r: StoredRecord = serde_json::from_slice(&json)
        .map_err(|e| Error::corrupt(format!("stored mention unreadable: {e}")))?;
    Ok(filed(&r))
}

/// What the stored version was filed under, as the pipeline filed it.
fn filed(r: &StoredRecord) -> Filed {
    let hashtags: Vec<String> = r
        .fields
        .get("hashtags")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|h| h.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Filed {
        id: r.mention.id.clone(),
        created_at: r.mention.created_at,
        topics: topics(&r.mention, &hashtags, &r.signals),
        sentiment: r.fields.get("sentiment_compound").and_then(|v| v.as_f64()),
        hashtags,
    }
}

/// The checkpoint to carry on from: the saved one if it is this job's, a fresh one if none is
/// saved; a saved checkpoint of another job is an error rather than silently discarded.
fn resume(path: &Path, options: &Options) -> Result<Checkpoint> {
    let fresh = Checkpoint {
        options: options.clone(),
        fields_version: transforms::registry().version.clone(),
        ..Checkpoint::default()
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(fresh),
        Err(e) => return Err(Error::Config(format!("{}: {e}", path.display()))),
    };
    let saved: Checkpoint = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Config(format!(
            "{} is not a reprocess checkpoint ({e}); remove it to start afresh",
            path.display()
        ))
    })?;
    let same = |a: &Options, b: &Options| {
        (a.since, a.until, a.source, a.all) == (b.since, b.until, b.source, b.all)
    };
    if !same(&saved.options, options) || saved.fields_version != fresh.fields_version {
        return Err(Error::Config(format!(
            "{} holds another job's progress ({}, catalogue {}); finish that one with the same \
             options and build, or remove the file (or pass --restart) to start this one",
            path.display(),
            describe(&saved.options),
            saved.fields_version
        )));
    }
    Ok(Checkpoint {
        options: options.clone(),
        ..saved
    })
}

fn save(path: &Path, cp: &Checkpoint) -> Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let json =
        serde_json::to_vec_pretty(cp).map_err(|e| Error::internal("encoding a checkpoint", e))?;
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| Error::Config(format!("saving {}: {e}", path.display())))
}

/// The range in words.
pub fn describe(o: &Options) -> String {
    let mut parts = vec![if o.all {
        "every mention".to_owned()
    } else {
        "mentions of other catalogue versions".to_owned()
    }];
    if let Some(t) = o.since {
        parts.push(format!("since {}", t.to_rfc3339()));
    }
    if let Some(t) = o.until {
        parts.push(format!("until {}", t.to_rfc3339()));
    }
    if let Some(s) = o.source {
        parts.push(format!("from {}", s.as_str()));
    }
    parts.join(" ")
}

/// Reprocessing reads the store, not a queue: there is nothing to commit.
struct Uncommitted;

impl Committer for Uncommitted {
    fn commit(&self, _: i32, _: i64) -> Result<()> {
        Ok(())
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use collectors::{Synthetic, SyntheticConfig};

    use super::*;
    use crate::aggregate::{MinuteAggregate, minute_of};
    use crate::config::Config;
    use crate::embedded::{MemoryCache, RedbStore};
    use crate::signals::SignalsHandle;
    use crate::traits::{Record, Stored, Topic};

    const SIGNAL: &str = "signal:acme/brand";

    /// Keeps what is published: topic, key, header names.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(Topic, String, Vec<String>)>>);

    impl Publisher for Recorder {
        async fn publish(&self, records: &[Record<'_>]) -> Result<()> {
            let mut kept = self.0.lock().expect("lock");
            for r in records {
                kept.push((
                    r.topic,
                    String::from_utf8_lossy(r.key).into_owned(),
                    r.headers.iter().map(|(k, _)| (*k).to_owned()).collect(),
                ));
            }
            Ok(())
        }
    }

    async fn settings(store: &RedbStore, query: &str) -> Settings {
        crate::signals::put(store, "acme", "brand", query, Default::default())
            .await
            .expect("signal saved");
        let handle = SignalsHandle::default();
        handle.refresh(store).await.expect("signals load");
        let config = Config::load(None, std::iter::empty::<(String, String)>()).expect("defaults");
        Settings::from_config(&config, "test", handle).expect("settings")
    }

    fn enriched(range: std::ops::Range<u64>, settings: &Settings) -> Arc<[Stored]> {
        // 100 ms apart: the mentions span several minutes.
        let source = Synthetic::new(SyntheticConfig {
            spacing: chrono::Duration::milliseconds(100),
            ..SyntheticConfig::default()
        });
        let deliveries = range
            .map(|i| Delivery::of_mention(&source.mention(i), 0, i as i64))
            .collect();
        let matcher = settings.signals.current();
        process_batch(deliveries, &settings.caps(), matcher.as_deref()).stored
    }

    /// Every stored mention's version, and the signal's per-minute aggregates recounted from
    /// the stored records themselves.
    async fn recount(store: &RedbStore) -> (BTreeMap<String, u64>, BTreeMap<i64, MinuteAggregate>) {
        let codec = Codec::default();
        let (mut versions, mut minutes) = (BTreeMap::new(), BTreeMap::new());
        let mut after = None;
        loop {
            let page = store.scan(after.as_deref(), 97).await.expect("scan");
            for (_, record) in &page.rows {
                let json = codec.to_json(store, record).await.expect("decodes");
                let r: StoredRecord = serde_json::from_slice(&json).expect("record");
                *versions.entry(r.fields_version.clone()).or_default() += 1;
                let f = filed(&r);
                if f.topics.iter().any(|t| t == SIGNAL) {
                    minutes
                        .entry(minute_of(f.created_at).timestamp_millis())
                        .or_insert_with(MinuteAggregate::default)
                        .add(f.sentiment, &f.hashtags);
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => return (versions, minutes),
            }
        }
    }

    #[tokio::test]
    async fn reprocess_refiles_recounts_and_resumes_after_a_stop_while_live_writes_go_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RedbStore::open(dir.path()).expect("open");
        Codec::register(&store).await.expect("schema");
        // Stored by an older catalogue, when the signal tracked Lumen and Nimbus.
        let before = settings(&store, "lumen OR nimbus").await;
        let old: Vec<Stored> = enriched(0..2_000, &before)
            .iter()
            .map(|s| Stored {
                record: transforms::avro::restamp(&s.record, "293.0ld0ld00").expect("a record"),
                ..s.clone()
            })
            .collect();
        for chunk in old.chunks(500) {
            store.write(&Arc::from(chunk)).await.expect("write");
        }
        // The tenant now tracks Lumen and Orbita: a reprocess must file Orbita's mentions under
        // the signal and take Nimbus's off it.
        let now = settings(&store, "lumen OR orbita").await;
        let cache = MemoryCache::new(1 << 20, Duration::from_secs(60));
        let publisher = Recorder::default();
        let svc = Services {
            store: &store,
            cache: &cache,
            publisher: &publisher,
            settings: &now,
        };
        let options = Options {
            page: 250,
            ..Options::default()
        };
        let path = dir.path().join("reprocess.json");

        // Stopped after four pages, while live mentions of the new catalogue keep arriving.
        let (stop_tx, stop) = watch::channel(false);
        let mut pages = 0;
        let live = enriched(2_000..2_300, &now);
        let writer = {
            let (store, live) = (store.clone(), live.clone());
            tokio::spawn(async move {
                for chunk in live.chunks(40) {
                    store.write(&Arc::from(chunk)).await.expect("live write");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        let first = run(&svc, &options, &path, stop, |p| {
            pages += 1;
            assert!(p.checkpoint.passed.is_some_and(|x| x > 0.0 && x <= 1.0));
            if pages == 4 {
                stop_tx.send(true).expect("stop");
            }
        })
        .await
        .expect("first run");
        assert!(!first.done && first.scanned == 1_000, "{first:?}");
        let saved: Checkpoint =
            serde_json::from_slice(&std::fs::read(&path).expect("checkpoint")).expect("json");
        assert_eq!(saved, first);
        // Another job does not take this one's checkpoint.
        let other = Options {
            all: true,
            ..options.clone()
        };
        let e = run(&svc, &other, &path, watch::channel(false).1, |_| {})
            .await
            .expect_err("another job's checkpoint");
        assert!(e.to_string().contains("another job"), "{e}");

        writer.await.expect("live writer");
        let done = run(&svc, &options, &path, watch::channel(false).1, |_| {})
            .await
            .expect("resumed");
        assert!(done.done, "{done:?}");
        assert_eq!(done.rewritten, 2_000);
        assert_eq!(done.failed, 0);
        // Each earlier mention is read once; a live one only if it was stored before the scan
        // began (the embedded store scans the segments it had then), and then as current.
        assert_eq!(done.scanned, 2_000 + done.current, "{done:?}");

        let (versions, recounted) = recount(&store).await;
        assert_eq!(
            versions,
            BTreeMap::from([(transforms::registry().version.clone(), 2_300)]),
            "every stored mention is on the running catalogue"
        );
        let from = chrono::DateTime::<Utc>::from_timestamp(0, 0).expect("epoch");
        let series = store
            .series(SIGNAL, from, Utc::now() + chrono::Duration::days(3650))
            .await
            .expect("series");
        assert!(
            series.len() >= 2,
            "the signal has minutes: {}",
            series.len()
        );
        let stored: BTreeMap<i64, MinuteAggregate> = series
            .into_iter()
            .filter(|(_, a)| a.mentions > 0)
            .map(|(m, a)| (m.timestamp_millis(), a))
            .collect();
        assert_eq!(
            stored.keys().collect::<Vec<_>>(),
            recounted.keys().collect::<Vec<_>>()
        );
        for (minute, want) in &recounted {
            let got = &stored[minute];
            assert_eq!(
                (got.mentions, got.positive, got.neutral, got.negative),
                (want.mentions, want.positive, want.neutral, want.negative),
                "minute {minute}"
            );
            assert!((got.sentiment_sum - want.sentiment_sum).abs() < 1e-6);
            for (tag, n) in &got.hashtags {
                assert_eq!(
                    want.hashtags.get(tag),
                    Some(n),
                    "hashtag {tag} of minute {minute}"
                );
            }
        }
        // The index agrees: exactly the mentions whose record matched the signal are filed.
        let filed_under = store
            .recent(SIGNAL, 10_000, None)
            .await
            .expect("recent")
            .len() as i64;
        assert_eq!(
            filed_under,
            recounted.values().map(|a| a.mentions).sum::<i64>()
        );
        let filed_before = old
            .iter()
            .filter(|s| s.topics.iter().any(|t| t == SIGNAL))
            .count();
        assert!(filed_before > 0 && filed_under > 0);

        // Every rewrite was republished once per run that wrote it, marked as a reprocess.
        let published = publisher.0.lock().expect("lock").clone();
        let enriched: Vec<_> = published
            .iter()
            .filter(|(t, _, _)| *t == Topic::Enriched)
            .collect();
        assert!(enriched.len() >= 2_000, "{}", enriched.len());
        assert!(enriched.iter().all(|(_, _, h)| {
            h.iter()
                .any(|h| h == crate::runtime::sink::HEADER_REPROCESS)
        }));
        let keys: std::collections::BTreeSet<&str> =
            enriched.iter().map(|(_, k, _)| k.as_str()).collect();
        assert_eq!(keys.len(), 2_000);

        // Done is done: the same job again reads nothing.
        let again = run(&svc, &options, &path, watch::channel(false).1, |_| {})
            .await
            .expect("again");
        assert_eq!(again, done);
    }
}
