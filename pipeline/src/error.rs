//! The pipeline's one error type. Every error says its class, because the class decides what the
//! runtime does with it: bad data goes to the dead-letter topic, an external failure is retried
//! with backoff, an internal one stops the worker.

/// What the runtime should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The input is wrong; retrying cannot help. Dead-letter it with the reason.
    BadData,
    /// A service is slow, down or refused; retry with backoff and jitter.
    External,
    /// A bug or an impossible state; stop.
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad configuration: {0}")]
    Config(String),
    #[error("queue: {0}")]
    Queue(String),
    #[error("store: {0}")]
    Store(String),
    #[error("cache: {0}")]
    Cache(String),
    #[error("publish: {0}")]
    Publish(String),
    #[error("bad data: {0}")]
    BadData(#[from] model::DecodeError),
    #[error("internal: {0}")]
    Internal(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::BadData(_) => ErrorClass::BadData,
            Error::Queue(_)
            | Error::Store(_)
            | Error::Cache(_)
            | Error::Publish(_)
            | Error::Io(_) => ErrorClass::External,
            Error::Config(_) | Error::Internal(_) => ErrorClass::Internal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
