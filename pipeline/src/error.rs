//! The pipeline's one error type. Every error says its class, because the class decides what the
//! runtime does with it: bad data goes to the dead-letter topic, an external failure is retried
//! with backoff, an internal one stops the worker.
//!
//! A variant keeps the error that caused it (`source()`), so a log line or `anyhow`'s report
//! shows the driver's own error, and a collector's error keeps its own class.

use std::path::PathBuf;

/// What the runtime should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The input is wrong; retrying cannot help. Dead-letter it with the reason.
    BadData,
    /// A service is slow, down or refused; retry with backoff and jitter.
    External,
    /// A service refused one record for what it is (a key too long, a message too large):
    /// retrying cannot help. Dead-letter that record with the reason; the rest go on.
    Rejected,
    /// A bug or an impossible state; stop.
    Internal,
}

/// Any error a driver or library hands us.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration (or a command-line value) is wrong; the message names the key and what
    /// it expected, which is the whole story.
    #[error("bad configuration: {0}")]
    Config(String),
    /// The raw queue (Kafka consumer, local queue) failed.
    #[error("queue: {}", describe(.what, .source))]
    Queue {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The store failed, or holds something it should not.
    #[error("store: {}", describe(.what, .source))]
    Store {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
    /// Another process holds the embedded store's file.
    #[error("store: {} is already open in another process", .path.display())]
    StoreInUse {
        path: PathBuf,
        #[source]
        source: BoxError,
    },
    /// The cache failed or is skipped (circuit breaker).
    #[error("cache: {}", describe(.what, .source))]
    Cache {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
    /// Publishing (the enriched or dead-letter topic, a collector's producer) failed.
    #[error("publish: {}", describe(.what, .source))]
    Publish {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
    #[error("bad data: {0}")]
    BadData(#[from] model::DecodeError),
    /// The store or the broker refused a record as invalid (see [`ErrorClass::Rejected`]).
    #[error("rejected: {}", describe(.what, .source))]
    Rejected {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
    /// A collector failed; the class is the collector's own.
    #[error("collector {name}: {source}")]
    Collector {
        name: String,
        #[source]
        source: collectors::CollectorError,
    },
    /// A bug or an impossible state (a task panicked, our own data did not serialise).
    #[error("internal: {}", describe(.what, .source))]
    Internal {
        what: String,
        #[source]
        source: Option<BoxError>,
    },
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// "what: source", or either alone.
fn describe(what: &str, source: &Option<BoxError>) -> String {
    match (what.is_empty(), source) {
        (_, None) => what.to_owned(),
        (true, Some(s)) => s.to_string(),
        (false, Some(s)) => format!("{what}: {s}"),
    }
}

impl Error {
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::BadData(_) => ErrorClass::BadData,
            Error::Rejected { .. } => ErrorClass::Rejected,
            Error::Queue { .. }
            | Error::Store { .. }
            | Error::StoreInUse { .. }
            | Error::Cache { .. }
            | Error::Publish { .. }
            | Error::Io(_) => ErrorClass::External,
            Error::Collector { source, .. } => match source.class() {
                collectors::ErrorClass::BadData => ErrorClass::BadData,
                collectors::ErrorClass::External => ErrorClass::External,
                // Refused credentials stop a collector as a bug does: retrying cannot help.
                collectors::ErrorClass::Auth | collectors::ErrorClass::Internal => {
                    ErrorClass::Internal
                }
            },
            Error::Config(_) | Error::Internal { .. } => ErrorClass::Internal,
        }
    }

    /// A queue failure caused by `source`; `what` says what we were doing.
    pub fn queue(what: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::Queue {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// A store failure caused by `source`.
    pub fn store(what: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::Store {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// Something the store holds cannot be read.
    pub fn corrupt(what: impl Into<String>) -> Error {
        Error::Store {
            what: what.into(),
            source: None,
        }
    }

    /// A cache failure caused by `source`.
    pub fn cache(what: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::Cache {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// A publishing failure caused by `source`.
    pub fn publish(what: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::Publish {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// A record the store or broker refused for what it is; `what` says which and why.
    pub fn rejected(what: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::Rejected {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// A bug or impossible state caused by `source` (a panicked task, a failed serialisation).
    pub fn internal(what: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::Internal {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// A collector's error, with the collector's configured name.
    pub fn collector(name: impl Into<String>, source: collectors::CollectorError) -> Error {
        Error::Collector {
            name: name.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_cause_and_take_their_class_from_it() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::store("connecting to [\"a:9042\"]", io);
        assert_eq!(e.class(), ErrorClass::External);
        assert_eq!(e.to_string(), "store: connecting to [\"a:9042\"]: refused");
        let cause = std::error::Error::source(&e).expect("a source");
        assert_eq!(cause.to_string(), "refused");

        let auth = collectors::CollectorError::Auth {
            source_name: "mastodon",
            status: 401,
            detail: "bad token".into(),
        };
        let e = Error::collector("mastodon-social", auth);
        assert_eq!(e.class(), ErrorClass::Internal);
        assert!(
            !e.to_string().contains("configuration") && e.to_string().contains("HTTP 401"),
            "a refused token is not a configuration error: {e}"
        );
        let e = Error::collector(
            "hn",
            collectors::CollectorError::Http {
                status: 503,
                detail: String::new(),
            },
        );
        assert_eq!(e.class(), ErrorClass::External);
        let e = Error::collector(
            "hn",
            collectors::CollectorError::Checkpoint("disk full".into()),
        );
        assert_eq!(
            e.class(),
            ErrorClass::Internal,
            "a checkpoint failure is Internal in both crates"
        );
    }
}
