//! The Backchannel runtime: the worker pipeline and the `backchannel` binary.
//!
//! The pipeline ([`runtime`]) is generic over four seams ([`traits`]): the raw queue, the
//! publisher, the store and the cache. The embedded default ([`embedded`]) implements them in one
//! process; the distributed mode implements them on Kafka, ScyllaDB and Redis. Both run the same
//! code path, chosen by configuration ([`config`]). [`services`] builds either set; each command
//! of the binary is a module of [`cmd`] on top of it.

pub mod admin;
pub mod aggregate;
pub mod alerts;
pub mod api;
pub mod cmd;
pub mod codec;
pub mod collect;
pub mod config;
pub mod distributed;
pub mod embedded;
pub mod error;
pub mod http;
pub mod push;
pub mod reprocess;
pub mod runtime;
pub mod services;
pub mod signals;
pub mod stats;
pub mod telemetry;
pub mod tenants;
pub mod traits;

pub use error::{Error, ErrorClass, Result};
