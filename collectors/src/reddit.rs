//! Reddit: the newest submissions and comments of configured subreddits, polled over OAuth.
//!
//! **Auth.** App-only OAuth2 (client credentials): `POST {auth_url}/api/v1/access_token` with
//! the app's client id and secret as HTTP basic auth and `grant_type=client_credentials`. The
//! token is fetched again shortly before its `expires_in` runs out, and once more when the API
//! answers 401 (a token revoked early); a 401 with a fresh token, and any 403 (bad credentials,
//! a private, banned or quarantined subreddit), stop the collector: retrying cannot help.
//! Every request carries the configured `user_agent`; Reddit throttles or blocks generic ones.
//!
//! **Polling.** Each round GETs, for every entry of `subreddits`, `{api_url}/r/{sub}/new`
//! (submissions, when `submissions`) and `{api_url}/r/{sub}/comments` (comments, when
//! `comments`) with `limit=100&raw_json=1`. An entry may join several subreddits as
//! `rust+programming`: one listing, one request. When a whole page is new, older pages follow
//! (`after=`) up to `max_pages`, so a busy listing between two polls is not cut off at 100.
//! Things are emitted oldest first within a listing; listings follow one another.
//!
//! **Rate limits.** Reddit counts requests per client in windows and reports
//! `X-Ratelimit-Used`, `-Remaining` and `-Reset` (seconds until the window resets) on each
//! answer. When no more than `min_remaining` requests are left, no request goes out until the
//! reset. A 429 is retried after its `Retry-After` (or the reset) and the backoff.
//!
//! **No duplicates, resumable.** The cursor holds, per listing, the newest fullname seen and
//! the `remember` most recent ones (`seen.rs` says why both): a thing is emitted once, across
//! overlapping polls and across a restart from the checkpoint. Listings do not offer a stable
//! way to page *forward* (`before=` returns nothing once its anchor is deleted), so each poll
//! reads from the top and the cursor filters. Without a cursor, only the newest `backfill`
//! things of each listing are emitted; the rest of the first page is marked as seen.
//!
//! **Deleted and removed things are skipped, not tombstoned.** A thing shown as deleted or
//! removed when we first see it was never delivered, so there is nothing downstream to retract;
//! a tombstone would only be noise. The listings show only new things, so a deletion after we
//! delivered one is not observed (that would take re-fetching every delivered fullname through
//! `/api/info`, a request budget this collector does not spend).
//!
//! Mentions: submissions are posts (`title`, a blank line, the self text; `url` is the
//! permalink; a link post's target is a link media; `likes` = score, `replies` =
//! `num_comments`), comments are comments (`reply_to` = the parent, `conversation` = the
//! submission, both as `reddit:<fullname>` ids). Ids are `reddit:<fullname>` (`reddit:t3_abc`),
//! the author's id is their `t2_` fullname, and `extra.subreddit` names the community.
//!
//! Config keys (`type = "reddit"`): `client_id`, `client_secret` (a secret ref), `user_agent`,
//! `subreddits`, `submissions`, `comments`, `auth_url`, `api_url`, `poll_interval`,
//! `backfill`, `max_pages`, `remember`, `min_remaining`, `http`, `backoff`,
//! `keep_raw`.

mod api;
mod normalise;
mod seen;

use std::time::Duration;

use chrono::Utc;
use model::Source;
use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};

use crate::common::http::client_with;
use crate::common::{
    BackoffConfig, CollectorError, Cursor, Emitter, HttpLimits, ItemStream, Reconnect, SecretRef,
};
use api::Api;
use seen::{State, parse_fullname};

/// How to poll Reddit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedditConfig {
    /// The app's client id (reddit.com/prefs/apps; not a secret).
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: SecretRef,
    /// User-Agent for every request; Reddit asks for
    /// `<platform>:<app id>:<version> (by /u/<username>)`.
    pub user_agent: String,
    /// Subreddits to follow, one listing each: `"rust"`, or several as `"rust+programming"`;
    /// a leading `r/` is allowed.
    pub subreddits: Vec<String>,
    /// Poll `/r/{sub}/new` for submissions.
    #[serde(default = "default_true")]
    pub submissions: bool,
    /// Poll `/r/{sub}/comments` for comments.
    #[serde(default = "default_true")]
    pub comments: bool,
    /// Root of the token endpoint.
    #[serde(default = "default_auth_url")]
    pub auth_url: String,
    /// Root of the OAuth API.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Time between poll rounds (`"10s"`). A round costs one request per listing.
    #[serde(default = "default_poll", with = "crate::common::duration")]
    pub poll_interval: Duration,
    /// Without a cursor, emit this many of each listing's newest things (0..=100).
    #[serde(default)]
    pub backfill: usize,
    /// Pages of 100 read from one listing in one round when all of a page is new (1..=10).
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Fullnames remembered (and checkpointed) per listing to drop overlaps (1..=1000).
    #[serde(default = "default_remember")]
    pub remember: usize,
    /// Pause until the rate-limit window resets once `X-Ratelimit-Remaining` is at or below
    /// this.
    #[serde(default = "default_min_remaining")]
    pub min_remaining: u32,
    /// Retry pacing after failures.
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// Keep each thing's JSON (`{"kind", "data"}`) in `Mention::raw`.
    #[serde(default)]
    pub keep_raw: bool,
    /// Timeouts, size caps and redirects for every request (token and listings).
    #[serde(default)]
    pub http: HttpLimits,
}

fn default_true() -> bool {
    true
}
fn default_auth_url() -> String {
    "https://www.reddit.com".into()
}
fn default_api_url() -> String {
    "https://oauth.reddit.com".into()
}
fn default_poll() -> Duration {
    Duration::from_secs(10)
}
fn default_max_pages() -> u32 {
    3
}
fn default_remember() -> usize {
    100
}
fn default_min_remaining() -> u32 {
    2
}

/// One listing to poll.
#[derive(Debug, Clone)]
struct Listing {
    /// `r/rust/new`: the URL path and the cursor key.
    path: String,
    /// The fullname prefix of what it lists (`t3`, `t1`).
    prefix: &'static str,
}

/// The Reddit collector.
#[derive(Debug)]
pub struct Reddit {
    listings: Vec<Listing>,
    pacing: Pacing,
    /// Boxed: the token, URLs and secret would make it the largest [`crate::Collector`].
    api: Box<Api>,
}

/// The config's polling knobs, kept after [`Reddit::new`] moved the rest into [`Api`].
#[derive(Debug, Clone, Copy)]
struct Pacing {
    poll_interval: Duration,
    backfill: usize,
    max_pages: u32,
    remember: usize,
    backoff: BackoffConfig,
    keep_raw: bool,
}

impl Reddit {
    /// Checks the config and reads the client secret.
    pub fn new(cfg: RedditConfig) -> Result<Self, CollectorError> {
        let bad = |key: &str, what: &str| CollectorError::Config(format!("reddit.{key}: {what}"));
        for (key, url) in [("auth_url", &cfg.auth_url), ("api_url", &cfg.api_url)] {
            reqwest::Url::parse(url).map_err(|e| bad(key, &e.to_string()))?;
        }
        if cfg.client_id.trim().is_empty() {
            return Err(bad("client_id", "expected the app's client id"));
        }
        let user_agent = HeaderValue::from_str(cfg.user_agent.trim())
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                bad(
                    "user_agent",
                    "expected a descriptive User-Agent such as \
                     \"linux:backchannel:1.0 (by /u/you)\"",
                )
            })?;
        if !cfg.submissions && !cfg.comments {
            return Err(bad(
                "submissions",
                "at least one of `submissions` and `comments` must be true",
            ));
        }
        if cfg.backfill > 100 {
            return Err(bad("backfill", "expected 0..=100"));
        }
        if !(1..=10).contains(&cfg.max_pages) {
            return Err(bad("max_pages", "expected 1..=10"));
        }
        if !(1..=1000).contains(&cfg.remember) {
            return Err(bad("remember", "expected 1..=1000"));
        }
        if cfg.subreddits.is_empty() {
            return Err(bad("subreddits", "expected at least one subreddit"));
        }
        let mut listings = Vec::new();
        for raw in &cfg.subreddits {
            let sub = subreddit_path(raw).ok_or_else(|| {
                bad(
                    "subreddits",
                    &format!("`{raw}` is not a subreddit name like \"rust\" or \"rust+golang\""),
                )
            })?;
            for (on, what, prefix) in [
                (cfg.submissions, "new", "t3"),
                (cfg.comments, "comments", "t1"),
            ] {
                let path = format!("r/{sub}/{what}");
                if on && !listings.iter().any(|l: &Listing| l.path == path) {
                    listings.push(Listing { path, prefix });
                }
            }
        }
        cfg.http.validate("reddit.http")?;
        let secret = cfg.client_secret.resolve("reddit.client_secret")?;
        let api = Box::new(Api::new(
            client_with(&cfg.http)?,
            &cfg.auth_url,
            &cfg.api_url,
            cfg.client_id.trim().to_owned(),
            secret,
            user_agent,
            cfg.http.clone(),
            f64::from(cfg.min_remaining),
        ));
        let pacing = Pacing {
            poll_interval: cfg.poll_interval,
            backfill: cfg.backfill,
            max_pages: cfg.max_pages,
            remember: cfg.remember,
            backoff: cfg.backoff,
            keep_raw: cfg.keep_raw,
        };
        Ok(Reddit {
            listings,
            pacing,
            api,
        })
    }

    /// Polls from the seen fullnames in `resume`, or from the top of each listing.
    pub fn stream(self, resume: Option<Cursor>) -> ItemStream {
        crate::common::spawn(Source::Reddit, move |em| async move {
            let keys: Vec<(String, &'static str)> = self
                .listings
                .iter()
                .map(|l| (l.path.clone(), l.prefix))
                .collect();
            let mut state = State::new(&keys, self.pacing.remember);
            if let Some(c) = &resume {
                state.restore(c)?;
            }
            self.run(em, state).await
        })
    }

    async fn run(mut self, mut em: Emitter, mut state: State) -> Result<(), CollectorError> {
        let mut retry = Reconnect::new(Source::Reddit, self.pacing.backoff);
        loop {
            let before = em.sent();
            let mut outcome = Ok(());
            for i in 0..self.listings.len() {
                outcome = self.poll(&mut em, &mut state, i).await;
                if outcome.is_err() {
                    break;
                }
            }
            match outcome {
                Ok(()) => tokio::time::sleep(self.pacing.poll_interval).await,
                Err(e) => retry.after(&em, before, Err(e)).await?,
            }
        }
    }

    /// Reads listing `i` from the top down to what it has seen and emits the rest, oldest first.
    async fn poll(
        &mut self,
        em: &mut Emitter,
        state: &mut State,
        i: usize,
    ) -> Result<(), CollectorError> {
        let Listing { path, prefix } = self.listings[i].clone();
        let Some(seen) = state.get(&path) else {
            return Ok(());
        };
        let fresh = seen.is_empty();
        let newest = seen.newest();
        let mut new: Vec<(u64, serde_json::Value)> = Vec::new();
        let mut after: Option<String> = None;
        let mut listed = false;
        for page in 1..=self.pacing.max_pages {
            let body = self.api.listing(em, &path, after.as_deref()).await?;
            let Some(listing) = normalise::parse_listing(&body) else {
                em.malformed("malformed_listing", &body).await?;
                break; // what the earlier pages had is still good
            };
            listed = true;
            let mut reached_seen = false;
            for child in listing.data.children {
                let id = match normalise::kind_and_name(&child)
                    .and_then(|(kind, name)| Some((kind, parse_fullname(name)?)))
                {
                    Some((kind, (p, id))) if kind == prefix && p == prefix => id,
                    _ => {
                        em.malformed("unexpected_thing", child.to_string().as_bytes())
                            .await?;
                        continue;
                    }
                };
                reached_seen |= newest.is_some_and(|n| id <= n);
                if state.get(&path).is_some_and(|s| s.is_new(id)) {
                    new.push((id, child));
                }
            }
            match listing.data.after {
                _ if fresh || reached_seen => break,
                Some(a) if page < self.pacing.max_pages => after = Some(a),
                Some(_) => {
                    tracing::warn!(
                        source = "reddit",
                        listing = %path,
                        pages = page,
                        "more new things than max_pages pages since the last poll; the \
                         oldest were not read (poll more often or raise max_pages)"
                    );
                    break;
                }
                None => break,
            }
        }
        new.sort_by_key(|(id, _)| *id);
        new.dedup_by_key(|(id, _)| *id);
        if fresh && listed && new.is_empty() {
            // Read, and empty (a new or quiet subreddit): no longer a first poll, or the
            // first things to appear would be taken for what was there before we started.
            // 0 is below every id, so everything stays new.
            state.insert(&path, 0);
        }
        let emit_from = if fresh {
            new.len().saturating_sub(self.pacing.backfill)
        } else {
            0
        };
        for (n, (id, child)) in new.into_iter().enumerate() {
            state.insert(&path, id);
            if n < emit_from {
                continue; // first poll without a cursor: only marked as seen
            }
            let sample = child.to_string();
            match normalise::to_mention(child, Utc::now(), self.pacing.keep_raw) {
                Ok(Some(m)) => em.mention(m, Some(state.cursor())).await?,
                Ok(None) => {} // deleted or removed: see the module docs
                Err(reason) => em.malformed(reason, sample.as_bytes()).await?,
            }
        }
        Ok(())
    }
}

/// `"r/rust+golang"` → `"rust+golang"`; `None` unless every part is a subreddit name
/// (letters, digits, `_`).
fn subreddit_path(raw: &str) -> Option<String> {
    let s = raw.trim().trim_start_matches('/');
    let s = s.strip_prefix("r/").unwrap_or(s).trim_end_matches('/');
    let ok = !s.is_empty()
        && s.split('+').all(|part| {
            !part.is_empty()
                && part.len() <= 21
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
    ok.then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config whose secret is `$PATH`: any variable that is set will do for validation.
    fn config(extra: &str) -> RedditConfig {
        toml::from_str(&format!(
            "client_id = \"abc\"\nclient_secret = {{ env = \"PATH\" }}\n\
             user_agent = \"test:backchannel:0.1 (by /u/nobody)\"\n{extra}"
        ))
        .expect("config")
    }

    #[test]
    fn subreddit_names_and_multis() {
        assert_eq!(subreddit_path("rust").as_deref(), Some("rust"));
        assert_eq!(subreddit_path("/r/a+b_c/").as_deref(), Some("a+b_c"));
        for bad in ["", "r/", "a+", "a b", "a/new", "../x"] {
            assert_eq!(subreddit_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn config_errors_name_the_key() {
        let ok = Reddit::new(config(
            "subreddits = [\"rust\", \"r/a+b\"]\ncomments = false",
        ))
        .expect("valid");
        let paths: Vec<&str> = ok.listings.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(paths, ["r/rust/new", "r/a+b/new"]);
        for (extra, key) in [
            ("subreddits = []", "reddit.subreddits"),
            ("subreddits = [\"no such\"]", "reddit.subreddits"),
            (
                "subreddits = [\"x\"]\nsubmissions = false\ncomments = false",
                "reddit.submissions",
            ),
            ("subreddits = [\"x\"]\nbackfill = 101", "reddit.backfill"),
            ("subreddits = [\"x\"]\nmax_pages = 0", "reddit.max_pages"),
            ("subreddits = [\"x\"]\napi_url = \"nope\"", "reddit.api_url"),
        ] {
            let err = Reddit::new(config(extra)).expect_err(extra).to_string();
            assert!(err.contains(key), "{extra}: {err}");
        }
        let mut c = config("subreddits = [\"x\"]");
        c.user_agent = " ".into();
        let err = Reddit::new(c).expect_err("blank UA").to_string();
        assert!(err.contains("reddit.user_agent"), "{err}");
        let mut c = config("subreddits = [\"x\"]");
        c.client_secret = SecretRef {
            env: Some("REDDIT_UNSET_FOR_TEST".into()),
            file: None,
        };
        let err = Reddit::new(c).expect_err("no secret").to_string();
        assert!(err.contains("reddit.client_secret"), "{err}");
    }
}
