//! Tenants' signals in the embedded store.

use redb::{ReadableDatabase, ReadableTable};

use super::{META, RedbStore, SIGNALS, err};
use crate::error::{Error, Result};

fn bump_revision(txn: &redb::WriteTransaction) -> Result<()> {
    let mut meta = txn.open_table(META).map_err(err)?;
    let rev = meta
        .get("signals_revision")
        .map_err(err)?
        .map_or(0, |v| v.value());
    meta.insert("signals_revision", rev + 1).map_err(err)?;
    Ok(())
}

impl crate::signals::SignalStore for RedbStore {
    async fn signal_revision(&self) -> Result<u64> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(err)?;
            let meta = txn.open_table(META).map_err(err)?;
            Ok(meta
                .get("signals_revision")
                .map_err(err)?
                .map_or(0, |v| v.value()))
        })
        .await
    }

    async fn load_signals(&self) -> Result<(u64, Vec<transforms::signals::Signal>)> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(err)?;
            let meta = txn.open_table(META).map_err(err)?;
            let rev = meta
                .get("signals_revision")
                .map_err(err)?
                .map_or(0, |v| v.value());
            let table = txn.open_table(SIGNALS).map_err(err)?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(err)? {
                let (_, v) = entry.map_err(err)?;
                out.push(
                    serde_json::from_slice(v.value())
                        .map_err(|e| Error::store("stored signal", e))?,
                );
            }
            Ok((rev, out))
        })
        .await
    }

    async fn put_signal(&self, signal: &transforms::signals::Signal) -> Result<()> {
        let json =
            serde_json::to_vec(signal).map_err(|e| Error::internal("serialising a signal", e))?;
        let key = (signal.tenant.clone(), signal.id.clone());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            txn.open_table(SIGNALS)
                .map_err(err)?
                .insert((key.0.as_str(), key.1.as_str()), json.as_slice())
                .map_err(err)?;
            bump_revision(&txn)?;
            txn.commit().map_err(err)
        })
        .await
    }

    async fn delete_signal(&self, tenant: &str, id: &str) -> Result<bool> {
        let key = (tenant.to_owned(), id.to_owned());
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(err)?;
            let existed = txn
                .open_table(SIGNALS)
                .map_err(err)?
                .remove((key.0.as_str(), key.1.as_str()))
                .map_err(err)?
                .is_some();
            bump_revision(&txn)?;
            txn.commit().map_err(err)?;
            Ok(existed)
        })
        .await
    }
}
