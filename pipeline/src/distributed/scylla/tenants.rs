//! Tenants and their API keys in ScyllaDB (see [`crate::tenants`]).

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use super::{ScyllaStore, err};
use crate::error::Result;
use crate::tenants::{KeyRecord, TenantRecord, TenantStore};

type KeyRow = (String, String, String, DateTime<Utc>, Option<DateTime<Utc>>);

fn key_record((key_id, tenant, hash, created_at, revoked_at): KeyRow) -> KeyRecord {
    KeyRecord {
        key_id,
        tenant,
        hash,
        created_at,
        revoked_at,
    }
}

impl TenantStore for ScyllaStore {
    async fn put_tenant(&self, t: &TenantRecord) -> Result<()> {
        self.session
            .execute_unpaged(&self.st.put_tenant, (&t.name, t.created_at))
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn tenants(&self) -> Result<Vec<TenantRecord>> {
        let mut rows = self
            .session
            .execute_iter(self.st.all_tenants.clone(), &[])
            .await
            .map_err(err)?
            .rows_stream::<(String, DateTime<Utc>)>()
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await {
            let (name, created_at) = row.map_err(err)?;
            out.push(TenantRecord { name, created_at });
        }
        Ok(out)
    }

    async fn put_key(&self, k: &KeyRecord) -> Result<()> {
        self.session
            .execute_unpaged(
                &self.st.put_key,
                (&k.key_id, &k.tenant, &k.hash, k.created_at, k.revoked_at),
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>> {
        let row = self.first_row::<KeyRow>(&self.st.get_key, (key_id,));
        Ok(row.await?.map(key_record))
    }

    async fn keys(&self) -> Result<Vec<KeyRecord>> {
        let mut rows = self
            .session
            .execute_iter(self.st.all_keys.clone(), &[])
            .await
            .map_err(err)?
            .rows_stream::<KeyRow>()
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().await {
            out.push(key_record(row.map_err(err)?));
        }
        Ok(out)
    }
}
