//! Reddit's side of the wire: the app-only OAuth token, the rate-limit headers, and one
//! listing GET that knows what a 401 means.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, USER_AGENT};
use serde::Deserialize;
use tokio::time::Instant;

use crate::common::http::{check, get_body, read_body, send};
use crate::common::{CollectorError, Emitter, HttpLimits, Secret};

/// An access token and when to fetch the next one.
#[derive(Debug)]
struct Token {
    bearer: Secret,
    refresh_at: Instant,
}

/// The token endpoint's answer. Reddit reports some refusals (an unsupported grant, an app
/// type that may not use client credentials) as a 200 with `error`.
#[derive(Debug, Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<f64>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// The HTTP side of one Reddit collector. Owned by its task: no locks.
#[derive(Debug)]
pub(crate) struct Api {
    http: reqwest::Client,
    auth_url: String,
    api_url: String,
    client_id: String,
    client_secret: Secret,
    user_agent: HeaderValue,
    limits: HttpLimits,
    min_remaining: f64,
    token: Option<Token>,
    /// No request before this: the rate-limit window is (nearly) spent.
    pause_until: Option<Instant>,
}

impl Api {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        http: reqwest::Client,
        auth_url: &str,
        api_url: &str,
        client_id: String,
        client_secret: Secret,
        user_agent: HeaderValue,
        limits: HttpLimits,
        min_remaining: f64,
    ) -> Self {
        Api {
            http,
            auth_url: auth_url.trim_end_matches('/').to_owned(),
            api_url: api_url.trim_end_matches('/').to_owned(),
            client_id,
            client_secret,
            user_agent,
            limits,
            min_remaining,
            token: None,
            pause_until: None,
        }
    }

    /// GETs `{api_url}/{path}?limit=100&raw_json=1[&after=…]` and returns the body of a 2xx.
    ///
    /// Waits first while the rate-limit window is spent. A 401 means the token expired or was
    /// revoked early: the token is fetched again and the request repeated once; a second 401 is
    /// returned as [`CollectorError::Auth`] (fatal), as is any 403.
    pub(crate) async fn listing(
        &mut self,
        em: &Emitter,
        path: &str,
        after: Option<&str>,
    ) -> Result<Vec<u8>, CollectorError> {
        let url = format!("{}/{path}", self.api_url);
        let mut query = vec![("limit", "100"), ("raw_json", "1")];
        if let Some(a) = after {
            query.push(("after", a));
        }
        let mut refreshed = false;
        loop {
            self.wait_for_window().await;
            let bearer = self.bearer().await?;
            let req = self
                .http
                .get(&url)
                .query(&query)
                .bearer_auth(bearer.expose())
                .header(USER_AGENT, self.user_agent.clone());
            let resp = send(req, &self.limits).await?;
            self.note_limits(em, resp.headers());
            if resp.status() == reqwest::StatusCode::UNAUTHORIZED && !refreshed {
                tracing::info!(source = "reddit", "token refused; fetching a new one");
                refreshed = true;
                self.token = None;
                continue;
            }
            let resp = check(resp, "reddit").await?;
            return read_body(resp, &self.limits).await;
        }
    }

    /// The current token, fetched when there is none or it is about to expire.
    async fn bearer(&mut self) -> Result<Secret, CollectorError> {
        match &self.token {
            Some(t) if Instant::now() < t.refresh_at => Ok(t.bearer.clone()),
            _ => {
                let t = self.fetch_token().await?;
                let bearer = t.bearer.clone();
                self.token = Some(t);
                Ok(bearer)
            }
        }
    }

    /// POST `{auth_url}/api/v1/access_token` with the client id and secret as basic auth.
    async fn fetch_token(&self) -> Result<Token, CollectorError> {
        let req = self
            .http
            .post(format!("{}/api/v1/access_token", self.auth_url))
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .header(USER_AGENT, self.user_agent.clone())
            .form(&[("grant_type", "client_credentials")]);
        let body = get_body(req, &self.limits, "reddit").await?;
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| CollectorError::Malformed {
                reason: "token_answer",
                detail: e.to_string(),
            })?;
        if let Some(error) = answer.error {
            return Err(CollectorError::Auth {
                source_name: "reddit",
                status: 200,
                detail: format!("token endpoint: {error}"),
            });
        }
        let bearer = answer
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CollectorError::Malformed {
                reason: "token_answer",
                detail: "no access_token".into(),
            })?;
        // Refresh a little early (a tenth of the lifetime, at most a minute), so a poll never
        // goes out with a token that expires on the way.
        let life = Duration::from_secs_f64(answer.expires_in.unwrap_or(3600.0).clamp(1.0, 1e7));
        let early = (life / 10).min(Duration::from_secs(60));
        tracing::debug!(source = "reddit", ?life, "fetched an access token");
        Ok(Token {
            bearer: Secret::new(bearer),
            refresh_at: Instant::now() + life - early,
        })
    }

    /// Reads `X-Ratelimit-Remaining` / `-Reset` / `-Used`; when no more than `min_remaining`
    /// requests are left in the window, no request goes out until it resets.
    fn note_limits(&mut self, em: &Emitter, headers: &HeaderMap) {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let (Some(remaining), Some(reset)) =
            (num("x-ratelimit-remaining"), num("x-ratelimit-reset"))
        else {
            return;
        };
        if remaining <= self.min_remaining {
            let wait = Duration::from_secs_f64(reset.min(3600.0));
            tracing::warn!(
                source = "reddit",
                remaining,
                used = num("x-ratelimit-used"),
                ?wait,
                "rate-limit window nearly spent; pausing until it resets"
            );
            em.metrics.rate_limited.increment(1);
            self.pause_until = Some(Instant::now() + wait);
        }
    }

    async fn wait_for_window(&mut self) {
        if let Some(at) = self.pause_until.take() {
            tokio::time::sleep_until(at).await;
        }
    }
}
