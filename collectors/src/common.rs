//! What every collector shares: the item type, the emitter that feeds a collector's stream,
//! reconnect pacing, HTTP status handling, line framing, checkpoints and errors.

pub mod backoff;
pub mod checkpoint;
pub mod duration;
pub mod error;
pub mod html;
pub(crate) mod http;
pub mod limits;
pub mod lines;
pub(crate) mod recent;
pub mod secret;
pub mod serve;
pub mod sse;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use model::{Mention, Source};
use tokio::sync::mpsc;

pub use backoff::{Backoff, BackoffConfig};
pub use checkpoint::{Checkpoint, Cursor, FileCheckpoint, MemoryCheckpoint};
pub use error::{CollectorError, ErrorClass, error_chain};
/// The HTTP client (rustls with ring, connect timeout) for callers outside the crate too.
pub use http::client as http_client;
pub use limits::HttpLimits;
pub use secret::{Secret, SecretRef};

use crate::telemetry::CollectorMetrics;

/// What a collector's stream yields besides errors.
///
/// `cursor` is the source position *after* this item: once this item and every item before it are
/// durable downstream (Kafka acknowledged them), the runner may save `cursor` in a
/// [`Checkpoint`]; a collector started again with it resumes after this item. `None` means the
/// item moves no cursor (webhook pushes, events that a source cannot replay).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub event: Event,
    pub cursor: Option<Cursor>,
}

/// A mention, or the news that one was deleted at its source.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new or edited mention. An edit carries the same `id` as the original: stores upsert.
    Mention(Box<Mention>),
    /// The mention with this id (`<source>:<native id>`, the same id its `Mention` had) was
    /// deleted at the source. Downstream writes a tombstone rather than forgetting it: a deletion
    /// is a fact a client may be obliged to act on (erase, hide, stop counting).
    Delete { id: String },
}

/// A collector's output: items in source order, then, if the collector had to stop, one fatal
/// error (bad credentials, bad config) and the end. Retryable failures and malformed frames never
/// appear here: the collector retries and counts them. Dropping the stream stops the collector.
pub type ItemStream = Pin<Box<dyn Stream<Item = Result<Item, CollectorError>> + Send>>;

/// Items queued between a collector task and its consumer; the bound is the backpressure.
pub(crate) const CHANNEL_CAPACITY: usize = 1024;

/// The collector's end of its stream: sends items, counts them and the malformed frames.
/// Clones share the stream but count on their own (the webhook clones one per request).
#[derive(Debug, Clone)]
pub struct Emitter {
    tx: mpsc::Sender<Result<Item, CollectorError>>,
    pub(crate) metrics: CollectorMetrics,
    source: Source,
    sent: u64,
    malformed: u64,
}

impl Emitter {
    /// Sends a mention; waits while the consumer is behind. Fails with [`CollectorError::Closed`]
    /// once the consumer dropped the stream.
    pub async fn mention(
        &mut self,
        m: Mention,
        cursor: Option<Cursor>,
    ) -> Result<(), CollectorError> {
        let age = (m.collected_at - m.created_at).num_milliseconds() as f64 / 1000.0;
        self.metrics.freshness.set(age);
        self.metrics.fetched.increment(1);
        self.send(Item {
            event: Event::Mention(Box::new(m)),
            cursor,
        })
        .await
    }

    /// Sends a deletion of the mention with id `id`.
    pub async fn delete(
        &mut self,
        id: String,
        cursor: Option<Cursor>,
    ) -> Result<(), CollectorError> {
        self.metrics.deletes.increment(1);
        self.send(Item {
            event: Event::Delete { id },
            cursor,
        })
        .await
    }

    async fn send(&mut self, item: Item) -> Result<(), CollectorError> {
        self.sent += 1;
        self.tx
            .send(Ok(item))
            .await
            .map_err(|_| CollectorError::Closed)
    }

    /// Counts a frame that could not be read and logs it with a sample: the first ten, then
    /// every thousandth, so a flood of bad frames cannot flood the log.
    pub fn malformed(&mut self, reason: &str, sample: &[u8]) {
        self.metrics.malformed.increment(1);
        self.malformed += 1;
        if self.malformed <= 10 || self.malformed.is_multiple_of(1000) {
            let sample = String::from_utf8_lossy(&sample[..sample.len().min(200)]);
            tracing::warn!(
                source = self.source.as_str(),
                count = self.malformed,
                reason,
                %sample,
                "skipped a malformed frame"
            );
        }
    }

    /// Like [`Emitter::mention`], but gives up after `wait` when the consumer is that far
    /// behind, handing the mention back so a caller can tell its client to retry later.
    pub async fn mention_within(
        &mut self,
        m: Mention,
        wait: Duration,
    ) -> Result<(), MentionRejected> {
        let permit = match tokio::time::timeout(wait, self.tx.reserve()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(MentionRejected::Closed),
            Err(_) => return Err(MentionRejected::Full),
        };
        let age = (m.collected_at - m.created_at).num_milliseconds() as f64 / 1000.0;
        self.metrics.freshness.set(age);
        self.metrics.fetched.increment(1);
        self.sent += 1;
        permit.send(Ok(Item {
            event: Event::Mention(Box::new(m)),
            cursor: None,
        }));
        Ok(())
    }

    /// Items sent so far (a session that sent any made progress).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Counts a line, event or message dropped for passing the cap named `key`, and says what
    /// happens next (`then`: "resyncing at the next event", …) in the log, sampled like
    /// [`Emitter::malformed`].
    pub fn oversized(&mut self, what: &str, key: &str, limit: usize, then: &str, prefix: &[u8]) {
        self.metrics.oversized.increment(1);
        self.metrics.malformed.increment(1);
        self.malformed += 1;
        if self.malformed <= 10 || self.malformed.is_multiple_of(1000) {
            let sample = String::from_utf8_lossy(&prefix[..prefix.len().min(200)]);
            tracing::warn!(
                source = self.source.as_str(),
                count = self.malformed,
                limit,
                %sample,
                "dropped {what} over {key}; {then}"
            );
        }
    }

    /// Malformed frames seen so far.
    pub fn malformed_count(&self) -> u64 {
        self.malformed
    }
}

/// Why [`Emitter::mention_within`] did not take a mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MentionRejected {
    /// The consumer is behind; try again later.
    Full,
    /// The consumer is gone.
    Closed,
}

/// Runs `run` on a task of its own and returns its output as a stream. The task ends when `run`
/// returns or as soon as the stream is dropped.
pub(crate) fn spawn<F, Fut>(source: Source, run: F) -> ItemStream
where
    F: FnOnce(Emitter) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), CollectorError>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let emitter = Emitter {
        tx: tx.clone(),
        metrics: CollectorMetrics::new(source),
        source,
        sent: 0,
        malformed: 0,
    };
    tokio::spawn(async move {
        let res = tokio::select! {
            r = run(emitter) => r,
            () = tx.closed() => Ok(()),
        };
        match res {
            Ok(()) | Err(CollectorError::Closed) => {}
            Err(e) => {
                tracing::error!(source = source.as_str(), error = %e, "collector stopped");
                let _ = tx.send(Err(e)).await;
            }
        }
    });
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Decides, after a connection or poll ended, whether and when to try again.
#[derive(Debug)]
pub(crate) struct Reconnect {
    backoff: Backoff,
    source: Source,
    /// Something was delivered since the start: the configuration has been shown to work.
    worked: bool,
}

impl Reconnect {
    pub(crate) fn new(source: Source, cfg: BackoffConfig) -> Self {
        Reconnect {
            backoff: Backoff::new(cfg),
            source,
            worked: false,
        }
    }

    /// Call when a session ends. `sent_before` is [`Emitter::sent`] at its start: a session that
    /// delivered anything resets the backoff. Fatal errors come back as `Err`; otherwise this
    /// sleeps (at least as long as a `Retry-After` asked) and returns `Ok` to try again.
    pub(crate) async fn after(
        &mut self,
        em: &Emitter,
        sent_before: u64,
        outcome: Result<(), CollectorError>,
    ) -> Result<(), CollectorError> {
        self.after_progress(em, em.sent() > sent_before, outcome)
            .await
    }

    /// [`Reconnect::after`] for a collector that judges progress itself: `progressed` is true
    /// only when the session delivered something new, so a server that re-sends what we already
    /// had and then drops us is paced by the backoff instead of being reconnected to at once.
    pub(crate) async fn after_progress(
        &mut self,
        em: &Emitter,
        progressed: bool,
        outcome: Result<(), CollectorError>,
    ) -> Result<(), CollectorError> {
        if progressed {
            self.backoff.reset();
            self.worked = true;
        }
        let mut delay = self.backoff.next_delay();
        match &outcome {
            Ok(()) => {
                tracing::info!(
                    source = self.source.as_str(),
                    ?delay,
                    "stream ended; reconnecting"
                );
            }
            Err(e) => {
                // A 404 (or another 4xx) for a request that has worked before is the server's
                // passing trouble (a restart, a node behind the balancer without the route), not
                // a wrong configuration: retry it with backoff. At start it stops the collector.
                let passing = self.worked && matches!(e, CollectorError::Http { .. });
                match e.class() {
                    ErrorClass::Auth => {
                        em.metrics.auth_errors.increment(1);
                        return outcome;
                    }
                    ErrorClass::Internal if !passing => return outcome,
                    ErrorClass::Internal | ErrorClass::External | ErrorClass::BadData => {}
                }
                if let CollectorError::TooLarge { .. } = e {
                    em.metrics.oversized.increment(1);
                }
                if let CollectorError::RateLimited { retry_after } = e {
                    em.metrics.rate_limited.increment(1);
                    delay = delay.max(retry_after.unwrap_or(Duration::ZERO));
                } else {
                    em.metrics.external_errors.increment(1);
                }
                tracing::warn!(source = self.source.as_str(), error = %e, ?delay, "retrying");
            }
        }
        em.metrics.reconnects.increment(1);
        tokio::time::sleep(delay).await;
        Ok(())
    }
}
