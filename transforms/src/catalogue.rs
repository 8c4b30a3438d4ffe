//! The catalogue: the one explicit list of extractors, and the field registry derived from it.
//!
//! Each module below owns a list of extractors; this file only says in which order the groups
//! run and appear. Field ids are positions in the concatenated field list, so they are stable for
//! a given registry version ([`Registry::version`]).

use std::collections::HashMap;
use std::sync::LazyLock;

use model::Mention;

use crate::analysis::Analysis;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::extractor::Extractor;
use crate::hash::Fnv32;
use crate::registry::{FieldSpec, FieldWriter, Value};
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
    let mut hash = Fnv32::default();
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

/// One mention's computed fields: a dense vector indexed by field id.
#[derive(Debug, Clone)]
pub struct Record {
    pub(crate) values: Vec<Value>,
}

impl Record {
    /// An empty record sized for the registry.
    pub fn new() -> Record {
        Record {
            values: vec![Value::Null; REGISTRY.fields.len()],
        }
    }

    /// The value of field `id` (see [`field_id`]).
    pub fn get(&self, id: usize) -> &Value {
        &self.values[id]
    }

    /// The value of the field called `name`, if there is one.
    pub fn by_name(&self, name: &str) -> Option<&Value> {
        field_id(name).map(|id| &self.values[id])
    }

    /// All values in field-id order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// A serialisable view: a JSON object keyed by field name.
    pub fn as_object(&self) -> FieldsObject<'_> {
        FieldsObject(self)
    }

    /// The fields as a `serde_json` map (for callers that need to own it).
    pub fn to_json_map(&self) -> serde_json::Map<String, serde_json::Value> {
        let reg = registry();
        reg.fields
            .iter()
            .zip(&self.values)
            .map(|(f, v)| (f.name.to_owned(), v.to_json()))
            .collect()
    }
}

impl Default for Record {
    fn default() -> Self {
        Record::new()
    }
}

/// Serialises a [`Record`] as a JSON object keyed by field name, in field-id order.
#[derive(Debug, Clone, Copy)]
pub struct FieldsObject<'r>(&'r Record);

impl Serialize for FieldsObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let reg = registry();
        let mut map = s.serialize_map(Some(reg.fields.len()))?;
        for (f, v) in reg.fields.iter().zip(&self.0.values) {
            map.serialize_entry(f.name, v)?;
        }
        map.end()
    }
}

/// Computes every field for `m` into `out`, reusing its buffers.
pub fn enrich_into(m: &Mention, out: &mut Record) {
    extract_all(&Analysis::new(m), out);
}

/// Runs every extractor over `a` into `out` (what [`enrich_into`] does once it has the analysis;
/// signal matching shares the analysis with it).
#[inline]
pub fn extract_all(a: &Analysis<'_>, out: &mut Record) {
    for (e, range) in REGISTRY.extractors.iter().zip(&REGISTRY.ranges) {
        let mut w = FieldWriter::new(&mut out.values[range.clone()], e.fields());
        e.extract(a, &mut w);
    }
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
