//! Delivering alerts to a tenant's webhook: an HMAC-SHA256-signed JSON body, POSTed with
//! retries and backoff, and a dead letter when it cannot be delivered.
//!
//! Each alert event is one *delivery* with a stable id ([`delivery_id`]: the incident, its state
//! and its minute), sent in `Backchannel-Delivery` on every attempt, with the attempt number in
//! `Backchannel-Attempt`. A receiver that stores the ids it acknowledged sees every event exactly
//! once, however often we retry (an attempt can reach it and its answer be lost). The signature,
//! `Backchannel-Signature: t=<unix seconds>,v1=<hex>`, is HMAC-SHA256 of `"<t>.<body>"` under the
//! webhook's secret, so a receiver can check both who sent it and when (refuse old timestamps to
//! stop replays); [`verify`] is that check. The headers are not signed, but the delivery id is
//! made of the signed body's `id`, `state` and `at`, so a receiver can check it against them.
//!
//! What is retried: connection failures, timeouts, 408, 429 (after its `Retry-After`) and 5xx.
//! Any other answer (a 4xx: the receiver refuses the request itself) is final at once. A delivery
//! that is final without a 2xx, or that used up its attempts, goes to the dead-letter topic with
//! reason `webhook_undeliverable`: the event itself is data, and nothing else waits on it.
//!
//! Tenants choose the URLs, and the process sits inside the operator's network, so by default a
//! delivery only connects to public addresses ([`is_public`]): a hook at `127.0.0.1`, at a cloud
//! metadata address or at a name that resolves only to private ones is undeliverable, before a
//! connection is made (names are checked as they resolve, so a name cannot point elsewhere between
//! a check and the connection). Otherwise tenants could reach the process's own admin endpoint or
//! the services beside it, and map the network from which attempts fail how. The check needs a
//! direct connection, so such deliveries ignore proxy settings. An operator whose receivers are
//! internal (or reached through a proxy) sets `alerts.webhook_private_addresses = true`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use collectors::common::{Backoff, BackoffConfig};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Alert;
use crate::tenants::hex;
use crate::traits::{Publisher, Record, Topic};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "backchannel-signature";
/// The header carrying the delivery id (the same on every attempt of one event).
pub const DELIVERY_HEADER: &str = "backchannel-delivery";
/// The header carrying the attempt number, from 1.
pub const ATTEMPT_HEADER: &str = "backchannel-attempt";

/// Where a tenant's alerts go.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Webhook {
    pub url: String,
    /// The HMAC key; never logged, never part of a dead letter.
    pub secret: String,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &origin(&self.url))
            .field("secret", &"…")
            .finish()
    }
}

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSettings {
    /// One attempt's limit, connecting and answering together.
    pub timeout: Duration,
    /// Attempts per delivery before it is dead-lettered.
    pub max_attempts: u32,
    pub backoff: BackoffConfig,
    /// Deliveries waiting to be sent; beyond it, new ones are dead-lettered at once rather
    /// than held in memory without bound.
    pub queue: usize,
    /// Whether hooks may be at loopback, private, link-local and other non-public addresses
    /// (`alerts.webhook_private_addresses`; off by default).
    pub private_addresses: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            timeout: Duration::from_secs(10),
            max_attempts: 8,
            backoff: BackoffConfig {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(60),
            },
            queue: 10_000,
            private_addresses: false,
        }
    }
}

/// The id of one alert event: the incident, the state and the minute it is about.
pub fn delivery_id(alert: &Alert) -> String {
    let state = match alert.state {
        super::AlertState::Opened => "opened",
        super::AlertState::Updated => "updated",
        super::AlertState::Resolved => "resolved",
    };
    format!("{}.{state}.{}", alert.id, alert.at.timestamp())
}

/// `t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>">`.
pub fn sign(secret: &[u8], unix: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(unix.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("t={unix},v1={}", hex(ctx.sign().as_ref()))
}

/// A receiver's check of [`sign`]'s header: the MAC matches (compared in constant time) and the
/// timestamp is within `tolerance` of `now_unix`.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance: Duration,
) -> bool {
    let mut t = None;
    let mut macs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => macs.push(v),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if t.abs_diff(now_unix) > tolerance.as_secs() {
        return false;
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut signed = t.to_string().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(body);
    macs.iter()
        .any(|mac| unhex(mac).is_some_and(|tag| ring::hmac::verify(&key, &signed, &tag).is_ok()))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered 2xx on attempt `attempts`.
    Delivered { attempts: u32 },
    /// Given up after `attempts`: the last answer or error in `reason`.
    Undeliverable { attempts: u32, reason: String },
}

/// One event to deliver.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub hook: Webhook,
    pub body: Vec<u8>,
}

/// Delivers `d`, retrying what may succeed later, until a 2xx, a final refusal or
/// `settings.max_attempts`.
pub async fn deliver(
    client: &reqwest::Client,
    d: &Delivery,
    settings: &WebhookSettings,
) -> Outcome {
    // Names are checked as they resolve ([`PublicOnly`]); an address in the URL is never
    // resolved, so it is checked here.
    if !settings.private_addresses
        && let Some(ip) = url_ip(&d.hook.url)
        && !is_public(ip)
    {
        return Outcome::Undeliverable {
            attempts: 1,
            reason: format!("{ip} is not a public address (alerts.webhook_private_addresses)"),
        };
    }
    let mut backoff = Backoff::new(settings.backoff);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let unix = Utc::now().timestamp();
        let sent = client
            .post(&d.hook.url)
            .timeout(settings.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(DELIVERY_HEADER, &d.id)
            .header(ATTEMPT_HEADER, attempt.to_string())
            .header(
                SIGNATURE_HEADER,
                sign(d.hook.secret.as_bytes(), unix, &d.body),
            )
            .body(d.body.clone())
            .send()
            .await;
        let (retry, reason, wait) = match sent {
            Ok(r) if r.status().is_success() => return Outcome::Delivered { attempts: attempt },
            Ok(r) => {
                let status = r.status();
                let retry = status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
                let wait = collectors::common::backoff::retry_after(r.headers(), Utc::now());
                (retry, format!("answered {status}"), wait)
            }
            Err(e) => (true, collectors::common::error_chain(&e), None),
        };
        if !retry || attempt >= settings.max_attempts {
            return Outcome::Undeliverable {
                attempts: attempt,
                reason,
            };
        }
        let wait = wait
            .map(|w| w.min(settings.backoff.max))
            .unwrap_or_else(|| backoff.next_delay());
        tracing::debug!(delivery = %d.id, attempt, %reason, retry_in = ?wait, "webhook attempt failed");
        tokio::time::sleep(wait).await;
    }
}

/// The HTTP client of deliveries: rustls (ring), `settings.timeout` to connect, no redirects (a
/// webhook answers where it was asked; following one would resend a signed body to a host the
/// tenant never named).
fn client(settings: &WebhookSettings) -> crate::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("backchannel-alerts/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none());
    if !settings.private_addresses {
        // Through a proxy, the proxy would resolve the hook's name, unchecked.
        builder = builder.dns_resolver(Arc::new(PublicOnly)).no_proxy();
    }
    builder
        .build()
        .map_err(|e| crate::Error::internal("webhook HTTP client", e))
}

/// Resolves a hook's host name to its public addresses only, and fails if it has none.
#[derive(Debug)]
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!(
                    "{host} resolves to no public address (alerts.webhook_private_addresses)"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The host of `url` when it is an IP address.
fn url_ip(url: &str) -> Option<IpAddr> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Whether `ip` is reachable on the public internet: not loopback, private (RFC 1918, IPv6
/// unique local), link-local (cloud metadata services live there), shared (RFC 6598), this
/// network, documentation, benchmarking, multicast, broadcast or reserved; an IPv6 address
/// that embeds an IPv4 one (mapped, compatible, NAT64) is judged by that one.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let embedded = std::net::Ipv4Addr::from_bits(v6.to_bits() as u32);
            if seg[..5] == [0; 5]
                && (seg[5] == 0xffff || seg[5] == 0)
                && !v6.is_loopback()
                && !v6.is_unspecified()
            {
                return is_public(IpAddr::V4(embedded));
            }
            if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0; 4] {
                return is_public(IpAddr::V4(embedded));
            }
            // 6to4 carries the IPv4 address it reaches in its second and third groups.
            if seg[0] == 0x2002 {
                let v4 =
                    std::net::Ipv4Addr::from_bits((u32::from(seg[1]) << 16) | u32::from(seg[2]));
                return is_public(IpAddr::V4(v4));
            }
            // The local-use NAT64 prefix (64:ff9b:1::/48, RFC 8215) reaches whatever the local
            // gateway maps it to, and Teredo (2001::/32) an address it hides: neither is known
            // to be public.
            if (seg[0] == 0x64 && seg[1] == 0xff9b && seg[2] == 1)
                || (seg[0] == 0x2001 && seg[1] == 0)
            {
                return false;
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] == 0x2001 && seg[1] == 0x0db8))
        }
    }
}

/// A new webhook for `tenant` at `url` with a fresh random secret (256 bits, hex). The URL
/// must be absolute `http` or `https` with a host, at most 2,000 characters.
pub fn create(tenant: &str, url: &str) -> crate::Result<Webhook> {
    let bad = |why: &str| crate::Error::Config(format!("webhook URL {url:?}: {why}"));
    if url.len() > 2_000 {
        return Err(bad("longer than 2000 characters"));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(bad("expected an http or https URL with a host"));
    }
    if !crate::tenants::valid_name(tenant) {
        return Err(crate::Error::Config(format!(
            "no such tenant name: {tenant:?}"
        )));
    }
    let mut secret = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .map_err(|_| crate::Error::internal("the OS random generator", "failed"))?;
    Ok(Webhook {
        url: url.to_owned(),
        secret: format!("whsec_{}", hex(&secret)),
    })
}

/// Sends one test event (`{"type":"test",…}`) to `hook` now, once, and says how it went.
pub async fn test(
    tenant: &str,
    hook: Webhook,
    settings: &WebhookSettings,
) -> crate::Result<String> {
    let settings = WebhookSettings {
        max_attempts: 1,
        ..*settings
    };
    let client = client(&settings)?;
    let now = Utc::now();
    let body = serde_json::json!({
        "type": "test",
        "tenant": tenant,
        "at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
    .to_string()
    .into_bytes();
    let d = Delivery {
        id: format!("test.{}", now.timestamp_micros()),
        hook,
        body,
    };
    match deliver(&client, &d, &settings).await {
        Outcome::Delivered { .. } => Ok(format!(
            "delivered test event {} to {}",
            d.id,
            origin(&d.hook.url)
        )),
        Outcome::Undeliverable { reason, .. } => Err(crate::Error::Config(format!(
            "the webhook at {} did not take the test event: {reason}",
            origin(&d.hook.url)
        ))),
    }
}

/// The scheme and host of a URL, for logs and dead letters (a path or query may hold a token).
fn origin(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| "an unparseable URL".to_owned())
}

/// Sends deliveries in the background, several at once, so a slow receiver holds up neither
/// detection nor the other tenants' hooks; an undeliverable one is published as a dead letter.
///
/// A delivery keeps its slot through its retries and their waits, so a receiver that is slow,
/// or answers 429 with a long `Retry-After`, holds its slots for minutes. Each receiver (hook
/// URL) therefore gets at most a quarter of the slots, and at most half of the queue waiting
/// behind them; past that its new deliveries are dead-lettered at once, and the other hooks'
/// deliveries go on. The queue ([`WebhookSettings::queue`]) bounds what waits over all
/// receivers.
#[derive(Debug, Clone)]
pub struct Sender {
    tx: mpsc::Sender<Delivery>,
}

/// One receiver's share of the sender: its own slots, and its deliveries waiting or running.
#[derive(Debug)]
struct Share {
    slots: tokio::sync::Semaphore,
    held: std::sync::atomic::AtomicUsize,
}

/// Receivers remembered before the idle ones are forgotten.
const SHARES_KEPT: usize = 1024;

impl Sender {
    /// Starts the sending task: at most `concurrency` deliveries in flight, a quarter of them
    /// (at least one) to any one receiver.
    pub fn spawn<P: Publisher>(
        publisher: Arc<P>,
        settings: WebhookSettings,
        concurrency: usize,
    ) -> crate::Result<(Sender, JoinHandle<()>)> {
        use std::sync::atomic::Ordering;
        let client = client(&settings)?;
        let (tx, mut rx) = mpsc::channel::<Delivery>(settings.queue.max(1));
        let limit = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let per_receiver = (concurrency / 4).max(1);
        let queue = settings.queue.max(1);
        let most_held = (queue / 2).max(1);
        // Deliveries taken from the channel and not finished, over all receivers.
        let held_total = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            let mut shares: std::collections::HashMap<String, Arc<Share>> = Default::default();
            while let Some(d) = rx.recv().await {
                if shares.len() >= SHARES_KEPT {
                    shares.retain(|_, s| s.held.load(Ordering::Relaxed) > 0);
                }
                let share = shares
                    .entry(d.hook.url.clone())
                    .or_insert_with(|| {
                        Arc::new(Share {
                            slots: tokio::sync::Semaphore::new(per_receiver),
                            held: Default::default(),
                        })
                    })
                    .clone();
                let backed_up = if share.held.load(Ordering::Relaxed) >= most_held {
                    Some(format!(
                        "this webhook's deliveries are backed up ({most_held} waiting or in flight)"
                    ))
                } else if held_total.load(Ordering::Relaxed) >= queue {
                    Some("the webhook queue is full".to_owned())
                } else {
                    None
                };
                if let Some(reason) = backed_up {
                    let backed_up = Outcome::Undeliverable {
                        attempts: 0,
                        reason,
                    };
                    finish(&*publisher, &d, backed_up).await;
                    continue;
                }
                share.held.fetch_add(1, Ordering::Relaxed);
                held_total.fetch_add(1, Ordering::Relaxed);
                let (client, publisher, limit) = (client.clone(), publisher.clone(), limit.clone());
                let total = held_total.clone();
                tokio::spawn(async move {
                    // The receiver's own slot first, so it waits for a shared one with at most
                    // its quarter: the shared ones are handed out in order.
                    if let (Ok(_own), Ok(_any)) =
                        (share.slots.acquire().await, limit.acquire().await)
                    {
                        let outcome = deliver(&client, &d, &settings).await;
                        finish(&*publisher, &d, outcome).await;
                    }
                    share.held.fetch_sub(1, Ordering::Relaxed);
                    total.fetch_sub(1, Ordering::Relaxed);
                });
            }
        });
        Ok((Sender { tx }, task))
    }

    /// Queues `d`; a full queue dead-letters it at once (returns false).
    pub async fn send<P: Publisher>(&self, publisher: &P, d: Delivery) -> bool {
        match self.tx.try_send(d) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d)) => {
                let reason = "the webhook queue is full".to_owned();
                finish(
                    publisher,
                    &d,
                    Outcome::Undeliverable {
                        attempts: 0,
                        reason,
                    },
                )
                .await;
                false
            }
        }
    }
}

/// Counts the outcome and dead-letters an undeliverable delivery.
async fn finish<P: Publisher + ?Sized>(publisher: &P, d: &Delivery, outcome: Outcome) {
    let (attempts, reason) = match outcome {
        Outcome::Delivered { attempts } => {
            crate::telemetry::webhook("delivered");
            tracing::debug!(delivery = %d.id, attempts, "webhook delivered");
            return;
        }
        Outcome::Undeliverable { attempts, reason } => (attempts, reason),
    };
    crate::telemetry::webhook("undeliverable");
    crate::telemetry::dead_letter("webhook_undeliverable");
    let to = origin(&d.hook.url);
    tracing::warn!(delivery = %d.id, %to, attempts, %reason, "webhook undeliverable; dead-lettered");
    let detail = format!("{to}: {reason} after {attempts} attempt(s)");
    let headers: [(&str, &[u8]); 3] = [
        ("reason", b"webhook_undeliverable"),
        ("detail", detail.as_bytes()),
        ("delivery", d.id.as_bytes()),
    ];
    let record = Record {
        topic: Topic::DeadLetter,
        key: d.id.as_bytes(),
        payload: Some(&d.body),
        headers: &headers,
    };
    if let Err(e) = publisher.publish(&[record]).await {
        tracing::error!(delivery = %d.id, error = %e, "could not dead-letter an undeliverable webhook");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_body_and_time() {
        let body = br#"{"id":"a1"}"#;
        let header = sign(b"s3cret", 1_800_000_000, body);
        let ok = Duration::from_secs(300);
        assert!(verify(b"s3cret", &header, body, 1_800_000_010, ok));
        assert!(
            !verify(b"other", &header, body, 1_800_000_010, ok),
            "wrong secret"
        );
        assert!(
            !verify(b"s3cret", &header, br#"{"id":"a2"}"#, 1_800_000_010, ok),
            "body changed"
        );
        assert!(
            !verify(b"s3cret", &header, body, 1_800_001_000, ok),
            "too old: a replay"
        );
        let forged = header.replace("t=1800000000", "t=1800000900");
        assert!(
            !verify(b"s3cret", &forged, body, 1_800_000_900, ok),
            "timestamp changed"
        );
        assert!(
            !verify(b"s3cret", "v1=00", body, 1_800_000_000, ok),
            "no timestamp"
        );
        // A vector from another implementation (Python's hmac module), for receivers in
        // other languages to test against: HMAC-SHA256(key "key", "1.{}").
        assert_eq!(
            sign(b"key", 1, b"{}"),
            "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }

    #[test]
    fn the_origin_hides_paths_and_queries() {
        assert_eq!(
            origin("https://hooks.example.com/t/abc?token=x"),
            "https://hooks.example.com"
        );
        assert_eq!(origin("not a url"), "an unparseable URL");
    }

    /// What the receiver saw of one attempt.
    #[derive(Debug, Clone)]
    struct Seen {
        delivery: String,
        attempt: u32,
        signed: bool,
        status: u16,
    }

    #[derive(Default)]
    struct Receiver {
        seen: std::sync::Mutex<Vec<Seen>>,
    }

    const SECRET: &str = "whsec-test-0123456789";

    /// A receiver that fails on purpose, by the delivery id's prefix: `flaky` answers 503 twice,
    /// `slow` outlasts the client's timeout once, `busy` answers 429 with `Retry-After` once,
    /// `gone` answers 410 always, `hang` never answers in time; then (but for `gone` and
    /// `hang`) 200.
    async fn receive(
        axum::extract::State(rx): axum::extract::State<Arc<Receiver>>,
        headers: axum::http::HeaderMap,
        body: axum::body::Bytes,
    ) -> axum::response::Response {
        use axum::http::StatusCode;
        use axum::response::IntoResponse;
        let get = |h: &str| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let delivery = get(DELIVERY_HEADER);
        let attempt: u32 = get(ATTEMPT_HEADER).parse().unwrap_or(0);
        let signed = verify(
            SECRET.as_bytes(),
            &get(SIGNATURE_HEADER),
            &body,
            Utc::now().timestamp(),
            Duration::from_secs(300),
        );
        let (status, retry_after) = match delivery.split('-').next().unwrap_or_default() {
            "flaky" if attempt <= 2 => (StatusCode::SERVICE_UNAVAILABLE, None),
            "slow" if attempt == 1 => {
                // Seen, never answered in time: the client gives up and the connection (and
                // this handler) is dropped while it sleeps.
                rx.seen.lock().expect("lock").push(Seen {
                    delivery,
                    attempt,
                    signed,
                    status: 0,
                });
                tokio::time::sleep(Duration::from_secs(2)).await;
                return StatusCode::OK.into_response();
            }
            "busy" if attempt == 1 => (StatusCode::TOO_MANY_REQUESTS, Some("1")),
            "hang" => {
                // Never answers in time, on any attempt.
                tokio::time::sleep(Duration::from_secs(30)).await;
                return StatusCode::OK.into_response();
            }
            "gone" => (StatusCode::GONE, None),
            _ => (StatusCode::OK, None),
        };
        rx.seen.lock().expect("lock").push(Seen {
            delivery,
            attempt,
            signed,
            status: status.as_u16(),
        });
        match retry_after {
            Some(s) => (status, [("retry-after", s)]).into_response(),
            None => status.into_response(),
        }
    }

    #[test]
    fn only_public_addresses_are_public() {
        let not_public = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a9fe:a9fe",
            "64:ff9b:1:ffff::808:808",
            "2002:a9fe:a9fe::1",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ];
        for ip in not_public {
            assert!(!is_public(ip.parse().expect(ip)), "{ip} is not public");
        }
        let public = [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ];
        for ip in public {
            assert!(is_public(ip.parse().expect(ip)), "{ip} is public");
        }
    }

    /// Starts [`receive`] on a free loopback port.
    async fn spawn_receiver() -> (Arc<Receiver>, SocketAddr) {
        let rx = Arc::new(Receiver::default());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(rx.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (rx, addr)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn by_default_a_hook_at_a_private_address_is_never_connected_to() {
        let (rx, addr) = spawn_receiver().await;
        let port = addr.port();
        let defaults = WebhookSettings {
            max_attempts: 1,
            ..WebhookSettings::default()
        };
        let deliver_to = async |url: String, settings: &WebhookSettings| {
            let d = Delivery {
                id: "ok-1".into(),
                hook: Webhook {
                    url,
                    secret: SECRET.to_owned(),
                },
                body: b"{}".to_vec(),
            };
            deliver(&client(settings).expect("client"), &d, settings).await
        };
        // An address in the URL, in two spellings, and a name that resolves to loopback.
        for url in [
            format!("http://127.0.0.1:{port}/hook"),
            format!("http://2130706433:{port}/hook"),
            format!("http://[::ffff:127.0.0.1]:{port}/hook"),
            format!("http://localhost:{port}/hook"),
        ] {
            match deliver_to(url.clone(), &defaults).await {
                Outcome::Undeliverable { reason, .. } => assert!(
                    reason.contains("not a public address")
                        || reason.contains("resolves to no public address"),
                    "{url}: {reason}"
                ),
                other => panic!("{url}: {other:?}"),
            }
        }
        assert!(
            rx.seen.lock().expect("lock").is_empty(),
            "nothing reached it"
        );
        // With the operator's consent, the same hook is delivered to.
        let internal = WebhookSettings {
            private_addresses: true,
            ..defaults
        };
        assert_eq!(
            deliver_to(format!("http://localhost:{port}/hook"), &internal).await,
            Outcome::Delivered { attempts: 1 }
        );
        assert_eq!(rx.seen.lock().expect("lock").len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_receiver_that_hangs_holds_its_own_share_of_the_slots_not_the_others() {
        let (slow, slow_addr) = spawn_receiver().await;
        let (fast, fast_addr) = spawn_receiver().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let publisher = Arc::new(
            crate::embedded::LocalPublisher::open(dir.path(), 1 << 20).expect("publisher"),
        );
        // Each delivery to the hanging hook holds a slot for two 1 s timeouts and a wait.
        let settings = WebhookSettings {
            timeout: Duration::from_secs(1),
            max_attempts: 2,
            backoff: BackoffConfig {
                initial: Duration::from_millis(100),
                max: Duration::from_millis(100),
            },
            queue: 40,
            private_addresses: true,
        };
        let (sender, _task) = Sender::spawn(publisher.clone(), settings, 4).expect("sender");
        let queue = async |addr: SocketAddr, id: String| {
            let d = Delivery {
                id,
                hook: Webhook {
                    url: format!("http://{addr}/hook"),
                    secret: SECRET.to_owned(),
                },
                body: b"{}".to_vec(),
            };
            assert!(sender.send(&*publisher, d).await, "queued");
        };
        // One tenant's hook hangs on 25 events: past its share (half the queue, 20), the rest
        // are dead-lettered at once rather than wait for many minutes.
        for i in 0..25 {
            queue(slow_addr, format!("hang-{i}")).await;
        }
        let sent = std::time::Instant::now();
        for i in 0..3 {
            queue(fast_addr, format!("ok-{i}")).await;
        }
        // The other hook gets its events in well under one of the hanging deliveries (over
        // 2 s each): with all four slots held by the hanging hook, they would wait for them.
        loop {
            if fast.seen.lock().expect("lock").len() == 3 {
                break;
            }
            assert!(
                sent.elapsed() < Duration::from_secs(2),
                "the other hook waited behind the hanging one"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let dead = std::fs::read_to_string(publisher.dead_letter_path()).unwrap_or_default();
        let backed_up = dead.matches("backed up").count();
        assert_eq!(backed_up, 5, "25 events, 20 waiting or in flight: {dead}");
        assert!(
            slow.seen.lock().expect("lock").is_empty(),
            "no answer was recorded"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_receiver_still_gets_each_event_once_signed_and_refusals_are_dead_lettered() {
        let (rx, addr) = spawn_receiver().await;
        let url = format!("http://{addr}/hook?token=t0ps3cret");

        let dir = tempfile::tempdir().expect("tempdir");
        let publisher = Arc::new(
            crate::embedded::LocalPublisher::open(dir.path(), 1 << 20).expect("publisher"),
        );
        let settings = WebhookSettings {
            timeout: Duration::from_millis(500),
            max_attempts: 4,
            backoff: BackoffConfig {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(100),
            },
            queue: 100,
            // The receiver is on 127.0.0.1.
            private_addresses: true,
        };
        let (sender, _task) = Sender::spawn(publisher.clone(), settings, 4).expect("sender");
        let hook = Webhook {
            url,
            secret: SECRET.to_owned(),
        };
        let kinds = ["ok", "flaky", "slow", "busy", "gone"];
        let ids: Vec<String> = (0..20)
            .map(|i| format!("{}-{i}", kinds[i % kinds.len()]))
            .collect();
        for id in &ids {
            let body = serde_json::json!({ "id": id, "summary": "mentions ×8" }).to_string();
            let d = Delivery {
                id: id.clone(),
                hook: hook.clone(),
                body: body.into_bytes(),
            };
            assert!(sender.send(&*publisher, d).await, "queued");
        }

        let dead_letters =
            || std::fs::read_to_string(publisher.dead_letter_path()).unwrap_or_default();
        let acked = |seen: &[Seen], id: &str| {
            seen.iter()
                .filter(|s| s.delivery == id && s.status == 200)
                .count()
        };
        let gone: Vec<&String> = ids.iter().filter(|i| i.starts_with("gone")).collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let seen = rx.seen.lock().expect("lock").clone();
            let delivered = ids
                .iter()
                .filter(|i| !i.starts_with("gone"))
                .all(|i| acked(&seen, i) >= 1);
            let dead = dead_letters();
            if delivered && gone.iter().all(|g| dead.contains(g.as_str())) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not all delivered or dead-lettered in 30 s: {seen:?}\n{dead}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Give late retries a moment to show up, if there were any.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let seen = rx.seen.lock().expect("lock").clone();
        assert!(
            seen.iter().all(|s| s.signed),
            "every attempt signed: {seen:?}"
        );
        for id in ids.iter().filter(|i| !i.starts_with("gone")) {
            assert_eq!(
                acked(&seen, id),
                1,
                "{id} acknowledged exactly once: {seen:?}"
            );
            let attempts: Vec<u32> = seen
                .iter()
                .filter(|s| &s.delivery == id)
                .map(|s| s.attempt)
                .collect();
            let expected: &[u32] = match id.split('-').next().unwrap_or_default() {
                "flaky" => &[1, 2, 3],
                "slow" => &[1, 2],
                "busy" => &[1, 2],
                _ => &[1],
            };
            assert_eq!(attempts, expected, "{id}'s attempts");
        }
        // A refusal is final at once: one attempt, then the dead-letter file.
        for g in &gone {
            let tries = seen.iter().filter(|s| &s.delivery == *g).count();
            assert_eq!(tries, 1, "{g} is not retried after a 410");
        }
        let dead = dead_letters();
        assert_eq!(dead.lines().count(), gone.len(), "{dead}");
        for line in dead.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let text = v.to_string();
            assert!(text.contains("webhook_undeliverable"), "{text}");
            assert!(text.contains("410"), "the answer is named: {text}");
            assert!(
                !text.contains("t0ps3cret") && !text.contains(SECRET),
                "no secret: {text}"
            );
        }
    }
}
