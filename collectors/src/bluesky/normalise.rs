//! Jetstream events as mentions.
//!
//! A post's id is `bluesky:at://<did>/<collection>/<rkey>` (its AT URI), which is also what
//! replies, quotes, reposts and deletes name. Facets (links, hashtags, @mentions) are kept in
//! `extra.facets` as `{"type", "value", "start", "end"}` with `start`/`end` converted from the
//! record's UTF-8 *byte* offsets to Unicode code point offsets into `text` — the unit
//! Backchannel's highlights use. A link facet's `value` is the full URI, which matters because
//! the text itself often shows a shortened one (`example.com/abc...`). Facets whose offsets do
//! not fall on character boundaries inside the text are dropped, not guessed.

use chrono::{DateTime, Utc};
use model::{Author, Kind, Media, MediaKind, Mention, References, Source};
use serde::Deserialize;
use serde_json::{Value, json};

/// A Jetstream v1 event, as much of it as we read.
#[derive(Debug, Deserialize)]
pub(crate) struct JetEvent {
    pub did: String,
    pub time_us: i64,
    pub kind: String,
    #[serde(default)]
    pub commit: Option<Commit>,
    /// On `identity` events: the account's current handle, when it has a verified one.
    #[serde(default)]
    pub identity: Option<Identity>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Identity {
    #[serde(default)]
    pub handle: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Commit {
    pub operation: String,
    pub collection: String,
    pub rkey: String,
    #[serde(default)]
    pub record: Option<Value>,
}

/// What one event means for us.
#[derive(Debug)]
pub(crate) enum Outcome {
    Mention(Box<Mention>),
    Delete(String),
    /// Not something we collect (likes, follows, identity, account events).
    Skip,
    /// A post or repost record we could not read; the reason is a metric-friendly code.
    Bad(&'static str),
}

pub(crate) fn at_uri(did: &str, collection: &str, rkey: &str) -> String {
    format!("at://{did}/{collection}/{rkey}")
}

/// Normalises one event; collections outside `wanted` are skipped (Jetstream filters on its side
/// too, but a server that ignores the filter must not widen what we collect).
pub(crate) fn normalise(
    ev: JetEvent,
    wanted: &[String],
    collected_at: DateTime<Utc>,
    raw: Option<Value>,
) -> Outcome {
    let Some(commit) = ev.commit.filter(|_| ev.kind == "commit") else {
        return Outcome::Skip;
    };
    let is_post = commit.collection == "app.bsky.feed.post";
    let is_repost = commit.collection == "app.bsky.feed.repost";
    if !(is_post || is_repost) || !wanted.contains(&commit.collection) {
        return Outcome::Skip;
    }
    let uri = at_uri(&ev.did, &commit.collection, &commit.rkey);
    // An update is an edit: marked with when the relay saw it, as records carry no edit time.
    let edited_at = match commit.operation.as_str() {
        "delete" => return Outcome::Delete(format!("bluesky:{uri}")),
        "create" => None,
        "update" => DateTime::from_timestamp_micros(ev.time_us),
        _ => return Outcome::Skip,
    };
    let Some(rec) = commit.record else {
        return Outcome::Bad("missing_record");
    };
    let created_at = rec
        .get("createdAt")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .or_else(|| DateTime::from_timestamp_micros(ev.time_us));
    let Some(created_at) = created_at else {
        return Outcome::Bad("bad_timestamp");
    };
    let str_at = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let mut refs = References::default();
    let mut media = Vec::new();
    let mut extra = serde_json::Map::new();
    let (kind, text) = if is_repost {
        let Some(subject) = str_at(&rec, "/subject/uri") else {
            return Outcome::Bad("repost_without_subject");
        };
        refs.repost_of = Some(format!("bluesky:{subject}"));
        (Kind::Repost, String::new())
    } else {
        let Some(text) = rec.get("text").and_then(Value::as_str).map(str::to_owned) else {
            return Outcome::Bad("post_without_text");
        };
        refs.reply_to = str_at(&rec, "/reply/parent/uri").map(|u| format!("bluesky:{u}"));
        refs.conversation = str_at(&rec, "/reply/root/uri").map(|u| format!("bluesky:{u}"));
        if let Some(embed) = rec.get("embed") {
            embed_parts(&ev.did, embed, &mut refs, &mut media);
        }
        let facets = facets(&text, rec.get("facets"));
        if !facets.is_empty() {
            extra.insert("facets".into(), Value::Array(facets));
        }
        let kind = if refs.quote_of.is_some() {
            Kind::Quote
        } else if refs.reply_to.is_some() {
            Kind::Reply
        } else {
            Kind::Post
        };
        (kind, text)
    };
    let rkey = &commit.rkey;
    let url = is_post.then(|| format!("https://bsky.app/profile/{}/post/{rkey}", ev.did));
    Outcome::Mention(Box::new(Mention {
        id: format!("bluesky:{uri}"),
        source: Source::Bluesky,
        kind,
        url,
        created_at,
        collected_at,
        edited_at,
        text,
        lang_hint: str_at(&rec, "/langs/0"),
        author: Author {
            id: ev.did.clone(),
            // Commits carry no handle: the collector puts in the one its identity events taught
            // it; until then the DID is what there is to show.
            handle: ev.did,
            ..Author::default()
        },
        engagement: Default::default(),
        refs,
        media,
        geo: None,
        raw,
        extra,
    }))
}

fn embed_parts(did: &str, embed: &Value, refs: &mut References, media: &mut Vec<Media>) {
    let ty = embed.get("$type").and_then(Value::as_str).unwrap_or("");
    match ty {
        "app.bsky.embed.record" => {
            refs.quote_of = embed
                .pointer("/record/uri")
                .and_then(Value::as_str)
                .map(|u| format!("bluesky:{u}"));
        }
        "app.bsky.embed.recordWithMedia" => {
            refs.quote_of = embed
                .pointer("/record/record/uri")
                .and_then(Value::as_str)
                .map(|u| format!("bluesky:{u}"));
            if let Some(m) = embed.get("media") {
                embed_parts(did, m, refs, media);
            }
        }
        "app.bsky.embed.images" => {
            for img in embed
                .get("images")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(cid) = img.pointer("/image/ref/$link").and_then(Value::as_str) {
                    media.push(Media {
                        kind: MediaKind::Image,
                        url: format!(
                            "https://cdn.bsky.app/img/feed_fullsize/plain/{did}/{cid}@jpeg"
                        ),
                        alt_text: img
                            .get("alt")
                            .and_then(Value::as_str)
                            .filter(|a| !a.is_empty())
                            .map(str::to_owned),
                    });
                }
            }
        }
        "app.bsky.embed.video" => {
            if let Some(cid) = embed.pointer("/video/ref/$link").and_then(Value::as_str) {
                media.push(Media {
                    kind: MediaKind::Video,
                    url: format!("https://video.bsky.app/watch/{did}/{cid}/playlist.m3u8"),
                    alt_text: embed.get("alt").and_then(Value::as_str).map(str::to_owned),
                });
            }
        }
        "app.bsky.embed.external" => {
            if let Some(uri) = embed.pointer("/external/uri").and_then(Value::as_str) {
                media.push(Media {
                    kind: MediaKind::Link,
                    url: uri.to_owned(),
                    alt_text: embed
                        .pointer("/external/title")
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned),
                });
            }
        }
        _ => {}
    }
}

/// Facets with byte offsets turned into code point offsets.
pub(crate) fn facets(text: &str, facets: Option<&Value>) -> Vec<Value> {
    let mut out = Vec::new();
    for f in facets.and_then(Value::as_array).into_iter().flatten() {
        let (Some(bs), Some(be)) = (
            f.pointer("/index/byteStart").and_then(Value::as_u64),
            f.pointer("/index/byteEnd").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let (Ok(bs), Ok(be)) = (usize::try_from(bs), usize::try_from(be)) else {
            continue;
        };
        if bs > be || be > text.len() || !text.is_char_boundary(bs) || !text.is_char_boundary(be) {
            continue;
        }
        let start = text[..bs].chars().count();
        let end = start + text[bs..be].chars().count();
        for feat in f
            .get("features")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ty = feat.get("$type").and_then(Value::as_str).unwrap_or("");
            let (kind, value) = match ty {
                "app.bsky.richtext.facet#link" => ("link", feat.get("uri")),
                "app.bsky.richtext.facet#tag" => ("tag", feat.get("tag")),
                "app.bsky.richtext.facet#mention" => ("mention", feat.get("did")),
                _ => continue,
            };
            let Some(value) = value.and_then(Value::as_str) else {
                continue;
            };
            out.push(json!({"type": kind, "value": value, "start": start, "end": end}));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facet_byte_offsets_become_code_point_offsets() {
        // "é" is 2 bytes, "😂" 4: the tag starts at byte 11 but code point 7.
        let text = "café 😂 #rust rocks";
        let bs = text.find("#rust").unwrap_or(0);
        let f = json!([
            {"index": {"byteStart": bs, "byteEnd": bs + 5},
             "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "rust"}]},
            {"index": {"byteStart": 4, "byteEnd": 5}, // inside "é": dropped
             "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "x"}]},
            {"index": {"byteStart": 0, "byteEnd": 999},
             "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "y"}]}
        ]);
        let got = facets(text, Some(&f));
        assert_eq!(
            got,
            vec![json!({"type":"tag","value":"rust","start":7,"end":12})]
        );
        let chars: Vec<char> = text.chars().collect();
        assert_eq!(chars[7..12].iter().collect::<String>(), "#rust");
    }
}
