//! The threads that decode and enrich: `cpu_workers` of them, started with the pipeline and kept
//! for its life. Tokio's blocking pool would hand each batch to whichever of its threads is idle,
//! and each keeps its own warm state (the stemmer and readability caches, the record buffer are
//! thread-local), so batches rotating over more threads than run at once find colder caches.
//! Fixed threads also show up by name (`backchannel-cpu`) in `top -H` and in profiles.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::oneshot;

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed pool of CPU threads. Dropping it lets its threads finish the jobs already queued and
/// exit.
#[derive(Debug)]
pub(crate) struct CpuPool {
    jobs: mpsc::Sender<Job>,
}

impl CpuPool {
    pub(crate) fn new(threads: usize) -> Result<CpuPool> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("backchannel-cpu-{i}"))
                .spawn(move || {
                    loop {
                        // A poisoned lock only means another thread panicked while waiting,
                        // which `recv` cannot do; the queue itself is intact.
                        let job = match queue.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                            Ok(job) => job,
                            Err(_) => break, // the pool was dropped and the queue is empty
                        };
                        job();
                    }
                })
                .map_err(|e| Error::internal("starting a CPU thread", e))?;
        }
        Ok(CpuPool { jobs })
    }

    /// Runs `f` on one of the pool's threads. A panic in `f` costs that job (its result is an
    /// error), never the thread.
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = Result<T>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = self.jobs.send(Box::new(move || {
            let out = std::panic::catch_unwind(AssertUnwindSafe(f));
            // The caller may have stopped waiting (shutdown): the result is not wanted then.
            let _ = tx.send(out);
        }));
        async move {
            if sent.is_err() {
                return Err(Error::internal("CPU pool", "its threads have exited"));
            }
            match rx.await {
                Ok(Ok(out)) => Ok(out),
                Ok(Err(panic)) => Err(Error::internal(
                    "CPU pool",
                    crate::runtime::process::panic_message(&*panic).to_owned(),
                )),
                Err(_) => Err(Error::internal("CPU pool", "a job was dropped unrun")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_on_its_own_threads_and_survives_a_panic() {
        let pool = CpuPool::new(2).unwrap();
        let name = pool
            .spawn(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.is_some_and(|n| n.starts_with("backchannel-cpu-")));
        let err = pool
            .spawn(|| -> u32 { panic!("a job blew up") })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("a job blew up"), "{err}");
        // Both threads are still there: four jobs that each wait for another all finish.
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let jobs: Vec<_> = (0..4)
            .map(|i| {
                let b = barrier.clone();
                pool.spawn(move || {
                    b.wait();
                    i
                })
            })
            .collect();
        let mut got = Vec::new();
        for j in jobs {
            got.push(j.await.unwrap());
        }
        assert_eq!(got, [0, 1, 2, 3]);
    }
}
