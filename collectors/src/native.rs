//! Sources' native payloads, decoded to mentions outside their own collectors (the webhook's
//! `<path>/<format>` endpoint uses this to accept pushes in a platform's own shape).

use chrono::{DateTime, Utc};
use model::Mention;

/// The formats [`decode`] knows.
pub const FORMATS: &[&str] = &["bluesky", "hackernews"];

/// Decodes one native payload of `format`. Errors are low-cardinality reason codes;
/// `"unknown_format"` means the format itself is not known.
pub fn decode(
    format: &str,
    payload: &[u8],
    collected_at: DateTime<Utc>,
) -> Result<Vec<Mention>, &'static str> {
    match format {
        "bluesky" => crate::bluesky::decode_event(payload, collected_at),
        "hackernews" => crate::hackernews::decode_item(payload, collected_at),
        _ => Err("unknown_format"),
    }
}
