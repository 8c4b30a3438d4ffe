//! Producing collected mentions into the raw Kafka topic (or stdout): the library half of
//! `backchannel collect`.
//!
//! - [`synthetic`]: the built-in generator, produced as fast as a broker takes it (benchmarks,
//!   end-to-end tests whose ground truth is recomputed from seed and index);
//! - [`configured`]: the collectors configured under `[collectors.NAME]`, with checkpoints that
//!   never get ahead of Kafka's acknowledgements.

pub mod configured;
pub mod synthetic;

pub use configured::Report;
pub use synthetic::{CollectOptions, synthetic};

/// Where collected mentions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Kafka,
    Stdout,
}
