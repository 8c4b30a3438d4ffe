//! The parsed form of one signal's query, and the errors parsing can give.
//!
//! Words in the tree are already normalised for the signal's [`Flavor`], and field filters are
//! already resolved against the field registry, so the compiler and the reference evaluator
//! see the same, checked tree.

use std::fmt;

use super::normalise::Flavor;

/// A parsed query: its tree and the flavor its words were normalised in.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub expr: Expr,
    pub flavor: Flavor,
}

/// A boolean query tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All children hold (at least two).
    And(Vec<Expr>),
    /// At least one child holds (at least two).
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Text(TextLeaf),
    /// Occurrences of `left` and `right`, not sharing a token, at most `distance` tokens apart
    /// (the number of tokens strictly between them), in either order.
    Near {
        left: TextLeaf,
        right: TextLeaf,
        distance: u32,
    },
    Filter(Filter),
}

/// Something matched against the mention's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TextLeaf {
    /// Consecutive tokens equal to these normalised words; a single term is a phrase of one.
    Phrase(Vec<String>),
    /// One token whose unstemmed normal form starts with this normalised prefix.
    Prefix(String),
}

/// A facet of the mention with discrete values that a filter compares for equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Facet {
    /// `source:` — the platform name.
    Source,
    /// `is:reply|repost|quote|comment|post` — the mention kind.
    Kind,
    /// `is:verified` — the author's verified flag.
    Verified,
    /// `lang:` — the detected language code.
    Lang,
    /// `author:` — the author's handle or id, case-insensitive.
    Author,
    /// `hashtag:` — a hashtag in the text, case- and diacritic-insensitive.
    Hashtag,
    /// `mention:` — a mentioned handle, case-insensitive.
    Mention,
    /// `domain:` — the host of a linked URL, or a parent domain of it.
    Domain,
    /// `sentiment:` — `positive`, `negative` or `neutral` from `sentiment_compound`.
    Sentiment,
}

impl Facet {
    /// Number of facets.
    pub const COUNT: usize = 9;
}

/// A field filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// The facet has this (normalised) value.
    Fact(Facet, String),
    /// A numeric value compared with a constant; false when the value is absent.
    Cmp {
        field: NumField,
        op: CmpOp,
        value: f64,
    },
    /// A boolean field of the registry (`is:<field>`) is true.
    Flag(usize),
}

/// A number a filter can compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumField {
    Followers,
    Following,
    Posts,
    Likes,
    Reposts,
    Replies,
    Quotes,
    Views,
    /// An int or float field of the registry, by id.
    Record(usize),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl CmpOp {
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Eq => a == b,
            CmpOp::Ge => a >= b,
            CmpOp::Gt => a > b,
        }
    }
}

/// Why a query was rejected: where (in characters from the start of the query) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// 0-based offset in Unicode scalar values into the query text.
    pub position: usize,
    pub kind: QueryErrorKind,
}

/// What was wrong with a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryErrorKind {
    /// The parser wanted one thing and found another.
    Expected {
        expected: &'static str,
        found: String,
    },
    /// The query is longer than [`super::Limits::max_query_bytes`].
    TooLong { bytes: usize, limit: usize },
    /// Parentheses and `NOT`s nest deeper than [`super::Limits::max_depth`].
    TooDeep { limit: usize },
    /// More terms, phrases and filters than [`super::Limits::max_terms_per_query`].
    TooManyTerms { limit: usize },
    /// A phrase has more words than [`super::Limits::max_phrase_words`].
    PhraseTooLong { words: usize, limit: usize },
    /// A prefix wildcard's prefix is shorter than [`super::Limits::min_prefix_chars`] or longer
    /// than [`super::Limits::max_prefix_chars`].
    BadPrefixLength {
        chars: usize,
        min: usize,
        max: usize,
    },
    /// `NEAR/n` with `n` above [`super::Limits::max_near_distance`].
    NearTooFar { distance: u64, limit: u32 },
    /// `name:` is not a filter and not a field of the registry.
    UnknownField { name: String },
    /// A filter's value is not one it accepts.
    BadValue {
        field: String,
        value: String,
        expected: String,
    },
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: ", self.position)?;
        match &self.kind {
            QueryErrorKind::Expected { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            QueryErrorKind::TooLong { bytes, limit } => {
                write!(f, "the query is {bytes} bytes long; the limit is {limit}")
            }
            QueryErrorKind::TooDeep { limit } => {
                write!(f, "parentheses and NOTs nest deeper than {limit} levels")
            }
            QueryErrorKind::TooManyTerms { limit } => {
                write!(f, "more than {limit} terms, phrases and filters")
            }
            QueryErrorKind::PhraseTooLong { words, limit } => {
                write!(f, "a phrase of {words} words; the limit is {limit}")
            }
            QueryErrorKind::BadPrefixLength { chars, min, max } => write!(
                f,
                "a wildcard prefix of {chars} characters; it must have {min} to {max}"
            ),
            QueryErrorKind::NearTooFar { distance, limit } => {
                write!(f, "NEAR/{distance} exceeds the largest distance, {limit}")
            }
            QueryErrorKind::UnknownField { name } => write!(
                f,
                "unknown field `{name}`: expected lang, source, author, hashtag, mention, \
                 domain, sentiment, is, a number filter (followers, following, posts, likes, \
                 reposts, replies, quotes, views) or a numeric field of the catalogue \
                 (quote the word to search for it as text)"
            ),
            QueryErrorKind::BadValue {
                field,
                value,
                expected,
            } => write!(f, "`{field}:{value}`: expected {expected}"),
        }
    }
}

impl std::error::Error for QueryError {}

impl Expr {
    /// Calls `f` on every text leaf, under `NOT`s and in `NEAR`s too.
    pub fn visit_text(&self, f: &mut impl FnMut(&TextLeaf)) {
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.visit_text(f)),
            Expr::Not(e) => e.visit_text(f),
            Expr::Text(t) => f(t),
            Expr::Near { left, right, .. } => {
                f(left);
                f(right);
            }
            Expr::Filter(_) => {}
        }
    }
}
