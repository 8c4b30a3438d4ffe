//! One config type for every source, so the runner can build any collector from a TOML table.
//!
//! ```toml
//! [[collectors]]
//! name = "bsky-main"          # the checkpoint key; the runner's, not part of SourceConfig
//! type = "bluesky"
//! endpoint = "wss://jetstream2.us-east.bsky.network/subscribe"
//! ```

use serde::{Deserialize, Serialize};

use crate::common::{CollectorError, Cursor, ItemStream};
use crate::{
    FileConfig, FileReplay, HackerNews, HackerNewsConfig, Jetstream, JetstreamConfig, Mastodon,
    MastodonConfig, Reddit, RedditConfig, Rss, RssConfig, Webhook, WebhookConfig, X, XConfig,
};

/// A source and its settings, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceConfig {
    File(FileConfig),
    Webhook(WebhookConfig),
    Mastodon(MastodonConfig),
    Bluesky(JetstreamConfig),
    Hackernews(HackerNewsConfig),
    X(XConfig),
    Rss(RssConfig),
    Reddit(RedditConfig),
}

/// A built collector, ready to stream.
#[derive(Debug)]
pub enum Collector {
    File(FileReplay),
    Webhook(Webhook),
    Mastodon(Mastodon),
    Bluesky(Jetstream),
    Hackernews(HackerNews),
    X(X),
    Rss(Rss),
    Reddit(Reddit),
}

impl SourceConfig {
    /// Validates the config, reads secrets, binds sockets: everything that can fail at start.
    pub async fn build(self) -> Result<Collector, CollectorError> {
        Ok(match self {
            SourceConfig::File(c) => Collector::File(FileReplay::new(c)?),
            SourceConfig::Webhook(c) => Collector::Webhook(Webhook::bind(c).await?),
            SourceConfig::Mastodon(c) => Collector::Mastodon(Mastodon::new(c)?),
            SourceConfig::Bluesky(c) => Collector::Bluesky(Jetstream::new(c)?),
            SourceConfig::Hackernews(c) => Collector::Hackernews(HackerNews::new(c)?),
            SourceConfig::X(c) => Collector::X(X::new(c)?),
            SourceConfig::Rss(c) => Collector::Rss(Rss::new(c)?),
            SourceConfig::Reddit(c) => Collector::Reddit(Reddit::new(c)?),
        })
    }
}

impl Collector {
    /// The source, for metric labels and logs.
    pub fn source(&self) -> model::Source {
        match self {
            Collector::File(_) => model::Source::File,
            Collector::Webhook(_) => model::Source::Webhook,
            Collector::Mastodon(_) => model::Source::Mastodon,
            Collector::Bluesky(_) => model::Source::Bluesky,
            Collector::Hackernews(_) => model::Source::Hackernews,
            Collector::X(_) => model::Source::X,
            Collector::Rss(_) => model::Source::Rss,
            Collector::Reddit(_) => model::Source::Reddit,
        }
    }

    /// Starts collecting from `resume` (the last checkpointed cursor) or from "now".
    pub fn stream(self, resume: Option<Cursor>) -> ItemStream {
        match self {
            Collector::File(c) => c.stream(resume),
            Collector::Webhook(c) => c.stream(resume),
            Collector::Mastodon(c) => c.stream(resume),
            Collector::Bluesky(c) => c.stream(resume),
            Collector::Hackernews(c) => c.stream(resume),
            Collector::X(c) => c.stream(resume),
            Collector::Rss(c) => c.stream(resume),
            Collector::Reddit(c) => c.stream(resume),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tagged_tables_and_rejects_unknown_keys() {
        let c: SourceConfig = toml::from_str(
            "type = \"bluesky\"\nendpoint = \"wss://j.example/subscribe\"\nrewind = \"2s\"\n",
        )
        .expect("parse");
        assert!(matches!(c, SourceConfig::Bluesky(ref j) if j.rewind.as_secs() == 2));
        let bad: Result<SourceConfig, _> = toml::from_str("type = \"hackernews\"\npoll = \"5s\"\n");
        assert!(bad.is_err());
        let c: SourceConfig = toml::from_str(
            "type = \"reddit\"\nclient_id = \"id\"\nclient_secret = { env = \"REDDIT_SECRET\" }\n\
             user_agent = \"linux:bc:1 (by /u/x)\"\nsubreddits = [\"rust+golang\"]\n",
        )
        .expect("parse reddit");
        assert!(matches!(c, SourceConfig::Reddit(ref r) if r.poll_interval.as_secs() == 10));
        let bad: Result<SourceConfig, _> = toml::from_str("type = \"myspace\"\n");
        assert!(bad.is_err());
    }
}
