//! The `language` and `language_hint` groups: the detected language (see
//! [`crate::analysis::lang`], shared with the groups that read it) and how it compares with the
//! language the source declared.

mod fields;

pub use crate::analysis::lang::{
    Detection, MIN_LETTERS, MIN_SCRIPT_LETTERS, Method, SCRIPT_COUNT, Script, detect, detect_text,
};
pub use fields::{EXTRACTORS, Language, LanguageHint, family, normalize_hint};
