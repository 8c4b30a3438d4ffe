//! The catalogue: the one explicit list of extractors, and the field registry derived from it.
//!
//! Each module below owns a list of extractors; this file only says in which order the groups
//! run and appear. Field ids are positions in the concatenated field list, so they are stable for
//! a given registry version ([`Registry::version`]).

use std::collections::HashMap;
use std::sync::LazyLock;

use model::Mention;

use crate::analysis::Analysis;
use crate::registry::{Extractor, FieldSpec, FieldWriter, Record, Value};
use crate::{
    author, dedup, emotion, entities, intent, lang, readability, sentiment, spam, text, tokens,
};

/// Every extractor, in output order.
pub fn extractors() -> &'static [&'static dyn Extractor] {
    &registry().extractors
}

/// The registry: all fields, their owners and offsets.
#[derive(Debug)]
pub struct Registry {
    pub extractors: Vec<&'static dyn Extractor>,
    /// All fields in id order.
    pub fields: Vec<FieldSpec>,
    /// For each field id, the index of the extractor that writes it.
    pub owner: Vec<usize>,
    /// For each extractor, the range of field ids it writes.
    pub ranges: Vec<std::ops::Range<usize>>,
    by_name: HashMap<&'static str, usize>,
    /// `"<field count>.<hash of every group's name, version and field names>"`: changes whenever
    /// any extractor's output could change.
    pub version: String,
}

impl std::fmt::Debug for dyn Extractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name(), self.version())
    }
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let lists: [&[&'static dyn Extractor]; 11] = [
        text::EXTRACTORS,
        tokens::EXTRACTORS,
        lang::EXTRACTORS,
        entities::EXTRACTORS,
        sentiment::EXTRACTORS,
        emotion::EXTRACTORS,
        intent::EXTRACTORS,
        readability::EXTRACTORS,
        dedup::EXTRACTORS,
        author::EXTRACTORS,
        spam::EXTRACTORS,
    ];
    let extractors: Vec<&'static dyn Extractor> = lists.concat();
    let (mut fields, mut owner, mut ranges) = (Vec::new(), Vec::new(), Vec::new());
    let mut hash = Fnv::default();
    for (i, e) in extractors.iter().enumerate() {
        let start = fields.len();
        hash.write(e.name().as_bytes());
        hash.write(&e.version().to_le_bytes());
        for f in e.fields() {
            fields.push(*f);
            owner.push(i);
            hash.write(f.name.as_bytes());
        }
        ranges.push(start..fields.len());
    }
    let by_name = fields
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name, i))
        .collect();
    let version = format!("{}.{:08x}", fields.len(), hash.0);
    Registry {
        extractors,
        fields,
        owner,
        ranges,
        by_name,
        version,
    }
});

/// The registry, built on first use.
pub fn registry() -> &'static Registry {
    &REGISTRY
}

/// The id of the field called `name`.
pub fn field_id(name: &str) -> Option<usize> {
    REGISTRY.by_name.get(name).copied()
}

impl Record {
    /// An empty record sized for the registry.
    pub fn new() -> Record {
        Record {
            values: vec![Value::Null; REGISTRY.fields.len()],
        }
    }
}

impl Default for Record {
    fn default() -> Self {
        Record::new()
    }
}

/// Computes every field for `m` into `out`, reusing its buffers.
pub fn enrich_into(m: &Mention, out: &mut Record) {
    let a = Analysis::new(m);
    for (e, range) in REGISTRY.extractors.iter().zip(&REGISTRY.ranges) {
        let mut w = FieldWriter::new(&mut out.values[range.clone()], e.fields());
        e.extract(&a, &mut w);
    }
}

/// Computes every field for `m` into `out`, then matches the tenants' signals of `matcher`
/// against the mention and its fields (one shared analysis for both).
pub fn enrich_and_match(
    m: &Mention,
    out: &mut Record,
    matcher: Option<&crate::signals::Matcher>,
) -> Vec<model::SignalMatch> {
    let a = Analysis::new(m);
    for (e, range) in REGISTRY.extractors.iter().zip(&REGISTRY.ranges) {
        let mut w = FieldWriter::new(&mut out.values[range.clone()], e.fields());
        e.extract(&a, &mut w);
    }
    matcher.map(|mt| mt.matches(&a, out)).unwrap_or_default()
}

/// Computes every field for `m`.
pub fn enrich(m: &Mention) -> Record {
    let mut r = Record::new();
    enrich_into(m, &mut r);
    r
}

/// Runs only the extractor at `index` (benches and tests).
pub fn run_one(index: usize, a: &Analysis<'_>, out: &mut Record) {
    let e = REGISTRY.extractors[index];
    let range = REGISTRY.ranges[index].clone();
    e.extract(a, &mut FieldWriter::new(&mut out.values[range], e.fields()));
}

/// 32-bit FNV-1a, for the registry version (stable across builds and platforms).
struct Fnv(u32);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0x811c_9dc5)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
}
