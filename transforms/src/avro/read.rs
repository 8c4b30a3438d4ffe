//! Reads compact records back into the enriched JSON form, for any schema whose envelope (the
//! mention, the signal matches) is this build's: the catalogue part is read from the schema, so a
//! store can hold records of older and newer catalogues side by side.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};
use serde_json::Value as Json;

use model::{Author, Engagement, Geo, Media, Mention, References, SignalId, SignalMatch};

use super::schema::{
    canonical_form, crc64_avro, field_type, generate, generate_without_cluster,
    generate_without_edited,
};
use crate::registry::{FieldSpec, FieldType};

/// Why a compact record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a single-object Avro record (no C3 01 header)")]
    NoHeader,
    #[error("written with schema {0:016x}, which this reader does not know")]
    UnknownSchema(u64),
    #[error("truncated record")]
    Truncated,
    #[error("malformed record: {0}")]
    Malformed(&'static str),
    #[error("schema not readable: {0}")]
    Schema(String),
}

/// What a reader needs to know of one schema: its fingerprint and the catalogue's field list.
#[derive(Debug, Clone)]
pub struct Layout {
    pub fingerprint: u64,
    fields: Vec<(String, FieldType, bool)>,
    /// Whether records end with `cluster_id` (every schema since 294.edf56814's).
    cluster: bool,
    /// Whether the mention has `edited_at` after `collected_at` (every schema since December
    /// 2026's).
    edited: bool,
    /// Each field's position in `fields`, by name.
    index: std::collections::HashMap<String, usize>,
}

/// Each field's position, by name.
fn index_of(fields: &[(String, FieldType, bool)]) -> std::collections::HashMap<String, usize> {
    fields
        .iter()
        .enumerate()
        .map(|(i, (name, _, _))| (name.clone(), i))
        .collect()
}

impl Layout {
    /// The layout of this build's schema.
    pub fn current() -> Layout {
        let reg = crate::registry();
        let fields: Vec<_> = reg
            .fields
            .iter()
            .map(|f| (f.name.to_owned(), f.ty, f.nullable))
            .collect();
        Layout {
            fingerprint: super::schema().fingerprint,
            index: index_of(&fields),
            fields,
            cluster: true,
            edited: true,
        }
    }

    /// The layout of a schema (an `.avsc` document). Fails unless everything outside the
    /// catalogue's `Fields` record is what this build writes.
    pub fn from_schema(schema: &Json) -> Result<Layout, DecodeError> {
        let bad = |why: &str| DecodeError::Schema(why.to_owned());
        let canonical = canonical_form(schema).map_err(DecodeError::Schema)?;
        let top = schema
            .get("fields")
            .and_then(Json::as_array)
            .ok_or_else(|| bad("no top-level fields"))?;
        let catalogue = top
            .iter()
            .find(|f| f.get("name").and_then(Json::as_str) == Some("fields"))
            .and_then(|f| f.get("type"))
            .and_then(|t| t.get("fields"))
            .and_then(Json::as_array)
            .ok_or_else(|| bad("no `fields` record"))?;
        // The envelope must match ours exactly: compare canonical forms with the catalogue cut out.
        let mut envelope = schema.clone();
        if let Some(Json::Array(top)) = envelope.get_mut("fields") {
            for f in top.iter_mut() {
                if f.get("name").and_then(Json::as_str) == Some("fields") {
                    f["type"]["fields"] = Json::Array(Vec::new());
                }
            }
        }
        let envelope = canonical_form(&envelope).map_err(DecodeError::Schema)?;
        let envelope_of = |g: fn(&[FieldSpec], &str) -> Json| canonical_form(&g(&[], ""));
        let (cluster, edited) = if envelope == envelope_of(generate).map_err(DecodeError::Schema)? {
            (true, true)
        } else if envelope == envelope_of(generate_without_edited).map_err(DecodeError::Schema)? {
            (true, false)
        } else if envelope == envelope_of(generate_without_cluster).map_err(DecodeError::Schema)? {
            (false, false)
        } else {
            return Err(bad(
                "its mention or signal layout differs from this build's",
            ));
        };
        let mut fields = Vec::with_capacity(catalogue.len());
        for f in catalogue {
            let name = f
                .get("name")
                .and_then(Json::as_str)
                .ok_or_else(|| bad("a field without a name"))?;
            let ty = f.get("type").ok_or_else(|| bad("a field without a type"))?;
            let kind = KINDS
                .iter()
                .flat_map(|&k| [(k, false), (k, true)])
                .find(|&(k, n)| {
                    let spec = FieldSpec {
                        nullable: n,
                        ..FieldSpec::new("", k, "")
                    };
                    field_type(&spec) == *ty
                })
                .ok_or_else(|| DecodeError::Schema(format!("field {name}: unsupported type")))?;
            fields.push((name.to_owned(), kind.0, kind.1));
        }
        Ok(Layout {
            fingerprint: crc64_avro(canonical.as_bytes()),
            index: index_of(&fields),
            fields,
            cluster,
            edited,
        })
    }

    /// Reads a record written under this layout's schema and writes its JSON form (the same
    /// shape as [`crate::EnrichedRef`] serialises to) into `out`.
    pub fn to_json(&self, record: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let mut r = self.body(record)?;
        let doc = Decoded {
            schema_version: r.long()?,
            fields_version: r.str()?,
            mention: r.mention(self.edited)?,
            fields: self.read_fields(&mut r)?,
            signals: r.signals()?,
            cluster_id: if self.cluster {
                r.opt(|r| r.str())?
            } else {
                None
            },
        };
        if !r.0.is_empty() {
            return Err(DecodeError::Malformed("bytes after the record"));
        }
        serde_json::to_writer(out, &doc).map_err(|_| DecodeError::Malformed("unserialisable"))
    }

    /// The signal matches of a record alone, without building its JSON: what a consumer that
    /// only wants matched mentions can check first when it does not read the `matched` header
    /// (the live push hub reads the header, then [`Layout::envelope`]).
    pub fn signals_of(&self, record: &[u8]) -> Result<Vec<SignalMatch>, DecodeError> {
        // Everything before the matches is stepped over, not decoded: most records match
        // nothing, and this is asked of every record.
        let mut r = self.body(record)?;
        r.long()?;
        r.skip_bytes()?;
        r.skip_mention(self.edited)?;
        self.skip_fields(&mut r)?;
        r.signals()
    }

    /// A reader of a record's body, once its header says it was written with this layout.
    fn body<'r>(&self, record: &'r [u8]) -> Result<Reader<'r>, DecodeError> {
        let fp = super::fingerprint_of(record).ok_or(DecodeError::NoHeader)?;
        if fp != self.fingerprint {
            return Err(DecodeError::UnknownSchema(fp));
        }
        Ok(Reader(&record[super::HEADER_LEN..]))
    }

    /// The position of catalogue field `name` in this layout, for [`Layout::envelope`].
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// A record's mention, signal matches and cluster, with the catalogue fields at `picks`
    /// (positions from [`Layout::field_index`]) as their JSON values, without building the whole
    /// JSON form: what a reader of every matched record (the live push hub) needs. The other
    /// fields are stepped over. The values are those [`Layout::to_json`] writes, read back.
    pub fn envelope(&self, record: &[u8], picks: &[usize]) -> Result<Envelope, DecodeError> {
        let mut r = self.body(record)?;
        r.long()?;
        r.skip_bytes()?;
        let mention = r.mention(self.edited)?;
        let picked = self.read_picks(&mut r, picks)?;
        let signals = r.signals()?;
        let cluster_id = if self.cluster {
            r.opt(|r| r.str())?.map(str::to_owned)
        } else {
            None
        };
        if !r.0.is_empty() {
            return Err(DecodeError::Malformed("bytes after the record"));
        }
        Ok(Envelope {
            mention,
            signals,
            cluster_id,
            picked,
        })
    }

    /// The catalogue fields at `picks` of a record, as [`Layout::envelope`] gives them, reading
    /// nothing else: what a client that asked for some fields of each event gets.
    pub fn fields_of(&self, record: &[u8], picks: &[usize]) -> Result<Vec<Json>, DecodeError> {
        let mut r = self.body(record)?;
        r.long()?;
        r.skip_bytes()?;
        r.skip_mention(self.edited)?;
        self.read_picks(&mut r, picks)
    }

    /// Reads the catalogue's fields, keeping those at `picks` as JSON values (in their order;
    /// null when absent) and stepping over the rest.
    fn read_picks(&self, r: &mut Reader<'_>, picks: &[usize]) -> Result<Vec<Json>, DecodeError> {
        let mut picked = vec![Json::Null; picks.len()];
        // (position, slot) in the fields' order, so one pass serves any number of picks.
        let mut order: Vec<(usize, usize)> = picks.iter().copied().zip(0..).collect();
        order.sort_unstable();
        let mut next = order.iter().peekable();
        for (i, (_, ty, nullable)) in self.fields.iter().enumerate() {
            let wanted = next.peek().is_some_and(|&&(p, _)| p == i);
            if *nullable && !r.present()? {
                // Absent: its slots stay null.
                while next.next_if(|&&(p, _)| p == i).is_some() {}
                continue;
            }
            if !wanted {
                skip_cell(r, *ty)?;
                continue;
            }
            let value = match ty {
                FieldType::Bool => Json::Bool(r.bool()?),
                FieldType::Int => Json::from(r.long()?),
                // As `to_json` writes it: the shortest form of the single-precision value.
                FieldType::Float => {
                    let x = r.float()?;
                    x.to_string()
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map_or(Json::Null, Json::Number)
                }
                FieldType::Str => Json::from(r.str()?),
                FieldType::StrList => Json::from(r.array(|r| r.str())?),
                FieldType::IntList => Json::from(r.array(|r| r.long())?),
            };
            // A position asked for twice gets the value twice.
            while let Some(&(_, slot)) = next.next_if(|&&(p, _)| p == i) {
                picked[slot] = value.clone();
            }
        }
        Ok(picked)
    }

    /// Steps over the catalogue's fields without reading them.
    fn skip_fields(&self, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        for (_, ty, nullable) in &self.fields {
            if *nullable && !r.present()? {
                continue;
            }
            skip_cell(r, *ty)?;
        }
        Ok(())
    }

    fn read_fields<'a>(&'a self, r: &mut Reader<'a>) -> Result<Fields<'a>, DecodeError> {
        let mut cells = Vec::with_capacity(self.fields.len());
        for (name, ty, nullable) in &self.fields {
            let cell = if *nullable && !r.present()? {
                Cell::Null
            } else {
                match ty {
                    FieldType::Bool => Cell::Bool(r.bool()?),
                    FieldType::Int => Cell::Int(r.long()?),
                    FieldType::Float => Cell::Float(r.float()?),
                    FieldType::Str => Cell::Str(r.str()?),
                    FieldType::StrList => Cell::StrList(r.array(|r| r.str())?),
                    FieldType::IntList => Cell::IntList(r.array(|r| r.long())?),
                }
            };
            cells.push((name.as_str(), cell));
        }
        Ok(Fields(cells))
    }
}

/// Steps over one present field's value.
fn skip_cell(r: &mut Reader<'_>, ty: FieldType) -> Result<(), DecodeError> {
    match ty {
        FieldType::Bool => {
            r.byte()?;
        }
        FieldType::Int => {
            r.long()?;
        }
        FieldType::Float => {
            r.take(4)?;
        }
        FieldType::Str => r.skip_bytes()?,
        FieldType::StrList => r.skip_array(Reader::skip_bytes)?,
        FieldType::IntList => r.skip_array(|r| r.long().map(drop))?,
    }
    Ok(())
}

/// What [`Layout::envelope`] reads of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub mention: Mention,
    pub signals: Vec<SignalMatch>,
    pub cluster_id: Option<String>,
    /// The picked catalogue fields' values, in the order asked for (null when absent).
    pub picked: Vec<Json>,
}

/// Every field type, in the order a schema's type is matched against them.
pub(super) const KINDS: [FieldType; 6] = [
    FieldType::Bool,
    FieldType::Int,
    FieldType::Float,
    FieldType::Str,
    FieldType::StrList,
    FieldType::IntList,
];

#[derive(Serialize)]
struct Decoded<'a> {
    schema_version: i64,
    fields_version: &'a str,
    mention: Mention,
    fields: Fields<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    signals: Vec<SignalMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_id: Option<&'a str>,
}

struct Fields<'a>(Vec<(&'a str, Cell<'a>)>);

enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f32),
    Str(&'a str),
    StrList(Vec<&'a str>),
    IntList(Vec<i64>),
}

impl Serialize for Fields<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, cell) in &self.0 {
            map.serialize_entry(name, cell)?;
        }
        map.end()
    }
}

impl Serialize for Cell<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Null => s.serialize_unit(),
            Cell::Bool(b) => s.serialize_bool(*b),
            Cell::Int(n) => s.serialize_i64(*n),
            // Shortest form of the single-precision value: 0.4215, not 0.42149999737739563.
            Cell::Float(x) if x.is_finite() => s.serialize_f32(*x),
            Cell::Float(_) => s.serialize_unit(),
            Cell::Str(v) => s.serialize_str(v),
            Cell::StrList(v) => {
                let mut seq = s.serialize_seq(Some(v.len()))?;
                for x in v {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Cell::IntList(v) => {
                let mut seq = s.serialize_seq(Some(v.len()))?;
                for x in v {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.0.split_first().ok_or(DecodeError::Truncated)?;
        self.0 = rest;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.0.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn long(&mut self) -> Result<i64, DecodeError> {
        let mut z = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok((z >> 1) as i64 ^ -((z & 1) as i64));
            }
        }
        Err(DecodeError::Malformed("varint longer than 10 bytes"))
    }

    fn ulong(&mut self) -> Result<u64, DecodeError> {
        u64::try_from(self.long()?).map_err(|_| DecodeError::Malformed("negative count"))
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let n = self.ulong()?;
        usize::try_from(n).map_err(|_| DecodeError::Truncated)
    }

    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Malformed("boolean not 0 or 1")),
        }
    }

    fn float(&mut self) -> Result<f32, DecodeError> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn double(&mut self) -> Result<f64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(f64::from_le_bytes(a))
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.len()?;
        std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::Malformed("string not UTF-8"))
    }

    /// A `["null", T]` union's branch: true for T.
    fn present(&mut self) -> Result<bool, DecodeError> {
        match self.long()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Malformed("union branch out of range")),
        }
    }

    fn opt<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        if self.present()? {
            f(self).map(Some)
        } else {
            Ok(None)
        }
    }

    fn opt_string(&mut self) -> Result<Option<String>, DecodeError> {
        self.opt(|r| r.str().map(str::to_owned))
    }

    fn opt_u64(&mut self) -> Result<Option<u64>, DecodeError> {
        self.opt(|r| r.ulong())
    }

    fn array<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let mut out = Vec::new();
        loop {
            let mut n = self.long()?;
            if n == 0 {
                return Ok(out);
            }
            if n < 0 {
                // A negative count is followed by the block's size in bytes.
                n = n
                    .checked_neg()
                    .ok_or(DecodeError::Malformed("block count"))?;
                self.long()?;
            }
            // Every item takes at least one byte: a count beyond the rest is malformed.
            if n as u64 > self.0.len() as u64 {
                return Err(DecodeError::Truncated);
            }
            for _ in 0..n {
                out.push(item(self)?);
            }
        }
    }

    fn time(&mut self) -> Result<model::Timestamp, DecodeError> {
        let micros = self.long()?;
        chrono::DateTime::from_timestamp_micros(micros)
            .ok_or(DecodeError::Malformed("timestamp out of range"))
    }

    fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<Option<T>, DecodeError> {
        self.opt(|r| {
            serde_json::from_str(r.str()?).map_err(|_| DecodeError::Malformed("embedded JSON"))
        })
    }

    /// A mention, with `edited_at` where the schema has it (`edited`).
    fn mention(&mut self, edited: bool) -> Result<Mention, DecodeError> {
        let id = self.str()?.to_owned();
        let source = enum_from(self.str()?)?;
        let kind = enum_from(self.str()?)?;
        let url = self.opt_string()?;
        let created_at = self.time()?;
        let collected_at = self.time()?;
        let edited_at = if edited {
            self.opt(|r| r.time())?
        } else {
            None
        };
        let text = self.str()?.to_owned();
        let lang_hint = self.opt_string()?;
        let author = Author {
            id: self.str()?.to_owned(),
            handle: self.str()?.to_owned(),
            display_name: self.opt_string()?,
            followers: self.opt_u64()?,
            following: self.opt_u64()?,
            posts: self.opt_u64()?,
            verified: self.opt(|r| r.bool())?,
            created_at: self.opt(|r| r.time())?,
        };
        let engagement = Engagement {
            likes: self.opt_u64()?,
            reposts: self.opt_u64()?,
            replies: self.opt_u64()?,
            quotes: self.opt_u64()?,
            views: self.opt_u64()?,
        };
        let refs = References {
            reply_to: self.opt_string()?,
            conversation: self.opt_string()?,
            quote_of: self.opt_string()?,
            repost_of: self.opt_string()?,
        };
        let media = self.array(|r| {
            Ok(Media {
                kind: enum_from(r.str()?)?,
                url: r.str()?.to_owned(),
                alt_text: r.opt_string()?,
            })
        })?;
        let geo = self.opt(|r| {
            Ok(Geo {
                lat: r.opt(|r| r.double())?,
                lon: r.opt(|r| r.double())?,
                place: r.opt_string()?,
                country: r.opt_string()?,
            })
        })?;
        let raw = self.json()?;
        let extra = self.json()?.unwrap_or_default();
        Ok(Mention {
            id,
            source,
            kind,
            url,
            created_at,
            collected_at,
            edited_at,
            text,
            lang_hint,
            author,
            engagement,
            refs,
            media,
            geo,
            raw,
            extra,
        })
    }

    /// Steps over a string or bytes.
    fn skip_bytes(&mut self) -> Result<(), DecodeError> {
        let n = self.len()?;
        self.take(n).map(drop)
    }

    fn skip_opt(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        if self.present()? { f(self) } else { Ok(()) }
    }

    /// Steps over an array, a block at a time where the writer gave the block's size.
    fn skip_array(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        loop {
            let n = self.long()?;
            if n == 0 {
                return Ok(());
            }
            if n < 0 {
                let size = self.len()?;
                self.take(size)?;
                continue;
            }
            if n as u64 > self.0.len() as u64 {
                return Err(DecodeError::Truncated);
            }
            for _ in 0..n {
                item(self)?;
            }
        }
    }

    /// Steps over a mention (the layout [`Reader::mention`] reads).
    fn skip_mention(&mut self, edited: bool) -> Result<(), DecodeError> {
        let long = |r: &mut Self| r.long().map(drop);
        for _ in 0..3 {
            self.skip_bytes()?; // id, source, kind
        }
        self.skip_opt(Reader::skip_bytes)?; // url
        long(self)?; // created_at
        long(self)?; // collected_at
        if edited {
            self.skip_opt(long)?; // edited_at
        }
        self.skip_bytes()?; // text
        self.skip_opt(Reader::skip_bytes)?; // lang_hint
        self.skip_bytes()?; // author: id
        self.skip_bytes()?; // handle
        self.skip_opt(Reader::skip_bytes)?; // display_name
        for _ in 0..3 {
            self.skip_opt(long)?; // followers, following, posts
        }
        self.skip_opt(|r| r.bool().map(drop))?; // verified
        self.skip_opt(long)?; // created_at
        for _ in 0..5 {
            self.skip_opt(long)?; // engagement
        }
        for _ in 0..4 {
            self.skip_opt(Reader::skip_bytes)?; // refs
        }
        self.skip_array(|r| {
            r.skip_bytes()?; // kind
            r.skip_bytes()?; // url
            r.skip_opt(Reader::skip_bytes) // alt_text
        })?;
        self.skip_opt(|r| {
            r.skip_opt(|r| r.take(8).map(drop))?; // lat
            r.skip_opt(|r| r.take(8).map(drop))?; // lon
            r.skip_opt(Reader::skip_bytes)?; // place
            r.skip_opt(Reader::skip_bytes) // country
        })?;
        self.skip_opt(Reader::skip_bytes)?; // raw
        self.skip_opt(Reader::skip_bytes) // extra
    }

    fn signals(&mut self) -> Result<Vec<SignalMatch>, DecodeError> {
        self.array(|r| {
            let tenant = r.str()?;
            let id = r.str()?;
            let version = r.ulong()?;
            let mut highlights = model::Highlights::new();
            for [s, e] in r.array(|r| Ok([r.ulong()?, r.ulong()?]))? {
                let c = |x: u64| u32::try_from(x).map_err(|_| DecodeError::Malformed("offset"));
                highlights.push([c(s)?, c(e)?]);
            }
            Ok(SignalMatch {
                signal: SignalId::new(tenant, id),
                version,
                highlights,
            })
        })
    }
}

/// A unit enum (source, kind, media kind) from its wire name.
fn enum_from<T: serde::de::DeserializeOwned>(name: &str) -> Result<T, DecodeError> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name))
        .map_err(|_| DecodeError::Malformed("unknown enum name"))
}
