//! The embedded default: everything in one process, state in one directory.
//!
//! - queue: a bounded tokio channel (backpressure to the collector when full);
//! - store: a [redb](https://docs.rs/redb) file. redb is pure Rust with no C build, has a stable
//!   file format, ACID transactions and crash safety (copy-on-write B-trees, fsync on commit). We
//!   write one transaction per batch, so its per-commit cost is amortised, and reads by id and by
//!   time range are B-tree lookups. An LSM engine (fjall) would ingest faster, but the embedded mode
//!   serves one machine and newcomers; scale-out is ScyllaDB's job. A retention sweep deletes
//!   mentions past `embedded.retention` and the oldest while the data is over
//!   `embedded.max_store_bytes`, so the file stops growing;
//! - cache: [moka](https://docs.rs/moka), recent mentions by id, weighed by bytes (LRU, TTL);
//! - publisher: enriched mentions to an in-process broadcast for local subscribers, dead letters
//!   appended to `dead-letters.jsonl` in the data directory (rotated at a size limit).

mod cache;
mod publisher;
mod queue;
mod store;

pub use cache::MemoryCache;
pub use publisher::LocalPublisher;
pub use queue::{LocalConsumer, LocalProducer, local_queue};
pub use store::{RedbStore, StoreOptions};
