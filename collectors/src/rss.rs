//! RSS and Atom feeds, polled with conditional GETs.
//!
//! One collector follows one feed (the runner's collector name is the checkpoint key, so each
//! feed has its own cursor). Every `poll_interval` it sends `If-None-Match` / `If-Modified-Since`
//! with the validators of the last 200 answer; a `304 Not Modified` costs the server nothing.
//! A changed feed is parsed by `feed-rs` (RSS 0.9x/2.0, RDF/RSS 1.0, Atom 0.3/1.0), or where
//! feed-rs rejects or misreads it by our lenient reader (`rss/lenient.rs`: the dialects and
//! broken documents real readers accept, one entry at a time), and its entries not seen before
//! are emitted oldest first (by published/updated date; undated ones in reverse document order,
//! since feeds list the newest first). A document neither reads, or one cut short, is counted
//! as malformed and not remembered.
//!
//! The cursor is the list of seen entries — a 64-bit FNV-1a hash of each entry id, newest
//! last, bounded by `remember` (keep it above the feed's length, or entries that drop out of
//! the list and reappear would come again). Dates are not used to decide what is new: feeds
//! backdate, re-date on edit, and omit dates, so "newer than the newest date" would both drop
//! and repeat entries. An edited entry keeps its id and is therefore not emitted again.
//! The HTTP validators are kept in memory only: a cursor is saved per item, and a restart that
//! sent the validators of a poll whose later items were never acknowledged would get a 304 and
//! lose them; after a restart the first poll is unconditional and the seen list filters it.

mod lenient;
mod normalise;

use std::collections::VecDeque;
use std::time::Duration;

use chrono::Utc;
use model::Source;
use serde::{Deserialize, Serialize};

use crate::common::http::{check, client_with, read_body, send};
use crate::common::{
    BackoffConfig, CollectorError, Cursor, Emitter, HttpLimits, ItemStream, Reconnect,
};

pub use normalise::{ParsedEntry, ParsedFeed, parse};

/// How to poll one feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RssConfig {
    /// The feed's URL.
    pub url: String,
    /// Time between polls (`"5m"`). Be polite: most feeds change a few times a day.
    #[serde(default = "default_poll", with = "crate::common::duration")]
    pub poll_interval: Duration,
    /// Entries remembered as seen (the cursor's length); keep it above the feed's entry count.
    #[serde(default = "default_remember")]
    pub remember: usize,
    /// Without a cursor, only mark the entries in the feed as seen instead of emitting them.
    #[serde(default)]
    pub skip_existing: bool,
    /// Retry pacing after failures.
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// Timeouts, size caps and redirects. A document over `http.max_body_bytes` is counted as
    /// oversized and the feed polled again after `poll_interval`.
    #[serde(default)]
    pub http: HttpLimits,
}

fn default_poll() -> Duration {
    Duration::from_secs(300)
}
fn default_remember() -> usize {
    1000
}

/// The RSS/Atom collector.
#[derive(Debug)]
pub struct Rss {
    cfg: RssConfig,
    http: reqwest::Client,
}

/// What the last 200 answer said, to make the next GET conditional.
#[derive(Debug, Default)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

/// Entries seen, by hash of their id, oldest first.
#[derive(Debug)]
struct Seen {
    order: VecDeque<u64>,
    cap: usize,
}

impl Seen {
    fn parse(c: &Cursor, cap: usize) -> Result<Seen, CollectorError> {
        let mut order = VecDeque::new();
        for h in c.0.split(',').filter(|s| !s.is_empty()) {
            order.push_back(u64::from_str_radix(h, 16).map_err(|_| {
                CollectorError::Checkpoint(format!("rss cursor: `{h}` is not an entry hash"))
            })?);
        }
        while order.len() > cap {
            order.pop_front();
        }
        Ok(Seen { order, cap })
    }

    fn contains(&self, h: u64) -> bool {
        self.order.contains(&h)
    }

    fn insert(&mut self, h: u64) {
        self.order.push_back(h);
        if self.order.len() > self.cap {
            self.order.pop_front();
        }
    }

    fn cursor(&self) -> Cursor {
        let mut s = String::with_capacity(self.order.len() * 17);
        for h in &self.order {
            if !s.is_empty() {
                s.push(',');
            }
            s.push_str(&format!("{h:016x}"));
        }
        Cursor(s)
    }
}

fn hash(id: &str) -> u64 {
    let mut h = normalise::Fnv::default();
    h.write(id);
    h.0
}

impl Rss {
    pub fn new(cfg: RssConfig) -> Result<Self, CollectorError> {
        let url = reqwest::Url::parse(&cfg.url)
            .map_err(|e| CollectorError::Config(format!("rss.url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(CollectorError::Config(
                "rss.url: expected an http or https URL".into(),
            ));
        }
        if cfg.remember == 0 {
            return Err(CollectorError::Config(
                "rss.remember: expected at least 1".into(),
            ));
        }
        cfg.http.validate("rss.http")?;
        Ok(Rss {
            http: client_with(&cfg.http)?,
            cfg,
        })
    }

    /// Polls from the seen list in `resume`, or from an empty one.
    pub fn stream(self, resume: Option<Cursor>) -> ItemStream {
        crate::common::spawn(Source::Rss, move |em| async move {
            let fresh = resume.is_none();
            let seen = match resume {
                Some(c) => Seen::parse(&c, self.cfg.remember)?,
                None => Seen {
                    order: VecDeque::new(),
                    cap: self.cfg.remember,
                },
            };
            self.run(em, seen, fresh).await
        })
    }

    async fn run(self, mut em: Emitter, mut seen: Seen, fresh: bool) -> Result<(), CollectorError> {
        let mut retry = Reconnect::new(Source::Rss, self.cfg.backoff);
        let mut validators = Validators::default();
        let mut mark_only = fresh && self.cfg.skip_existing;
        loop {
            let before = em.sent();
            match self
                .poll(&mut em, &mut seen, &mut validators, mark_only)
                .await
            {
                Ok(read) => {
                    // The first document read marks what was there; one that could not be read
                    // leaves that to the next poll, or it would emit the whole feed.
                    mark_only &= !read;
                    tokio::time::sleep(self.cfg.poll_interval).await;
                }
                Err(e) => retry.after(&em, before, Err(e)).await?,
            }
        }
    }

    /// One poll; `Ok(true)` when it read the feed's entries (`Ok(false)`: unchanged, over the
    /// size cap, or not a feed).
    async fn poll(
        &self,
        em: &mut Emitter,
        seen: &mut Seen,
        validators: &mut Validators,
        mark_only: bool,
    ) -> Result<bool, CollectorError> {
        let mut req = self.http.get(&self.cfg.url).header(
            "accept",
            "application/atom+xml, application/rss+xml, application/rdf+xml, \
                 application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5",
        );
        if let Some(e) = &validators.etag {
            req = req.header("if-none-match", e);
        }
        if let Some(m) = &validators.last_modified {
            req = req.header("if-modified-since", m);
        }
        let resp = send(req, &self.cfg.http).await?;
        if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(false);
        }
        let resp = check(resp, "rss").await?;
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let fresh_validators = Validators {
            etag: header("etag"),
            last_modified: header("last-modified"),
        };
        let body = match read_body(resp, &self.cfg.http).await {
            Ok(b) => b,
            Err(CollectorError::TooLarge { what, key, limit }) => {
                // Polling again soon would fetch the same document: wait for the next poll.
                let then = "polling again after poll_interval";
                em.oversized(what, key, limit, then, self.cfg.url.as_bytes())
                    .await?;
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let feed = match normalise::parse(&body, &self.cfg.url, Utc::now()) {
            Ok(f) => f,
            Err(e) => {
                em.malformed_because("malformed_feed", e, &body).await?;
                // Not remembered: a fixed document must not be answered with a 304.
                return Ok(false);
            }
        };
        *validators = fresh_validators;
        let mut new: Vec<(usize, u64, model::Mention)> = feed
            .entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| (i, hash(&e.id), e.mention))
            .filter(|(_, h, _)| !seen.contains(*h))
            .collect();
        // Oldest first; undated entries (created_at = now) after dated ones, reverse document order.
        new.sort_by(|a, b| a.2.created_at.cmp(&b.2.created_at).then(b.0.cmp(&a.0)));
        let mut dup = std::collections::HashSet::new();
        for (_, h, m) in new {
            if !dup.insert(h) {
                continue; // the same id twice in one document
            }
            seen.insert(h);
            if !mark_only {
                em.mention(m, Some(seen.cursor())).await?;
            }
        }
        Ok(true)
    }
}
