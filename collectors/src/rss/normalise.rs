//! Feed documents (RSS 0.9x/2.0, RDF/RSS 1.0, Atom 0.3/1.0) as mentions.
//!
//! feed-rs reads the document; where it fails or is known to misread it, the lenient pass of
//! [`super::lenient`] is used instead (see [`parse`]). Either reading becomes a [`Channel`] of
//! [`Item`]s, the fields the collector uses, and one function turns those into mentions, so
//! both readings give the same ids for the same entries.
//!
//! An entry's id is its `guid`/`id`. A mention id is `rss:<entry id>` when that id is a URI
//! (`https://…`, `tag:…`, `urn:…`), which the publisher promises is globally unique, and
//! `rss:<feed url>#<entry id>` otherwise (a bare `42` is unique only within its feed). An entry
//! without one gets a derived id, always scoped to its feed: a hash of its link and title, or,
//! with no link, of everything it has (title, bodies, dates, author, other links), so entries
//! differ unless their content does. Not a position or a random UUID (feed-rs's own fallback),
//! which would make every poll look new.
//!
//! feed-rs does not know Atom 0.3 (namespace `http://purl.org/atom/ns#`) or RSS 0.90
//! (`http://my.netscape.com/rdf/simple/0.9/`): it finds the root but none of its children. Such
//! a document is rewritten before parsing: the namespace to Atom 1.0's or RSS 1.0's, Atom 0.3's
//! `issued`/`modified` to `published`/`updated` and its MIME-typed `type="text/plain"` etc. to
//! 1.0's `text`/`html`/`xhtml` (a `link`'s `type="text/html"` becomes `html` too; we do not read
//! it). Byte-level, so a document in a legacy encoding is not mangled.

use chrono::{DateTime, Utc};
use feed_rs::model::{Entry, Feed, Link, LinkTarget, Text};
use model::{Author, Kind, Mention, Source};
use serde_json::{Value, json};

use super::lenient;
use crate::common::html;

/// A parsed feed: its entries as mentions, in document order.
#[derive(Debug)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub entries: Vec<ParsedEntry>,
}

/// One entry of a feed.
#[derive(Debug)]
pub struct ParsedEntry {
    /// The entry's id within its feed (the cursor remembers it): the publisher's, or derived.
    pub id: String,
    /// The title as text (also the start of `mention.text`); `None` when absent or empty.
    pub title: Option<String>,
    pub mention: Mention,
}

/// A feed as the collector reads it, whichever parser read it. Texts are plain text.
#[derive(Debug, Default)]
pub(crate) struct Channel {
    pub title: Option<String>,
    pub author: Option<String>,
    pub lang: Option<String>,
    pub items: Vec<Item>,
}

/// One entry as the collector reads it. Texts are plain text, never empty.
#[derive(Debug, Default)]
pub(crate) struct Item {
    /// The publisher's `guid`/`id`, trimmed.
    pub id: Option<String>,
    /// The id may stand in for a missing link (not an RSS guid with `isPermaLink="false"`).
    pub id_is_link: bool,
    pub title: Option<String>,
    /// The entry's web page (its `alternate` link).
    pub link: Option<String>,
    /// Its other links (enclosures, related pages), for derived ids.
    pub links: Vec<String>,
    pub content: Option<String>,
    pub summary: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub author: Option<String>,
    pub lang: Option<String>,
}

/// Parses a feed document fetched from `feed_url`; the error is feed-rs's message.
///
/// feed-rs's reading is used unless it failed, found fewer entries than the lenient pass (it
/// drops RDF items without a `<link>`), or the lenient pass saw a construct feed-rs misreads
/// ([`lenient::Reading::misread`]). A document that neither reads is an error.
pub fn parse(
    bytes: &[u8],
    feed_url: &str,
    collected_at: DateTime<Utc>,
) -> Result<ParsedFeed, String> {
    let channel = match (strict(bytes, feed_url), lenient::read(bytes, feed_url)) {
        (Ok(s), Some(l)) if l.misread || l.channel.items.len() > s.items.len() => l.channel,
        (Ok(s), _) => s,
        (Err(_), Some(l)) => l.channel,
        (Err(e), None) => return Err(e),
    };
    Ok(to_parsed(channel, feed_url, collected_at))
}

/// The document as feed-rs reads it.
fn strict(bytes: &[u8], feed_url: &str) -> Result<Channel, String> {
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url))
        // Ours are derived later from the whole entry; an empty id marks "none given".
        .id_generator(|_, _, _| String::new())
        .build();
    let feed = match legacy_as_current(bytes) {
        Some(doc) => parser.parse(doc.as_slice()),
        None => parser.parse(bytes),
    }
    .map_err(|e| e.to_string())?;
    Ok(from_feed_rs(feed))
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn from_feed_rs(feed: Feed) -> Channel {
    let items = feed
        .entries
        .into_iter()
        .map(|e: Entry| {
            let link = entry_link(&e.links);
            Item {
                id: non_empty(e.id.trim().to_owned()),
                id_is_link: true,
                title: e.title.as_ref().map(text).and_then(non_empty),
                links: e
                    .links
                    .iter()
                    .map(|l| l.href.clone())
                    .filter(|h| Some(h) != link.as_ref())
                    .collect(),
                link,
                content: e
                    .content
                    .as_ref()
                    .and_then(|c| c.body.as_deref())
                    .map(html::to_text)
                    .and_then(non_empty),
                summary: e.summary.as_ref().map(text).and_then(non_empty),
                published: e.published,
                updated: e.updated,
                author: e.authors.first().and_then(person),
                lang: e.language,
            }
        })
        .collect();
    Channel {
        title: feed.title.as_ref().map(text).and_then(non_empty),
        author: feed.authors.first().and_then(person),
        lang: feed.language,
        items,
    }
}

/// What a mention takes from its feed.
struct FeedInfo<'a> {
    url: &'a str,
    title: Option<&'a str>,
    author: Option<&'a str>,
    lang: Option<&'a str>,
}

fn to_parsed(channel: Channel, feed_url: &str, collected_at: DateTime<Utc>) -> ParsedFeed {
    let feed = FeedInfo {
        url: feed_url,
        title: channel.title.as_deref(),
        author: channel.author.as_deref(),
        lang: channel.lang.as_deref(),
    };
    let mut entries = Vec::with_capacity(channel.items.len());
    for it in channel.items {
        let id = entry_id(&it);
        let title = it.title.clone();
        let mention = to_mention(it, &id, &feed, collected_at);
        entries.push(ParsedEntry { id, title, mention });
    }
    ParsedFeed {
        title: channel.title,
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

/// Prefix of the ids we derive.
const DERIVED: &str = "urn:x-backchannel:";

/// The publisher's id, or one derived from the entry's content (see the module docs).
fn entry_id(it: &Item) -> String {
    if let Some(id) = &it.id {
        return id.clone();
    }
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    let date = |d: Option<DateTime<Utc>>| d.map(|d| d.to_rfc3339()).unwrap_or_default();
    let parts = match &it.link {
        Some(link) => vec![link.clone(), opt(&it.title)],
        None => {
            let mut p = vec![
                opt(&it.title),
                opt(&it.content),
                opt(&it.summary),
                date(it.published),
                date(it.updated),
                opt(&it.author),
            ];
            p.extend(it.links.iter().cloned());
            p
        }
    };
    let mut h = Fnv::default();
    for p in parts {
        h.write(&p);
        h.write("\u{0}");
    }
    format!("{DERIVED}{:016x}", h.0)
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

/// The entry's web page: its `alternate` link (or one without a rel), not a comments page.
pub(crate) fn entry_link(links: &[Link]) -> Option<String> {
    links
        .iter()
        .find(|l| {
            l.rel.as_deref().is_none_or(|r| r == "alternate")
                && !matches!(
                    l.target,
                    Some(LinkTarget::Comments | LinkTarget::CommentsFeed)
                )
        })
        .map(|l| l.href.clone())
}

fn to_mention(it: Item, id: &str, feed: &FeedInfo<'_>, collected_at: DateTime<Utc>) -> Mention {
    let body = it.content.or(it.summary).unwrap_or_default();
    let text = match (it.title, body.is_empty()) {
        (Some(t), true) => t,
        (Some(t), false) if body.starts_with(&t) => body, // RSS items that repeat the title
        (Some(t), false) => format!("{t}\n\n{body}"),
        (None, _) => body,
    };
    let author = it
        .author
        .or_else(|| feed.author.map(str::to_owned))
        .or_else(|| feed.title.map(str::to_owned))
        .unwrap_or_else(|| host(feed.url));
    let publisher_id = it.id.is_some();
    let global = publisher_id
        && ["http:", "https:", "tag:", "urn:"]
            .iter()
            .any(|p| id.starts_with(p));
    let mut extra = serde_json::Map::new();
    extra.insert("feed".into(), json!({"url": feed.url, "title": feed.title}));
    if let Some(u) = it.updated {
        extra.insert("updated_at".into(), Value::String(u.to_rfc3339()));
    }
    // No link: a permalink id that is an http(s) URL (an RSS guid, many Atom ids) is one.
    let url = it.link.or_else(|| {
        let lower = id.get(..8).unwrap_or(id).to_ascii_lowercase();
        let http = lower.starts_with("http://") || lower.starts_with("https://");
        (publisher_id && it.id_is_link && http && reqwest::Url::parse(id).is_ok())
            .then(|| id.to_owned())
    });
    Mention {
        id: if global {
            format!("rss:{id}")
        } else {
            format!("rss:{}#{id}", feed.url)
        },
        source: Source::Rss,
        kind: Kind::Post,
        url,
        created_at: it.published.or(it.updated).unwrap_or(collected_at),
        collected_at,
        edited_at: None,
        text,
        lang_hint: it.lang.or_else(|| feed.lang.map(str::to_owned)),
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
        let ids = |p: &ParsedFeed| p.entries.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a)[0], ids(&a)[1]);
        assert!(
            a.entries[0]
                .mention
                .id
                .starts_with("rss:https://example.org/feed#urn:x-backchannel:")
        );
        assert_eq!(a.entries[0].mention.author.id, "T");
    }

    #[test]
    fn derived_ids_are_scoped_to_the_feed_and_its_content() {
        let doc = br#"<rss version="2.0"><channel>
            <item><title>Daily update</title><description>Monday</description></item>
            <item><title>Daily update</title><description>Tuesday</description></item>
            <item><guid>https://example.org/p/1</guid></item></channel></rss>"#;
        let now = Utc::now();
        let a = parse(doc, "https://a.example/feed", now).expect("parse");
        let b = parse(doc, "https://b.example/feed", now).expect("parse");
        let ids = |p: &ParsedFeed| {
            p.entries
                .iter()
                .map(|e| e.mention.id.clone())
                .collect::<Vec<_>>()
        };
        let (a, b) = (ids(&a), ids(&b));
        assert_ne!(a[0], a[1], "same title, other content");
        assert_ne!(a[0], b[0], "same entry in another feed");
        assert!(a[0].starts_with("rss:https://a.example/feed#urn:x-backchannel:"));
        // The publisher's URI id names the entry wherever it appears.
        assert_eq!(a[2], "rss:https://example.org/p/1");
        assert_eq!(a[2], b[2]);
    }
}
