//! `backchannel collect`: run a collector and send its mentions to Kafka's raw topic (or stdout).
//!
//! Only the synthetic source exists so far; the network sources plug in here as they arrive.

use std::io::Write;
use std::time::Duration;

use collectors::{Synthetic, SyntheticConfig};
use rdkafka::producer::FutureRecord;

use crate::config::Config;
use crate::error::{Error, Result};

/// `backchannel sources`: the source types and their configuration keys.
pub const SOURCES_HELP: &str = include_str!("sources.txt");

/// Where collected mentions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Kafka,
    Stdout,
}

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

/// Produces synthetic mentions; returns how many were acknowledged.
pub async fn synthetic(config: &Config, opts: &CollectOptions) -> Result<u64> {
    let source = Synthetic::new(SyntheticConfig {
        seed: opts.seed,
        ..Default::default()
    });
    let stamp = |mut m: model::Mention| {
        if opts.live_times {
            let now = chrono::Utc::now();
            m.created_at = now - (m.collected_at - m.created_at);
            m.collected_at = now;
        }
        m
    };
    let end = opts
        .limit
        .map_or(u64::MAX, |l| opts.start.saturating_add(l));
    let per_tick = if opts.rate == 0 {
        u64::MAX
    } else {
        opts.rate.div_ceil(100)
    };
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut i = opts.start;
    let mut sent = 0u64;
    match opts.sink {
        Sink::Stdout => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            while i < end {
                let m = stamp(source.mention(i));
                serde_json::to_writer(&mut out, &m).map_err(|e| Error::Internal(e.to_string()))?;
                out.write_all(b"\n")?;
                i += 1;
                sent += 1;
            }
            out.flush()?;
        }
        Sink::Kafka => {
            let producer = crate::distributed::kafka::producer(&config.kafka.brokers)?;
            let topic = &config.kafka.raw_topic;
            let mut acks = std::collections::VecDeque::new();
            while i < end {
                tick.tick().await;
                let tick_end = end.min(i.saturating_add(per_tick));
                while i < tick_end {
                    let m = stamp(source.mention(i));
                    let payload =
                        serde_json::to_vec(&m).map_err(|e| Error::Internal(e.to_string()))?;
                    let record = FutureRecord::to(topic)
                        .key(m.id.as_bytes())
                        .payload(&payload);
                    let ack = producer
                        .send_result(record)
                        .map_err(|(e, _)| Error::Publish(e.to_string()));
                    match ack {
                        Ok(f) => acks.push_back(f),
                        Err(_) => {
                            // Local queue full: wait for the oldest acknowledgement, then retry.
                            wait(acks.pop_front(), &mut sent).await?;
                            continue;
                        }
                    }
                    i += 1;
                    if acks.len() >= 100_000 {
                        wait(acks.pop_front(), &mut sent).await?;
                    }
                }
                if opts.rate == 0 && i >= end {
                    break;
                }
            }
            while let Some(a) = acks.pop_front() {
                wait(Some(a), &mut sent).await?;
            }
        }
    }
    Ok(sent)
}

async fn wait(ack: Option<rdkafka::producer::DeliveryFuture>, sent: &mut u64) -> Result<()> {
    if let Some(a) = ack {
        match a.await {
            Ok(Ok(_)) => *sent += 1,
            Ok(Err((e, _))) => return Err(Error::Publish(format!("delivery failed: {e}"))),
            Err(_) => return Err(Error::Publish("producer dropped a delivery".into())),
        }
    }
    Ok(())
}
