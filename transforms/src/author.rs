//! Author, engagement, post-shape and time fields: facts about a mention that come from its
//! metadata, not its text.
//!
//! Everything here reads `a.mention` only and never the clock: "now" is the mention's
//! `collected_at`, so the same mention always gives the same fields. Counts the source does not
//! report are `null`, never 0 — a missing follower count is not an account with no followers.
//!
//! Some groups describe metadata that real posts vary little (verification, display names,
//! media, geo, quotes and views); besides the whole-list tests, those groups are also
//! tested here on deliberately varied metadata.

mod account;
mod engagement;
mod post;
mod time;

#[cfg(test)]
mod tests;

pub use account::{Account, Profile};
pub use engagement::{Engagement, Reach};
pub use post::{Attachments, Post};
pub use time::Timing;

use crate::extractor::Extractor;

pub const EXTRACTORS: &[&dyn Extractor] = &[
    &Account,
    &Profile,
    &Engagement,
    &Reach,
    &Post,
    &Attachments,
    &Timing,
];

/// The groups over sparse metadata, tested on varied metadata as well.
#[cfg(test)]
pub const PENDING: &[&dyn Extractor] = &[&Profile, &Reach, &Attachments];

/// `num / den` when `den > 0`.
fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

/// A `u64` count as `i64`, saturating (counts above 2^63 do not occur, but must not wrap).
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
