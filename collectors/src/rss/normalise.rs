//! Feed documents (RSS 0.9x/2.0, RDF/RSS 1.0, Atom 0.3/1.0) as mentions, through `feed-rs`.
//!
//! An entry's id is its `guid`/`id`; an entry without one gets a stable id from its link and
//! title, or failing those from its body and dates (feed-rs's own fallback is a random UUID,
//! which would make every poll look new). A mention id is `rss:<entry id>` when the entry id is
//! a URI (`https://…`, `tag:…`, `urn:…`), which is globally unique by design, and
//! `rss:<feed url>#<entry id>` otherwise (a bare `42` is unique only within its feed).
//!
//! feed-rs does not know Atom 0.3 (namespace `http://purl.org/atom/ns#`) or RSS 0.90
//! (`http://my.netscape.com/rdf/simple/0.9/`): it finds the root but none of its children. Such
//! a document is rewritten before parsing: the namespace to Atom 1.0's or RSS 1.0's, Atom 0.3's
//! `issued`/`modified` to `published`/`updated` and its MIME-typed `type="text/plain"` etc. to
//! 1.0's `text`/`html`/`xhtml` (a `link`'s `type="text/html"` becomes `html` too; we do not read
//! it). Byte-level, so a document in a legacy encoding is not mangled. Gaps found against
//! feedparser's test suite and not worked around: `dc:title`, `dcterms:issued`/`modified`,
//! base64 text constructs, the Userland RSS namespace, and RSS 1.0/0.90 items without a
//! `<link>` (feed-rs drops them; the format requires one).

use chrono::{DateTime, Utc};
use feed_rs::model::{Entry, Feed, Link, Text};
use model::{Author, Kind, Mention, Source};
use serde_json::{Value, json};

use crate::common::html;

/// A parsed feed: its entries as mentions (in document order) with their entry ids.
#[derive(Debug)]
pub struct ParsedFeed {
    pub title: Option<String>,
    /// `(entry id, mention)` in document order.
    pub entries: Vec<(String, Mention)>,
}

/// Marks an id that feed-rs could not derive from link or title; replaced in [`normalise`].
const NO_ID: &str = "";

/// Parses a feed document fetched from `feed_url`. The error is feed-rs's message.
pub fn parse(
    bytes: &[u8],
    feed_url: &str,
    collected_at: DateTime<Utc>,
) -> Result<ParsedFeed, String> {
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url))
        .id_generator(|links, title, _| match (links.first(), title) {
            (None, None) => NO_ID.to_owned(),
            (link, title) => {
                let mut h = Fnv::default();
                h.write(link.map_or("", |l| l.href.as_str()));
                h.write("\u{0}");
                h.write(title.as_ref().map_or("", |t| t.content.as_str()));
                format!("urn:x-backchannel:{:016x}", h.0)
            }
        })
        .build();
    let feed = match legacy_as_current(bytes) {
        Some(doc) => parser.parse(doc.as_slice()),
        None => parser.parse(bytes),
    }
    .map_err(|e| e.to_string())?;
    Ok(normalise(feed, feed_url, collected_at))
}

fn normalise(feed: Feed, feed_url: &str, collected_at: DateTime<Utc>) -> ParsedFeed {
    let feed_title = feed.title.as_ref().map(text);
    let feed_lang = feed.language.clone();
    let feed_author = feed.authors.first().and_then(person);
    let entries = feed
        .entries
        .into_iter()
        .map(|e| {
            let id = entry_id(&e);
            let m = to_mention(
                e,
                &id,
                feed_url,
                feed_title.as_deref(),
                feed_author.as_deref(),
                feed_lang.as_deref(),
                collected_at,
            );
            (id, m)
        })
        .collect();
    ParsedFeed {
        title: feed_title,
        entries,
    }
}

const ATOM03_NS: &[u8] = b"http://purl.org/atom/ns#";
const RSS090_NS: &[u8] = b"http://my.netscape.com/rdf/simple/0.9/";

/// An Atom 0.3 or RSS 0.90 document rewritten as Atom 1.0 or RSS 1.0 (see the module docs);
/// `None` for anything else.
fn legacy_as_current(bytes: &[u8]) -> Option<Vec<u8>> {
    let has = |ns: &[u8]| bytes.windows(ns.len()).any(|w| w == ns);
    let swaps: &[(&[u8], &[u8])] = if has(ATOM03_NS) {
        &[
            (ATOM03_NS, b"http://www.w3.org/2005/Atom"),
            (b"<issued>", b"<published>"),
            (b"</issued>", b"</published>"),
            (b"<modified>", b"<updated>"),
            (b"</modified>", b"</updated>"),
            // 0.3 text constructs name MIME types where 1.0 says text/html/xhtml.
            (b"type=\"text/plain\"", b"type=\"text\""),
            (b"type=\"text/html\"", b"type=\"html\""),
            (b"type=\"application/xhtml+xml\"", b"type=\"xhtml\""),
        ]
    } else if has(RSS090_NS) {
        &[(RSS090_NS, b"http://purl.org/rss/1.0/")]
    } else {
        return None;
    };
    let mut doc = bytes.to_vec();
    for (from, to) in swaps {
        doc = replace_bytes(&doc, from, to);
    }
    Some(doc)
}

fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

fn entry_id(e: &Entry) -> String {
    if e.id != NO_ID {
        return e.id.clone();
    }
    let mut h = Fnv::default();
    for part in [
        e.content.as_ref().and_then(|c| c.body.as_deref()),
        e.summary.as_ref().map(|s| s.content.as_str()),
    ] {
        h.write(part.unwrap_or(""));
        h.write("\u{0}");
    }
    for d in [e.published, e.updated] {
        h.write(&d.map(|d| d.to_rfc3339()).unwrap_or_default());
    }
    format!("urn:x-backchannel:{:016x}", h.0)
}

/// Title or body text: HTML (and XHTML) to text, plain text as given.
fn text(t: &Text) -> String {
    let ty = t.content_type.essence().to_string();
    if ty.contains("html") {
        html::to_text(&t.content)
    } else {
        t.content.trim().to_owned()
    }
}

fn person(p: &feed_rs::model::Person) -> Option<String> {
    [&p.name, &p.email]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .find(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The entry's web page: the `alternate` link (or one without a rel), else the first.
pub(crate) fn entry_link(links: &[Link]) -> Option<String> {
    links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .or_else(|| links.first())
        .map(|l| l.href.clone())
}

fn to_mention(
    e: Entry,
    id: &str,
    feed_url: &str,
    feed_title: Option<&str>,
    feed_author: Option<&str>,
    feed_lang: Option<&str>,
    collected_at: DateTime<Utc>,
) -> Mention {
    let title = e.title.as_ref().map(text).filter(|t| !t.is_empty());
    let body = match (&e.content, &e.summary) {
        (Some(c), _) if c.body.as_deref().is_some_and(|b| !b.trim().is_empty()) => {
            html::to_text(c.body.as_deref().unwrap_or_default())
        }
        (_, Some(s)) => text(s),
        _ => String::new(),
    };
    let text = match (title, body.is_empty()) {
        (Some(t), true) => t,
        (Some(t), false) if body.starts_with(&t) => body, // RSS items that repeat the title
        (Some(t), false) => format!("{t}\n\n{body}"),
        (None, _) => body,
    };
    let author = e
        .authors
        .first()
        .and_then(person)
        .or_else(|| feed_author.map(str::to_owned))
        .or_else(|| feed_title.map(str::to_owned))
        .unwrap_or_else(|| host(feed_url));
    let unique = ["http:", "https:", "tag:", "urn:"]
        .iter()
        .any(|p| id.starts_with(p));
    let mut extra = serde_json::Map::new();
    extra.insert("feed".into(), json!({"url": feed_url, "title": feed_title}));
    if let Some(u) = e.updated {
        extra.insert("updated_at".into(), Value::String(u.to_rfc3339()));
    }
    Mention {
        id: if unique {
            format!("rss:{id}")
        } else {
            format!("rss:{feed_url}#{id}")
        },
        source: Source::Rss,
        kind: Kind::Post,
        // No link: an id that is an http(s) URL (an RSS permalink guid, many Atom ids) is one.
        url: entry_link(&e.links).or_else(|| {
            let lower = id.get(..8).unwrap_or(id).to_ascii_lowercase();
            (lower.starts_with("http://") || lower.starts_with("https://")).then(|| id.to_owned())
        }),
        created_at: e.published.or(e.updated).unwrap_or(collected_at),
        collected_at,
        text,
        lang_hint: e.language.or_else(|| feed_lang.map(str::to_owned)),
        author: Author {
            id: author.clone(),
            handle: author,
            ..Author::default()
        },
        engagement: Default::default(),
        refs: Default::default(),
        media: Vec::new(),
        geo: None,
        raw: None,
        extra,
    }
}

fn host(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| url.to_owned())
}

/// FNV-1a, 64 bit: a hash that is the same in every build (std's is not promised to be), for
/// ids and for the cursor's list of seen entries.
#[derive(Debug)]
pub(crate) struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub(crate) fn write(&mut self, s: &str) {
        for b in s.bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_without_ids_get_stable_ones() {
        let doc = br#"<rss version="2.0"><channel><title>T</title>
            <item><description>no link, no title</description></item>
            <item><title>Only a title</title></item></channel></rss>"#;
        let now = Utc::now();
        let a = parse(doc, "https://example.org/feed", now).expect("parse");
        let b = parse(doc, "https://example.org/feed", now).expect("parse");
        let ids = |p: &ParsedFeed| p.entries.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a)[0], ids(&a)[1]);
        assert!(a.entries[0].1.id.starts_with("rss:urn:x-backchannel:"));
        assert_eq!(a.entries[0].1.author.id, "T");
    }
}
