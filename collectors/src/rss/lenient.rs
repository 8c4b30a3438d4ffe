//! A tolerant reading of a feed document, for what feed-rs rejects or misreads.
//!
//! quick-xml (already under feed-rs) reads the document into a small tree that survives
//! mismatched or missing end tags and unknown entities (a syntax error skips ahead instead of
//! ending the read); entries are then taken one element at a time, so a broken entry costs
//! that entry's fields, not the feed. It knows every dialect feedparser reads: RSS 0.90–2.x
//! with any or no `version`, with or without a `<channel>`, in no namespace or the Userland
//! one; RDF/RSS 1.0 (items without a `<link>` too); Atom 0.3 and 1.0, also without a namespace.
//! Text constructs are decoded as their `type`/`mode` say: base64 (`mode="base64"`, or an Atom
//! 1.0 type that is neither text nor XML), escaped HTML, inline XHTML, and undeclared markup.
//!
//! [`read`] also says whether the document has something feed-rs is known to misread (see
//! [`Reading::misread`]), so the caller can prefer this reading although feed-rs parsed it.

use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use reqwest::Url;

use super::normalise::{Channel, Item};
use crate::common::html;
use tree::{Node, decode, into_core, tree};

mod tree;

/// The lenient reading of a document.
#[derive(Debug)]
pub(crate) struct Reading {
    pub channel: Channel,
    /// The document has a construct that feed-rs misreads: a base64 text construct, markup
    /// inside a text-only title or summary, a `dc:title` without a `title`, `dcterms:` dates,
    /// an RSS `guid` with `isPermaLink="false"` where a link is missing, an entity from the
    /// internal DTD, or a feed vocabulary in an unknown namespace.
    pub misread: bool,
}

const ATOM10: &str = "http://www.w3.org/2005/Atom";
const ATOM03: &str = "http://purl.org/atom/ns#";
const RSS10: &str = "http://purl.org/rss/1.0/";
const RSS090: &str = "http://my.netscape.com/rdf/simple/0.9/";
const USERLAND: &str = "http://backend.userland.com/rss";
const USERLAND2: &str = "http://backend.userland.com/rss2";
const DC: &str = "http://purl.org/dc/elements/1.1/";
const DCTERMS: &str = "http://purl.org/dc/terms/";
const CONTENT: &str = "http://purl.org/rss/1.0/modules/content/";
const XHTML: &str = "http://www.w3.org/1999/xhtml";
const XML: &str = "http://www.w3.org/XML/1998/namespace";

/// The feed vocabularies themselves; an element in one of these (or in none) is "core".
const CORE: &[&str] = &["", ATOM10, ATOM03, RSS10, RSS090, USERLAND, USERLAND2];

/// Reads `bytes` leniently; `None` when no feed element (`rss`, `RDF`, `feed`, `channel`) is
/// found at the top.
pub(crate) fn read(bytes: &[u8], feed_url: &str) -> Option<Reading> {
    let doc = decode(bytes);
    let (mut root, mut misread) = tree(&doc)?;
    let kind = root.name.to_ascii_lowercase();
    if !["rss", "rdf", "feed", "channel"].contains(&kind.as_str()) {
        return None;
    }
    if kind != "rdf" && !CORE.contains(&root.ns.as_str()) {
        // A pre-standard Atom namespace (`http://purl.org/pie/`, …) or another unknown one:
        // the vocabulary of the root element is the feed's. feed-rs finds nothing in it.
        let ns = root.ns.clone();
        into_core(&mut root, &ns);
        misread = true;
    }
    let base = Url::parse(feed_url).ok();
    let base = xml_base(&root, base.as_ref());
    let channel_node = root.child(CORE, "channel");
    let head = channel_node.unwrap_or(&root);
    let mut items = Vec::new();
    collect_items(&root, base.as_ref(), &mut items, &mut misread);
    let title = head.child(CORE, "title");
    if title.is_none() && head.child(&[DC], "title").is_some() {
        misread = true; // feed-rs reads no `dc:title`
    }
    let title = title
        .or_else(|| head.child(&[DC], "title"))
        .map(|t| text_construct(t, false, &mut misread))
        .filter(|t| !t.is_empty());
    let channel = Channel {
        title,
        author: author(head),
        lang: head
            .child(CORE, "language")
            .or_else(|| head.child(&[DC], "language"))
            .map(|l| l.string_value().trim().to_owned())
            .or_else(|| head.attr("xml:lang").map(str::to_owned))
            .or_else(|| root.attr("xml:lang").map(str::to_owned))
            .filter(|l| !l.is_empty()),
        items,
    };
    Some(Reading { channel, misread })
}

/// `base` updated by the element's `xml:base`.
fn xml_base(n: &Node, base: Option<&Url>) -> Option<Url> {
    match n.attr("xml:base") {
        Some(b) => resolve_url(b, base)
            .and_then(|u| Url::parse(&u).ok())
            .or(base.cloned()),
        None => base.cloned(),
    }
}

/// An absolute URL as written; a relative one against `base`.
fn resolve_url(href: &str, base: Option<&Url>) -> Option<String> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    match Url::parse(href) {
        Ok(_) => Some(href.to_owned()),
        Err(_) => base.and_then(|b| b.join(href).ok()).map(String::from),
    }
}

/// Every `item`/`entry` below `n` (not inside another one), in document order.
fn collect_items(n: &Node, base: Option<&Url>, out: &mut Vec<Item>, misread: &mut bool) {
    for k in n.elements() {
        let base = xml_base(k, base);
        if k.is(CORE, "item") || k.is(CORE, "entry") {
            out.push(item(k, base.as_ref(), misread));
        } else {
            collect_items(k, base.as_ref(), out, misread);
        }
    }
}

fn item(n: &Node, base: Option<&Url>, misread: &mut bool) -> Item {
    let mut it = Item::default();
    let title = n.child(CORE, "title");
    let dc_title = n.child(&[DC], "title");
    if title.is_none() && dc_title.is_some() {
        *misread = true;
    }
    it.title = title
        .or(dc_title)
        .map(|t| text_construct(t, false, misread))
        .filter(|t| !t.is_empty());
    let mut permalink = true;
    for k in n.elements() {
        if k.is(CORE, "link") {
            let base = xml_base(k, base);
            match k.attr("href") {
                Some(href) => {
                    let rel = k.attr("rel").map_or("alternate", str::trim);
                    if let Some(u) = resolve_url(href, base.as_ref()) {
                        if rel.eq_ignore_ascii_case("alternate") && it.link.is_none() {
                            it.link = Some(u);
                        } else {
                            it.links.push(u);
                        }
                    }
                }
                None if it.link.is_none() => {
                    it.link = resolve_url(&k.string_value(), base.as_ref());
                }
                None => {}
            }
        } else if (k.is(CORE, "guid") || k.is(CORE, "id")) && it.id.is_none() {
            permalink = k.is(CORE, "id")
                || !k
                    .attr("isPermaLink")
                    .is_some_and(|p| p.trim().eq_ignore_ascii_case("false"));
            it.id = Some(k.string_value().trim().to_owned()).filter(|s| !s.is_empty());
        } else if k.is(CORE, "enclosure") {
            it.links
                .extend(k.attr("url").and_then(|u| resolve_url(u, base)));
        }
    }
    it.id_is_link = permalink;
    if !permalink && it.link.is_none() && it.id.as_deref().is_some_and(is_http) {
        *misread = true;
    }
    let content = [
        n.child(CORE, "content"),
        n.child(&[CONTENT], "encoded"),
        n.child(&[XHTML], "body"),
        n.child(CORE, "fullitem"),
    ];
    it.content = content
        .into_iter()
        .flatten()
        // Atom content is text unless typed; the others hold HTML.
        .map(|c| text_construct(c, !c.is(&[ATOM10, ATOM03], "content"), misread))
        .find(|t| !t.is_empty());
    let summary = [
        n.child(CORE, "summary"),
        n.child(CORE, "description"),
        n.child(&[DC], "description"),
    ];
    it.summary = summary
        .into_iter()
        .flatten()
        .map(|c| text_construct(c, !c.is(&[ATOM10, ATOM03], "summary"), misread))
        .find(|t| !t.is_empty());
    let date = |names: &[(&[&str], &str)]| {
        names
            .iter()
            .filter_map(|(ns, name)| n.child(ns, name))
            .find_map(|d| parse_date(&d.string_value()))
    };
    it.published = date(&[
        (CORE, "published"),
        (CORE, "pubDate"),
        (CORE, "issued"),
        (&[DC], "date"),
        (CORE, "created"),
    ]);
    it.updated = date(&[(CORE, "updated"), (CORE, "modified")]);
    // feed-rs reads no `dcterms:` dates.
    if it.published.is_none() {
        it.published = date(&[(&[DCTERMS], "issued"), (&[DCTERMS], "created")]);
        *misread |= it.published.is_some();
    }
    if it.updated.is_none() {
        it.updated = date(&[(&[DCTERMS], "modified")]);
        *misread |= it.updated.is_some();
    }
    it.author = author(n);
    it.lang = n
        .attr("xml:lang")
        .map(str::to_owned)
        .or_else(|| {
            n.child(&[DC], "language")
                .map(|l| l.string_value().trim().to_owned())
        })
        .filter(|l| !l.is_empty());
    it
}

fn is_http(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The first author's name (or e-mail): Atom `author` with `name`/`email`, RSS `author`,
/// `dc:creator`, `managingEditor`.
fn author(n: &Node) -> Option<String> {
    let candidates = [
        n.child(CORE, "author"),
        n.child(&[DC], "creator"),
        n.child(&[DC], "author"),
        n.child(CORE, "managingEditor"),
    ];
    candidates.into_iter().flatten().find_map(|a| {
        let v = match (a.child(CORE, "name"), a.child(CORE, "email")) {
            (Some(x), _) | (None, Some(x)) => x.string_value(),
            (None, None) => a.string_value(),
        };
        let v = v.trim();
        (!v.is_empty()).then(|| v.to_owned())
    })
}

/// The text of a title, summary or content element, as its `type` and `mode` say. `html`: the
/// element holds HTML unless its type says otherwise (RSS descriptions, Atom content).
fn text_construct(n: &Node, html_default: bool, misread: &mut bool) -> String {
    let ty = n.attr("type").unwrap_or("").trim().to_ascii_lowercase();
    let mode = n.attr("mode").unwrap_or("").trim().to_ascii_lowercase();
    let has_markup = n.elements().next().is_some();
    let textual = ty.is_empty()
        || matches!(ty.as_str(), "text" | "html" | "xhtml")
        || ty.starts_with("text/")
        || ty.ends_with("xml");
    if mode == "base64" || !textual {
        *misread = true;
        let b64: String = n.string_value().split_whitespace().collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        return if ty.contains("html") {
            html::to_text(&decoded)
        } else {
            decoded.trim().to_owned()
        };
    }
    if ty.contains("xhtml") {
        return html::to_text(&n.inner_markup());
    }
    if has_markup {
        // Undeclared markup inside a text element: feed-rs keeps only the text before it.
        *misread = true;
        return html::to_text(&n.inner_markup());
    }
    if ty.contains("html") || (ty.is_empty() && html_default) {
        html::to_text(&n.string_value())
    } else {
        n.string_value().trim().to_owned()
    }
}

/// RFC 3339 / W3C-DTF (also with only a date, or without seconds) and RFC 822 dates.
pub(crate) fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return Some(d.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M%:z", "%Y-%m-%dT%H:%M:%S%.f%:z"] {
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d.with_timezone(&Utc));
        }
    }
    let naive = s.trim_end_matches('Z');
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(naive, f) {
            return Some(d.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::rss::parse;

    fn titles_and_links(doc: &str) -> Vec<(Option<String>, Option<String>)> {
        let p = parse(doc.as_bytes(), "https://example.org/feed", Utc::now()).expect("parse");
        p.entries
            .into_iter()
            .map(|e| (e.title, e.mention.url))
            .collect()
    }

    fn pair(t: &str, l: &str) -> (Option<String>, Option<String>) {
        (Some(t.to_owned()), Some(l.to_owned()))
    }

    #[test]
    fn one_bad_entry_does_not_lose_the_feed() {
        // A bare `&`, an unclosed `<b>` and `<p>`, an end tag that matches nothing: feed-rs
        // rejects the document.
        let doc = r#"<rss version="2.0"><channel><title>T</title>
            <item><title>First</title><link>http://example.com/1</link></item>
            <item><title>Broken & <b>bold</title><link>http://example.com/2</link>
              <description>unclosed <p>para</description></stray></item>
            <item><title>Third</title><link>/3</link></item>
            </channel></rss>"#;
        assert!(feed_rs::parser::parse(doc.as_bytes()).is_err());
        assert_eq!(
            titles_and_links(doc),
            [
                pair("First", "http://example.com/1"),
                pair("Broken & bold", "http://example.com/2"),
                pair("Third", "https://example.org/3"),
            ]
        );
    }

    #[test]
    fn deep_nesting_is_flattened_not_a_stack_overflow() {
        let deep = "<b>".repeat(100_000);
        let doc = format!(
            "<rss><channel><item><title>T</title><description>{deep}x</description>\
             </item></channel></rss>"
        );
        let r = read(doc.as_bytes(), "https://example.org/feed").expect("read");
        assert_eq!(r.channel.items[0].title.as_deref(), Some("T"));
        assert_eq!(r.channel.items[0].summary.as_deref(), Some("x"));
        let p = parse(doc.as_bytes(), "https://example.org/feed", Utc::now()).expect("parse");
        assert_eq!(p.entries.len(), 1);
    }

    #[test]
    fn a_truncated_document_is_not_read() {
        let doc = "<rss><channel><item><title>a</title></item><item><title>b";
        assert!(read(doc.as_bytes(), "https://example.org/feed").is_none());
        assert!(parse(doc.as_bytes(), "https://example.org/feed", Utc::now()).is_err());
    }

    #[test]
    fn base64_and_untyped_text_constructs_are_decoded() {
        let atom03 = r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry>
            <title mode="base64">RXhhbXBsZSA8Yj5BdG9tPC9iPg==</title>
            <link rel="alternate" href="http://example.com/a"/></entry></feed>"#;
        assert_eq!(
            titles_and_links(atom03),
            [pair("Example <b>Atom</b>", "http://example.com/a")]
        );
        let atom10 = r#"<feed xmlns="http://www.w3.org/2005/Atom">
            <entry><title type="application/octet-stream">RXhhbXBsZQ==</title></entry>
            <entry><title type="">evil</title></entry></feed>"#;
        let got = titles_and_links(atom10);
        assert_eq!(got[0].0.as_deref(), Some("Example"));
        assert_eq!(got[1].0.as_deref(), Some("evil"));
    }

    #[test]
    fn reads_every_rss_dialect() {
        let a = || pair("A", "http://example.com/a");
        let userland = r#"<rss xmlns="http://backend.userland.com/rss2"><channel>
            <item><title>A</title><link>http://example.com/a</link></item></channel></rss>"#;
        assert_eq!(titles_and_links(userland), [a()]);
        let no_channel = r#"<rss version="0.93">
            <item><title>A</title><link>http://example.com/a</link></item></rss>"#;
        assert_eq!(titles_and_links(no_channel), [a()]);
        let rdf_without_link = r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
            xmlns="http://purl.org/rss/1.0/"><channel><title>T</title></channel>
            <item><title>A</title><link>http://example.com/a</link></item>
            <item rdf:about="http://example.com/b"><title>B</title></item></rdf:RDF>"#;
        assert_eq!(
            titles_and_links(rdf_without_link),
            [a(), (Some("B".to_owned()), None)]
        );
    }

    #[test]
    fn dc_titles_dcterms_dates_and_dtd_entities() {
        let doc = r#"<!DOCTYPE rss [ <!ENTITY id "tag:example.com,"> ]>
            <rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
              xmlns:dcterms="http://purl.org/dc/terms/"><channel><item>
            <dc:title>Dublin</dc:title><guid isPermaLink="false">&id;2006:/a</guid>
            <dcterms:issued>2003-12-31T10:14:55Z</dcterms:issued></item></channel></rss>"#;
        let p = parse(doc.as_bytes(), "https://example.org/feed", Utc::now()).expect("parse");
        let e = &p.entries[0];
        assert_eq!(e.title.as_deref(), Some("Dublin"));
        assert_eq!(e.id, "tag:example.com,2006:/a");
        assert_eq!(e.mention.url, None, "a guid that is not a permalink");
        assert_eq!(
            e.mention.created_at.to_rfc3339(),
            "2003-12-31T10:14:55+00:00"
        );
    }

    #[test]
    fn dates_in_the_forms_feeds_use() {
        for (s, want) in [
            ("2003-12-31T10:14:55Z", "2003-12-31T10:14:55+00:00"),
            (
                "2003-12-31T10:14:55.25-08:00",
                "2003-12-31T18:14:55.250+00:00",
            ),
            ("2003-12-31T10:14Z", "2003-12-31T10:14:00+00:00"),
            ("2003-12-31", "2003-12-31T00:00:00+00:00"),
            ("Thu, 01 Jan 2004 19:48:21 GMT", "2004-01-01T19:48:21+00:00"),
        ] {
            let got = parse_date(s).map(|d| d.to_rfc3339());
            assert_eq!(got.as_deref(), Some(want), "{s}");
        }
        assert_eq!(parse_date("yesterday"), None);
    }
}
