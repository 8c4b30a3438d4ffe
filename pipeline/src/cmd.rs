//! One module per `backchannel` command. Each builds what it needs through [`crate::services`]
//! and reads top to bottom; `main.rs` only parses the command line and dispatches here.

pub mod collect;
pub mod enrich;
pub mod fields;
pub mod run;
pub mod schema;
pub mod signals;
pub mod sources;
pub mod worker;
