//! Whole-list tests: they guard the catalogue as a whole, so a new extractor cannot break its
//! promises (unique snake_case names, documented fields, every field written, no constant or
//! duplicate fields, generated docs in step).

use std::collections::{HashMap, HashSet};

use crate::catalogue::Record;
use crate::catalogue::{enrich_into, registry};
use crate::registry::Value;

fn is_snake_case(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.contains("__")
        && !s.ends_with('_')
}

#[test]
fn names_are_unique_snake_case_and_documented() {
    let reg = registry();
    let mut seen = HashSet::new();
    for f in &reg.fields {
        assert!(
            is_snake_case(f.name),
            "field name {:?} is not snake_case",
            f.name
        );
        assert!(seen.insert(f.name), "field {:?} is declared twice", f.name);
        assert!(
            f.doc.len() >= 12 && f.doc.ends_with('.'),
            "field {:?} needs a one-line doc ending in '.'",
            f.name
        );
    }
    let mut groups = HashSet::new();
    for e in &reg.extractors {
        assert!(
            is_snake_case(e.name()),
            "group {:?} is not snake_case",
            e.name()
        );
        assert!(
            groups.insert(e.name()),
            "group {:?} is declared twice",
            e.name()
        );
        assert!(
            !e.fields().is_empty(),
            "group {:?} declares no fields",
            e.name()
        );
    }
}

/// A small set of awkward inputs next to the real corpus.
fn corpus() -> Vec<model::Mention> {
    let mut out = crate::corpus::real_posts();
    let odd = [
        "",
        "   \n\t ",
        "🙂🙂🙂",
        "12345 678",
        "ÁÉÍ\u{301}\u{301}",
        "\u{202e}مرحبا بالعالم\u{202c} hello",
        "東京は今日もいい天気です。",
        "a\u{0000}b\u{0007}c",
        "\u{300}\u{301}",
        &"x".repeat(70_000),
    ];
    for (i, t) in odd.iter().enumerate() {
        let mut m = out[i].clone();
        m.text = (*t).to_owned();
        out.push(m);
    }
    out
}

#[test]
fn every_field_is_written_typed_and_informative() {
    let reg = registry();
    let mentions = corpus();
    let mut record = Record::new();
    // Per field: set of distinct rendered values (capped), and a fingerprint of its whole column.
    let mut distinct: Vec<HashSet<String>> = vec![HashSet::new(); reg.fields.len()];
    let mut columns: Vec<u64> = vec![0xcbf2_9ce4_8422_2325; reg.fields.len()];
    for m in &mentions {
        // Stale values from the previous mention must not leak: poison the record first.
        for v in record.values.iter_mut() {
            *v = Value::Str("\u{0}unwritten\u{0}".into());
        }
        enrich_into(m, &mut record);
        for (id, (f, v)) in reg.fields.iter().zip(record.values()).enumerate() {
            match v.ty() {
                None => assert!(
                    f.nullable,
                    "{} is null for {:?} but not nullable",
                    f.name, m.id
                ),
                Some(t) => assert_eq!(t, f.ty, "{} has the wrong type for {:?}", f.name, m.id),
            }
            if let Value::Float(x) = v {
                assert!(x.is_finite(), "{} is not finite for {:?}", f.name, m.id);
            }
            let rendered = serde_json::to_string(v).expect("serialises");
            assert!(
                !rendered.contains("\\u0000unwritten"),
                "{} was not written for {:?}",
                f.name,
                m.id
            );
            for b in rendered.bytes().chain([0xff]) {
                columns[id] = (columns[id] ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
            if distinct[id].len() < 4 {
                distinct[id].insert(rendered);
            }
        }
    }
    for (id, f) in reg.fields.iter().enumerate() {
        assert!(
            distinct[id].len() >= 2,
            "{} is constant over the corpus: {:?}",
            f.name,
            distinct[id]
        );
    }
    let mut by_column: HashMap<u64, &str> = HashMap::new();
    for (id, f) in reg.fields.iter().enumerate() {
        if let Some(other) = by_column.insert(columns[id], f.name) {
            panic!("{} always equals {} over the corpus", f.name, other);
        }
    }
}

#[test]
fn generated_docs_are_committed() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let files = [
        (
            format!("{root}/transforms/FIELDS.md"),
            crate::docs::fields_markdown(),
        ),
        (
            format!("{root}/deploy/schema/fields.schema.json"),
            serde_json::to_string_pretty(&crate::docs::fields_json_schema()).expect("json") + "\n",
        ),
    ];
    for (path, generated) in files {
        if std::env::var_os("BACKCHANNEL_BLESS").is_some() {
            std::fs::write(&path, &generated).expect("write generated doc");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{path} is out of date; run `BACKCHANNEL_BLESS=1 cargo test -p transforms`"
        );
    }
}
