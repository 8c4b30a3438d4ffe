//! Text statistics: size, shape and typography of the text.

use crate::analysis::Analysis;
use crate::registry::{Extractor, FieldSpec, FieldWriter};

pub const EXTRACTORS: &[&dyn Extractor] = &[&Size];

/// Sizes of the text in its different units.
#[derive(Debug)]
pub struct Size;

mod f {
    pub const BYTES: usize = 0;
    pub const CHARS: usize = 1;
    pub const WORDS: usize = 2;
    pub const LINES: usize = 3;
    pub const TRUNCATED: usize = 4;
}

const SIZE_FIELDS: &[FieldSpec] = &[
    FieldSpec::int("text_bytes", "Length of the full text in UTF-8 bytes."),
    FieldSpec::int("text_chars", "Unicode scalar values in the analysed text."),
    FieldSpec::int(
        "text_words",
        "Words and numbers by Unicode word segmentation (UAX #29).",
    ),
    FieldSpec::int(
        "text_lines",
        "Lines in the analysed text (0 for empty text).",
    ),
    FieldSpec::bool(
        "text_truncated",
        "The text was longer than the analysis cap (16 KiB) and fields describe its prefix.",
    ),
];

impl Extractor for Size {
    fn name(&self) -> &'static str {
        "text_size"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        SIZE_FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        out.count(f::BYTES, a.mention.text.len());
        out.count(f::CHARS, a.text.chars().count());
        out.count(f::WORDS, a.words().len());
        out.count(f::LINES, a.text.lines().count());
        out.bool(f::TRUNCATED, a.truncated);
    }
}
