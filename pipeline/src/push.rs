//! Live push: enriched mentions fanned out to connected clients as per-tenant `match` events.
//!
//! One ingest path for both modes: [`Hub::ingest`] takes an enriched record (compact Avro or the
//! EnrichedMention JSON) with its position in the enriched topic. Embedded mode feeds it from the
//! [`crate::embedded::LocalPublisher`] (partition 0, offsets it assigns); distributed mode from
//! `backchannel serve`, a consumer that follows every partition of the enriched topic.
//!
//! **Cursor.** A [`Cursor`] holds, per partition of the enriched topic, the last offset a client
//! has been given everything up to. Topic positions mean the same on every serving instance, so a
//! client may reconnect to any of them. It is a short opaque string (`v1.0-123_3-57`).
//!
//! **Replay.** The hub keeps the matched entries (never the unmatched mentions) of the last
//! `api.replay_window`, at most `api.replay_bytes`. A client that reconnects with its cursor gets
//! the matches after it from this buffer and then the live ones, with no gap and no duplicate. A
//! cursor older than the buffer gets a `lagged` event naming where the buffer starts, then the
//! whole buffer.
//!
//! **Provisional minutes.** `backchannel serve` also counts each matched mention into its
//! signals' latest minutes ([`provisional`]), so that distributed series show the minute in
//! progress before the rollup recounts it exactly.
//!
//! **Slow clients.** The hub never waits for a client: each connection has a bounded channel
//! that the hub `try_send`s to. A full channel detaches the connection from the live feed; the
//! connection then sends `lagged` with its last delivered cursor and catches up from the replay
//! buffer at its own pace before going live again. An unmatched record is stepped over by its
//! `matched` header; a matched one costs one pass over the compact record (its mention, matches
//! and cluster read, its fields stepped over: ~9 µs, `cargo bench -p benches --bench push`) plus
//! one `try_send` per interested connection.

mod cursor;
mod hub;
pub mod provisional;

pub use cursor::Cursor;
pub use hub::{AlertEvent, Entry, Filter, Hub, HubSettings, Step, Subscription};
