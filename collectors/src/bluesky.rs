//! Bluesky through Jetstream: the firehose as JSON over a WebSocket.
//!
//! Subscribes with `wantedCollections` (posts by default; reposts optional) and optionally
//! `wantedDids`. The cursor is the event's `time_us` (microseconds since the epoch); a
//! (re)connect with a cursor passes `cursor=<time_us - rewind>` and Jetstream replays from there,
//! so nothing between a disconnect and the reconnect is lost (a few events may come twice; ids
//! make that harmless). Post deletions become tombstones.
//!
//! Commits name their author by DID (`did:plc:…`), the stable id kept as `author.id`. The handle
//! people write (`author:alice.bsky.social`) comes from Jetstream's `identity` events, which the
//! server always sends: a bounded map (`handle_cache_entries`, least recently used forgotten
//! first) fills `author.handle`; an author not in it yet shows the DID there. With
//! `handle_resolver` set (off by default) unknown `did:plc` authors are also looked up in the PLC
//! directory, beside the stream (see [`handles`]).

mod handles;
mod normalise;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use model::Source;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::common::http::client_with;
use crate::common::{
    BackoffConfig, CollectorError, Cursor, Emitter, HttpLimits, ItemStream, Reconnect,
    backoff::retry_after,
};
use handles::{Handles, Lookups, Shared};

/// Authors' handles: the map, and the resolver that feeds it when one is configured.
#[derive(Debug)]
struct Names {
    handles: Shared,
    lookups: Option<Lookups>,
}

impl Names {
    /// The map, locked for a moment (never across an await).
    fn lock(&self) -> std::sync::MutexGuard<'_, Handles> {
        self.handles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How to subscribe to Jetstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JetstreamConfig {
    /// The subscribe endpoint, e.g. `"wss://jetstream2.us-east.bsky.network/subscribe"`.
    pub endpoint: String,
    /// Collections to receive: `app.bsky.feed.post` and/or `app.bsky.feed.repost`.
    #[serde(default = "default_collections")]
    pub wanted_collections: Vec<String>,
    /// Only these accounts' events (DIDs); empty means everyone. Jetstream allows up to 10,000.
    #[serde(default)]
    pub wanted_dids: Vec<String>,
    /// How far before the saved cursor to resume, covering events delivered slightly out of
    /// order (`"2s"`).
    #[serde(default, with = "crate::common::duration")]
    pub rewind: Duration,
    /// Reconnect pacing.
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// A connection silent this long is dropped and reopened.
    #[serde(default = "default_idle", with = "crate::common::duration")]
    pub idle_timeout: Duration,
    /// DIDs whose handles (from `identity` events) are remembered; the least recently used is
    /// forgotten first. About 200 bytes each; 0 turns the map off (handles stay DIDs).
    #[serde(default = "default_handle_cache_entries")]
    pub handle_cache_entries: usize,
    /// Most bytes the remembered handles weigh (DIDs, handles and their bookkeeping), whatever
    /// the DIDs' lengths; the least recently used go first past it.
    #[serde(default = "default_handle_cache_bytes")]
    pub handle_cache_bytes: usize,
    /// A PLC directory to look up the handles of authors the map lacks, e.g.
    /// `"https://plc.directory"` (`GET <url>/<did>`); off when absent. Lookups never hold up the
    /// stream: the first post of an unknown author keeps the DID as its handle.
    #[serde(default)]
    pub handle_resolver: Option<String>,
    /// Keep each event's JSON in `Mention::raw`.
    #[serde(default)]
    pub keep_raw: bool,
    /// Size caps: `http.max_frame_bytes` bounds a message. The stream takes no other key (the
    /// handshake must finish within `idle_timeout`; tungstenite follows no redirects); the
    /// timeouts, body cap and redirect rules time the `handle_resolver` lookups.
    #[serde(default)]
    pub http: HttpLimits,
}

fn default_collections() -> Vec<String> {
    vec!["app.bsky.feed.post".into()]
}
fn default_idle() -> Duration {
    Duration::from_secs(60)
}
fn default_handle_cache_entries() -> usize {
    100_000
}
fn default_handle_cache_bytes() -> usize {
    32 << 20
}

/// The Jetstream collector.
#[derive(Debug)]
pub struct Jetstream {
    cfg: JetstreamConfig,
}

impl Jetstream {
    pub fn new(cfg: JetstreamConfig) -> Result<Self, CollectorError> {
        let url = reqwest::Url::parse(&cfg.endpoint).map_err(|e| {
            CollectorError::Config(format!(
                "bluesky.endpoint: expected a ws:// or wss:// URL ({e})"
            ))
        })?;
        if !matches!(url.scheme(), "ws" | "wss") {
            return Err(CollectorError::Config(
                "bluesky.endpoint: expected a ws:// or wss:// URL".into(),
            ));
        }
        for c in &cfg.wanted_collections {
            if c != "app.bsky.feed.post" && c != "app.bsky.feed.repost" {
                return Err(CollectorError::Config(format!(
                    "bluesky.wanted_collections: `{c}` is not collected (use app.bsky.feed.post, app.bsky.feed.repost)"
                )));
            }
        }
        if cfg.wanted_collections.is_empty() {
            return Err(CollectorError::Config(
                "bluesky.wanted_collections: must not be empty".into(),
            ));
        }
        if let Some(d) = cfg.wanted_dids.iter().find(|d| !d.starts_with("did:")) {
            return Err(CollectorError::Config(format!(
                "bluesky.wanted_dids: `{d}` is not a DID"
            )));
        }
        cfg.http.validate("bluesky.http")?;
        if let Some(r) = &cfg.handle_resolver {
            match reqwest::Url::parse(r) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => {
                    return Err(CollectorError::Config(format!(
                        "bluesky.handle_resolver: expected an http(s) URL like https://plc.directory, got {r:?}"
                    )));
                }
            }
        }
        Ok(Jetstream { cfg })
    }

    /// Streams live, or replays from the cursor (a `time_us`) first.
    pub fn stream(self, resume: Option<Cursor>) -> ItemStream {
        crate::common::spawn(Source::Bluesky, move |em| async move {
            let cursor = match resume {
                Some(c) => Some(c.0.parse::<i64>().map_err(|_| {
                    CollectorError::Checkpoint(format!("bluesky cursor `{c}` is not a time_us"))
                })?),
                None => None,
            };
            self.run(em, cursor).await
        })
    }

    fn url(&self, at: &Position) -> Result<String, CollectorError> {
        let mut url = reqwest::Url::parse(&self.cfg.endpoint)
            .map_err(|e| CollectorError::Config(e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            for c in &self.cfg.wanted_collections {
                q.append_pair("wantedCollections", c);
            }
            for d in &self.cfg.wanted_dids {
                q.append_pair("wantedDids", d);
            }
            if let Some(jump) = at.jump {
                // Past an oversized message: no rewind, which would lead back to it.
                q.append_pair("cursor", &jump.from.saturating_add(jump.step).to_string());
            } else if let Some(c) = at.cursor {
                let rewind = i64::try_from(self.cfg.rewind.as_micros()).unwrap_or(0);
                q.append_pair("cursor", &(c - rewind).max(0).to_string());
            }
        }
        Ok(url.into())
    }

    async fn run(self, mut em: Emitter, cursor: Option<i64>) -> Result<(), CollectorError> {
        let mut retry = Reconnect::new(Source::Bluesky, self.cfg.backoff);
        let handles: Shared = Arc::new(Mutex::new(Handles::new(
            self.cfg.handle_cache_entries,
            self.cfg.handle_cache_bytes,
        )));
        let lookups = match &self.cfg.handle_resolver {
            Some(base) => Some(Lookups::start(
                base.clone(),
                client_with(&self.cfg.http)?,
                self.cfg.http.clone(),
                handles.clone(),
            )),
            None => None,
        };
        let names = Names { handles, lookups };
        let mut at = Position {
            cursor,
            seen: None,
            jump: None,
        };
        loop {
            let start = at.cursor;
            let outcome = self.session(&mut em, &mut at, &names).await;
            if matches!(outcome, Err(CollectorError::TooLarge { .. })) {
                self.pass_oversized(&mut em, &mut at).await?;
            }
            // Only a session that delivered past where it began resets the backoff: one that
            // replayed the rewind's events and then broke on the same message did nothing new.
            retry
                .after_progress(&em, at.cursor > start, outcome)
                .await?;
        }
    }

    /// After a message over `http.max_frame_bytes` ended the connection: the message follows
    /// the last event read, and Jetstream would send it again from any earlier cursor, so the
    /// next session starts a moment after that event ([`FIRST_JUMP`]), twice as far each time
    /// the same message comes back first. What else the stream held in the window skipped is
    /// lost with it; a dead letter (`too_large`, without a payload, which the connection never
    /// read) says so when a pass begins. Without any position (a live stream that broke before
    /// its first event) a live reconnect passes it anyway.
    async fn pass_oversized(
        &self,
        em: &mut Emitter,
        at: &mut Position,
    ) -> Result<(), CollectorError> {
        let Some(from) = at.seen.or(at.cursor) else {
            return Ok(());
        };
        // The same message again: nothing was read past where the last jump started.
        let again = at.jump.filter(|j| j.from == from);
        let step = again.map_or(FIRST_JUMP, |j| (j.step * 2).min(LONGEST_JUMP));
        at.jump = Some(Jump { from, step });
        tracing::warn!(
            after_time_us = from,
            skip_us = step,
            "passing an oversized Jetstream message"
        );
        if again.is_none() {
            let then = format!(
                "the collector resumes the stream past it ({FIRST_JUMP} µs after the event \
                 before it, time_us {from}, farther each time it comes back), and what else \
                 the stream held in that window is skipped"
            );
            let limit = self.cfg.http.max_frame_bytes;
            em.oversized(
                "a Jetstream message",
                "http.max_frame_bytes",
                limit,
                &then,
                b"",
            )
            .await?;
        }
        Ok(())
    }

    async fn session(
        &self,
        em: &mut Emitter,
        at: &mut Position,
        names: &Names,
    ) -> Result<(), CollectorError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let max = self.cfg.http.max_frame_bytes;
        let ws_cfg = WebSocketConfig::default()
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        let connect =
            tokio_tungstenite::connect_async_with_config(self.url(at)?, Some(ws_cfg), false);
        let (mut ws, _) = match tokio::time::timeout(self.cfg.idle_timeout, connect).await {
            Err(_) => {
                return Err(CollectorError::Transport(format!(
                    "no handshake within {:?} (idle_timeout)",
                    self.cfg.idle_timeout
                )));
            }
            Ok(r) => r.map_err(handshake_error)?,
        };
        loop {
            let msg = match tokio::time::timeout(self.cfg.idle_timeout, ws.next()).await {
                Err(_) => {
                    return Err(CollectorError::Transport(format!(
                        "no data for {:?}",
                        self.cfg.idle_timeout
                    )));
                }
                Ok(None) => return Ok(()),
                // tungstenite cannot skip the rest of an oversized message: the connection is
                // done, and the reconnect resumes from the cursor.
                Ok(Some(Err(tungstenite::Error::Capacity(_)))) => {
                    return Err(CollectorError::TooLarge {
                        what: "a WebSocket message",
                        limit: max,
                        key: "http.max_frame_bytes",
                    });
                }
                Ok(Some(Err(e))) => return Err(CollectorError::Transport(e.to_string())),
                Ok(Some(Ok(m))) => m,
            };
            let bytes = match &msg {
                Message::Text(t) => t.as_bytes(),
                Message::Binary(b) => {
                    em.malformed("unexpected_binary", b).await?;
                    continue;
                }
                Message::Close(_) => return Ok(()),
                _ => continue, // pings are answered by tungstenite
            };
            self.handle(em, at, names, bytes).await?;
        }
    }

    async fn handle(
        &self,
        em: &mut Emitter,
        at: &mut Position,
        names: &Names,
        bytes: &[u8],
    ) -> Result<(), CollectorError> {
        let value: serde_json::Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(_) => {
                return em.malformed("malformed_json", bytes).await;
            }
        };
        let raw = self.cfg.keep_raw.then(|| value.clone());
        let ev: normalise::JetEvent = match serde_json::from_value(value) {
            Ok(ev) => ev,
            Err(e) => {
                return em
                    .malformed_because("not_an_event", e.to_string(), bytes)
                    .await;
            }
        };
        let time_us = ev.time_us;
        at.seen = Some(time_us);
        if at.jump.is_some_and(|j| time_us > j.from) {
            at.jump = None; // past it
        }
        let cursor = &mut at.cursor;
        if ev.kind == "identity" {
            let handle = ev.identity.as_ref().and_then(|i| i.handle.as_deref());
            names.lock().learn(&ev.did, handle);
        }
        match normalise::normalise(ev, &self.cfg.wanted_collections, Utc::now(), raw) {
            normalise::Outcome::Mention(mut m) => {
                {
                    let mut h = names.lock();
                    match h.get(&m.author.id) {
                        Some(handle) => handle.clone_into(&mut m.author.handle),
                        None => {
                            if let Some(l) = &names.lookups {
                                l.ask(&mut h, &m.author.id);
                            }
                        }
                    }
                }
                *cursor = Some(time_us);
                em.mention(*m, Some(Cursor(time_us.to_string()))).await
            }
            normalise::Outcome::Delete(id) => {
                *cursor = Some(time_us);
                em.delete(id, Some(Cursor(time_us.to_string()))).await
            }
            normalise::Outcome::Skip => Ok(()),
            normalise::Outcome::Bad(reason) => em.malformed(reason, bytes).await,
        }
    }
}

/// Where the stream stands across reconnects.
#[derive(Debug)]
struct Position {
    /// The time_us of the last mention or deletion delivered: where a reconnect resumes (less
    /// `rewind`).
    cursor: Option<i64>,
    /// The time_us of the last event read, of any kind.
    seen: Option<i64>,
    /// Set while passing an oversized message.
    jump: Option<Jump>,
}

/// A resume past an oversized message: from `from + step`.
#[derive(Debug, Clone, Copy)]
struct Jump {
    from: i64,
    step: i64,
}

/// How far past the last event read the first resume after an oversized message starts, in µs.
const FIRST_JUMP: i64 = 1_000;
/// The farthest such a resume doubles to (a minute of the stream), in µs.
const LONGEST_JUMP: i64 = 60_000_000;

/// A refused WebSocket upgrade says why in its HTTP status.
fn handshake_error(e: tungstenite::Error) -> CollectorError {
    match e {
        tungstenite::Error::Http(resp) => {
            let status = resp.status().as_u16();
            let detail = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned())
                .unwrap_or_default();
            match status {
                401 | 403 => CollectorError::Auth {
                    source_name: "bluesky",
                    status,
                    detail,
                },
                429 => CollectorError::RateLimited {
                    retry_after: retry_after(resp.headers(), Utc::now()),
                },
                _ => CollectorError::Http { status, detail },
            }
        }
        other => CollectorError::Transport(crate::common::error::error_chain(&other)),
    }
}

/// Decodes one Jetstream event JSON (for the webhook's native endpoint).
pub(crate) fn decode_event(
    payload: &[u8],
    collected_at: chrono::DateTime<Utc>,
) -> Result<Vec<model::Mention>, &'static str> {
    let ev: normalise::JetEvent = serde_json::from_slice(payload).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            "malformed_json"
        } else {
            "not_an_event"
        }
    })?;
    let wanted = [
        "app.bsky.feed.post".to_owned(),
        "app.bsky.feed.repost".to_owned(),
    ];
    match normalise::normalise(ev, &wanted, collected_at, None) {
        normalise::Outcome::Mention(m) => Ok(vec![*m]),
        normalise::Outcome::Bad(r) => Err(r),
        normalise::Outcome::Skip | normalise::Outcome::Delete(_) => Ok(vec![]),
    }
}
