//! Running configured collectors into Kafka with checkpoints that never get ahead of Kafka.
//!
//! Each collector's items are produced in order with the idempotent producer; acknowledgements
//! are awaited in the same order, so "acknowledged up to item N" is contiguous. The cursor of the
//! last acknowledged item is saved (atomically, off the async threads) at most every second and
//! at the end. After a crash the collector resumes from that cursor: nothing acknowledged is
//! lost, and what was sent after the last save is sent again — duplicates the store absorbs by id.
//! A deletion becomes a Kafka tombstone (the mention id as key, a null value). A frame the
//! collector could not read goes to the dead-letter topic (`kafka.dlq_topic`), keyed by the
//! collector's name, in the same acknowledged order, so a saved cursor is never ahead of a dead
//! letter either.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use collectors::{Checkpoint, Cursor, Event, FileCheckpoint, Malformed, SourceConfig};
use futures_util::StreamExt;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::sync::watch;

use super::Sink;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::runtime::sink::MAX_DETAIL_BYTES;
use transforms::analysis::cap as truncate;

/// How often the cursor of the last acknowledged item is saved.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// What one collector did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Report {
    pub mentions: u64,
    pub deletes: u64,
    pub rejected_too_large: u64,
    /// Frames the collector could not read, sent to the dead-letter topic (counted, not sent,
    /// with `--sink stdout`).
    pub dead_lettered: u64,
    /// Mentions and deletions Kafka acknowledged.
    pub acknowledged: u64,
}

/// Runs the collectors named in `names` (keys of `[collectors]`) until they end or `stop` turns
/// true; returns their reports in order.
pub async fn run(
    config: &Config,
    names: &[String],
    sink: Sink,
    stop: watch::Receiver<bool>,
) -> Result<Vec<Report>> {
    collectors::telemetry::describe();
    let producer = match sink {
        Sink::Kafka => {
            let k = &config.kafka;
            crate::distributed::kafka::ensure_topics(k, &[&k.raw_topic, &k.dlq_topic]).await?;
            Some(crate::distributed::kafka::producer(k)?)
        }
        Sink::Stdout => None,
    };
    let checkpoints: Arc<dyn Checkpoint> = Arc::new(
        FileCheckpoint::new(&config.collect.checkpoint_dir)
            .map_err(|e| Error::Config(format!("collect.checkpoint_dir: {e}")))?,
    );
    let mut tasks = Vec::new();
    for name in names {
        let source = config.collectors.get(name).cloned().ok_or_else(|| {
            let known: Vec<&String> = config.collectors.keys().collect();
            Error::Config(format!(
                "no collector {name:?} in [collectors] (configured: {known:?})"
            ))
        })?;
        let ctx = Ctx {
            name: name.clone(),
            producer: producer.clone(),
            topic: config.kafka.raw_topic.clone(),
            dlq_topic: config.kafka.dlq_topic.clone(),
            max_bytes: config.pipeline.max_message_bytes,
            window: config.collect.max_in_flight,
            checkpoints: checkpoints.clone(),
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        };
        tasks.push(tokio::spawn(run_one(ctx, source, stop.clone())));
    }
    let mut reports = Vec::new();
    for t in tasks {
        reports.push(
            t.await
                .map_err(|e| Error::internal("collector task", e))??,
        );
    }
    Ok(reports)
}

struct Ctx {
    name: String,
    producer: Option<FutureProducer>,
    topic: String,
    dlq_topic: String,
    max_bytes: usize,
    window: usize,
    checkpoints: Arc<dyn Checkpoint>,
    /// Print a progress line every second (stderr is a terminal).
    progress: bool,
}

impl Ctx {
    async fn save(&self, cursor: &Cursor) -> Result<()> {
        let (cp, name, cursor) = (self.checkpoints.clone(), self.name.clone(), cursor.clone());
        tokio::task::spawn_blocking(move || cp.save(&name, &cursor))
            .await
            .map_err(|e| Error::internal("checkpoint task", e))?
            .map_err(|e| Error::collector(&self.name, e))
    }
}

async fn run_one(
    ctx: Ctx,
    source: SourceConfig,
    mut stop: watch::Receiver<bool>,
) -> Result<Report> {
    let (cp, name) = (ctx.checkpoints.clone(), ctx.name.clone());
    let resume = tokio::task::spawn_blocking(move || cp.load(&name))
        .await
        .map_err(|e| Error::internal("checkpoint task", e))?
        .map_err(|e| Error::collector(&ctx.name, e))?;
    let collector = source
        .build()
        .await
        .map_err(|e| Error::collector(&ctx.name, e))?;
    tracing::info!(collector = %ctx.name, source = collector.source().as_str(), resume = ?resume, "collector starting");
    let collector_source = collector.source().as_str();
    let mut items = collector.stream(resume);
    let mut report = Report::default();
    // Sent, not yet acknowledged: (ack, cursor after the item).
    let mut pending: VecDeque<(Option<DeliveryFuture>, Option<Cursor>)> = VecDeque::new();
    let mut acked: Option<Cursor> = None;
    // Whether `acked` moved since it was last saved.
    let mut unsaved = false;
    let mut saved_at = Instant::now();
    let started = Instant::now();
    let metrics = crate::telemetry::CollectorRun::new(collector_source);
    let produced = &metrics.produced;
    let mut stdout = std::io::stdout();
    let mut fatal = None;
    loop {
        // Retire acknowledgements in order; wait for the oldest when the window is full.
        loop {
            let full = pending.len() >= ctx.window;
            let Some((ack, _)) = pending.front_mut() else {
                break;
            };
            let done = match ack.as_mut() {
                None => true,
                Some(f) if full => {
                    wait(f).await?;
                    true
                }
                Some(f) => match futures_util::FutureExt::now_or_never(&mut *f) {
                    Some(r) => {
                        check(r)?;
                        true
                    }
                    None => false,
                },
            };
            if !done {
                break;
            }
            if let Some((ack, cursor)) = pending.pop_front() {
                if ack.is_some() {
                    report.acknowledged += 1;
                    produced.increment(1);
                }
                if cursor.is_some() {
                    acked = cursor;
                    unsaved = true;
                }
            }
        }
        if saved_at.elapsed() >= SAVE_EVERY {
            if let Some(c) = acked.as_ref().filter(|_| unsaved) {
                ctx.save(c).await?;
                unsaved = false;
            }
            if ctx.progress {
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                eprint!(
                    "\r{}: {} mentions, {} deletions, {} acknowledged ({:.0}/s)   ",
                    ctx.name,
                    report.mentions,
                    report.deletes,
                    report.acknowledged,
                    report.acknowledged as f64 / secs
                );
            }
            saved_at = Instant::now();
        }
        // Waiting on the source alone would leave a cursor unsaved for as long as the source is
        // quiet (an RSS feed polled every five minutes): wake for it within a second too.
        let until_save = SAVE_EVERY.saturating_sub(saved_at.elapsed());
        let item = tokio::select! {
            item = items.next() => item,
            _ = stop.changed() => None,
            _ = tokio::time::sleep(Duration::from_millis(200)), if !pending.is_empty() => continue,
            _ = tokio::time::sleep(until_save), if unsaved => continue,
        };
        let Some(item) = item else { break };
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                fatal = Some(Error::collector(&ctx.name, e));
                break;
            }
        };
        let ack = match &item.event {
            Event::Mention(m) => {
                let payload = serde_json::to_vec(m)
                    .map_err(|e| Error::internal("serialising a mention", e))?;
                if payload.len() > ctx.max_bytes {
                    report.rejected_too_large += 1;
                    metrics.too_large.increment(1);
                    tracing::warn!(collector = %ctx.name, id = %m.id, bytes = payload.len(), "mention over the size limit, dead-lettered");
                    let detail = format!(
                        "mention {} is {} bytes of JSON, over pipeline.max_message_bytes ({})",
                        m.id,
                        payload.len(),
                        ctx.max_bytes
                    );
                    let bad = Malformed::new("too_large", detail, &payload);
                    report.dead_lettered += 1;
                    dead_letter(&ctx, collector_source, &bad).await?
                } else {
                    report.mentions += 1;
                    send(&ctx, &m.id, Some(&payload), &mut stdout).await?
                }
            }
            Event::Delete { id } => {
                report.deletes += 1;
                send(&ctx, id, None, &mut stdout).await?
            }
            Event::Malformed(bad) => {
                report.dead_lettered += 1;
                dead_letter(&ctx, collector_source, bad).await?
            }
        };
        pending.push_back((ack, item.cursor));
    }
    for (ack, cursor) in pending.drain(..) {
        if let Some(mut f) = ack {
            wait(&mut f).await?;
            report.acknowledged += 1;
            produced.increment(1);
        }
        if cursor.is_some() {
            acked = cursor;
        }
    }
    if let Some(c) = &acked {
        ctx.save(c).await?;
    }
    tracing::info!(collector = %ctx.name, ?report, "collector stopped");
    match fatal {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

async fn send(
    ctx: &Ctx,
    id: &str,
    payload: Option<&[u8]>,
    stdout: &mut std::io::Stdout,
) -> Result<Option<DeliveryFuture>> {
    let Some(producer) = &ctx.producer else {
        let line = match payload {
            Some(p) => String::from_utf8_lossy(p).into_owned(),
            None => serde_json::json!({ "deleted": id }).to_string(),
        };
        writeln!(stdout, "{line}")?;
        return Ok(None);
    };
    enqueue(producer, "", || {
        let record = FutureRecord::to(&ctx.topic).key(id);
        match payload {
            Some(p) => record.payload(p),
            None => record,
        }
    })
    .await
    .map(Some)
}

/// Sends a frame the collector could not read to the dead-letter topic: its payload (the
/// collector kept at most `collectors::MALFORMED_KEEP` bytes of it) under the collector's name,
/// with `reason`, `detail`, `collector`, `source`, `payload_truncated` and, when the frame was
/// read whole, `payload_bytes` headers. With `--sink stdout` it is only counted (the collector
/// logged it).
async fn dead_letter(ctx: &Ctx, source: &str, bad: &Malformed) -> Result<Option<DeliveryFuture>> {
    let Some(producer) = &ctx.producer else {
        return Ok(None);
    };
    let detail = truncate(&bad.detail, MAX_DETAIL_BYTES);
    let bytes = bad.bytes.map(|b| b.to_string());
    let truncated = bad.bytes != Some(bad.payload.len() as u64);
    let mut headers = OwnedHeaders::new_with_capacity(6);
    for (key, value) in [
        ("reason", Some(bad.reason)),
        ("detail", Some(detail)),
        ("collector", Some(ctx.name.as_str())),
        ("source", Some(source)),
        ("payload_bytes", bytes.as_deref()),
        (
            "payload_truncated",
            Some(if truncated { "true" } else { "false" }),
        ),
    ] {
        if let Some(value) = value {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
    }
    enqueue(producer, "a dead letter", || {
        FutureRecord::to(&ctx.dlq_topic)
            .key(ctx.name.as_str())
            .payload(bad.payload.as_slice())
            .headers(headers.clone())
    })
    .await
    .map(Some)
}

/// Hands the record `make` builds to the producer, waiting while its queue is full; the future
/// resolves with the broker's acknowledgement.
async fn enqueue<'a>(
    producer: &FutureProducer,
    what: &str,
    make: impl Fn() -> FutureRecord<'a, str, [u8]>,
) -> Result<DeliveryFuture> {
    loop {
        match producer.send_result(make()) {
            Ok(ack) => return Ok(ack),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                _,
            )) => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((e, _)) => return Err(Error::publish(what, e)),
        }
    }
}

fn check<E>(
    r: std::result::Result<rdkafka::producer::future_producer::OwnedDeliveryResult, E>,
) -> Result<()> {
    match r {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(Error::publish("delivery failed", e)),
        Err(_) => Err(Error::Publish {
            what: "producer dropped a delivery".into(),
            source: None,
        }),
    }
}

async fn wait(f: &mut DeliveryFuture) -> Result<()> {
    check(f.await)
}
