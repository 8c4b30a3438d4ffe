//! Kafka seams: the raw-topic consumer group and the enriched / dead-letter producer (rdkafka).
//!
//! Offsets: auto-commit is on, but the automatic offset *store* is off. The runtime stores a
//! partition's offset (via [`Committer::commit`]) only once everything up to it is durable and
//! published; librdkafka then commits stored offsets in the background, on rebalance revoke (see
//! [`Ctx::pre_rebalance`]) and on shutdown ([`Committer::flush`]). A crash loses at most the
//! stored-but-uncommitted window, which is redelivered and absorbed by idempotent writes.
//!
//! Every client here starts from [`client_config`] (brokers, TLS, SASL, `[kafka.properties]`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;

use crate::config::KafkaConfig;
use crate::error::{Error, Result};
use crate::http::Readiness;
use crate::telemetry;
use crate::traits::{Committer, Consumer, Delivery, Polled, Publisher, Record, Topic};

mod follow;
mod security;
pub use follow::{follow, follow_alerts};
pub use security::{Refusals, Watch, client_config};

/// Rebalance hooks: commit stored offsets before partitions are taken away, report readiness
/// once partitions are assigned, and wake the task that works out [`partition_share`].
#[derive(Debug)]
pub struct Ctx {
    ready: Readiness,
    rebalanced: Arc<tokio::sync::Notify>,
}

/// This process's share of the raw topic's partitions, in millionths (a process runs one
/// consumer). Mentions are spread over partitions by id, so a worker sees this share of every
/// topic's mentions: the store scales what it sees by it to size hot topics' buckets.
static PARTITION_SHARE: AtomicU32 = AtomicU32::new(1_000_000);

/// This process's share of the raw topic's partitions, from 0 to 1 (1 until a consumer in it
/// has been assigned partitions).
pub fn partition_share() -> f64 {
    f64::from(PARTITION_SHARE.load(Ordering::Relaxed)) / 1e6
}

/// Updates [`partition_share`] from the current assignment and the topic's partition count.
/// Blocking (a metadata request): called from [`track_lag`]'s blocking task, never from a
/// rebalance callback, which runs on the thread that polls the consumer and would hold it up.
fn update_share(consumer: &StreamConsumer<Ctx>, topic: &str) {
    let assigned = consumer
        .assignment()
        .map_or(0, |a| a.elements_for_topic(topic).len());
    let total = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(2))
        .ok()
        .and_then(|m| m.topics().first().map(|t| t.partitions().len()))
        .unwrap_or(0);
    if assigned > 0 && total >= assigned {
        let share = (assigned as u64 * 1_000_000 / total as u64) as u32;
        PARTITION_SHARE.store(share.max(1), Ordering::Relaxed);
        tracing::debug!(assigned, total, "partition share");
    }
}

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance
            && tpl.count() > 0
            && let Err(e) = consumer.commit_consumer_state(CommitMode::Sync)
        {
            tracing::debug!(error = %e, "commit on revoke (nothing stored is fine)");
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                // A partition paused by `idle` before a rebalance may come back paused; a
                // backed-up pipeline pauses it again, so every assignment starts fetching.
                if let Err(e) = consumer.resume(tpl) {
                    tracing::debug!(error = %e, "resuming assigned partitions");
                }
                telemetry::rebalance("assign");
                tracing::info!(partitions = tpl.count(), "partitions assigned");
                self.rebalanced.notify_one();
                self.ready.set(true);
            }
            Rebalance::Revoke(tpl) => {
                // Their lag is the new owner's to report now: a stale value here would add to
                // the sum over workers (what an autoscaler on lag reads) for good.
                for e in tpl.elements() {
                    telemetry::consumer_lag(e.partition(), 0);
                }
                telemetry::rebalance("revoke");
                tracing::info!(partitions = tpl.count(), "partitions revoked");
                self.rebalanced.notify_one();
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

/// The raw-topic consumer.
pub struct KafkaConsumer {
    inner: Arc<StreamConsumer<Ctx>>,
    topic: String,
    /// Whether [`Consumer::idle`] paused the assignment (the next poll resumes it).
    paused: bool,
    /// Messages received while idle, handed out first by the next poll.
    stash: std::collections::VecDeque<Delivery>,
    /// Transient consume errors are not logged again before this.
    quiet: Quiet,
    backlog: Arc<Backlog>,
    lag_task: tokio::task::JoinHandle<()>,
}

/// The consumer lag over the assigned partitions, as last measured in full.
#[derive(Debug, Default)]
pub struct Backlog {
    messages: AtomicU64,
    /// When (seconds since the epoch) the brokers last answered for every assigned partition;
    /// 0 if never, or if nothing was assigned.
    measured: std::sync::atomic::AtomicI64,
}

/// A lag measured longer ago than this is not known any more (the brokers are not answering).
const LAG_STALE: i64 = 15;

impl Backlog {
    /// Messages waiting over the assigned partitions; None while the brokers have not answered
    /// for every assigned partition for [`LAG_STALE`] seconds, or nothing is assigned.
    pub fn known(&self) -> Option<u64> {
        let measured = self.measured.load(Ordering::Relaxed);
        let fresh = chrono::Utc::now().timestamp() - measured <= LAG_STALE;
        fresh.then(|| self.messages.load(Ordering::Relaxed))
    }
}

impl std::fmt::Debug for KafkaConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConsumer")
            .field("topic", &self.topic)
            .finish()
    }
}

impl KafkaConsumer {
    /// Joins the consumer group and subscribes to the raw topic. `max_buffer_kib` caps what
    /// librdkafka prefetches, so a paused pipeline cannot buffer unboundedly.
    pub fn new(
        cfg: &KafkaConfig,
        ready: Readiness,
        max_buffer_kib: usize,
    ) -> Result<KafkaConsumer> {
        let mut own = ClientConfig::new();
        own.set("group.id", &cfg.group_id)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set(
                "max.poll.interval.ms",
                cfg.max_poll_interval().as_millis().to_string(),
            )
            .set("queued.max.messages.kbytes", max_buffer_kib.to_string())
            .set(
                "fetch.max.bytes",
                (max_buffer_kib.min(50 * 1024) * 1024).to_string(),
            );
        let rebalanced = Arc::new(tokio::sync::Notify::new());
        let consumer: StreamConsumer<Ctx> = client_config(cfg, own)?
            .create_with_context(Ctx {
                ready,
                rebalanced: rebalanced.clone(),
            })
            .map_err(|e| Error::queue("creating consumer", e))?;
        consumer
            .subscribe(&[&cfg.raw_topic])
            .map_err(|e| Error::queue("subscribing", e))?;
        let inner = Arc::new(consumer);
        let backlog = Arc::new(Backlog::default());
        let lag_task = tokio::spawn(track_lag(
            inner.clone(),
            cfg.raw_topic.clone(),
            backlog.clone(),
            rebalanced,
        ));
        Ok(KafkaConsumer {
            inner,
            topic: cfg.raw_topic.clone(),
            paused: false,
            stash: Default::default(),
            quiet: Quiet::default(),
            backlog,
            lag_task,
        })
    }

    /// The lag this consumer measures, for a task that outlives its polls (a poll waits for the
    /// first message, so an idle poll loop does not look).
    pub fn lag(&self) -> Arc<Backlog> {
        self.backlog.clone()
    }
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        self.lag_task.abort();
    }
}

/// Every few seconds: lag per assigned partition = high watermark − position. After a
/// rebalance (woken by it): the partition share first.
async fn track_lag(
    consumer: Arc<StreamConsumer<Ctx>>,
    topic: String,
    backlog: Arc<Backlog>,
    rebalanced: Arc<tokio::sync::Notify>,
) {
    loop {
        let share_due = tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(5)) => false,
            () = rebalanced.notified() => true,
        };
        let c = consumer.clone();
        let t = topic.clone();
        // Each assigned partition's lag, and whether the brokers answered for all of them.
        let (lags, whole) = tokio::task::spawn_blocking(move || -> (Vec<(i32, i64)>, bool) {
            if share_due {
                update_share(&c, &t);
            }
            let Ok(position) = c.position() else {
                return (Vec::new(), false);
            };
            let mut out = Vec::new();
            let mut whole = true;
            for e in position.elements_for_topic(&t) {
                let Ok((_, high)) = c.fetch_watermarks(&t, e.partition(), Duration::from_secs(2))
                else {
                    whole = false;
                    continue;
                };
                let pos = e.offset().to_raw().filter(|o| *o >= 0).unwrap_or(0);
                out.push((e.partition(), (high - pos).max(0)));
            }
            drop(position);
            (out, whole)
        })
        .await
        .unwrap_or_default();
        let mut total = 0;
        let measured = whole && !lags.is_empty();
        for (p, lag) in lags {
            telemetry::consumer_lag(p, lag);
            total += lag as u64;
        }
        if measured {
            backlog.messages.store(total, Ordering::Relaxed);
            let now = chrono::Utc::now().timestamp();
            backlog.measured.store(now, Ordering::Relaxed);
            telemetry::lag_measured(now);
        }
    }
}

impl Consumer for KafkaConsumer {
    async fn poll(&mut self, max: usize, linger: Duration) -> Result<Polled> {
        if self.paused {
            self.paused = false;
            match self.inner.assignment() {
                Ok(tpl) => {
                    if let Err(e) = self.inner.resume(&tpl) {
                        tracing::warn!(error = %e, "resuming partitions");
                    }
                    tracing::info!(
                        partitions = tpl.count(),
                        "pipeline caught up: fetching again"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "reading the assignment to resume it"),
            }
        }
        if !self.stash.is_empty() {
            let n = self.stash.len().min(max);
            return Ok(Polled::Batch(self.stash.drain(..n).collect()));
        }
        let mut batch = Vec::with_capacity(max.min(4096));
        let first = loop {
            match self.inner.recv().await {
                Ok(m) => break m,
                Err(e) if consume_is_fatal(&e) => return Err(Error::queue("consume", e)),
                Err(e) => {
                    // Brokers down, a transport error, a topic not created yet, a poll
                    // interval exceeded: librdkafka recovers by itself. Its errors are events,
                    // one per state change, so the next `recv` waits by itself: sleeping here
                    // would only let a backlog of stale errors build up (an outage of 20 s
                    // left minutes of them behind, and a worker that had not yet resumed).
                    telemetry::retry("consume");
                    if self.quiet.due() {
                        tracing::warn!(error = %e, "consume error; librdkafka is recovering");
                    }
                }
            }
        };
        batch.push(owned(&first));
        drop(first);
        let deadline = tokio::time::Instant::now() + linger;
        while batch.len() < max {
            match tokio::time::timeout_at(deadline, self.inner.recv()).await {
                Ok(Ok(m)) => batch.push(owned(&m)),
                Ok(Err(e)) if consume_is_fatal(&e) => {
                    return Err(Error::queue("consume", e));
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "consume error");
                    break;
                }
                Err(_) => break,
            }
        }
        Ok(Polled::Batch(batch))
    }

    /// Pauses the whole current assignment (again each time: a rebalance may have assigned new
    /// partitions) and serves the consumer for a moment, which keeps it in the group past
    /// `max.poll.interval.ms` and runs rebalance callbacks. Messages already fetched before the
    /// pause are kept in order for the next poll, so nothing is skipped.
    async fn idle(&mut self) {
        match self.inner.assignment() {
            Ok(tpl) => {
                if let Err(e) = self.inner.pause(&tpl) {
                    tracing::debug!(error = %e, "pausing partitions");
                } else if !self.paused {
                    tracing::info!(
                        partitions = tpl.count(),
                        "pipeline backed up: partitions paused, staying in the group"
                    );
                }
                self.paused = true;
            }
            Err(e) => tracing::debug!(error = %e, "reading the assignment to pause it"),
        }
        let until = tokio::time::Instant::now() + Duration::from_millis(50);
        while let Ok(r) = tokio::time::timeout_at(until, self.inner.recv()).await {
            match r {
                Ok(m) => self.stash.push_back(owned(&m)),
                Err(e) => tracing::debug!(error = %e, "consume error while idle"),
            }
        }
    }

    fn committer(&self) -> Box<dyn Committer> {
        Box::new(KafkaCommitter {
            consumer: self.inner.clone(),
            topic: self.topic.clone(),
        })
    }

    /// See [`Backlog::known`].
    fn backlog(&self) -> Option<u64> {
        self.backlog.known()
    }
}

/// Lets one log line through per 5 s for an error that repeats while librdkafka recovers.
#[derive(Debug, Default)]
struct Quiet(Option<std::time::Instant>);

impl Quiet {
    fn due(&mut self) -> bool {
        let now = std::time::Instant::now();
        let due = self.0.is_none_or(|t| t <= now);
        if due {
            self.0 = Some(now + Duration::from_secs(5));
        }
        due
    }
}

/// Pause between looks for missing topics: 100 ms doubling to 5 s.
const TOPICS_BACKOFF: collectors::common::BackoffConfig = collectors::common::BackoffConfig {
    initial: Duration::from_millis(100),
    max: Duration::from_secs(5),
};

/// Whether a consume error ends the worker. Only librdkafka's fatal errors and refused
/// authorisation do: waiting cannot mend them. Everything else a poll reports (all brokers
/// down, transport failures, a topic or partition not there yet, max poll interval exceeded) is
/// a state librdkafka recovers from by itself.
fn consume_is_fatal(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    match e {
        KafkaError::MessageConsumptionFatal(_) => true,
        KafkaError::MessageConsumption(code) => matches!(
            code,
            C::Fatal
                | C::TopicAuthorizationFailed
                | C::GroupAuthorizationFailed
                | C::SaslAuthenticationFailed
                | C::Authentication
        ),
        _ => false,
    }
}

/// A produce error, classified: the broker (or librdkafka, before sending) refusing this record
/// for what it is (too large, invalid) is [`Error::Rejected`], and the runtime dead-letters it;
/// the rest (timeouts, brokers down) is an outage to retry.
fn produce_err(e: KafkaError) -> Error {
    use rdkafka::types::RDKafkaErrorCode as C;
    match e {
        KafkaError::MessageProduction(
            C::MessageSizeTooLarge | C::InvalidMessageSize | C::InvalidMessage | C::InvalidRecord,
        ) => Error::rejected("the broker refused the record", e),
        e => Error::publish("", e),
    }
}

fn owned(m: &rdkafka::message::BorrowedMessage<'_>) -> Delivery {
    Delivery {
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        tombstone: m.payload().is_none(),
        mention: None,
    }
}

struct KafkaCommitter {
    consumer: Arc<StreamConsumer<Ctx>>,
    topic: String,
}

impl Committer for KafkaCommitter {
    fn commit(&self, partition: i32, offset: i64) -> Result<()> {
        // Storing for a partition we no longer own fails; its new owner will redeliver from the
        // last commit, and our idempotent writes absorb the repeat.
        if let Err(e) = self.consumer.store_offset(&self.topic, partition, offset) {
            tracing::debug!(error = %e, partition, offset, "offset not stored (partition revoked?)");
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => Ok(()),
            // Nothing stored since the last commit.
            Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::NoOffset,
            )) => Ok(()),
            Err(e) => Err(Error::queue("final commit", e)),
        }
    }
}

/// Publishes enriched mentions and dead letters with an idempotent, acks=all producer.
#[derive(Clone)]
pub struct KafkaPublisher {
    producer: FutureProducer,
    enriched: String,
    dlq: String,
    alerts: String,
}

impl std::fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPublisher")
            .field("enriched", &self.enriched)
            .finish()
    }
}

/// The one producer configuration every Backchannel producer uses (collectors included):
/// idempotent, acks=all, lz4-compressed, batched, with the configured largest record.
/// Fails as [`client_config`] does.
pub fn producer_config(cfg: &KafkaConfig) -> Result<ClientConfig> {
    let mut c = ClientConfig::new();
    c.set("message.max.bytes", cfg.message_max_bytes.to_string())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("message.timeout.ms", "60000")
        .set("queue.buffering.max.kbytes", "262144");
    client_config(cfg, c)
}

/// An idempotent, acks=all producer with a future per message (for callers that await
/// each record's acknowledgement).
pub fn producer(cfg: &KafkaConfig) -> Result<FutureProducer> {
    producer_config(cfg)?
        .create()
        .map_err(|e| Error::publish("creating producer", e))
}

impl KafkaPublisher {
    pub fn new(cfg: &KafkaConfig) -> Result<KafkaPublisher> {
        Ok(KafkaPublisher {
            producer: producer(cfg)?,
            enriched: cfg.enriched_topic.clone(),
            dlq: cfg.dlq_topic.clone(),
            alerts: cfg.alerts_topic.clone(),
        })
    }
}

impl Publisher for KafkaPublisher {
    async fn publish(&self, records: &[Record<'_>]) -> Result<()> {
        let mut acks = Vec::with_capacity(records.len());
        for r in records {
            let topic = match r.topic {
                Topic::Enriched => &self.enriched,
                Topic::DeadLetter => &self.dlq,
                Topic::Alerts => &self.alerts,
            };
            let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
            for (k, v) in r.headers {
                headers = headers.insert(Header {
                    key: k,
                    value: Some(*v),
                });
            }
            let mut record = FutureRecord::to(topic).key(r.key).headers(headers);
            if let Some(payload) = r.payload {
                record = record.payload(payload);
            }
            // `send_result` enqueues now (FutureProducer::send only enqueues when awaited, which
            // would serialise the batch). A full local queue is backpressure: wait and retry.
            let ack = loop {
                match self.producer.send_result(record) {
                    Ok(ack) => break ack,
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull,
                        ),
                        r,
                    )) => {
                        record = r;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(produce_err(e)),
                }
            };
            acks.push(ack);
        }
        for ack in acks {
            match ack.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(produce_err(e)),
                Err(_) => {
                    return Err(Error::Publish {
                        what: "producer dropped a delivery".into(),
                        source: None,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Makes sure `topics` exist before anything produces to or consumes from them. With
/// `kafka.create_topics` a missing topic is created with `kafka.partitions` and
/// `kafka.replication_factor` (another process creating it first is fine); without, or when the
/// broker refuses, this waits until someone else has created it. Brokers that are down are
/// waited for too: a worker started before Kafka comes up starts when Kafka does. Brokers that
/// refuse our credentials or TLS handshake are not waited for: that is a `Config` error with the
/// broker's reason.
pub async fn ensure_topics(cfg: &KafkaConfig, topics: &[&str]) -> Result<()> {
    // Metadata goes through a producer handle: polling it serves librdkafka's main queue, where
    // refused credentials and TLS handshakes are reported (an admin client never polls it).
    let watch = Watch::default();
    let refusals = watch.refusals.clone();
    let probe: Arc<BaseProducer<Watch>> = Arc::new(
        client_config(cfg, ClientConfig::new())?
            .create_with_context(watch)
            .map_err(|e| Error::queue("creating the metadata client", e))?,
    );
    let admin: AdminClient<Watch> = client_config(cfg, ClientConfig::new())?
        .create_with_context(Watch::default())
        .map_err(|e| Error::queue("creating the admin client", e))?;
    let mut backoff = collectors::common::Backoff::new(TOPICS_BACKOFF);
    loop {
        let missing = match missing_topics(&probe, topics).await {
            Ok(missing) if missing.is_empty() => return Ok(()),
            Ok(missing) => missing,
            Err(e) => {
                probe.poll(Duration::ZERO);
                if let Some(reason) = refusals.last() {
                    return Err(Error::Config(format!(
                        "Kafka at {} refused the connection: {reason} (check \
                         kafka.security_protocol, kafka.sasl_username and its password, \
                         kafka.ssl_ca_file)",
                        cfg.brokers
                    )));
                }
                let wait = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?wait, "Kafka unreachable; waiting");
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        if cfg.create_topics {
            create_topics(&admin, cfg, &missing).await;
        } else {
            tracing::warn!(
                ?missing,
                "waiting for topics to be created (kafka.create_topics = false)"
            );
        }
        // Created or not, look again: creation is asynchronous on the broker.
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// What the brokers answered to [`delete_topics`], topic by topic.
#[derive(Debug, Default)]
pub struct Deleted {
    /// Topics deleted.
    pub topics: Vec<String>,
    /// Topics that were not there to delete (never created, or deleted by someone else first).
    pub absent: Vec<String>,
    /// Topics the brokers refused to delete, each as `topic NAME: REASON`.
    pub refused: Vec<String>,
}

/// Deletes `names` on the brokers `cfg` names. The brokers answer a request for several topics
/// with a result per topic, so the request succeeding says nothing of each topic: the answer
/// sorts them into deleted, absent and refused, and the caller decides what a refusal means.
pub async fn delete_topics(cfg: &KafkaConfig, names: &[&str]) -> Result<Deleted> {
    let mut deleted = Deleted::default();
    if names.is_empty() {
        return Ok(deleted);
    }
    let admin: AdminClient<DefaultClientContext> = client_config(cfg, ClientConfig::new())?
        .create()
        .map_err(|e| Error::queue("creating the admin client", e))?;
    let results = admin
        .delete_topics(names, &AdminOptions::new())
        .await
        .map_err(|e| Error::queue("deleting topics", e))?;
    for r in results {
        match r {
            Ok(topic) => deleted.topics.push(topic),
            Err((topic, RDKafkaErrorCode::UnknownTopicOrPartition)) => deleted.absent.push(topic),
            Err((topic, code)) => deleted.refused.push(format!("topic {topic}: {code}")),
        }
    }
    Ok(deleted)
}

/// Asks the broker to create `missing`; logs what it answered (another process creating a topic
/// first is fine, a refusal is waited out by the caller).
async fn create_topics(admin: &AdminClient<Watch>, cfg: &KafkaConfig, missing: &[String]) {
    // With three or more replicas, a write acknowledged with acks=all (our producers' setting)
    // must be on all but one of them: one broker may be lost without losing an acknowledged
    // write, and a second one stops writes rather than silently keeping a single copy.
    let min_insync = (cfg.replication_factor - 1).to_string();
    let new: Vec<NewTopic<'_>> = missing
        .iter()
        .map(|t| {
            let topic = NewTopic::new(
                t,
                cfg.partitions,
                TopicReplication::Fixed(cfg.replication_factor),
            );
            if cfg.replication_factor >= 3 {
                topic.set("min.insync.replicas", &min_insync)
            } else {
                topic
            }
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    match admin.create_topics(&new, &opts).await {
        Ok(results) => {
            for r in results {
                match r {
                    Ok(t) => tracing::info!(
                        topic = %t,
                        partitions = cfg.partitions,
                        replication = cfg.replication_factor,
                        "created topic"
                    ),
                    Err((t, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {
                        tracing::debug!(topic = %t, "topic created by another process")
                    }
                    Err((t, code)) => tracing::warn!(
                        topic = %t, error = %code,
                        "could not create topic; waiting for it to exist"
                    ),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "creating topics failed; retrying"),
    }
}

/// The names in `topics` the cluster's metadata does not list (with partitions).
async fn missing_topics(
    probe: &Arc<BaseProducer<Watch>>,
    topics: &[&str],
) -> std::result::Result<Vec<String>, KafkaError> {
    let probe = probe.clone();
    let wanted: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let md = probe
            .client()
            .fetch_metadata(None, Duration::from_secs(5))?;
        Ok(wanted
            .into_iter()
            .filter(|w| {
                !md.topics()
                    .iter()
                    .any(|t| t.name() == w && t.error().is_none() && !t.partitions().is_empty())
            })
            .collect())
    })
    .await
    .unwrap_or_else(|_| {
        Err(KafkaError::MetadataFetch(
            rdkafka::types::RDKafkaErrorCode::Fail,
        ))
    })
}
