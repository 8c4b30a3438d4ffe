//! Hacker News through its Firebase API: poll `maxitem.json`, fetch every new `item/<id>.json`
//! in id order.
//!
//! Stories, Ask/Show HN and polls become posts; comments become comments (`reply_to` is the
//! parent); deleted items become tombstones; jobs, poll options and dead items are passed over.
//! The cursor is the highest id handled *in order*: an id whose item is not written yet (the API
//! answers `null` for a moment after `maxitem` moves) holds the cursor back until it appears or
//! has been missing for `max_null_polls` polls, so a restart never skips one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use model::{Author, Engagement, Kind, Media, MediaKind, Mention, References, Source};
use serde::{Deserialize, Serialize};

use crate::common::http::{client_with, get_body};
use crate::common::{
    Backoff, BackoffConfig, CollectorError, Cursor, Emitter, ErrorClass, HttpLimits, ItemStream,
    Reconnect, html,
};

/// How to poll Hacker News.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HackerNewsConfig {
    /// API root.
    #[serde(default = "default_base")]
    pub base_url: String,
    /// Time between polls of `maxitem` once caught up (`"5s"`).
    #[serde(default = "default_poll", with = "crate::common::duration")]
    pub poll_interval: Duration,
    /// Without a cursor, start this many items before the current `maxitem`.
    #[serde(default)]
    pub backfill: u64,
    /// Items fetched in parallel (delivered in id order all the same).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Polls an id may stay `null` before it is passed over.
    #[serde(default = "default_max_null")]
    pub max_null_polls: u32,
    /// Reconnect pacing after failures.
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// Keep the item JSON in `Mention::raw`.
    #[serde(default)]
    pub keep_raw: bool,
    /// Timeouts, size caps and redirects for every request.
    #[serde(default)]
    pub http: HttpLimits,
}

fn default_base() -> String {
    "https://hacker-news.firebaseio.com/v0".into()
}
fn default_poll() -> Duration {
    Duration::from_secs(5)
}
fn default_concurrency() -> usize {
    8
}
fn default_max_null() -> u32 {
    3
}

/// The Hacker News collector.
#[derive(Debug)]
pub struct HackerNews {
    cfg: HackerNewsConfig,
    http: reqwest::Client,
}

#[derive(Debug, Deserialize)]
struct HnItem {
    id: u64,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    time: Option<i64>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    parent: Option<u64>,
    #[serde(default)]
    score: Option<u64>,
    #[serde(default)]
    descendants: Option<u64>,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    dead: bool,
}

/// One fetched id.
enum Fetched {
    Item(Box<HnItem>, Option<serde_json::Value>),
    /// `null`: not written yet.
    Missing,
    Bad(Vec<u8>),
}

impl HackerNews {
    pub fn new(cfg: HackerNewsConfig) -> Result<Self, CollectorError> {
        reqwest::Url::parse(&cfg.base_url)
            .map_err(|e| CollectorError::Config(format!("hackernews.base_url: {e}")))?;
        if cfg.concurrency == 0 || cfg.concurrency > 64 {
            return Err(CollectorError::Config(
                "hackernews.concurrency: expected 1..=64".into(),
            ));
        }
        cfg.http.validate("hackernews.http")?;
        Ok(HackerNews {
            http: client_with(&cfg.http)?,
            cfg,
        })
    }

    /// Polls from after the cursor (an item id), or from `maxitem - backfill`.
    pub fn stream(self, resume: Option<Cursor>) -> ItemStream {
        crate::common::spawn(Source::Hackernews, move |em| async move {
            let cursor = match resume {
                Some(c) => Some(c.0.parse::<u64>().map_err(|_| {
                    CollectorError::Checkpoint(format!("hackernews cursor `{c}` is not an item id"))
                })?),
                None => None,
            };
            self.run(em, cursor).await
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.cfg.base_url.trim_end_matches('/'))
    }

    async fn run(self, mut em: Emitter, mut cursor: Option<u64>) -> Result<(), CollectorError> {
        let mut retry = Reconnect::new(Source::Hackernews, self.cfg.backoff);
        let mut nulls = 0u32;
        loop {
            let before = em.sent();
            match self.poll(&mut em, &mut cursor, &mut nulls).await {
                Ok(caught_up) => {
                    if caught_up {
                        tokio::time::sleep(self.cfg.poll_interval).await;
                    }
                }
                Err(e) => retry.after(&em, before, Err(e)).await?,
            }
        }
    }

    /// One round: fetch `maxitem`, then the ids after the cursor in order. True when caught up.
    async fn poll(
        &self,
        em: &mut Emitter,
        cursor: &mut Option<u64>,
        nulls: &mut u32,
    ) -> Result<bool, CollectorError> {
        let req = self.http.get(self.url("maxitem.json"));
        let body = get_body(req, &self.cfg.http, "hackernews").await?;
        let max: u64 = serde_json::from_slice(&body).map_err(|_| CollectorError::Http {
            status: 200,
            detail: format!(
                "maxitem is not a number: {}",
                String::from_utf8_lossy(&body[..body.len().min(100)])
            ),
        })?;
        let start = cursor.unwrap_or_else(|| max.saturating_sub(self.cfg.backfill));
        if cursor.is_none() {
            *cursor = Some(start);
        }
        let end = max.min(start + 500); // a bounded round; the next one continues at once
        let ids = (start + 1)..=end;
        let mut fetched =
            futures_util::stream::iter(ids.map(|id| self.fetch(id))).buffered(self.cfg.concurrency);
        while let Some(res) = fetched.next().await {
            let (id, f) = res?;
            match f {
                Fetched::Missing if *nulls < self.cfg.max_null_polls => {
                    *nulls += 1;
                    return Ok(true); // wait for it to be written
                }
                Fetched::Missing => {
                    let detail = format!(
                        "item {id} still null after {} polls",
                        self.cfg.max_null_polls
                    );
                    em.malformed_because("missing_item", detail, id.to_string().as_bytes())
                        .await?
                }
                Fetched::Bad(body) => em.malformed("malformed_item", &body).await?,
                Fetched::Item(item, raw) => {
                    let c = Some(Cursor(id.to_string()));
                    if item.deleted {
                        em.delete(format!("hackernews:{id}"), c).await?;
                    } else if let Some(m) = to_mention(*item, Utc::now(), raw) {
                        em.mention(m, c).await?;
                    }
                }
            }
            *nulls = 0;
            *cursor = Some(id);
        }
        Ok(end >= max)
    }

    /// Fetches one item, retrying a failure of that item alone (a 429, a 5xx, a reset) a few
    /// times with backoff, so one throttled fetch does not throw away the items fetched
    /// concurrently with it. After the last try the round fails and resumes at this id.
    async fn fetch(&self, id: u64) -> Result<(u64, Fetched), CollectorError> {
        const TRIES: u32 = 4;
        let mut backoff = Backoff::new(self.cfg.backoff);
        let mut tries = 1;
        loop {
            match self.fetch_once(id).await {
                Err(e) if e.class() == ErrorClass::External && tries < TRIES => {
                    let wait = match &e {
                        CollectorError::RateLimited {
                            retry_after: Some(d),
                        } => *d,
                        _ => backoff.next_delay(),
                    };
                    tracing::debug!(id, error = %e, retry_in = ?wait, "item fetch failed; retrying it");
                    tokio::time::sleep(wait).await;
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    async fn fetch_once(&self, id: u64) -> Result<(u64, Fetched), CollectorError> {
        let req = self.http.get(self.url(&format!("item/{id}.json")));
        let body = get_body(req, &self.cfg.http, "hackernews").await?;
        let value: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return Ok((id, Fetched::Bad(body))),
        };
        if value.is_null() {
            return Ok((id, Fetched::Missing));
        }
        let raw = self.cfg.keep_raw.then(|| value.clone());
        Ok(match serde_json::from_value::<HnItem>(value) {
            Ok(item) if item.id == id => (id, Fetched::Item(Box::new(item), raw)),
            _ => (id, Fetched::Bad(body)),
        })
    }
}

/// Normalises an item; `None` for what is not a mention (jobs, poll options, dead items).
fn to_mention(
    item: HnItem,
    collected_at: DateTime<Utc>,
    raw: Option<serde_json::Value>,
) -> Option<Mention> {
    let kind = match item.kind.as_deref()? {
        "story" | "poll" => Kind::Post,
        "comment" => Kind::Comment,
        _ => return None,
    };
    if item.dead {
        return None;
    }
    let by = item.by?;
    let body = item.text.as_deref().map(html::to_text).unwrap_or_default();
    let text = match (
        item.title.as_deref().map(html::decode_entities),
        body.is_empty(),
    ) {
        (Some(t), true) => t,
        (Some(t), false) => format!("{t}\n\n{body}"),
        (None, _) => body,
    };
    Some(Mention {
        id: format!("hackernews:{}", item.id),
        source: Source::Hackernews,
        kind,
        url: Some(format!("https://news.ycombinator.com/item?id={}", item.id)),
        created_at: DateTime::from_timestamp(item.time?, 0)?,
        collected_at,
        edited_at: None,
        text,
        lang_hint: None,
        author: Author {
            id: by.clone(),
            handle: by,
            ..Author::default()
        },
        engagement: Engagement {
            likes: item.score,
            replies: item.descendants,
            ..Engagement::default()
        },
        refs: References {
            reply_to: item
                .parent
                .filter(|_| kind == Kind::Comment)
                .map(|p| format!("hackernews:{p}")),
            ..References::default()
        },
        media: item
            .url
            .into_iter()
            .map(|url| Media {
                kind: MediaKind::Link,
                url,
                alt_text: None,
            })
            .collect(),
        geo: None,
        raw,
        extra: Default::default(),
    })
}

/// Decodes one item JSON (for the webhook's native endpoint).
pub(crate) fn decode_item(
    payload: &[u8],
    collected_at: DateTime<Utc>,
) -> Result<Vec<Mention>, &'static str> {
    let item: HnItem = serde_json::from_slice(payload).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            "malformed_json"
        } else {
            "not_an_item"
        }
    })?;
    Ok(to_mention(item, collected_at, None).into_iter().collect())
}
