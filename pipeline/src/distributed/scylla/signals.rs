//! Tenants' signals in ScyllaDB, and the revision every change bumps (see [`crate::signals`]).

use chrono::Utc;
use futures_util::StreamExt;

use super::{ScyllaStore, err};
use crate::error::{Error, Result};
use crate::signals::SignalStore;

impl ScyllaStore {
    /// Revisions are microsecond timestamps: unique enough for change detection, no counter.
    async fn bump(&self) -> Result<()> {
        let rev = Utc::now().timestamp_micros();
        self.session
            .execute_unpaged(&self.st.bump_revision, (rev,))
            .await
            .map_err(err)?;
        Ok(())
    }
}

impl SignalStore for ScyllaStore {
    async fn signal_revision(&self) -> Result<u64> {
        let row = self.first_row::<(Option<i64>,)>(&self.st.revision, &[]);
        Ok(row.await?.and_then(|(r,)| r).unwrap_or(0) as u64)
    }

    async fn load_signals(&self) -> Result<(u64, Vec<transforms::signals::Signal>)> {
        let rev = self.signal_revision().await?;
        let mut rows = self
            .session
            .execute_iter(self.st.all_signals.clone(), &[])
            .await
            .map_err(err)?
            .rows_stream::<(String, String, i64, String, Option<String>)>()
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await {
            let (tenant, id, version, query, options) = row.map_err(err)?;
            let options = match options {
                Some(o) => serde_json::from_str(&o)
                    .map_err(|e| Error::store(format!("signal {tenant}/{id} options"), e))?,
                None => Default::default(),
            };
            out.push(transforms::signals::Signal {
                tenant,
                id,
                version: version as u64,
                query,
                options,
            });
        }
        Ok((rev, out))
    }

    async fn put_signal(&self, s: &transforms::signals::Signal) -> Result<()> {
        let options = serde_json::to_string(&s.options)
            .map_err(|e| Error::internal("serialising signal options", e))?;
        self.session
            .execute_unpaged(
                &self.st.put_signal,
                (
                    &s.tenant,
                    &s.id,
                    s.version as i64,
                    &s.query,
                    options,
                    Utc::now(),
                ),
            )
            .await
            .map_err(err)?;
        self.bump().await
    }

    async fn delete_signal(&self, tenant: &str, id: &str) -> Result<bool> {
        let rows = self
            .session
            .execute_unpaged(&self.st.get_signal, (tenant, id))
            .await
            .map_err(err)?;
        let existed = rows.into_rows_result().map_err(err)?.rows_num() > 0;
        self.session
            .execute_unpaged(&self.st.delete_signal, (tenant, id))
            .await
            .map_err(err)?;
        self.bump().await?;
        Ok(existed)
    }
}
