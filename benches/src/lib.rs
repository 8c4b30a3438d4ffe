//! Shared set-up for the criterion benches (see `benches/`).
