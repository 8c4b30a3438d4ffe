//! Sources of mentions.
