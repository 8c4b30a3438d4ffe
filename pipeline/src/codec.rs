//! Reading compact records back as JSON, whatever catalogue version wrote them.
//!
//! Stores and caches hold enriched mentions as compact records (`transforms::avro`), each opened
//! by its schema's fingerprint. Every process records its own schema in the store when it
//! starts ([`Codec::register`]); a reader that meets a fingerprint it does not know fetches that
//! schema from the store once and keeps it. So records survive catalogue upgrades and rolling
//! deploys where workers of two versions write side by side.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use transforms::avro::{self, DecodeError, Layout};

use crate::error::{Error, Result};
use crate::traits::Store;

/// The schemas known to this process, by fingerprint.
#[derive(Debug)]
pub struct Codec {
    layouts: RwLock<HashMap<u64, Arc<Layout>>>,
}

impl Default for Codec {
    fn default() -> Self {
        let current = Layout::current();
        Codec {
            layouts: RwLock::new(HashMap::from([(current.fingerprint, Arc::new(current))])),
        }
    }
}

impl Codec {
    /// Records this build's schema in `store` (idempotent).
    pub async fn register<S: Store>(store: &S) -> Result<()> {
        let schema = avro::schema();
        store
            .put_schema(schema.fingerprint, &avro::schema::avsc())
            .await
    }

    /// The JSON form of a stored or cached record.
    pub async fn to_json<S: Store>(&self, store: &S, record: &[u8]) -> Result<Vec<u8>> {
        let fp = avro::fingerprint_of(record).ok_or_else(|| corrupt(DecodeError::NoHeader))?;
        let known = self
            .layouts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&fp)
            .cloned();
        let layout = match known {
            Some(l) => l,
            None => {
                let avsc = store.schema(fp).await?.ok_or_else(|| {
                    Error::corrupt(format!(
                        "a stored record names schema {fp:016x}, which the store does not hold"
                    ))
                })?;
                let json: serde_json::Value = serde_json::from_str(&avsc)
                    .map_err(|e| Error::store(format!("stored schema {fp:016x}"), e))?;
                let layout = Arc::new(Layout::from_schema(&json).map_err(corrupt)?);
                self.layouts
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(fp, layout.clone());
                layout
            }
        };
        let mut out = Vec::with_capacity(record.len() * 6);
        layout.to_json(record, &mut out).map_err(corrupt)?;
        Ok(out)
    }
}

fn corrupt(e: DecodeError) -> Error {
    Error::internal("stored record unreadable", e)
}
