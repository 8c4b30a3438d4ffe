//! The entity field group: hashtags, mentions, cashtags and URLs, and facts about them.

use std::collections::HashSet;

use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::registry::{FieldSpec, FieldWriter, fields};

/// Hashtags, mentions, cashtags and URLs (twitter-text rules) and facts about them.
#[derive(Debug)]
pub struct TwitterEntities;

fields! {
    const ENTITY_FIELDS, mod f = [
        HASHTAGS => FieldSpec::strs(
            "hashtags",
            "Hashtags by twitter-text rules, as written, without the leading # or ＃.",
        ),
        HASHTAG_COUNT => FieldSpec::int("hashtag_count", "Number of hashtags."),
        HASHTAG_UNIQUE => FieldSpec::int(
            "hashtag_unique_count",
            "Number of distinct hashtags, ignoring case.",
        ),
        HASHTAG_TRAILING => FieldSpec::int(
            "hashtag_trailing_count",
            "Hashtags in the closing block: at the end of the text with only spaces, punctuation or other entities after them.",
        ),
        HASHTAG_CAMEL => FieldSpec::int(
            "hashtag_camel_case_count",
            "Hashtags that join words by capitals (a lower-case letter followed by an upper-case one, e.g. #MondayMotivation).",
        ),
        HASHTAG_MAX_CHARS => FieldSpec::int(
            "hashtag_max_chars",
            "Length in characters of the longest hashtag (0 without hashtags).",
        ),
        MENTIONS => FieldSpec::strs(
            "mentions",
            "Mentioned screen names by twitter-text rules, without the leading @ or ＠ (list references excluded).",
        ),
        MENTION_COUNT => FieldSpec::int("mention_count", "Number of @mentions."),
        MENTION_LEADING => FieldSpec::int(
            "mention_leading_count",
            "Mentions at the start of the text, before any other word (reply-style addressing).",
        ),
        REPLY_TO => FieldSpec::str(
            "reply_to",
            "The screen name the text opens with, as twitter-text's reply rule finds it; null when it does not open with a mention.",
        )
        .nullable(),
        MANUAL_RT => FieldSpec::bool(
            "is_manual_retweet",
            "The text starts with an old-style manual retweet marker: RT followed by an @mention.",
        ),
        VIA => FieldSpec::bool(
            "has_via_attribution",
            "The text credits a source with \"via @name\".",
        ),
        CASHTAGS => FieldSpec::strs(
            "cashtags",
            "Cashtags (stock symbols such as $AAPL) by twitter-text rules, without the $.",
        ),
        CASHTAG_COUNT => FieldSpec::int("cashtag_count", "Number of cashtags."),
        URLS => FieldSpec::strs(
            "urls",
            "URLs by twitter-text rules (with or without protocol), as written.",
        ),
        URL_COUNT => FieldSpec::int("url_count", "Number of URLs."),
        URL_DOMAINS => FieldSpec::strs(
            "url_domains",
            "Host name of each URL, lower-cased, without a leading www.",
        ),
        URL_TLDS => FieldSpec::strs("url_tlds", "Top-level domain of each URL, lower-cased."),
        URL_SHORTENERS => FieldSpec::int(
            "url_shortener_count",
            "URLs on a known link-shortener host (bit.ly, t.co, tinyurl.com, …; list in entities/fields.rs).",
        ),
        URL_NO_PROTOCOL => FieldSpec::int(
            "url_without_protocol_count",
            "URLs written without http:// or https:// (bare host names such as example.com/page).",
        ),
        URL_INSECURE => FieldSpec::int(
            "url_insecure_count",
            "URLs written with plain http:// rather than https://.",
        ),
        URL_TRACKING => FieldSpec::int(
            "url_tracking_count",
            "URLs carrying click-tracking parameters (utm_*, fbclid, gclid, igshid, mc_eid, ref_src).",
        ),
        URL_MAX_CHARS => FieldSpec::int(
            "url_max_chars",
            "Length in characters of the longest URL (0 without URLs).",
        ),
        LINK_ONLY => FieldSpec::bool(
            "is_link_only",
            "The text is nothing but URLs, spaces and punctuation (at least one URL).",
        ),
        ENTITY_SHARE => FieldSpec::float(
            "entity_char_share",
            "Share of non-space characters inside hashtags, mentions, cashtags and URLs (0..1; 0 for empty text).",
        ),
    ]
}

/// Hosts of common link shorteners (lower-case, without www.).
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "t.co",
    "tinyurl.com",
    "goo.gl",
    "ow.ly",
    "buff.ly",
    "is.gd",
    "tiny.cc",
    "dlvr.it",
    "ift.tt",
    "lnkd.in",
    "trib.al",
    "fb.me",
    "youtu.be",
    "amzn.to",
    "bitly.com",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "rb.gy",
    "t.ly",
    "v.gd",
    "j.mp",
    "wp.me",
    "redd.it",
    "flip.it",
    "shar.es",
    "su.pr",
    "po.st",
    "tr.im",
    "qr.ae",
    "db.tt",
    "adf.ly",
    "bl.ink",
    "s.id",
    "tiny.one",
];

/// Query parameters that exist to track clicks.
const TRACKING_PARAMS: &[&str] = &[
    "utm_", "fbclid=", "gclid=", "igshid=", "mc_eid=", "ref_src=",
];

/// The host of a URL match, lower-cased, without `www.`, into `buf`.
fn domain_into(text: &str, host: &std::ops::Range<usize>, buf: &mut String) {
    buf.clear();
    let h = &text[host.clone()];
    if h.is_ascii() {
        buf.extend(h.bytes().map(|b| char::from(b.to_ascii_lowercase())));
    } else {
        crate::unicode::extend_lowercase_chars(buf, h);
    }
    if buf.starts_with("www.") {
        buf.drain(..4);
    }
}

pub fn is_shortener(domain: &str) -> bool {
    SHORTENERS.contains(&domain)
}

fn is_camel_case(tag: &str) -> bool {
    let mut prev_lower = false;
    for c in tag.chars() {
        if prev_lower && crate::unicode::is_uppercase(c) {
            return true;
        }
        prev_lower = crate::unicode::is_lowercase(c);
    }
    false
}

/// Start of the trailing block of entities: the earliest byte offset from which the text holds
/// only hashtags, other entities, spaces and punctuation.
fn trailing_block_start(text: &str, entities: &mut [std::ops::Range<usize>]) -> usize {
    entities.sort_by_key(|r| r.start);
    let mut end = text.len();
    loop {
        // Skip back over spaces and punctuation.
        let gap = text[..end].trim_end_matches(|c: char| {
            c.is_whitespace() || (c.is_ascii_punctuation() && c != '#')
        });
        let e = gap.len();
        match entities.iter().rev().find(|r| r.end == e) {
            Some(r) if r.start < e => end = r.start,
            _ => return e,
        }
    }
}

impl Extractor for TwitterEntities {
    fn name(&self) -> &'static str {
        "entities"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        ENTITY_FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let text = a.text;
        let e = a.entities();

        let tags = out.strs(f::HASHTAGS);
        tags.extend(e.hashtags.iter().map(|r| text[r.clone()].to_owned()));
        out.count(f::HASHTAG_COUNT, e.hashtags.len());
        let unique = if e.hashtags.len() < 2 {
            e.hashtags.len()
        } else {
            let lower: HashSet<String> = e
                .hashtags
                .iter()
                .map(|r| text[r.clone()].to_lowercase())
                .collect();
            lower.len()
        };
        out.count(f::HASHTAG_UNIQUE, unique);
        out.count(
            f::HASHTAG_CAMEL,
            e.hashtags
                .iter()
                .filter(|r| is_camel_case(&text[(*r).clone()]))
                .count(),
        );
        out.count(
            f::HASHTAG_MAX_CHARS,
            e.hashtags
                .iter()
                .map(|r| text[r.clone()].chars().count())
                .max()
                .unwrap_or(0),
        );

        // Sigil-inclusive spans of every entity, for the trailing block and the share.
        let mut spans: Vec<std::ops::Range<usize>> = Vec::with_capacity(
            e.hashtags.len() + e.mentions.len() + e.cashtags.len() + e.urls.len(),
        );
        let sigil = |r: &std::ops::Range<usize>| {
            crate::analysis::entities::chars::char_before(text, r.start).map_or(0, char::len_utf8)
        };
        spans.extend(e.hashtags.iter().map(|r| r.start - sigil(r)..r.end));
        spans.extend(e.mentions.iter().map(|r| r.start - sigil(r)..r.end));
        spans.extend(e.cashtags.iter().map(|r| r.start - 1..r.end));
        spans.extend(e.urls.iter().map(|u| u.range.clone()));
        let trailing = if e.hashtags.is_empty() {
            0
        } else {
            let start = trailing_block_start(text, &mut spans);
            e.hashtags.iter().filter(|r| r.start >= start).count()
        };
        out.count(f::HASHTAG_TRAILING, trailing);

        let names = out.strs(f::MENTIONS);
        names.extend(e.mentions.iter().map(|r| text[r.clone()].to_owned()));
        out.count(f::MENTION_COUNT, e.mentions.len());
        let mut leading = 0;
        let mut pos = 0;
        for r in &e.mentions {
            let at = r.start - sigil(r);
            if !text[pos..at]
                .trim_matches(|c: char| c.is_whitespace() || c == ',')
                .is_empty()
            {
                break;
            }
            leading += 1;
            pos = r.end;
        }
        out.count(f::MENTION_LEADING, leading);
        match &e.reply_to {
            Some(r) => out.str(f::REPLY_TO, &text[r.clone()]),
            None => out.null(f::REPLY_TO),
        }
        let trimmed = text.trim_start();
        let manual_rt = trimmed.starts_with("RT")
            && e.mentions.first().is_some_and(|r| {
                let at = r.start - sigil(r);
                let between = &text[text.len() - trimmed.len() + 2..at];
                between.chars().all(|c| c == ':' || c.is_whitespace())
            });
        out.bool(f::MANUAL_RT, manual_rt);
        let via = e.mentions.iter().any(|r| {
            let before = text[..r.start - sigil(r)].trim_end();
            before.len() >= 3
                && before.is_char_boundary(before.len() - 3)
                && before[before.len() - 3..].eq_ignore_ascii_case("via")
                && !before[..before.len() - 3].ends_with(|c: char| c.is_alphanumeric())
        });
        out.bool(f::VIA, via);

        let cash = out.strs(f::CASHTAGS);
        cash.extend(e.cashtags.iter().map(|r| text[r.clone()].to_owned()));
        out.count(f::CASHTAG_COUNT, e.cashtags.len());

        let urls = out.strs(f::URLS);
        urls.extend(e.url_strs(text).map(str::to_owned));
        out.count(f::URL_COUNT, e.urls.len());
        let mut domain = String::new();
        let mut shorteners = 0;
        let domains = out.strs(f::URL_DOMAINS);
        for u in &e.urls {
            domain_into(text, &u.host, &mut domain);
            shorteners += usize::from(is_shortener(&domain));
            domains.push(domain.clone());
        }
        let tlds = out.strs(f::URL_TLDS);
        for u in &e.urls {
            let host = &text[u.host.clone()];
            let tld = host.rsplit(['.', '\u{3002}']).next().unwrap_or(host);
            tlds.push(tld.to_lowercase());
        }
        out.count(f::URL_SHORTENERS, shorteners);
        out.count(
            f::URL_NO_PROTOCOL,
            e.urls.iter().filter(|u| !u.has_protocol).count(),
        );
        out.count(
            f::URL_INSECURE,
            e.urls
                .iter()
                .filter(|u| u.has_protocol && text.as_bytes()[u.range.start + 4] == b':')
                .count(),
        );
        out.count(
            f::URL_TRACKING,
            e.url_strs(text)
                .filter(|u| {
                    u.split_once(['?', '#'])
                        .is_some_and(|(_, q)| TRACKING_PARAMS.iter().any(|p| q.contains(p)))
                })
                .count(),
        );
        out.count(
            f::URL_MAX_CHARS,
            e.url_strs(text)
                .map(|u| u.chars().count())
                .max()
                .unwrap_or(0),
        );
        let link_only = !e.urls.is_empty() && {
            let mut rest = 0;
            let mut last = 0;
            for u in &e.urls {
                rest += text[last..u.range.start]
                    .chars()
                    .filter(|c| !(c.is_whitespace() || c.is_ascii_punctuation()))
                    .count();
                last = u.range.end;
            }
            rest += text[last..]
                .chars()
                .filter(|c| !(c.is_whitespace() || c.is_ascii_punctuation()))
                .count();
            rest == 0
        };
        out.bool(f::LINK_ONLY, link_only);
        let share = if spans.is_empty() {
            0.0
        } else {
            let non_space = text.chars().filter(|c| !c.is_whitespace()).count();
            let in_entities: usize = spans.iter().map(|r| text[r.clone()].chars().count()).sum();
            (in_entities as f64 / non_space.max(1) as f64).min(1.0)
        };
        out.float(f::ENTITY_SHARE, share);
    }
}
