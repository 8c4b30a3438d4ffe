//! Tenants and their API keys: what a key looks like, how it is stored, and the operations
//! `backchannel tenants` runs (create, list, revoke a key, rotate).
//!
//! A key is `bc_<key_id>_<secret>`: `key_id` is 16 hex digits (64 random bits) that name the key
//! in listings, logs and revocations; `secret` is 64 hex digits (256 bits from the operating
//! system's generator). The store keeps the key id, the tenant, the times and a SHA-256 of the
//! secret — never the key — so the full key exists only in the one line `tenants create` or
//! `tenants rotate-key` prints, and in the client that received it.
//!
//! Why a fast hash and not a password hash (argon2, bcrypt): those slow hashes exist to make
//! guessing a *low-entropy* password expensive. A 256-bit random secret cannot be guessed at any
//! speed, so a slow hash would add nothing but cost on every request, while SHA-256 keeps the
//! store's copy useless to whoever reads it (finding a preimage is infeasible) and lets the API
//! verify a key in about a microsecond. No salt is needed either: secrets are uniform and unique,
//! so there is nothing for a precomputed table to exploit. The key id and a version label are
//! hashed with the secret, so a stored hash is bound to its key id and cannot be moved to another.
//!
//! Revocation is a time (`revoked_at`): a key is valid strictly before it. `revoke-key` sets it to
//! now; `rotate-key` issues a new key and sets the old keys' time to now plus a grace period, so
//! clients can switch to the new key without an outage (see [`rotate`]).

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The fixed start of every key, so a leaked key is recognisable (secret scanners, logs).
pub const KEY_PREFIX: &str = "bc_";
const KEY_ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
/// Domain separation of the stored hash (bump the version if the format ever changes).
const HASH_LABEL: &[u8] = b"backchannel api key v1\0";

/// A tenant (a client organisation). Its signals are keyed by its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// One API key as stored: everything but the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: String,
    pub tenant: String,
    /// Lowercase hex SHA-256 of the label, the key id and the secret ([`hash_secret`]).
    pub hash: String,
    pub created_at: DateTime<Utc>,
    /// The key is valid strictly before this time; `None`: not revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl KeyRecord {
    /// Whether the key is valid at `now` (not revoked, or revoked at a later time).
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none_or(|t| now < t)
    }

    /// Whether `secret` is this key's secret; compares in time independent of where it differs.
    pub fn verify(&self, secret: &str) -> bool {
        let h = hash_secret(&self.key_id, secret);
        h.len() == self.hash.len()
            && h.bytes()
                .zip(self.hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// Storage of tenants and keys. Both stores implement it: redb tables in embedded mode, CQL
/// tables in distributed mode. Every method is one small read or write; none holds a lock across
/// an await. Listing reads whole tables: there are tenants by the hundred, not by the million.
pub trait TenantStore: Send + Sync + 'static {
    /// Inserts or replaces a tenant.
    fn put_tenant(&self, tenant: &TenantRecord) -> impl Future<Output = Result<()>> + Send;
    /// Every tenant.
    fn tenants(&self) -> impl Future<Output = Result<Vec<TenantRecord>>> + Send;
    /// Inserts or replaces a key record (by key id).
    fn put_key(&self, key: &KeyRecord) -> impl Future<Output = Result<()>> + Send;
    /// One key by id: what the API reads to verify a request.
    fn key(&self, key_id: &str) -> impl Future<Output = Result<Option<KeyRecord>>> + Send;
    /// Every key of every tenant.
    fn keys(&self) -> impl Future<Output = Result<Vec<KeyRecord>>> + Send;
}

/// Whether `s` is a valid tenant or signal name: 1-128 letters, digits, '-', '_' or '.'.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The stored hash of a key's secret (see the module docs for why SHA-256).
pub fn hash_secret(key_id: &str, secret: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(HASH_LABEL);
    ctx.update(key_id.as_bytes());
    ctx.update(b"\0");
    ctx.update(secret.as_bytes());
    hex(ctx.finish().as_ref())
}

/// Splits a presented key into (key id, secret), or None if it is not shaped like one of ours.
pub fn parse_key(key: &str) -> Option<(&str, &str)> {
    let (id, secret) = key.strip_prefix(KEY_PREFIX)?.split_once('_')?;
    let is_hex = |s: &str, n: usize| {
        s.len() == 2 * n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    (is_hex(id, KEY_ID_BYTES) && is_hex(secret, SECRET_BYTES)).then_some((id, secret))
}

fn random_hex(n: usize) -> Result<String> {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; n];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| Error::Internal {
            what: "the operating system's random generator failed".into(),
            source: None,
        })?;
    Ok(hex(&buf))
}

/// Makes a new key for `tenant`: the key to show once, and the record to store.
pub fn new_key(tenant: &str, now: DateTime<Utc>) -> Result<(String, KeyRecord)> {
    let key_id = random_hex(KEY_ID_BYTES)?;
    let secret = random_hex(SECRET_BYTES)?;
    let record = KeyRecord {
        hash: hash_secret(&key_id, &secret),
        key_id: key_id.clone(),
        tenant: tenant.to_owned(),
        created_at: now,
        revoked_at: None,
    };
    Ok((format!("{KEY_PREFIX}{key_id}_{secret}"), record))
}

/// Stores a new key for `tenant`, drawing again in the (2^-64) case of a key id already taken.
async fn issue<S: TenantStore>(store: &S, tenant: &str, now: DateTime<Utc>) -> Result<String> {
    loop {
        let (key, record) = new_key(tenant, now)?;
        if store.key(&record.key_id).await?.is_none() {
            store.put_key(&record).await?;
            return Ok(key);
        }
    }
}

async fn existing<S: TenantStore>(store: &S, name: &str) -> Result<TenantRecord> {
    store
        .tenants()
        .await?
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| Error::Config(format!("no tenant {name:?} (`backchannel tenants list`)")))
}

/// Creates tenant `name` and returns its first key (shown once, never stored).
///
/// Two operators creating the same name at the same moment could both succeed (check, then
/// write); the second key would simply be a second valid key of the one tenant.
pub async fn create<S: TenantStore>(store: &S, name: &str) -> Result<String> {
    if !valid_name(name) {
        return Err(Error::Config(
            "a tenant name is 1-128 characters of letters, digits, '-', '_' or '.'".into(),
        ));
    }
    if store.tenants().await?.iter().any(|t| t.name == name) {
        return Err(Error::Config(format!(
            "tenant {name:?} exists; `backchannel tenants rotate-key {name}` issues a new key"
        )));
    }
    let now = Utc::now();
    store
        .put_tenant(&TenantRecord {
            name: name.to_owned(),
            created_at: now,
        })
        .await?;
    issue(store, name, now).await
}

/// Issues a new key for `name` and makes its other keys expire after `grace` (zero: at once).
/// Returns the new key and the ids of the keys it retires.
///
/// Rotation keeps the old keys for a grace period (an hour by default on the command line)
/// because a routine rotation must not be an outage: the tenant's clients need time to deploy
/// the new key. A key that leaked is a different case: `revoke-key` ends it at once (within the
/// API's key cache TTL), and so does a rotation with a zero grace.
/// The new key is stored before the old ones are touched, so a failure halfway never leaves the
/// tenant without a valid key.
pub async fn rotate<S: TenantStore>(
    store: &S,
    name: &str,
    grace: Duration,
) -> Result<(String, Vec<String>)> {
    existing(store, name).await?;
    let now = Utc::now();
    let key = issue(store, name, now).await?;
    let new_id = parse_key(&key).map(|(id, _)| id.to_owned());
    let until = now
        + chrono::Duration::from_std(grace)
            .map_err(|_| Error::Config("--grace: too long".into()))?;
    let mut retired = Vec::new();
    for mut k in store.keys().await? {
        if k.tenant != name || Some(&k.key_id) == new_id.as_ref() || !k.valid_at(now) {
            continue;
        }
        k.revoked_at = Some(k.revoked_at.map_or(until, |t| t.min(until)));
        store.put_key(&k).await?;
        retired.push(k.key_id);
    }
    Ok((key, retired))
}

/// Revokes key `key_id` of tenant `name` now. False if the tenant has no such key.
pub async fn revoke<S: TenantStore>(store: &S, name: &str, key_id: &str) -> Result<bool> {
    let Some(mut k) = store.key(key_id).await?.filter(|k| k.tenant == name) else {
        return Ok(false);
    };
    let now = Utc::now();
    k.revoked_at = Some(k.revoked_at.map_or(now, |t| t.min(now)));
    store.put_key(&k).await?;
    Ok(true)
}

/// A tenant and its keys, as `tenants list` prints them (one JSON line per tenant).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listing {
    pub tenant: String,
    pub created_at: DateTime<Utc>,
    pub keys: Vec<KeyListing>,
}

/// A key without its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyListing {
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Every tenant with its keys, by name then key creation time.
pub async fn list<S: TenantStore>(store: &S) -> Result<Vec<Listing>> {
    let mut keys = store.keys().await?;
    keys.sort_by(|a, b| (a.created_at, &a.key_id).cmp(&(b.created_at, &b.key_id)));
    let mut tenants = store.tenants().await?;
    tenants.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tenants
        .into_iter()
        .map(|t| Listing {
            keys: keys
                .iter()
                .filter(|k| k.tenant == t.name)
                .map(|k| KeyListing {
                    key_id: k.key_id.clone(),
                    created_at: k.created_at,
                    revoked_at: k.revoked_at,
                })
                .collect(),
            tenant: t.name,
            created_at: t.created_at,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_verify_and_never_store_the_secret() {
        let now = Utc::now();
        let (key, record) = new_key("acme", now).expect("key");
        let (id, secret) = parse_key(&key).expect("our own shape");
        assert_eq!(id, record.key_id);
        assert_eq!(secret.len(), 64, "256 bits");
        assert!(record.verify(secret));
        assert!(!record.hash.contains(secret));
        let mut other = secret.to_owned();
        other.replace_range(0..1, if secret.starts_with('0') { "1" } else { "0" });
        assert!(!record.verify(&other));
        assert_ne!(
            hash_secret("0000000000000000", secret),
            record.hash,
            "bound to the key id"
        );
        for bad in [
            "",
            "bc_",
            "bc_abc_def",
            &key.to_uppercase(),
            &format!("{key}0"),
            &key.replacen("bc_", "xx_", 1),
        ] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
        let (key2, _) = new_key("acme", now).expect("key");
        assert_ne!(key, key2);
    }

    #[test]
    fn revocation_is_a_time() {
        let now = Utc::now();
        let (_, mut k) = new_key("acme", now).expect("key");
        assert!(k.valid_at(now));
        k.revoked_at = Some(now + chrono::Duration::seconds(10));
        assert!(k.valid_at(now));
        assert!(!k.valid_at(now + chrono::Duration::seconds(10)));
    }
}
