//! Language identification (being written).

use crate::analysis::Analysis;
use crate::registry::Extractor;

pub const EXTRACTORS: &[&dyn Extractor] = &[];

/// The language of a text.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// ISO 639-1 code, or 639-3 where 639-1 has none, `und` when unknown.
    pub code: &'static str,
    /// 0..1.
    pub confidence: f64,
}

/// Detects the language of the analysed text.
pub fn detect(_a: &Analysis<'_>) -> Detection {
    Detection {
        code: "und",
        confidence: 0.0,
    }
}
