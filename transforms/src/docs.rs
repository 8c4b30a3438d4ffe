//! Documentation generated from the catalogue: `transforms/FIELDS.md`, the JSON Schema of the
//! `fields` object (`deploy/schema/fields.schema.json`) and the machine-readable field list that
//! `backchannel fields --format json` prints. Tests keep the committed files equal to these.

use serde_json::{Value as Json, json};

use crate::catalogue::registry;
use crate::registry::FieldType;

/// The catalogue as JSON: registry version, groups and fields.
pub fn catalogue_json() -> Json {
    let reg = registry();
    let groups: Vec<Json> = reg
        .extractors
        .iter()
        .zip(&reg.ranges)
        .map(|(e, r)| {
            let fields: Vec<Json> = reg.fields[r.clone()]
                .iter()
                .map(|f| {
                    json!({"id": reg.fields.iter().position(|g| g.name == f.name),
                           "name": f.name, "type": f.ty.as_str(), "nullable": f.nullable, "doc": f.doc})
                })
                .collect();
            json!({"group": e.name(), "version": e.version(), "fields": fields})
        })
        .collect();
    json!({"fields_version": reg.version, "field_count": reg.fields.len(), "groups": groups})
}

/// `transforms/FIELDS.md`.
pub fn fields_markdown() -> String {
    let reg = registry();
    let mut s = String::from(
        "# Fields\n\nGenerated from the catalogue in `transforms/src/catalogue.rs` by \
         `BACKCHANNEL_BLESS=1 cargo test -p transforms`; do not edit by hand.\n\n",
    );
    s += &format!(
        "Registry version `{}`: {} fields in {} groups.\n",
        reg.version,
        reg.fields.len(),
        reg.extractors.len()
    );
    for (e, r) in reg.extractors.iter().zip(&reg.ranges) {
        s += &format!(
            "\n## `{}` (version {})\n\n| id | field | type | doc |\n|---|---|---|---|\n",
            e.name(),
            e.version()
        );
        for (id, f) in reg.fields[r.clone()].iter().enumerate() {
            let ty = if f.nullable {
                format!("{}?", f.ty.as_str())
            } else {
                f.ty.as_str().to_owned()
            };
            s += &format!(
                "| {} | `{}` | {} | {} |\n",
                r.start + id,
                f.name,
                ty,
                f.doc.replace('|', "\\|")
            );
        }
    }
    s
}

/// JSON Schema (draft 2020-12) of the `fields` object of an EnrichedMention.
pub fn fields_json_schema() -> Json {
    let reg = registry();
    let mut props = serde_json::Map::new();
    for f in &reg.fields {
        let base = match f.ty {
            FieldType::Bool => json!({"type": "boolean"}),
            FieldType::Int => json!({"type": "integer"}),
            FieldType::Float => json!({"type": "number"}),
            FieldType::Str => json!({"type": "string"}),
            FieldType::StrList => json!({"type": "array", "items": {"type": "string"}}),
            FieldType::IntList => {
                json!({"type": "array", "items": {"type": "integer", "minimum": 0}})
            }
        };
        let mut schema = base;
        if f.nullable {
            let ty = schema["type"].clone();
            schema["type"] = json!([ty, "null"]);
        }
        schema["description"] = json!(f.doc);
        props.insert(f.name.to_owned(), schema);
    }
    let required: Vec<&str> = reg.fields.iter().map(|f| f.name).collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "EnrichedMention.fields",
        "description": format!("Fields computed by registry version {}", reg.version),
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false
    })
}
