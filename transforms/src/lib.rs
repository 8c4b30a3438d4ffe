//! Backchannel's transforms: a [`Mention`] in, hundreds of typed fields out.
//!
//! Everything here is pure and synchronous — no I/O, no clock, no locks — so the runtime can run
//! it on any CPU pool, a bench can time it alone, and the same input always gives the same output.
//! The fields come from one explicit catalogue ([`catalogue`]) of extractors, each writing a group
//! of related fields into a dense, reusable [`Record`].
//!
//! The modules form layers, lowest first; each imports only from its own layer and those before
//! it, so a module can be read, tested and changed knowing only what lies below (checked by
//! `layers_tests.rs`):
//!
//! Layers: primitives (registry, hash, unicode, corpus) → shared analysis (analysis) → field groups (extractor, text, tokens, lang, entities, sentiment, emotion, intent, readability, dedup, author, spam) → catalogue (catalogue, docs, avro) → signals (signals)
//!
//! ```
//! let m: model::Mention = serde_json::from_str(r#"{"id":"x:1","source":"x","kind":"post",
//!     "created_at":"2026-01-01T00:00:00Z","collected_at":"2026-01-01T00:00:01Z",
//!     "text":"Loving the new phone!","author":{"id":"7"}}"#).unwrap();
//! let fields = transforms::enrich(&m);
//! assert_eq!(fields.by_name("text_words"), Some(&transforms::Value::Int(4)));
//! ```

#[cfg(any(test, feature = "corpus"))]
pub mod corpus;
mod hash;
pub mod registry;
mod unicode;

pub mod analysis;

pub mod extractor;

pub mod author;
pub mod dedup;
pub mod emotion;
pub mod entities;
pub mod intent;
pub mod lang;
pub mod readability;
pub mod sentiment;
pub mod spam;
pub mod text;
pub mod tokens;

pub mod avro;
pub mod catalogue;
pub mod docs;

pub mod signals;

pub use analysis::Analysis;
pub use catalogue::{Record, enrich, enrich_into, extractors, field_id, registry};
pub use extractor::Extractor;
pub use registry::{FieldSpec, FieldType, FieldWriter, StrsWriter, Value};
pub use signals::enrich_and_match;

use model::{Mention, SCHEMA_VERSION};
use serde::Serialize;

/// A borrowed [`model::EnrichedMention`]: serialises to the same JSON without copying the
/// mention or building a map of the fields.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EnrichedRef<'a> {
    pub schema_version: u32,
    pub fields_version: &'a str,
    pub mention: &'a Mention,
    pub fields: catalogue::FieldsObject<'a>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub signals: &'a [model::SignalMatch],
    /// Assigned after enrichment (see [`model::EnrichedMention::cluster_id`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<&'a str>,
}

impl<'a> EnrichedRef<'a> {
    /// With the signals that matched.
    pub fn with_signals(
        mention: &'a Mention,
        record: &'a Record,
        signals: &'a [model::SignalMatch],
    ) -> Self {
        EnrichedRef {
            signals,
            ..EnrichedRef::new(mention, record)
        }
    }

    pub fn new(mention: &'a Mention, record: &'a Record) -> Self {
        EnrichedRef {
            schema_version: SCHEMA_VERSION,
            fields_version: &registry().version,
            mention,
            fields: record.as_object(),
            signals: &[],
            cluster_id: None,
        }
    }
}

#[cfg(test)]
mod catalogue_tests;
#[cfg(test)]
mod layers_tests;
#[cfg(test)]
mod oracle;
