//! The collectors' metrics: every name in one place, one `source` label (low-cardinality by
//! construction: it is a [`model::Source`]), handles registered once per collector.

use metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, gauge};
use model::Source;

/// Mentions handed to the consumer.
pub const FETCHED: &str = "backchannel_collector_fetched_mentions_total";
/// Deletions (tombstones) handed to the consumer.
pub const DELETES: &str = "backchannel_collector_deletes_total";
/// Frames or records that could not be read and were skipped.
pub const MALFORMED: &str = "backchannel_collector_malformed_frames_total";
/// Responses, lines, SSE events and WebSocket messages dropped for passing a size cap
/// (`[collectors.NAME.http]`); the lines and events are also counted as malformed.
pub const OVERSIZED: &str = "backchannel_collector_oversized_total";
/// Connection failures, 5xx answers and other retryable errors.
pub const EXTERNAL_ERRORS: &str = "backchannel_collector_external_errors_total";
/// Answers that refused our credentials (the collector stops on these).
pub const AUTH_ERRORS: &str = "backchannel_collector_auth_errors_total";
/// 429 answers and rate-limit waits.
pub const RATE_LIMITED: &str = "backchannel_collector_rate_limited_total";
/// Gap-filling requests after a reconnect (Mastodon's REST backfill) that failed and were
/// skipped: the live stream goes on without that gap.
pub const BACKFILL_FAILURES: &str = "backchannel_collector_backfill_failures_total";
/// Reconnects and re-polls after a failure or a closed stream.
pub const RECONNECTS: &str = "backchannel_collector_reconnects_total";
/// Age of the newest mention when it was collected (`collected_at - created_at`).
pub const FRESHNESS: &str = "backchannel_collector_freshness_seconds";

/// Describes every metric once (call at start-up, after installing a recorder).
pub fn describe() {
    describe_counter!(FETCHED, "Mentions handed to the consumer");
    describe_counter!(DELETES, "Deletions (tombstones) handed to the consumer");
    describe_counter!(
        MALFORMED,
        "Frames or records skipped because they could not be read"
    );
    describe_counter!(
        OVERSIZED,
        "Responses, lines, events and messages dropped for passing a size cap"
    );
    describe_counter!(
        EXTERNAL_ERRORS,
        "Retryable failures: connection, 5xx, timeouts"
    );
    describe_counter!(AUTH_ERRORS, "Answers that refused the credentials");
    describe_counter!(RATE_LIMITED, "429 answers and rate-limit waits");
    describe_counter!(
        BACKFILL_FAILURES,
        "Backfill requests after a reconnect that failed and were skipped"
    );
    describe_counter!(
        RECONNECTS,
        "Reconnects and re-polls after a failure or a closed stream"
    );
    describe_gauge!(
        FRESHNESS,
        "Age of the newest mention when collected, in seconds"
    );
}

/// One collector's metric handles.
#[derive(Debug, Clone)]
pub struct CollectorMetrics {
    pub fetched: Counter,
    pub deletes: Counter,
    pub malformed: Counter,
    pub oversized: Counter,
    pub external_errors: Counter,
    pub auth_errors: Counter,
    pub rate_limited: Counter,
    pub reconnects: Counter,
    pub backfill_failures: Counter,
    pub freshness: Gauge,
}

impl CollectorMetrics {
    pub fn new(source: Source) -> Self {
        let s = source.as_str();
        CollectorMetrics {
            fetched: counter!(FETCHED, "source" => s),
            deletes: counter!(DELETES, "source" => s),
            malformed: counter!(MALFORMED, "source" => s),
            oversized: counter!(OVERSIZED, "source" => s),
            external_errors: counter!(EXTERNAL_ERRORS, "source" => s),
            auth_errors: counter!(AUTH_ERRORS, "source" => s),
            rate_limited: counter!(RATE_LIMITED, "source" => s),
            reconnects: counter!(RECONNECTS, "source" => s),
            backfill_failures: counter!(BACKFILL_FAILURES, "source" => s),
            freshness: gauge!(FRESHNESS, "source" => s),
        }
    }
}
