//! The alerting loop: every few seconds, each signal's detector is fed the minutes that closed
//! since it last looked (from the store's per-minute aggregates), and what it opens, updates or
//! resolves is explained, stored, published (the alerts topic; embedded, the live streams) and
//! sent to the tenant's webhook.
//!
//! One code path for both modes. Distributed, signals are split into shards and a worker runs a
//! shard's detectors only while it holds that shard's lease ([`AlertStore::lease`]), so one
//! incident is one alert however many workers run. A detector is saved after every pass, and an
//! alert's id is derived from its signal, kind and start, so a worker that dies between sending
//! and saving sends the same event again under the same id (receivers deduplicate by it), never a
//! second incident.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::detect::{DetectorConfig, Incident, SignalDetector, Transition};
use super::explain::{self, Period, Sample};
use super::webhook::{self, Delivery, Sender, WebhookSettings};
use super::{Alert, AlertState, AlertStore};
use crate::aggregate::minute_of;
use crate::codec::Codec;
use crate::config::AlertsConfig;
use crate::error::{Error, Result};
use crate::signals::SignalStore;
use crate::traits::{Before, Publisher, Record, Store, Topic};

/// Mentions read from the store to explain an incident: from its window, and from before it.
const WINDOW_SAMPLES: usize = 400;
const BASELINE_SAMPLES: usize = 400;
/// Near-duplicates: simhashes this close (in differing bits) fold into one example.
const NEAR_DUPLICATE_BITS: u32 = 6;

/// The `[alerts]` settings, parsed.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub every: Duration,
    pub settle: Duration,
    pub history: Duration,
    pub stale: Duration,
    pub shards: i32,
    pub lease_ttl: Duration,
    pub webhook: WebhookSettings,
    pub webhook_concurrency: usize,
    pub detector: DetectorConfig,
}

impl AlertsConfig {
    /// Parses and checks the section; every error names its key.
    pub fn settings(&self) -> Result<AlertSettings> {
        let d = |key: &str, v: &str| crate::config::duration(&format!("alerts.{key}"), v);
        if self.shards < 1 {
            return Err(Error::Config(format!(
                "alerts.shards: expected at least 1, got {}",
                self.shards
            )));
        }
        if self.webhook_attempts < 1 || self.webhook_concurrency < 1 {
            return Err(Error::Config(
                "alerts.webhook_attempts and alerts.webhook_concurrency: expected at least 1"
                    .into(),
            ));
        }
        let every = d("every", &self.every)?;
        let lease_ttl = d("lease_ttl", &self.lease_ttl)?;
        if lease_ttl < every * 2 {
            return Err(Error::Config(format!(
                "alerts.lease_ttl: must be at least twice alerts.every ({every:?}), or a lease \
                 lapses between renewals; got {lease_ttl:?}"
            )));
        }
        self.detector.validate()?;
        Ok(AlertSettings {
            every,
            settle: d("settle", &self.settle)?,
            history: d("history", &self.history)?,
            stale: d("stale", &self.stale)?,
            shards: self.shards,
            lease_ttl,
            webhook: WebhookSettings {
                timeout: d("webhook_timeout", &self.webhook_timeout)?,
                max_attempts: self.webhook_attempts,
                private_addresses: self.webhook_private_addresses,
                ..WebhookSettings::default()
            },
            webhook_concurrency: self.webhook_concurrency,
            detector: self.detector.clone(),
        })
    }
}

/// What is saved per signal: its detector and the last minute it was fed.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Saved {
    pub detector: SignalDetector,
    pub last: Option<DateTime<Utc>>,
    /// Incidents whose `opened` went out and whose `resolved` has not: what clients hold open.
    #[serde(default)]
    pub announced: std::collections::BTreeSet<String>,
    /// The query (and options) the detector learned on ([`query_key`]); absent in detectors
    /// saved before it was kept, which take the signal's current query as theirs.
    #[serde(default)]
    pub query: Option<String>,
}

/// What identifies a signal's query for its detector: a digest of the query and its options. A
/// PUT that changes neither keeps the detector, though it bumps the version.
pub fn query_key(s: &transforms::signals::Signal) -> String {
    let options = serde_json::to_string(&s.options).unwrap_or_default();
    crate::tenants::hex(&digest(&format!("{}\0{options}", s.query)).as_ref()[..12])
}

/// SHA-256 of `key`: stable across processes and releases, which ids and shards must be.
fn digest(key: &str) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, key.as_bytes())
}

/// The shard of a signal, so every process agrees.
pub fn shard_of(tenant: &str, signal: &str, shards: i32) -> i32 {
    let d = digest(&format!("{tenant}/{signal}"));
    let h = u64::from_le_bytes(d.as_ref()[..8].try_into().unwrap_or_default());
    (h % shards.max(1) as u64) as i32
}

/// An incident's id: the same for every event of it, and for the same incident seen again.
pub fn alert_id(tenant: &str, signal: &str, i: &Incident) -> String {
    let kind = serde_json::to_string(&i.kind).unwrap_or_default();
    let key = format!("{tenant}/{signal}/{kind}/{}", i.started_at.timestamp());
    crate::tenants::hex(&digest(&key).as_ref()[..12])
}

impl<S, P> std::fmt::Debug for Engine<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("owner", &self.owner)
            .field("settings", &self.settings)
            .finish()
    }
}

/// The loop, for one process.
pub struct Engine<S, P> {
    store: Arc<S>,
    publisher: Arc<P>,
    settings: AlertSettings,
    webhooks: Sender,
    codec: Codec,
    /// This process's name in the leases.
    owner: String,
    /// Per signal, the settled minute this process last brought it up to: a pass before the
    /// next minute settles has nothing to do and reads nothing (5 passes in 6 at the defaults).
    done: std::sync::Mutex<std::collections::HashMap<(String, String), DateTime<Utc>>>,
    /// The shards whose stored detectors were checked for deleted signals since this process
    /// last took them.
    swept: std::sync::Mutex<HashSet<i32>>,
}

impl<S, P> Engine<S, P>
where
    S: Store + SignalStore + AlertStore,
    P: Publisher,
{
    /// Starts the webhook sender; [`Engine::run`] then runs the loop.
    pub fn new(store: Arc<S>, publisher: Arc<P>, settings: AlertSettings) -> Result<Engine<S, P>> {
        let (webhooks, _task) = Sender::spawn(
            publisher.clone(),
            settings.webhook,
            settings.webhook_concurrency,
        )?;
        let owner = format!(
            "{}-{}-{:x}",
            hostname(),
            std::process::id(),
            Utc::now().timestamp_micros()
        );
        Ok(Engine {
            store,
            publisher,
            settings,
            webhooks,
            codec: Codec::default(),
            owner,
            done: Default::default(),
            swept: Default::default(),
        })
    }

    /// Runs passes every `every`, forever; a failed pass is logged and the next one retries.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.settings.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.pass(Utc::now()).await {
                tracing::warn!(error = %e, "alert pass failed; will retry");
            }
        }
    }

    /// One pass at `now`: every signal of a shard this process holds, brought up to the last
    /// settled minute. Returns the alert events it produced.
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<Vec<Alert>> {
        // No minute is read past what the aggregates are known to count: distributed, they are
        // recomputed after the writes, and a worker that started while marks were pending (its
        // predecessor stored mentions and stopped before rolling them up) would otherwise learn
        // those minutes short, and never look at them again. Until its first rollup a process
        // takes no shard.
        let read_to = self.store.counted_before().map_or(now, |c| c.min(now));
        if read_to == DateTime::<Utc>::MIN_UTC {
            tracing::debug!("no rollup finished yet: alerting waits for one");
            return Ok(Vec::new());
        }
        let renewed = std::time::Instant::now();
        let shards = self.lease(0..self.settings.shards).await;
        let mut held = Held { shards, renewed };
        if held.shards.is_empty() {
            return Ok(Vec::new());
        }
        let (_, signals) = self.store.load_signals().await?;
        // Forget deleted signals, so the map stays the size of the signal table; incidents
        // they had open are resolved first, so no client keeps one open for ever.
        let live: HashSet<(&str, &str)> = signals
            .iter()
            .map(|s| (s.tenant.as_str(), s.id.as_str()))
            .collect();
        let shards = self.settings.shards;
        let mut gone: BTreeSet<(String, String)> = {
            let mut done = self.done_map();
            // A shard since taken over is its new holder's to close.
            done.retain(|(t, s), _| {
                live.contains(&(t.as_str(), s.as_str()))
                    || held.shards.contains(&shard_of(t, s, shards))
            });
            done.keys()
                .filter(|(t, s)| !live.contains(&(t.as_str(), s.as_str())))
                .cloned()
                .collect()
        };
        // A shard newly held may keep the detector of a signal deleted while no process ran it
        // (all were down, or its holder restarted): this process never ran it, so only the
        // stored detectors tell.
        let fresh: HashSet<i32> = {
            let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
            swept.retain(|s| held.shards.contains(s));
            held.shards.difference(&swept).copied().collect()
        };
        if !fresh.is_empty() {
            match self.store.detectors().await {
                Ok(all) => {
                    gone.extend(all.into_iter().filter(|(t, s)| {
                        !live.contains(&(t.as_str(), s.as_str()))
                            && fresh.contains(&shard_of(t, s, shards))
                    }));
                    let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
                    swept.extend(fresh);
                }
                Err(e) => tracing::warn!(error = %e, "listing saved detectors failed; will retry"),
            }
        }
        let mut events = Vec::new();
        for (tenant, signal) in gone {
            match self.close_deleted(&tenant, &signal).await {
                Ok(mut e) => {
                    events.append(&mut e);
                    self.done_map().remove(&(tenant, signal));
                }
                Err(e) => {
                    tracing::warn!(%tenant, %signal, error = %e, "resolving a deleted signal's incidents failed");
                    // Kept among the signals this process ran, so the next pass tries again.
                    self.done_map()
                        .entry((tenant, signal))
                        .or_insert(DateTime::<Utc>::MIN_UTC);
                }
            }
        }
        for s in signals {
            let shard = shard_of(&s.tenant, &s.id, self.settings.shards);
            if self.holds(&mut held, shard).await {
                match self.signal(&s, now, read_to, &mut held).await {
                    Ok(mut e) => events.append(&mut e),
                    Err(e) => {
                        tracing::warn!(tenant = %s.tenant, signal = %s.id, error = %e, "alerting a signal failed")
                    }
                }
            }
        }
        Ok(events)
    }

    /// Whether this process still holds `shard`. A long pass (catching up after an outage, or
    /// on a slow broker) renews every lease it holds once a third of `alerts.lease_ttl` has
    /// passed since the last renewal, so none lapses while it works, and leaves a shard it lost
    /// meanwhile to the holder that took it.
    async fn holds(&self, held: &mut Held, shard: i32) -> bool {
        if held.shards.contains(&shard) && held.renewed.elapsed() > self.settings.lease_ttl / 3 {
            held.renewed = std::time::Instant::now();
            let mine: Vec<i32> = held.shards.iter().copied().collect();
            held.shards = self.lease(mine.into_iter()).await;
        }
        held.shards.contains(&shard)
    }

    /// Takes or renews the lease on each of `shards`; returns those this process holds now.
    async fn lease(&self, shards: impl Iterator<Item = i32>) -> HashSet<i32> {
        let mut held = HashSet::new();
        for shard in shards {
            match self
                .store
                .lease(shard, &self.owner, self.settings.lease_ttl)
                .await
            {
                Ok(true) => {
                    held.insert(shard);
                }
                Ok(false) => {}
                Err(e) => tracing::debug!(shard, error = %e, "alert lease not taken"),
            }
        }
        held
    }

    /// Feeds one signal's detector the minutes that settled since it last looked: those that
    /// ended `alerts.settle` before `read_to` (`now`, or earlier where the aggregates are
    /// complete only up to then).
    async fn signal(
        &self,
        s: &transforms::signals::Signal,
        now: DateTime<Utc>,
        read_to: DateTime<Utc>,
        held: &mut Held,
    ) -> Result<Vec<Alert>> {
        let (tenant, signal) = (s.tenant.as_str(), s.id.as_str());
        let shard = shard_of(tenant, signal, self.settings.shards);
        let settle = chrono::Duration::from_std(self.settings.settle).unwrap_or_default();
        let history = chrono::Duration::from_std(self.settings.history).unwrap_or_default();
        let stale = chrono::Duration::from_std(self.settings.stale).unwrap_or_default();
        // Minutes before `upto` are closed and settled.
        let upto = minute_of(read_to - settle);
        let key = (tenant.to_owned(), signal.to_owned());
        if self.done_map().get(&key) == Some(&upto) {
            return Ok(Vec::new());
        }
        let mut saved: Saved = match self.store.detector(tenant, signal).await? {
            Some(json) => serde_json::from_str(&json).unwrap_or_else(|e| {
                tracing::warn!(%tenant, %signal, error = %e, "a saved detector is unreadable; learning again");
                Saved::default()
            }),
            None => Saved::default(),
        };
        // An edited query counts other mentions: what the detector learned (and the stored
        // minutes before the edit) say nothing of them. Its open incidents are resolved, and it
        // learns afresh from the edit on, alerting once warmed up again.
        let query = query_key(s);
        let mut events = Vec::new();
        match &saved.query {
            Some(q) if *q != query => {
                let closed = self.close(tenant, signal, &mut saved, Closed::Edited);
                events = closed.await?.unwrap_or_default();
                saved = Saved {
                    last: Some(upto - chrono::Duration::minutes(1)),
                    query: Some(query),
                    ..Saved::default()
                };
                self.save(tenant, signal, &saved).await?;
            }
            Some(_) => {}
            None => saved.query = Some(query),
        }
        let from = match saved.last {
            Some(last) => last + chrono::Duration::minutes(1),
            None => upto - history,
        }
        .max(upto - history);
        // The signal's own thresholds; unreadable or out of range for this process's defaults
        // (the API checked them against the built-in ones): the defaults, with a warning.
        let own = if from < upto {
            self.store.alert_settings(tenant, signal).await?
        } else {
            None
        };
        if own.as_ref().is_some_and(|s| !s.enabled()) {
            let closed = self.close(tenant, signal, &mut saved, Closed::TurnedOff);
            if let Some(mut closed) = closed.await? {
                self.save(tenant, signal, &saved).await?;
                events.append(&mut closed);
            }
            self.done_map().insert(key, upto);
            return Ok(events);
        }
        if from >= upto {
            self.done_map().insert(key, upto);
            return Ok(events);
        }
        let cfg = match own.map(|s| s.apply(&self.settings.detector)) {
            Some(Ok(cfg)) => cfg,
            Some(Err(e)) => {
                tracing::warn!(%tenant, %signal, error = %e, "a signal's alert settings do not fit this process's [alerts.detector]; using the defaults");
                self.settings.detector.clone()
            }
            None => self.settings.detector.clone(),
        };
        let topic = crate::runtime::signal_topic(tenant, signal);
        let series = self.store.series(&topic, from, upto).await?;
        let mut by_minute: std::collections::HashMap<_, _> = series.into_iter().collect();
        let mut minute = from;
        while minute < upto {
            // Held still, or another process has the signal now and resumes it from the
            // detector as last saved: this one tells nothing more of it.
            if !self.holds(held, shard).await {
                tracing::info!(%tenant, %signal, "lost the shard's lease while catching up; its new holder goes on");
                return Ok(events);
            }
            let agg = by_minute.remove(&minute).unwrap_or_default();
            let told_before = events.len();
            // A minute counts as done once all its events went out. One that fails part-way
            // is undone and the minutes before it saved, so the next pass sends again only
            // this minute's events (under the same ids), not every event of this pass.
            let before = (saved.detector.clone(), saved.announced.clone());
            let told: Result<()> = async {
                for t in saved.detector.observe(&cfg, minute, &agg) {
                    let id = alert_id(tenant, signal, t.incident());
                    let stale = t.incident().at < now - stale;
                    let Some(state) = announce(t.state(), saved.announced.contains(&id), stale)
                    else {
                        tracing::debug!(%tenant, %signal, at = %t.incident().at, "a past incident learned, not alerted");
                        continue;
                    };
                    let mut alert = self.alert(tenant, signal, &topic, &t).await?;
                    alert.state = state;
                    self.deliver(&alert).await?;
                    match state {
                        AlertState::Opened => saved.announced.insert(id),
                        AlertState::Resolved => saved.announced.remove(&id),
                        AlertState::Updated => false,
                    };
                    events.push(alert);
                }
                Ok(())
            }
            .await;
            if let Err(e) = told {
                (saved.detector, saved.announced) = before;
                saved.last = Some(minute - chrono::Duration::minutes(1));
                let _ = self.save(tenant, signal, &saved).await;
                return Err(e);
            }
            // What was told is saved at once: a process that takes the signal over later in
            // this pass (this one stalled past its lease) resumes after it, not before.
            if events.len() > told_before {
                saved.last = Some(minute);
                self.save(tenant, signal, &saved).await?;
            }
            minute += chrono::Duration::minutes(1);
        }
        saved.last = Some(upto - chrono::Duration::minutes(1));
        self.save(tenant, signal, &saved).await?;
        self.done_map().insert(key, upto);
        Ok(events)
    }

    /// Resolves the incidents `saved` has open, because the signal's alerts were turned off,
    /// it was deleted or its query changed: each announced one is told `resolved`, saying why.
    /// `None` when none was open (`saved` is unchanged).
    async fn close(
        &self,
        tenant: &str,
        signal: &str,
        saved: &mut Saved,
        why: Closed,
    ) -> Result<Option<Vec<Alert>>> {
        let closed = saved.detector.close();
        if closed.is_empty() {
            return Ok(None);
        }
        let topic = crate::runtime::signal_topic(tenant, signal);
        let mut events = Vec::new();
        for t in closed {
            let id = alert_id(tenant, signal, t.incident());
            if !saved.announced.remove(&id) {
                continue;
            }
            let mut alert = self.alert(tenant, signal, &topic, &t).await?;
            alert.summary = format!("{} {}", why.as_str(), alert.summary);
            self.deliver(&alert).await?;
            events.push(alert);
        }
        Ok(Some(events))
    }

    /// Resolves the incidents a deleted signal had open, and forgets its detector.
    async fn close_deleted(&self, tenant: &str, signal: &str) -> Result<Vec<Alert>> {
        let saved = self.store.detector(tenant, signal).await?;
        // Unreadable: nothing can be told of it.
        let events = match saved.and_then(|j| serde_json::from_str::<Saved>(&j).ok()) {
            Some(mut saved) => {
                let closed = self
                    .close(tenant, signal, &mut saved, Closed::Deleted)
                    .await;
                // Saved before it is forgotten, so a failure here leaves what was told kept.
                match closed? {
                    Some(events) => {
                        self.save(tenant, signal, &saved).await?;
                        events
                    }
                    None => Vec::new(),
                }
            }
            None => Vec::new(),
        };
        self.store.delete_detector(tenant, signal).await?;
        Ok(events)
    }

    /// Saves a signal's detector.
    async fn save(&self, tenant: &str, signal: &str, saved: &Saved) -> Result<()> {
        let json = serde_json::to_string(saved)
            .map_err(|e| Error::internal("serialising a detector", e))?;
        self.store.put_detector(tenant, signal, &json).await
    }

    fn done_map(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, String), DateTime<Utc>>> {
        self.done.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The alert of a transition, explained from the store's mentions.
    async fn alert(
        &self,
        tenant: &str,
        signal: &str,
        topic: &str,
        t: &Transition,
    ) -> Result<Alert> {
        let i = t.incident();
        let end = i.at + chrono::Duration::minutes(1);
        let window = self
            .samples(topic, end, WINDOW_SAMPLES, |at| at >= i.started_at)
            .await?;
        let baseline = self
            .samples(topic, i.started_at, BASELINE_SAMPLES, |_| true)
            .await?;
        let window_minutes = (end - i.started_at).num_seconds() as f64 / 60.0;
        // The baseline sample spans from its oldest mention to the incident's start.
        let baseline_minutes = baseline
            .iter()
            .map(|(at, _)| *at)
            .min()
            .map_or(0.0, |oldest| {
                ((i.started_at - oldest).num_seconds() as f64 / 60.0).max(1.0)
            });
        let window: Vec<Sample> = fold_duplicates(window);
        let baseline: Vec<Sample> = fold_duplicates(baseline);
        let (drivers, examples) = explain::explain(
            Period {
                samples: &window,
                minutes: window_minutes,
            },
            Period {
                samples: &baseline,
                minutes: baseline_minutes,
            },
            Some((&i.hashtags, &i.baseline_hashtags)),
        );
        Ok(Alert {
            id: alert_id(tenant, signal, i),
            tenant: tenant.to_owned(),
            signal: signal.to_owned(),
            kind: i.kind,
            state: t.state(),
            started_at: i.started_at,
            at: i.at,
            observed: i.observed,
            expected: i.expected,
            score: i.score,
            mentions: i.mentions,
            summary: explain::summary(i.kind, i.observed, i.expected, &drivers),
            drivers,
            examples,
        })
    }

    /// Up to `limit` mentions of `topic` created before `before` (newest first) that `keep`
    /// accepts by creation time, as samples with their creation time.
    async fn samples(
        &self,
        topic: &str,
        before: DateTime<Utc>,
        limit: usize,
        keep: impl Fn(DateTime<Utc>) -> bool,
    ) -> Result<Vec<(DateTime<Utc>, Sample)>> {
        let page = Before {
            created_ms: before.timestamp_millis(),
            id: String::new(),
        };
        let records = self.store.recent(topic, limit, Some(&page)).await?;
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            let json = self.codec.to_json(&*self.store, &r).await?;
            let Ok(v) = serde_json::from_slice::<Value>(&json) else {
                continue;
            };
            if let Some((at, s)) = sample(&v)
                && at < before
                && keep(at)
            {
                out.push((at, s));
            }
        }
        Ok(out)
    }

    /// Stores the alert, publishes it and queues its webhook.
    async fn deliver(&self, alert: &Alert) -> Result<()> {
        self.store.put_alert(alert).await?;
        let body =
            serde_json::to_vec(alert).map_err(|e| Error::internal("serialising an alert", e))?;
        let headers: [(&str, &[u8]); 2] = [
            ("tenant", alert.tenant.as_bytes()),
            ("signal", alert.signal.as_bytes()),
        ];
        self.publisher
            .publish(&[Record {
                topic: Topic::Alerts,
                key: alert.id.as_bytes(),
                payload: Some(&body),
                headers: &headers,
            }])
            .await?;
        crate::telemetry::alert(alert.kind, alert.state);
        tracing::info!(tenant = %alert.tenant, signal = %alert.signal, id = %alert.id, state = ?alert.state, summary = %alert.summary, "alert");
        if let Some(hook) = self.store.webhook(&alert.tenant).await? {
            let d = Delivery {
                id: webhook::delivery_id(alert),
                hook,
                body,
            };
            self.webhooks.send(&*self.publisher, d).await;
        }
        Ok(())
    }
}

/// The shards a pass holds, and when it last renewed their leases ([`Engine::holds`]).
struct Held {
    shards: HashSet<i32>,
    renewed: std::time::Instant,
}

/// Why an incident was resolved without its counts settling.
#[derive(Debug, Clone, Copy)]
enum Closed {
    TurnedOff,
    Deleted,
    Edited,
}

impl Closed {
    /// Opens the `resolved` event's summary.
    fn as_str(self) -> &'static str {
        match self {
            Closed::TurnedOff => "Closed: alerts for this signal were turned off.",
            Closed::Deleted => "Closed: the signal was deleted.",
            Closed::Edited => "Closed: the signal's query changed.",
        }
    }
}

/// What to tell clients of a transition, given whether its incident was announced to them and
/// whether it is stale (in a minute older than `alerts.stale`, met while catching up): `None`
/// for nothing. An incident is news once: its first event in time goes out as `opened` (an
/// incident learned from history and still growing is first told as opened), a stale one is
/// not news, and an incident never announced needs no `resolved`. An announced incident's end is
/// always told, however late, so no client keeps an alert open for ever.
fn announce(state: AlertState, announced: bool, stale: bool) -> Option<AlertState> {
    match (state, announced) {
        (AlertState::Resolved, true) => Some(AlertState::Resolved),
        (AlertState::Resolved, false) => None,
        _ if stale => None,
        (AlertState::Updated, true) => Some(AlertState::Updated),
        (AlertState::Opened | AlertState::Updated, _) => Some(AlertState::Opened),
    }
}

/// This host's name, for lease owners (the kernel's, else "host").
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "host".to_owned())
}

/// Tokens that come from links, not from what was said.
const URL_WORDS: [&str; 4] = ["http", "https", "www", "com"];

/// A sample of an enriched mention's JSON: its creation time, author, hashtags, link domains,
/// content words (letters only, 3+ characters, not stop words of its language) and simhash.
fn sample(v: &Value) -> Option<(DateTime<Utc>, Sample)> {
    let m = v.get("mention")?;
    let f = v.get("fields");
    let strs = |key: &str| -> Vec<String> {
        f.and_then(|f| f.get(key))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_lowercase)
                    .collect()
            })
            .unwrap_or_default()
    };
    let at = m
        .get("created_at")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())?
        .with_timezone(&Utc);
    let lang = f
        .and_then(|f| f.get("stems_lang"))
        .and_then(Value::as_str)
        .and_then(transforms::tokens::Lang::from_code);
    let hashtags = strs("hashtags");
    let mut seen = HashSet::new();
    let terms = strs("tokens")
        .into_iter()
        .filter(|t| t.chars().count() >= 3 && t.chars().all(char::is_alphabetic))
        .filter(|t| !lang.is_some_and(|l| l.is_stop_word(t)))
        .filter(|t| !hashtags.contains(t) && !URL_WORDS.contains(&t.as_str()))
        .filter(|t| seen.insert(t.clone()))
        .collect();
    let id = m.get("id").and_then(Value::as_str)?.to_owned();
    let simhash = f
        .and_then(|f| f.get("simhash64"))
        .and_then(Value::as_str)
        .and_then(|h| u64::from_str_radix(h, 16).ok());
    Some((
        at,
        Sample {
            dup_key: simhash.unwrap_or_else(|| {
                u64::from_le_bytes(digest(&id).as_ref()[..8].try_into().unwrap_or_default())
            }),
            id,
            author: m
                .get("author")
                .and_then(|a| a.get("handle"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_lowercase(),
            hashtags,
            domains: strs("url_domains"),
            terms,
        },
    ))
}

/// Gives near-duplicates (simhashes a few bits apart) one `dup_key`: the first one's, in order.
fn fold_duplicates(samples: Vec<(DateTime<Utc>, Sample)>) -> Vec<Sample> {
    let mut keys: Vec<u64> = Vec::new();
    samples
        .into_iter()
        .map(|(_, mut s)| {
            match keys
                .iter()
                .find(|k| (**k ^ s.dup_key).count_ones() <= NEAR_DUPLICATE_BITS)
            {
                Some(k) => s.dup_key = *k,
                None => keys.push(s.dup_key),
            }
            s
        })
        .collect()
}

/// The integration tests' webhook receiver, shared rather than copied.
#[cfg(test)]
#[path = "../../tests/common/receiver.rs"]
mod receiver;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_of("acme", "brand", 16), shard_of("acme", "brand", 16));
        let used: HashSet<i32> = (0..200)
            .map(|i| shard_of("acme", &format!("s{i}"), 16))
            .collect();
        assert_eq!(used.len(), 16, "200 signals reach every shard");
        assert!(used.iter().all(|s| (0..16).contains(s)));
    }

    #[test]
    fn near_duplicates_fold_and_others_do_not() {
        let s = |id: &str, key: u64| {
            (
                Utc::now(),
                Sample {
                    id: id.into(),
                    author: String::new(),
                    hashtags: vec![],
                    domains: vec![],
                    terms: vec![],
                    dup_key: key,
                },
            )
        };
        let folded = fold_duplicates(vec![
            s("a", 0xffff_0000_ffff_0000),
            s("b", 0xffff_0000_ffff_0003), // 2 bits from a
            s("c", 0x0000_ffff_0000_ffff), // far from both
        ]);
        assert_eq!(folded[1].dup_key, folded[0].dup_key);
        assert_ne!(folded[2].dup_key, folded[0].dup_key);
    }

    #[test]
    fn a_sample_reads_the_fields_explanations_need() {
        let v = serde_json::json!({
            "mention": {"id": "x:1", "created_at": "2026-12-03T10:00:00Z",
                        "author": {"handle": "Alice"}},
            "fields": {"hashtags": ["Outage"], "url_domains": ["status.example.com"],
                       "tokens": ["the", "big", "outage", "at", "https", "x", "servers", "big"],
                       "stems_lang": "en", "simhash64": "00000000000000ff"}
        });
        let (at, s) = sample(&v).expect("a sample");
        assert_eq!(at.to_rfc3339(), "2026-12-03T10:00:00+00:00");
        assert_eq!(s.author, "alice");
        assert_eq!(s.hashtags, ["outage"]);
        assert_eq!(s.domains, ["status.example.com"]);
        // Stop words, the hashtag's word, link words, short tokens and repeats are dropped.
        assert_eq!(s.terms, ["big", "servers"]);
        assert_eq!(s.dup_key, 0xff);
    }

    #[test]
    fn an_incident_is_news_once_and_its_end_is_always_told() {
        use AlertState::{Opened, Resolved, Updated};
        // Live: as the detector says.
        assert_eq!(announce(Opened, false, false), Some(Opened));
        assert_eq!(announce(Updated, true, false), Some(Updated));
        assert_eq!(announce(Resolved, true, false), Some(Resolved));
        // Caught up from history: nothing stale, and the first live event of an incident
        // that opened in the past is its opening.
        assert_eq!(announce(Opened, false, true), None);
        assert_eq!(announce(Updated, false, true), None);
        assert_eq!(announce(Updated, false, false), Some(Opened));
        assert_eq!(announce(Resolved, false, false), None);
        // An announced incident's end goes out even when it is old news.
        assert_eq!(announce(Resolved, true, true), Some(Resolved));
    }

    #[test]
    fn the_documented_detector_defaults_are_the_built_in_ones() {
        let c = crate::config::Config::load(None, std::iter::empty::<(String, String)>())
            .expect("defaults");
        assert_eq!(c.alerts.detector, DetectorConfig::default());
        let env = [(
            "BACKCHANNEL__ALERTS__DETECTOR__WARMUP_MINUTES".to_owned(),
            "60".to_owned(),
        )];
        let c = crate::config::Config::load(None, env).expect("an override");
        assert_eq!(c.alerts.detector.warmup_minutes, 60);
    }

    #[test]
    fn settings_refuse_a_lease_shorter_than_two_passes() {
        let mut c = crate::config::Config::load(None, std::iter::empty::<(String, String)>())
            .expect("defaults")
            .alerts;
        assert!(c.settings().is_ok());
        c.lease_ttl = "15s".into();
        let e = c.settings().expect_err("15s < 2 × 10s").to_string();
        assert!(e.contains("alerts.lease_ttl"), "{e}");
    }

    /// Mentions of the signal `acme/brand` in the embedded store: `per_minute(minute index)`
    /// ordinary ones for each minute of `minutes`, as the worker would have stored them.
    async fn store_minutes(
        store: &crate::embedded::RedbStore,
        matcher: &transforms::signals::Matcher,
        minutes: impl Iterator<Item = (DateTime<Utc>, usize, &'static str)>,
    ) {
        let mut batch = Vec::new();
        let mut offset = 0;
        for (minute, n, text) in minutes {
            for k in 0..n {
                let at = minute + chrono::Duration::seconds((k * 59 / n.max(1)) as i64);
                let m = serde_json::json!({
                    "id": format!("mastodon:{}-{k}", minute.timestamp()),
                    "source": "mastodon",
                    "kind": "post",
                    "text": text.replace("{k}", &k.to_string()),
                    "author": {"id": format!("u{}", k % 40), "handle": format!("user{}", k % 40)},
                    "created_at": at.to_rfc3339(),
                    "collected_at": at.to_rfc3339(),
                });
                offset += 1;
                batch.push(crate::traits::Delivery {
                    partition: 0,
                    offset,
                    key: None,
                    payload: m.to_string().into_bytes(),
                    tombstone: false,
                    mention: None,
                });
            }
        }
        let processed =
            crate::runtime::process_batch(batch, &crate::runtime::Caps::default(), Some(matcher));
        assert!(processed.dead.is_empty(), "{:?}", processed.dead.first());
        store.write(&processed.stored).await.expect("write");
    }

    /// An embedded store holding the signal `acme/brand` with seven and a half hours of 4-6
    /// ordinary mentions a minute and then three minutes of 40 carrying #acmelaunch (many
    /// authors, different words), ending at the last settled minute; and the alert settings.
    async fn spiky_store(
        dir: &std::path::Path,
    ) -> (
        Arc<crate::embedded::RedbStore>,
        AlertSettings,
        DateTime<Utc>,
    ) {
        spiky_signals(dir, &["brand"]).await
    }

    /// [`spiky_store`] with the signals `ids` of `acme`, all of the query `acme`.
    async fn spiky_signals(
        dir: &std::path::Path,
        ids: &[&str],
    ) -> (
        Arc<crate::embedded::RedbStore>,
        AlertSettings,
        DateTime<Utc>,
    ) {
        spiky_signals_at(dir, ids, Utc::now()).await
    }

    /// [`spiky_signals`] as of `now`, so two stores built a moment apart (perhaps across a
    /// minute's turn) hold the same minutes.
    async fn spiky_signals_at(
        dir: &std::path::Path,
        ids: &[&str],
        now: DateTime<Utc>,
    ) -> (
        Arc<crate::embedded::RedbStore>,
        AlertSettings,
        DateTime<Utc>,
    ) {
        use crate::embedded::RedbStore;
        use transforms::signals::{Signal, SignalSet};

        let store = Arc::new(RedbStore::open(dir).expect("store"));
        Codec::register(&*store).await.expect("schema");
        let signals: Vec<Signal> = ids
            .iter()
            .map(|id| Signal {
                tenant: "acme".into(),
                id: (*id).into(),
                version: 1,
                query: "acme".into(),
                options: Default::default(),
            })
            .collect();
        for signal in &signals {
            store.put_signal(signal).await.expect("signal");
        }
        let matcher =
            transforms::signals::Matcher::compile(&SignalSet { signals }).expect("matcher");

        let mut settings =
            crate::config::Config::load(None, std::iter::empty::<(String, String)>())
                .expect("defaults")
                .alerts
                .settings()
                .expect("settings");
        settings.history = Duration::from_secs(8 * 3600);
        // The tests' receiver is on 127.0.0.1.
        settings.webhook.private_addresses = true;
        let upto = minute_of(now - chrono::Duration::from_std(settings.settle).expect("settle"));
        // Seven and a half hours of 4-6 ordinary mentions a minute, then three minutes of 40
        // carrying #acmelaunch, from many authors, in different words.
        let start = upto - chrono::Duration::minutes(450);
        let ordinary = (0..447).map(|i| {
            (
                start + chrono::Duration::minutes(i),
                4 + (i as usize * 7) % 3,
                "acme store visit {k} with friends",
            )
        });
        let spike = (447..450).map(|i| {
            (
                start + chrono::Duration::minutes(i),
                40,
                "acme launch number {k} is live #acmelaunch",
            )
        });
        store_minutes(&store, &matcher, ordinary.chain(spike)).await;
        (store, settings, now)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spike_in_the_store_is_alerted_once_explained_stored_pushed_and_sent() {
        use crate::embedded::LocalPublisher;

        let dir = tempfile::tempdir().expect("tempdir");
        let (store, settings, now) = spiky_store(dir.path()).await;
        let upto = minute_of(now - chrono::Duration::from_std(settings.settle).expect("settle"));

        let (url, received) = receiver::start("whsec_test").await;
        let hook = webhook::Webhook {
            url,
            secret: "whsec_test".into(),
        };
        store
            .put_webhook("acme", Some(&hook))
            .await
            .expect("webhook");
        let hub = Arc::new(crate::push::Hub::new(Default::default()));
        let mut live = hub.alerts();
        let publisher = Arc::new(
            LocalPublisher::open(dir.path(), 1 << 20)
                .expect("publisher")
                .with_hub(hub.clone()),
        );

        let engine =
            Engine::new(store.clone(), publisher.clone(), settings.clone()).expect("engine");
        let events = engine.pass(now).await.expect("pass");
        // One incident: opened once (and updated as it grew within the same pass).
        let spikes: Vec<&Alert> = events
            .iter()
            .filter(|a| a.kind == super::super::AlertKind::VolumeSpike)
            .collect();
        let opened: Vec<&&Alert> = spikes
            .iter()
            .filter(|a| a.state == super::super::AlertState::Opened)
            .collect();
        assert_eq!(opened.len(), 1, "one incident opened once: {events:#?}");
        assert!(spikes.iter().all(|a| a.id == opened[0].id), "{events:#?}");
        let alert = *opened[0];
        assert!(
            alert.started_at >= upto - chrono::Duration::minutes(3),
            "it started with the spike: {alert:#?}"
        );
        assert!(
            alert
                .drivers
                .iter()
                .any(|d| d.kind == "hashtag" && d.value == "acmelaunch"),
            "the injected hashtag drives it: {alert:#?}"
        );
        assert!(!alert.examples.is_empty(), "with examples: {alert:#?}");
        assert!(alert.summary.contains("acmelaunch"), "{alert:#?}");

        // Stored, and listed newest first.
        let listed = store.alerts("acme", "brand", 10).await.expect("alerts");
        assert!(listed.iter().any(|a| a.id == alert.id), "{listed:#?}");
        // Pushed to live streams.
        let pushed = tokio::time::timeout(Duration::from_secs(5), live.recv())
            .await
            .expect("an alert event in time")
            .expect("the hub is open");
        assert_eq!(&*pushed.tenant, "acme");
        assert!(pushed.json.contains(&alert.id), "{}", pushed.json);
        // Sent to the webhook, signed, under its delivery id.
        let id = webhook::delivery_id(alert);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = received.lock().expect("lock").clone();
            if let Some((id_sent, signed, body)) = got.iter().find(|(d, _, _)| *d == id) {
                assert!(signed, "the signature verifies");
                assert_eq!(body["id"], alert.id.as_str());
                // The delivery id can be checked against the signed body.
                let at: DateTime<Utc> = body["at"].as_str().expect("at").parse().expect("time");
                let (id, state) = (body["id"].as_str(), body["state"].as_str());
                let from_body = format!(
                    "{}.{}.{}",
                    id.expect("id"),
                    state.expect("state"),
                    at.timestamp()
                );
                assert_eq!(&from_body, id_sent);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no delivery: {got:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // The same minutes again, and a restarted engine: nothing new opens.
        assert!(engine.pass(now).await.expect("pass").is_empty());
        let restarted = Engine::new(store.clone(), publisher, settings).expect("engine");
        let later = restarted
            .pass(now + chrono::Duration::minutes(1))
            .await
            .expect("pass");
        assert!(
            later
                .iter()
                .all(|a| a.state != super::super::AlertState::Opened),
            "a restart resumes the open incident: {later:#?}"
        );
    }

    /// [`spiky_signals_at`] with the one signal `acme/brand`, whose spike then goes on for three
    /// minutes four times higher: opened, then updated in later minutes; and the time after.
    async fn growing(
        dir: &std::path::Path,
        at: DateTime<Utc>,
    ) -> (
        Arc<crate::embedded::RedbStore>,
        AlertSettings,
        DateTime<Utc>,
    ) {
        let (store, settings, now) = spiky_signals_at(dir, &["brand"], at).await;
        let signal = transforms::signals::Signal {
            tenant: "acme".into(),
            id: "brand".into(),
            version: 1,
            query: "acme".into(),
            options: Default::default(),
        };
        let set = transforms::signals::SignalSet {
            signals: vec![signal],
        };
        let matcher = transforms::signals::Matcher::compile(&set).expect("matcher");
        let settle = chrono::Duration::from_std(settings.settle).expect("settle");
        let upto = minute_of(now - settle);
        let more = (0..3).map(|i| {
            let minute = upto + chrono::Duration::minutes(i);
            (minute, 160, "acme launch day {k} keeps going #acmelaunch")
        });
        store_minutes(&store, &matcher, more).await;
        (store, settings, now + chrono::Duration::minutes(3))
    }

    /// A publisher that refuses one alert, the `fail_at`-th it is handed (from 1).
    struct RefusesOne {
        inner: crate::embedded::LocalPublisher,
        seen: std::sync::atomic::AtomicUsize,
        fail_at: usize,
    }

    impl Publisher for RefusesOne {
        async fn publish(&self, records: &[Record<'_>]) -> Result<()> {
            use std::sync::atomic::Ordering;
            let alerts = records.iter().filter(|r| r.topic == Topic::Alerts).count();
            let before = self.seen.fetch_add(alerts, Ordering::SeqCst);
            if (before + 1..=before + alerts).contains(&self.fail_at) {
                return Err(Error::Queue {
                    what: "the broker is away".into(),
                    source: None,
                });
            }
            self.inner.publish(records).await
        }
    }

    /// A publisher that takes `delay` over every publish, and counts the publishes begun.
    struct Slow {
        inner: crate::embedded::LocalPublisher,
        delay: Duration,
        begun: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Publisher for Slow {
        async fn publish(&self, records: &[Record<'_>]) -> Result<()> {
            self.begun.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.inner.publish(records).await
        }
    }

    /// Races two engines for one shard with a 3 s lease: the first runs a pass over `store`
    /// whose every publish takes 1.2 s; the second tries a pass once the first lease has lapsed
    /// and the first has begun `publishes` publishes. Returns the second pass's events, the
    /// first's, and how many publishes the first began.
    async fn race_a_slow_pass(
        store: Arc<crate::embedded::RedbStore>,
        mut settings: AlertSettings,
        now: DateTime<Utc>,
        publishes: usize,
    ) -> (Vec<Alert>, Vec<Alert>, usize) {
        use std::sync::atomic::Ordering;

        settings.shards = 1;
        settings.lease_ttl = Duration::from_secs(3);
        let dir = tempfile::tempdir().expect("tempdir");
        let begun = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let slow = Arc::new(Slow {
            inner: crate::embedded::LocalPublisher::open(dir.path(), 1 << 20).expect("publisher"),
            delay: Duration::from_millis(1200),
            begun: begun.clone(),
        });
        let first = Engine::new(store.clone(), slow, settings.clone()).expect("engine");
        let leased = std::time::Instant::now();
        let long = tokio::spawn(async move { first.pass(now).await.expect("pass") });
        while begun.load(Ordering::SeqCst) < publishes
            || leased.elapsed() < Duration::from_millis(3300)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let other = tempfile::tempdir().expect("tempdir");
        let publisher = Arc::new(
            crate::embedded::LocalPublisher::open(other.path(), 1 << 20).expect("publisher"),
        );
        let second = Engine::new(store, publisher, settings).expect("engine");
        let twice = second.pass(now).await.expect("pass");
        let events = long.await.expect("the slow pass");
        (twice, events, begun.load(Ordering::SeqCst))
    }

    /// A pass longer than its lease renews it before each signal, so a second engine that
    /// tries the shard after the first lease's time finds it held and alerts nothing twice.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_pass_keeps_its_lease_and_another_engine_alerts_nothing_twice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let signals = ["a", "b", "c", "d"];
        let (store, settings, now) = spiky_signals(dir.path(), &signals).await;
        // One slow publish per signal: the pass (4.8 s) outlasts its first lease. Each signal
        // leaves 1.8 s for its own work before the lease renewed ahead of it lapses, which a
        // debug build on two busy cores needs (with 0.5 s, CI-like load lapsed it). The second
        // engine tries while the slow pass is on its second signal (so it has renewed, or would
        // have): whatever the machine's speed.
        let (twice, events, begun) = race_a_slow_pass(store, settings, now, 2).await;
        assert!(twice.is_empty(), "the shard was still held: {twice:#?}");
        assert_eq!(begun, signals.len(), "one publish a signal, as timed");
        let alerted: std::collections::BTreeSet<&str> =
            events.iter().map(|a| a.signal.as_str()).collect();
        assert_eq!(alerted, signals.into(), "{events:#?}");
    }

    /// One signal's catch-up longer than its lease (events in several minutes, each slow to
    /// publish) renews the lease as it goes: a second engine that tries the shard meanwhile
    /// finds it held, and the incident is opened once, not again by the second engine.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_catch_up_of_one_signal_keeps_its_lease_and_opens_its_incident_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, settings, now) = growing(dir.path(), Utc::now()).await;
        // The second engine tries while the pass's third event is being published.
        let (twice, events, _) = race_a_slow_pass(store, settings, now, 3).await;
        assert!(twice.is_empty(), "the shard was still held: {twice:#?}");
        let minutes: std::collections::BTreeSet<_> = events.iter().map(|a| a.at).collect();
        assert!(
            events.len() >= 3 && minutes.len() >= 3,
            "events of three minutes or more, in one signal: {events:#?}"
        );
        let opened = events
            .iter()
            .filter(|a| a.state == super::super::AlertState::Opened)
            .count();
        assert_eq!(opened, 1, "{events:#?}");
    }

    /// A pass that fails part-way keeps the minutes whose events all went out: the next pass
    /// sends the failed minute's events and those after it, not the earlier ones again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pass_that_fails_part_way_does_not_send_its_earlier_events_again() {
        let key = |a: &Alert| (a.id.clone(), a.state, a.at);
        // The spike, then three minutes four times higher: opened, then updated.
        let at = Utc::now();
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, settings, now) = growing(dir.path(), at).await;
        let publisher = Arc::new(
            crate::embedded::LocalPublisher::open(dir.path(), 1 << 20).expect("publisher"),
        );
        let all = Engine::new(store, publisher, settings)
            .expect("engine")
            .pass(now)
            .await
            .expect("pass");
        let all: Vec<_> = all.iter().map(key).collect();
        assert!(
            all.len() >= 2 && all[0].2 < all[1].2,
            "events of two minutes: {all:#?}"
        );

        let dir = tempfile::tempdir().expect("tempdir");
        let (store, settings, now) = growing(dir.path(), at).await;
        let publisher = Arc::new(RefusesOne {
            inner: crate::embedded::LocalPublisher::open(dir.path(), 1 << 20).expect("publisher"),
            seen: Default::default(),
            fail_at: 2,
        });
        let engine = Engine::new(store, publisher, settings).expect("engine");
        // The signal's failure is logged; the pass goes on with other signals.
        let first = engine.pass(now).await.expect("pass");
        assert!(first.is_empty(), "{first:#?}");
        let second: Vec<_> = engine
            .pass(now)
            .await
            .expect("pass")
            .iter()
            .map(key)
            .collect();
        assert_eq!(second, all[1..], "the first event is not sent again");
    }

    /// An incident open when its signal's alerts are turned off, the signal is deleted or its
    /// query changes is told `resolved` at the next pass, saying why, and only once. A save
    /// that changes nothing keeps the incident open.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn turning_a_signal_off_deleting_or_editing_it_resolves_its_open_incident() {
        use super::super::{AlertKind, AlertState};
        for change in ["off", "deleted", "edited"] {
            let dir = tempfile::tempdir().expect("tempdir");
            let (store, settings, now) = spiky_store(dir.path()).await;
            let publisher = Arc::new(
                crate::embedded::LocalPublisher::open(dir.path(), 1 << 20).expect("publisher"),
            );
            let engine = Engine::new(store.clone(), publisher, settings).expect("engine");
            let events = engine.pass(now).await.expect("pass");
            let opened = events
                .iter()
                .find(|a| a.kind == AlertKind::VolumeSpike && a.state == AlertState::Opened)
                .expect("the spike opens an incident")
                .id
                .clone();
            let save = |query: &'static str| {
                crate::signals::put(&*store, "acme", "brand", query, Default::default())
            };
            // Saved again as it was: a new version, the same query. Each pass is a whole
            // minute after the one before, so each has a newly settled minute to bring the
            // signal up to (with 61 s here, when `now` less the 20 s settle fell in a minute's
            // last second, `later` settled no new minute and that pass had nothing to do).
            assert_eq!(save("acme").await.expect("save"), 2);
            let same = engine
                .pass(now + chrono::Duration::minutes(1))
                .await
                .expect("pass");
            assert!(
                same.iter().all(|a| a.state != AlertState::Resolved),
                "{same:#?}"
            );
            let why = match change {
                "off" => {
                    let off: super::super::SignalAlertSettings =
                        serde_json::from_str(r#"{"enabled": false}"#).expect("settings");
                    store
                        .put_alert_settings("acme", "brand", &off)
                        .await
                        .expect("put settings");
                    "Closed: alerts for this signal were turned off."
                }
                "deleted" => {
                    assert!(store.delete_signal("acme", "brand").await.expect("delete"));
                    "Closed: the signal was deleted."
                }
                _ => {
                    save("acme launch").await.expect("save");
                    "Closed: the signal's query changed."
                }
            };
            let later = now + chrono::Duration::minutes(2);
            let events = engine.pass(later).await.expect("pass");
            let resolved: Vec<&Alert> = events
                .iter()
                .filter(|a| a.id == opened && a.state == AlertState::Resolved)
                .collect();
            assert_eq!(resolved.len(), 1, "{events:#?}");
            assert!(
                resolved[0].summary.starts_with(why),
                "{:?}",
                resolved[0].summary
            );
            let listed = store.alerts("acme", "brand", 10).await.expect("alerts");
            let stored = listed.iter().find(|a| a.id == opened).expect("stored");
            assert_eq!(stored.state, AlertState::Resolved);
            let again = engine
                .pass(later + chrono::Duration::minutes(1))
                .await
                .expect("pass");
            assert!(again.is_empty(), "told once: {again:#?}");
        }
    }

    /// A signal deleted while no process ran it (the one that did was restarting): the next
    /// process to hold its shard finds the stored detector, resolves the incident it had open,
    /// once, and forgets the detector.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_signal_deleted_while_down_is_resolved_by_the_next_process() {
        use super::super::{AlertKind, AlertState};
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, settings, now) = spiky_store(dir.path()).await;
        let opened = {
            let publisher = Arc::new(
                crate::embedded::LocalPublisher::open(dir.path(), 1 << 20).expect("publisher"),
            );
            let engine = Engine::new(store.clone(), publisher, settings.clone()).expect("engine");
            let events = engine.pass(now).await.expect("pass");
            events
                .iter()
                .find(|a| a.kind == AlertKind::VolumeSpike && a.state == AlertState::Opened)
                .expect("the spike opens an incident")
                .id
                .clone()
        };
        assert!(store.delete_signal("acme", "brand").await.expect("delete"));
        // The restarted process: the same file opened again (its leases are new).
        drop(store);
        let store = Arc::new(crate::embedded::RedbStore::open(dir.path()).expect("reopen"));
        let other = tempfile::tempdir().expect("tempdir");
        let publisher = Arc::new(
            crate::embedded::LocalPublisher::open(other.path(), 1 << 20).expect("publisher"),
        );
        let engine = Engine::new(store.clone(), publisher, settings).expect("engine");
        let later = now + chrono::Duration::minutes(2);
        let events = engine.pass(later).await.expect("pass");
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_eq!(
            (&events[0].id, events[0].state),
            (&opened, AlertState::Resolved)
        );
        assert!(
            events[0]
                .summary
                .starts_with("Closed: the signal was deleted."),
            "{:?}",
            events[0].summary
        );
        assert_eq!(store.detector("acme", "brand").await.expect("read"), None);
        let again = engine
            .pass(later + chrono::Duration::minutes(1))
            .await
            .expect("pass");
        assert!(again.is_empty(), "told once: {again:#?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_signals_own_settings_raise_its_bar_or_turn_it_off() {
        let publisher = |dir: &std::path::Path| {
            Arc::new(crate::embedded::LocalPublisher::open(dir, 1 << 20).expect("publisher"))
        };
        for (own, alerts) in [
            // The spike is 8× its expectation: a bar of 20× is not reached.
            (r#"{"spike_ratio": 20.0}"#, false),
            (r#"{"min_mentions": 500}"#, false),
            (r#"{"enabled": false}"#, false),
            // Settings that leave the spike over the bar change nothing.
            (r#"{"spike_ratio": 4.0, "resolve_after": 10}"#, true),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let (store, settings, now) = spiky_store(dir.path()).await;
            let own: super::super::SignalAlertSettings =
                serde_json::from_str(own).expect("settings");
            store
                .put_alert_settings("acme", "brand", &own)
                .await
                .expect("put settings");
            assert_eq!(
                store.alert_settings("acme", "brand").await.expect("read"),
                Some(own.clone())
            );
            let engine = Engine::new(store, publisher(dir.path()), settings).expect("engine");
            let events = engine.pass(now).await.expect("pass");
            let spiked = events
                .iter()
                .any(|a| a.kind == super::super::AlertKind::VolumeSpike);
            assert_eq!(spiked, alerts, "{own:?}: {events:#?}");
        }
    }
}
