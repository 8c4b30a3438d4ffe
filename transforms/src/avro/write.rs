//! Writes an enriched mention as a single-object encoded Avro record (see [`super::schema`]).

use model::{Mention, SignalMatch, Timestamp};

use crate::catalogue::Record;
use crate::registry::{FieldType, Value};

/// Appends `m`, its fields and its signal matches to `out` as one single-object encoded record
/// under [`super::schema()`]. Never fails: every value has a representation (a slot of the wrong
/// type, which a correct extractor never leaves, is written as its type's zero).
pub fn encode(m: &Mention, fields: &Record, signals: &[SignalMatch], out: &mut Vec<u8>) {
    out.extend_from_slice(&super::MARKER);
    out.extend_from_slice(&super::schema().fingerprint.to_le_bytes());
    encode_body(m, fields, signals, out);
}

/// Appends the record's body alone, without the single-object header (for Avro object container
/// files, which name their schema once in the file header).
pub fn encode_body(m: &Mention, fields: &Record, signals: &[SignalMatch], out: &mut Vec<u8>) {
    let mut w = Writer(out);
    w.int(i64::from(model::SCHEMA_VERSION));
    w.str(&crate::registry().version);
    w.mention(m);
    for (spec, v) in crate::registry().fields.iter().zip(fields.values()) {
        w.field(spec.ty, spec.nullable, v);
    }
    w.block_len(signals.len());
    for s in signals {
        w.str(s.signal.tenant());
        w.str(s.signal.id());
        w.int(s.version.min(i64::MAX as u64) as i64);
        w.block_len(s.highlights.len());
        for [start, end] in &s.highlights {
            w.int(i64::from(*start));
            w.int(i64::from(*end));
        }
        w.end_blocks(s.highlights.len());
    }
    w.end_blocks(signals.len());
    // `cluster_id`: assigned after enrichment by [`set_cluster`].
    w.present(false);
}

/// Sets the `cluster_id` of a record [`encode`] just wrote (whose `cluster_id` is still null):
/// the null branch, its last byte, becomes the string. Returns false, leaving `record` as it was,
/// if `record` is not such a record.
pub fn set_cluster(record: &mut Vec<u8>, cluster: &str) -> bool {
    if super::fingerprint_of(record) != Some(super::schema().fingerprint)
        || record.last() != Some(&0)
    {
        return false;
    }
    record.pop();
    let mut w = Writer(record);
    w.present(true);
    w.str(cluster);
    true
}

/// `record` (single-object encoded) with its `fields_version` replaced and all else as it was:
/// the record an older catalogue of the same layout would have written. For reprocessing drills
/// and their tests. `None` if `record` is not a record.
pub fn restamp(record: &[u8], fields_version: &str) -> Option<Vec<u8>> {
    super::fingerprint_of(record)?;
    let body = &record[super::HEADER_LEN..];
    // Varints end at the first byte without the high bit.
    let varint_end = |b: &[u8]| b.iter().position(|x| x & 0x80 == 0).map(|i| i + 1);
    let after_schema = varint_end(body)?;
    let len_bytes = varint_end(&body[after_schema..])?;
    let mut len = 0u64;
    for (i, b) in body[after_schema..after_schema + len_bytes]
        .iter()
        .enumerate()
    {
        len |= u64::from(b & 0x7f) << (7 * i);
    }
    let len = usize::try_from(len >> 1).ok()?; // zig-zag: lengths are never negative
    let rest = body.get(after_schema + len_bytes + len..)?;
    let mut out = record[..super::HEADER_LEN + after_schema].to_vec();
    Writer(&mut out).str(fields_version);
    out.extend_from_slice(rest);
    Some(out)
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    /// Avro `int` and `long`: zig-zag, then a base-128 varint.
    #[inline]
    fn int(&mut self, n: i64) {
        let mut z = ((n << 1) ^ (n >> 63)) as u64;
        while z >= 0x80 {
            self.0.push((z as u8) | 0x80);
            z >>= 7;
        }
        self.0.push(z as u8);
    }

    #[inline]
    fn uint(&mut self, n: u64) {
        self.int(i64::try_from(n).unwrap_or(i64::MAX));
    }

    #[inline]
    fn str(&mut self, s: &str) {
        self.int(s.len() as i64);
        self.0.extend_from_slice(s.as_bytes());
    }

    #[inline]
    fn bool(&mut self, b: bool) {
        self.0.push(u8::from(b));
    }

    /// Opens an array: one block of `n` items (nothing when empty; [`Self::end_blocks`] closes).
    #[inline]
    fn block_len(&mut self, n: usize) {
        if n > 0 {
            self.int(n as i64);
        }
    }

    #[inline]
    fn end_blocks(&mut self, _n: usize) {
        self.0.push(0);
    }

    /// A `["null", T]` union's branch.
    #[inline]
    fn present(&mut self, some: bool) {
        self.0.push(if some { 2 } else { 0 }); // zig-zag of 1 and 0
    }

    fn opt_str(&mut self, s: Option<&str>) {
        self.present(s.is_some());
        if let Some(s) = s {
            self.str(s);
        }
    }

    fn opt_uint(&mut self, n: Option<u64>) {
        self.present(n.is_some());
        if let Some(n) = n {
            self.uint(n);
        }
    }

    fn time(&mut self, t: &Timestamp) {
        self.int(t.timestamp_micros());
    }

    fn mention(&mut self, m: &Mention) {
        self.str(&m.id);
        self.str(m.source.as_str());
        self.str(m.kind.as_str());
        self.opt_str(m.url.as_deref());
        self.time(&m.created_at);
        self.time(&m.collected_at);
        self.present(m.edited_at.is_some());
        if let Some(t) = &m.edited_at {
            self.time(t);
        }
        self.str(&m.text);
        self.opt_str(m.lang_hint.as_deref());

        let a = &m.author;
        self.str(&a.id);
        self.str(&a.handle);
        self.opt_str(a.display_name.as_deref());
        self.opt_uint(a.followers);
        self.opt_uint(a.following);
        self.opt_uint(a.posts);
        self.present(a.verified.is_some());
        if let Some(v) = a.verified {
            self.bool(v);
        }
        self.present(a.created_at.is_some());
        if let Some(t) = &a.created_at {
            self.time(t);
        }

        let e = &m.engagement;
        for n in [e.likes, e.reposts, e.replies, e.quotes, e.views] {
            self.opt_uint(n);
        }
        let r = &m.refs;
        for s in [&r.reply_to, &r.conversation, &r.quote_of, &r.repost_of] {
            self.opt_str(s.as_deref());
        }

        self.block_len(m.media.len());
        for media in &m.media {
            self.str(media_kind(media.kind));
            self.str(&media.url);
            self.opt_str(media.alt_text.as_deref());
        }
        self.end_blocks(m.media.len());

        self.present(m.geo.is_some());
        if let Some(g) = &m.geo {
            for x in [g.lat, g.lon] {
                self.present(x.is_some());
                if let Some(x) = x {
                    self.0.extend_from_slice(&x.to_le_bytes());
                }
            }
            self.opt_str(g.place.as_deref());
            self.opt_str(g.country.as_deref());
        }

        let raw = m.raw.as_ref().map(|v| v.to_string());
        self.opt_str(raw.as_deref());
        let extra =
            (!m.extra.is_empty()).then(|| serde_json::Value::Object(m.extra.clone()).to_string());
        self.opt_str(extra.as_deref());
    }

    fn field(&mut self, ty: FieldType, nullable: bool, v: &Value) {
        let null = match (ty, v) {
            (_, Value::Null) => true,
            (FieldType::Float, Value::Float(x)) => !x.is_finite(),
            _ => false,
        };
        if nullable {
            self.present(!null);
            if null {
                return;
            }
        }
        match (ty, v) {
            (FieldType::Bool, Value::Bool(b)) => self.bool(*b),
            (FieldType::Int, Value::Int(n)) => self.int(*n),
            (FieldType::Float, Value::Float(x)) if x.is_finite() => {
                self.0.extend_from_slice(&(*x as f32).to_le_bytes())
            }
            (FieldType::Str, Value::Str(s)) => self.str(s),
            (FieldType::StrList, Value::StrList(list)) => {
                self.block_len(list.len());
                for s in list {
                    self.str(s);
                }
                self.end_blocks(list.len());
            }
            (FieldType::IntList, Value::IntList(list)) => {
                self.block_len(list.len());
                for n in list {
                    self.uint(*n);
                }
                self.end_blocks(list.len());
            }
            // A slot that does not hold its field's type: the type's zero keeps the record
            // readable.
            (FieldType::Bool, _) => self.bool(false),
            (FieldType::Int, _) => self.int(0),
            (FieldType::Float, _) => self.0.extend_from_slice(&0f32.to_le_bytes()),
            (FieldType::Str, _) => self.str(""),
            (FieldType::StrList | FieldType::IntList, _) => self.end_blocks(0),
        }
    }
}

fn media_kind(k: model::MediaKind) -> &'static str {
    match k {
        model::MediaKind::Image => "image",
        model::MediaKind::Video => "video",
        model::MediaKind::Gif => "gif",
        model::MediaKind::Audio => "audio",
        model::MediaKind::Link => "link",
    }
}

/// Writes an Avro object container file (uncompressed) of records under [`super::schema()`]:
/// what `backchannel enrich --format avro` prints, readable by any Avro library
/// (`fastavro.reader`, `avro-tools tojson`).
#[derive(Debug)]
pub struct ContainerWriter<W: std::io::Write> {
    out: W,
    sync: [u8; 16],
    block: Vec<u8>,
    count: usize,
}

/// Records per container block.
const BLOCK_RECORDS: usize = 1_000;

impl<W: std::io::Write> ContainerWriter<W> {
    /// Writes the file header. `sync` is the 16-byte marker between blocks (any value; a random
    /// one guards against a marker appearing inside data).
    pub fn new(mut out: W, sync: [u8; 16]) -> std::io::Result<Self> {
        let mut head = Vec::new();
        head.extend_from_slice(b"Obj\x01");
        let mut w = Writer(&mut head);
        w.block_len(2);
        w.str("avro.schema");
        w.str(&super::schema().canonical);
        w.str("avro.codec");
        w.str("null");
        w.end_blocks(2);
        head.extend_from_slice(&sync);
        out.write_all(&head)?;
        Ok(ContainerWriter {
            out,
            sync,
            block: Vec::new(),
            count: 0,
        })
    }

    /// Adds one record.
    pub fn append(
        &mut self,
        m: &Mention,
        fields: &Record,
        signals: &[SignalMatch],
    ) -> std::io::Result<()> {
        encode_body(m, fields, signals, &mut self.block);
        self.count += 1;
        if self.count >= BLOCK_RECORDS {
            self.flush_block()?;
        }
        Ok(())
    }

    fn flush_block(&mut self) -> std::io::Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let mut head = Vec::new();
        let mut w = Writer(&mut head);
        w.int(self.count as i64);
        w.int(self.block.len() as i64);
        self.out.write_all(&head)?;
        self.out.write_all(&self.block)?;
        self.out.write_all(&self.sync)?;
        self.block.clear();
        self.count = 0;
        Ok(())
    }

    /// Writes the last block and returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.flush_block()?;
        self.out.flush()?;
        Ok(self.out)
    }
}
