//! The crate's one error enum. Every variant says its class, which decides what the caller does.

use std::time::Duration;

/// What the runner should do with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The input was wrong (a malformed frame, a payload that is not a mention): count it, log a
    /// sample, skip it. Never stops a collector.
    BadData,
    /// The outside world failed (connection reset, 5xx, 429): retry with backoff.
    External,
    /// The credentials were refused (401/403): stop at once; retrying cannot help.
    Auth,
    /// Our side is wrong (bad config, a 4xx that means the request is wrong, a checkpoint that
    /// cannot be written): stop.
    Internal,
}

/// Everything that can go wrong in a collector.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// The configuration is invalid; the message names the key.
    #[error("invalid collector config: {0}")]
    Config(String),
    /// The source refused our credentials.
    #[error(
        "{source_name}: the server answered HTTP {status} {}: {}{detail}",
        reason(*status),
        if *status == 403 { "the credentials lack access to this; " } else { "check the token or credentials; " }
    )]
    Auth {
        source_name: &'static str,
        status: u16,
        detail: String,
    },
    /// The source asked us to slow down.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited { retry_after: Option<Duration> },
    /// The source answered with an unexpected HTTP status. `detail` names the URL (without its
    /// query, which may hold keys) and the start of the answer's body.
    #[error("the server answered HTTP {status} {}{}{detail}", reason(*status), if detail.is_empty() { "" } else { " " })]
    Http { status: u16, detail: String },
    /// Connecting, reading or writing failed.
    #[error("transport: {0}")]
    Transport(String),
    /// A frame or record could not be read.
    #[error("malformed {reason}: {detail}")]
    Malformed {
        reason: &'static str,
        detail: String,
    },
    /// A response, line, event or message was larger than its cap; nothing past the cap was
    /// buffered.
    #[error("{what} over the {limit}-byte limit ({key})")]
    TooLarge {
        what: &'static str,
        limit: usize,
        key: &'static str,
    },
    /// A redirect led somewhere the config does not allow (see `http.allow_redirect_hosts`).
    #[error("{0}")]
    Redirect(String),
    /// A local file or socket could not be used.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The checkpoint store failed.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// The consumer dropped the stream; the collector stops quietly.
    #[error("the consumer closed the stream")]
    Closed,
}

/// The status's reason phrase ("Not Found"), or "" for a code without one.
fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

impl CollectorError {
    /// The error's class (see [`ErrorClass`]).
    pub fn class(&self) -> ErrorClass {
        match self {
            // A refused redirect is a config decision (the source moved, or someone is sending
            // us elsewhere): repeating the request cannot change it.
            CollectorError::Config(_)
            | CollectorError::Checkpoint(_)
            | CollectorError::Closed
            | CollectorError::Redirect(_) => ErrorClass::Internal,
            CollectorError::Auth { .. } => ErrorClass::Auth,
            CollectorError::RateLimited { .. } | CollectorError::Transport(_) => {
                ErrorClass::External
            }
            // 5xx and timeouts are the server's trouble; any other 4xx means our request is
            // wrong (an unknown hashtag, a bad rule) and will not get better by repeating it —
            // when it comes at start. [`Reconnect`](super::Reconnect) retries one that comes
            // after the same requests have worked.
            CollectorError::Http { status, .. } => {
                if *status >= 500 || *status == 408 {
                    ErrorClass::External
                } else {
                    ErrorClass::Internal
                }
            }
            CollectorError::Malformed { .. } | CollectorError::TooLarge { .. } => {
                ErrorClass::BadData
            }
            CollectorError::Io(_) => ErrorClass::External,
        }
    }

    /// True when retrying cannot help and the collector must stop.
    pub fn is_fatal(&self) -> bool {
        matches!(self.class(), ErrorClass::Auth | ErrorClass::Internal)
    }
}

impl From<reqwest::Error> for CollectorError {
    fn from(e: reqwest::Error) -> Self {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cur {
            if let Some(r) = c.downcast_ref::<super::http::RedirectRefused>() {
                return CollectorError::Redirect(r.to_string());
            }
            cur = c.source();
        }
        CollectorError::Transport(error_chain(&e))
    }
}

/// `e` and its causes on one line: reqwest's top-level message alone rarely says what failed.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_errors_say_what_the_server_answered() {
        let e = CollectorError::Http {
            status: 404,
            detail: "for https://m.example/api/v1/timelines/public".into(),
        };
        assert_eq!(
            e.to_string(),
            "the server answered HTTP 404 Not Found for https://m.example/api/v1/timelines/public"
        );
        assert!(e.is_fatal(), "at start a 404 means the request is wrong");
        let e = CollectorError::Auth {
            source_name: "mastodon",
            status: 401,
            detail: "for https://m.example/api/v1/streaming/public".into(),
        };
        let s = e.to_string();
        assert!(
            s.starts_with("mastodon: the server answered HTTP 401 Unauthorized: check the token"),
            "{s}"
        );
        assert!(!s.contains("config"), "{s}");
        let e = CollectorError::Auth {
            source_name: "x",
            status: 403,
            detail: String::new(),
        };
        assert!(
            e.to_string()
                .contains("HTTP 403 Forbidden: the credentials lack access")
        );
    }
}
