//! `backchannel collect`: run collectors and send their mentions to the raw Kafka topic (or
//! stdout). The synthetic source runs on its own with its flags; the others from their config.

use crate::collect::{self, CollectOptions, Sink};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::services::{self, Background};

/// Runs the synthetic source as `opts` asks.
pub async fn synthetic(config: &Config, opts: &CollectOptions) -> Result<()> {
    let n = collect::synthetic(config, opts).await?;
    eprintln!("collected {n} mentions");
    Ok(())
}

/// Runs the collectors configured under `[collectors.NAME]` for `names` until they end or
/// SIGTERM / Ctrl-C; their metrics are served on `metrics.listen` when that address is free.
pub async fn configured(config: &Config, names: &[String], sink: Sink) -> Result<()> {
    if names.iter().any(|s| s == "synthetic") {
        return Err(Error::Config(
            "run the synthetic source on its own: it takes --limit/--rate, the others their config"
                .into(),
        ));
    }
    let mut background = Background::default();
    let stop = services::stop_flag(
        "stopping collectors: waiting for Kafka to acknowledge what was sent…",
        None,
        &mut background,
    );
    crate::telemetry::install();
    let ready = crate::http::Readiness::default();
    ready.set(true);
    if let Err(e) = services::serve_http(config, ready).await {
        tracing::warn!(error = %e, "collector metrics not served");
    }
    let reports = collect::configured::run(config, names, sink, stop).await?;
    for (name, r) in names.iter().zip(reports) {
        eprintln!(
            "{name}: {} mentions, {} deletions, {} dead-lettered ({} of them mentions over the \
             size limit)",
            r.mentions, r.deletes, r.dead_lettered, r.rejected_too_large
        );
    }
    Ok(())
}
