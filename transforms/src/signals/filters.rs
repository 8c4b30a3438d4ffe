//! Field filters: parsing `name:value`, normalising values, and reading the mention's facets.
//!
//! Everything that knows the shape of the mention, the entities and the record lives here, so
//! when those change only this file does. The same normalising functions are applied to filter
//! values at compile time and to the mention's values at match time.

use model::{Mention, Source};

use super::FieldLookup;
use super::normalise::fold_into;
use super::query::{CmpOp, Facet, Filter, NumField, QueryErrorKind};
use crate::catalogue::Record;
use crate::registry::{FieldType, Value};

/// The enriched field the `sentiment:` filter reads, with VADER's thresholds.
pub const SENTIMENT_FIELD: &str = "sentiment_compound";
/// `sentiment_compound` at or above this is positive (VADER's convention).
pub const POSITIVE_AT: f64 = 0.05;
/// `sentiment_compound` at or below this is negative (VADER's convention).
pub const NEGATIVE_AT: f64 = -0.05;

const KINDS: [&str; 5] = ["post", "reply", "repost", "quote", "comment"];

fn bad(field: &str, value: &str, expected: impl Into<String>) -> QueryErrorKind {
    QueryErrorKind::BadValue {
        field: field.to_owned(),
        value: value.to_owned(),
        expected: expected.into(),
    }
}

/// Parses `name:value` into a filter, resolving registry fields through `fields`.
pub fn parse_filter(
    name: &str,
    value: &str,
    fields: FieldLookup<'_>,
) -> Result<Filter, QueryErrorKind> {
    let fact = |facet, v: String| Ok(Filter::Fact(facet, v));
    match name {
        "source" => {
            let v = value.to_ascii_lowercase();
            if Source::ALL.iter().any(|s| s.as_str() == v) {
                return fact(Facet::Source, v);
            }
            let names: Vec<&str> = Source::ALL.iter().map(|s| s.as_str()).collect();
            Err(bad(name, value, format!("one of {}", names.join(", "))))
        }
        "is" => {
            let v = value.to_ascii_lowercase();
            if KINDS.contains(&v.as_str()) {
                return fact(Facet::Kind, v);
            }
            if v == "verified" {
                return fact(Facet::Verified, v);
            }
            match fields(value) {
                Some((id, FieldType::Bool)) => Ok(Filter::Flag(id)),
                _ => Err(bad(
                    name,
                    value,
                    "post, reply, repost, quote, comment, verified or a boolean field",
                )),
            }
        }
        "lang" => {
            let v = value.to_ascii_lowercase();
            if (2..=3).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_lowercase()) {
                return fact(Facet::Lang, v);
            }
            Err(bad(name, value, "a 2- or 3-letter ISO 639 code such as en"))
        }
        "author" | "hashtag" | "mention" => {
            let v = norm_handle(value);
            if v.is_empty() {
                return Err(bad(name, value, "a name"));
            }
            let facet = match name {
                "author" => Facet::Author,
                "hashtag" => Facet::Hashtag,
                _ => Facet::Mention,
            };
            fact(facet, v)
        }
        "domain" => match norm_domain(value) {
            Some(v) if v.contains('.') => fact(Facet::Domain, v),
            _ => Err(bad(name, value, "a domain name such as example.com")),
        },
        "sentiment" => {
            let v = value.to_ascii_lowercase();
            if !matches!(v.as_str(), "positive" | "negative" | "neutral") {
                return Err(bad(name, value, "positive, negative or neutral"));
            }
            match fields(SENTIMENT_FIELD) {
                Some((_, FieldType::Float)) => fact(Facet::Sentiment, v),
                _ => Err(QueryErrorKind::UnknownField {
                    name: SENTIMENT_FIELD.to_owned(),
                }),
            }
        }
        _ => {
            let field = match name {
                "followers" => NumField::Followers,
                "following" => NumField::Following,
                "posts" => NumField::Posts,
                "likes" => NumField::Likes,
                "reposts" => NumField::Reposts,
                "replies" => NumField::Replies,
                "quotes" => NumField::Quotes,
                "views" => NumField::Views,
                _ => match fields(name) {
                    Some((id, FieldType::Int | FieldType::Float)) => NumField::Record(id),
                    _ => {
                        return Err(QueryErrorKind::UnknownField {
                            name: name.to_owned(),
                        });
                    }
                },
            };
            let (op, number) = split_op(value);
            match number.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Filter::Cmp {
                    field,
                    op,
                    value: v,
                }),
                _ => Err(bad(
                    name,
                    value,
                    "a number, optionally after >, >=, <, <= or =, as in followers:>1000",
                )),
            }
        }
    }
}

fn split_op(v: &str) -> (CmpOp, &str) {
    for (s, op) in [
        (">=", CmpOp::Ge),
        ("<=", CmpOp::Le),
        (">", CmpOp::Gt),
        ("<", CmpOp::Lt),
        ("=", CmpOp::Eq),
    ] {
        if let Some(rest) = v.strip_prefix(s) {
            return (op, rest);
        }
    }
    (CmpOp::Eq, v)
}

/// A handle or hashtag without its leading `@`/`#`, case- and diacritic-insensitive.
pub fn norm_handle(s: &str) -> String {
    fold_value(s.trim_start_matches(['@', '#']))
}

/// Case- and diacritic-insensitive form of a handle or hashtag.
pub fn fold_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    fold_into(s, false, &mut out);
    out
}

/// Lower-cased host without `www.` or a trailing dot; `None` when it cannot be a host.
pub fn norm_domain(s: &str) -> Option<String> {
    let lower = s.trim_end_matches('.').to_lowercase();
    let s = lower.strip_prefix("www.").unwrap_or(&lower);
    let ok = !s.is_empty()
        && !s.starts_with('.')
        && !s.contains(['/', ':', '@', '?', '#'])
        && !s.chars().any(char::is_whitespace);
    ok.then(|| s.to_owned())
}

/// The host of a URL (`https://user@news.Example.com:8080/x` → `news.Example.com`), or of a
/// scheme-less link (`example.com/x`).
pub fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// What the matcher needs to know about one mention besides its tokens.
///
/// [`Live`] reads a real mention; tests implement it to set facets the stub extractors in this
/// branch do not fill yet.
pub trait View {
    fn mention(&self) -> &Mention;
    /// The analysed text (a prefix of `mention().text`).
    fn text(&self) -> &str;
    /// UAX #29 words of [`View::text`], as slices of it.
    fn words(&self) -> &[&str];
    /// The detected language code.
    fn lang(&self) -> &str;
    /// Calls `f` with each hashtag, mentioned handle and URL found in the text.
    fn entities(&self, f: &mut dyn FnMut(Facet, &str));
    fn record(&self) -> &Record;
}

/// The production [`View`]: the shared analysis and the enriched record.
#[derive(Debug, Clone, Copy)]
pub struct Live<'a, 'm> {
    pub analysis: &'a crate::Analysis<'m>,
    pub record: &'a Record,
}

impl View for Live<'_, '_> {
    fn mention(&self) -> &Mention {
        self.analysis.mention
    }
    fn text(&self) -> &str {
        self.analysis.text
    }
    fn words(&self) -> &[&str] {
        self.analysis.words()
    }
    fn lang(&self) -> &str {
        self.analysis.lang().code
    }
    fn entities(&self, f: &mut dyn FnMut(Facet, &str)) {
        // The one place that knows the shape of `entities::Entities`.
        let (e, text) = (self.analysis.entities(), self.analysis.text);
        e.hashtags
            .iter()
            .for_each(|h| f(Facet::Hashtag, &text[h.clone()]));
        e.mentions
            .iter()
            .for_each(|m| f(Facet::Mention, &text[m.clone()]));
        e.urls.iter().for_each(|u| {
            let host = &text[u.host.clone()];
            f(Facet::Domain, host.strip_prefix("www.").unwrap_or(host))
        });
    }
    fn record(&self) -> &Record {
        self.record
    }
}

/// The number a [`NumField`] reads, if the mention has it.
pub fn number<V: View + ?Sized>(view: &V, field: NumField) -> Option<f64> {
    let m = view.mention();
    let n = match field {
        NumField::Followers => m.author.followers,
        NumField::Following => m.author.following,
        NumField::Posts => m.author.posts,
        NumField::Likes => m.engagement.likes,
        NumField::Reposts => m.engagement.reposts,
        NumField::Replies => m.engagement.replies,
        NumField::Quotes => m.engagement.quotes,
        NumField::Views => m.engagement.views,
        NumField::Record(id) => {
            return match view.record().values().get(id) {
                Some(Value::Int(i)) => Some(*i as f64),
                Some(Value::Float(f)) => Some(*f),
                _ => None,
            };
        }
    };
    n.map(|n| n as f64)
}

/// Whether the boolean field `id` is true.
pub fn flag(record: &Record, id: usize) -> bool {
    matches!(record.values().get(id), Some(Value::Bool(true)))
}

/// The sentiment class of a `sentiment_compound` value.
pub fn sentiment_class(v: Option<&Value>) -> Option<&'static str> {
    let Some(Value::Float(c)) = v else {
        return None;
    };
    Some(if *c >= POSITIVE_AT {
        "positive"
    } else if *c <= NEGATIVE_AT {
        "negative"
    } else {
        "neutral"
    })
}
