//! `backchannel worker`: the distributed pipeline — Kafka consumer group → transforms →
//! ScyllaDB + Redis → the enriched topic — with metrics, health, rollups and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::distributed::ScyllaStore;
use crate::distributed::kafka::Backlog;
use crate::error::Result;
use crate::http::Readiness;
use crate::runtime::{self, Settings};
use crate::services::{self, Background};
use crate::stats::{Snapshot, Stats};
use crate::telemetry;

/// How often each worker recomputes dirty minute aggregates, and how long a minute must have
/// been quiet first.
const ROLLUP_EVERY: Duration = Duration::from_secs(2);
const ROLLUP_QUIET: Duration = Duration::from_secs(1);
/// How often the worker marks the minute it plans (each is planned for a minute, from 80 to 20 s
/// before it starts).
const MARK_EVERY: Duration = Duration::from_secs(5);
/// A worker marks only if it kept up with live traffic this recently (`Stats::live_within`).
const LIVE_FOR_MARKING: Duration = Duration::from_secs(20);

/// The command: runs the worker and prints the summary.
pub async fn main(config: &Config, status: bool) -> Result<()> {
    let summary = run(config, status).await?;
    println!("{}", summary.summary());
    Ok(())
}

/// Runs the worker until SIGTERM or Ctrl-C, then drains in-flight batches, commits and returns.
pub async fn run(config: &Config, status: bool) -> Result<Snapshot> {
    crate::telemetry::install();
    let mut background = Background::default();
    let ready = Readiness::default();
    let svc = services::distributed(config, &ready).await?;
    let api = services::api(config, &svc.store, &svc.cache)?;
    match services::serve_http(config, ready).await? {
        Some(bound) => eprintln!("backchannel worker: metrics and health on http://{bound}"),
        None => eprintln!("backchannel worker: metrics.listen is empty: no metrics or health"),
    }
    // The worker is not in the client path of live push: `backchannel serve` is.
    match services::serve_api(config, api, None).await? {
        Some(bound) => eprintln!("backchannel worker: client API on http://{bound}"),
        None => eprintln!("backchannel worker: api.listen is empty: no client API"),
    }
    let signals = services::signals(&svc.store, false, &mut background).await?;
    let settings = Settings::from_config(config, &config.kafka.raw_topic, signals)?;
    background.push(tokio::spawn(rollups(svc.store.clone())));
    services::alerts(config, &svc.store, &svc.publisher, &mut background)?;

    let stats = Arc::new(Stats::default());
    background.push(tokio::spawn(marking(
        svc.store.clone(),
        stats.clone(),
        svc.consumer.lag(),
    )));
    let stop = services::stop_flag(
        "stopping: draining in-flight batches and committing…",
        None,
        &mut background,
    );
    if status {
        background.push(services::status_line(stats.clone()));
    }
    runtime::run(
        svc.consumer,
        svc.publisher,
        svc.store,
        svc.cache,
        settings,
        stats.clone(),
        stop,
    )
    .await?;
    Ok(stats.snapshot())
}

/// Recomputes the aggregates of quiet dirty minutes, forever.
async fn rollups(store: Arc<ScyllaStore>) {
    loop {
        tokio::time::sleep(ROLLUP_EVERY).await;
        if let Err(e) = store.rollup(ROLLUP_QUIET).await {
            tracing::warn!(error = %e, "rollup failed; will retry");
        }
    }
}

/// Marks the minutes this worker plans (see `ScyllaStore::mark_planned`) while it keeps up with
/// live traffic, once it has watched it for a minute. A minute nobody marked carries the plan of
/// the last one marked: so do the minutes while Kafka is out of reach (its lag unknown, nothing
/// stored) or the workers catch up on a backlog, which are written later at the rate before.
async fn marking(store: Arc<ScyllaStore>, stats: Arc<Stats>, lag: Arc<Backlog>) {
    let watching = chrono::Utc::now();
    telemetry::plan_marked(watching.timestamp());
    loop {
        tokio::time::sleep(MARK_EVERY).await;
        let now = chrono::Utc::now();
        // Live: it stored fresh mentions lately, or the brokers say nothing waits.
        if !stats.live_within(LIVE_FOR_MARKING, now) && lag.known() != Some(0) {
            continue;
        }
        match store.mark_planned(watching, now).await {
            Ok(Some(minute)) => telemetry::plan_marked(minute),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "marking a planned minute failed; will retry"),
        }
    }
}
