//! X (Twitter) API v2 filtered stream.
//!
//! At start the collector makes the app's stream rules equal to the configured ones: it reads
//! `GET /2/tweets/search/stream/rules`, deletes the rules that are not configured (same value and
//! tag) and adds the configured ones that are missing. Rules belong to the app, not to a
//! connection, so two collectors with one bearer token would fight over them; give each its own
//! app or set `sync_rules = false` and manage the rules elsewhere.
//!
//! Then it reads `GET /2/tweets/search/stream`: newline-delimited JSON (`\r\n`), one post per
//! line with its `includes` and `matching_rules`, and a blank line about every 20 s as a
//! keep-alive; a connection silent for `idle_timeout` is dropped and reopened.
//!
//! **No resume.** The standard tiers cannot replay what was posted while we were away; only Pro
//! and Enterprise accept `backfill_minutes` (up to 5), which this collector sends on a reconnect
//! when `backfill_minutes` is set. The cursor is therefore only a high-water mark: the largest
//! post id delivered. Ids are snowflakes whose top bits are the post time, but the stream does
//! not deliver strictly in id order (matching takes different times for different posts), so
//! skipping ids at or below the cursor would drop late arrivals. Instead a reconnect's overlap
//! (backfill re-sends posts we had) is removed by remembering the last `dedup_window` ids;
//! anything older that comes twice is delivered twice with the same id, and stores upsert.

mod normalise;

use std::time::Duration;

use chrono::Utc;
use model::Source;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::http::{check, client_with, get_body, next_chunk, send_stream};
use crate::common::lines::{Line, LineBuffer};
use crate::common::recent::Recent;
use crate::common::{
    BackoffConfig, CollectorError, Cursor, Emitter, HttpLimits, ItemStream, Reconnect, Secret,
    SecretRef,
};

/// One filtered-stream rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XRule {
    /// The rule in X's query syntax, e.g. `"backchannel lang:en -is:retweet"`.
    pub value: String,
    /// A label X echoes in each match's `matching_rules` (kept in `extra.matching_rules`).
    #[serde(default)]
    pub tag: Option<String>,
}

/// How to read the X filtered stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XConfig {
    /// API root.
    #[serde(default = "default_base")]
    pub base_url: String,
    /// The app's bearer token (app-only auth).
    pub bearer_token: SecretRef,
    /// The rules the stream should match; with `sync_rules`, the server's rules are made equal.
    #[serde(default)]
    pub rules: Vec<XRule>,
    /// Make the server's rules equal to `rules` at start (deleting any others).
    #[serde(default = "default_true")]
    pub sync_rules: bool,
    /// `tweet.fields` to request.
    #[serde(default = "default_tweet_fields")]
    pub tweet_fields: Vec<String>,
    /// `expansions` to request (`author_id` is needed for the author).
    #[serde(default = "default_expansions")]
    pub expansions: Vec<String>,
    /// `user.fields` to request for the expanded authors.
    #[serde(default = "default_user_fields")]
    pub user_fields: Vec<String>,
    /// `media.fields` to request for expanded attachments.
    #[serde(default = "default_media_fields")]
    pub media_fields: Vec<String>,
    /// Minutes of backfill to ask for on a reconnect (1..=5, Pro/Enterprise only; 0 = off).
    #[serde(default)]
    pub backfill_minutes: u32,
    /// Post ids remembered to drop the duplicates of a reconnect's overlap.
    #[serde(default = "default_dedup_window")]
    pub dedup_window: usize,
    /// A connection silent for this long is dropped and reopened (X sends a keep-alive every 20 s).
    #[serde(default = "default_idle", with = "crate::common::duration")]
    pub idle_timeout: Duration,
    /// Reconnect pacing.
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// Keep each frame's JSON in `Mention::raw`.
    #[serde(default)]
    pub keep_raw: bool,
    /// Timeouts, size caps and redirects (`idle_timeout` is the stream's read timeout; these
    /// time the rule requests).
    #[serde(default)]
    pub http: HttpLimits,
}

fn default_base() -> String {
    "https://api.x.com".into()
}
fn default_true() -> bool {
    true
}
fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| (*s).to_owned()).collect()
}
fn default_tweet_fields() -> Vec<String> {
    strings(&[
        "created_at",
        "author_id",
        "conversation_id",
        "lang",
        "referenced_tweets",
        "entities",
        "public_metrics",
        "attachments",
        "note_tweet",
    ])
}
fn default_expansions() -> Vec<String> {
    strings(&["author_id", "attachments.media_keys"])
}
fn default_user_fields() -> Vec<String> {
    strings(&[
        "username",
        "name",
        "created_at",
        "verified",
        "public_metrics",
    ])
}
fn default_media_fields() -> Vec<String> {
    strings(&["type", "url", "preview_image_url", "alt_text"])
}
fn default_dedup_window() -> usize {
    10_000
}
fn default_idle() -> Duration {
    Duration::from_secs(60)
}

/// The X filtered-stream collector.
#[derive(Debug)]
pub struct X {
    cfg: XConfig,
    token: Secret,
    http: reqwest::Client,
}

/// A rule as the server lists it.
#[derive(Debug, Deserialize)]
struct ServerRule {
    id: String,
    value: String,
    #[serde(default)]
    tag: Option<String>,
}

impl X {
    pub fn new(cfg: XConfig) -> Result<Self, CollectorError> {
        reqwest::Url::parse(&cfg.base_url)
            .map_err(|e| CollectorError::Config(format!("x.base_url: {e}")))?;
        if cfg.sync_rules && cfg.rules.is_empty() {
            return Err(CollectorError::Config(
                "x.rules: at least one rule is needed when sync_rules = true \
                 (an empty set would delete every rule and match nothing)"
                    .into(),
            ));
        }
        if let Some(r) = cfg.rules.iter().find(|r| r.value.trim().is_empty()) {
            return Err(CollectorError::Config(format!(
                "x.rules: a rule has an empty value (tag {:?})",
                r.tag
            )));
        }
        if cfg.backfill_minutes > 5 {
            return Err(CollectorError::Config(
                "x.backfill_minutes: expected 0..=5".into(),
            ));
        }
        if !cfg.expansions.iter().any(|e| e == "author_id") {
            return Err(CollectorError::Config(
                "x.expansions: must include \"author_id\" (mentions need their author)".into(),
            ));
        }
        cfg.http.validate("x.http")?;
        let token = cfg.bearer_token.resolve("x.bearer_token")?;
        Ok(X {
            token,
            http: client_with(&cfg.http)?,
            cfg,
        })
    }

    /// Syncs the rules, then streams. `resume` (a post id) only seeds the high-water mark and,
    /// with `backfill_minutes`, asks for the backfill at once: see the module docs.
    pub fn stream(self, resume: Option<Cursor>) -> ItemStream {
        crate::common::spawn(Source::X, move |em| async move {
            let cursor = match resume {
                Some(c) => Some(c.0.parse::<u64>().map_err(|_| {
                    CollectorError::Checkpoint(format!("x cursor `{c}` is not a post id"))
                })?),
                None => None,
            };
            self.run(em, cursor).await
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.base_url.trim_end_matches('/'))
    }

    async fn run(self, mut em: Emitter, mut cursor: Option<u64>) -> Result<(), CollectorError> {
        let mut retry = Reconnect::new(Source::X, self.cfg.backoff);
        if self.cfg.sync_rules {
            loop {
                match self.sync_rules().await {
                    Ok(()) => break,
                    Err(e) => retry.after(&em, em.sent(), Err(e)).await?,
                }
            }
        }
        let mut seen = Recent::new(self.cfg.dedup_window);
        loop {
            let before = em.sent();
            let outcome = self.session(&mut em, &mut cursor, &mut seen).await;
            retry.after(&em, before, outcome).await?;
        }
    }

    /// Deletes the server's rules that are not configured, then adds the missing ones.
    async fn sync_rules(&self) -> Result<(), CollectorError> {
        let url = self.url("/2/tweets/search/stream/rules");
        let req = self.http.get(&url).bearer_auth(self.token.expose());
        let body = get_body(req, &self.cfg.http, "x").await?;
        let listed: Value =
            serde_json::from_slice(&body).map_err(|e| CollectorError::Malformed {
                reason: "rules_response",
                detail: e.to_string(),
            })?;
        let server: Vec<ServerRule> = match listed.get("data") {
            None | Some(Value::Null) => Vec::new(), // no rules yet: X omits `data`
            Some(d) => {
                serde_json::from_value(d.clone()).map_err(|e| CollectorError::Malformed {
                    reason: "rules_response",
                    detail: e.to_string(),
                })?
            }
        };
        let wanted = |r: &ServerRule| {
            self.cfg
                .rules
                .iter()
                .any(|w| w.value == r.value && w.tag == r.tag)
        };
        let delete: Vec<&str> = server
            .iter()
            .filter(|r| !wanted(r))
            .map(|r| r.id.as_str())
            .collect();
        let add: Vec<Value> = self
            .cfg
            .rules
            .iter()
            .filter(|w| !server.iter().any(|r| r.value == w.value && r.tag == w.tag))
            .map(|w| match &w.tag {
                Some(t) => json!({"value": w.value, "tag": t}),
                None => json!({"value": w.value}),
            })
            .collect();
        if !delete.is_empty() {
            self.post_rules(&url, json!({"delete": {"ids": delete}}))
                .await?;
        }
        if !add.is_empty() {
            self.post_rules(&url, json!({"add": add})).await?;
        }
        tracing::info!(
            deleted = delete.len(),
            added = add.len(),
            kept = server.len() - delete.len(),
            "x stream rules synced"
        );
        Ok(())
    }

    async fn post_rules(&self, url: &str, body: Value) -> Result<(), CollectorError> {
        let req = self
            .http
            .post(url)
            .bearer_auth(self.token.expose())
            .header("content-type", "application/json")
            .body(body.to_string());
        let answer = get_body(req, &self.cfg.http, "x").await?;
        let answer: Value = serde_json::from_slice(&answer).unwrap_or_default();
        // A rule X rejects (bad syntax, too long) comes back as a 2xx with `errors`: our config
        // is wrong, and retrying will not fix it.
        let invalid = answer
            .pointer("/meta/summary/invalid")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let not_deleted = answer
            .pointer("/meta/summary/not_deleted")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if invalid > 0 || not_deleted > 0 {
            let errors = answer
                .get("errors")
                .map(Value::to_string)
                .unwrap_or_default();
            return Err(CollectorError::Config(format!(
                "x.rules: X refused {} rule change(s): {errors}",
                invalid + not_deleted
            )));
        }
        Ok(())
    }

    async fn session(
        &self,
        em: &mut Emitter,
        cursor: &mut Option<u64>,
        seen: &mut Recent<u64>,
    ) -> Result<(), CollectorError> {
        let mut query = vec![
            ("tweet.fields", self.cfg.tweet_fields.join(",")),
            ("expansions", self.cfg.expansions.join(",")),
            ("user.fields", self.cfg.user_fields.join(",")),
            ("media.fields", self.cfg.media_fields.join(",")),
        ];
        if self.cfg.backfill_minutes > 0 && cursor.is_some() {
            query.push(("backfill_minutes", self.cfg.backfill_minutes.to_string()));
        }
        let req = self
            .http
            .get(self.url("/2/tweets/search/stream"))
            .query(&query)
            .bearer_auth(self.token.expose());
        let resp = check(send_stream(req, self.cfg.idle_timeout).await?, "x").await?;
        let mut body = resp.bytes_stream();
        let max = self.cfg.http.max_line_bytes;
        let mut lines = LineBuffer::new(max);
        let mut out = Vec::new();
        while let Some(chunk) = next_chunk(&mut body, self.cfg.idle_timeout).await? {
            lines.push(&chunk, &mut out);
            for line in out.drain(..) {
                let line = match line {
                    Line::Complete(l) => l,
                    Line::TooLong { prefix } => {
                        // Each line is a whole frame: the next newline is the next frame.
                        let then = "resyncing at the next line";
                        em.oversized("a stream line", "http.max_line_bytes", max, then, &prefix)
                            .await?;
                        continue;
                    }
                };
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue; // keep-alive
                }
                if !self.frame(em, cursor, seen, &line).await? {
                    return Ok(());
                }
            }
        }
        Ok(()) // closed by the server; a half-sent last line is dropped with `lines`
    }

    /// Handles one line; false when the server said it is about to disconnect us.
    async fn frame(
        &self,
        em: &mut Emitter,
        cursor: &mut Option<u64>,
        seen: &mut Recent<u64>,
        line: &[u8],
    ) -> Result<bool, CollectorError> {
        let value: Value = match serde_json::from_slice(line) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                em.malformed("malformed_json", line).await?;
                return Ok(true);
            }
        };
        if value.get("data").is_none() {
            // `{"errors":[{"title":"operational-disconnect", …}]}` precedes a server-side close.
            let errors = value
                .get("errors")
                .map(Value::to_string)
                .unwrap_or_default();
            tracing::warn!(source = "x", %errors, "stream message without data");
            return Ok(!errors.contains("disconnect"));
        }
        let raw = self.cfg.keep_raw.then(|| value.clone());
        let frame: normalise::Frame = match serde_json::from_value(value) {
            Ok(f) => f,
            Err(e) => {
                em.malformed_because("not_a_post", e.to_string(), line)
                    .await?;
                return Ok(true);
            }
        };
        let Ok(id) = frame.data.id.parse::<u64>() else {
            em.malformed("bad_id", line).await?;
            return Ok(true);
        };
        if !seen.insert(id) {
            return Ok(true);
        }
        match normalise::to_mention(frame, Utc::now(), raw) {
            Ok(m) => {
                *cursor = Some(cursor.map_or(id, |c| c.max(id)));
                em.mention(m, cursor.map(|c| Cursor(c.to_string()))).await?;
            }
            Err(reason) => em.malformed(reason, line).await?,
        }
        Ok(true)
    }
}

/// Decodes one pushed X v2 payload (for the webhook's native endpoint): a filtered-stream frame
/// (`{"data": <post>, "includes", "matching_rules"}`) or a v2 response whose `data` is a list of
/// posts (search, timelines, lookups), each post with the response's `includes`. A post without
/// its author is kept as the stream keeps it.
pub(crate) fn decode_payload(
    payload: &[u8],
    collected_at: chrono::DateTime<Utc>,
) -> Result<Vec<model::Mention>, &'static str> {
    let mut value: Value = serde_json::from_slice(payload).map_err(|_| "malformed_json")?;
    let posts = match value.get_mut("data").map(Value::take) {
        Some(Value::Array(posts)) => posts,
        Some(post @ Value::Object(_)) => vec![post],
        _ => return Err("not_a_post"),
    };
    let includes = value.get("includes").cloned().unwrap_or_else(|| json!({}));
    let rules = value
        .get("matching_rules")
        .cloned()
        .unwrap_or_else(|| json!([]));
    posts
        .into_iter()
        .map(|post| {
            let frame = json!({"data": post, "includes": includes, "matching_rules": rules});
            let frame: normalise::Frame =
                serde_json::from_value(frame).map_err(|_| "not_a_post")?;
            normalise::to_mention(frame, collected_at, None)
        })
        .collect()
}
