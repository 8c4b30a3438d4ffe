//! `backchannel run`: the whole pipeline in one process on the embedded default, fed by the
//! synthetic collector.

use std::sync::Arc;
use std::time::Duration;

use collectors::{Pacer, Synthetic, SyntheticConfig};
use tokio::sync::watch;

use crate::config::Config;
use crate::embedded::{LocalProducer, local_queue};
use crate::error::Result;
use crate::runtime::{self, Settings};
use crate::services::{self, Background};
use crate::stats::{Snapshot, Stats};

/// How long a stopped `run` lets the pipeline drain the queue before it stops the pipeline too.
const DRAIN_FOR: Duration = Duration::from_secs(10);

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
    /// Reprocess the stored mentions of other catalogue versions beside the live traffic.
    pub reprocess: bool,
}

/// The command: announces itself, runs, prints the summary.
pub async fn main(config: &Config, opts: RunOptions) -> Result<()> {
    eprintln!(
        "backchannel run: embedded pipeline (data in {}), synthetic collector at {}; Ctrl-C to stop",
        config.embedded.data_dir.display(),
        match opts.rate {
            0 => "full speed".to_owned(),
            rate => format!("{rate} mentions/s"),
        }
    );
    let summary = run(config, opts).await?;
    println!("{}", summary.summary());
    Ok(())
}

/// Runs the embedded pipeline until the limit, the duration or Ctrl-C; returns the final counts.
pub async fn run(config: &Config, opts: RunOptions) -> Result<Snapshot> {
    let mut background = Background::default();
    let svc = services::embedded(config, &mut background).await?;
    let ready = crate::http::Readiness::default();
    ready.set(true);
    services::serve_http(config, ready).await?;
    let api = services::api(config, &svc.store, &svc.cache)?;
    let api_bound = services::serve_api(config, api, Some(svc.hub.clone())).await?;
    if let Some(bound) = api_bound {
        eprintln!("backchannel run: client API on http://{bound}");
    }
    let signals = services::signals(&svc.store, true, &mut background).await?;
    services::alerts(config, &svc.store, &svc.publisher, &mut background)?;
    let settings = Settings::from_config(config, "local", signals)?;

    let (producer, consumer) = local_queue(config.embedded.queue_capacity);
    let stats = Arc::new(Stats::default());
    let stop = services::stop_flag(
        "\nstopping: draining in-flight mentions…",
        opts.duration,
        &mut background,
    );
    background.push(tokio::spawn(synthetic_collector(
        producer,
        opts.clone(),
        stats.clone(),
        stop.clone(),
    )));
    if opts.reprocess {
        background.push(tokio::spawn(reprocess_beside(
            config.clone(),
            svc.clone(),
            settings.clone(),
            stop.clone(),
        )));
    }
    let status = opts.status.then(|| services::status_line(stats.clone()));
    // On stop, the collector stops first and closes the queue, and the pipeline drains what the
    // queue held (under a second at full speed) instead of dropping it; only if draining stalls
    // (the store down, say) does the pipeline itself stop, after DRAIN_FOR.
    let (drain_tx, drain_rx) = watch::channel(false);
    let mut stopped = stop.clone();
    background.push(tokio::spawn(async move {
        // If nobody can ask to stop any more, neither can this: the queue's end stops the run.
        if stopped.wait_for(|s| *s).await.is_ok() {
            tokio::time::sleep(DRAIN_FOR).await;
            let _ = drain_tx.send(true);
        }
    }));
    let result = runtime::run(
        consumer,
        svc.publisher,
        svc.store.clone(),
        svc.cache,
        settings,
        stats.clone(),
        drain_rx,
    )
    .await;
    background.shutdown().await;
    if let Some(s) = status {
        s.abort();
        eprintln!();
    }
    result?;
    let store = svc.store;
    // Without a client API (which serves from the store for as long as the process lives),
    // the store's file is closed when `run` returns: a caller in this process (a test, a
    // library user) may open it again. A cancelled task's blocking store call ends on its own.
    if api_bound.is_none()
        && !store
            .until_sole_handle(std::time::Duration::from_secs(30))
            .await
    {
        tracing::warn!("a task still holds the embedded store 30 s after the run ended");
    }
    store.sync()?;
    // redb grows its file in steps and writes into it as it needs: what the disk holds is the
    // blocks written, which `du` counts, not the file's length.
    let (file, on_disk) = std::fs::metadata(config.embedded.data_dir.join("backchannel.redb"))
        .map_or((0, 0), |m| {
            #[cfg(unix)]
            let on_disk = std::os::unix::fs::MetadataExt::blocks(&m) * 512;
            #[cfg(not(unix))]
            let on_disk = m.len();
            (m.len(), on_disk)
        });
    eprintln!(
        "store: {} mentions, {:.1} MB of keys and values in a {:.1} MB file ({:.1} MB on disk)",
        store.count()?,
        store.live_bytes()? as f64 / 1e6,
        file as f64 / 1e6,
        on_disk as f64 / 1e6
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
    let mut pacer = Pacer::new(opts.rate);
    let mut i = 0u64;
    while i < limit && !*stop.borrow() {
        let end = pacer.grant(i, limit).await;
        while i < end && !*stop.borrow() {
            let mut m = source.mention(i);
            // Collected now, so freshness (collected → stored, → client) is measured from a
            // time that has passed; the generator alone puts it up to 3 s ahead.
            crate::collect::synthetic::stamp_live(&mut m);
            if producer.send_mention(m).await.is_err() {
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

/// `run --reprocess`: the stored mentions of other catalogue versions brought up to this one,
/// paced at the default rate, on this process's store; progress and the result are logged.
async fn reprocess_beside(
    config: Config,
    svc: services::Embedded,
    settings: Settings,
    stop: watch::Receiver<bool>,
) {
    let options = crate::reprocess::Options {
        rate: crate::reprocess::DEFAULT_RATE,
        page: crate::reprocess::DEFAULT_PAGE,
        ..Default::default()
    };
    let path = crate::cmd::reprocess::default_checkpoint(&config);
    let mut last = std::time::Instant::now();
    let report = |p: &crate::reprocess::Progress| {
        if p.checkpoint.done || last.elapsed() >= Duration::from_secs(10) {
            tracing::info!("reprocess: {}", p.line());
            last = std::time::Instant::now();
        }
    };
    let job = crate::reprocess::Services {
        store: &*svc.store,
        cache: &*svc.cache,
        publisher: &*svc.publisher,
        settings: &settings,
    };
    match crate::reprocess::run(&job, &options, &path, stop, report).await {
        Ok(cp) => eprintln!("\n{}", crate::cmd::reprocess::summary(&cp)),
        Err(e) => {
            tracing::error!(error = %e, "reprocess stopped; run again to carry on from {}", path.display())
        }
    }
}
