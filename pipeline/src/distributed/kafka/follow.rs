//! Following the enriched topic for live push (`backchannel serve`).
//!
//! A serving instance reads every partition of the enriched topic itself, with no consumer group:
//! each instance must see every record (each has its own clients), and positions in the topic
//! are what cursors are made of, so they mean the same on every instance. It starts
//! `api.replay_window` back in the topic (found by timestamp), so a client that reconnects to a
//! freshly started instance, or to another one, still resumes from its cursor; what was in the
//! topic at start is history, which a client connecting without a cursor is not sent. It
//! commits nothing. Partitions added to the topic later are picked up from their beginning.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer as _, DefaultConsumerContext, StreamConsumer};
use rdkafka::message::{Headers as _, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::client_config;
use crate::config::KafkaConfig;
use crate::error::{Error, Result};
use crate::http::Readiness;
use crate::push::Hub;

/// How often the topic's partitions are looked up again.
const RESCAN_EVERY: Duration = Duration::from_secs(30);
/// Broker calls (metadata, offsets by time, watermarks) give up after this.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Feeds `hub` with every record of `cfg.enriched_topic`, from `window` ago, until the task is
/// dropped. Sets `ready` once every partition is assigned. Returns only on a fatal error.
pub async fn follow(
    cfg: &KafkaConfig,
    hub: Arc<Hub>,
    window: Duration,
    ready: Readiness,
) -> Result<()> {
    let topic = cfg.enriched_topic.clone();
    let mut own = ClientConfig::new();
    // A group id is required by the client; it is never joined (no subscribe) or committed to.
    own.set("group.id", format!("{}.serve", cfg.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A start offset already deleted by retention: the oldest still there is the closest.
        .set("auto.offset.reset", "earliest");
    let consumer: Arc<StreamConsumer<DefaultConsumerContext>> = Arc::new(
        client_config(cfg, own)?
            .create()
            .map_err(|e| Error::queue("creating the enriched-topic follower", e))?,
    );
    let mut followed = BTreeSet::new();
    let mut backoff = collectors::common::Backoff::new(collectors::common::BackoffConfig {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(5),
    });
    // Wait for the topic (a worker or the operator creates it).
    loop {
        match add_partitions(&consumer, &topic, &hub, window, &mut followed, true).await {
            Ok(()) if !followed.is_empty() => break,
            Ok(()) => tracing::info!(%topic, "waiting for the enriched topic to exist"),
            Err(e) => tracing::warn!(error = %e, %topic, "looking up the enriched topic"),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
    ready.set(true);
    tracing::info!(%topic, partitions = followed.len(), ?window, "following the enriched topic");
    let mut rescan = tokio::time::interval(RESCAN_EVERY);
    rescan.tick().await;
    let mut quiet = super::Quiet::default();
    loop {
        tokio::select! {
            m = consumer.recv() => match m {
                Ok(m) => {
                    let Some(h) = FollowedHeaders::of(&m) else {
                        crate::telemetry::push_undecodable();
                        if quiet.due() {
                            tracing::warn!(partition = m.partition(), offset = m.offset(), "an enriched record with a header name that is not UTF-8: skipped");
                        }
                        hub.pass(m.partition(), m.offset());
                        continue;
                    };
                    match m.payload() {
                        // A reprocessed mention's rewrite: its clients saw it when it was new.
                        // One that matched no signal is for no client.
                        Some(_) if h.reprocessed || h.unmatched => hub.pass(m.partition(), m.offset()),
                        Some(payload) => hub.ingest(m.partition(), m.offset(), payload, h.stored_at),
                        None => {}
                    }
                }
                Err(e) if super::consume_is_fatal(&e) => return Err(Error::queue("following the enriched topic", e)),
                Err(e) => {
                    // librdkafka recovers by itself; one line per few seconds says so.
                    if quiet.due() {
                        tracing::warn!(error = %e, "enriched topic: consume error; librdkafka is recovering");
                    }
                }
            },
            _ = rescan.tick() => {
                if let Err(e) = add_partitions(&consumer, &topic, &hub, window, &mut followed, false).await {
                    tracing::warn!(error = %e, "looking for new partitions of the enriched topic");
                }
            }
        }
    }
}

/// The headers of an enriched record that the follower reads.
struct FollowedHeaders<'m> {
    reprocessed: bool,
    unmatched: bool,
    stored_at: Option<&'m [u8]>,
}

impl<'m> FollowedHeaders<'m> {
    /// `None` when a header's name is not UTF-8: rdkafka panics reading such a name
    /// (`CStr::to_str().unwrap()` in `try_get`), and one record on the topic must not stop
    /// `serve` (which would read it again at every start, within the replay window).
    fn of(m: &'m impl Message) -> Option<FollowedHeaders<'m>> {
        use crate::runtime::sink::{
            HEADER_MATCHED, HEADER_REPROCESS, HEADER_STORED_AT, says_unmatched,
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let header = |key: &str| m.headers().and_then(|h| h.iter().find(|h| h.key == key));
            FollowedHeaders {
                reprocessed: header(HEADER_REPROCESS).is_some(),
                unmatched: says_unmatched(header(HEADER_MATCHED).and_then(|h| h.value)),
                stored_at: header(HEADER_STORED_AT).and_then(|h| h.value),
            }
        }))
        .ok()
    }
}

/// Assigns the partitions of `topic` not yet `followed`: at start from `window` ago, later (a
/// partition added since) from its beginning. Declares each start position to the hub first.
async fn add_partitions(
    consumer: &Arc<StreamConsumer<DefaultConsumerContext>>,
    topic: &str,
    hub: &Hub,
    window: Duration,
    followed: &mut BTreeSet<i32>,
    at_start: bool,
) -> Result<()> {
    let c = consumer.clone();
    let topic_name = topic.to_owned();
    let since_ms = (chrono::Utc::now()
        - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::hours(1)))
    .timestamp_millis();
    let known = followed.clone();
    // Metadata and offset lookups block: off the async threads.
    let starts =
        tokio::task::spawn_blocking(move || starts(&c, &topic_name, since_ms, &known, at_start))
            .await
            .map_err(|e| Error::internal("follower task", e))??;
    if starts.is_empty() {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    for &(p, offset, end) in &starts {
        hub.begin(p, offset);
        // What was in the topic at start is read for clients that resume, not sent as news.
        if let Some(end) = end {
            hub.history_until(p, end - 1);
        }
        tpl.add_partition_offset(topic, p, Offset::Offset(offset))
            .map_err(|e| Error::queue("assigning the enriched topic", e))?;
    }
    consumer
        .incremental_assign(&tpl)
        .map_err(|e| Error::queue("assigning the enriched topic", e))?;
    followed.extend(starts.iter().map(|(p, _, _)| *p));
    tracing::info!(
        topic,
        new = starts.len(),
        total = followed.len(),
        "enriched partitions followed"
    );
    Ok(())
}

/// The start offset of each partition of `topic` not in `known`: the first record at or after
/// `since_ms` (the end where there is none) at start, with the end (the next offset) there was
/// then; the beginning later, with no end (a new partition holds only news).
fn starts(
    consumer: &StreamConsumer<DefaultConsumerContext>,
    topic: &str,
    since_ms: i64,
    known: &BTreeSet<i32>,
    at_start: bool,
) -> Result<Vec<(i32, i64, Option<i64>)>> {
    let q = |e| Error::queue("reading the enriched topic's partitions", e);
    let meta = consumer
        .fetch_metadata(Some(topic), CALL_TIMEOUT)
        .map_err(q)?;
    let Some(t) = meta.topics().iter().find(|t| t.name() == topic) else {
        return Ok(Vec::new());
    };
    if t.error().is_some() {
        // Not created yet (or not visible to us): the caller waits and asks again.
        return Ok(Vec::new());
    }
    let new: Vec<i32> = t
        .partitions()
        .iter()
        .map(|p| p.id())
        .filter(|p| !known.contains(p))
        .collect();
    let mut out = Vec::with_capacity(new.len());
    if at_start {
        let mut by_time = TopicPartitionList::new();
        for &p in &new {
            by_time
                .add_partition_offset(topic, p, Offset::Offset(since_ms))
                .map_err(q)?;
        }
        let found = consumer
            .offsets_for_times(by_time, CALL_TIMEOUT)
            .map_err(q)?;
        for &p in &new {
            let end = consumer
                .fetch_watermarks(topic, p, CALL_TIMEOUT)
                .map_err(q)?
                .1;
            let offset = match found.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                // No record since then: follow from the end.
                _ => end,
            };
            out.push((p, offset, Some(end)));
        }
    } else {
        for &p in &new {
            out.push((
                p,
                consumer
                    .fetch_watermarks(topic, p, CALL_TIMEOUT)
                    .map_err(q)?
                    .0,
                None,
            ));
        }
    }
    Ok(out)
}

/// Feeds `hub` with the alert events published from now on to `cfg.alerts_topic`, until the
/// task is dropped. Every serving instance needs every alert (each has its own clients), so each
/// reads the topic in a consumer group of its own that commits nothing; alerts are live only
/// (a client that was away lists them), so it starts at the end.
pub async fn follow_alerts(cfg: &KafkaConfig, hub: Arc<Hub>) -> Result<()> {
    let mut own = ClientConfig::new();
    own.set(
        "group.id",
        format!(
            "{}.serve.alerts.{}.{:x}",
            cfg.group_id,
            std::process::id(),
            chrono::Utc::now().timestamp_micros()
        ),
    )
    .set("enable.auto.commit", "false")
    .set("enable.auto.offset.store", "false")
    .set("auto.offset.reset", "latest");
    let consumer: StreamConsumer<DefaultConsumerContext> = client_config(cfg, own)?
        .create()
        .map_err(|e| Error::queue("creating the alerts-topic follower", e))?;
    consumer
        .subscribe(&[cfg.alerts_topic.as_str()])
        .map_err(|e| Error::queue("subscribing to the alerts topic", e))?;
    let mut quiet = super::Quiet::default();
    loop {
        match consumer.recv().await {
            Ok(m) => {
                if let Some(payload) = m.payload() {
                    hub.alert(payload);
                }
            }
            Err(e) if super::consume_is_fatal(&e) => {
                return Err(Error::queue("following the alerts topic", e));
            }
            Err(e) => {
                if quiet.due() {
                    tracing::warn!(error = %e, "alerts topic: consume error; librdkafka is recovering");
                }
            }
        }
    }
}
