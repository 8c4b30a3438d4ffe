//! Per-tenant limits of one API process: a token bucket of requests per second and a bound on
//! requests in progress. In memory, per process: N processes behind a load balancer allow N times
//! the rate, which is the price of needing no shared service on the request path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::config::ApiSettings;

/// Why a request was not admitted: it may try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    pub retry_after: Duration,
    pub reason: &'static str,
}

/// A request in progress; dropping it frees its slot.
#[derive(Debug)]
pub struct InFlight(Arc<AtomicU32>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    in_flight: Arc<AtomicU32>,
}

/// Every tenant's bucket. The map holds one small entry per tenant that has made a request with
/// a valid key, so it is bounded by the number of tenants.
#[derive(Debug)]
pub struct Limiter {
    rate: f64,
    burst: f64,
    max_in_flight: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
    max_streams: u32,
    /// Open stream connections per tenant: they outlive the request that opened them, so they
    /// are counted apart from requests in progress.
    streams: Mutex<HashMap<String, Arc<AtomicU32>>>,
}

impl Limiter {
    pub fn new(s: &ApiSettings) -> Limiter {
        Limiter {
            rate: f64::from(s.requests_per_second),
            burst: f64::from(s.burst),
            max_in_flight: s.max_in_flight,
            buckets: Mutex::default(),
            max_streams: s.max_streams,
            streams: Mutex::default(),
        }
    }

    /// Admits one more open stream of `tenant`, or refuses it past `api.max_streams`; the guard
    /// is held for as long as the stream is open.
    pub fn admit_stream(&self, tenant: &str) -> Result<InFlight, Denied> {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let open = streams.entry(tenant.to_owned()).or_default();
        if open.load(Ordering::Acquire) >= self.max_streams {
            return Err(Denied {
                retry_after: Duration::from_secs(5),
                reason: "too many open streams for this tenant",
            });
        }
        open.fetch_add(1, Ordering::AcqRel);
        Ok(InFlight(open.clone()))
    }

    /// Admits one request of `tenant` now, or says how long to wait. Never blocks on I/O; the
    /// lock is held for a few arithmetic operations.
    pub fn admit(&self, tenant: &str, now: Instant) -> Result<InFlight, Denied> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = match buckets.get_mut(tenant) {
            Some(b) => b,
            None => buckets.entry(tenant.to_owned()).or_insert(Bucket {
                tokens: self.burst,
                at: now,
                in_flight: Arc::default(),
            }),
        };
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.at = now;
        if b.tokens < 1.0 {
            return Err(Denied {
                retry_after: Duration::from_secs_f64((1.0 - b.tokens) / self.rate),
                reason: "rate limit: too many requests per second for this tenant",
            });
        }
        if b.in_flight.load(Ordering::Acquire) >= self.max_in_flight {
            return Err(Denied {
                retry_after: Duration::from_secs(1),
                reason: "too many requests in progress for this tenant",
            });
        }
        b.tokens -= 1.0;
        b.in_flight.fetch_add(1, Ordering::AcqRel);
        Ok(InFlight(b.in_flight.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: u32, burst: u32, in_flight: u32) -> Limiter {
        Limiter::new(&ApiSettings {
            requests_per_second: rate,
            burst,
            max_in_flight: in_flight,
            ..Default::default()
        })
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate_per_tenant() {
        let l = limiter(2, 3, 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            drop(l.admit("a", t0).expect("within the burst"));
        }
        let denied = l.admit("a", t0).expect_err("burst spent");
        assert_eq!(denied.retry_after, Duration::from_millis(500));
        drop(l.admit("b", t0).expect("another tenant has its own bucket"));
        drop(
            l.admit("a", t0 + Duration::from_millis(500))
                .expect("refilled at the rate"),
        );
        assert!(l.admit("a", t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn requests_in_progress_are_bounded_and_freed_on_drop() {
        let l = limiter(1000, 1000, 2);
        let now = Instant::now();
        let a = l.admit("a", now).expect("1");
        let _b = l.admit("a", now).expect("2");
        assert!(l.admit("a", now).is_err(), "third at once");
        drop(a);
        assert!(l.admit("a", now).is_ok(), "a slot came back");
    }
}
