//! Alerts, detector state, webhooks and the detectors' shard leases in ScyllaDB (see
//! [`crate::alerts::store`]).

use std::time::Duration;

use super::{ScyllaStore, err};
use crate::alerts::store::ALERTS_PER_SIGNAL;
use crate::alerts::webhook::Webhook;
use crate::alerts::{Alert, AlertStore, SignalAlertSettings};
use crate::error::{Error, Result};

impl AlertStore for ScyllaStore {
    /// The aggregates are complete for what was written before the last rollup this process
    /// finished: a process that runs the detector rolls up too (`backchannel worker`).
    fn counted_before(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let rolled_up = *self.rolled_up.lock().unwrap_or_else(|p| p.into_inner());
        Some(rolled_up.unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC))
    }

    async fn detector(&self, tenant: &str, signal: &str) -> Result<Option<String>> {
        let row = self.first_row::<(String,)>(&self.st.get_detector, (tenant, signal));
        Ok(row.await?.map(|(s,)| s))
    }

    async fn put_detector(&self, tenant: &str, signal: &str, state: &str) -> Result<()> {
        self.session
            .execute_unpaged(&self.st.put_detector, (tenant, signal, state))
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn detectors(&self) -> Result<Vec<(String, String)>> {
        use futures_util::StreamExt;
        let mut rows = self
            .session
            .execute_iter(self.st.list_detectors.clone(), ())
            .await
            .map_err(err)?
            .rows_stream::<(String, String)>()
            .map_err(err)?;
        let mut all = Vec::new();
        while let Some(row) = rows.next().await {
            all.push(row.map_err(err)?);
        }
        Ok(all)
    }

    async fn delete_detector(&self, tenant: &str, signal: &str) -> Result<()> {
        self.session
            .execute_unpaged(&self.st.delete_detector, (tenant, signal))
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn put_alert(&self, a: &Alert) -> Result<()> {
        let body =
            serde_json::to_string(a).map_err(|e| Error::internal("serialising an alert", e))?;
        self.session
            .execute_unpaged(
                &self.st.put_alert,
                (&a.tenant, &a.signal, a.started_at, &a.id, body),
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn alerts(&self, tenant: &str, signal: &str, limit: usize) -> Result<Vec<Alert>> {
        let limit = limit.min(ALERTS_PER_SIGNAL) as i32;
        let rows = self
            .session
            .execute_unpaged(&self.st.get_alerts, (tenant, signal, limit))
            .await
            .map_err(err)?
            .into_rows_result()
            .map_err(err)?;
        rows.rows::<(String,)>()
            .map_err(err)?
            .map(|row| {
                let (body,) = row.map_err(err)?;
                serde_json::from_str(&body).map_err(|e| Error::store("stored alert", e))
            })
            .collect()
    }

    async fn alert_settings(
        &self,
        tenant: &str,
        signal: &str,
    ) -> Result<Option<SignalAlertSettings>> {
        let row = self.first_row::<(String,)>(&self.st.get_alert_settings, (tenant, signal));
        row.await?
            .map(|(s,)| {
                serde_json::from_str(&s).map_err(|e| Error::store("stored alert settings", e))
            })
            .transpose()
    }

    async fn put_alert_settings(
        &self,
        tenant: &str,
        signal: &str,
        settings: &SignalAlertSettings,
    ) -> Result<()> {
        if *settings == SignalAlertSettings::default() {
            self.session
                .execute_unpaged(&self.st.delete_alert_settings, (tenant, signal))
                .await
                .map_err(err)?;
            return Ok(());
        }
        let json = serde_json::to_string(settings)
            .map_err(|e| Error::internal("serialising alert settings", e))?;
        self.session
            .execute_unpaged(&self.st.put_alert_settings, (tenant, signal, json))
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn webhook(&self, tenant: &str) -> Result<Option<Webhook>> {
        let row = self.first_row::<(String, String)>(&self.st.get_webhook, (tenant,));
        Ok(row.await?.map(|(url, secret)| Webhook { url, secret }))
    }

    async fn put_webhook(&self, tenant: &str, hook: Option<&Webhook>) -> Result<()> {
        match hook {
            Some(h) => self
                .session
                .execute_unpaged(&self.st.put_webhook, (tenant, &h.url, &h.secret))
                .await
                .map(drop),
            None => self
                .session
                .execute_unpaged(&self.st.delete_webhook, (tenant,))
                .await
                .map(drop),
        }
        .map_err(err)
    }

    async fn lease(&self, shard: i32, owner: &str, ttl: Duration) -> Result<bool> {
        let ttl = i32::try_from(ttl.as_secs().max(1)).unwrap_or(i32::MAX);
        // Renew what we hold; failing that, take it if nobody holds it (the row expired).
        let renewed = self
            .session
            .execute_unpaged(&self.st.renew_lease, (ttl, owner, shard, owner))
            .await
            .map_err(err)?;
        if applied(renewed)? {
            return Ok(true);
        }
        let taken = self
            .session
            .execute_unpaged(&self.st.take_lease, (shard, owner, ttl))
            .await
            .map_err(err)?;
        applied(taken)
    }
}

/// The `[applied]` column of a lightweight transaction's answer.
fn applied(result: scylla::response::query_result::QueryResult) -> Result<bool> {
    let rows = result.into_rows_result().map_err(err)?;
    let first = rows
        .rows::<(bool,)>()
        .ok()
        .and_then(|mut r| r.next())
        .transpose()
        .ok()
        .flatten();
    match first {
        Some((applied,)) => Ok(applied),
        // A failed conditional answers `[applied]` plus the current values: read column 0 only.
        None => {
            let row = rows.first_row::<scylla::value::Row>().map_err(err)?;
            match row.columns.first() {
                Some(Some(scylla::value::CqlValue::Boolean(b))) => Ok(*b),
                _ => Err(Error::corrupt(
                    "a lightweight transaction answered without [applied]",
                )),
            }
        }
    }
}
