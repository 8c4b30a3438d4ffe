//! Per-tenant limits of one API process: a token bucket of requests per second and a bound on
//! requests in progress. In memory, per process: N processes behind a load balancer allow N times
//! the rate, which is the price of needing no shared service on the request path.
//!
//! Before a caller has a tenant, [`Strangers`] bounds per client address how many key ids the
//! store is asked about and does not hold, so invented keys cannot turn into a flood of reads.

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
        if let Some(retry_after) = refill(&mut b.tokens, &mut b.at, now, self.rate, self.burst) {
            return Err(Denied {
                retry_after,
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

/// Refills a token bucket of `burst` at `rate` a second from `at` to `now`; `Some(wait)` when it
/// holds less than a whole token, `wait` being how long until it does. The caller spends it.
fn refill(
    tokens: &mut f64,
    at: &mut Instant,
    now: Instant,
    rate: f64,
    burst: f64,
) -> Option<Duration> {
    let elapsed = now.saturating_duration_since(*at).as_secs_f64();
    *tokens = (*tokens + elapsed * rate).min(burst);
    *at = now;
    (*tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - *tokens) / rate))
}

/// Store lookups of unknown key ids per client address: a token bucket of
/// `api.unknown_keys_per_minute`, refilled over a minute. IPv4 addresses count one by one and
/// IPv6 ones by their /64, the block one subscriber is usually given. A bucket left alone for a
/// minute is full again, so it is forgotten then; at most [`STRANGERS`] addresses are kept, and
/// past that a flood from many addresses finds fresh buckets (it costs reads, never memory).
#[derive(Debug)]
pub struct Strangers {
    per_minute: f64,
    buckets: moka::sync::Cache<std::net::IpAddr, Arc<Mutex<(f64, Instant)>>>,
}

/// Client addresses whose unknown keys are counted at most.
pub const STRANGERS: u64 = 65_536;

impl Strangers {
    pub fn new(per_minute: u32) -> Strangers {
        Strangers {
            per_minute: f64::from(per_minute.max(1)),
            buckets: moka::sync::Cache::builder()
                .max_capacity(STRANGERS)
                .time_to_idle(Duration::from_secs(60))
                .build(),
        }
    }

    /// Takes one lookup from `peer`'s bucket, or says how long to wait. The caller gives it back
    /// ([`Strangers::refund`]) when the key turned out to exist.
    pub fn take(&self, peer: std::net::IpAddr, now: Instant) -> Result<(), Denied> {
        let full = self.per_minute;
        let bucket = self
            .buckets
            .get_with(block_of(peer), || Arc::new(Mutex::new((full, now))));
        let mut b = bucket.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = &mut *b;
        if let Some(retry_after) = refill(tokens, at, now, full / 60.0, full) {
            return Err(Denied {
                retry_after,
                reason: "too many unknown API keys from this address",
            });
        }
        *tokens -= 1.0;
        Ok(())
    }

    /// Gives back the lookup [`Strangers::take`] took: the key was found.
    pub fn refund(&self, peer: std::net::IpAddr) {
        if let Some(bucket) = self.buckets.get(&block_of(peer)) {
            let mut b = bucket.lock().unwrap_or_else(|p| p.into_inner());
            b.0 = (b.0 + 1.0).min(self.per_minute);
        }
    }
}

/// The address a bucket is kept for: an IPv4 address (mapped ones included) as it is, an IPv6
/// one's /64.
fn block_of(peer: std::net::IpAddr) -> std::net::IpAddr {
    match peer {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => std::net::IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_bounded_per_address_and_ipv6_per_64() {
        let s = Strangers::new(3);
        let t0 = Instant::now();
        let a: std::net::IpAddr = "203.0.113.7".parse().expect("ip");
        for _ in 0..3 {
            s.take(a, t0).expect("within the minute's budget");
        }
        let denied = s.take(a, t0).expect_err("spent");
        assert_eq!(denied.retry_after, Duration::from_secs(20), "3 a minute");
        // A found key costs nothing: its lookup is given back.
        s.refund(a);
        s.take(a, t0).expect("refunded");
        assert!(s.take(a, t0).is_err());
        // Another address has its own bucket; the same one refills at the rate.
        s.take("203.0.113.8".parse().expect("ip"), t0)
            .expect("another address");
        s.take(a, t0 + Duration::from_secs(20)).expect("refilled");
        // IPv6 addresses in one /64 share a bucket, and another /64 has its own; an IPv4-mapped
        // address is its IPv4 one.
        let v6 = |x: &str| x.parse::<std::net::IpAddr>().expect("ip");
        for host in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9"] {
            s.take(v6(host), t0).expect("the /64's budget");
        }
        assert!(s.take(v6("2001:db8:1:2::abcd"), t0).is_err(), "same /64");
        s.take(v6("2001:db8:1:3::1"), t0).expect("another /64");
        assert!(s.take(v6("::ffff:203.0.113.7"), t0).is_err(), "mapped IPv4");
    }

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
