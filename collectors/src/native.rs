//! Sources' native payloads, decoded to mentions outside their own collectors (the webhook's
//! `<path>/<format>` endpoint uses this to accept pushes in a platform's own shape).
//!
//! | format | one record is |
//! |---|---|
//! | `mastodon` | a status (REST or streaming JSON), or a Mastodon webhook event `status.created` / `status.updated` |
//! | `bluesky` | a Jetstream event (commits of posts and reposts; other events yield nothing) |
//! | `hackernews` | a Firebase API item |
//! | `x` | an X v2 filtered-stream frame, or a v2 response whose `data` is a list of posts |

use chrono::{DateTime, Utc};
use model::Mention;

/// The formats [`decode`] knows.
pub const FORMATS: &[&str] = &["mastodon", "bluesky", "hackernews", "x"];

/// Decodes one native payload of `format`. Errors are low-cardinality reason codes;
/// `"unknown_format"` means the format itself is not known. `server` is the host a Mastodon
/// status came from, when the pusher names it (see [`crate::mastodon`]); others ignore it.
pub fn decode(
    format: &str,
    payload: &[u8],
    server: Option<&str>,
    collected_at: DateTime<Utc>,
) -> Result<Vec<Mention>, &'static str> {
    match format {
        "mastodon" => crate::mastodon::decode_status(payload, server, collected_at),
        "x" => crate::x::decode_payload(payload, collected_at),
        "bluesky" => crate::bluesky::decode_event(payload, collected_at),
        "hackernews" => crate::hackernews::decode_item(payload, collected_at),
        _ => Err("unknown_format"),
    }
}
