//! `backchannel fields`: the field registry as a table, JSON, Markdown or the Avro schema.

use std::io::Write;

use crate::error::Result;

/// How `fields` prints the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Markdown,
    /// The Avro schema of the compact enriched record (deploy/schema/enriched.avsc).
    Avro,
}

pub fn main(format: Format) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&transforms::docs::catalogue_json())
                .map_err(|e| crate::Error::internal("writing JSON", e))?;
            writeln!(out, "{json}")?;
        }
        Format::Markdown => write!(out, "{}", transforms::docs::fields_markdown())?,
        Format::Avro => write!(out, "{}", transforms::avro::schema::avsc())?,
        Format::Table => {
            let reg = transforms::registry();
            writeln!(
                out,
                "field registry {} ({} fields)",
                reg.version,
                reg.fields.len()
            )?;
            for (e, r) in reg.extractors.iter().zip(&reg.ranges) {
                writeln!(out, "\n[{}] v{}", e.name(), e.version())?;
                for f in &reg.fields[r.clone()] {
                    let ty = if f.nullable {
                        format!("{}?", f.ty.as_str())
                    } else {
                        f.ty.as_str().to_owned()
                    };
                    writeln!(out, "  {:<32} {:<9} {}", f.name, ty, f.doc)?;
                }
            }
        }
    }
    Ok(())
}
