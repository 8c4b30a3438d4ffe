use serde_json::Value as Json;

use super::*;
use crate::{EnrichedRef, Record};

/// The JSON form and the compact form read back must say the same, up to the documented
/// precision: floats to single precision, timestamps to the microsecond.
fn assert_same(path: &str, full: &Json, compact: &Json) {
    match (full, compact) {
        (Json::Number(a), Json::Number(b)) if a.is_f64() || b.is_f64() => {
            let (a, b) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            assert!(
                (a - b).abs() <= 1e-6 * a.abs().max(1.0),
                "{path}: {a} became {b}"
            );
        }
        (Json::String(a), Json::String(b)) if path.ends_with("_at") => {
            let a: chrono::DateTime<chrono::Utc> = a.parse().expect("timestamp");
            let b: chrono::DateTime<chrono::Utc> = b.parse().expect("timestamp");
            assert_eq!(a.timestamp_micros(), b.timestamp_micros(), "{path}");
        }
        (Json::Object(a), Json::Object(b)) => {
            let ka: Vec<_> = a.keys().collect();
            let kb: Vec<_> = b.keys().collect();
            assert_eq!(ka, kb, "{path}: keys differ");
            for (k, v) in a {
                assert_same(&format!("{path}.{k}"), v, &b[k]);
            }
        }
        (Json::Array(a), Json::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: lengths differ");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same(&format!("{path}[{i}]"), x, y);
            }
        }
        _ => assert_eq!(full, compact, "{path}"),
    }
}

fn mentions() -> Vec<model::Mention> {
    let mut all = crate::corpus::real_posts();
    all.truncate(1_500);
    let synthetic = collectors_like_mentions();
    all.extend(synthetic);
    all
}

/// Mentions that exercise every optional part of the schema.
fn collectors_like_mentions() -> Vec<model::Mention> {
    let full = r#"{"id":"x:99","source":"x","kind":"quote","url":"https://x.com/a/status/99",
        "created_at":"2026-11-26T04:00:00.123456Z","collected_at":"2026-11-26T04:00:01Z",
        "edited_at":"2026-11-26T05:06:07.654321Z",
        "text":"Loving the new #Quanta phone 😀 @bob https://quanta.example/p?x=1 $QNT",
        "lang_hint":"en-US",
        "author":{"id":"7","handle":"alice","display_name":"Alice","followers":123456789012,
          "following":3,"posts":40,"verified":true,"created_at":"2020-01-02T03:04:05Z"},
        "engagement":{"likes":5,"reposts":0,"replies":1,"quotes":2,"views":1000},
        "refs":{"reply_to":"x:1","conversation":"x:0","quote_of":"x:2","repost_of":"x:3"},
        "media":[{"kind":"image","url":"https://i.example/1.png","alt_text":"a phone"},
                 {"kind":"link","url":"https://quanta.example"}],
        "geo":{"lat":52.5,"lon":13.4,"place":"Berlin","country":"DE"},
        "raw":{"nested":[1,2,{"a":null}]},
        "unknown_key":{"kept":true}}"#;
    let bare = r#"{"id":"hn:1","source":"hackernews","kind":"comment",
        "created_at":"2026-11-26T04:00:00Z","collected_at":"2026-11-26T04:00:00Z",
        "text":"","author":{"id":"","handle":""}}"#;
    [full, bare]
        .iter()
        .map(|j| serde_json::from_str(j).expect("test mention"))
        .collect()
}

fn signals() -> Vec<model::SignalMatch> {
    vec![
        model::SignalMatch {
            signal: model::SignalId::new("acme", "brand"),
            version: 3,
            highlights: [[0, 6], [10, 15], [20, 22]].into_iter().collect(),
        },
        model::SignalMatch {
            signal: model::SignalId::new("other", "x"),
            version: 1,
            highlights: Default::default(),
        },
    ]
}

#[test]
fn records_read_back_as_the_json_form() {
    let layout = Layout::current();
    let mut record = Record::new();
    let (mut bytes, mut json) = (Vec::new(), Vec::new());
    let all_signals = signals();
    for (i, m) in mentions().iter().enumerate() {
        crate::enrich_into(m, &mut record);
        let matches = if i % 7 == 0 { &all_signals[..] } else { &[] };
        let full = serde_json::to_value(EnrichedRef::with_signals(m, &record, matches))
            .expect("json form");
        bytes.clear();
        encode(m, &record, matches, &mut bytes);
        json.clear();
        layout.to_json(&bytes, &mut json).expect("read back");
        let compact: Json = serde_json::from_slice(&json).expect("valid JSON");
        assert_same(&m.id, &full, &compact);
    }
}

/// An envelope holds what the JSON form does: the mention, the matches, the cluster and each
/// picked field's value, whatever its type; a cut record is an error.
#[test]
fn an_envelope_reads_what_the_json_form_holds() {
    let layout = Layout::current();
    let reg = crate::registry();
    let mut names: Vec<&str> = read::KINDS
        .iter()
        .map(|k| {
            reg.fields
                .iter()
                .find(|f| f.ty == *k)
                .expect("a field of each type")
                .name
        })
        .collect();
    // The two the live push hub counts, and one nullable field.
    names.extend(["sentiment_compound", "hashtags"]);
    names.extend(reg.fields.iter().find(|f| f.nullable).map(|f| f.name));
    let picks: Vec<usize> = names
        .iter()
        .map(|n| layout.field_index(n).expect("in the layout"))
        .collect();
    assert_eq!(layout.field_index("no_such_field"), None);
    let mut record = Record::new();
    let (mut bytes, mut json) = (Vec::new(), Vec::new());
    let all_signals = signals();
    for (i, m) in mentions().iter().enumerate() {
        crate::enrich_into(m, &mut record);
        let matches = if i % 3 == 0 { &all_signals[..] } else { &[] };
        bytes.clear();
        encode(m, &record, matches, &mut bytes);
        if i % 5 == 0 {
            set_cluster(&mut bytes, &format!("cluster-{i}"));
        }
        json.clear();
        layout.to_json(&bytes, &mut json).expect("read back");
        let full: Json = serde_json::from_slice(&json).expect("valid JSON");
        let e = layout.envelope(&bytes, &picks).expect("an envelope");
        assert_eq!(
            serde_json::to_value(&e.mention).expect("mention"),
            full["mention"],
            "{}",
            m.id
        );
        assert_eq!(
            serde_json::to_value(&e.signals).expect("signals"),
            full.get("signals")
                .cloned()
                .unwrap_or(Json::Array(Vec::new())),
            "{}",
            m.id
        );
        assert_eq!(
            e.cluster_id.as_deref(),
            full["cluster_id"].as_str(),
            "{}",
            m.id
        );
        for (name, got) in names.iter().zip(&e.picked) {
            assert_eq!(got, &full["fields"][name], "{}: {name}", m.id);
        }
        assert_eq!(layout.fields_of(&bytes, &picks).expect("fields"), e.picked);
        // A field asked for twice, out of order, comes twice.
        let twice = [picks[1], picks[0], picks[1]];
        assert_eq!(
            layout.fields_of(&bytes, &twice).expect("fields"),
            [&e.picked[1], &e.picked[0], &e.picked[1]].map(Clone::clone)
        );
        if i == 0 {
            for cut in 0..bytes.len() {
                assert!(
                    layout.envelope(&bytes[..cut], &picks).is_err(),
                    "cut at {cut}"
                );
                // The catalogue's fields end well before the record does.
                if cut < bytes.len() / 2 {
                    assert!(
                        layout.fields_of(&bytes[..cut], &picks).is_err(),
                        "cut at {cut}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_layout_of_the_generated_schema_is_the_current_one() {
    let from_schema = Layout::from_schema(&schema().json).expect("our schema is readable");
    let current = Layout::current();
    assert_eq!(from_schema.fingerprint, current.fingerprint);
    assert_eq!(from_schema.fingerprint, schema().fingerprint);

    // A record of another catalogue is refused by fingerprint, not misread.
    let mut other = schema().json.clone();
    other["fields"][3]["type"]["fields"]
        .as_array_mut()
        .expect("catalogue")
        .pop();
    let other = Layout::from_schema(&other).expect("still readable");
    assert_ne!(other.fingerprint, current.fingerprint);
    let m = &collectors_like_mentions()[0];
    let mut bytes = Vec::new();
    encode(m, &crate::enrich(m), &[], &mut bytes);
    assert_eq!(
        other.to_json(&bytes, &mut Vec::new()),
        Err(DecodeError::UnknownSchema(current.fingerprint))
    );

    // A schema whose mention part differs is refused outright.
    let mut changed = schema().json.clone();
    changed["fields"][2]["type"]["fields"][0]["type"] = Json::from("bytes");
    assert!(matches!(
        Layout::from_schema(&changed),
        Err(DecodeError::Schema(_))
    ));
}

#[test]
fn canonical_form_follows_the_specification() {
    let s: Json = serde_json::from_str(
        r#"{"type":"record","name":"R","namespace":"a.b","doc":"dropped","fields":[
            {"name":"x","type":{"type":"long","logicalType":"timestamp-micros"},"default":0},
            {"name":"y","type":["null",{"type":"record","name":"S","fields":[
                {"name":"z","type":{"type":"array","items":"string"}}]}]},
            {"name":"e","type":{"type":"enum","name":"c.E","symbols":["A","B"]}}]}"#,
    )
    .expect("schema");
    assert_eq!(
        schema::canonical_form(&s).expect("canonical"),
        r#"{"name":"a.b.R","type":"record","fields":[{"name":"x","type":"long"},{"name":"y","type":["null",{"name":"a.b.S","type":"record","fields":[{"name":"z","type":{"type":"array","items":"string"}}]}]},{"name":"e","type":{"name":"c.E","type":"enum","symbols":["A","B"]}}]}"#
    );
}

#[test]
fn damaged_records_are_errors_not_panics() {
    let layout = Layout::current();
    let m = &collectors_like_mentions()[0];
    let mut bytes = Vec::new();
    encode(m, &crate::enrich(m), &signals(), &mut bytes);
    let mut out = Vec::new();
    for cut in 0..bytes.len() {
        assert!(
            layout.to_json(&bytes[..cut], &mut out).is_err(),
            "cut at {cut}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        layout.to_json(&longer, &mut out),
        Err(DecodeError::Malformed("bytes after the record"))
    );
    // Flipping bytes of the body never panics (errors or another valid reading are both fine).
    for i in HEADER_LEN..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0xff;
        let _ = layout.to_json(&flipped, &mut out);
    }
}

/// Records stay compact: the goal is at most 1.5 KB per enriched mention on the wire.
#[test]
fn records_are_compact_on_the_real_corpus() {
    let mut record = Record::new();
    let (mut bytes, mut total, mut json_total) = (Vec::new(), 0usize, 0usize);
    let posts = crate::corpus::real_posts();
    for m in &posts {
        crate::enrich_into(m, &mut record);
        bytes.clear();
        encode(m, &record, &[], &mut bytes);
        total += bytes.len();
        json_total += serde_json::to_vec(&EnrichedRef::new(m, &record))
            .expect("json")
            .len();
    }
    let (mean, json_mean) = (total / posts.len(), json_total / posts.len());
    eprintln!("real corpus: {mean} bytes per compact record, {json_mean} as JSON");
    assert!(
        mean <= 1536,
        "mean compact record {mean} bytes (JSON {json_mean})"
    );
}

#[test]
fn the_committed_schema_file_is_current() {
    let path = format!(
        "{}/../deploy/schema/enriched.avsc",
        env!("CARGO_MANIFEST_DIR")
    );
    let generated = schema::avsc();
    if std::env::var_os("BACKCHANNEL_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{path} is out of date; run `BACKCHANNEL_BLESS=1 cargo test -p transforms`"
    );
}

/// fastavro (a reader we did not write), given only `deploy/schema/enriched.avsc`, decodes our
/// single-object records to the values we encoded: the fingerprint, every field of the catalogue,
/// the mention and the signal matches.
#[test]
fn fastavro_decodes_records_with_the_committed_schema() {
    let python = crate::oracle::python();
    if !crate::oracle::available(&python, &["-c", "import fastavro"], "fastavro") {
        return;
    }
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut posts = crate::corpus::real_posts();
    posts.truncate(300);
    posts.extend(collectors_like_mentions());
    let all_signals = signals();
    let mut frames = Vec::new();
    let mut expected = Vec::new();
    for (i, m) in posts.iter().enumerate() {
        let record = crate::enrich(m);
        let matches = if i % 5 == 0 { &all_signals[..] } else { &[] };
        let mut bytes = Vec::new();
        encode(m, &record, matches, &mut bytes);
        let cluster = (i % 3 == 0).then(|| format!("cluster-of-{i}"));
        if let Some(c) = &cluster {
            assert!(set_cluster(&mut bytes, c));
        }
        frames.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        frames.extend_from_slice(&bytes);
        expected.push((m, record, matches, cluster));
    }
    let mut child = std::process::Command::new(&python)
        .arg(format!("{root}/deploy/schema/read_enriched.py"))
        .arg(format!("{root}/deploy/schema/enriched.avsc"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&frames).expect("write frames");
    });
    let out = child.wait_with_output().expect("python finishes");
    writer.join().expect("writer");
    assert!(
        out.status.success(),
        "read_enriched.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Json> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), expected.len());
    assert!(expected.iter().any(|e| e.0.edited_at.is_some()), "an edit");
    let reg = crate::registry();
    for (py, (m, record, matches, cluster)) in lines.iter().zip(&expected) {
        assert_eq!(py["cluster_id"].as_str(), cluster.as_deref(), "{}", m.id);
        let pm = &py["mention"];
        assert_eq!(pm["id"], m.id.as_str());
        assert_eq!(pm["text"], m.text.as_str());
        assert_eq!(pm["created_at"], m.created_at.timestamp_micros());
        assert_eq!(
            pm["edited_at"].as_i64(),
            m.edited_at.map(|t| t.timestamp_micros())
        );
        assert_eq!(pm["author"]["handle"], m.author.handle.as_str());
        assert_eq!(py["fields_version"], reg.version.as_str());
        let fields = py["fields"].as_object().expect("fields");
        assert_eq!(fields.len(), reg.fields.len());
        for (spec, v) in reg.fields.iter().zip(record.values()) {
            let got = &fields[spec.name];
            match v {
                // Single precision on the wire (JSON text of a float may parse a last bit off).
                crate::Value::Float(x) if x.is_finite() => assert_eq!(
                    got.as_f64().map(|g| g as f32),
                    Some(*x as f32),
                    "{}: {}",
                    m.id,
                    spec.name
                ),
                other => assert_eq!(got, &other.to_json(), "{}: {}", m.id, spec.name),
            }
        }
        let sigs = py["signals"].as_array().expect("signals");
        assert_eq!(sigs.len(), matches.len());
        for (p, s) in sigs.iter().zip(matches.iter()) {
            assert_eq!(p["tenant"], s.signal.tenant());
            assert_eq!(p["signal"], s.signal.id());
            assert_eq!(p["version"], s.version);
            let hl: Vec<[u64; 2]> = p["highlights"]
                .as_array()
                .expect("highlights")
                .iter()
                .map(|h| {
                    [
                        h["start"].as_u64().unwrap_or(0),
                        h["end"].as_u64().unwrap_or(0),
                    ]
                })
                .collect();
            let want: Vec<[u64; 2]> = s
                .highlights
                .iter()
                .map(|[a, b]| [u64::from(*a), u64::from(*b)])
                .collect();
            assert_eq!(hl, want);
        }
    }
}

#[test]
fn a_restamped_record_differs_in_its_fields_version_only() {
    let layout = Layout::current();
    for m in mentions().iter().take(20) {
        let fields = crate::enrich(m);
        let mut record = Vec::new();
        encode(m, &fields, &signals(), &mut record);
        // Longer and shorter than the real version, so the length prefix changes size too.
        for version in ["7.old", &"9".repeat(200)] {
            let older = restamp(&record, version).expect("a record");
            let read = |r: &[u8]| -> Json {
                let mut out = Vec::new();
                layout.to_json(r, &mut out).expect("reads back");
                serde_json::from_slice(&out).expect("json")
            };
            let (mut now, then) = (read(&record), read(&older));
            assert_eq!(then["fields_version"], version);
            now["fields_version"] = Json::String(version.to_owned());
            assert_eq!(now, then);
        }
    }
    assert_eq!(restamp(b"not a record", "x"), None);
}

#[test]
fn a_cluster_id_set_after_encoding_reads_back_and_only_once() {
    let layout = Layout::current();
    let m = &collectors_like_mentions()[0];
    let fields = crate::enrich(m);
    let mut record = Vec::new();
    encode(m, &fields, &signals(), &mut record);
    let read = |r: &[u8]| -> Json {
        let mut out = Vec::new();
        layout.to_json(r, &mut out).expect("reads back");
        serde_json::from_slice(&out).expect("json")
    };
    let before = read(&record);
    assert_eq!(before.get("cluster_id"), None, "null is left out");
    let mut clustered = record.clone();
    // Long enough that its length prefix takes two bytes.
    let cluster = format!("bluesky:{}", "é".repeat(80));
    assert!(set_cluster(&mut clustered, &cluster));
    let mut after = read(&clustered);
    assert_eq!(after["cluster_id"], cluster.as_str());
    after.as_object_mut().expect("object").remove("cluster_id");
    assert_eq!(after, before, "nothing else changed");
    // The JSON form carries the same.
    let json = serde_json::to_value(EnrichedRef {
        cluster_id: Some(&cluster),
        ..EnrichedRef::with_signals(m, &fields, &signals())
    })
    .expect("json");
    assert_same(&m.id, &json, &read(&clustered));
    // A record whose cluster is set, or that is no record of this schema, is left alone.
    let again = clustered.clone();
    assert!(!set_cluster(&mut clustered, "other"));
    assert_eq!(clustered, again);
    let mut junk = b"junk\0".to_vec();
    assert!(!set_cluster(&mut junk, "x"));
    assert_eq!(junk, b"junk\0");
}

/// What a build before `edited_at` wrote for a mention never edited: this build's record
/// without the absent mark that now follows `collected_at`, just before the text.
fn drop_edited_mark(record: &mut Vec<u8>, text: &str) {
    assert!(!text.is_empty());
    // The length as Avro writes a long: zig-zag, then seven bits a byte, low bits first.
    let (mut needle, mut n) = (Vec::new(), (text.len() as u64) << 1);
    while n >= 0x80 {
        needle.push((n as u8) | 0x80);
        n >>= 7;
    }
    needle.push(n as u8);
    needle.extend_from_slice(text.as_bytes());
    let at = record
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the text is in the record");
    assert_eq!(record[at - 1], 0, "edited_at absent");
    record.remove(at - 1);
}

/// The layout of an older envelope (`generate`: its schema), a mention never edited, and that
/// mention's record as this build writes it, with the signal matches, to be cut to the older
/// form.
fn older(
    generate: fn(&[crate::registry::FieldSpec], &str) -> Json,
) -> (Layout, model::Mention, Vec<u8>) {
    let legacy = generate(&crate::registry().fields, "294.edf56814");
    let layout = Layout::from_schema(&legacy).expect("the older envelope is accepted");
    assert_ne!(layout.fingerprint, schema().fingerprint);
    let m = model::Mention {
        edited_at: None,
        ..collectors_like_mentions()[0].clone()
    };
    let mut record = Vec::new();
    encode(&m, &crate::enrich(&m), &signals(), &mut record);
    (layout, m, record)
}

/// Records written before `cluster_id` existed (their schema ends at `signals`, and their
/// mention has no `edited_at`) stay readable: a store keeps them beside new ones until they
/// expire or are reprocessed.
#[test]
fn records_of_the_schema_without_cluster_id_still_read() {
    let (layout, m, mut record) = older(schema::generate_without_cluster);
    // What the older build wrote: its fingerprint, no edited_at and no trailing cluster_id.
    assert_eq!(record.pop(), Some(0));
    drop_edited_mark(&mut record, &m.text);
    record[2..HEADER_LEN].copy_from_slice(&layout.fingerprint.to_le_bytes());
    let mut out = Vec::new();
    layout.to_json(&record, &mut out).expect("reads back");
    let old: Json = serde_json::from_slice(&out).expect("json");
    assert_eq!(old["mention"]["id"], m.id.as_str());
    assert_eq!(old["mention"]["text"], m.text.as_str());
    assert_eq!(old["mention"].get("edited_at"), None);
    assert_eq!(old.get("cluster_id"), None);
    assert_eq!(
        old["signals"].as_array().map(Vec::len),
        Some(signals().len())
    );
}

/// Records written after `cluster_id` but before the mention's `edited_at` (until December
/// 2026) stay readable in full, by every reader: the whole record, the matches alone, an
/// envelope with picked fields.
#[test]
fn records_of_the_schema_without_edited_at_still_read() {
    let (layout, m, mut record) = older(schema::generate_without_edited);
    let mut current = Vec::new();
    Layout::current()
        .to_json(&record, &mut current)
        .expect("reads back");
    assert!(set_cluster(&mut record, "c-1"));
    drop_edited_mark(&mut record, &m.text);
    record[2..HEADER_LEN].copy_from_slice(&layout.fingerprint.to_le_bytes());
    let mut out = Vec::new();
    layout.to_json(&record, &mut out).expect("reads back");
    let mut old: Json = serde_json::from_slice(&out).expect("json");
    assert_eq!(old["cluster_id"], "c-1");
    old.as_object_mut().expect("object").remove("cluster_id");
    let current: Json = serde_json::from_slice(&current).expect("json");
    assert_same(&m.id, &current, &old);
    assert_eq!(layout.signals_of(&record).expect("steps over"), signals());
    let pick = layout.field_index("text_chars").expect("a field");
    let envelope = layout.envelope(&record, &[pick]).expect("envelope");
    assert_eq!(envelope.mention, m);
    assert_eq!(envelope.picked, [current["fields"]["text_chars"].clone()]);
}

/// An edit's mark travels in the record and reads back, through the full read and the envelope.
#[test]
fn an_edit_mark_reads_back() {
    let m = &collectors_like_mentions()[0];
    assert!(m.edited_at.is_some(), "the full test mention is an edit");
    let fields = crate::enrich(m);
    let mut record = Vec::new();
    encode(m, &fields, &[], &mut record);
    let layout = Layout::current();
    assert_eq!(layout.envelope(&record, &[]).expect("envelope").mention, *m);
    let mut out = Vec::new();
    layout.to_json(&record, &mut out).expect("reads back");
    let back: Json = serde_json::from_slice(&out).expect("json");
    assert_eq!(back["mention"]["edited_at"], "2026-11-26T05:06:07.654321Z");
}

/// `signals_of` steps over the mention and the fields without decoding them; it must land on the
/// matches exactly as a full read does, for mentions with every optional part (media, geo, raw,
/// extra, profile counts) and none, and refuse a cut record rather than misread it.
#[test]
fn signals_of_steps_to_the_same_matches_a_full_read_finds() {
    let layout = Layout::current();
    let all_signals = signals();
    let mut posts = crate::corpus::real_posts();
    posts.truncate(200);
    posts.extend(collectors_like_mentions());
    posts.extend(mentions());
    for (i, m) in posts.iter().enumerate() {
        let fields = crate::enrich(m);
        let matches = if i % 3 == 0 { &all_signals[..] } else { &[] };
        let mut record = Vec::new();
        encode(m, &fields, matches, &mut record);
        if i % 2 == 0 {
            assert!(set_cluster(&mut record, "c"));
        }
        assert_eq!(
            layout.signals_of(&record).expect("steps over"),
            matches,
            "{}",
            m.id
        );
        for cut in [record.len() / 2, HEADER_LEN + 3] {
            assert!(
                layout.signals_of(&record[..cut]).is_err(),
                "{} cut at {cut}",
                m.id
            );
        }
    }
}
