//! The distributed implementations of the pipeline's seams: Kafka for the queue and the
//! published topics, ScyllaDB (Cassandra-compatible, through the `scylla` driver) for storage,
//! Redis for the cache.

pub mod kafka;
pub mod redis_cache;
pub mod scylla;

pub use kafka::{KafkaConsumer, KafkaPublisher};
pub use redis_cache::RedisCache;
pub use scylla::ScyllaStore;
