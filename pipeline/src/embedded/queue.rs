use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::traits::{Committer, Consumer, Delivery, Polled};

/// A bounded in-process queue with one partition; offsets count from 0.
pub fn local_queue(capacity: usize) -> (LocalProducer, LocalConsumer) {
    let (tx, rx) = mpsc::channel(capacity);
    let committed = Arc::new(AtomicI64::new(-1));
    let produced = Arc::new(AtomicI64::new(0));
    (
        LocalProducer {
            tx,
            next: produced.clone(),
        },
        LocalConsumer {
            rx,
            committed,
            produced,
            capacity,
        },
    )
}

/// The collectors' end of the local queue. Dropping every producer closes the queue.
#[derive(Debug, Clone)]
pub struct LocalProducer {
    tx: mpsc::Sender<Delivery>,
    next: Arc<AtomicI64>,
}

impl LocalProducer {
    /// Enqueues a payload, waiting while the queue is full (backpressure). Errors when the
    /// consumer is gone.
    pub async fn send(&self, key: Option<Vec<u8>>, payload: Vec<u8>) -> Result<()> {
        self.enqueue(key, payload, None).await
    }

    /// Enqueues a mention as it is, keyed by its id: the worker takes it without the JSON round
    /// trip a payload costs ([`Delivery::mention`]). Waits while the queue is full.
    pub async fn send_mention(&self, m: model::Mention) -> Result<()> {
        let key = Some(m.id.as_bytes().to_vec());
        self.enqueue(key, Vec::new(), Some(Box::new(m))).await
    }

    async fn enqueue(
        &self,
        key: Option<Vec<u8>>,
        payload: Vec<u8>,
        mention: Option<Box<model::Mention>>,
    ) -> Result<()> {
        let permit = self.tx.reserve().await.map_err(|_| Error::Queue {
            what: "local queue closed".into(),
            source: None,
        })?;
        let offset = self.next.fetch_add(1, Ordering::Relaxed);
        permit.send(Delivery {
            partition: 0,
            offset,
            key,
            payload,
            tombstone: false,
            mention,
        });
        Ok(())
    }
}

/// The worker's end of the local queue.
#[derive(Debug)]
pub struct LocalConsumer {
    rx: mpsc::Receiver<Delivery>,
    committed: Arc<AtomicI64>,
    produced: Arc<AtomicI64>,
    capacity: usize,
}

impl Consumer for LocalConsumer {
    async fn poll(&mut self, max: usize, linger: Duration) -> Result<Polled> {
        let mut batch = Vec::with_capacity(max.min(4096));
        let Some(first) = self.rx.recv().await else {
            return Ok(Polled::Closed);
        };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + linger;
        while batch.len() < max {
            // Take what is already there without waiting, then linger for the rest.
            let room = max - batch.len();
            let got = self.rx.recv_many(&mut batch, room);
            match tokio::time::timeout_at(deadline, got).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        Ok(Polled::Batch(batch))
    }

    fn committer(&self) -> Box<dyn Committer> {
        Box::new(LocalCommitter(self.committed.clone()))
    }

    fn backlog(&self) -> Option<u64> {
        Some((self.capacity - self.rx.capacity()) as u64)
    }
}

impl LocalConsumer {
    /// Offsets produced so far.
    pub fn produced(&self) -> i64 {
        self.produced.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct LocalCommitter(Arc<AtomicI64>);

impl Committer for LocalCommitter {
    fn commit(&self, _partition: i32, offset: i64) -> Result<()> {
        let prev = self.0.swap(offset, Ordering::AcqRel);
        if offset <= prev {
            return Err(Error::Internal {
                what: format!("commit went backwards: {prev} -> {offset}"),
                source: None,
            });
        }
        Ok(())
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_fill_up_to_max_keep_order_and_close() {
        let (tx, mut rx) = local_queue(16);
        let producer = tokio::spawn(async move {
            for i in 0..40u32 {
                tx.send(None, i.to_be_bytes().to_vec()).await.expect("send");
            }
        });
        let mut seen = Vec::new();
        while let Polled::Batch(b) = rx.poll(10, Duration::from_millis(5)).await.expect("poll") {
            assert!(!b.is_empty() && b.len() <= 10);
            seen.extend(b.into_iter().map(|d| d.offset));
        }
        producer.await.expect("producer");
        assert_eq!(seen, (0..40).collect::<Vec<i64>>());
        let c = rx.committer();
        c.commit(0, 5).expect("forward");
        assert!(c.commit(0, 5).is_err(), "a repeated commit is a bug");
    }

    #[tokio::test]
    async fn a_mention_travels_as_it_is_keyed_by_its_id() {
        let (tx, mut rx) = local_queue(4);
        let m = collectors::synthetic::Synthetic::new(Default::default()).mention(7);
        tx.send_mention(m.clone()).await.expect("send");
        drop(tx);
        let Polled::Batch(b) = rx.poll(10, Duration::from_millis(5)).await.expect("poll") else {
            panic!("a batch");
        };
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].key.as_deref(), Some(m.id.as_bytes()));
        assert!(b[0].payload.is_empty(), "no JSON made");
        assert_eq!(b[0].mention.as_deref(), Some(&m));
        let mut d = b[0].clone();
        let json: model::Mention = serde_json::from_slice(&d.take_payload()).expect("its JSON");
        assert_eq!(json, m);
    }
}
