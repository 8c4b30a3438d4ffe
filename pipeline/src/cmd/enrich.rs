//! `backchannel enrich`: Mention JSON lines on stdin, enriched mentions on stdout in order —
//! JSON lines (a bad line yields `{"error": {...}}` naming the line and the reason), or an Avro
//! object container file (bad lines reported on stderr).

use std::io::{BufWriter, Write};

use crate::error::{Error, Result};

/// What `enrich` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Avro,
}

pub fn main(limits: model::DecodeLimits, format: Format) -> Result<()> {
    let out = BufWriter::new(std::io::stdout().lock());
    match format {
        Format::Json => json(limits, out),
        Format::Avro => avro(limits, out),
    }
}

fn json(limits: model::DecodeLimits, mut out: impl Write) -> Result<()> {
    let mut record = transforms::Record::new();
    let json_err = |e: serde_json::Error| Error::internal("writing JSON", e);
    each_mention(limits, |i, mention| {
        match mention {
            Ok(m) => {
                transforms::enrich_into(&m, &mut record);
                serde_json::to_writer(&mut out, &transforms::EnrichedRef::new(&m, &record))
                    .map_err(json_err)?;
            }
            Err(e) => {
                let err = serde_json::json!({"error": {"line": i + 1, "reason": e.reason(), "message": e.to_string()}});
                serde_json::to_writer(&mut out, &err).map_err(json_err)?;
            }
        }
        Ok(out.write_all(b"\n")?)
    })?;
    Ok(out.flush()?)
}

fn avro(limits: model::DecodeLimits, out: impl Write) -> Result<()> {
    let mut record = transforms::Record::new();
    // The container's sync marker: random enough to be unlike any record's bytes.
    let random = std::collections::hash_map::RandomState::new();
    let seed = std::hash::BuildHasher::hash_one(&random, std::time::SystemTime::now());
    let mut marker = [0u8; 16];
    marker[..8].copy_from_slice(&seed.to_le_bytes());
    marker[8..].copy_from_slice(&seed.rotate_left(29).to_le_bytes());
    let mut w = transforms::avro::ContainerWriter::new(out, marker)?;
    each_mention(limits, |i, mention| {
        match mention {
            Ok(m) => {
                transforms::enrich_into(&m, &mut record);
                w.append(&m, &record, &[])?;
            }
            Err(e) => eprintln!("line {}: {e} ({})", i + 1, e.reason()),
        }
        Ok(())
    })?;
    w.finish()?;
    Ok(())
}

/// Calls `f` with each stdin line's number (from 0) and its decoded mention.
fn each_mention(
    limits: model::DecodeLimits,
    mut f: impl FnMut(usize, std::result::Result<model::Mention, model::DecodeError>) -> Result<()>,
) -> Result<()> {
    super::each_line(std::io::stdin().lock(), limits.max_bytes, |i, line| {
        f(i, super::decode_line(line, limits))
    })
}
