//! The one place that builds the configured services, so that every command wires itself the same
//! way: the embedded set (redb store, in-process cache, local queue and publisher) or the
//! distributed one (ScyllaDB, Redis, Kafka), the metrics server and the client API, the
//! hot-reloaded signals, the live status line and the stop signal.
//!
//! Background tasks are returned as [`Background`], which aborts them when dropped: a command
//! holds it for as long as its pipeline runs.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{Backend, StoreBackend};
use crate::config::Config;
use crate::distributed::{KafkaConsumer, KafkaPublisher, RedisCache, ScyllaStore, scylla};
use crate::embedded::{LocalPublisher, MemoryCache, RedbStore, StoreOptions};
use crate::error::{Error, Result};
use crate::http::Readiness;
use crate::signals::{SignalStore, SignalsHandle};
use crate::stats::Stats;
use crate::tenants::TenantStore;
use crate::traits::{Cache, Store};

/// Tasks that run beside a pipeline; dropping this aborts them.
#[derive(Debug, Default)]
pub struct Background(Vec<JoinHandle<()>>);

impl Background {
    pub fn push(&mut self, task: JoinHandle<()>) {
        self.0.push(task);
    }

    /// Stops every task and waits until each has ended, so what they held (the embedded store's
    /// file, say) is released when this returns. Dropping a `Background` only asks them to stop.
    pub async fn shutdown(mut self) {
        let tasks = std::mem::take(&mut self.0);
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await; // cancelled, or ended on its own: either way it is gone
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// The embedded services over `embedded.data_dir` (the queue is made by the caller, which owns
/// its producing end).
#[derive(Debug, Clone)]
pub struct Embedded {
    pub store: Arc<RedbStore>,
    pub cache: Arc<MemoryCache>,
    pub publisher: Arc<LocalPublisher>,
    /// The live push hub the publisher feeds; serve it with [`serve_api`].
    pub hub: Arc<crate::push::Hub>,
}

/// Opens the embedded store (its schema registered, retention swept in `background`), the cache
/// and the publisher.
pub async fn embedded(config: &Config, background: &mut Background) -> Result<Embedded> {
    let dir = &config.embedded.data_dir;
    let e = config.embedded.settings()?;
    let store = Arc::new(RedbStore::open_with(
        dir,
        StoreOptions {
            sync_interval: e.sync_interval,
            cache_bytes: e.store_cache_bytes,
            retention: Some(e.retention),
            max_bytes: Some(e.max_store_bytes),
        },
    )?);
    crate::codec::Codec::register(&*store).await?;
    background.push(store.spawn_retention(e.retention_interval));
    let hub = Arc::new(crate::push::Hub::new(config.api.settings()?.push));
    Ok(Embedded {
        publisher: Arc::new(
            LocalPublisher::open(dir, e.dead_letter_max_bytes)?.with_hub(hub.clone()),
        ),
        hub,
        cache: Arc::new(
            MemoryCache::new(e.cache_bytes, e.cache_ttl)
                .with_clusters(config.cluster_window()?, e.cluster_bytes),
        ),
        store,
    })
}

/// The distributed services. The consumer reports readiness through `ready` once partitions are
/// assigned.
#[derive(Debug)]
pub struct Distributed {
    pub store: Arc<ScyllaStore>,
    pub cache: Arc<RedisCache>,
    pub publisher: Arc<KafkaPublisher>,
    pub consumer: KafkaConsumer,
}

/// Connects to ScyllaDB (the schema must exist), Redis (lazily) and Kafka. A store or broker
/// that cannot be reached yet is waited for, so a worker (re)started during an outage starts
/// when the service is back rather than exiting.
pub async fn distributed(config: &Config, ready: &Readiness) -> Result<Distributed> {
    let store = Arc::new(wait_for_store(config).await?);
    let k = &config.kafka;
    crate::distributed::kafka::ensure_topics(
        k,
        &[
            &k.raw_topic,
            &k.enriched_topic,
            &k.dlq_topic,
            &k.alerts_topic,
        ],
    )
    .await?;
    let publisher = Arc::new(KafkaPublisher::new(&config.kafka)?);
    let cache = Arc::new(redis_cache(config)?);
    // Bound librdkafka's prefetch to about what the pipeline holds in flight.
    let prefetch_kib = (config.batch_size()
        * (config.pipeline.in_flight_batches + config.cpu_workers()))
    .clamp(1024, 64 * 1024);
    let consumer = KafkaConsumer::new(&config.kafka, ready.clone(), prefetch_kib)?;
    Ok(Distributed {
        store,
        cache,
        publisher,
        consumer,
    })
}

/// Connects to ScyllaDB and prepares the store (the schema must exist: `backchannel schema apply`).
pub async fn scylla_store(config: &Config) -> Result<ScyllaStore> {
    let session = scylla::connect(&config.scylla).await?;
    let target = config.scylla.partition_target_bytes()?;
    Ok(ScyllaStore::new(
        session,
        &config.scylla.keyspace,
        config.scylla.max_concurrency,
    )
    .await?
    .with_partition_target(target)
    .with_retention(config.scylla.retention()?))
}

/// [`scylla_store`] with the record schema registered, waiting out a store that cannot be
/// reached or stops answering meanwhile (down, starting, shutting down) with backoff, as
/// `ensure_topics` waits for Kafka. Only an error waiting cannot fix (no schema, bad
/// credentials, a bad TLS file) fails at once: a worker restarted during an outage must start
/// when the store is back, never exit.
pub async fn wait_for_store(config: &Config) -> Result<ScyllaStore> {
    let mut backoff = collectors::common::Backoff::new(collectors::common::BackoffConfig {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(5),
    });
    loop {
        let attempt = async {
            let store = scylla_store(config).await?;
            crate::codec::Codec::register(&store).await?;
            Ok::<_, crate::error::Error>(store)
        };
        let e = match attempt.await {
            Ok(store) => return Ok(store),
            Err(e) if e.class() == crate::error::ErrorClass::External => e,
            Err(e) => return Err(e),
        };
        let wait = backoff.next_delay();
        tracing::warn!(error = %e, retry_in = ?wait, "store unreachable; waiting");
        tokio::time::sleep(wait).await;
    }
}

/// The Redis cache; it connects on first use, so a worker starts while Redis is down.
pub fn redis_cache(config: &Config) -> Result<RedisCache> {
    let r = &config.redis;
    let window = config.cluster_window()?;
    RedisCache::new(
        &r.url,
        Some(std::path::Path::new(&r.ca_file)).filter(|p| !p.as_os_str().is_empty()),
        crate::config::duration("redis.timeout", &r.timeout)?,
        crate::config::duration("redis.ttl", &r.ttl)?,
    )
    .map(|c| c.with_cluster_window(window))
}

/// The client API over a store and its cache, testing webhooks as `alerts` delivers to them.
pub fn api<S: Store + SignalStore + TenantStore + crate::alerts::AlertStore, K: Cache>(
    config: &Config,
    store: &Arc<S>,
    cache: &Arc<K>,
) -> Result<Arc<dyn Backend>> {
    let webhook = config.alerts.settings()?.webhook;
    Ok(Arc::new(
        StoreBackend::new(store.clone(), cache.clone()).with_webhook(webhook),
    ))
}

/// Serves `/metrics` and the health checks on `metrics.listen`, and returns the bound address
/// (port 0 picks a free port; logged at info); `None` when `metrics.listen` is empty (disabled).
/// A port already taken is a `Config` error naming both.
pub async fn serve_http(config: &Config, ready: Readiness) -> Result<Option<SocketAddr>> {
    let listen = &config.metrics.listen;
    if listen.is_empty() {
        return Ok(None);
    }
    let addr = listen
        .parse()
        .map_err(|e| Error::Config(format!("metrics.listen: {e}")))?;
    let bound = crate::http::serve(addr, crate::telemetry::install(), ready).await?;
    tracing::info!(%bound, "metrics and health checks listening");
    Ok(Some(bound))
}

/// Serves the client API over `backend` on `api.listen` (with the operator endpoint when an
/// operator key is configured) and returns the bound address; `None` when `api.listen` is empty.
pub async fn serve_api(
    config: &Config,
    backend: Arc<dyn Backend>,
    hub: Option<Arc<crate::push::Hub>>,
) -> Result<Option<SocketAddr>> {
    let listen = &config.api.listen;
    if listen.is_empty() {
        return Ok(None);
    }
    let addr = listen
        .parse()
        .map_err(|e| Error::Config(format!("api.listen: {e}")))?;
    let bound = crate::api::serve(
        addr,
        config.api.settings()?,
        config.api.operator_key()?,
        backend,
        hub,
    )
    .await?;
    tracing::info!(%bound, "client API listening");
    Ok(Some(bound))
}

/// Loads the signals and keeps them fresh in `background`. With `must_load`, a first load that
/// fails is an error; without, it is logged and retried by the reloader.
pub async fn signals<S: SignalStore>(
    store: &Arc<S>,
    must_load: bool,
    background: &mut Background,
) -> Result<SignalsHandle> {
    let signals = SignalsHandle::default();
    // Load before consuming, so the first batch already matches them.
    match signals.refresh(&**store).await {
        Ok(_) => {}
        Err(e) if must_load => return Err(e),
        Err(e) => tracing::warn!(error = %e, "signals not loaded yet; will retry"),
    }
    background.push(signals.spawn_reloader(store.clone()));
    Ok(signals)
}

/// Starts alerting (`[alerts]`) in `background`, unless `alerts.enabled` is false.
pub fn alerts<S, P>(
    config: &Config,
    store: &Arc<S>,
    publisher: &Arc<P>,
    background: &mut Background,
) -> Result<()>
where
    S: crate::traits::Store + SignalStore + crate::alerts::AlertStore,
    P: crate::traits::Publisher,
{
    if !config.alerts.enabled {
        return Ok(());
    }
    let settings = config.alerts.settings()?;
    let engine = crate::alerts::engine::Engine::new(store.clone(), publisher.clone(), settings)?;
    background.push(tokio::spawn(engine.run()));
    Ok(())
}

/// Prints the live status line every second (every 5 s when stderr is not a terminal).
pub fn status_line(stats: Arc<Stats>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let tty = std::io::stderr().is_terminal();
        let every = Duration::from_secs(if tty { 1 } else { 5 });
        let mut prev = stats.snapshot();
        loop {
            tokio::time::sleep(every).await;
            let now = stats.snapshot();
            let line = now.status_line(&prev, every);
            if tty {
                eprint!("\r{line}");
            } else {
                eprintln!("{line}");
            }
            prev = now;
        }
    })
}

/// A stop flag that turns true on SIGTERM or Ctrl-C (after printing `message`) or, if given,
/// once `after` has passed. The task lives in `background`.
pub fn stop_flag(
    message: &'static str,
    after: Option<Duration>,
    background: &mut Background,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    background.push(tokio::spawn(async move {
        let timer = async {
            match after {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wait_for_stop_signal() => eprintln!("{message}"),
            _ = timer => {}
        }
        let _ = tx.send(true);
        // Keep the sender: a dropped one would read as "nobody can stop us any more".
        std::future::pending::<()>().await;
    }));
    rx
}

/// Resolves on SIGTERM (how orchestrators stop us) or SIGINT (Ctrl-C).
pub async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
