//! Segments: how the embedded store keeps mentions on disk.
//!
//! A segment holds the mentions of one write, side by side and compressed together (zstd, level
//! [`LEVEL`]), so the field values they share (schema names, sources, languages, repeated words)
//! compress against each other: 128 KiB of compact records shrink to ~670 B a mention on real
//! posts and ~500 B on the synthetic corpus, against 1,027 and 934 B compressed one by one with
//! LZ4 (`cargo run --release -p benches --bin sizes`). Its compressed bytes are cut into chunks
//! that fill a 4 KiB B-tree page each, written in the order of their keys, so the pages are full,
//! where mentions keyed by id (inserted in random order) left them a third empty.
//!
//! The body (before compression) is its mentions one after another, in id order:
//!
//! ```text
//! u32 id length, id, i64 created_at millis, u16 topic count, (u16 length, topic)…, u32 record length, record
//! ```
//!
//! All integers little-endian. A mention is found by reading the body through.
//!
//! Compressed, a segment is one zstd frame, which records the body's length. Segments written
//! before zstd (up to stop 28) are LZ4 blocks with the body's length before them as a u32; they
//! are told apart by zstd's magic number, which as such a length would be 683 MB, and read as
//! they are until a rewrite or retention replaces them.

use crate::error::{Error, Result};

/// A segment's raw size at which the writer starts another. A read by id decompresses the whole
/// segment, so larger segments make reads dearer for a few bytes a mention less.
pub(super) const RAW_TARGET: usize = 128 << 10;

/// Compressed bytes per chunk: a leaf page of 4,096 bytes holds one chunk with its 20-byte key,
/// the value's 4-byte end offset and the page's 4-byte header.
pub(super) const CHUNK: usize = 4096 - 4 - 4 - 20;

/// One mention in a segment.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Slot<'a> {
    pub id: &'a str,
    pub created_ms: i64,
    pub topics: Vec<&'a str>,
    pub record: &'a [u8],
}

/// Appends a mention to a body. Topics must be at most `u16::MAX` bytes each and fewer than
/// `u16::MAX`; records and ids under 4 GiB.
pub(super) fn push(body: &mut Vec<u8>, slot: &Slot<'_>) {
    body.extend_from_slice(&(slot.id.len() as u32).to_le_bytes());
    body.extend_from_slice(slot.id.as_bytes());
    body.extend_from_slice(&slot.created_ms.to_le_bytes());
    body.extend_from_slice(&(slot.topics.len() as u16).to_le_bytes());
    for t in &slot.topics {
        body.extend_from_slice(&(t.len() as u16).to_le_bytes());
        body.extend_from_slice(t.as_bytes());
    }
    body.extend_from_slice(&(slot.record.len() as u32).to_le_bytes());
    body.extend_from_slice(slot.record);
}

/// The mentions of a body, in order.
pub(super) fn slots(body: &[u8]) -> Result<Vec<Slot<'_>>> {
    let mut out = Vec::new();
    let mut r = Reader(body);
    while !r.0.is_empty() {
        let raw = r.slot()?;
        let mut topics = Vec::with_capacity(raw.count);
        let mut t = Reader(raw.topics);
        for _ in 0..raw.count {
            let len = usize::from(u16::from_le_bytes(*t.array::<2>()?));
            topics.push(std::str::from_utf8(t.take(len)?).map_err(|_| corrupt())?);
        }
        out.push(Slot {
            id: std::str::from_utf8(raw.id).map_err(|_| corrupt())?,
            created_ms: raw.created_ms,
            topics,
            record: raw.record,
        });
    }
    Ok(out)
}

/// The record of mention `id` in a body, if it is there (read through without collecting).
pub(super) fn find<'a>(body: &'a [u8], id: &str) -> Result<Option<&'a [u8]>> {
    let mut r = Reader(body);
    while !r.0.is_empty() {
        let raw = r.slot()?;
        if raw.id == id.as_bytes() {
            return Ok(Some(raw.record));
        }
    }
    Ok(None)
}

/// zstd's compression level for segments. Measured on segments of the real corpus against LZ4
/// (lz4_flex): level 1 takes 667 B a mention where LZ4 takes 820, for 0.65 µs more CPU a
/// mention to compress (3.13 against 2.48 µs) and 0.6 µs more to decompress; level 3 saves
/// 40 B more for another 2 µs.
const LEVEL: i32 = 1;

/// The first four bytes of a zstd frame (its magic number, little-endian).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// The largest body a stored segment may claim, as an LZ4 segment's u32 length allowed: a larger
/// claim is a corrupt segment, refused before anything is allocated for it. (A body is
/// [`RAW_TARGET`] plus at most one mention, whose record is at most `kafka.message_max_bytes`.)
const MAX_BODY: u64 = u32::MAX as u64;

std::thread_local! {
    // A compression and a decompression context per thread that uses them, kept: making one
    // costs as much as compressing a small segment.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// A body compressed for storage (one zstd frame).
pub(super) fn compress(body: &[u8]) -> Result<Vec<u8>> {
    COMPRESSOR
        .with_borrow_mut(|c| {
            let c = match c {
                Some(c) => c,
                None => c.insert(zstd::bulk::Compressor::new(LEVEL)?),
            };
            c.compress(body)
        })
        .map_err(|e| Error::store("compressing a segment", e))
}

/// The body of a segment's compressed bytes: a zstd frame, or an LZ4 block of a segment written
/// before zstd.
pub(super) fn decompress(packed: &[u8]) -> Result<Vec<u8>> {
    unpack(packed, MAX_BODY)
}

/// [`decompress`], refusing a zstd frame whose body is over `max_body` bytes.
fn unpack(packed: &[u8], max_body: u64) -> Result<Vec<u8>> {
    if !packed.starts_with(&ZSTD_MAGIC) {
        return lz4_flex::decompress_size_prepended(packed)
            .map_err(|e| Error::store("corrupt stored segment", e));
    }
    let size = zstd::zstd_safe::get_frame_content_size(packed)
        .ok()
        .flatten()
        .filter(|&n| n <= max_body)
        .ok_or_else(corrupt)?;
    let size = usize::try_from(size).map_err(|_| corrupt())?;
    let body = DECOMPRESSOR
        .with_borrow_mut(|d| {
            let d = match d {
                Some(d) => d,
                None => d.insert(zstd::bulk::Decompressor::new()?),
            };
            d.decompress(packed, size)
        })
        .map_err(|e| Error::store("corrupt stored segment", e))?;
    if body.len() != size {
        return Err(corrupt());
    }
    Ok(body)
}

fn corrupt() -> Error {
    Error::Store {
        what: "corrupt stored segment".into(),
        source: None,
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.0.len() {
            return Err(corrupt());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<&'a [u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or_else(corrupt)?;
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(*self.array::<4>()?))
    }

    /// The next mention, its topics left encoded.
    fn slot(&mut self) -> Result<Raw<'a>> {
        let id_len = self.u32()? as usize;
        let id = self.take(id_len)?;
        let created_ms = i64::from_le_bytes(*self.array::<8>()?);
        let count = usize::from(u16::from_le_bytes(*self.array::<2>()?));
        let start = self.0;
        for _ in 0..count {
            let len = usize::from(u16::from_le_bytes(*self.array::<2>()?));
            self.take(len)?;
        }
        let topics = &start[..start.len() - self.0.len()];
        let record_len = self.u32()? as usize;
        Ok(Raw {
            id,
            created_ms,
            count,
            topics,
            record: self.take(record_len)?,
        })
    }
}

/// One mention as it lies in a body: its topics still encoded (`count` of them).
struct Raw<'a> {
    id: &'a [u8],
    created_ms: i64,
    count: usize,
    topics: &'a [u8],
    record: &'a [u8],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_reads_back_as_written_and_a_cut_one_is_an_error() {
        let written = [
            Slot {
                id: "bsky:at://did:plc:x/app.bsky.feed.post/1",
                created_ms: -5,
                topics: vec!["source:bluesky", "hashtag:rust"],
                record: b"\x00\x01record",
            },
            Slot {
                id: "é",
                created_ms: i64::MAX,
                topics: Vec::new(),
                record: b"",
            },
        ];
        let mut body = Vec::new();
        for s in &written {
            push(&mut body, s);
        }
        let packed = compress(&body).expect("compress");
        assert!(packed.starts_with(&ZSTD_MAGIC));
        let unpacked = decompress(&packed).expect("decompress");
        assert_eq!(slots(&unpacked).expect("slots"), written);
        for s in &written {
            assert_eq!(find(&unpacked, s.id).expect("find"), Some(s.record));
        }
        assert_eq!(find(&unpacked, "bsky").expect("find"), None);
        for cut in 1..body.len() {
            assert!(
                slots(&body[..cut]).is_err() || cut == first_len(&written[0]),
                "a body cut at {cut} bytes must not read as whole"
            );
        }
        assert!(decompress(&packed[..packed.len() - 1]).is_err());
        // A segment written before zstd still reads.
        let old = lz4_flex::compress_prepend_size(&body);
        assert_eq!(decompress(&old).expect("an LZ4 segment"), body);
        // A frame claiming more than a segment may hold is refused.
        let len = body.len() as u64;
        assert_eq!(unpack(&packed, len).expect("within the limit"), body);
        assert!(unpack(&packed, len - 1).is_err());
    }

    fn first_len(s: &Slot<'_>) -> usize {
        let mut b = Vec::new();
        push(&mut b, s);
        b.len()
    }
}
