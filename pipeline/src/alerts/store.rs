//! Where alerts, detector state, webhooks and the detectors' ownership are kept. Both stores
//! implement [`AlertStore`]: redb tables embedded, CQL tables distributed.

use std::time::Duration;

use crate::error::Result;

use super::webhook::Webhook;
use super::{Alert, SignalAlertSettings};

/// Alerts kept per signal (the newest; older ones are dropped as new ones come).
pub const ALERTS_PER_SIGNAL: usize = 500;

/// Storage for alerting. Every method is one small read or write.
pub trait AlertStore: Send + Sync + 'static {
    /// A signal's saved detector (JSON of [`super::engine::Saved`]), if it has one.
    fn detector(
        &self,
        tenant: &str,
        signal: &str,
    ) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Saves a signal's detector.
    fn put_detector(
        &self,
        tenant: &str,
        signal: &str,
        state: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Every (tenant, signal) with a saved detector: read when a process takes a shard, to find
    /// the detectors of signals deleted while no process ran them.
    fn detectors(&self) -> impl Future<Output = Result<Vec<(String, String)>>> + Send;
    /// Forgets a deleted signal's detector once its incidents are resolved.
    fn delete_detector(
        &self,
        tenant: &str,
        signal: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Inserts or replaces an alert (by tenant, signal, start and id: an incident's later events
    /// replace its earlier ones).
    fn put_alert(&self, alert: &Alert) -> impl Future<Output = Result<()>> + Send;
    /// A signal's alerts, the newest incident first, at most `limit`.
    fn alerts(
        &self,
        tenant: &str,
        signal: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Alert>>> + Send;
    /// A signal's own alert settings.
    fn alert_settings(
        &self,
        tenant: &str,
        signal: &str,
    ) -> impl Future<Output = Result<Option<SignalAlertSettings>>> + Send;
    /// Sets a signal's own alert settings (all-default settings remove them).
    fn put_alert_settings(
        &self,
        tenant: &str,
        signal: &str,
        settings: &SignalAlertSettings,
    ) -> impl Future<Output = Result<()>> + Send;
    /// How far the per-minute aggregates the detector reads are complete: `None` where a
    /// mention is counted in the same write that stores it (no bound); otherwise a time before
    /// which every stored mention is counted, which the detector does not read past. A store
    /// whose aggregates are recomputed after the writes (the distributed rollup) answers
    /// [`DateTime::<Utc>::MIN_UTC`](chrono::DateTime) until this process has finished a rollup.
    fn counted_before(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        None
    }
    /// A tenant's webhook.
    fn webhook(&self, tenant: &str) -> impl Future<Output = Result<Option<Webhook>>> + Send;
    /// Sets (`Some`) or removes (`None`) a tenant's webhook.
    fn put_webhook(
        &self,
        tenant: &str,
        hook: Option<&Webhook>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Takes or renews the lease on `shard` of the signals for `owner`, for `ttl`: true when
    /// `owner` holds it now. Exactly one live owner per shard runs its detectors, so several
    /// workers never alert the same incident twice. The embedded store keeps its leases in
    /// memory (one process opens its file).
    fn lease(
        &self,
        shard: i32,
        owner: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool>> + Send;
}
