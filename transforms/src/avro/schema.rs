//! The Avro schema of the enriched record, generated from the catalogue, with its Parsing
//! Canonical Form and CRC-64-AVRO fingerprint (both as the Avro specification defines them).

use std::sync::LazyLock;

use serde_json::{Value as Json, json};

use crate::registry::{FieldSpec, FieldType};

/// Namespace of every named type in the schema.
pub const NAMESPACE: &str = "backchannel";

/// The schema of the running catalogue, built once.
#[derive(Debug)]
pub struct CompactSchema {
    /// The schema as JSON (the content of `deploy/schema/enriched.avsc`).
    pub json: Json,
    /// Its Parsing Canonical Form.
    pub canonical: String,
    /// CRC-64-AVRO of the canonical form: the id written in front of every record.
    pub fingerprint: u64,
}

static SCHEMA: LazyLock<CompactSchema> = LazyLock::new(|| {
    let json = generate(&crate::registry().fields, &crate::registry().version);
    let canonical = canonical_form(&json).expect("the generated schema is valid");
    let fingerprint = crc64_avro(canonical.as_bytes());
    CompactSchema {
        json,
        canonical,
        fingerprint,
    }
});

/// The schema of this build's catalogue.
pub fn schema() -> &'static CompactSchema {
    &SCHEMA
}

/// The schema as the committed `.avsc` file holds it (pretty JSON, trailing newline).
pub fn avsc() -> String {
    let mut s = serde_json::to_string_pretty(&schema().json).unwrap_or_default();
    s.push('\n');
    s
}

fn nullable(t: Json) -> Json {
    json!(["null", t])
}

fn timestamp() -> Json {
    json!({"type": "long", "logicalType": "timestamp-micros"})
}

fn field(name: &str, ty: Json) -> Json {
    json!({"name": name, "type": ty})
}

fn opt_field(name: &str, ty: Json) -> Json {
    json!({"name": name, "type": nullable(ty), "default": null})
}

/// The Avro type of one catalogue field.
pub fn field_type(f: &FieldSpec) -> Json {
    let t = match f.ty {
        FieldType::Bool => json!("boolean"),
        FieldType::Int => json!("long"),
        FieldType::Float => json!("float"),
        FieldType::Str => json!("string"),
        FieldType::StrList => json!({"type": "array", "items": "string"}),
        FieldType::IntList => json!({"type": "array", "items": "long"}),
    };
    if f.nullable { nullable(t) } else { t }
}

/// The schema for a catalogue with these fields.
pub fn generate(fields: &[FieldSpec], fields_version: &str) -> Json {
    let author = json!({
        "type": "record", "name": "Author", "fields": [
            field("id", json!("string")),
            field("handle", json!("string")),
            opt_field("display_name", json!("string")),
            opt_field("followers", json!("long")),
            opt_field("following", json!("long")),
            opt_field("posts", json!("long")),
            opt_field("verified", json!("boolean")),
            opt_field("created_at", timestamp()),
        ]
    });
    let engagement = json!({
        "type": "record", "name": "Engagement", "fields": [
            opt_field("likes", json!("long")),
            opt_field("reposts", json!("long")),
            opt_field("replies", json!("long")),
            opt_field("quotes", json!("long")),
            opt_field("views", json!("long")),
        ]
    });
    let refs = json!({
        "type": "record", "name": "References", "fields": [
            opt_field("reply_to", json!("string")),
            opt_field("conversation", json!("string")),
            opt_field("quote_of", json!("string")),
            opt_field("repost_of", json!("string")),
        ]
    });
    let media = json!({
        "type": "record", "name": "Media", "fields": [
            field("kind", json!("string")),
            field("url", json!("string")),
            opt_field("alt_text", json!("string")),
        ]
    });
    let geo = json!({
        "type": "record", "name": "Geo", "fields": [
            opt_field("lat", json!("double")),
            opt_field("lon", json!("double")),
            opt_field("place", json!("string")),
            opt_field("country", json!("string")),
        ]
    });
    let mention = json!({
        "type": "record", "name": "Mention",
        "doc": "The canonical Mention (deploy/schema/mention.schema.json); `raw` and `extra` hold JSON text.",
        "fields": [
            field("id", json!("string")),
            field("source", json!("string")),
            field("kind", json!("string")),
            opt_field("url", json!("string")),
            field("created_at", timestamp()),
            field("collected_at", timestamp()),
            opt_field("edited_at", timestamp()),
            field("text", json!("string")),
            opt_field("lang_hint", json!("string")),
            field("author", author),
            field("engagement", engagement),
            field("refs", refs),
            field("media", json!({"type": "array", "items": media})),
            opt_field("geo", geo),
            opt_field("raw", json!("string")),
            opt_field("extra", json!("string")),
        ]
    });
    let catalogue: Vec<Json> = fields
        .iter()
        .map(|f| json!({"name": f.name, "type": field_type(f), "doc": f.doc}))
        .collect();
    let highlight = json!({
        "type": "record", "name": "Highlight",
        "doc": "[start, end) in Unicode scalar values into mention.text.",
        "fields": [field("start", json!("long")), field("end", json!("long"))]
    });
    let signal = json!({
        "type": "record", "name": "SignalMatch", "fields": [
            field("tenant", json!("string")),
            field("signal", json!("string")),
            field("version", json!("long")),
            field("highlights", json!({"type": "array", "items": highlight})),
        ]
    });
    json!({
        "type": "record",
        "name": "EnrichedMention",
        "namespace": NAMESPACE,
        "doc": format!("An enriched mention, field registry {fields_version}. Generated from the catalogue by `backchannel fields --format avro`; records are single-object encoded (C3 01, CRC-64-AVRO fingerprint, body)."),
        "fields": [
            field("schema_version", json!("int")),
            field("fields_version", json!("string")),
            field("mention", mention),
            field("fields", json!({"type": "record", "name": "Fields", "fields": catalogue})),
            field("signals", json!({"type": "array", "items": signal})),
            json!({
                "name": "cluster_id", "type": nullable(json!("string")), "default": null,
                "doc": CLUSTER_DOC,
            }),
        ]
    })
}

/// What `cluster_id` means, as the schema documents it.
const CLUSTER_DOC: &str = "Near-duplicate cluster: the id of the first mention seen (within the pipeline's cluster window) that shares a MinHash LSH band with this one; this mention's own id when it is the first. Null when the text has no words to hash or the cluster index could not be reached. Assigned on arrival, so not part of the catalogue.";

/// The envelope of records written before the mention's `edited_at` was added (December 2026,
/// fields_version 294.edf56814 like the records after it: the catalogue did not change):
/// [`generate`]'s without it. Readers still accept it.
pub fn generate_without_edited(fields: &[FieldSpec], fields_version: &str) -> Json {
    let mut s = generate(fields, fields_version);
    if let Some(Json::Array(top)) = s.get_mut("fields") {
        for f in top.iter_mut() {
            if f.get("name").and_then(Json::as_str) == Some("mention")
                && let Some(Json::Array(fields)) = f["type"].get_mut("fields")
            {
                fields.retain(|f| f.get("name").and_then(Json::as_str) != Some("edited_at"));
            }
        }
    }
    s
}

/// The envelope of records written before `cluster_id` was added (fields_version 294.edf56814
/// and earlier): [`generate_without_edited`]'s without its last field. Readers still accept it.
pub fn generate_without_cluster(fields: &[FieldSpec], fields_version: &str) -> Json {
    let mut s = generate_without_edited(fields, fields_version);
    if let Some(Json::Array(top)) = s.get_mut("fields") {
        top.retain(|f| f.get("name").and_then(Json::as_str) != Some("cluster_id"));
    }
    s
}

/// The Parsing Canonical Form of a schema (Avro specification, "Parsing Canonical Form for
/// Schemas"): primitives as bare names, full names, only the attributes that affect parsing, in
/// a fixed order, no whitespace.
pub fn canonical_form(schema: &Json) -> Result<String, String> {
    let mut out = String::new();
    canon(schema, None, &mut out)?;
    Ok(out)
}

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

fn fullname(name: &str, ns: Option<&str>) -> String {
    match ns {
        Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_owned(),
    }
}

fn quoted(s: &str, out: &mut String) {
    out.push_str(&Json::String(s.to_owned()).to_string());
}

fn canon(s: &Json, ns: Option<&str>, out: &mut String) -> Result<(), String> {
    match s {
        Json::String(name) if PRIMITIVES.contains(&name.as_str()) => quoted(name, out),
        Json::String(name) => quoted(&fullname(name, ns), out),
        Json::Array(branches) => {
            out.push('[');
            for (i, b) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canon(b, ns, out)?;
            }
            out.push(']');
        }
        Json::Object(o) => {
            let ty = o.get("type").ok_or("a schema object without \"type\"")?;
            let Some(ty) = ty.as_str() else {
                // {"type": {...}} wraps another schema.
                return canon(ty, ns, out);
            };
            match ty {
                "record" | "error" | "enum" | "fixed" => {
                    let name = o
                        .get("name")
                        .and_then(Json::as_str)
                        .ok_or("a named type without a name")?;
                    let own_ns = o.get("namespace").and_then(Json::as_str).or(ns);
                    let full = fullname(name, own_ns);
                    // Names inside resolve against this type's namespace.
                    let inner_ns = full.rsplit_once('.').map(|(n, _)| n.to_owned());
                    out.push_str("{\"name\":");
                    quoted(&full, out);
                    out.push_str(",\"type\":");
                    quoted(if ty == "error" { "record" } else { ty }, out);
                    match ty {
                        "enum" => {
                            out.push_str(",\"symbols\":");
                            out.push_str(
                                &o.get("symbols").cloned().unwrap_or_default().to_string(),
                            );
                        }
                        "fixed" => {
                            out.push_str(",\"size\":");
                            out.push_str(&o.get("size").cloned().unwrap_or_default().to_string());
                        }
                        _ => {
                            out.push_str(",\"fields\":[");
                            let fields = o
                                .get("fields")
                                .and_then(Json::as_array)
                                .ok_or("a record without fields")?;
                            for (i, f) in fields.iter().enumerate() {
                                if i > 0 {
                                    out.push(',');
                                }
                                let fname = f
                                    .get("name")
                                    .and_then(Json::as_str)
                                    .ok_or("a record field without a name")?;
                                out.push_str("{\"name\":");
                                quoted(fname, out);
                                out.push_str(",\"type\":");
                                canon(
                                    f.get("type").ok_or("a record field without a type")?,
                                    inner_ns.as_deref(),
                                    out,
                                )?;
                                out.push('}');
                            }
                            out.push(']');
                        }
                    }
                    out.push('}');
                }
                "array" => {
                    out.push_str("{\"type\":\"array\",\"items\":");
                    canon(o.get("items").ok_or("an array without items")?, ns, out)?;
                    out.push('}');
                }
                "map" => {
                    out.push_str("{\"type\":\"map\",\"values\":");
                    canon(o.get("values").ok_or("a map without values")?, ns, out)?;
                    out.push('}');
                }
                // A primitive in object form, e.g. {"type": "long", "logicalType": …}.
                other => canon(&Json::String(other.to_owned()), ns, out)?,
            }
        }
        other => return Err(format!("not a schema: {other}")),
    }
    Ok(())
}

/// The CRC-64-AVRO fingerprint (the Avro specification's 64-bit Rabin fingerprint).
pub fn crc64_avro(bytes: &[u8]) -> u64 {
    static TABLE: LazyLock<[u64; 256]> = LazyLock::new(|| {
        let mut table = [0u64; 256];
        for (i, slot) in table.iter_mut().enumerate() {
            let mut fp = i as u64;
            for _ in 0..8 {
                fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
            }
            *slot = fp;
        }
        table
    });
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    bytes.iter().fold(EMPTY, |fp, &b| {
        (fp >> 8) ^ TABLE[((fp ^ u64::from(b)) & 0xff) as usize]
    })
}
