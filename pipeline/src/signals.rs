//! Tenants' signals in the running pipeline: where they are stored, how a change reaches every
//! worker, and the commands that manage them.
//!
//! Signals live in the pipeline's store (redb in embedded mode, ScyllaDB in distributed mode)
//! next to a *revision* number that every change bumps. Each worker polls the revision every
//! [`RELOAD_EVERY`] and, when it moved, loads all signals, compiles them into one
//! [`Matcher`] off the async threads, and swaps it in atomically: a batch uses the matcher it
//! started with, so every match carries the rule version it was made with. A signal that fails to
//! compile is logged and skipped (one tenant's bad rule never blocks everyone's reload); saving
//! validates first, so that only happens to rules written around the CLI.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use transforms::signals::{Limits, Matcher, Signal, SignalOptions, SignalSet};

use crate::error::{Error, Result};

/// How often workers look for changed signals (the issue asks for changes within 5 s).
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// Storage of signals and their revision.
pub trait SignalStore: Send + Sync + 'static {
    /// The current revision; changes whenever any signal changes. Cheap: one small read.
    fn signal_revision(&self) -> impl Future<Output = Result<u64>> + Send;
    /// Every signal of every tenant, with the revision they were read at.
    fn load_signals(&self) -> impl Future<Output = Result<(u64, Vec<Signal>)>> + Send;
    /// Inserts or replaces a signal, then bumps the revision.
    fn put_signal(&self, signal: &Signal) -> impl Future<Output = Result<()>> + Send;
    /// Deletes a signal (true if it existed), then bumps the revision.
    fn delete_signal(&self, tenant: &str, id: &str) -> impl Future<Output = Result<bool>> + Send;
}

/// The matcher currently in force.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub revision: u64,
    pub matcher: Arc<Matcher>,
    pub signals: usize,
}

/// A shared, atomically swappable handle on the compiled signals.
#[derive(Debug, Clone)]
pub struct SignalsHandle(Arc<RwLock<Option<Compiled>>>);

impl Default for SignalsHandle {
    fn default() -> Self {
        SignalsHandle(Arc::new(RwLock::new(None)))
    }
}

impl SignalsHandle {
    /// The matcher to use for the next batch (None until signals exist).
    pub fn current(&self) -> Option<Arc<Matcher>> {
        let g = self.0.read().unwrap_or_else(|p| p.into_inner());
        g.as_ref()
            .filter(|c| c.signals > 0)
            .map(|c| c.matcher.clone())
    }

    pub fn revision(&self) -> Option<u64> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|c| c.revision)
    }

    fn swap(&self, c: Compiled) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(c);
    }

    /// Loads and compiles if the store's revision differs from ours. Returns whether it swapped.
    pub async fn refresh<S: SignalStore>(&self, store: &S) -> Result<bool> {
        let rev = store.signal_revision().await?;
        if self.revision() == Some(rev) {
            return Ok(false);
        }
        let (rev, signals) = store.load_signals().await?;
        let n = signals.len();
        let compiled = tokio::task::spawn_blocking(move || {
            let set = SignalSet { signals };
            let (matcher, errors) = Matcher::compile_lenient(
                &set,
                &Limits::default(),
                &transforms::signals::registry_fields,
            );
            for e in errors {
                tracing::warn!(error = %e, "signal skipped");
            }
            matcher
        })
        .await
        .map_err(|e| Error::internal("compiling signals", e))?;
        tracing::info!(revision = rev, signals = n, "signals reloaded");
        self.swap(Compiled {
            revision: rev,
            matcher: Arc::new(compiled),
            signals: n,
        });
        Ok(true)
    }

    /// Polls the store forever, swapping in new signals as they change.
    pub fn spawn_reloader<S: SignalStore>(&self, store: Arc<S>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = this.refresh(&*store).await {
                    tracing::warn!(error = %e, "signal reload failed; keeping the current matcher");
                }
                tokio::time::sleep(RELOAD_EVERY).await;
            }
        })
    }
}

/// Checks a query as it would be compiled; the error names the position and what was expected.
pub fn validate(tenant: &str, id: &str, query: &str, options: SignalOptions) -> Result<()> {
    let ok_name = crate::tenants::valid_name;
    if !ok_name(tenant) || !ok_name(id) {
        return Err(Error::Config(
            "tenant and signal ids are 1-128 characters of letters, digits, '-', '_' or '.'".into(),
        ));
    }
    if id == "test" {
        // The API's `/v1/signals/test` tries a query; a signal of that id could not be read.
        return Err(Error::Config(
            "\"test\" is not a signal id: POST /v1/signals/test tries a query".into(),
        ));
    }
    transforms::signals::parse(
        query,
        options,
        &Limits::default(),
        &transforms::signals::registry_fields,
    )
    .map(|_| ())
    .map_err(|e| Error::Config(format!("query: {e}")))
}

/// Validates and saves a signal, bumping its version past any stored one. Returns the version.
pub async fn put<S: SignalStore>(
    store: &S,
    tenant: &str,
    id: &str,
    query: &str,
    options: SignalOptions,
) -> Result<u64> {
    validate(tenant, id, query, options)?;
    let (_, existing) = store.load_signals().await?;
    let version = existing
        .iter()
        .find(|s| s.tenant == tenant && s.id == id)
        .map_or(1, |s| s.version + 1);
    let signal = Signal {
        tenant: tenant.into(),
        id: id.into(),
        version,
        query: query.into(),
        options,
    };
    store.put_signal(&signal).await?;
    Ok(version)
}
