//! The canonical `Mention`: one shape for every source.
//!
//! Collectors normalise Mastodon statuses, Bluesky posts, Reddit things, Hacker News items, feed
//! entries and X posts into this type before anything else sees them, so transforms, stores and
//! clients never branch on where a mention came from. The schema is versioned
//! ([`SCHEMA_VERSION`]); its JSON Schema is generated from these types ([`mention_json_schema`])
//! and committed under `deploy/schema/`, where a test keeps the two from drifting.
//!
//! Unknown top-level keys are kept in [`Mention::extra`] rather than dropped: a source that grows
//! a field should not lose data in our pipeline before we learn to read it.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use smallvec::SmallVec;
use std::sync::Arc;

/// Version of the `Mention` wire format. Bump on any change that an old reader could misread.
pub const SCHEMA_VERSION: u32 = 1;

/// A UTC instant, written as RFC 3339 (`2026-11-26T04:00:00Z`).
pub type Timestamp = DateTime<Utc>;

/// One post, reply, repost, quote or comment from a social source, normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Mention {
    /// Stable, source-qualified id: `<source>:<native id>`, e.g. `bluesky:at://did:plc:x/app.bsky.feed.post/3k`.
    /// Two deliveries of the same mention always carry the same id; stores upsert by it.
    pub id: String,
    /// Where the mention came from.
    pub source: Source,
    /// What kind of object it is.
    pub kind: Kind,
    /// Canonical web address of the mention, when the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When the author published it (RFC 3339, UTC). Workers store a time later than
    /// `collected_at` as `collected_at`: the source's clock ran ahead.
    pub created_at: Timestamp,
    /// When our collector received it (RFC 3339, UTC).
    pub collected_at: Timestamp,
    /// When the author last edited it (RFC 3339, UTC), on a version the source marks as an edit
    /// (a Mastodon status's `edited_at`, a Bluesky record update, Reddit's `edited`); absent on
    /// a first version and where the source does not say. An edit keeps the mention's `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Timestamp>,
    /// The text as the author wrote it (title and body joined by a blank line where a source has both).
    #[serde(default)]
    pub text: String,
    /// The language the source claims (BCP 47 tag as given), if any. Transforms detect their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang_hint: Option<String>,
    /// Who wrote it.
    pub author: Author,
    /// Engagement counts as last seen by the collector; `None` where the source does not say.
    #[serde(default)]
    pub engagement: Engagement,
    /// Links to other mentions: what this replies to, quotes or reposts.
    #[serde(default, skip_serializing_if = "References::is_empty")]
    pub refs: References,
    /// Attached images, videos and link cards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<Media>,
    /// Where it was posted from, when the source shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
    /// The source's original payload, kept when the collector is configured to keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<Value>,
    /// Top-level keys this schema does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The platform a mention came from. Low-cardinality by design: it is a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Mastodon,
    Bluesky,
    Reddit,
    Hackernews,
    Rss,
    X,
    Webhook,
    File,
    Synthetic,
}

impl Source {
    /// Every source, in a fixed order.
    pub const ALL: [Source; 9] = [
        Source::Mastodon,
        Source::Bluesky,
        Source::Reddit,
        Source::Hackernews,
        Source::Rss,
        Source::X,
        Source::Webhook,
        Source::File,
        Source::Synthetic,
    ];

    /// The snake_case name used on the wire and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Mastodon => "mastodon",
            Source::Bluesky => "bluesky",
            Source::Reddit => "reddit",
            Source::Hackernews => "hackernews",
            Source::Rss => "rss",
            Source::X => "x",
            Source::Webhook => "webhook",
            Source::File => "file",
            Source::Synthetic => "synthetic",
        }
    }
}

/// What kind of object a mention is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An original post, submission, story or feed entry.
    Post,
    /// A reply in a thread of posts.
    Reply,
    /// A re-share without added text.
    Repost,
    /// A re-share with added text.
    Quote,
    /// A comment under a submission or story (Reddit, Hacker News).
    Comment,
}

impl Kind {
    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Post => "post",
            Kind::Reply => "reply",
            Kind::Repost => "repost",
            Kind::Quote => "quote",
            Kind::Comment => "comment",
        }
    }
}

/// The account that wrote a mention.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Author {
    /// The source's stable account id (not the handle, which can change).
    pub id: String,
    /// The handle as shown, without a leading `@`.
    #[serde(default)]
    pub handle: String,
    /// Display name, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followers: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub following: Option<u64>,
    /// Number of posts the account has made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// When the account was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
}

/// Engagement counts; `None` means the source did not report it, not zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Engagement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reposts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replies: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views: Option<u64>,
}

/// Source-qualified ids of related mentions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct References {
    /// The mention this one replies to (or comments on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The root of the thread or conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<String>,
    /// The mention this one quotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_of: Option<String>,
    /// The mention this one reposts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repost_of: Option<String>,
}

impl References {
    /// True when no reference is set.
    pub fn is_empty(&self) -> bool {
        self.reply_to.is_none()
            && self.conversation.is_none()
            && self.quote_of.is_none()
            && self.repost_of.is_none()
    }
}

/// An attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Media {
    pub kind: MediaKind,
    pub url: String,
    /// Alternative text, when the author gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<String>,
}

/// The kind of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
    Gif,
    Audio,
    /// A link preview card.
    Link,
}

/// A location.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Geo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// A place name as the source gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// A mention with the fields the transforms computed for it.
///
/// `fields` is keyed by field name (see `backchannel fields`); `fields_version` names the field
/// registry that produced them, so a reader can tell two catalogues apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnrichedMention {
    /// Version of the `Mention` schema ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Version of the field registry that computed `fields`.
    pub fields_version: String,
    pub mention: Mention,
    /// Computed fields, keyed by field name.
    pub fields: Map<String, Value>,
    /// Tenants' signals (tracked queries) this mention matched, when matching ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<SignalMatch>,
    /// Near-duplicate cluster: the id of the first mention seen within the pipeline's window
    /// that shares a MinHash band with this one (its own id when it was the first). Absent when
    /// the text has nothing to hash or the pipeline could not assign one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
}

/// One tenant's signal that matched a mention.
///
/// On the wire: `{"tenant": …, "signal": …, "version": …, "highlights": [[start, end], …]}`
/// (`highlights` left out when empty).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "SignalMatchWire")]
pub struct SignalMatch {
    /// Which signal: its tenant and id, shared with the compiled rule that matched.
    pub signal: SignalId,
    /// The version of the signal's rule the match was made with.
    pub version: u64,
    /// Where the matched terms are: `[start, end)` offsets in Unicode scalar values (code points)
    /// into `mention.text`, in order.
    pub highlights: Highlights,
}

/// [`SignalMatch`] as written: the names as plain strings.
#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "SignalMatch")]
struct SignalMatchWire {
    /// The tenant (client) that owns the signal.
    tenant: String,
    /// The signal's id, unique within its tenant.
    signal: String,
    /// The version of the signal's rule the match was made with.
    version: u64,
    /// Where the matched terms are: `[start, end)` offsets in Unicode scalar values (code points)
    /// into `mention.text`, in order.
    #[serde(default, skip_serializing_if = "SmallVec::is_empty")]
    highlights: Highlights,
}

impl From<SignalMatchWire> for SignalMatch {
    fn from(w: SignalMatchWire) -> SignalMatch {
        SignalMatch {
            signal: SignalId::new(&w.tenant, &w.signal),
            version: w.version,
            highlights: w.highlights,
        }
    }
}

impl Serialize for SignalMatch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let with_highlights = !self.highlights.is_empty();
        let mut st = s.serialize_struct("SignalMatch", 3 + usize::from(with_highlights))?;
        st.serialize_field("tenant", self.signal.tenant())?;
        st.serialize_field("signal", self.signal.id())?;
        st.serialize_field("version", &self.version)?;
        if with_highlights {
            st.serialize_field("highlights", &self.highlights)?;
        } else {
            st.skip_field("highlights")?;
        }
        st.end()
    }
}

impl JsonSchema for SignalMatch {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SignalMatch".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        SignalMatchWire::json_schema(g)
    }
}

/// A signal's identity: the tenant that owns it and its id within that tenant.
///
/// Both names share one allocation, so a clone (every match a compiled rule makes takes one)
/// is a single reference-count increment. Ordered by tenant, then id; displayed `tenant/id`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SignalId {
    /// The tenant followed by the id.
    names: Arc<str>,
    /// Where the id starts in `names`.
    split: usize,
}

impl SignalId {
    pub fn new(tenant: &str, id: &str) -> SignalId {
        SignalId {
            names: [tenant, id].concat().into(),
            split: tenant.len(),
        }
    }

    /// The tenant (client) that owns the signal.
    pub fn tenant(&self) -> &str {
        &self.names[..self.split]
    }

    /// The signal's id, unique within its tenant.
    pub fn id(&self) -> &str {
        &self.names[self.split..]
    }
}

impl Ord for SignalId {
    fn cmp(&self, other: &SignalId) -> std::cmp::Ordering {
        (self.tenant(), self.id()).cmp(&(other.tenant(), other.id()))
    }
}

impl PartialOrd for SignalId {
    fn partial_cmp(&self, other: &SignalId) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for SignalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.tenant(), self.id())
    }
}

impl std::fmt::Debug for SignalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignalId({self})")
    }
}

/// A match's highlight ranges. Most matches highlight one or two ranges, which are held inline,
/// so that building a match allocates nothing; more spill to the heap. Serialised as an array.
pub type Highlights = SmallVec<[[u32; 2]; 2]>;

/// Why a byte string could not become a [`Mention`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The payload is larger than the configured limit.
    TooLarge { len: usize, limit: usize },
    /// The bytes are not UTF-8.
    InvalidUtf8 { at: usize },
    /// JSON nests deeper than the limit (a defence against stack exhaustion).
    TooDeep { limit: usize },
    /// Not JSON at all.
    MalformedJson(String),
    /// JSON, but not a Mention (a missing id, a wrong type, …).
    NotAMention(String),
    /// A mention whose `id` is longer than the limit.
    IdTooLong { len: usize, limit: usize },
}

impl DecodeError {
    /// A short, stable, low-cardinality reason code (a metric label and a DLQ header).
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::InvalidUtf8 { .. } => "invalid_utf8",
            DecodeError::TooDeep { .. } => "too_deep",
            DecodeError::MalformedJson(_) => "malformed_json",
            DecodeError::NotAMention(_) => "not_a_mention",
            DecodeError::IdTooLong { .. } => "id_too_long",
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooLarge { len, limit } => {
                write!(
                    f,
                    "payload of {len} bytes exceeds the limit of {limit} bytes"
                )
            }
            DecodeError::InvalidUtf8 { at } => write!(f, "invalid UTF-8 at byte {at}"),
            DecodeError::TooDeep { limit } => write!(f, "JSON nests deeper than {limit} levels"),
            DecodeError::MalformedJson(e) => write!(f, "malformed JSON: {e}"),
            DecodeError::NotAMention(e) => write!(f, "not a valid mention: {e}"),
            DecodeError::IdTooLong { len, limit } => {
                write!(f, "`id` of {len} bytes exceeds the limit of {limit} bytes")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Limits applied when decoding untrusted bytes.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Largest accepted payload in bytes.
    pub max_bytes: usize,
    /// Deepest accepted JSON nesting (objects and arrays).
    pub max_depth: usize,
    /// Longest accepted `id` in bytes. An id is a key everywhere downstream (Kafka, the stores,
    /// caches), and stores refuse long keys (CQL's limit is 65,535 bytes): a longer id is bad
    /// data here rather than a write that can never succeed.
    pub max_id_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_bytes: 1 << 20,
            max_depth: 32,
            max_id_bytes: 1024,
        }
    }
}

impl Mention {
    /// Decodes one untrusted payload, checking size, UTF-8, nesting and schema in that order so
    /// that the reason names the first thing wrong with it.
    pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<Mention, DecodeError> {
        if bytes.len() > limits.max_bytes {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                limit: limits.max_bytes,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::InvalidUtf8 {
            at: e.valid_up_to(),
        })?;
        check_depth(text.as_bytes(), limits.max_depth)?;
        let mention: Mention = serde_json::from_str(text).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                DecodeError::MalformedJson(e.to_string())
            } else {
                DecodeError::NotAMention(e.to_string())
            }
        })?;
        mention.check(limits)?;
        Ok(mention)
    }

    /// The checks [`Mention::decode`] makes on a decoded mention, for one that never was bytes
    /// (an in-process queue carries mentions as their producer made them): its invariants and
    /// its id's length. The byte and depth limits guard the JSON parser, so they apply to
    /// payloads only.
    pub fn check(&self, limits: DecodeLimits) -> Result<(), DecodeError> {
        self.validate().map_err(DecodeError::NotAMention)?;
        if self.id.len() > limits.max_id_bytes {
            return Err(DecodeError::IdTooLong {
                len: self.id.len(),
                limit: limits.max_id_bytes,
            });
        }
        Ok(())
    }

    /// Checks the invariants serde cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err("`id` is empty".into());
        }
        if self.author.id.trim().is_empty() {
            return Err("`author.id` is empty".into());
        }
        Ok(())
    }
}

/// Rejects JSON nested deeper than `limit` without parsing it: one pass over the bytes that
/// tracks strings so brackets inside them do not count.
fn check_depth(bytes: &[u8], limit: usize) -> Result<(), DecodeError> {
    // Nesting cannot pass the number of opening brackets, and a mention has far fewer than the
    // limit: counting them is a branch-free pass the compiler vectorises, many times cheaper
    // than the byte-at-a-time walk below, which only a payload with more runs. (`[` is `{`
    // without bit 5: the one test matches both.)
    let opening = bytes.iter().filter(|&&b| b | 0x20 == b'{').count();
    if opening <= limit {
        return Ok(());
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return Err(DecodeError::TooDeep { limit });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The JSON Schema of [`Mention`], as committed in `deploy/schema/mention.schema.json`.
pub fn mention_json_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Mention)).unwrap_or(Value::Null)
}

/// The JSON Schema of [`EnrichedMention`] with a generic `fields` object; the field registry in
/// `transforms` generates the precise one.
pub fn enriched_json_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(EnrichedMention)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;
