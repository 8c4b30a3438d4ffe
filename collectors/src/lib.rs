//! Sources of mentions.
//!
//! Every source produces normalised [`model::Mention`]s; the runtime decides where they go (the
//! in-process queue in embedded mode, the `mentions.raw` Kafka topic in distributed mode).
//! Sources are deterministic where they can be (the synthetic generator is, for a given seed) so
//! that a run can be replayed and its results checked against ground truth.

pub mod synthetic;

pub use synthetic::{Synthetic, SyntheticConfig};
