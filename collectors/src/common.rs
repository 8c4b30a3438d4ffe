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

/// A mention, the news that one was deleted at its source, or a frame that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new or edited mention. An edit carries the same `id` as the original: stores upsert.
    Mention(Box<Mention>),
    /// The mention with this id (`<source>:<native id>`, the same id its `Mention` had) was
    /// deleted at the source. Downstream writes a tombstone rather than forgetting it: a deletion
    /// is a fact a client may be obliged to act on (erase, hide, stop counting).
    Delete { id: String },
    /// A frame the collector could not read: the runner dead-letters it, so bad input from a
    /// source stays data someone can look at, not only a line in a log.
    Malformed(Box<Malformed>),
}

/// A frame a collector could not read, as [`Event::Malformed`] carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    /// A short label (`malformed_json`, `too_large`, `not_a_status`…): the dead letter's reason.
    pub reason: &'static str,
    /// What went wrong in words, where there is more to say than the reason (a parser's message,
    /// the cap a frame passed); may be empty.
    pub detail: String,
    /// The frame as received, cut to [`MALFORMED_KEEP`] bytes.
    pub payload: Vec<u8>,
    /// The frame's size, when it was read whole; `None` for a frame over a cap, which was
    /// skipped, not read (`payload` is its start).
    pub bytes: Option<u64>,
}

impl Malformed {
    /// A frame that was read whole and could not be used; keeps its first [`MALFORMED_KEEP`]
    /// bytes.
    pub fn new(reason: &'static str, detail: String, frame: &[u8]) -> Self {
        Malformed {
            reason,
            detail,
            payload: frame[..frame.len().min(MALFORMED_KEEP)].to_vec(),
            bytes: Some(frame.len() as u64),
        }
    }

    /// A frame skipped for passing the cap named `key` (`limit` bytes); `prefix` is its start.
    pub fn oversized(what: &str, key: &str, limit: usize, then: &str, prefix: &[u8]) -> Self {
        let detail = format!("{what} over {key} ({limit} bytes); {then}");
        Malformed {
            bytes: None,
            ..Malformed::new("too_large", detail, prefix)
        }
    }
}

/// Bytes of a malformed frame that [`Event::Malformed`] keeps. A social post's JSON is a few KB;
/// the bound keeps what the channel to the runner can hold (1,024 items) at 64 MiB of them.
pub const MALFORMED_KEEP: usize = 64 * 1024;

/// A collector's output: items in source order, then, if the collector had to stop, one fatal
/// error (bad credentials, bad config) and the end. Retryable failures never appear here: the
/// collector retries them. Malformed frames come as [`Event::Malformed`] items, in order with the
/// rest. Dropping the stream stops the collector.
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
        // A malformed frame is not news: it must not count as progress (which resets a
        // reconnect's backoff).
        if !matches!(item.event, Event::Malformed(_)) {
            self.sent += 1;
        }
        self.tx
            .send(Ok(item))
            .await
            .map_err(|_| CollectorError::Closed)
    }

    /// Counts a frame that could not be read, logs it with a sample (the first ten, then every
    /// thousandth, so a flood of bad frames cannot flood the log) and hands it on to be
    /// dead-lettered; waits while the consumer is behind, like [`Emitter::mention`].
    pub async fn malformed(
        &mut self,
        reason: &'static str,
        frame: &[u8],
    ) -> Result<(), CollectorError> {
        self.malformed_because(reason, String::new(), frame).await
    }

    /// [`Emitter::malformed`] with a `detail` saying what went wrong (a parser's message).
    pub async fn malformed_because(
        &mut self,
        reason: &'static str,
        detail: String,
        frame: &[u8],
    ) -> Result<(), CollectorError> {
        let bad = Malformed::new(reason, detail, frame);
        self.malformed_frame(bad, None).await
    }

    /// [`Emitter::malformed`] for a frame the caller made into a [`Malformed`] itself, with the
    /// cursor after it (a source that counts bad frames in its position, as file replay does).
    pub async fn malformed_frame(
        &mut self,
        bad: Malformed,
        cursor: Option<Cursor>,
    ) -> Result<(), CollectorError> {
        self.count_malformed(&bad);
        self.send(Item {
            event: Event::Malformed(Box::new(bad)),
            cursor,
        })
        .await
    }

    /// Like [`Emitter::malformed_because`], but gives up after `wait` when the consumer is that
    /// far behind, as [`Emitter::mention_within`] does.
    pub async fn malformed_within(
        &mut self,
        reason: &'static str,
        detail: String,
        frame: &[u8],
        wait: Duration,
    ) -> Result<(), MentionRejected> {
        // Counted once there is room: a frame turned away is answered 503, and the client's
        // retry brings it again.
        let tx = self.tx.clone();
        let permit = reserve_within(&tx, wait).await?;
        let bad = Malformed::new(reason, detail, frame);
        self.count_malformed(&bad);
        permit.send(Ok(Item {
            event: Event::Malformed(Box::new(bad)),
            cursor: None,
        }));
        Ok(())
    }

    /// Counts and logs a malformed frame without handing it on: for a caller that dead-letters
    /// only so many of a batch (the webhook, per pushed body).
    pub fn malformed_not_sent(&mut self, reason: &'static str, detail: &str, frame: &[u8]) {
        self.metrics.malformed.increment(1);
        self.malformed += 1;
        if self.malformed <= 10 || self.malformed.is_multiple_of(1000) {
            let sample = String::from_utf8_lossy(&frame[..frame.len().min(200)]);
            tracing::warn!(
                source = self.source.as_str(),
                count = self.malformed,
                reason,
                detail,
                %sample,
                "skipped a malformed frame"
            );
        }
    }

    fn count_malformed(&mut self, bad: &Malformed) {
        self.malformed_not_sent(bad.reason, &bad.detail, &bad.payload);
    }

    /// Like [`Emitter::mention`], but gives up after `wait` when the consumer is that far
    /// behind, handing the mention back so a caller can tell its client to retry later.
    pub async fn mention_within(
        &mut self,
        m: Mention,
        wait: Duration,
    ) -> Result<(), MentionRejected> {
        let age = (m.collected_at - m.created_at).num_milliseconds() as f64 / 1000.0;
        reserve_within(&self.tx, wait).await?.send(Ok(Item {
            event: Event::Mention(Box::new(m)),
            cursor: None,
        }));
        self.metrics.freshness.set(age);
        self.metrics.fetched.increment(1);
        self.sent += 1;
        Ok(())
    }

    /// Items sent so far (a session that sent any made progress).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Counts a line, event or message dropped for passing the cap named `key`, says what
    /// happens next (`then`: "resyncing at the next event", …) in the log, sampled like
    /// [`Emitter::malformed`], and hands its start (`prefix`) on to be dead-lettered as
    /// `too_large`.
    pub async fn oversized(
        &mut self,
        what: &str,
        key: &str,
        limit: usize,
        then: &str,
        prefix: &[u8],
    ) -> Result<(), CollectorError> {
        self.metrics.oversized.increment(1);
        let bad = Malformed::oversized(what, key, limit, then, prefix);
        self.malformed_frame(bad, None).await
    }

    /// Malformed frames seen so far.
    pub fn malformed_count(&self) -> u64 {
        self.malformed
    }
}

/// A slot in the consumer's queue, if it makes room within `wait`.
async fn reserve_within(
    tx: &mpsc::Sender<Result<Item, CollectorError>>,
    wait: Duration,
) -> Result<mpsc::Permit<'_, Result<Item, CollectorError>>, MentionRejected> {
    match tokio::time::timeout(wait, tx.reserve()).await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(_)) => Err(MentionRejected::Closed),
        Err(_) => Err(MentionRejected::Full),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_turned_away_for_want_of_room_is_not_counted() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut em = Emitter {
            tx,
            metrics: CollectorMetrics::new(Source::Webhook),
            source: Source::Webhook,
            sent: 0,
            malformed: 0,
        };
        let wait = Duration::from_millis(20);
        assert_eq!(
            em.malformed_within("malformed_json", String::new(), b"{", wait)
                .await,
            Ok(())
        );
        assert_eq!(em.malformed_count(), 1);
        // The queue's one slot is taken: the next frame is turned away (its push is answered
        // 503) and not counted, so the client's retry is counted once.
        assert_eq!(
            em.malformed_within("malformed_json", String::new(), b"{", wait)
                .await,
            Err(MentionRejected::Full)
        );
        assert_eq!(em.malformed_count(), 1);
        assert!(rx.recv().await.is_some());
        assert_eq!(
            em.malformed_within("malformed_json", String::new(), b"{", wait)
                .await,
            Ok(())
        );
        assert_eq!(em.malformed_count(), 2);
        assert_eq!(em.sent(), 0, "a malformed frame is not progress");
    }
}
