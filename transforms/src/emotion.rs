//! (being written)

use crate::registry::Extractor;

pub const EXTRACTORS: &[&dyn Extractor] = &[];
