//! Signals: tenants' tracked boolean queries, compiled together into one [`Matcher`].
//!
//! A listening product promises "every mention that matches my query, the moment it appears",
//! for every tenant at once, so matching must cost far less than "evaluate every rule". The
//! matcher is built in two stages:
//!
//! 1. **Lookup.** Every word, phrase word, prefix and discrete filter value of every rule gets a
//!    key. A mention's tokens are normalised once per normal form in use (NFKC, case folding,
//!    diacritics removed unless a rule keeps them, stems where a rule asks) and looked up in
//!    one hash map of words and one byte trie of prefixes per form; its facets (source, kind,
//!    language, author, hashtags, mentions, domains, sentiment) are looked up in one map. The
//!    result is a short, sorted list of `(key, token position)` hits.
//! 2. **Evaluation.** Each rule is indexed under an *anchor*: a set of keys of which at least one
//!    must be hit for the rule to possibly match (chosen at compile time from its tree). Only
//!    rules reached through hit keys, plus the few rules that cannot be anchored (`NOT`-only,
//!    numeric-only; limited per tenant), have their trees evaluated.
//!
//! Every step is linear in the number of tokens times a bound set by [`Limits`], whatever the
//! queries say: there are no user-supplied regular expressions, prefixes are walked in a trie
//! bounded by the longest prefix, phrases are checked at the positions of one of their words,
//! and `NEAR` uses binary search over sorted positions rather than all pairs.
//!
//! The query language is documented in `signals/QUERY_LANGUAGE.md`.

mod casefold_table;
mod compile;
pub mod filters;
mod lower;
mod matcher;
mod node;
pub mod normalise;
mod parser;
pub mod query;
pub mod synthetic;
mod trie;
mod words;

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use compile::Matcher;
pub use filters::{Live, View};
pub use matcher::Scratch;
pub use normalise::{Flavor, StemLanguage};
pub use query::{Query, QueryError, QueryErrorKind};

use model::Mention;

use crate::analysis::Analysis;
use crate::catalogue::Record;
use crate::registry::FieldType;

/// Computes every field for `m` into `out`, then matches the tenants' signals of `matcher`
/// against the mention and its fields (one shared analysis for both).
pub fn enrich_and_match(
    m: &Mention,
    out: &mut Record,
    matcher: Option<&Matcher>,
) -> Vec<model::SignalMatch> {
    let a = Analysis::new(m);
    crate::catalogue::extract_all(&a, out);
    matcher.map(|mt| mt.matches(&a, out)).unwrap_or_default()
}

/// Resolves a registry field name to its id and type.
pub type FieldLookup<'a> = &'a dyn Fn(&str) -> Option<(usize, FieldType)>;

/// Looks fields up in this build's catalogue.
pub fn registry_fields(name: &str) -> Option<(usize, FieldType)> {
    crate::field_id(name).map(|id| (id, crate::registry().fields[id].ty))
}

/// Every tenant's signals: what the pipeline stores and hands to [`Matcher::compile`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalSet {
    pub signals: Vec<Signal>,
}

/// One tenant's tracked query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    /// The tenant (client) that owns the signal.
    pub tenant: String,
    /// Unique within the tenant.
    pub id: String,
    /// Bumped by the owner whenever `query` or `options` change; reported with each match.
    pub version: u64,
    /// The query, in the language of `QUERY_LANGUAGE.md`.
    pub query: String,
    #[serde(default)]
    pub options: SignalOptions,
}

/// How a signal's words are compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalOptions {
    /// Compare with diacritics (`café` does not match `cafe`). Default: false.
    #[serde(default)]
    pub keep_accents: bool,
    /// Match words by their Snowball stem in this language (`running` matches `runs`).
    /// Prefix wildcards still match the unstemmed word. Default: none.
    #[serde(default)]
    pub stem: Option<StemLanguage>,
}

impl SignalOptions {
    pub fn flavor(self) -> Flavor {
        Flavor {
            keep_accents: self.keep_accents,
            stem: self.stem,
        }
    }
}

/// Bounds on what tenants may ask for, so that no signal set can make compiling or matching
/// slow or memory-hungry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Longest query, in UTF-8 bytes. Default 4096.
    pub max_query_bytes: usize,
    /// Deepest nesting of parentheses and `NOT`s. Default 16.
    pub max_depth: usize,
    /// Most terms, phrases, prefixes and filters in one query. Default 64.
    pub max_terms_per_query: usize,
    /// Most words in one phrase. Default 16.
    pub max_phrase_words: usize,
    /// Shortest prefix before `*`, in characters after normalisation. Default 3.
    pub min_prefix_chars: usize,
    /// Longest prefix before `*`, in characters after normalisation. Default 32.
    pub max_prefix_chars: usize,
    /// Largest `n` in `NEAR/n`. Default 50.
    pub max_near_distance: u32,
    /// Most signals one tenant may have. Default 10,000.
    pub max_rules_per_tenant: usize,
    /// Most signals per tenant that no word or discrete filter can anchor (`NOT`-only or
    /// numeric-only queries), which are evaluated for every mention. Default 10.
    pub max_unanchored_per_tenant: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query_bytes: 4096,
            max_depth: 16,
            max_terms_per_query: 64,
            max_phrase_words: 16,
            min_prefix_chars: 3,
            max_prefix_chars: 32,
            max_near_distance: 50,
            max_rules_per_tenant: 10_000,
            max_unanchored_per_tenant: 10,
        }
    }
}

/// Parses one query as [`Matcher::compile`] would (for validating a signal when it is saved).
pub fn parse(
    query: &str,
    options: SignalOptions,
    limits: &Limits,
    fields: FieldLookup<'_>,
) -> Result<Query, QueryError> {
    parser::parse(query, options.flavor(), limits, fields)
}

/// Why a signal set could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileError {
    /// One signal's query is invalid.
    Query {
        tenant: String,
        signal: String,
        error: Box<QueryError>,
    },
    /// Two signals of one tenant share an id.
    Duplicate { tenant: String, signal: String },
    /// A tenant has more signals than [`Limits::max_rules_per_tenant`].
    TooManyRules { tenant: String, limit: usize },
    /// A tenant has more unanchored signals than [`Limits::max_unanchored_per_tenant`]; the
    /// signal named is the first one over the limit.
    TooManyUnanchored {
        tenant: String,
        signal: String,
        limit: usize,
    },
}

impl CompileError {
    /// The tenant the error belongs to.
    pub fn tenant(&self) -> &str {
        match self {
            CompileError::Query { tenant, .. }
            | CompileError::Duplicate { tenant, .. }
            | CompileError::TooManyRules { tenant, .. }
            | CompileError::TooManyUnanchored { tenant, .. } => tenant,
        }
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::Query {
                tenant,
                signal,
                error,
            } => write!(f, "signal {tenant}/{signal}: {error}"),
            CompileError::Duplicate { tenant, signal } => {
                write!(f, "signal {tenant}/{signal} is defined twice")
            }
            CompileError::TooManyRules { tenant, limit } => {
                write!(f, "tenant {tenant} has more than {limit} signals")
            }
            CompileError::TooManyUnanchored {
                tenant,
                signal,
                limit,
            } => write!(
                f,
                "signal {tenant}/{signal}: tenant {tenant} has more than {limit} signals \
                 without a word, phrase or discrete filter that must be present (NOT-only or \
                 numeric-only queries); add a required term"
            ),
        }
    }
}

impl std::error::Error for CompileError {}
