//! Reddit listings and the things in them (`t3` submissions, `t1` comments) as mentions.
//!
//! We ask for `raw_json=1`, so `title`, `selftext` and `body` arrive as the author typed them
//! (Markdown, no HTML entities); the `*_html` renderings are used only when the plain field is
//! missing. Ids are `reddit:<fullname>`, so a comment's `parent_id` (a `t1_` or `t3_`) and
//! `link_id` (its submission) become `reply_to` and `conversation` without a lookup.
//!
//! Deleted and removed things are skipped, not tombstoned: see the module docs of
//! [`crate::reddit`].

use chrono::{DateTime, Utc};
use model::{Author, Engagement, Kind, Media, MediaKind, Mention, References, Source};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::common::html;

/// Where permalinks (relative paths) point.
const WEB: &str = "https://www.reddit.com";

/// A listing page: `{"kind": "Listing", "data": {"children": […], "after": …}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Listing {
    pub kind: String,
    pub data: ListingData,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListingData {
    #[serde(default)]
    pub children: Vec<Value>,
    /// The fullname to pass as `after` for the next (older) page; `null` on the last one.
    #[serde(default)]
    pub after: Option<String>,
}

/// Reads a listing page; `None` when the body is not one.
pub(crate) fn parse_listing(body: &[u8]) -> Option<Listing> {
    serde_json::from_slice::<Listing>(body)
        .ok()
        .filter(|l| l.kind == "Listing")
}

/// A child's kind (`t3`) and fullname (`t3_abc`), before it is read in full.
pub(crate) fn kind_and_name(child: &Value) -> Option<(&str, &str)> {
    let kind = child.get("kind")?.as_str()?;
    let name = child.get("data")?.get("name")?.as_str()?;
    Some((kind, name))
}

#[derive(Debug, Deserialize)]
struct Submission {
    name: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    selftext: String,
    #[serde(default)]
    selftext_html: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    author_fullname: Option<String>,
    created_utc: f64,
    #[serde(default)]
    score: Option<i64>,
    #[serde(default)]
    num_comments: Option<u64>,
    #[serde(default)]
    permalink: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    is_self: bool,
    #[serde(default)]
    subreddit: Option<String>,
    #[serde(default)]
    removed_by_category: Option<String>,
    #[serde(default)]
    edited: Edited,
}

#[derive(Debug, Deserialize)]
struct Comment {
    name: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    body_html: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    author_fullname: Option<String>,
    created_utc: f64,
    #[serde(default)]
    score: Option<i64>,
    #[serde(default)]
    permalink: Option<String>,
    parent_id: String,
    link_id: String,
    #[serde(default)]
    subreddit: Option<String>,
    #[serde(default)]
    edited: Edited,
}

/// Reddit's `edited`: `false` for a thing never edited, else when it was last edited (epoch
/// seconds, a float). Anything else reads as not edited: the mark is information, not a reason
/// to refuse the thing.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Edited {
    At(f64),
    Not(serde::de::IgnoredAny),
}

impl Default for Edited {
    fn default() -> Self {
        Edited::Not(serde::de::IgnoredAny)
    }
}

impl Edited {
    fn at(&self) -> Option<DateTime<Utc>> {
        match *self {
            Edited::At(secs) => timestamp(secs).ok(),
            Edited::Not(_) => None,
        }
    }
}

/// What Reddit shows in place of deleted or removed text and authors.
fn gone(s: &str) -> bool {
    matches!(s, "[deleted]" | "[removed]")
}

/// Normalises one child of a listing. `Ok(None)` for a deleted or removed thing; `Err` names
/// why a child could not be read.
pub(crate) fn to_mention(
    child: Value,
    collected_at: DateTime<Utc>,
    keep_raw: bool,
) -> Result<Option<Mention>, &'static str> {
    let kind = child
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let Some(data) = child.get("data").cloned() else {
        return Err("malformed_thing");
    };
    let raw = keep_raw.then_some(child);
    match kind.as_str() {
        "t3" => submission(
            serde_json::from_value(data).map_err(|_| "malformed_submission")?,
            collected_at,
            raw,
        ),
        "t1" => comment(
            serde_json::from_value(data).map_err(|_| "malformed_comment")?,
            collected_at,
            raw,
        ),
        _ => Err("unexpected_kind"),
    }
}

fn submission(
    s: Submission,
    collected_at: DateTime<Utc>,
    raw: Option<Value>,
) -> Result<Option<Mention>, &'static str> {
    let author = s.author.as_deref().unwrap_or("[deleted]");
    if gone(author) || gone(&s.selftext) || s.removed_by_category.is_some() {
        return Ok(None);
    }
    let body = match (s.selftext.is_empty(), &s.selftext_html) {
        (true, Some(h)) => html::to_text(h),
        _ => s.selftext.clone(),
    };
    let text = if body.is_empty() {
        s.title.clone()
    } else {
        format!("{}\n\n{body}", s.title)
    };
    let url = s.permalink.as_deref().map(absolute);
    let link = s
        .url
        .filter(|u| !s.is_self && !u.is_empty() && Some(u) != url.as_ref())
        .map(|url| Media {
            kind: MediaKind::Link,
            url,
            alt_text: None,
        });
    Ok(Some(Mention {
        id: format!("reddit:{}", s.name),
        source: Source::Reddit,
        kind: Kind::Post,
        url,
        created_at: timestamp(s.created_utc)?,
        collected_at,
        edited_at: s.edited.at(),
        text,
        lang_hint: None,
        author: author_of(author, s.author_fullname),
        engagement: Engagement {
            likes: s.score.map(|n| n.max(0).unsigned_abs()),
            replies: s.num_comments,
            ..Engagement::default()
        },
        refs: References::default(),
        media: link.into_iter().collect(),
        geo: None,
        raw,
        extra: subreddit(s.subreddit),
    }))
}

fn comment(
    c: Comment,
    collected_at: DateTime<Utc>,
    raw: Option<Value>,
) -> Result<Option<Mention>, &'static str> {
    let author = c.author.as_deref().unwrap_or("[deleted]");
    if gone(author) || gone(&c.body) {
        return Ok(None);
    }
    let text = match (c.body.is_empty(), &c.body_html) {
        (true, Some(h)) => html::to_text(h),
        _ => c.body.clone(),
    };
    let url = match &c.permalink {
        Some(p) => absolute(p),
        // Older listings have no permalink; this short form redirects to the comment.
        None => format!(
            "{WEB}/comments/{}/_/{}",
            c.link_id.trim_start_matches("t3_"),
            c.name.trim_start_matches("t1_")
        ),
    };
    Ok(Some(Mention {
        id: format!("reddit:{}", c.name),
        source: Source::Reddit,
        kind: Kind::Comment,
        url: Some(url),
        created_at: timestamp(c.created_utc)?,
        collected_at,
        edited_at: c.edited.at(),
        text,
        lang_hint: None,
        author: author_of(author, c.author_fullname),
        engagement: Engagement {
            likes: c.score.map(|n| n.max(0).unsigned_abs()),
            ..Engagement::default()
        },
        refs: References {
            reply_to: Some(format!("reddit:{}", c.parent_id)),
            conversation: Some(format!("reddit:{}", c.link_id)),
            ..References::default()
        },
        media: Vec::new(),
        geo: None,
        raw,
        extra: subreddit(c.subreddit),
    }))
}

/// The account's fullname (`t2_…`) is its stable id; listings from before 2018 lack it, and
/// then the name (which Reddit never lets change) stands in.
fn author_of(name: &str, fullname: Option<String>) -> Author {
    Author {
        id: fullname.unwrap_or_else(|| name.to_owned()),
        handle: name.to_owned(),
        ..Author::default()
    }
}

fn absolute(permalink: &str) -> String {
    if permalink.starts_with("http") {
        permalink.to_owned()
    } else {
        format!("{WEB}{permalink}")
    }
}

fn timestamp(secs: f64) -> Result<DateTime<Utc>, &'static str> {
    if !(0.0..=1e11).contains(&secs) {
        return Err("bad_created_utc");
    }
    let whole = secs.trunc();
    let nanos = ((secs - whole) * 1e9) as u32;
    DateTime::from_timestamp(whole as i64, nanos).ok_or("bad_created_utc")
}

/// `extra.subreddit`: which community it was posted in (several share one multi listing).
fn subreddit(name: Option<String>) -> Map<String, Value> {
    let mut extra = Map::new();
    if let Some(s) = name {
        extra.insert("subreddit".into(), Value::String(s));
    }
    extra
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn comment_refs_point_at_parent_and_submission() {
        let c = json!({"kind": "t1", "data": {"name": "t1_c2", "body": "same &amp; here",
            "author": "someone", "author_fullname": "t2_9", "created_utc": 1_700_000_000.5,
            "score": -3, "parent_id": "t1_c1", "link_id": "t3_s1", "subreddit": "rust"}});
        let m = to_mention(c, now(), false)
            .expect("comment")
            .expect("not deleted");
        assert_eq!(m.id, "reddit:t1_c2");
        assert_eq!(m.kind, Kind::Comment);
        assert_eq!(
            m.text, "same &amp; here",
            "raw_json text is taken as written"
        );
        assert_eq!(m.refs.reply_to.as_deref(), Some("reddit:t1_c1"));
        assert_eq!(m.refs.conversation.as_deref(), Some("reddit:t3_s1"));
        assert_eq!(m.author.id, "t2_9");
        assert_eq!(m.engagement.likes, Some(0), "a negative score is no likes");
        assert_eq!(
            m.url.as_deref(),
            Some("https://www.reddit.com/comments/s1/_/c2")
        );
        assert_eq!(m.created_at.timestamp_subsec_millis(), 500);
        assert_eq!(m.extra["subreddit"], "rust");
    }

    #[test]
    fn deleted_and_removed_things_are_skipped_and_junk_is_named() {
        let deleted = json!({"kind": "t1", "data": {"name": "t1_x", "body": "[deleted]",
            "author": "[deleted]", "created_utc": 1.0, "parent_id": "t3_a", "link_id": "t3_a"}});
        assert_eq!(to_mention(deleted, now(), false), Ok(None));
        let removed = json!({"kind": "t3", "data": {"name": "t3_y", "title": "t",
            "selftext": "[removed]", "author": "a", "created_utc": 1.0}});
        assert_eq!(to_mention(removed, now(), false), Ok(None));
        let by_mods = json!({"kind": "t3", "data": {"name": "t3_z", "title": "t", "author": "a",
            "created_utc": 1.0, "removed_by_category": "moderator"}});
        assert_eq!(to_mention(by_mods, now(), false), Ok(None));
        let no_time = json!({"kind": "t3", "data": {"name": "t3_w", "title": "t"}});
        assert_eq!(
            to_mention(no_time, now(), false),
            Err("malformed_submission")
        );
        let more = json!({"kind": "more", "data": {"name": "t1_v"}});
        assert_eq!(to_mention(more, now(), false), Err("unexpected_kind"));
    }

    #[test]
    fn a_self_post_without_markdown_falls_back_to_its_html() {
        let s = json!({"kind": "t3", "data": {"name": "t3_q", "title": "Q", "selftext": "",
            "selftext_html": "<div class=\"md\"><p>a &amp; b</p></div>", "is_self": true,
            "url": "https://www.reddit.com/r/x/comments/q/q/", "permalink": "/r/x/comments/q/q/",
            "author": "a", "created_utc": 1.0, "score": 4, "num_comments": 2}});
        let m = to_mention(s, now(), true).expect("ok").expect("post");
        assert_eq!(m.text, "Q\n\na & b");
        assert!(m.media.is_empty(), "a self post links to itself");
        assert_eq!(m.engagement.likes, Some(4));
        assert!(m.raw.is_some());
    }
}
