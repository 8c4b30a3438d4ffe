//! Tenants and their API keys in the embedded store (see [`crate::tenants`]).

use redb::{ReadableDatabase, ReadableTable};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{API_KEYS, RedbStore, TENANTS, err};
use crate::error::{Error, Result};
use crate::tenants::{KeyRecord, TenantRecord, TenantStore};

impl RedbStore {
    fn put_json<T: Serialize>(
        &self,
        table: redb::TableDefinition<'static, &'static str, &'static [u8]>,
        key: &str,
        value: &T,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let json = serde_json::to_vec(value);
        let key = key.to_owned();
        let store = self.clone();
        async move {
            let json = json.map_err(|e| Error::internal("serialising a tenant record", e))?;
            store
                .blocking(move |db| {
                    let txn = db.begin_write().map_err(err)?;
                    txn.open_table(table)
                        .map_err(err)?
                        .insert(key.as_str(), json.as_slice())
                        .map_err(err)?;
                    txn.commit().map_err(err)
                })
                .await
        }
    }

    fn all_json<T: DeserializeOwned + Send + 'static>(
        &self,
        table: redb::TableDefinition<'static, &'static str, &'static [u8]>,
    ) -> impl Future<Output = Result<Vec<T>>> + Send + 'static {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let table = txn.open_table(table).map_err(err)?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(err)? {
                let (_, v) = entry.map_err(err)?;
                out.push(
                    serde_json::from_slice(v.value())
                        .map_err(|e| Error::store("stored tenant record", e))?,
                );
            }
            Ok(out)
        })
    }
}

impl TenantStore for RedbStore {
    async fn put_tenant(&self, tenant: &TenantRecord) -> Result<()> {
        self.put_json(TENANTS, &tenant.name, tenant).await
    }

    async fn tenants(&self) -> Result<Vec<TenantRecord>> {
        self.all_json(TENANTS).await
    }

    async fn put_key(&self, key: &KeyRecord) -> Result<()> {
        self.put_json(API_KEYS, &key.key_id, key).await
    }

    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>> {
        let key_id = key_id.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(err)?;
            let table = txn.open_table(API_KEYS).map_err(err)?;
            match table.get(key_id.as_str()).map_err(err)? {
                Some(v) => serde_json::from_slice(v.value())
                    .map(Some)
                    .map_err(|e| Error::store("stored API key", e)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn keys(&self) -> Result<Vec<KeyRecord>> {
        self.all_json(API_KEYS).await
    }
}
