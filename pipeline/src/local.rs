//! `backchannel run`: the whole pipeline in one process on the embedded default, fed by the
//! synthetic collector.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use collectors::{Synthetic, SyntheticConfig};
use tokio::sync::watch;

use crate::codec::Codec;
use crate::config::Config;
use crate::embedded::{
    LocalProducer, LocalPublisher, MemoryCache, RedbStore, StoreOptions, local_queue,
};
use crate::error::Result;
use crate::runtime::{self, Settings};
use crate::stats::{Snapshot, Stats};

/// What `run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Mentions per second from the synthetic collector; 0 = as fast as the pipeline takes them.
    pub rate: u64,
    /// Stop after this many mentions.
    pub limit: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    pub seed: u64,
    /// Print the live status line.
    pub status: bool,
}

/// Runs the embedded pipeline until the limit, the duration or Ctrl-C; returns the final counts.
pub async fn run(config: &Config, opts: RunOptions) -> Result<Snapshot> {
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
    Codec::register(&*store).await?;
    let retention = store.spawn_retention(e.retention_interval);
    let publisher = Arc::new(LocalPublisher::open(dir, e.dead_letter_max_bytes)?);
    let cache = Arc::new(MemoryCache::new(e.cache_bytes, e.cache_ttl));
    let (producer, consumer) = local_queue(config.embedded.queue_capacity);
    let stats = Arc::new(Stats::default());
    let (stop_tx, stop_rx) = watch::channel(false);

    if !config.metrics.listen.is_empty() {
        let addr = config
            .metrics
            .listen
            .parse()
            .map_err(|e| crate::Error::Config(format!("metrics.listen: {e}")))?;
        let backend: Arc<dyn crate::http::Backend> =
            Arc::new(crate::http::StoreBackend::new(store.clone(), cache.clone()));
        let ready = crate::http::Readiness::default();
        ready.set(true);
        crate::http::serve(addr, crate::telemetry::install(), ready, Some(backend)).await?;
    }
    let signals = crate::signals::SignalsHandle::default();
    signals.refresh(&*store).await?;
    let reloader = signals.spawn_reloader(store.clone());
    let settings = Settings::from_config(config, "local", signals)?;
    let collector = tokio::spawn(synthetic_collector(
        producer,
        opts.clone(),
        stats.clone(),
        stop_rx.clone(),
    ));
    let status = opts
        .status
        .then(|| tokio::spawn(status_line(stats.clone())));
    let stopper = tokio::spawn(async move {
        let timer = async {
            match opts.duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => eprintln!("\nstopping: draining in-flight mentions…"),
            _ = timer => {}
        }
        let _ = stop_tx.send(true);
        stop_tx
    });

    let result = runtime::run(
        consumer,
        publisher,
        store.clone(),
        cache,
        settings,
        stats.clone(),
        stop_rx,
    )
    .await;
    stopper.abort();
    collector.abort();
    reloader.abort();
    retention.abort();
    if let Some(s) = status {
        s.abort();
        eprintln!();
    }
    result?;
    store.sync()?;
    let file = std::fs::metadata(dir.join("backchannel.redb")).map_or(0, |m| m.len());
    eprintln!(
        "store: {} mentions, {:.1} MB of keys and values in a {:.1} MB file",
        store.count()?,
        store.live_bytes()? as f64 / 1e6,
        file as f64 / 1e6
    );
    Ok(stats.snapshot())
}

/// Feeds the local queue with synthetic mentions at the requested rate.
async fn synthetic_collector(
    producer: LocalProducer,
    opts: RunOptions,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
) {
    let source = Synthetic::new(SyntheticConfig {
        seed: opts.seed,
        // Live-looking timestamps; the content depends on the seed only.
        start: chrono::Utc::now(),
        spacing: chrono::Duration::microseconds(1_000_000 / opts.rate.max(1) as i64),
        ..Default::default()
    });
    let limit = opts.limit.unwrap_or(u64::MAX);
    // Send in ticks of 10 ms so a rate is smooth without a timer per mention.
    let per_tick = if opts.rate == 0 {
        u64::MAX
    } else {
        opts.rate.div_ceil(100)
    };
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut i = 0u64;
    while i < limit && !*stop.borrow() {
        tick.tick().await;
        let end = limit.min(i.saturating_add(per_tick));
        while i < end && !*stop.borrow() {
            let m = source.mention(i);
            let payload = serde_json::to_vec(&m).unwrap_or_default();
            if producer
                .send(Some(m.id.into_bytes()), payload)
                .await
                .is_err()
            {
                return;
            }
            stats
                .produced
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            i += 1;
        }
    }
    // Dropping the producer closes the queue: the pipeline drains and stops.
}

/// Prints the live status line every second (every 5 s when stderr is not a terminal).
pub async fn status_line(stats: Arc<Stats>) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(5)
    };
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
}
