//! Sources of mentions.
//!
//! Every source produces normalised [`model::Mention`]s; the runtime decides where they go (the
//! in-process queue in embedded mode, the `mentions.raw` Kafka topic in distributed mode).
//! Sources are deterministic where they can be (the synthetic generator is, for a given seed) so
//! that a run can be replayed and its results checked against ground truth.
//!
//! The real sources share one shape (see [`common`]): a serde config struct per source, a
//! collector built from it, and an [`ItemStream`] of [`Item`]s, each a mention, a deletion or a
//! frame it could not read (for the dead-letter topic), with the source cursor after it. The
//! collector owns reconnects, backoff and rate limits; the stream carries only data and, at the
//! very end, a fatal error. The runner owns delivery: it saves an item's cursor in a
//! [`Checkpoint`] once Kafka has acknowledged it, and passes the saved cursor back in on restart.
//!
//! Build one from config with [`SourceConfig::build`] and start it with [`Collector::stream`].
//! Sources so far: file replay, webhook, Mastodon streaming, Bluesky Jetstream, Hacker News, the
//! X filtered stream, RSS/Atom feeds, Reddit (and the synthetic generator).

pub mod bluesky;
pub mod common;
pub mod config;
pub mod file;
pub mod hackernews;
pub mod mastodon;
pub mod native;
pub mod reddit;
pub mod rss;
pub mod synthetic;
pub mod telemetry;
pub mod webhook;
pub mod x;

pub use bluesky::{Jetstream, JetstreamConfig};
pub use common::{
    BackoffConfig, Checkpoint, CollectorError, Cursor, ErrorClass, Event, FileCheckpoint,
    HttpLimits, Item, ItemStream, MALFORMED_KEEP, Malformed, MemoryCheckpoint, Secret, SecretRef,
};
pub use config::{Collector, SourceConfig};
pub use file::{FileConfig, FileFormat, FileReplay};
pub use hackernews::{HackerNews, HackerNewsConfig};
pub use mastodon::{Mastodon, MastodonConfig, MastodonTimeline};
pub use reddit::{Reddit, RedditConfig};
pub use rss::{Rss, RssConfig};
pub use synthetic::{Pacer, Synthetic, SyntheticConfig};
pub use webhook::{Webhook, WebhookConfig};
pub use x::{X, XConfig, XRule};
