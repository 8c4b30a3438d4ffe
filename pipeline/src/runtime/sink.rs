//! The sink: one processed batch → dead letters, store, enriched topic, cache → commit.
//!
//! Failures are handled by class. An outage (`External`) is retried with backoff until it ends
//! or the worker is asked to stop: nothing is committed past it. A refusal (`Rejected`: the store
//! or broker will never take that record) is isolated: the batch is retried one mention at a time,
//! the refused mentions are dead-lettered with the reason, and the rest go on — one bad record can
//! cost itself, never the partition behind it.

use std::sync::Arc;
use std::time::Duration;

use collectors::common::{Backoff, BackoffConfig};
use tokio::sync::watch;

use super::process::{DeadLetter, Processed};
use crate::error::{Error, ErrorClass, Result};
use crate::stats::Stats;
use crate::telemetry::{self, Stage};
use crate::traits::{Cache, Committer, Delivery, Filed, Publisher, Record, Store, Stored, Topic};
use transforms::analysis::cap as truncate;

/// `content-type` header of compact enriched records: Avro single-object encoding, schema
/// `deploy/schema/enriched.avsc` (its fingerprint opens every record).
pub const CONTENT_TYPE_AVRO: &str = "application/vnd.apache.avro+binary";
/// `content-type` header of JSON enriched records.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// Header of an enriched record that rewrites a mention published before (`backchannel
/// reprocess`, value `true`): a consumer that keeps records by id replaces the earlier one; the
/// live push does not show it to clients again.
pub const HEADER_REPROCESS: &str = "reprocess";

/// Header of an enriched record: when the store acknowledged its batch (RFC 3339, milliseconds,
/// UTC, the worker's clock). The live push passes it on as the event's `stored_at`, so a client
/// measures storage→client latency itself.
pub const HEADER_STORED_AT: &str = "stored_at";

/// Header of an enriched record: `true` when it matched at least one signal, else `false`. The
/// live push steps over an unmatched record without decoding it (most records match nothing),
/// and a consumer that wants only matches can do the same. A record without it (published
/// before the header existed) is read to find out.
pub const HEADER_MATCHED: &str = "matched";

/// Whether an enriched record's [`HEADER_MATCHED`] value says it matched no signal (false
/// without the header).
pub fn says_unmatched(matched: Option<&[u8]>) -> bool {
    matched == Some(b"false".as_slice())
}

/// Longest `detail` header of a dead letter, in bytes.
pub const MAX_DETAIL_BYTES: usize = 1024;

/// What the sink needs besides the services.
pub struct SinkContext<'a> {
    pub source_topic: &'a str,
    pub stats: &'a Stats,
    pub shutdown: &'a watch::Receiver<bool>,
    /// Dead-letter payloads are cut to this (see `Config::max_dead_letter_payload`).
    pub max_dead_letter_payload: usize,
}

/// What a sink task owns, lent to each batch as a [`SinkContext`].
#[derive(Debug, Clone)]
pub struct SinkState {
    pub source_topic: String,
    pub stats: Arc<Stats>,
    pub shutdown: watch::Receiver<bool>,
    pub max_dead_letter_payload: usize,
}

impl SinkState {
    pub fn cx(&self) -> SinkContext<'_> {
        SinkContext {
            source_topic: &self.source_topic,
            stats: &self.stats,
            shutdown: &self.shutdown,
            max_dead_letter_payload: self.max_dead_letter_payload,
        }
    }
}

/// Sinks one batch: [`store_stage`], then [`publish_stage`].
pub async fn sink_batch<P: Publisher, S: Store, K: Cache>(
    batch: &Processed,
    publisher: &P,
    store: &S,
    cache: &K,
    committer: &dyn Committer,
    cx: &SinkContext<'_>,
) -> Result<()> {
    let kept = store_stage(batch, publisher, store, cx).await?;
    publish_stage(batch, &kept, publisher, cache, committer, cx).await
}

/// What [`store_stage`] hands to [`publish_stage`].
pub struct Kept {
    /// The mentions of the batch the store took.
    pub mentions: Arc<[Stored]>,
    /// When the store acknowledged them (the `stored_at` header of their enriched records).
    pub at: chrono::DateTime<chrono::Utc>,
}

/// The store's half of a batch: processing's dead letters, the mentions written (or rewritten
/// over `refiled`, and marked edits over their stored versions; those the store refuses
/// dead-lettered) and the sources' deletions applied.
/// Returns the mentions stored, and when. The runtime runs it for the next batch while [`publish_stage`]
/// publishes this one, so the store never waits for the broker. Batches pass both stages in
/// order, and the runtime never stores two batches that share an id at once, so the store sees
/// the writes and deletions of each mention in order.
pub async fn store_stage<P: Publisher, S: Store>(
    batch: &Processed,
    publisher: &P,
    store: &S,
    cx: &SinkContext<'_>,
) -> Result<Kept> {
    dead_letter(publisher, &batch.dead, cx).await?;
    let mut kept = Kept {
        mentions: Arc::from([]),
        at: chrono::Utc::now(),
    };
    if !batch.stored.is_empty() {
        let started = std::time::Instant::now();
        let refused = if batch.refiled.is_empty() && batch.stored.iter().any(|s| s.edited) {
            write_with_edits(store, &batch.stored, cx).await?
        } else {
            write_isolating(store, &batch.stored, &batch.refiled, cx).await?
        };
        kept.at = chrono::Utc::now();
        let (stored, dead) =
            split_refused(batch, refused, "store_rejected", "the store refused it");
        dead_letter(publisher, &dead, cx).await?;
        telemetry::stage(Stage::Store, started.elapsed().as_secs_f64());
        Stats::add(&cx.stats.stored, stored.len());
        telemetry::stored(stored.len());
        if batch.refiled.is_empty() {
            // A rewrite of an old mention says nothing about how fresh the pipeline is.
            let fresh = kept.at - crate::stats::LIVE_WITHIN;
            if stored.iter().any(|s| s.collected_at >= fresh) {
                cx.stats.live(kept.at);
            }
            telemetry::latency_to_stored(
                kept.at,
                stored.iter().map(|s| (s.created_at, s.collected_at)),
            );
        }
        kept.mentions = stored;
    }
    if !batch.deletes.is_empty() {
        // Stored mentions of this batch went first, so a post and its deletion in one batch
        // end deleted.
        retry("store_delete", cx, || store.delete(&batch.deletes)).await?;
    }
    Ok(kept)
}

/// The rest of a batch once [`store_stage`] has stored `kept`: the enriched records published
/// (those the broker refuses dead-lettered), rewritten (reprocessed or edited) and deleted
/// mentions dropped from the cache, the deletions' tombstones published, and only then the
/// batch's positions committed.
pub async fn publish_stage<P: Publisher, K: Cache>(
    batch: &Processed,
    kept: &Kept,
    publisher: &P,
    cache: &K,
    committer: &dyn Committer,
    cx: &SinkContext<'_>,
) -> Result<()> {
    let (stored_at, kept) = (kept.at, &kept.mentions);
    if !kept.is_empty() {
        let started = std::time::Instant::now();
        let reprocessed = !batch.refiled.is_empty();
        let refused = publish_enriched(publisher, kept, reprocessed, stored_at, cx).await?;
        if !refused.is_empty() {
            // Stored, but the broker will not carry it: the dead letter says so.
            let dead: Vec<DeadLetter> = refused
                .iter()
                .map(|(i, e)| {
                    let origin = origin_of(batch, &kept[*i].id);
                    DeadLetter::new(
                        origin,
                        "publish_rejected",
                        format!("stored, but the broker refused the enriched record: {e}"),
                    )
                })
                .collect();
            dead_letter(publisher, &dead, cx).await?;
        }
        let published = kept.len() - refused.len();
        telemetry::stage(Stage::Publish, started.elapsed().as_secs_f64());
        Stats::add(&cx.stats.published, published);
        telemetry::published(published);

        // A rewrite (reprocessing) or an edit its source marked: the cache would keep serving
        // the earlier version. Other versions need no call: a redelivery is the same mention.
        let rewritten: Vec<String> = kept
            .iter()
            .filter(|s| reprocessed || s.edited)
            .map(|s| s.id.clone())
            .collect();
        if !rewritten.is_empty() {
            let started = std::time::Instant::now();
            cache.forget(&rewritten).await;
            telemetry::stage(Stage::Cache, started.elapsed().as_secs_f64());
        }
    }
    if !batch.deletes.is_empty() {
        let records: Vec<Record<'_>> = batch
            .deletes
            .iter()
            .map(|id| Record {
                topic: Topic::Enriched,
                key: id.as_bytes(),
                payload: None,
                headers: &[],
            })
            .collect();
        retry("enriched_publish", cx, || publisher.publish(&records)).await?;
        cache.deleted(&batch.deletes).await;
        telemetry::deleted(batch.deletes.len());
    }
    for (&partition, &offset) in &batch.positions {
        committer.commit(partition, offset)?;
    }
    Stats::add(&cx.stats.batches, 1);
    Ok(())
}

/// Writes a batch that holds edits their sources marked. Each edit of a stored mention is
/// rewritten over what the stored version was filed under ([`Store::refile`], as `reprocess`
/// does), so the topics the edit no longer has let go of it and the aggregates count the mention
/// once, as edited; the rest are written as usual: edits of mentions not stored (yet), edits
/// whose stored version cannot be read, and every version of an id the batch holds twice. One
/// store read an edit, which only edits pay. Returns the refused, as [`write_isolating`] does.
async fn write_with_edits<S: Store>(
    store: &S,
    stored: &Arc<[Stored]>,
    cx: &SinkContext<'_>,
) -> Result<Vec<(usize, Error)>> {
    let mut times = std::collections::HashMap::<&str, usize>::new();
    for s in stored.iter() {
        *times.entry(s.id.as_str()).or_default() += 1;
    }
    let codec = crate::codec::Codec::default();
    let (mut plain, mut edits, mut before) = (Vec::new(), Vec::new(), Vec::new());
    for (i, s) in stored.iter().enumerate() {
        if s.edited && times[s.id.as_str()] == 1 {
            let record = retry("store_read", cx, || store.get(&s.id)).await?;
            if let Some(record) = record {
                match crate::reprocess::filed_of(&codec, store, &record).await {
                    Ok(filed) => {
                        edits.push(i);
                        before.push(filed);
                        continue;
                    }
                    Err(e) if e.class() == ErrorClass::External => return Err(e),
                    Err(e) => tracing::warn!(error = %e, id = %s.id,
                        "the version an edit replaces cannot be read; the edit is written over it"),
                }
            }
        }
        plain.push(i);
    }
    let pick = |at: &[usize]| -> Arc<[Stored]> { at.iter().map(|&i| stored[i].clone()).collect() };
    let mut refused = Vec::new();
    if !plain.is_empty() {
        let r = write_isolating(store, &pick(&plain), &[], cx).await?;
        refused.extend(r.into_iter().map(|(j, e)| (plain[j], e)));
    }
    if !edits.is_empty() {
        let r = write_isolating(store, &pick(&edits), &before, cx).await?;
        refused.extend(r.into_iter().map(|(j, e)| (edits[j], e)));
    }
    refused.sort_by_key(|r| r.0);
    Ok(refused)
}

/// Writes the batch (rewrites it over `refiled`, when given); if the store refuses it, writes it
/// again one mention at a time and returns the refused ones (index into `stored`, and why).
/// Outages are retried throughout.
async fn write_isolating<S: Store>(
    store: &S,
    stored: &Arc<[Stored]>,
    refiled: &[Filed],
    cx: &SinkContext<'_>,
) -> Result<Vec<(usize, Error)>> {
    let write = |batch: &Arc<[Stored]>, old: &[Filed]| {
        let (batch, old) = (batch.clone(), old.to_vec());
        async move {
            if old.is_empty() {
                store.write(&batch).await
            } else {
                store.refile(&batch, &old).await
            }
        }
    };
    match retry("store_write", cx, || write(stored, refiled)).await {
        Ok(()) => return Ok(Vec::new()),
        Err(e) if e.class() == ErrorClass::Rejected => {
            tracing::warn!(error = %e, mentions = stored.len(),
                "the store refused a batch; writing it one mention at a time to find which");
        }
        Err(e) => return Err(e),
    }
    let mut refused = Vec::new();
    for (i, s) in stored.iter().enumerate() {
        let one: Arc<[Stored]> = Arc::from(vec![s.clone()]);
        let old = refiled.get(i..=i).unwrap_or_default();
        match retry("store_write", cx, || write(&one, old)).await {
            Ok(()) => {}
            Err(e) if e.class() == ErrorClass::Rejected => refused.push((i, e)),
            Err(e) => return Err(e),
        }
    }
    Ok(refused)
}

/// The mentions the store kept, and a dead letter for each one it refused.
fn split_refused(
    batch: &Processed,
    refused: Vec<(usize, Error)>,
    reason: &'static str,
    what: &str,
) -> (Arc<[Stored]>, Vec<DeadLetter>) {
    if refused.is_empty() {
        return (batch.stored.clone(), Vec::new());
    }
    let dead = refused
        .iter()
        .map(|(i, e)| DeadLetter::new(batch.origins[*i].clone(), reason, format!("{what}: {e}")))
        .collect();
    let kept = batch
        .stored
        .iter()
        .enumerate()
        .filter(|(i, _)| !refused.iter().any(|(r, _)| r == i))
        .map(|(_, s)| s.clone())
        .collect();
    (kept, dead)
}

/// The delivery a stored mention came from.
fn origin_of(batch: &Processed, id: &str) -> Delivery {
    batch
        .stored
        .iter()
        .position(|s| s.id == id)
        .and_then(|i| batch.origins.get(i))
        .cloned()
        .unwrap_or(Delivery {
            partition: -1,
            offset: -1,
            key: Some(id.as_bytes().to_vec()),
            payload: Vec::new(),
            tombstone: false,
            mention: None,
        })
}

/// Publishes the enriched records; if the broker refuses the batch, publishes them one at a time
/// and returns the refused ones (index into `kept`, and why).
async fn publish_enriched<P: Publisher>(
    publisher: &P,
    kept: &[Stored],
    reprocessed: bool,
    stored_at: chrono::DateTime<chrono::Utc>,
    cx: &SinkContext<'_>,
) -> Result<Vec<(usize, Error)>> {
    let version = model::SCHEMA_VERSION.to_string();
    let stored_at = stored_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let content_type = match kept.first().and_then(|s| s.json.as_ref()) {
        Some(_) => CONTENT_TYPE_JSON,
        None => CONTENT_TYPE_AVRO,
    };
    let headers = |matched: &'static [u8]| {
        [
            ("schema_version", version.as_bytes()),
            ("content-type", content_type.as_bytes()),
            ("fields_version", transforms::registry().version.as_bytes()),
            (HEADER_STORED_AT, stored_at.as_bytes()),
            (HEADER_MATCHED, matched),
            (HEADER_REPROCESS, b"true"),
        ]
    };
    let (matched, unmatched) = (headers(b"true"), headers(b"false"));
    // The reprocess header only on rewrites: consumers (and the live push) tell them apart.
    let n = if reprocessed { 6 } else { 5 };
    let records: Vec<Record<'_>> = kept
        .iter()
        .map(|s| Record {
            topic: Topic::Enriched,
            key: s.id.as_bytes(),
            payload: Some(s.json.as_deref().unwrap_or(&s.record)),
            headers: if s.matched() {
                &matched[..n]
            } else {
                &unmatched[..n]
            },
        })
        .collect();
    match retry("enriched_publish", cx, || publisher.publish(&records)).await {
        Ok(()) => return Ok(Vec::new()),
        Err(e) if e.class() == ErrorClass::Rejected => {
            tracing::warn!(error = %e, "the broker refused an enriched batch; publishing it one record at a time");
        }
        Err(e) => return Err(e),
    }
    let mut refused = Vec::new();
    for (i, r) in records.iter().enumerate() {
        match retry("enriched_publish", cx, || {
            publisher.publish(std::slice::from_ref(r))
        })
        .await
        {
            Ok(()) => {}
            Err(e) if e.class() == ErrorClass::Rejected => refused.push((i, e)),
            Err(e) => return Err(e),
        }
    }
    Ok(refused)
}

/// Publishes dead letters, bounded: the payload is cut to `max_dead_letter_payload` and the
/// detail to [`MAX_DETAIL_BYTES`], with `payload_bytes` (the original size) and
/// `payload_truncated` headers saying so. A dead letter the broker still refuses is published
/// once more without its payload, and failing that logged and counted as dropped: the
/// dead-letter path must never be what stalls a partition.
async fn dead_letter<P: Publisher>(
    publisher: &P,
    dead: &[DeadLetter],
    cx: &SinkContext<'_>,
) -> Result<()> {
    if dead.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let meta: Vec<Meta> = dead
        .iter()
        .map(|d| Meta::of(d, cx.max_dead_letter_payload))
        .collect();
    let headers: Vec<[(&str, &[u8]); 7]> = dead
        .iter()
        .zip(&meta)
        .map(|(d, m)| m.headers(d, cx.source_topic))
        .collect();
    let records: Vec<Record<'_>> = dead
        .iter()
        .zip(&meta)
        .zip(&headers)
        .map(|((d, m), h)| record(d, h, m.keep))
        .collect();
    match retry("dead_letter_publish", cx, || publisher.publish(&records)).await {
        Ok(()) => {}
        Err(e) if e.class() == ErrorClass::Rejected => {
            for ((d, m), h) in dead.iter().zip(&meta).zip(&headers) {
                let full = [record(d, h, m.keep)];
                let Err(e) = retry_rejected_once(publisher, &full, cx).await? else {
                    continue;
                };
                tracing::warn!(error = %e, offset = d.offset, "dead letter refused; sending it without its payload");
                let bare = [record(d, h, 0)];
                if let Err(e) = retry_rejected_once(publisher, &bare, cx).await? {
                    tracing::error!(error = %e, partition = d.partition, offset = d.offset,
                        reason = d.reason, "dead letter refused even without its payload; dropped");
                    telemetry::dead_letter("dropped");
                }
            }
        }
        Err(e) => return Err(e),
    }
    telemetry::stage(Stage::DeadLetter, started.elapsed().as_secs_f64());
    Stats::add(&cx.stats.dead_lettered, dead.len());
    for d in dead {
        tracing::warn!(partition = d.partition, offset = d.offset, reason = d.reason, detail = %truncate(&d.detail, 200), "dead-lettered");
        telemetry::dead_letter(d.reason);
    }
    Ok(())
}

/// Publishes `records`, retrying outages; `Ok(Err(_))` is a refusal, for the caller to handle.
async fn retry_rejected_once<P: Publisher>(
    publisher: &P,
    records: &[Record<'_>],
    cx: &SinkContext<'_>,
) -> Result<std::result::Result<(), Error>> {
    match retry("dead_letter_publish", cx, || publisher.publish(records)).await {
        Ok(()) => Ok(Ok(())),
        Err(e) if e.class() == ErrorClass::Rejected => Ok(Err(e)),
        Err(e) => Err(e),
    }
}

/// A dead letter's headers as strings, owned while its record is published.
struct Meta {
    partition: String,
    offset: String,
    payload_bytes: String,
    truncated: &'static str,
    detail_end: usize,
    /// Payload bytes kept.
    keep: usize,
}

impl Meta {
    fn of(d: &DeadLetter, max_payload: usize) -> Meta {
        let keep = d.payload.len().min(max_payload);
        Meta {
            partition: d.partition.to_string(),
            offset: d.offset.to_string(),
            payload_bytes: d.payload.len().to_string(),
            truncated: if keep < d.payload.len() {
                "true"
            } else {
                "false"
            },
            detail_end: truncate(&d.detail, MAX_DETAIL_BYTES).len(),
            keep,
        }
    }

    fn headers<'a>(&'a self, d: &'a DeadLetter, source_topic: &'a str) -> [(&'a str, &'a [u8]); 7] {
        [
            ("reason", d.reason.as_bytes()),
            ("detail", &d.detail.as_bytes()[..self.detail_end]),
            ("source_topic", source_topic.as_bytes()),
            ("source_partition", self.partition.as_bytes()),
            ("source_offset", self.offset.as_bytes()),
            ("payload_bytes", self.payload_bytes.as_bytes()),
            ("payload_truncated", self.truncated.as_bytes()),
        ]
    }
}

/// A dead letter's record with the first `keep` bytes of its payload.
fn record<'a>(d: &'a DeadLetter, headers: &'a [(&'a str, &'a [u8])], keep: usize) -> Record<'a> {
    Record {
        topic: Topic::DeadLetter,
        key: d.key.as_deref().unwrap_or_default(),
        payload: Some(&d.payload[..keep.min(d.payload.len())]),
        headers,
    }
}

/// The pause between retries of an external failure: 100 ms doubling to 10 s, full jitter.
const RETRY_BACKOFF: BackoffConfig = BackoffConfig {
    initial: Duration::from_millis(100),
    max: Duration::from_secs(10),
};

/// Retries an external failure with [`RETRY_BACKOFF`] until it succeeds or shutdown is
/// requested; other error classes are returned at once.
pub async fn retry<T, F, Fut>(what: &'static str, cx: &SinkContext<'_>, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut backoff = Backoff::new(RETRY_BACKOFF);
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.class() == ErrorClass::External => {
                if *cx.shutdown.borrow() {
                    return Err(e);
                }
                Stats::add(&cx.stats.store_retries, 1);
                telemetry::retry(what);
                let wait = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?wait, "{what} failed; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::embedded::{MemoryCache, RedbStore};
    use crate::runtime::process::tests::delivery;
    use crate::runtime::{Caps, process_batch};

    /// What the broker took: topic, key, payload length, headers.
    type Taken = (Topic, String, usize, Vec<(String, String)>);

    /// A broker that refuses any record over `limit` bytes, as Kafka does past
    /// `message.max.bytes`, and remembers what it took.
    struct Refusing {
        limit: usize,
        taken: Mutex<Vec<Taken>>,
    }

    impl Publisher for Refusing {
        async fn publish(&self, records: &[Record<'_>]) -> Result<()> {
            if let Some(r) = records
                .iter()
                .find(|r| r.payload.map_or(0, <[u8]>::len) > self.limit)
            {
                let len = r.payload.map_or(0, <[u8]>::len);
                return Err(Error::rejected("too large", format!("{len} bytes")));
            }
            let mut taken = self.taken.lock().expect("lock");
            for r in records {
                taken.push((
                    r.topic,
                    String::from_utf8_lossy(r.key).into_owned(),
                    r.payload.map_or(0, <[u8]>::len),
                    r.headers
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), String::from_utf8_lossy(v).into_owned()))
                        .collect(),
                ));
            }
            Ok(())
        }
    }

    /// A sink context reading the raw topic `raw`.
    fn context<'a>(
        stats: &'a Stats,
        shutdown: &'a watch::Receiver<bool>,
        max_dead_letter_payload: usize,
    ) -> SinkContext<'a> {
        SinkContext {
            source_topic: "raw",
            stats,
            shutdown,
            max_dead_letter_payload,
        }
    }

    #[derive(Default)]
    struct Commits(Mutex<Vec<(i32, i64)>>);

    impl Committer for Commits {
        fn commit(&self, partition: i32, offset: i64) -> Result<()> {
            self.0.lock().expect("lock").push((partition, offset));
            Ok(())
        }
        fn flush(&self) -> Result<()> {
            Ok(())
        }
    }

    /// A fresh embedded store, a broker that takes everything, and the sink's context over them.
    struct Fresh {
        _dir: tempfile::TempDir,
        store: RedbStore,
        publisher: Refusing,
        stats: Stats,
        shutdown: watch::Receiver<bool>,
    }

    impl Fresh {
        fn cx(&self) -> SinkContext<'_> {
            context(&self.stats, &self.shutdown, 4_000)
        }

        /// Sinks `batch` whole, with `cache` in front of the store.
        async fn sink(&self, batch: &Processed, cache: &MemoryCache) {
            let cx = self.cx();
            sink_batch(
                batch,
                &self.publisher,
                &self.store,
                cache,
                &Commits::default(),
                &cx,
            )
            .await
            .expect("the batch goes through");
        }
    }

    fn fresh() -> Fresh {
        let dir = tempfile::tempdir().expect("tempdir");
        Fresh {
            store: RedbStore::open(dir.path()).expect("store"),
            publisher: Refusing {
                limit: usize::MAX,
                taken: Mutex::default(),
            },
            stats: Stats::default(),
            shutdown: watch::channel(false).1,
            _dir: dir,
        }
    }

    /// `delivery(offset, id, text)` marked as an edit, as a source marks one.
    fn edited(offset: i64, id: &str, text: &str) -> Delivery {
        let mut d = delivery(offset, id, text);
        let mut m: serde_json::Value = serde_json::from_slice(&d.payload).expect("json");
        m["edited_at"] = "2026-01-01T00:05:00Z".into();
        d.payload = serde_json::to_vec(&m).expect("json");
        d
    }

    #[tokio::test]
    async fn a_record_the_broker_refuses_is_dead_lettered_and_the_batch_is_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = RedbStore::open(dir.path()).expect("store");
        let publisher = Refusing {
            limit: 6_000,
            taken: Mutex::default(),
        };
        let commits = Commits::default();
        let batch = process_batch(
            vec![
                delivery(7, "small-1", "hello"),
                delivery(8, "big", &"long words ".repeat(1_000)),
                delivery(9, "small-2", "bye"),
            ],
            &Caps::default(),
            None,
        );
        let (stats, shutdown) = (Stats::default(), watch::channel(false).1);
        let cx = context(&stats, &shutdown, 4_000);
        let cache = MemoryCache::new(1 << 20, Duration::from_secs(60));
        sink_batch(&batch, &publisher, &store, &cache, &commits, &cx)
            .await
            .expect("the batch goes through");

        assert!(store.get("big").await.expect("get").is_some());
        let taken = publisher.taken.lock().expect("lock");
        let enriched: Vec<&str> = taken
            .iter()
            .filter(|t| t.0 == Topic::Enriched)
            .map(|t| t.1.as_str())
            .collect();
        assert_eq!(enriched, ["small-1", "small-2"]);
        // The refused one is stored (the store took it) and dead-lettered with its raw payload,
        // cut to the dead-letter limit, and the original size in a header.
        let dead: Vec<_> = taken.iter().filter(|t| t.0 == Topic::DeadLetter).collect();
        assert_eq!(dead.len(), 1);
        let (_, key, len, headers) = dead[0];
        let header = |k: &str| headers.iter().find(|h| h.0 == k).map(|h| h.1.as_str());
        assert_eq!(key, "big");
        assert_eq!(header("reason"), Some("publish_rejected"));
        assert_eq!(header("source_offset"), Some("8"));
        assert_eq!(*len, 4_000);
        assert_eq!(header("payload_truncated"), Some("true"));
        assert_eq!(
            header("payload_bytes").map(|b| b.parse::<usize>().expect("a size")),
            Some(batch.origins[1].payload.len())
        );
        assert_eq!(*commits.0.lock().expect("lock"), [(0, 9)]);
        assert_eq!(
            stats
                .dead_lettered
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }

    /// Each enriched record says whether it matched a signal, so the live push (and any consumer
    /// that wants matches only) can step over the rest without decoding them.
    #[tokio::test]
    async fn each_enriched_record_says_whether_it_matched_a_signal() {
        use transforms::signals::{Matcher, Signal, SignalSet};
        let f = fresh();
        let matcher = Matcher::compile(&SignalSet {
            signals: vec![Signal {
                tenant: "acme".into(),
                id: "brand".into(),
                version: 1,
                query: "acme".into(),
                options: Default::default(),
            }],
        })
        .expect("matcher");
        let batch = process_batch(
            vec![
                delivery(1, "hit", "I love my new acme phone"),
                delivery(2, "miss", "nothing to see here"),
            ],
            &Caps::default(),
            Some(&matcher),
        );
        let cache = MemoryCache::new(1 << 20, Duration::from_secs(60));
        f.sink(&batch, &cache).await;
        let taken = f.publisher.taken.lock().expect("lock");
        let matched: Vec<(&str, Option<&str>)> = taken
            .iter()
            .filter(|t| t.0 == Topic::Enriched)
            .map(|(_, key, _, headers)| {
                let h = headers.iter().find(|h| h.0 == HEADER_MATCHED);
                (key.as_str(), h.map(|h| h.1.as_str()))
            })
            .collect();
        assert_eq!(matched, [("hit", Some("true")), ("miss", Some("false"))]);
        let unmatched =
            |(_, value): &(&str, Option<&str>)| says_unmatched(value.map(str::as_bytes));
        assert!(!unmatched(&matched[0]) && unmatched(&matched[1]));
        // A record from before the header existed is not taken for unmatched.
        assert!(!says_unmatched(None));
    }

    /// Storing mentions collected long ago (a backlog) says nothing about keeping up with live
    /// traffic; storing one collected just now does.
    #[tokio::test]
    async fn storing_fresh_mentions_shows_the_pipeline_keeps_up() {
        let f = fresh();
        let cx = f.cx();
        let now = chrono::Utc::now();
        let old = process_batch(
            vec![delivery(1, "old", "from the backlog")],
            &Caps::default(),
            None,
        );
        store_stage(&old, &f.publisher, &f.store, &cx)
            .await
            .expect("stored");
        assert!(
            !f.stats.live_within(Duration::from_secs(20), now),
            "collected in 2026-01"
        );
        let mut fresh = delivery(2, "fresh", "just collected");
        let mut m: serde_json::Value = serde_json::from_slice(&fresh.payload).expect("json");
        m["created_at"] = (now - chrono::TimeDelta::seconds(3)).to_rfc3339().into();
        m["collected_at"] = now.to_rfc3339().into();
        fresh.payload = serde_json::to_vec(&m).expect("json");
        let fresh = process_batch(vec![fresh], &Caps::default(), None);
        store_stage(&fresh, &f.publisher, &f.store, &cx)
            .await
            .expect("stored");
        assert!(
            f.stats
                .live_within(Duration::from_secs(20), chrono::Utc::now())
        );
        let later = chrono::Utc::now() + chrono::TimeDelta::seconds(30);
        assert!(
            !f.stats.live_within(Duration::from_secs(20), later),
            "only so long"
        );
    }

    /// A version its source marks as an edit drops the earlier one a reader left in the cache,
    /// so the next read fetches the edit; a plain redelivery of another mention leaves that
    /// mention's cached copy alone (it is the same version).
    #[tokio::test]
    async fn an_edit_drops_the_cached_earlier_version_and_a_redelivery_does_not() {
        let f = fresh();
        let cache = MemoryCache::new(1 << 20, Duration::from_secs(600));
        let first = process_batch(
            vec![
                delivery(1, "post", "the first version"),
                delivery(2, "other", "left alone"),
            ],
            &Caps::default(),
            None,
        );
        f.sink(&first, &cache).await;
        // Readers fetched both and filled the cache.
        for id in ["post", "other"] {
            let record = f.store.get(id).await.expect("get").expect("stored");
            cache.fill(id, &record).await;
        }
        let second = process_batch(
            vec![
                edited(3, "post", "the edited version"),
                delivery(4, "other", "left alone"),
            ],
            &Caps::default(),
            None,
        );
        assert_eq!(
            second.stored.iter().map(|s| s.edited).collect::<Vec<_>>(),
            [true, false]
        );
        f.sink(&second, &cache).await;
        assert!(
            cache.get("post").await.expect("cache").is_none(),
            "the edit dropped the first version"
        );
        assert_eq!(
            cache.get("other").await.expect("cache"),
            f.store.get("other").await.expect("get"),
            "a redelivery keeps its cached copy"
        );
        let stored = f.store.get("post").await.expect("get").expect("stored");
        let mut json = Vec::new();
        transforms::avro::Layout::current()
            .to_json(&stored, &mut json)
            .expect("decodes");
        let json: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(json["mention"]["text"], "the edited version");
        assert_eq!(json["mention"]["edited_at"], "2026-01-01T00:05:00Z");
    }

    /// A marked edit of a stored mention is filed anew: it leaves the signal it no longer
    /// matches (its page and its minute's count) and counts once under the one it matches now.
    #[tokio::test]
    async fn a_marked_edit_leaves_the_signal_it_no_longer_matches_and_counts_once() {
        use transforms::signals::{Matcher, Signal, SignalSet};
        let f = fresh();
        let signal = |id: &str, query: &str| Signal {
            tenant: "acme".into(),
            id: id.into(),
            version: 1,
            query: query.into(),
            options: Default::default(),
        };
        let matcher = Matcher::compile(&SignalSet {
            signals: vec![signal("brand", "acme"), signal("rival", "globex")],
        })
        .expect("matcher");
        let cache = MemoryCache::new(1 << 20, Duration::from_secs(60));
        let sink = async |deliveries: Vec<Delivery>| {
            let batch = process_batch(deliveries, &Caps::default(), Some(&matcher));
            f.sink(&batch, &cache).await;
        };
        let (brand, rival) = (
            crate::runtime::signal_topic("acme", "brand"),
            crate::runtime::signal_topic("acme", "rival"),
        );
        let count = async |topic: &str| {
            let from = "2026-01-01T00:00:00Z".parse().expect("time");
            let series = f
                .store
                .series(topic, from, from + chrono::TimeDelta::hours(1))
                .await
                .expect("series");
            series.iter().map(|(_, m)| m.mentions).sum::<i64>()
        };
        let listed =
            async |topic: &str| f.store.recent(topic, 10, None).await.expect("recent").len();

        sink(vec![
            delivery(1, "post", "acme and globex launch"),
            delivery(2, "plain", "acme only"),
        ])
        .await;
        assert_eq!((count(&brand).await, count(&rival).await), (2, 1));
        // The author edits `post` to name the rival only (and the same batch brings `later`'s
        // first version and its edit together: written as they come).
        sink(vec![
            edited(3, "post", "only globex now"),
            delivery(4, "later", "acme news"),
            edited(5, "later", "acme news, edited"),
        ])
        .await;
        assert_eq!(listed(&brand).await, 2, "plain and later, not post");
        assert_eq!(listed(&rival).await, 1, "post");
        assert_eq!(
            (count(&brand).await, count(&rival).await),
            (2, 1),
            "post counted under rival only; later once"
        );
        // A later version its source does not mark is filed anew by this store too, but counted
        // as first posted: nothing said it was an edit rather than a redelivery.
        sink(vec![delivery(6, "plain", "globex only")]).await;
        assert_eq!((listed(&brand).await, listed(&rival).await), (1, 2));
        assert_eq!((count(&brand).await, count(&rival).await), (2, 1));
    }

    #[tokio::test]
    async fn a_dead_letter_refused_whole_goes_without_its_payload() {
        let publisher = Refusing {
            limit: 10,
            taken: Mutex::default(),
        };
        let (stats, shutdown) = (Stats::default(), watch::channel(false).1);
        let cx = context(&stats, &shutdown, 1 << 20);
        let dead = [DeadLetter {
            partition: 1,
            offset: 2,
            reason: "malformed_json",
            detail: "é".repeat(2_000),
            key: None,
            payload: b"not json, and longer than ten bytes".to_vec(),
        }];
        dead_letter(&publisher, &dead, &cx).await.expect("sent");
        let taken = publisher.taken.lock().expect("lock");
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].2, 0, "sent bare");
        let detail = &taken[0]
            .3
            .iter()
            .find(|h| h.0 == "detail")
            .expect("detail")
            .1;
        assert!(detail.len() <= MAX_DETAIL_BYTES && detail.len() > MAX_DETAIL_BYTES - 2);
        assert!(
            detail.chars().all(|c| c == 'é'),
            "cut at a character boundary"
        );
    }
}
