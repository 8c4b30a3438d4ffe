//! The HTTP client every polling and streaming collector uses, what an answer's status means,
//! and the bounded readers: [`get_body`] for polled requests, [`send_stream`] and
//! [`next_chunk`] for long-lived streams. Limits come from [`HttpLimits`].

use std::time::Duration;

use chrono::Utc;
use futures_util::{Stream, StreamExt};
use reqwest::{Client, RequestBuilder, Response, Url, redirect};

use super::limits::HttpLimits;
use super::{CollectorError, backoff::retry_after};

/// A client with the default [`HttpLimits`], for callers outside the crate.
pub fn client() -> Result<Client, CollectorError> {
    client_with(&HttpLimits::default())
}

/// A client with rustls (ring provider), `limits.connect_timeout` and the redirect policy of
/// [`RedirectRefused`]. It sets no read or total timeout: [`get_body`] applies those to polled
/// requests, and streams use their idle timeout through [`next_chunk`].
pub(crate) fn client_with(limits: &HttpLimits) -> Result<Client, CollectorError> {
    // Several collectors may race to install it; losing that race is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let allowed = limits.allow_redirect_hosts.clone();
    let max = limits.max_redirects;
    let policy = redirect::Policy::custom(move |attempt| {
        let Some(from) = attempt.previous().first().cloned() else {
            return attempt.follow();
        };
        if attempt.previous().len() > max {
            let to = attempt.url().clone();
            return attempt.error(RedirectRefused {
                from,
                to,
                why: "too many redirects (http.max_redirects)",
            });
        }
        if redirect_allowed(&from, attempt.url(), &allowed) {
            attempt.follow()
        } else {
            let to = attempt.url().clone();
            attempt.error(RedirectRefused {
                from,
                to,
                why: "another origin; allow its host in http.allow_redirect_hosts",
            })
        }
    });
    Client::builder()
        .user_agent(concat!(
            "backchannel-collectors/",
            env!("CARGO_PKG_VERSION")
        ))
        .connect_timeout(limits.connect_timeout)
        .redirect(policy)
        .build()
        .map_err(|e| CollectorError::Config(format!("HTTP client: {e}")))
}

/// A redirect the policy would not follow: to another origin than the request's first URL and
/// not to an allowed host, from `https` to `http`, or one too many.
#[derive(Debug, thiserror::Error)]
#[error("redirect from {from} to {to} refused: {why}")]
pub struct RedirectRefused {
    pub from: Url,
    pub to: Url,
    pub why: &'static str,
}

/// Same scheme, host and port as `from`; or, without a downgrade to `http`, a host in
/// `allowed` (`"host"` on any port, `"host:port"` on that port only).
fn redirect_allowed(from: &Url, to: &Url, allowed: &[String]) -> bool {
    if from.origin() == to.origin() {
        return true;
    }
    if from.scheme() == "https" && to.scheme() != "https" {
        return false;
    }
    let (Some(host), Some(port)) = (to.host_str(), to.port_or_known_default()) else {
        return false;
    };
    allowed.iter().any(|a| match a.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => {
            h.eq_ignore_ascii_case(host) && p.parse() == Ok(port)
        }
        _ => a.eq_ignore_ascii_case(host),
    })
}

/// Passes a 2xx answer through; turns any other into the error its status means: 401/403 are
/// [`CollectorError::Auth`] (fatal), 429 — and a 503 with `Retry-After` — are
/// [`CollectorError::RateLimited`], the rest [`CollectorError::Http`]. Reads at most a few KiB
/// of an error body, for the message.
pub(crate) async fn check(
    resp: Response,
    source: &'static str,
) -> Result<Response, CollectorError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let mut url = resp.url().clone();
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_password(None);
    let _ = url.set_username("");
    let wait = retry_after(resp.headers(), Utc::now());
    let mut body = resp.bytes_stream();
    let mut raw = Vec::new();
    while raw.len() < 4096 {
        match tokio::time::timeout(Duration::from_secs(5), body.next()).await {
            Ok(Some(Ok(c))) => raw.extend_from_slice(&c),
            _ => break,
        }
    }
    let mut detail = String::from_utf8_lossy(&raw).into_owned();
    let cut = (0..=detail.len().min(300))
        .rev()
        .find(|&i| detail.is_char_boundary(i))
        .unwrap_or(0);
    detail.truncate(cut);
    let body = detail.trim();
    let detail = if body.is_empty() {
        format!("for {url}")
    } else {
        format!("for {url}: {body}")
    };
    Err(match status.as_u16() {
        401 | 403 => CollectorError::Auth {
            source_name: source,
            status: status.as_u16(),
            detail,
        },
        429 => CollectorError::RateLimited { retry_after: wait },
        503 if wait.is_some() => CollectorError::RateLimited { retry_after: wait },
        s => CollectorError::Http { status: s, detail },
    })
}

/// Sends a polled request: its headers must come within `read_timeout`, and the whole
/// exchange, body included, within `request_timeout` (enforced by reqwest on the body reads).
pub(crate) async fn send(
    req: RequestBuilder,
    limits: &HttpLimits,
) -> Result<Response, CollectorError> {
    let req = req.timeout(limits.request_timeout);
    match tokio::time::timeout(limits.read_timeout, req.send()).await {
        Err(_) => Err(CollectorError::Transport(format!(
            "no response headers within http.read_timeout ({:?})",
            limits.read_timeout
        ))),
        Ok(Err(e)) => Err(timed(e, limits)),
        Ok(Ok(r)) => Ok(r),
    }
}

/// Reads a polled body incrementally: fails when no byte comes for `read_timeout`, when the
/// request passes `request_timeout`, or as soon as the body passes `max_body_bytes` — never
/// buffering more than that.
pub(crate) async fn read_body(
    resp: Response,
    limits: &HttpLimits,
) -> Result<Vec<u8>, CollectorError> {
    let max = limits.max_body_bytes;
    let too_large = || CollectorError::TooLarge {
        what: "response body",
        limit: max,
        key: "http.max_body_bytes",
    };
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = resp.bytes_stream();
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(limits.read_timeout, body.next()).await {
            Err(_) => {
                return Err(CollectorError::Transport(format!(
                    "no body data for http.read_timeout ({:?})",
                    limits.read_timeout
                )));
            }
            Ok(None) => return Ok(out),
            Ok(Some(Err(e))) => return Err(timed(e, limits)),
            Ok(Some(Ok(c))) => {
                if out.len() + c.len() > max {
                    return Err(too_large());
                }
                out.extend_from_slice(&c);
            }
        }
    }
}

/// [`send`], [`check`] and [`read_body`]: the body of a 2xx answer within the limits.
pub(crate) async fn get_body(
    req: RequestBuilder,
    limits: &HttpLimits,
    source: &'static str,
) -> Result<Vec<u8>, CollectorError> {
    let resp = check(send(req, limits).await?, source).await?;
    read_body(resp, limits).await
}

/// Opens a long-lived stream: no total timeout, but its headers must come within `idle`.
pub(crate) async fn send_stream(
    req: RequestBuilder,
    idle: Duration,
) -> Result<Response, CollectorError> {
    match tokio::time::timeout(idle, req.send()).await {
        Err(_) => Err(CollectorError::Transport(format!(
            "no response headers for {idle:?} (idle_timeout); reconnecting"
        ))),
        Ok(r) => Ok(r?),
    }
}

/// Names `request_timeout` in the message of a request that ran out of it.
fn timed(e: reqwest::Error, limits: &HttpLimits) -> CollectorError {
    if e.is_timeout() {
        CollectorError::Transport(format!(
            "request took longer than http.request_timeout ({:?})",
            limits.request_timeout
        ))
    } else {
        e.into()
    }
}

/// The next chunk of a streaming body, or an error when nothing (not even a heartbeat)
/// arrived for `idle`: a silent connection is as dead as a closed one.
pub(crate) async fn next_chunk<S, B>(
    body: &mut S,
    idle: Duration,
) -> Result<Option<B>, CollectorError>
where
    S: Stream<Item = Result<B, reqwest::Error>> + Unpin,
{
    match tokio::time::timeout(idle, body.next()).await {
        Err(_) => Err(CollectorError::Transport(format!(
            "no data for {idle:?}; reconnecting"
        ))),
        Ok(None) => Ok(None),
        Ok(Some(Err(e))) => Err(e.into()),
        Ok(Some(Ok(b))) => Ok(Some(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_the_origin_unless_a_host_is_allowed() {
        let u = |s: &str| Url::parse(s).expect("url");
        let from = u("https://feeds.example.org/a.xml");
        let none: &[String] = &[];
        assert!(redirect_allowed(
            &from,
            &u("https://feeds.example.org/b.xml"),
            none
        ));
        assert!(!redirect_allowed(
            &from,
            &u("http://feeds.example.org/b.xml"),
            none
        ));
        assert!(!redirect_allowed(
            &from,
            &u("https://feeds.example.org:8443/b"),
            none
        ));
        assert!(!redirect_allowed(&from, &u("https://evil.example/b"), none));
        let cdn = [
            "CDN.example.org".to_owned(),
            "alt.example.org:8443".to_owned(),
        ];
        assert!(redirect_allowed(
            &from,
            &u("https://cdn.example.org/b"),
            &cdn
        ));
        assert!(!redirect_allowed(
            &from,
            &u("http://cdn.example.org/b"),
            &cdn
        ));
        assert!(redirect_allowed(
            &from,
            &u("https://alt.example.org:8443/b"),
            &cdn
        ));
        assert!(!redirect_allowed(
            &from,
            &u("https://alt.example.org/b"),
            &cdn
        ));
    }
}
