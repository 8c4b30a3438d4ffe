//! The Redis cache: the compact records clients fetch by id (read-through, with a TTL) and the
//! near-duplicate cluster index the workers share — both best effort.
//!
//! A deleted mention's key holds an empty value for [`DELETED_HOLD`], which `get` reads as a miss
//! and a reader's fill (`SET NX`) leaves, so a read that began before the deletion cannot cache
//! the mention again; a deletion Redis could not take is marked at the next call.
//!
//! A cache must never hold the pipeline back. Every call is bounded by `redis.timeout`; failures
//! are counted; after [`FAILURES_TO_OPEN`] consecutive failures a circuit breaker skips Redis for
//! [`OPEN_FOR`], then lets one call probe it. The connection is a `ConnectionManager`, which
//! reconnects by itself, created lazily so a worker starts even while Redis is down.
//!
//! TLS: a `rediss://` URL connects over rustls (the `ring` provider), checking the server's
//! certificate and host name against the system's roots or, with `redis.ca_file`, that CA only.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::Mutex as AsyncMutex;

use crate::error::{Error, Result};
use crate::telemetry;
use crate::traits::{Cache, ClusterProbe, DELETED_HOLD};

/// Consecutive failures that open the breaker.
pub const FAILURES_TO_OPEN: u32 = 3;
/// Bound on establishing the connection (commands have `redis.timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the breaker stays open before a probe.
pub const OPEN_FOR: Duration = Duration::from_secs(5);

/// Near-duplicate clusters shared by every worker: each band key is a Redis key holding the id of
/// the cluster that claimed it, expiring after the cluster window. One call per batch, atomic, so
/// two workers never both claim a key, and mentions later in the batch see earlier ones' claims.
const CLUSTER_SCRIPT: &str = r"
-- KEYS: none. ARGV: window in ms, keys per mention, then per mention its id and its band keys.
local px = tonumber(ARGV[1])
local bands = tonumber(ARGV[2])
local out = {}
local i = 3
while i <= #ARGV do
  local cluster = nil
  local free = {}
  for b = 1, bands do
    local key = ARGV[i + b]
    local held = redis.call('GET', key)
    if not held then
      free[#free + 1] = key
    elseif not cluster then
      cluster = held
    end
  end
  cluster = cluster or ARGV[i]
  for _, key in ipairs(free) do
    redis.call('SET', key, cluster, 'PX', px)
  end
  out[#out + 1] = cluster
  i = i + 1 + bands
end
return out
";

/// The Redis key of a band key.
fn band_key(key: u64) -> String {
    format!("bc:nd:{key:016x}")
}

/// Ids of deletions not yet marked in Redis (it could not be reached), kept for the next call
/// up to this many bytes; past it, the newest are dropped and counted as cache errors.
pub const MAX_UNMARKED_BYTES: usize = 1 << 20;

#[derive(Debug, Default)]
struct Unmarked {
    ids: Vec<String>,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    /// When the breaker first opened in the current outage (logged once, and its end).
    down_since: Option<Instant>,
}

/// The distributed cache.
pub struct RedisCache {
    client: redis::Client,
    conn: AsyncMutex<Option<ConnectionManager>>,
    breaker: Mutex<Breaker>,
    unmarked: Mutex<Unmarked>,
    timeout: Duration,
    ttl_secs: u64,
    cluster_script: redis::Script,
    cluster_window_ms: u64,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A client for `url`; with a `rediss://` URL and `ca_file`, trusting the PEM CA(s) in it instead
/// of the system's roots. Connects lazily.
pub fn client(url: &str, ca_file: Option<&Path>) -> Result<redis::Client> {
    // The redis crate builds its rustls config with the process-wide provider; name ours so a
    // second provider compiled in by some dependency can never leave it ambiguous. An error only
    // says one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match ca_file {
        None => redis::Client::open(url),
        Some(path) => {
            let root_cert = std::fs::read(path).map_err(|e| {
                Error::Config(format!(
                    "redis.ca_file: cannot read {}: {e}",
                    path.display()
                ))
            })?;
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert),
            };
            redis::Client::build_with_tls(url, certs)
        }
    }
    .map_err(|e| Error::Config(format!("redis.url / redis.ca_file: {e}")))
}

impl RedisCache {
    /// `ca_file`: with a `rediss://` URL, the PEM CA(s) to trust instead of the system's roots.
    pub fn new(
        url: &str,
        ca_file: Option<&Path>,
        timeout: Duration,
        ttl: Duration,
    ) -> Result<RedisCache> {
        let client = client(url, ca_file)?;
        Ok(RedisCache {
            client,
            conn: AsyncMutex::new(None),
            breaker: Mutex::default(),
            unmarked: Mutex::default(),
            timeout,
            ttl_secs: ttl.as_secs().max(1),
            cluster_script: redis::Script::new(CLUSTER_SCRIPT),
            cluster_window_ms: crate::traits::DEFAULT_CLUSTER_WINDOW.as_millis() as u64,
        })
    }

    /// The same cache with near-duplicate claims kept for `window` (Redis holds about 4 keys of
    /// ~130 bytes per mention of the window).
    pub fn with_cluster_window(mut self, window: Duration) -> RedisCache {
        self.cluster_window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        self
    }

    /// Deletions waiting to be marked (Redis could not be reached when they came).
    pub fn unmarked_deletions(&self) -> usize {
        let unmarked = self.unmarked.lock().unwrap_or_else(|p| p.into_inner());
        unmarked.ids.len()
    }

    /// Whether calls are currently skipped.
    pub fn breaker_open(&self) -> bool {
        let b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        b.open_until.is_some_and(|t| Instant::now() < t)
    }

    fn allowed(&self) -> bool {
        let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        match b.open_until {
            Some(t) if Instant::now() < t => false,
            Some(_) => {
                // Half-open: let this call probe; a failure re-opens at once.
                b.open_until = None;
                b.failures = FAILURES_TO_OPEN - 1;
                true
            }
            None => true,
        }
    }

    /// Counts a call's outcome. The first failure that opens the breaker in an outage is logged
    /// with its cause, and the first success after it, so the log says when and why without a
    /// line per failed call.
    fn record(&self, op: &'static str, failure: Option<&Error>) {
        let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        match failure {
            None => {
                b.failures = 0;
                if let Some(since) = b.down_since.take() {
                    tracing::info!(after = ?since.elapsed(), "Redis cache answering again");
                }
            }
            Some(e) => {
                telemetry::cache_error(op);
                b.failures += 1;
                if b.failures >= FAILURES_TO_OPEN {
                    b.open_until = Some(Instant::now() + OPEN_FOR);
                    if b.down_since.is_none() {
                        b.down_since = Some(Instant::now());
                        tracing::warn!(
                            error = %e,
                            "Redis cache failing; skipping it for {OPEN_FOR:?} at a time until it answers"
                        );
                    }
                }
            }
        }
        telemetry::cache_breaker(b.open_until.is_some());
    }

    /// Runs `f` on the connection within the timeout, through the breaker.
    async fn call<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if !self.allowed() {
            telemetry::cache_error(op);
            return Err(Error::Cache {
                what: "circuit breaker open".into(),
                source: None,
            });
        }
        let conn = {
            let mut slot = self.conn.lock().await;
            match &*slot {
                Some(c) => c.clone(),
                None => {
                    // Connecting gets its own, longer bound than a command.
                    let connect = ConnectionManager::new(self.client.clone());
                    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                        Ok(Ok(c)) => {
                            *slot = Some(c.clone());
                            c
                        }
                        Ok(Err(e)) => {
                            let e = Error::cache("connect", e);
                            self.record(op, Some(&e));
                            return Err(e);
                        }
                        Err(_) => {
                            let e = Error::Cache {
                                what: "connect: timed out".into(),
                                source: None,
                            };
                            self.record(op, Some(&e));
                            return Err(e);
                        }
                    }
                }
            }
        };
        let result = match tokio::time::timeout(self.timeout, f(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Error::cache(op, e)),
            Err(_) => Err(Error::Cache {
                what: format!("{op}: timed out after {:?}", self.timeout),
                source: None,
            }),
        };
        self.record(op, result.as_ref().err());
        result
    }
}

impl RedisCache {
    /// Marks deleted mentions (an empty value for [`DELETED_HOLD`]); those that cannot be marked
    /// now are kept for the next call, within [`MAX_UNMARKED_BYTES`].
    async fn mark_deleted(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        let hold = DELETED_HOLD.as_millis() as u64;
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("SET")
                .arg(format!("bc:m:{id}"))
                .arg(b"")
                .arg("PX")
                .arg(hold)
                .ignore();
        }
        let marked = self
            .call("deleted", |mut c| async move {
                pipe.query_async::<()>(&mut c).await
            })
            .await;
        if marked.is_err() {
            let mut unmarked = self.unmarked.lock().unwrap_or_else(|p| p.into_inner());
            for id in ids {
                if unmarked.bytes + id.len() > MAX_UNMARKED_BYTES {
                    telemetry::cache_error("deleted_dropped");
                    continue;
                }
                unmarked.bytes += id.len();
                unmarked.ids.push(id);
            }
        }
    }

    /// Marks the deletions an earlier call could not, before this call reads or fills.
    async fn catch_up(&self) {
        let ids = {
            let mut unmarked = self.unmarked.lock().unwrap_or_else(|p| p.into_inner());
            if unmarked.ids.is_empty() || self.breaker_open() {
                return;
            }
            unmarked.bytes = 0;
            std::mem::take(&mut unmarked.ids)
        };
        self.mark_deleted(ids).await;
    }
}

impl Cache for RedisCache {
    async fn forget(&self, ids: &[String]) {
        self.catch_up().await;
        let keys: Vec<String> = ids.iter().map(|id| format!("bc:m:{id}")).collect();
        let _ = self
            .call("forget", |mut c| async move { c.del::<_, ()>(keys).await })
            .await;
    }

    async fn deleted(&self, ids: &[String]) {
        self.catch_up().await;
        self.mark_deleted(ids.to_vec()).await;
    }

    async fn fill(&self, id: &str, record: &[u8]) {
        self.catch_up().await;
        let (key, ttl) = (format!("bc:m:{id}"), self.ttl_secs);
        let record = record.to_vec();
        // Never over a deletion's mark (nor over a record another reader filled first).
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::EX(ttl));
        let _ = self
            .call("fill", |mut c| async move {
                c.set_options::<_, _, ()>(key, record, options).await
            })
            .await;
    }

    async fn get(&self, id: &str) -> Result<Option<Vec<u8>>> {
        self.catch_up().await;
        let key = format!("bc:m:{id}");
        let got: Option<Vec<u8>> = self
            .call("get", |mut c| async move { c.get(key).await })
            .await?;
        // An empty value marks a deletion.
        let got = got.filter(|r| !r.is_empty());
        telemetry::cache_hit(got.is_some());
        Ok(got)
    }

    async fn clusters(&self, probes: &[ClusterProbe<'_>]) -> Vec<Option<Arc<str>>> {
        self.catch_up().await;
        if probes.is_empty() {
            return Vec::new();
        }
        let mut inv = self.cluster_script.prepare_invoke();
        inv.arg(self.cluster_window_ms)
            .arg(transforms::dedup::cluster::BANDS);
        for p in probes {
            inv.arg(p.id);
            for &k in &p.keys {
                inv.arg(band_key(k));
            }
        }
        let got = self
            .call("clusters", |mut c| async move {
                inv.invoke_async::<Vec<String>>(&mut c).await
            })
            .await;
        match got {
            Ok(ids) if ids.len() == probes.len() => {
                ids.into_iter().map(|id| Some(Arc::from(id))).collect()
            }
            _ => vec![None; probes.len()],
        }
    }
}
