//! The synthetic source into Kafka's raw topic (or stdout), through a threaded producer with a
//! counting delivery callback: no future or channel per message, so one core keeps a broker busy.

use std::io::Write;
use std::time::Duration;

use collectors::{Synthetic, SyntheticConfig};
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use super::Sink;
use crate::config::Config;
use crate::error::{Error, Result};

/// What to collect.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    pub seed: u64,
    /// First index of the synthetic sequence (resume a partly produced run).
    pub start: u64,
    pub limit: Option<u64>,
    /// Mentions per second; 0 = as fast as possible.
    pub rate: u64,
    pub sink: Sink,
    /// Stamp `collected_at` with the time each mention is produced (what a live collector does,
    /// and what end-to-end latency is measured from). Off, every field depends on the seed and
    /// index only, which tests use to recompute ground truth.
    pub live_times: bool,
}

/// Stamps a synthetic mention as a live collector would: collected now, created as long before
/// as the generator's simulated collection delay.
pub fn stamp_live(m: &mut model::Mention) {
    let now = chrono::Utc::now();
    m.created_at = now - (m.collected_at - m.created_at);
    m.collected_at = now;
}

/// Produces synthetic mentions; returns how many were acknowledged.
pub async fn synthetic(config: &Config, opts: &CollectOptions) -> Result<u64> {
    let source = Synthetic::new(SyntheticConfig {
        seed: opts.seed,
        ..Default::default()
    });
    let stamp = |mut m: model::Mention| {
        if opts.live_times {
            stamp_live(&mut m);
        }
        m
    };
    let end = opts
        .limit
        .map_or(u64::MAX, |l| opts.start.saturating_add(l));
    let mut pacer = collectors::Pacer::new(opts.rate);
    let mut i = opts.start;
    let mut sent = 0u64;
    match opts.sink {
        Sink::Stdout => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            while i < end {
                let m = stamp(source.mention(i));
                serde_json::to_writer(&mut out, &m)
                    .map_err(|e| Error::internal("serialising a mention", e))?;
                out.write_all(b"\n")?;
                i += 1;
                sent += 1;
            }
            out.flush()?;
        }
        Sink::Kafka => {
            let k = &config.kafka;
            crate::distributed::kafka::ensure_topics(k, &[&k.raw_topic]).await?;
            // A threaded producer with a counting delivery callback: no future or channel per
            // message, which is what lets one core keep a broker busy.
            let counts = std::sync::Arc::new(Counting::default());
            let producer: ThreadedProducer<CountingContext> =
                crate::distributed::kafka::producer_config(&config.kafka)?
                    .create_with_context(CountingContext(counts.clone()))
                    .map_err(|e| Error::publish("creating producer", e))?;
            let topic = &config.kafka.raw_topic;
            while i < end {
                let tick_end = pacer.grant(i, end).await;
                while i < tick_end {
                    let m = stamp(source.mention(i));
                    let payload = serde_json::to_vec(&m)
                        .map_err(|e| Error::internal("serialising a mention", e))?;
                    let mut record = BaseRecord::to(topic).key(m.id.as_bytes()).payload(&payload);
                    loop {
                        match producer.send(record) {
                            Ok(()) => break,
                            Err((
                                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                                r,
                            )) => {
                                // Backpressure: the local queue is full until the broker acks.
                                record = r;
                                tokio::time::sleep(Duration::from_millis(1)).await;
                            }
                            Err((e, _)) => return Err(Error::publish("", e)),
                        }
                    }
                    if let Some(e) = counts.error() {
                        return Err(Error::publish("delivery failed", e));
                    }
                    i += 1;
                }
                if opts.rate == 0 && i >= end {
                    break;
                }
            }
            let producer = std::sync::Arc::new(producer);
            let p = producer.clone();
            tokio::task::spawn_blocking(move || p.flush(Duration::from_secs(60)))
                .await
                .map_err(|e| Error::internal("flush task", e))?
                .map_err(|e| Error::publish("flush", e))?;
            if let Some(e) = counts.error() {
                return Err(Error::publish("delivery failed", e));
            }
            sent = counts.ok.load(Ordering::Relaxed);
        }
    }
    Ok(sent)
}

/// Delivery outcomes, counted by librdkafka's delivery callback.
#[derive(Debug, Default)]
struct Counting {
    ok: AtomicU64,
    first_error: std::sync::Mutex<Option<KafkaError>>,
}

impl Counting {
    fn error(&self) -> Option<KafkaError> {
        self.first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

struct CountingContext(std::sync::Arc<Counting>);

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.0
                    .first_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert_with(|| e.clone());
            }
        }
    }
}
