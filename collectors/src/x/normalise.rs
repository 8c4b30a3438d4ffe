//! X API v2 post objects (as the filtered stream frames them) as mentions.
//!
//! A mention's id is `x:<post id>`. The kind comes from `referenced_tweets`: `retweeted` makes a
//! repost, `replied_to` a reply, `quoted` a quote (a reply that quotes is a reply with both refs
//! set). The author is looked up in `includes.users` by `author_id`. A frame without that
//! expansion (an app whose rules or tier leave it out, a user object withheld) still becomes a
//! mention with what it has: no user object leaves the handle empty and the profile fields
//! absent; no `author_id` at all gives the author id [`UNKNOWN_AUTHOR`], because a mention must
//! name an author id and X's own are numeric, so it cannot be mistaken for an account. A long
//! post's full text is in `note_tweet.text`; `text` is then a truncated copy.
//!
//! X escapes `&`, `<` and `>` in `text` as `&amp;`, `&lt;`, `&gt;` and counts entity offsets
//! (`start`/`end`, code points) in that escaped text. We unescape the text and move the offsets
//! with it, then keep the entities in `extra.facets` in the shape the Bluesky collector uses:
//! `{"type": "link"|"tag"|"cashtag"|"mention", "value", "start", "end"}`, code point offsets into
//! `Mention::text`. A link's `value` is its `expanded_url`. The rules that matched are kept
//! verbatim in `extra.matching_rules` (`[{"id", "tag"}]`).

use chrono::{DateTime, Utc};
use model::{Author, Engagement, Kind, Media, MediaKind, Mention, References, Source};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// One filtered-stream frame: a post, what it expanded, the rules that matched it.
#[derive(Debug, Deserialize)]
pub(crate) struct Frame {
    pub data: Post,
    #[serde(default)]
    pub includes: Includes,
    #[serde(default)]
    pub matching_rules: Vec<Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Post {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub author_id: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub referenced_tweets: Vec<RefPost>,
    #[serde(default)]
    pub entities: Option<Value>,
    #[serde(default)]
    pub public_metrics: Option<Value>,
    #[serde(default)]
    pub attachments: Option<Value>,
    #[serde(default)]
    pub note_tweet: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefPost {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Includes {
    #[serde(default)]
    pub users: Vec<Value>,
    #[serde(default)]
    pub media: Vec<Value>,
}

/// X's epoch for snowflake ids (2010-11-04T01:42:54.657Z), in Unix milliseconds.
const SNOWFLAKE_EPOCH_MS: i64 = 1_288_834_974_657;

/// The time encoded in a snowflake id: its top 41 bits are milliseconds since X's epoch.
pub(crate) fn snowflake_time(id: &str) -> Option<DateTime<Utc>> {
    let n: u64 = id.parse().ok()?;
    let ms = i64::try_from(n >> 22).ok()? + SNOWFLAKE_EPOCH_MS;
    DateTime::from_timestamp_millis(ms)
}

/// The author id of a post that came without `author_id`.
pub(crate) const UNKNOWN_AUTHOR: &str = "unknown";

/// Normalises a frame. Fails (with a reason code) only when the post's time cannot be known
/// (no `created_at` and an id that is not a snowflake).
pub(crate) fn to_mention(
    frame: Frame,
    collected_at: DateTime<Utc>,
    raw: Option<Value>,
) -> Result<Mention, &'static str> {
    let Frame {
        data: post,
        includes,
        matching_rules,
    } = frame;
    let author_id = post
        .author_id
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| UNKNOWN_AUTHOR.to_owned());
    let user = includes
        .users
        .iter()
        .find(|u| u.get("id").and_then(Value::as_str) == Some(author_id.as_str()));
    let author = author(&author_id, user);
    let created_at = post
        .created_at
        .or_else(|| snowflake_time(&post.id))
        .ok_or("bad_id")?;

    let mut refs = References {
        conversation: post.conversation_id.as_ref().map(|c| format!("x:{c}")),
        ..References::default()
    };
    let mut kind = Kind::Post;
    for r in &post.referenced_tweets {
        let id = format!("x:{}", r.id);
        match r.kind.as_str() {
            "retweeted" => {
                refs.repost_of = Some(id);
                kind = Kind::Repost;
            }
            "replied_to" => {
                refs.reply_to = Some(id);
                if kind != Kind::Repost {
                    kind = Kind::Reply;
                }
            }
            "quoted" => {
                refs.quote_of = Some(id);
                if kind == Kind::Post {
                    kind = Kind::Quote;
                }
            }
            _ => {}
        }
    }

    // A long post: the full text and its entities are in `note_tweet`.
    let (escaped, entities) = match post
        .note_tweet
        .as_ref()
        .and_then(|n| Some((n.get("text")?.as_str()?, n.get("entities"))))
    {
        Some((t, e)) => (t.to_owned(), e.cloned()),
        None => (post.text.clone(), post.entities.clone()),
    };
    let (text, map) = unescape(&escaped);
    let mut extra = Map::new();
    let facets = facets(entities.as_ref(), &map);
    if !facets.is_empty() {
        extra.insert("facets".into(), Value::Array(facets));
    }
    if !matching_rules.is_empty() {
        extra.insert("matching_rules".into(), Value::Array(matching_rules));
    }

    let metric = |k: &str| {
        post.public_metrics
            .as_ref()
            .and_then(|m| m.get(k))
            .and_then(Value::as_u64)
    };
    let url = match author.handle.as_str() {
        "" => format!("https://x.com/i/web/status/{}", post.id),
        h => format!("https://x.com/{h}/status/{}", post.id),
    };
    Ok(Mention {
        id: format!("x:{}", post.id),
        source: Source::X,
        kind,
        url: Some(url),
        created_at,
        collected_at,
        edited_at: None,
        text,
        lang_hint: post.lang.filter(|l| !l.is_empty() && l != "und"),
        author,
        engagement: Engagement {
            likes: metric("like_count"),
            reposts: metric("retweet_count"),
            replies: metric("reply_count"),
            quotes: metric("quote_count"),
            views: metric("impression_count"),
        },
        refs,
        media: media(post.attachments.as_ref(), &includes.media),
        geo: None,
        raw,
        extra,
    })
}

fn author(id: &str, user: Option<&Value>) -> Author {
    let s = |k: &str| user.and_then(|u| u.get(k)).and_then(Value::as_str);
    let n = |k: &str| {
        user.and_then(|u| u.pointer(&format!("/public_metrics/{k}")))
            .and_then(Value::as_u64)
    };
    Author {
        id: id.to_owned(),
        handle: s("username").unwrap_or_default().to_owned(),
        display_name: s("name").map(str::to_owned),
        followers: n("followers_count"),
        following: n("following_count"),
        posts: n("tweet_count"),
        verified: user
            .and_then(|u| u.get("verified"))
            .and_then(Value::as_bool),
        created_at: s("created_at")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
    }
}

fn media(attachments: Option<&Value>, included: &[Value]) -> Vec<Media> {
    let keys = attachments
        .and_then(|a| a.get("media_keys"))
        .and_then(Value::as_array);
    let mut out = Vec::new();
    for key in keys.into_iter().flatten().filter_map(Value::as_str) {
        let Some(m) = included
            .iter()
            .find(|m| m.get("media_key").and_then(Value::as_str) == Some(key))
        else {
            continue;
        };
        let s = |k: &str| m.get(k).and_then(Value::as_str);
        let kind = match s("type") {
            Some("photo") => MediaKind::Image,
            Some("video") => MediaKind::Video,
            Some("animated_gif") => MediaKind::Gif,
            _ => continue,
        };
        // Videos and GIFs have only a preview image unless `variants` was requested.
        let Some(url) = s("url").or_else(|| s("preview_image_url")) else {
            continue;
        };
        out.push(Media {
            kind,
            url: url.to_owned(),
            alt_text: s("alt_text").map(str::to_owned),
        });
    }
    out
}

/// Unescapes `&amp;`, `&lt;`, `&gt;`; `map[i]` is the code point offset in the result of code
/// point `i` of the input (and `map[len]` the result's length), so entity offsets can follow.
pub(crate) fn unescape(s: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(s.len());
    let mut map = Vec::with_capacity(s.len() + 1);
    let mut n = 0usize;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let (dec, len) = match c {
            '&' if rest.starts_with("&amp;") => ('&', 5),
            '&' if rest.starts_with("&lt;") => ('<', 4),
            '&' if rest.starts_with("&gt;") => ('>', 4),
            c => (c, 1),
        };
        map.extend(std::iter::repeat_n(n, len));
        out.push(dec);
        n += 1;
        rest = &rest[if len == 1 { c.len_utf8() } else { len }..];
    }
    map.push(n);
    (out, map)
}

/// Entities as facets with offsets moved into the unescaped text; ones whose offsets fall
/// outside it are dropped, not guessed.
fn facets(entities: Option<&Value>, map: &[usize]) -> Vec<Value> {
    let mut out = Vec::new();
    let groups: [(&str, &str, &[&str]); 4] = [
        ("urls", "link", &["expanded_url", "url"]),
        ("hashtags", "tag", &["tag"]),
        ("cashtags", "cashtag", &["tag"]),
        ("mentions", "mention", &["username"]),
    ];
    for (key, kind, fields) in groups {
        for e in entities
            .and_then(|e| e.get(key))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let pos = |k: &str| {
                e.get(k)
                    .and_then(Value::as_u64)
                    .and_then(|v| usize::try_from(v).ok())
            };
            let (Some(s), Some(end)) = (pos("start"), pos("end")) else {
                continue;
            };
            let (Some(&s), Some(&end)) = (map.get(s), map.get(end)) else {
                continue;
            };
            let Some(value) = fields
                .iter()
                .find_map(|f| e.get(*f).and_then(Value::as_str))
            else {
                continue;
            };
            if s < end {
                out.push(json!({"type": kind, "value": value, "start": s, "end": end}));
            }
        }
    }
    out.sort_by_key(|f| f["start"].as_u64());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflake_ids_carry_their_time() {
        // A post id from tweepy's cassettes: (id >> 22) ms after X's epoch.
        let t = snowflake_time("1578466218075312129").map(|t| t.to_rfc3339());
        assert_eq!(t.as_deref(), Some("2022-10-07T19:24:07.530+00:00"));
        assert_eq!(snowflake_time("nope"), None);
    }

    #[test]
    fn unescaping_moves_entity_offsets() {
        let (t, map) = unescape("a &amp; b &lt;3 #tag");
        assert_eq!(t, "a & b <3 #tag");
        let facets = facets(
            Some(&json!({"hashtags": [{"start": 16, "end": 20, "tag": "tag"}]})),
            &map,
        );
        assert_eq!(
            facets,
            [json!({"type": "tag", "value": "tag", "start": 9, "end": 13})]
        );
        let chars: String = t.chars().skip(9).take(4).collect();
        assert_eq!(chars, "#tag");
    }
}
