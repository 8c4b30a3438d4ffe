//! `backchannel sources`: the source types a collector can be configured with, and their keys.

/// The text `sources` prints.
pub const HELP: &str = include_str!("sources.txt");

pub fn main() {
    print!("{HELP}");
}
