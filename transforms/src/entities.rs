//! The entity groups: twitter-text entities, emoji and emoticons, read from the entities the
//! shared analysis found ([`crate::analysis::entities`]).

mod emoji_fields;
mod fields;

use crate::extractor::Extractor;

pub use crate::analysis::entities::{
    EMOJI_GROUPS, Emoji, Emoticon, Entities, Polarity, Qualification, TldKind, UrlMatch, extract,
    tld_kind,
};
pub use fields::is_shortener;

pub const EXTRACTORS: &[&dyn Extractor] = &[
    &fields::TwitterEntities,
    &emoji_fields::EmojiStats,
    &emoji_fields::Emoticons,
];
