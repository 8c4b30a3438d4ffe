//! `backchannel serve`: the client API with live push in distributed mode. It follows every
//! partition of the enriched topic (no consumer group: every instance sees every record) and
//! fans matches out to its own SSE and WebSocket clients; reads go to ScyllaDB and Redis. Run as
//! many behind a load balancer as clients need: positions in the topic make the cursors, so a
//! client may resume on any instance. The workers are not in the client path.

use std::sync::Arc;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::Readiness;
use crate::services::{self, Background};

/// Serves until SIGTERM or Ctrl-C.
pub async fn main(config: &Config) -> Result<()> {
    crate::telemetry::install();
    let settings = config.api.settings()?;
    if config.api.listen.is_empty() {
        return Err(Error::Config(
            "api.listen is empty: `serve` has nothing to serve".into(),
        ));
    }
    let mut background = Background::default();
    let ready = Readiness::default();
    let store = Arc::new(services::wait_for_store(config).await?);
    let cache = Arc::new(services::redis_cache(config)?);
    // Series come from the rollup, which recounts a minute only once it is quiet: the hub counts
    // the latest minutes from the stream meanwhile.
    let hub = Arc::new(crate::push::Hub::new(settings.push.clone()).counting_minutes());
    match services::serve_http(config, ready.clone()).await? {
        Some(bound) => eprintln!("backchannel serve: metrics and health on http://{bound}"),
        None => eprintln!("backchannel serve: metrics.listen is empty: no metrics or health"),
    }
    let api = services::api(config, &store, &cache)?;
    if let Some(bound) = services::serve_api(config, api, Some(hub.clone())).await? {
        eprintln!("backchannel serve: client API on http://{bound}");
    }
    let kafka = config.kafka.clone();
    let alerts_hub = hub.clone();
    background.push(tokio::spawn(async move {
        if let Err(e) = crate::distributed::kafka::follow_alerts(&kafka, alerts_hub).await {
            tracing::error!(error = %e, "the alerts-topic follower stopped: no alert events on streams");
        }
    }));
    let kafka = config.kafka.clone();
    let window = settings.push.replay_window;
    let follower =
        tokio::spawn(
            async move { crate::distributed::kafka::follow(&kafka, hub, window, ready).await },
        );
    let mut stop = services::stop_flag("stopping", None, &mut background);
    tokio::select! {
        r = follower => match r {
            Ok(r) => r,
            Err(e) => Err(Error::internal("enriched-topic follower", e)),
        },
        _ = stop.changed() => Ok(()),
    }
}
