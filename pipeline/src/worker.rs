//! `backchannel worker`: the distributed pipeline — Kafka consumer group → transforms →
//! ScyllaDB + Redis → the enriched topic — with metrics, health, rollups and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::distributed::{KafkaConsumer, KafkaPublisher, RedisCache, ScyllaStore, scylla_store};
use crate::error::{Error, Result};
use crate::http::Readiness;
use crate::runtime::{self, Settings};
use crate::stats::{Snapshot, Stats};

/// How often each worker recomputes dirty minute aggregates, and how long a minute must have
/// been quiet first.
const ROLLUP_EVERY: Duration = Duration::from_secs(2);
const ROLLUP_QUIET: Duration = Duration::from_secs(1);

/// Connects to ScyllaDB and prepares the store (the schema must exist: `backchannel schema apply`).
pub async fn store(config: &Config) -> Result<ScyllaStore> {
    let session = scylla_store::connect(&config.scylla).await?;
    ScyllaStore::new(
        session,
        &config.scylla.keyspace,
        config.scylla.max_concurrency,
    )
    .await
}

/// Runs the worker until SIGTERM or Ctrl-C, then drains in-flight batches, commits and returns.
pub async fn run(config: &Config, status: bool) -> Result<Snapshot> {
    let metrics = crate::telemetry::install();
    let ready = Readiness::default();
    let store = Arc::new(store(config).await?);
    crate::codec::Codec::register(&*store).await?;
    let publisher = Arc::new(KafkaPublisher::new(&config.kafka)?);
    let r = &config.redis;
    let cache = Arc::new(RedisCache::new(
        &r.url,
        crate::config::duration("redis.timeout", &r.timeout)?,
        crate::config::duration("redis.ttl", &r.ttl)?,
        r.recent_per_topic,
    )?);
    if !config.metrics.listen.is_empty() {
        let addr = config
            .metrics
            .listen
            .parse()
            .map_err(|e| Error::Config(format!("metrics.listen: {e}")))?;
        let backend: Arc<dyn crate::http::Backend> =
            Arc::new(crate::http::StoreBackend::new(store.clone(), cache.clone()));
        let bound = crate::http::serve(addr, metrics, ready.clone(), Some(backend)).await?;
        tracing::info!(%bound, "metrics, health and the client API listening");
    }
    // Bound librdkafka's prefetch to about what the pipeline holds in flight.
    let prefetch_kib = (config.pipeline.batch_size
        * (config.pipeline.in_flight_batches + config.cpu_workers()))
    .clamp(1024, 64 * 1024);
    let consumer = KafkaConsumer::new(&config.kafka, ready.clone(), prefetch_kib)?;
    let stats = Arc::new(Stats::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let signals = crate::signals::SignalsHandle::default();
    // Load the signals before consuming, so the first batch already matches them.
    if let Err(e) = signals.refresh(&*store).await {
        tracing::warn!(error = %e, "signals not loaded yet; will retry");
    }
    let reloader = signals.spawn_reloader(store.clone());

    let rollups = tokio::spawn({
        let store = store.clone();
        async move {
            loop {
                tokio::time::sleep(ROLLUP_EVERY).await;
                if let Err(e) = store.rollup(ROLLUP_QUIET).await {
                    tracing::warn!(error = %e, "rollup failed; will retry");
                }
            }
        }
    });
    let stopper = tokio::spawn(async move {
        wait_for_stop_signal().await;
        eprintln!("stopping: draining in-flight batches and committing…");
        let _ = stop_tx.send(true);
        stop_tx
    });
    let status_task = status.then(|| tokio::spawn(crate::local::status_line(stats.clone())));
    let result = runtime::run(
        consumer,
        publisher,
        store,
        cache,
        Settings::from_config(config, &config.kafka.raw_topic, signals)?,
        stats.clone(),
        stop_rx,
    )
    .await;
    stopper.abort();
    rollups.abort();
    reloader.abort();
    if let Some(t) = status_task {
        t.abort();
    }
    result?;
    Ok(stats.snapshot())
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
