//! The statistical part of detection: a multinomial naive Bayes over byte n-grams (1–4 bytes),
//! one model per script group whose script several languages share.
//!
//! The weights are langid.py's (Lui & Baldwin 2012; BSD-2-Clause), restricted to our languages
//! and quantised by `data/lang/gen_model.py`. langid.py feeds bytes through an Aho-Corasick
//! automaton; we look each 1–4 byte window up instead, which counts the same features. The
//! look-ups are branch-free (a direct table for 1- and 2-grams, a two-choice cuckoo table for 3-
//! and 4-grams), because on real text whether a window is a feature is unpredictable and
//! mispredicted branches, not memory, were the cost.

use std::sync::LazyLock;

static MODEL_BYTES: &[u8] = include_bytes!("../../../data/lang/langid_subset.bin");

/// Weights are natural-log probabilities times this.
pub const SCALE: f64 = 256.0;
/// Only this many bytes of a cleaned text are scored: some eighty words settle the language, and
/// the bound keeps long posts from dominating the cost.
pub const MAX_SCORED_BYTES: usize = 512;
/// The most languages a group may hold (the width of the score accumulator).
pub const MAX_LANGS: usize = 40;

/// Row marker of a key that is no feature.
const ABSENT: u16 = u16::MAX;
/// Stands for the bytes after the end of the text: a byte no feature contains.
const PAD: u32 = 0x01;
/// Multipliers of the two cuckoo hash functions, tried in turn until every key finds a slot.
const MULTIPLIERS: [(u32, u32); 4] = [
    (0x9E37_79B1, 0x85EB_CA77),
    (0xC2B2_AE3D, 0x27D4_EB2F),
    (0x1656_67B1, 0xD3A2_646D),
    (0xFD70_46C5, 0xB55A_4F09),
];

/// One script group's model.
#[derive(Debug)]
pub struct Group {
    /// ISO 15924 code of the script this group decides for.
    pub script: &'static str,
    /// Language codes, in column order.
    pub langs: Vec<&'static str>,
    /// Log prior per language (scaled).
    pub prior: Vec<i32>,
    /// Rows of 1- and 2-grams, indexed by their key (< 2^16).
    direct: Vec<u16>,
    /// Cuckoo table of 3- and 4-grams: a key sits in one of its two slots.
    table: Vec<Entry>,
    mul: (u32, u32),
    shift: u32,
    /// Feature weights per row, one per language, padded with zeros to a fixed width so that
    /// adding a row is a handful of vector instructions.
    weights: Vec<[i16; MAX_LANGS]>,
}

/// A table slot: the n-gram's bytes packed little-endian (0 = empty; n-grams never hold a zero
/// byte) and its feature row.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    key: u32,
    row: u16,
}

/// Scores of one text against one group.
#[derive(Debug, Clone, Copy)]
pub struct Scores {
    /// Log-likelihood plus log prior per language (scaled), in the group's column order.
    pub score: [i32; MAX_LANGS],
    /// How many n-gram features of the model the text contains (with repeats).
    pub hits: u32,
}

impl Group {
    #[inline]
    fn slots(&self, key: u32) -> (usize, usize) {
        (
            (key.wrapping_mul(self.mul.0) >> self.shift) as usize,
            (key.wrapping_mul(self.mul.1) >> self.shift) as usize,
        )
    }

    /// The row of a 3- or 4-gram key, or [`ABSENT`]; compiles to conditional moves.
    #[inline]
    fn long_row(&self, key: u32) -> u16 {
        let (a, b) = self.slots(key);
        let (ea, eb) = (self.table[a], self.table[b]);
        let r = if eb.key == key { eb.row } else { ABSENT };
        if ea.key == key { ea.row } else { r }
    }

    /// Scores `text` (the scanner's buffer: no zero bytes) against every language of the group;
    /// only its first [`MAX_SCORED_BYTES`] count.
    pub fn score(&self, text: &[u8]) -> Scores {
        let text = &text[..text.len().min(MAX_SCORED_BYTES)];
        let mut acc = [0i32; MAX_LANGS];
        acc[..self.prior.len()].copy_from_slice(&self.prior);
        let mut hits = 0u32;
        // Matched rows are collected and added in batches: the add loop then vectorises.
        let mut rows = [0u16; 64];
        let mut n = 0;
        let byte = |j: usize| text.get(j).map_or(PAD, |&b| u32::from(b));
        for i in 0..text.len() {
            let k1 = byte(i);
            let k2 = k1 | byte(i + 1) << 8;
            let k3 = k2 | byte(i + 2) << 16;
            let k4 = k3 | byte(i + 3) << 24;
            for row in [
                self.direct[k1 as usize],
                self.direct[k2 as usize],
                self.long_row(k3),
                self.long_row(k4),
            ] {
                rows[n] = row;
                n += usize::from(row != ABSENT);
            }
            if n > rows.len() - 4 {
                self.add_rows(&mut acc, &rows[..n]);
                hits += n as u32;
                n = 0;
            }
        }
        self.add_rows(&mut acc, &rows[..n]);
        hits += n as u32;
        Scores { score: acc, hits }
    }

    fn add_rows(&self, acc: &mut [i32; MAX_LANGS], rows: &[u16]) {
        for &row in rows {
            let w = &self.weights[usize::from(row)];
            for k in 0..MAX_LANGS {
                acc[k] += i32::from(w[k]);
            }
        }
    }

    /// Number of n-gram features in the group's model.
    #[cfg(test)]
    pub fn feature_count(&self) -> usize {
        self.weights.len()
    }

    /// Places 3- and 4-gram `keys` (with their rows) in a cuckoo table; `None` if a
    /// displacement chain runs too long (the caller then tries other multipliers).
    fn build_table(keys: &[(u32, u16)], mul: (u32, u32)) -> Option<(Vec<Entry>, u32)> {
        let cap = (keys.len() * 5 / 2).next_power_of_two().max(64);
        let shift = 32 - cap.trailing_zeros();
        let slot = |key: u32, m: u32| (key.wrapping_mul(m) >> shift) as usize;
        let mut table = vec![Entry::default(); cap];
        for &(key, row) in keys {
            let mut e = Entry { key, row };
            let mut at = slot(key, mul.0);
            let mut placed = false;
            for _ in 0..500 {
                std::mem::swap(&mut table[at], &mut e);
                if e.key == 0 {
                    placed = true;
                    break;
                }
                // The evicted entry moves to its other slot.
                let (a, b) = (slot(e.key, mul.0), slot(e.key, mul.1));
                at = if at == a { b } else { a };
            }
            if !placed {
                return None;
            }
        }
        Some((table, shift))
    }
}

/// All groups.
#[derive(Debug)]
pub struct Model {
    pub groups: Vec<Group>,
}

impl Model {
    /// The group that decides among languages written in the script with this ISO 15924 code.
    pub fn group(&self, script: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.script == script)
    }
}

/// The model, parsed on first use. Panics only if the committed model file is malformed (a
/// broken checkout, caught by the tests), never on input text.
pub static MODEL: LazyLock<Model> =
    LazyLock::new(|| parse(MODEL_BYTES).expect("data/lang/langid_subset.bin is well-formed"));

/// A cursor over the model bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }
    fn i16(&mut self) -> Option<i16> {
        let b = self.take(2)?;
        Some(i16::from_le_bytes([b[0], b[1]]))
    }
    fn name(&mut self) -> Option<&'static str> {
        let n = usize::from(self.u8()?);
        let s = std::str::from_utf8(self.take(n)?).ok()?;
        // Codes are a handful of short strings, interned for `&'static str` results.
        Some(intern(s))
    }
}

/// Returns a `'static` copy of a language or script code (the model names ~60 of them once).
fn intern(s: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "Latn", "Cyrl", "Arab", "Deva", "en", "es", "de", "fr", "pt", "it", "nl", "pl", "tr", "vi",
        "id", "cs", "sv", "hu", "ro", "da", "fi", "no", "ms", "ca", "sk", "hr", "sl", "et", "lv",
        "lt", "tl", "sw", "af", "eu", "gl", "sq", "cy", "ga", "is", "az", "mt", "ru", "uk", "bg",
        "sr", "mk", "be", "kk", "ky", "mn", "ar", "fa", "ur", "ps", "hi", "mr", "ne",
    ];
    KNOWN
        .iter()
        .copied()
        .find(|k| *k == s)
        .unwrap_or_else(|| Box::leak(s.to_owned().into_boxed_str()))
}

fn parse(bytes: &[u8]) -> Option<Model> {
    let mut r = Reader(bytes);
    if r.take(7)? != b"BCLID1\n" {
        return None;
    }
    let ngroups = r.u8()?;
    let mut groups = Vec::with_capacity(usize::from(ngroups));
    for _ in 0..ngroups {
        let script = r.name()?;
        let nlangs = usize::from(r.u8()?);
        if nlangs == 0 || nlangs > MAX_LANGS {
            return None;
        }
        let langs = (0..nlangs).map(|_| r.name()).collect::<Option<Vec<_>>>()?;
        let prior = (0..nlangs)
            .map(|_| r.i16().map(i32::from))
            .collect::<Option<Vec<_>>>()?;
        let nfeat = usize::from(r.u16()?);
        let mut keys = Vec::with_capacity(nfeat);
        let mut weights = Vec::with_capacity(nfeat);
        for _ in 0..nfeat {
            let len = usize::from(r.u8()?);
            let gram = r.take(len)?;
            if !(1..=4).contains(&len) || gram.contains(&0) {
                return None;
            }
            keys.push((
                len,
                gram.iter()
                    .enumerate()
                    .fold(0u32, |k, (i, &b)| k | u32::from(b) << (8 * i)),
            ));
            let mut w = [0i16; MAX_LANGS];
            for x in &mut w[..nlangs] {
                *x = r.i16()?;
            }
            weights.push(w);
        }
        let mut direct = vec![ABSENT; 1 << 16];
        let mut long = Vec::with_capacity(nfeat);
        for (row, &(len, key)) in keys.iter().enumerate() {
            let row = u16::try_from(row).ok().filter(|&r| r != ABSENT)?;
            if len <= 2 {
                direct[key as usize] = row;
            } else {
                long.push((key, row));
            }
        }
        let ((table, shift), mul) = MULTIPLIERS
            .iter()
            .find_map(|&m| Group::build_table(&long, m).map(|t| (t, m)))?;
        let g = Group {
            script,
            langs,
            prior,
            direct,
            table,
            mul,
            shift,
            weights,
        };
        groups.push(g);
    }
    r.0.is_empty().then_some(Model { groups })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_parses_with_expected_groups() {
        let m = &*MODEL;
        let scripts: Vec<_> = m.groups.iter().map(|g| g.script).collect();
        assert_eq!(scripts, ["Latn", "Cyrl", "Arab", "Deva"]);
        let latn = m.group("Latn").expect("latin group");
        assert!(latn.langs.contains(&"en") && latn.langs.contains(&"no"));
        assert!(latn.feature_count() > 1000);
    }

    #[test]
    fn truncated_or_foreign_bytes_are_rejected() {
        assert!(parse(&MODEL_BYTES[..MODEL_BYTES.len() - 1]).is_none());
        assert!(parse(b"nope").is_none());
    }

    #[test]
    fn scores_prefer_the_right_language() {
        let g = MODEL.group("Latn").expect("latin group");
        let best = |t: &str| {
            let s = g.score(t.as_bytes());
            let n = g.langs.len();
            let i = (0..n).max_by_key(|&i| s.score[i]).unwrap_or(0);
            g.langs[i]
        };
        assert_eq!(best(" the weather is lovely today "), "en");
        assert_eq!(best(" el tiempo está muy bonito hoy "), "es");
        assert_eq!(best(" das wetter ist heute schön "), "de");
    }
}
