//! Human durations, the one parser every crate's config uses: `"250ms"`, `"5s"`, `"2m"`, `"1h"`,
//! `"7d"`, or combinations like `"1m 30s"` (humantime's grammar: ms, s, m/min, h, d, w, …).
//!
//! A bare number (`"5"`) is an error: seconds or milliseconds is a guess a config should not make
//! us take. Fractions (`"1.5s"`) are read too.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// What every duration error says was expected.
pub const EXPECTED: &str = "a duration like \"250ms\", \"5s\", \"2m\", \"1h\" or \"7d\"";

/// Parses a human duration; the error says what was expected.
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = |why: &dyn std::fmt::Display| format!("expected {EXPECTED}, got {s:?} ({why})");
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad(&"a number needs a unit"));
    }
    humantime::parse_duration(s).map_err(|e| bad(&e))
}

pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}ms", d.as_millis()))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse(" 1m 30s "), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn rejects_bare_numbers_and_nonsense() {
        for bad in ["5", "1.5", "", "soon", "5 parsecs", "-1s", "1.5.5s"] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains("expected a duration"), "{bad}: {e}");
        }
    }
}
