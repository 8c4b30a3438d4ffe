//! Mastodon: the streaming API (server-sent events) of one server.
//!
//! Connects to `/api/v1/streaming/{public,public/local,hashtag,hashtag/local}` with an optional
//! access token. `update` and `status.update` events become mentions (an edit keeps the id, so
//! stores upsert it); `delete` events become [`Event::Delete`](crate::Event::Delete) tombstones;
//! other events (notifications, announcements, filters) and `:thump` heartbeats are skipped.
//!
//! The streaming API cannot resume, so the cursor is the highest status id seen and a (re)connect
//! with a cursor first pages the matching REST timeline with `min_id=<cursor>` (oldest first,
//! up to `backfill_pages` pages of 40) to cover the gap, then streams. The backfill only narrows
//! a gap: when it fails (a 404 from a server that hides its timelines, a 5xx, a timeout) the
//! failure is logged with what the server answered, counted in
//! `backchannel_collector_backfill_failures_total`, and the live stream is opened all the same.
//! A refusal that will not change by asking again (401, 403, 404, 410) pauses the backfill for
//! [`BACKFILL_PAUSE`]: a stream that reconnects often would otherwise spend a request of the
//! server's rate limit on the same refusal at every reconnect. Status ids follow when a status
//! was posted, not when this server learned of it, so a remote status federated to the server
//! during a disconnect with an id below the cursor is not in the backfill: that gap stays.
//! Where the server labels its events with SSE ids, a reconnect sends the last one as
//! `Last-Event-ID` so a server that can resume does.
//!
//! Statuses seen twice are delivered twice with the same id: downstream upserts. But only new
//! ones count as progress for the reconnect backoff: a server that re-sends the same events on
//! every connection and then drops it would otherwise be reconnected to at once, forever. "New"
//! is judged by a window of the last `dedup_window` (status id, `edited_at`) pairs and deleted
//! ids, so an edit is news and a repeat is not.

mod normalise;

use std::time::Duration;

use chrono::Utc;
use model::Source;
use serde::{Deserialize, Serialize};

use crate::common::http::{check, client_with, get_body, next_chunk, send_stream};
use crate::common::lines::{Line, LineBuffer};
use crate::common::recent::Recent;
use crate::common::sse::{Sse, SseParser};
use crate::common::{
    BackoffConfig, CollectorError, Cursor, Emitter, HttpLimits, ItemStream, Reconnect, Secret,
    SecretRef,
};

/// Which timeline to follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MastodonTimeline {
    /// Every public status the server knows (federated).
    #[default]
    Public,
    /// Public statuses of the server's own accounts.
    Local,
    /// Public statuses with `hashtag`.
    Hashtag,
    /// Public statuses with `hashtag` from the server's own accounts.
    HashtagLocal,
}

/// How to follow a Mastodon server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MastodonConfig {
    /// Base URL of the server, e.g. `"https://mastodon.social"`.
    pub server: String,
    /// Which timeline to stream.
    #[serde(default)]
    pub timeline: MastodonTimeline,
    /// The hashtag (without `#`) for the hashtag timelines.
    #[serde(default)]
    pub hashtag: Option<String>,
    /// An access token (many servers require one even for public streams).
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// Reconnect pacing.
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// A connection silent for this long is dropped and reopened (servers send a heartbeat about
    /// every 15 s).
    #[serde(default = "default_idle", with = "crate::common::duration")]
    pub idle_timeout: Duration,
    /// REST pages (40 statuses each) fetched to cover the gap after a reconnect; 0 disables it.
    #[serde(default = "default_backfill_pages")]
    pub backfill_pages: u32,
    /// Statuses and deletions remembered to tell a re-delivery from news; only news resets the
    /// reconnect backoff.
    #[serde(default = "default_dedup_window")]
    pub dedup_window: usize,
    /// Keep the status JSON in `Mention::raw`.
    #[serde(default)]
    pub keep_raw: bool,
    /// Timeouts, size caps and redirects (`idle_timeout` is the stream's read timeout; these
    /// time the REST backfill).
    #[serde(default)]
    pub http: HttpLimits,
}

/// What happens after an oversized line or event: see [`SseParser`] for why not a reconnect.
const RESYNC: &str = "resyncing at the next event";

/// How long the backfill rests after the server refused the timeline for good (401, 403, 404,
/// 410): settings a server changes rarely, so an hour of gaps not backfilled costs less than a
/// refused request at every reconnect.
pub const BACKFILL_PAUSE: Duration = Duration::from_secs(3600);

/// Whether a failed backfill is a refusal that asking again will not change.
fn refused_for_good(e: &CollectorError) -> bool {
    matches!(
        e,
        CollectorError::Http {
            status: 404 | 410,
            ..
        } | CollectorError::Auth {
            status: 401 | 403,
            ..
        }
    )
}

fn default_idle() -> Duration {
    Duration::from_secs(90)
}
fn default_backfill_pages() -> u32 {
    5
}
fn default_dedup_window() -> usize {
    10_000
}

/// What a collector carries from one connection to the next.
#[derive(Debug)]
struct Position {
    /// The highest status id seen (the checkpointed cursor).
    cursor: Option<String>,
    /// The last SSE id the server gave, sent back as `Last-Event-ID`.
    last_event_id: Option<String>,
    /// Recent (status id, edited_at) pairs and deletions.
    seen: Recent<String>,
    /// Statuses and deletions not in `seen` when they came: the progress that resets the backoff.
    news: u64,
}

impl Position {
    /// Remembers `key`; true when it is news.
    fn note(&mut self, key: String) -> bool {
        let new = self.seen.insert(key);
        self.news += u64::from(new);
        new
    }
}

/// The Mastodon streaming collector.
#[derive(Debug)]
pub struct Mastodon {
    cfg: MastodonConfig,
    host: String,
    token: Option<Secret>,
    http: reqwest::Client,
}

impl Mastodon {
    pub fn new(cfg: MastodonConfig) -> Result<Self, CollectorError> {
        let url = reqwest::Url::parse(&cfg.server).map_err(|e| {
            CollectorError::Config(format!(
                "mastodon.server: expected a URL like https://mastodon.social ({e})"
            ))
        })?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => {
                return Err(CollectorError::Config(
                    "mastodon.server: URL has no host".into(),
                ));
            }
        };
        let needs_tag = matches!(
            cfg.timeline,
            MastodonTimeline::Hashtag | MastodonTimeline::HashtagLocal
        );
        match (&cfg.hashtag, needs_tag) {
            (None, true) => {
                return Err(CollectorError::Config(
                    "mastodon.hashtag: required for the hashtag timelines".into(),
                ));
            }
            (Some(t), true) if t.is_empty() || t.starts_with('#') => {
                return Err(CollectorError::Config(
                    "mastodon.hashtag: give the tag without `#`".into(),
                ));
            }
            (Some(_), false) => {
                return Err(CollectorError::Config(
                    "mastodon.hashtag: only for timeline = \"hashtag\" or \"hashtag_local\"".into(),
                ));
            }
            _ => {}
        }
        let token = cfg
            .token
            .as_ref()
            .map(|t| t.resolve("mastodon.token"))
            .transpose()?;
        cfg.http.validate("mastodon.http")?;
        Ok(Mastodon {
            host,
            token,
            http: client_with(&cfg.http)?,
            cfg,
        })
    }

    /// Streams from now on, or — given a cursor — from just after that status.
    pub fn stream(self, resume: Option<Cursor>) -> ItemStream {
        crate::common::spawn(Source::Mastodon, move |em| {
            self.run(em, resume.map(|c| c.0))
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.cfg.server.trim_end_matches('/'), path)
    }

    fn streaming_url(&self) -> (String, Vec<(&'static str, String)>) {
        let tag = self.cfg.hashtag.clone().unwrap_or_default();
        match self.cfg.timeline {
            MastodonTimeline::Public => (self.url("/api/v1/streaming/public"), vec![]),
            MastodonTimeline::Local => (self.url("/api/v1/streaming/public/local"), vec![]),
            MastodonTimeline::Hashtag => {
                (self.url("/api/v1/streaming/hashtag"), vec![("tag", tag)])
            }
            MastodonTimeline::HashtagLocal => (
                self.url("/api/v1/streaming/hashtag/local"),
                vec![("tag", tag)],
            ),
        }
    }

    fn timeline_url(&self) -> (String, Vec<(&'static str, String)>) {
        let local = matches!(
            self.cfg.timeline,
            MastodonTimeline::Local | MastodonTimeline::HashtagLocal
        );
        let mut q = vec![("limit", "40".to_owned())];
        if local {
            q.push(("local", "true".into()));
        }
        match &self.cfg.hashtag {
            Some(tag) => (self.url(&format!("/api/v1/timelines/tag/{tag}")), q),
            None => (self.url("/api/v1/timelines/public"), q),
        }
    }

    fn get(&self, url: &str, query: &[(&'static str, String)]) -> reqwest::RequestBuilder {
        let req = self.http.get(url).query(query);
        match &self.token {
            Some(t) => req.bearer_auth(t.expose()),
            None => req,
        }
    }

    async fn run(self, mut em: Emitter, cursor: Option<String>) -> Result<(), CollectorError> {
        let mut retry = Reconnect::new(Source::Mastodon, self.cfg.backoff);
        let mut pos = Position {
            cursor,
            last_event_id: None,
            seen: Recent::new(self.cfg.dedup_window),
            news: 0,
        };
        let mut paused_until: Option<std::time::Instant> = None;
        loop {
            let before = pos.news;
            let paused = paused_until.is_some_and(|t| std::time::Instant::now() < t);
            if pos.cursor.is_some() && self.cfg.backfill_pages > 0 && !paused {
                match self.backfill(&mut em, &mut pos).await {
                    Ok(()) => {}
                    Err(CollectorError::Closed) => return Err(CollectorError::Closed),
                    // A gap we could not fill must not cost the live stream: go on to it.
                    Err(e) => {
                        em.metrics.backfill_failures.increment(1);
                        if refused_for_good(&e) {
                            paused_until = Some(std::time::Instant::now() + BACKFILL_PAUSE);
                            tracing::warn!(
                                source = "mastodon",
                                error = %e,
                                pause = ?BACKFILL_PAUSE,
                                "the server refuses its timeline; streaming without backfills for a while"
                            );
                        } else {
                            tracing::warn!(
                                source = "mastodon",
                                error = %e,
                                "backfill after reconnect failed; skipping it and streaming"
                            );
                        }
                    }
                }
            }
            let outcome = self.session(&mut em, &mut pos).await;
            retry
                .after_progress(&em, pos.news > before, outcome)
                .await?;
        }
    }

    /// Pages the REST timeline from the cursor forwards.
    async fn backfill(&self, em: &mut Emitter, pos: &mut Position) -> Result<(), CollectorError> {
        let (url, mut query) = self.timeline_url();
        for _ in 0..self.cfg.backfill_pages {
            let Some(min_id) = pos.cursor.clone() else {
                return Ok(());
            };
            query.retain(|(k, _)| *k != "min_id");
            query.push(("min_id", min_id));
            let body = get_body(self.get(&url, &query), &self.cfg.http, "mastodon").await?;
            let page: Vec<serde_json::Value> = match serde_json::from_slice(&body) {
                Ok(p) => p,
                Err(_) => {
                    em.malformed("malformed_timeline", &body).await?;
                    return Ok(());
                }
            };
            let n = page.len();
            // Timelines come newest first.
            for value in page.into_iter().rev() {
                self.emit_status(em, pos, value).await?;
            }
            if n < 40 {
                break;
            }
        }
        Ok(())
    }

    async fn session(&self, em: &mut Emitter, pos: &mut Position) -> Result<(), CollectorError> {
        let (url, query) = self.streaming_url();
        let mut req = self.get(&url, &query).header("accept", "text/event-stream");
        if let Some(id) = &pos.last_event_id {
            req = req.header("last-event-id", id);
        }
        let resp = check(send_stream(req, self.cfg.idle_timeout).await?, "mastodon").await?;
        let mut body = resp.bytes_stream();
        let mut lines = LineBuffer::new(self.cfg.http.max_line_bytes);
        let mut sse = SseParser::new(self.cfg.http.max_event_bytes);
        let mut out = Vec::new();
        while let Some(chunk) = next_chunk(&mut body, self.cfg.idle_timeout).await? {
            lines.push(&chunk, &mut out);
            for line in out.drain(..) {
                let line = match line {
                    Line::Complete(l) => l,
                    Line::TooLong { prefix } => {
                        if let Some(Sse::TooLarge { prefix }) = sse.line_too_long(prefix) {
                            let max = self.cfg.http.max_line_bytes;
                            em.oversized(
                                "an SSE line",
                                "http.max_line_bytes",
                                max,
                                RESYNC,
                                &prefix,
                            )
                            .await?;
                        }
                        continue;
                    }
                };
                let Ok(line) = std::str::from_utf8(&line) else {
                    em.malformed("invalid_utf8", &line).await?;
                    continue;
                };
                match sse.line(line) {
                    Some(Sse::Event(ev)) => {
                        self.dispatch(em, pos, &ev.event, ev.data).await?;
                        if ev.id.is_some() {
                            pos.last_event_id = ev.id;
                        }
                    }
                    Some(Sse::TooLarge { prefix }) => {
                        let max = self.cfg.http.max_event_bytes;
                        em.oversized("an SSE event", "http.max_event_bytes", max, RESYNC, &prefix)
                            .await?;
                    }
                    None => {}
                }
            }
        }
        Ok(()) // the server closed the stream; whatever was half-sent is dropped with `sse`
    }

    async fn dispatch(
        &self,
        em: &mut Emitter,
        pos: &mut Position,
        event: &str,
        data: String,
    ) -> Result<(), CollectorError> {
        match event {
            "update" | "status.update" => match serde_json::from_str::<serde_json::Value>(&data) {
                Ok(v) => self.emit_status(em, pos, v).await,
                Err(_) => em.malformed("malformed_json", data.as_bytes()).await,
            },
            "delete" => {
                let id = data.trim();
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return em.malformed("bad_delete", data.as_bytes()).await;
                }
                pos.note(format!("delete/{id}"));
                em.delete(
                    normalise::mention_id(&self.host, id),
                    pos.cursor.clone().map(Cursor),
                )
                .await
            }
            _ => Ok(()),
        }
    }

    async fn emit_status(
        &self,
        em: &mut Emitter,
        pos: &mut Position,
        value: serde_json::Value,
    ) -> Result<(), CollectorError> {
        // Read from a borrow, so a value that is no status is still there to dead-letter.
        let status = match normalise::Status::deserialize(&value) {
            Ok(s) => s,
            Err(e) => {
                let frame = value.to_string();
                return em
                    .malformed_because("not_a_status", e.to_string(), frame.as_bytes())
                    .await;
            }
        };
        let raw = self.cfg.keep_raw.then_some(value);
        let id = normalise::status_id(&status).to_owned();
        pos.note(format!("{id}/{}", normalise::edited_micros(&status)));
        if pos.cursor.as_deref().is_none_or(|c| newer(&id, c)) {
            pos.cursor = Some(id);
        }
        let m = normalise::to_mention(&self.host, status, Utc::now(), raw);
        em.mention(m, pos.cursor.clone().map(Cursor)).await
    }
}

/// Status ids are decimal snowflakes: longer is newer, then lexical order.
fn newer(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
}

/// Decodes one pushed Mastodon payload (for the webhook's native endpoint): a status as the REST
/// and streaming APIs send it, or a Mastodon webhook event (`{"event": "status.created" |
/// "status.updated", "object": <status>}`; other events carry no status and yield nothing).
///
/// Mention ids need the host of the server that assigned the status id: `server` when the
/// pusher says (`?server=`), else the host of the status's `uri` — right for a server's own
/// webhooks, whose statuses are local.
pub(crate) fn decode_status(
    payload: &[u8],
    server: Option<&str>,
    collected_at: chrono::DateTime<Utc>,
) -> Result<Vec<model::Mention>, &'static str> {
    let mut value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|_| "malformed_json")?;
    if let Some(event) = value.get("event").and_then(serde_json::Value::as_str) {
        if !matches!(event, "status.created" | "status.updated") {
            return Ok(vec![]);
        }
        value = value
            .get_mut("object")
            .map(serde_json::Value::take)
            .ok_or("not_a_status")?;
    }
    let host = match server {
        Some(h) => h.to_owned(),
        None => value
            .get("uri")
            .and_then(serde_json::Value::as_str)
            .and_then(|u| reqwest::Url::parse(u).ok())
            .and_then(|u| {
                let h = u.host_str()?.to_owned();
                Some(u.port().map_or(h.clone(), |p| format!("{h}:{p}")))
            })
            .ok_or("no_server_host")?,
    };
    let status: normalise::Status = serde_json::from_value(value).map_err(|_| "not_a_status")?;
    Ok(vec![normalise::to_mention(
        &host,
        status,
        collected_at,
        None,
    )])
}
