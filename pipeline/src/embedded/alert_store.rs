//! Alerts, detector state and webhooks in the embedded store (see [`crate::alerts::store`]).

use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable};

use super::{ALERT_SETTINGS, ALERTS, DETECTORS, RedbStore, WEBHOOKS, err};
use crate::alerts::store::ALERTS_PER_SIGNAL;
use crate::alerts::webhook::Webhook;
use crate::alerts::{Alert, AlertStore, SignalAlertSettings};
use crate::error::{Error, Result};

fn json<T: serde::Serialize>(what: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::internal(format!("serialising {what}"), e))
}

impl AlertStore for RedbStore {
    async fn detector(&self, tenant: &str, signal: &str) -> Result<Option<String>> {
        let (tenant, signal) = (tenant.to_owned(), signal.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let table = txn.open_table(DETECTORS).map_err(err)?;
            let v = table.get((tenant.as_str(), signal.as_str())).map_err(err)?;
            Ok(v.map(|v| String::from_utf8_lossy(v.value()).into_owned()))
        })
        .await
    }

    async fn put_detector(&self, tenant: &str, signal: &str, state: &str) -> Result<()> {
        let (tenant, signal, state) = (tenant.to_owned(), signal.to_owned(), state.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            txn.open_table(DETECTORS)
                .map_err(err)?
                .insert((tenant.as_str(), signal.as_str()), state.as_bytes())
                .map_err(err)?;
            txn.commit().map_err(err)
        })
        .await
    }

    async fn detectors(&self) -> Result<Vec<(String, String)>> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let table = txn.open_table(DETECTORS).map_err(err)?;
            let mut all = Vec::new();
            for row in table.iter().map_err(err)? {
                let (key, _) = row.map_err(err)?;
                let (tenant, signal) = key.value();
                all.push((tenant.to_owned(), signal.to_owned()));
            }
            Ok(all)
        })
        .await
    }

    async fn delete_detector(&self, tenant: &str, signal: &str) -> Result<()> {
        let (tenant, signal) = (tenant.to_owned(), signal.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            txn.open_table(DETECTORS)
                .map_err(err)?
                .remove((tenant.as_str(), signal.as_str()))
                .map_err(err)?;
            txn.commit().map_err(err)
        })
        .await
    }

    async fn put_alert(&self, alert: &Alert) -> Result<()> {
        let body = json("an alert", alert)?;
        let (tenant, signal, id) = (alert.tenant.clone(), alert.signal.clone(), alert.id.clone());
        let started = alert.started_at.timestamp_millis();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            {
                let mut table = txn.open_table(ALERTS).map_err(err)?;
                table
                    .insert(
                        (tenant.as_str(), signal.as_str(), started, id.as_str()),
                        body.as_slice(),
                    )
                    .map_err(err)?;
                // Keep the newest ALERTS_PER_SIGNAL: drop the oldest beyond them.
                let range = (tenant.as_str(), signal.as_str(), i64::MIN, "")
                    ..=(tenant.as_str(), signal.as_str(), i64::MAX, "\u{10ffff}");
                let n = table.range(range.clone()).map_err(err)?.count();
                if n > ALERTS_PER_SIGNAL {
                    let old: Vec<(i64, String)> = table
                        .range(range)
                        .map_err(err)?
                        .take(n - ALERTS_PER_SIGNAL)
                        .map(|e| {
                            e.map(|(k, _)| {
                                let k = k.value();
                                (k.2, k.3.to_owned())
                            })
                        })
                        .collect::<std::result::Result<_, _>>()
                        .map_err(err)?;
                    for (at, id) in old {
                        table
                            .remove((tenant.as_str(), signal.as_str(), at, id.as_str()))
                            .map_err(err)?;
                    }
                }
            }
            txn.commit().map_err(err)
        })
        .await
    }

    async fn alerts(&self, tenant: &str, signal: &str, limit: usize) -> Result<Vec<Alert>> {
        let (tenant, signal) = (tenant.to_owned(), signal.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let table = txn.open_table(ALERTS).map_err(err)?;
            let range = (tenant.as_str(), signal.as_str(), i64::MIN, "")
                ..=(tenant.as_str(), signal.as_str(), i64::MAX, "\u{10ffff}");
            let mut out = Vec::new();
            for entry in table.range(range).map_err(err)?.rev().take(limit) {
                let (_, v) = entry.map_err(err)?;
                out.push(
                    serde_json::from_slice(v.value())
                        .map_err(|e| Error::store("stored alert", e))?,
                );
            }
            Ok(out)
        })
        .await
    }

    async fn alert_settings(
        &self,
        tenant: &str,
        signal: &str,
    ) -> Result<Option<SignalAlertSettings>> {
        let (tenant, signal) = (tenant.to_owned(), signal.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let table = txn.open_table(ALERT_SETTINGS).map_err(err)?;
            match table.get((tenant.as_str(), signal.as_str())).map_err(err)? {
                Some(v) => serde_json::from_slice(v.value())
                    .map(Some)
                    .map_err(|e| Error::store("stored alert settings", e)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn put_alert_settings(
        &self,
        tenant: &str,
        signal: &str,
        settings: &SignalAlertSettings,
    ) -> Result<()> {
        let (tenant, signal) = (tenant.to_owned(), signal.to_owned());
        let body = (*settings != SignalAlertSettings::default())
            .then(|| json("alert settings", settings))
            .transpose()?;
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            {
                let mut table = txn.open_table(ALERT_SETTINGS).map_err(err)?;
                let key = (tenant.as_str(), signal.as_str());
                match &body {
                    Some(b) => {
                        table.insert(key, b.as_slice()).map_err(err)?;
                    }
                    None => {
                        table.remove(key).map_err(err)?;
                    }
                }
            }
            txn.commit().map_err(err)
        })
        .await
    }

    async fn webhook(&self, tenant: &str) -> Result<Option<Webhook>> {
        let tenant = tenant.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let table = txn.open_table(WEBHOOKS).map_err(err)?;
            match table.get(tenant.as_str()).map_err(err)? {
                Some(v) => serde_json::from_slice(v.value())
                    .map(Some)
                    .map_err(|e| Error::store("stored webhook", e)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn put_webhook(&self, tenant: &str, hook: Option<&Webhook>) -> Result<()> {
        let tenant = tenant.to_owned();
        let body = hook.map(|h| json("a webhook", h)).transpose()?;
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            {
                let mut table = txn.open_table(WEBHOOKS).map_err(err)?;
                match &body {
                    Some(b) => {
                        table.insert(tenant.as_str(), b.as_slice()).map_err(err)?;
                    }
                    None => {
                        table.remove(tenant.as_str()).map_err(err)?;
                    }
                }
            }
            txn.commit().map_err(err)
        })
        .await
    }

    async fn lease(&self, shard: i32, owner: &str, ttl: Duration) -> Result<bool> {
        // One process owns the embedded store's file (the OS lock sees to it), so the leases
        // live in its memory, as the distributed store's do in a table: renewed by their
        // holder, taken by another once they lapse.
        let now = std::time::Instant::now();
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        match leases.get(&shard) {
            Some((holder, until)) if holder != owner && *until > now => Ok(false),
            _ => {
                leases.insert(shard, (owner.to_owned(), now + ttl));
                Ok(true)
            }
        }
    }
}
