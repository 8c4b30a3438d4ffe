//! The compact enriched record: an [`EnrichedRef`](crate::EnrichedRef) as Apache Avro binary.
//!
//! The JSON form of an enriched mention spends most of its ~9 KB on the 294 field names, repeated
//! in every record. The catalogue already fixes each field's position and type, so the compact
//! form writes values only, in catalogue order, under an Avro schema generated from the catalogue
//! ([`schema`]): about a sixth of the size, and cheaper to write than JSON. Avro was chosen over
//! Protobuf and a layout of our own because its schema is plain JSON that every language's Avro
//! library reads (Python's `fastavro`, Java's `avro`, Go's `hamba/avro`), so a consumer needs
//! nothing from us but `deploy/schema/enriched.avsc`.
//!
//! Each record is framed in Avro's *single-object encoding*: the two bytes `C3 01`, the 8-byte
//! little-endian CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form, then the body.
//! The fingerprint names the exact schema a record was written with, so a store can hold records
//! of several catalogue versions and a reader picks the right schema for each ([`read::Layout`]).
//!
//! Float fields are written as Avro `float` (IEEE single precision, about seven significant
//! digits): they are ratios, scores and rates, where the eighth digit means nothing, and it saves
//! four bytes on each of 69 fields. The JSON form keeps double precision. Timestamps are
//! microseconds since the epoch (`timestamp-micros`). Counts are Avro `long`s: one above
//! 2^63 − 1 (no platform has one) is written as 2^63 − 1.

pub mod read;
pub mod schema;
pub mod write;

pub use read::{DecodeError, Layout};
pub use schema::{CompactSchema, schema};
pub use write::{ContainerWriter, encode, encode_body, restamp, set_cluster};

/// The two bytes that open every single-object encoded Avro record.
pub const MARKER: [u8; 2] = [0xC3, 0x01];

/// The length of the single-object header: the marker and the 8-byte fingerprint.
pub const HEADER_LEN: usize = 10;

/// The schema fingerprint of a single-object encoded record, if `bytes` has the header.
pub fn fingerprint_of(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < HEADER_LEN || bytes[..2] != MARKER {
        return None;
    }
    let mut fp = [0u8; 8];
    fp.copy_from_slice(&bytes[2..HEADER_LEN]);
    Some(u64::from_le_bytes(fp))
}

#[cfg(test)]
mod tests;
