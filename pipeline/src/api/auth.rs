//! Who is calling: `Authorization: Bearer <key>` checked against the stored key records, then
//! the caller's tenant's limits.
//!
//! Key records are cached by key id for `api.key_cache_ttl` (5 s by default), so a request costs
//! one SHA-256 and a map lookup, not a store read; the price is that a revoked key keeps working
//! for at most that long on each process. A revocation *time* (the end of a rotation's grace) is
//! compared with the clock on every request, so it takes effect to the second. Unknown key ids
//! are cached too (as absent), so a client retrying a wrong key does not reach the store each
//! time. Invented ids are new every time, so each client address (an IPv6 /64) may make the
//! store look up only `api.unknown_keys_per_minute` (60) ids it does not hold; past that it gets
//! 429 without a store read until its budget refills ([`super::limits::Strangers`]). Behind
//! proxies listed in `api.trusted_proxies`, the address is the client's, from `X-Forwarded-For`
//! ([`super::proxies`]).
//!
//! A stream (`/v1/stream`, `/v1/ws`) outlives the request that opened it, so it checks its key
//! again at every heartbeat ([`still_valid`]) and ends with a `closed` event once the key is
//! revoked, its grace has run out or it is gone: within a heartbeat plus the cache's TTL.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiState;
use super::backend::Backend;
use crate::error::Result;
use crate::tenants::{KeyRecord, parse_key};

/// Key records cached at most.
const CACHED_KEYS: u64 = 100_000;

/// The authenticated caller's tenant, put in the request's extensions by [`authenticate`].
#[derive(Debug, Clone)]
pub struct Tenant(pub Arc<str>);

/// The id of the key that authenticated the request, beside [`Tenant`], for what checks the
/// key again later (a stream, at each heartbeat).
#[derive(Debug, Clone)]
pub struct KeyId(pub Arc<str>);

/// Whether the key `key_id` may still be used at `now`: it exists and is not revoked. A store
/// that cannot answer keeps the key valid, so an outage does not cut every open stream.
pub(super) async fn still_valid(s: &ApiState, key_id: &str) -> bool {
    match s.keys.lookup(&*s.backend, key_id).await {
        Ok(record) => record.is_some_and(|r| r.valid_at(chrono::Utc::now())),
        Err(e) => {
            tracing::debug!(error = %e, "a stream's key could not be checked again; kept");
            true
        }
    }
}

/// Key records by id, fresh for the configured TTL.
#[derive(Debug)]
pub struct Keys {
    cache: moka::sync::Cache<String, Option<Arc<KeyRecord>>>,
}

impl Keys {
    pub fn new(ttl: std::time::Duration) -> Keys {
        Keys {
            cache: moka::sync::Cache::builder()
                .max_capacity(CACHED_KEYS)
                .time_to_live(ttl)
                .build(),
        }
    }

    async fn lookup(&self, backend: &dyn Backend, key_id: &str) -> Result<Option<Arc<KeyRecord>>> {
        match self.cache.get(key_id) {
            Some(hit) => Ok(hit),
            None => self.read(backend, key_id).await,
        }
    }

    /// Reads a key record from the store and caches what it found, absence included.
    async fn read(&self, backend: &dyn Backend, key_id: &str) -> Result<Option<Arc<KeyRecord>>> {
        let record = backend.key(key_id.to_owned()).await?.map(Arc::new);
        self.cache.insert(key_id.to_owned(), record.clone());
        Ok(record)
    }
}

/// The bearer token of a request, if it has one.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// 401 with a JSON body and the challenge RFC 6750 asks for.
pub(super) fn unauthorized(why: &str) -> Response {
    crate::telemetry::api_rejected("unauthorized");
    let mut r = super::json(
        StatusCode::UNAUTHORIZED,
        serde_json::json!({ "error": why }).to_string().into_bytes(),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"backchannel\""),
    );
    r
}

/// 429 with `Retry-After` (whole seconds, at least 1) and the reason as JSON.
fn too_many(denied: super::Denied) -> Response {
    let secs = denied.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let mut r = super::json(
        StatusCode::TOO_MANY_REQUESTS,
        serde_json::json!({ "error": denied.reason, "retry_after_seconds": secs })
            .to_string()
            .into_bytes(),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// The key record of `key_id`: from the cache, or from the store within the budget of unknown
/// ids of the caller's address (`peer`; the server puts it in every request's extensions).
async fn lookup_as(
    s: &ApiState,
    peer: Option<std::net::IpAddr>,
    key_id: &str,
) -> std::result::Result<Option<Arc<KeyRecord>>, Response> {
    if let Some(hit) = s.keys.cache.get(key_id) {
        return Ok(hit);
    }
    // A request without an address (never through `serve`) counts as one anonymous client.
    let peer = peer.unwrap_or(std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
    if let Err(denied) = s.strangers.take(peer, Instant::now()) {
        crate::telemetry::api_rejected("unknown_keys");
        return Err(too_many(denied));
    }
    // Only an id the store says it does not hold is charged: a found key, or a store that
    // could not answer, gives the lookup back.
    let record = s.keys.read(&*s.backend, key_id).await;
    if !matches!(record, Ok(None)) {
        s.strangers.refund(peer);
    }
    record.map_err(|e| super::error(&e))
}

/// The `/v1` middleware: a valid key of a tenant within its limits, or 401 / 429.
pub(super) async fn authenticate(
    State(s): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    let from_query = super::stream::access_token(&req);
    let Some(key) = bearer(req.headers()).or(from_query.as_deref()) else {
        return unauthorized("missing API key: send Authorization: Bearer <key>");
    };
    let Some((key_id, secret)) = parse_key(key) else {
        return unauthorized("invalid API key");
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| s.settings.trusted_proxies.client(c.0.ip(), req.headers()));
    let record = match lookup_as(&s, peer, key_id).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let Some(record) = record.filter(|r| r.verify(secret)) else {
        return unauthorized("invalid API key");
    };
    if !record.valid_at(chrono::Utc::now()) {
        return unauthorized("this API key was revoked");
    }
    let _in_flight = match s.limiter.admit(&record.tenant, Instant::now()) {
        Ok(g) => g,
        Err(denied) => {
            crate::telemetry::api_rejected("rate_limited");
            return too_many(denied);
        }
    };
    let key_id = KeyId(Arc::from(key_id));
    req.extensions_mut()
        .insert(Tenant(Arc::from(record.tenant.as_str())));
    req.extensions_mut().insert(key_id);
    next.run(req).await.into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures_util::future::BoxFuture;

    use super::*;
    use crate::api::{ApiSettings, Backend};
    use crate::error::{Error, Result};

    /// A backend whose key lookups fail while `down` is set and find nothing otherwise; the API
    /// needs nothing else of it here.
    #[derive(Default)]
    struct KeyStore {
        down: AtomicBool,
    }

    impl Backend for KeyStore {
        fn key(&self, _: String) -> BoxFuture<'_, Result<Option<KeyRecord>>> {
            let down = self.down.load(Ordering::SeqCst);
            Box::pin(async move {
                if down {
                    Err(Error::store("key lookup", "connection refused"))
                } else {
                    Ok(None)
                }
            })
        }
        fn mention(&self, _: String) -> BoxFuture<'_, Result<Option<Vec<u8>>>> {
            unreachable!()
        }
        fn recent(
            &self,
            _: String,
            _: usize,
            _: Option<crate::traits::Before>,
        ) -> BoxFuture<'_, Result<Vec<Vec<u8>>>> {
            unreachable!()
        }
        fn series(
            &self,
            _: String,
            _: chrono::DateTime<chrono::Utc>,
            _: chrono::DateTime<chrono::Utc>,
        ) -> BoxFuture<'_, Result<crate::aggregate::Series>> {
            unreachable!()
        }
        fn latest(&self, _: usize) -> BoxFuture<'_, Result<Vec<Vec<u8>>>> {
            unreachable!()
        }
        fn signals(&self, _: String) -> BoxFuture<'_, Result<Vec<transforms::signals::Signal>>> {
            unreachable!()
        }
        fn put_signal(
            &self,
            _: String,
            _: String,
            _: String,
            _: transforms::signals::SignalOptions,
        ) -> BoxFuture<'_, Result<u64>> {
            unreachable!()
        }
        fn delete_signal(&self, _: String, _: String) -> BoxFuture<'_, Result<bool>> {
            unreachable!()
        }
        fn admin(&self, _: crate::admin::Action) -> BoxFuture<'_, Result<crate::admin::Reply>> {
            unreachable!()
        }
        fn alerts(
            &self,
            _: String,
            _: String,
            _: usize,
        ) -> BoxFuture<'_, Result<Vec<crate::alerts::Alert>>> {
            unreachable!()
        }
        fn webhook(
            &self,
            _: String,
        ) -> BoxFuture<'_, Result<Option<crate::alerts::webhook::Webhook>>> {
            unreachable!()
        }
        fn alert_settings(
            &self,
            _: String,
            _: String,
        ) -> BoxFuture<'_, Result<Option<crate::alerts::SignalAlertSettings>>> {
            unreachable!()
        }
        fn put_alert_settings(
            &self,
            _: String,
            _: String,
            _: crate::alerts::SignalAlertSettings,
        ) -> BoxFuture<'_, Result<()>> {
            unreachable!()
        }
    }

    /// A store outage answers 503 and costs no client its budget of unknown ids: once the store
    /// answers again, the address still has all of it.
    #[tokio::test]
    async fn a_store_outage_costs_no_unknown_key_budget() {
        let store = Arc::new(KeyStore::default());
        let settings = ApiSettings {
            unknown_keys_per_minute: 2,
            ..ApiSettings::default()
        };
        let s = super::super::ApiState::new(settings, None, store.clone(), None);
        let peer = Some("203.0.113.7".parse().expect("ip"));
        let id = |i: usize| format!("{i:016x}");
        store.down.store(true, Ordering::SeqCst);
        for i in 0..5 {
            let refused = lookup_as(&s, peer, &id(i)).await.expect_err("store down");
            assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE, "{i}");
        }
        store.down.store(false, Ordering::SeqCst);
        for i in 5..7 {
            assert!(
                lookup_as(&s, peer, &id(i))
                    .await
                    .expect("answered")
                    .is_none()
            );
        }
        let refused = lookup_as(&s, peer, &id(7)).await.expect_err("budget spent");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}
