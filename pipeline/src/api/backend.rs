//! What the API needs from the pipeline's stores, object-safe so the router is not generic.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use transforms::signals::{Signal, SignalOptions};

use crate::admin::{Action, Reply};
use crate::aggregate::Series;
use crate::alerts::AlertStore;
use crate::alerts::webhook::WebhookSettings;
use crate::error::Result;
use crate::signals::SignalStore;
use crate::tenants::{KeyRecord, TenantStore};
use crate::traits::{Before, Cache, Store};

/// The API's view of the stores. It knows nothing of tenants' rights: the routes decide what a
/// caller may see ([`super::routes`]).
pub trait Backend: Send + Sync + 'static {
    /// The EnrichedMention JSON of `id` (cache first, then the store).
    fn mention(&self, id: String) -> BoxFuture<'_, Result<Option<Vec<u8>>>>;
    /// The EnrichedMention JSON of the newest mentions filed under `topic`.
    fn recent(
        &self,
        topic: String,
        limit: usize,
        before: Option<Before>,
    ) -> BoxFuture<'_, Result<Vec<Vec<u8>>>>;
    /// The per-minute aggregates of `topic` in `[from, to)`, oldest first ([`Store::series`]).
    fn series(
        &self,
        topic: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Series>>;
    /// The EnrichedMention JSON of the newest stored mentions of every source, at most `limit` of
    /// each, for trying a query on.
    fn latest(&self, limit: usize) -> BoxFuture<'_, Result<Vec<Vec<u8>>>>;
    /// The signals of `tenant`.
    fn signals(&self, tenant: String) -> BoxFuture<'_, Result<Vec<Signal>>>;
    fn put_signal(
        &self,
        tenant: String,
        id: String,
        query: String,
        options: SignalOptions,
    ) -> BoxFuture<'_, Result<u64>>;
    fn delete_signal(&self, tenant: String, id: String) -> BoxFuture<'_, Result<bool>>;
    /// One API key's record, to verify a request.
    fn key(&self, key_id: String) -> BoxFuture<'_, Result<Option<KeyRecord>>>;
    /// An operator action ([`crate::admin`]).
    fn admin(&self, action: Action) -> BoxFuture<'_, Result<Reply>>;
    /// A signal's alerts, newest incident first.
    fn alerts(
        &self,
        tenant: String,
        signal: String,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<crate::alerts::Alert>>>;
    /// A tenant's webhook.
    fn webhook(
        &self,
        tenant: String,
    ) -> BoxFuture<'_, Result<Option<crate::alerts::webhook::Webhook>>>;
    /// A signal's own alert settings.
    fn alert_settings(
        &self,
        tenant: String,
        signal: String,
    ) -> BoxFuture<'_, Result<Option<crate::alerts::SignalAlertSettings>>>;
    fn put_alert_settings(
        &self,
        tenant: String,
        signal: String,
        settings: crate::alerts::SignalAlertSettings,
    ) -> BoxFuture<'_, Result<()>>;
}

/// The [`Backend`] over a store and a cache; it answers JSON read from their compact records.
#[derive(Debug)]
pub struct StoreBackend<S, K> {
    pub store: Arc<S>,
    pub cache: Arc<K>,
    pub codec: Arc<crate::codec::Codec>,
    /// How `POST /v1/webhook/test` delivers: as the alerts engine does.
    pub webhook: WebhookSettings,
}

impl<S, K> StoreBackend<S, K> {
    pub fn new(store: Arc<S>, cache: Arc<K>) -> StoreBackend<S, K> {
        StoreBackend {
            store,
            cache,
            codec: Arc::default(),
            webhook: WebhookSettings::default(),
        }
    }

    /// Delivers webhook tests with `webhook` (the `[alerts]` settings) instead of the defaults.
    pub fn with_webhook(mut self, webhook: WebhookSettings) -> Self {
        self.webhook = webhook;
        self
    }
}

impl<S: Store + SignalStore + TenantStore + AlertStore, K: Cache> Backend for StoreBackend<S, K> {
    fn mention(&self, id: String) -> BoxFuture<'_, Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            let record = match self.cache.get(&id).await {
                Ok(Some(hit)) => Some(hit),
                _ => {
                    let stored = self.store.get(&id).await?;
                    if let Some(r) = &stored {
                        self.cache.fill(&id, r).await;
                    }
                    stored
                }
            };
            match record {
                Some(r) => Ok(Some(self.codec.to_json(&*self.store, &r).await?)),
                None => Ok(None),
            }
        })
    }
    fn recent(
        &self,
        topic: String,
        limit: usize,
        before: Option<Before>,
    ) -> BoxFuture<'_, Result<Vec<Vec<u8>>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for r in self.store.recent(&topic, limit, before.as_ref()).await? {
                out.push(self.codec.to_json(&*self.store, &r).await?);
            }
            Ok(out)
        })
    }
    fn series(
        &self,
        topic: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Series>> {
        Box::pin(async move { self.store.series(&topic, from, to).await })
    }
    fn latest(&self, limit: usize) -> BoxFuture<'_, Result<Vec<Vec<u8>>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for source in model::Source::ALL {
                let topic = format!("source:{}", source.as_str());
                for r in self.store.recent(&topic, limit, None).await? {
                    out.push(self.codec.to_json(&*self.store, &r).await?);
                }
            }
            Ok(out)
        })
    }
    fn signals(&self, tenant: String) -> BoxFuture<'_, Result<Vec<Signal>>> {
        Box::pin(async move {
            let mut all = self.store.load_signals().await?.1;
            all.retain(|s| s.tenant == tenant);
            all.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(all)
        })
    }
    fn put_signal(
        &self,
        tenant: String,
        id: String,
        query: String,
        options: SignalOptions,
    ) -> BoxFuture<'_, Result<u64>> {
        Box::pin(
            async move { crate::signals::put(&*self.store, &tenant, &id, &query, options).await },
        )
    }
    fn delete_signal(&self, tenant: String, id: String) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move { self.store.delete_signal(&tenant, &id).await })
    }
    fn key(&self, key_id: String) -> BoxFuture<'_, Result<Option<KeyRecord>>> {
        Box::pin(async move { self.store.key(&key_id).await })
    }
    fn admin(&self, action: Action) -> BoxFuture<'_, Result<Reply>> {
        Box::pin(async move { crate::admin::apply(&*self.store, action, &self.webhook).await })
    }
    fn alerts(
        &self,
        tenant: String,
        signal: String,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<crate::alerts::Alert>>> {
        Box::pin(async move { self.store.alerts(&tenant, &signal, limit).await })
    }
    fn webhook(
        &self,
        tenant: String,
    ) -> BoxFuture<'_, Result<Option<crate::alerts::webhook::Webhook>>> {
        Box::pin(async move { self.store.webhook(&tenant).await })
    }
    fn alert_settings(
        &self,
        tenant: String,
        signal: String,
    ) -> BoxFuture<'_, Result<Option<crate::alerts::SignalAlertSettings>>> {
        Box::pin(async move { self.store.alert_settings(&tenant, &signal).await })
    }
    fn put_alert_settings(
        &self,
        tenant: String,
        signal: String,
        settings: crate::alerts::SignalAlertSettings,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.store
                .put_alert_settings(&tenant, &signal, &settings)
                .await
        })
    }
}
