//! The stream cursor: per partition, the last enriched-topic offset a client has been given
//! everything up to.

use std::collections::BTreeMap;
use std::fmt;

/// Per-partition offsets. A partition it does not name is at offset -1 (nothing seen).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor(BTreeMap<i32, i64>);

const PREFIX: &str = "v1.";

impl Cursor {
    /// The offset covered in `partition` (-1 when none).
    pub fn get(&self, partition: i32) -> i64 {
        self.0.get(&partition).copied().unwrap_or(-1)
    }

    pub fn contains(&self, partition: i32) -> bool {
        self.0.contains_key(&partition)
    }

    /// Moves `partition` forward to `offset` (never back).
    pub fn advance(&mut self, partition: i32, offset: i64) {
        let o = self.0.entry(partition).or_insert(offset);
        *o = (*o).max(offset);
    }

    /// Moves every partition forward to at least `other`'s offset.
    pub fn merge(&mut self, other: &Cursor) {
        for (&p, &o) in &other.0 {
            self.advance(p, o);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.0.iter().map(|(&p, &o)| (p, o))
    }

    /// Reads the string form; `None` for anything else (a client's typo must not read as "from
    /// the start").
    pub fn parse(s: &str) -> Option<Cursor> {
        let body = s.strip_prefix(PREFIX)?;
        let mut map = BTreeMap::new();
        if body.is_empty() {
            return Some(Cursor(map));
        }
        for pair in body.split('_') {
            let (p, o) = pair.split_once('-')?;
            let (p, o): (i32, i64) = (p.parse().ok()?, o.parse().ok()?);
            if p < 0 || o < -1 || map.insert(p, o).is_some() {
                return None;
            }
        }
        Some(Cursor(map))
    }
}

/// `v1.` then `partition-offset` pairs joined by `_`: only URL-unreserved characters, so it
/// travels in a query string, a header and an SSE `id:` as is.
impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        for (i, (p, o)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("_")?;
            }
            write!(f, "{p}-{o}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn a_cursor_round_trips_and_refuses_anything_else() {
        let mut c = Cursor::default();
        assert_eq!(c.to_string(), "v1.");
        c.advance(3, 57);
        c.advance(0, 123);
        c.advance(0, 100);
        assert_eq!(c.to_string(), "v1.0-123_3-57", "never moves back");
        assert_eq!(Cursor::parse(&c.to_string()), Some(c.clone()));
        assert_eq!(Cursor::parse("v1."), Some(Cursor::default()));
        for bad in [
            "",
            "0-1",
            "v1.0",
            "v1.0-x",
            "v1.0-1_0-2",
            "v1.-1-3",
            "v1.0-1,1-2",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
        assert_eq!(c.get(1), -1);
    }
}
