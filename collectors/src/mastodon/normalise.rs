//! A Mastodon status (REST / streaming JSON) as a `Mention`.
//!
//! Ids: a status id is local to the server that serves it (the same post has another id on
//! another server), and `delete` events name only that local id. So a mention's id is
//! `mastodon:<server host>/<status id>` — stable for one server, and what a later `delete` from
//! that server names — and author ids are `<server host>/<account id>` likewise. `uri` (the
//! global ActivityPub id) is kept in `extra.uri` for cross-server joins.

use chrono::{DateTime, Utc};
use model::{Author, Engagement, Kind, Media, MediaKind, Mention, References, Source};
use serde::Deserialize;

use crate::common::html;

#[derive(Debug, Deserialize)]
pub(crate) struct Status {
    id: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    in_reply_to_id: Option<String>,
    #[serde(default)]
    spoiler_text: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    replies_count: Option<u64>,
    #[serde(default)]
    reblogs_count: Option<u64>,
    #[serde(default)]
    favourites_count: Option<u64>,
    #[serde(default)]
    quotes_count: Option<u64>,
    #[serde(default)]
    content: String,
    #[serde(default)]
    reblog: Option<Box<Status>>,
    /// Mastodon 4.4+: `{"state":"accepted","quoted_status":{…}}`.
    #[serde(default)]
    quote: Option<Quote>,
    account: Account,
    #[serde(default)]
    media_attachments: Vec<Attachment>,
    #[serde(default)]
    card: Option<Card>,
    #[serde(default)]
    visibility: Option<String>,
    /// When the status was last edited (null until then): an edit re-sent is news.
    #[serde(default)]
    edited_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct Quote {
    #[serde(default)]
    quoted_status: Option<Box<Status>>,
    #[serde(default)]
    quoted_status_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Account {
    id: String,
    #[serde(default)]
    acct: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    followers_count: Option<u64>,
    #[serde(default)]
    following_count: Option<u64>,
    #[serde(default)]
    statuses_count: Option<u64>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct Attachment {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    remote_url: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Card {
    url: String,
    #[serde(default)]
    title: Option<String>,
}

/// The status id (for cursors).
pub(crate) fn status_id(s: &Status) -> &str {
    &s.id
}

/// The last edit's time in microseconds, 0 for a status never edited (for telling news from
/// re-deliveries).
pub(crate) fn edited_micros(s: &Status) -> i64 {
    s.edited_at.map_or(0, |t| t.timestamp_micros())
}

/// `mastodon:<host>/<id>`.
pub(crate) fn mention_id(host: &str, status_id: &str) -> String {
    format!("mastodon:{host}/{status_id}")
}

/// Normalises a status served by `host`.
pub(crate) fn to_mention(
    host: &str,
    mut s: Status,
    collected_at: DateTime<Utc>,
    raw: Option<serde_json::Value>,
) -> Mention {
    let id = mention_id(host, &s.id);
    let author = author(host, &s.account);
    // A boost's own time is when it was boosted; its text, language and counts are the boosted
    // status's (a boost has none of its own).
    let created_at = s.created_at;
    let (kind, refs, body) = if let Some(orig) = s.reblog.take() {
        // A boost has no text of its own: carry the boosted text so it can match, and point at it.
        let refs = References {
            repost_of: Some(mention_id(host, &orig.id)),
            ..References::default()
        };
        (Kind::Repost, refs, *orig)
    } else {
        let quoted = s.quote.as_ref().and_then(|q| {
            q.quoted_status
                .as_ref()
                .map(|st| st.id.clone())
                .or_else(|| q.quoted_status_id.clone())
        });
        let reply_to = s.in_reply_to_id.as_ref().map(|r| mention_id(host, r));
        let kind = if quoted.is_some() {
            Kind::Quote
        } else if reply_to.is_some() {
            Kind::Reply
        } else {
            Kind::Post
        };
        let refs = References {
            reply_to,
            quote_of: quoted.map(|q| mention_id(host, &q)),
            ..References::default()
        };
        (kind, refs, s)
    };
    let text = {
        let content = html::to_text(&body.content);
        let spoiler = body.spoiler_text.trim();
        if spoiler.is_empty() {
            content
        } else {
            format!("{spoiler}\n\n{content}")
        }
    };
    let mut media: Vec<Media> = body
        .media_attachments
        .iter()
        .filter_map(|a| {
            let kind = match a.kind.as_str() {
                "image" => MediaKind::Image,
                "video" => MediaKind::Video,
                "gifv" => MediaKind::Gif,
                "audio" => MediaKind::Audio,
                _ => return None,
            };
            Some(Media {
                kind,
                url: a.url.clone().or(a.remote_url.clone())?,
                alt_text: a.description.clone().filter(|d| !d.is_empty()),
            })
        })
        .collect();
    if let Some(card) = &body.card {
        media.push(Media {
            kind: MediaKind::Link,
            url: card.url.clone(),
            alt_text: card.title.clone().filter(|t| !t.is_empty()),
        });
    }
    let mut extra = serde_json::Map::new();
    if let Some(uri) = &body.uri {
        extra.insert("uri".into(), serde_json::Value::String(uri.clone()));
    }
    if let Some(v) = &body.visibility {
        extra.insert("visibility".into(), serde_json::Value::String(v.clone()));
    }
    Mention {
        id,
        source: Source::Mastodon,
        kind,
        url: body.url.clone().or(body.uri.clone()),
        created_at,
        collected_at,
        edited_at: body.edited_at,
        text,
        lang_hint: body.language.clone(),
        author,
        engagement: Engagement {
            likes: body.favourites_count,
            reposts: body.reblogs_count,
            replies: body.replies_count,
            quotes: body.quotes_count,
            views: None,
        },
        refs,
        media,
        geo: None,
        raw,
        extra,
    }
}

fn author(host: &str, a: &Account) -> Author {
    // `acct` is `user@domain` for remote accounts and bare `user` for the server's own.
    let handle = if a.acct.contains('@') || a.acct.is_empty() {
        a.acct.clone()
    } else {
        format!("{}@{host}", a.acct)
    };
    Author {
        id: format!("{host}/{}", a.id),
        handle,
        display_name: Some(a.display_name.clone()).filter(|d| !d.is_empty()),
        followers: a.followers_count,
        following: a.following_count,
        posts: a.statuses_count,
        verified: None,
        created_at: a.created_at,
    }
}
