//! Who is calling: `Authorization: Bearer <key>` checked against the stored key records, then
//! the caller's tenant's limits.
//!
//! Key records are cached by key id for `api.key_cache_ttl` (5 s by default), so a request costs
//! one SHA-256 and a map lookup, not a store read; the price is that a revoked key keeps working
//! for at most that long on each process. A revocation *time* (the end of a rotation's grace) is
//! compared with the clock on every request, so it takes effect to the second. Unknown key ids
//! are cached too (as absent), so a client retrying a wrong key does not reach the store each
//! time; the cache is bounded, so a flood of invented ids costs store reads, not memory.
//!
//! A stream (`/v1/stream`, `/v1/ws`) outlives the request that opened it, so it checks its key
//! again at every heartbeat ([`still_valid`]) and ends with a `closed` event once the key is
//! revoked, its grace has run out or it is gone: within a heartbeat plus the cache's TTL.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
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
        if let Some(hit) = self.cache.get(key_id) {
            return Ok(hit);
        }
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
    let record = match s.keys.lookup(&*s.backend, key_id).await {
        Ok(r) => r,
        Err(e) => return super::error(&e),
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
            let secs = denied.retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let mut r = super::json(
                StatusCode::TOO_MANY_REQUESTS,
                serde_json::json!({ "error": denied.reason, "retry_after_seconds": secs })
                    .to_string()
                    .into_bytes(),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            return r;
        }
    };
    let key_id = KeyId(Arc::from(key_id));
    req.extensions_mut()
        .insert(Tenant(Arc::from(record.tenant.as_str())));
    req.extensions_mut().insert(key_id);
    next.run(req).await.into_response()
}
