//! Writing systems: which script a letter belongs to (by Unicode block), its ISO 15924 code,
//! and the language a script implies when only one major language is written in it.
//!
//! Blocks rather than the Unicode `Script` property: the two agree for letters of the scripts we
//! route on, and a sorted range table is small and fast (ASCII and Latin-1 never reach it).

/// A script we tell apart. `Zyyy` (common) stands for "no letters"; `Zzzz` for letters of a
/// script not in this table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Script {
    Zyyy,
    Zzzz,
    Latn,
    Grek,
    Cyrl,
    Armn,
    Hebr,
    Arab,
    Thaa,
    Deva,
    Beng,
    Guru,
    Gujr,
    Orya,
    Taml,
    Telu,
    Knda,
    Mlym,
    Sinh,
    Thai,
    Laoo,
    Tibt,
    Mymr,
    Geor,
    Hang,
    Ethi,
    Khmr,
    Mong,
    Hira,
    Kana,
    Hani,
}

/// Number of [`Script`] variants (the length of per-script count arrays).
pub const SCRIPT_COUNT: usize = Script::Hani as usize + 1;

impl Script {
    /// Every script, in discriminant order.
    pub const ALL: [Script; SCRIPT_COUNT] = [
        Script::Zyyy,
        Script::Zzzz,
        Script::Latn,
        Script::Grek,
        Script::Cyrl,
        Script::Armn,
        Script::Hebr,
        Script::Arab,
        Script::Thaa,
        Script::Deva,
        Script::Beng,
        Script::Guru,
        Script::Gujr,
        Script::Orya,
        Script::Taml,
        Script::Telu,
        Script::Knda,
        Script::Mlym,
        Script::Sinh,
        Script::Thai,
        Script::Laoo,
        Script::Tibt,
        Script::Mymr,
        Script::Geor,
        Script::Hang,
        Script::Ethi,
        Script::Khmr,
        Script::Mong,
        Script::Hira,
        Script::Kana,
        Script::Hani,
    ];

    /// The ISO 15924 four-letter code.
    pub fn code(self) -> &'static str {
        const CODES: [&str; SCRIPT_COUNT] = [
            "Zyyy", "Zzzz", "Latn", "Grek", "Cyrl", "Armn", "Hebr", "Arab", "Thaa", "Deva", "Beng",
            "Guru", "Gujr", "Orya", "Taml", "Telu", "Knda", "Mlym", "Sinh", "Thai", "Laoo", "Tibt",
            "Mymr", "Geor", "Hang", "Ethi", "Khmr", "Mong", "Hira", "Kana", "Hani",
        ];
        CODES[self as usize]
    }

    /// The language a text in this script is taken to be without further evidence, for scripts
    /// used by one major language. `None` for scripts shared by several (Latin, Cyrillic,
    /// Arabic, Devanagari: decided statistically) and for Han and kana (decided together).
    pub fn sole_language(self) -> Option<&'static str> {
        Some(match self {
            Script::Grek => "el",
            Script::Armn => "hy",
            Script::Hebr => "he",
            Script::Thaa => "dv",
            Script::Beng => "bn",
            Script::Guru => "pa",
            Script::Gujr => "gu",
            Script::Orya => "or",
            Script::Taml => "ta",
            Script::Telu => "te",
            Script::Knda => "kn",
            Script::Mlym => "ml",
            Script::Sinh => "si",
            Script::Thai => "th",
            Script::Laoo => "lo",
            Script::Tibt => "bo",
            Script::Mymr => "my",
            Script::Geor => "ka",
            Script::Hang => "ko",
            Script::Ethi => "am",
            Script::Khmr => "km",
            Script::Mong => "mn",
            _ => return None,
        })
    }

    /// Whether the script is written right to left.
    pub fn is_rtl(self) -> bool {
        matches!(self, Script::Hebr | Script::Arab | Script::Thaa)
    }

    /// Whether one character of this script carries about a word's worth of information (Han,
    /// kana, Hangul syllables), so it weighs more when scripts compete for dominance.
    pub fn is_dense(self) -> bool {
        matches!(
            self,
            Script::Hani | Script::Hira | Script::Kana | Script::Hang
        )
    }
}

/// Sorted, non-overlapping code point ranges (inclusive) and their scripts, above U+024F.
const RANGES: &[(u32, u32, Script)] = &[
    (0x0250, 0x02AF, Script::Latn),
    (0x0370, 0x03FF, Script::Grek),
    (0x0400, 0x052F, Script::Cyrl),
    (0x0530, 0x058F, Script::Armn),
    (0x0590, 0x05FF, Script::Hebr),
    (0x0600, 0x06FF, Script::Arab),
    (0x0750, 0x077F, Script::Arab),
    (0x0780, 0x07BF, Script::Thaa),
    (0x0870, 0x08FF, Script::Arab),
    (0x0900, 0x097F, Script::Deva),
    (0x0980, 0x09FF, Script::Beng),
    (0x0A00, 0x0A7F, Script::Guru),
    (0x0A80, 0x0AFF, Script::Gujr),
    (0x0B00, 0x0B7F, Script::Orya),
    (0x0B80, 0x0BFF, Script::Taml),
    (0x0C00, 0x0C7F, Script::Telu),
    (0x0C80, 0x0CFF, Script::Knda),
    (0x0D00, 0x0D7F, Script::Mlym),
    (0x0D80, 0x0DFF, Script::Sinh),
    (0x0E00, 0x0E7F, Script::Thai),
    (0x0E80, 0x0EFF, Script::Laoo),
    (0x0F00, 0x0FFF, Script::Tibt),
    (0x1000, 0x109F, Script::Mymr),
    (0x10A0, 0x10FF, Script::Geor),
    (0x1100, 0x11FF, Script::Hang),
    (0x1200, 0x139F, Script::Ethi),
    (0x1780, 0x17FF, Script::Khmr),
    (0x1800, 0x18AF, Script::Mong),
    (0x19E0, 0x19FF, Script::Khmr),
    (0x1C80, 0x1C8F, Script::Cyrl),
    (0x1C90, 0x1CBF, Script::Geor),
    (0x1D00, 0x1DBF, Script::Latn),
    (0x1E00, 0x1EFF, Script::Latn),
    (0x1F00, 0x1FFF, Script::Grek),
    (0x2C60, 0x2C7F, Script::Latn),
    (0x2D00, 0x2D2F, Script::Geor),
    (0x2D80, 0x2DDF, Script::Ethi),
    (0x2DE0, 0x2DFF, Script::Cyrl),
    (0x2E80, 0x2FDF, Script::Hani),
    (0x3005, 0x3007, Script::Hani),
    (0x3021, 0x3029, Script::Hani),
    (0x3038, 0x303B, Script::Hani),
    (0x3041, 0x309F, Script::Hira),
    (0x30A0, 0x30FF, Script::Kana),
    (0x3130, 0x318F, Script::Hang),
    (0x31F0, 0x31FF, Script::Kana),
    (0x3400, 0x4DBF, Script::Hani),
    (0x4E00, 0x9FFF, Script::Hani),
    (0xA640, 0xA69F, Script::Cyrl),
    (0xA720, 0xA7FF, Script::Latn),
    (0xA960, 0xA97F, Script::Hang),
    (0xAB30, 0xAB6F, Script::Latn),
    (0xAC00, 0xD7FF, Script::Hang),
    (0xF900, 0xFAFF, Script::Hani),
    (0xFB00, 0xFB06, Script::Latn),
    (0xFB1D, 0xFB4F, Script::Hebr),
    (0xFB50, 0xFDFF, Script::Arab),
    (0xFE70, 0xFEFF, Script::Arab),
    (0xFF21, 0xFF3A, Script::Latn),
    (0xFF41, 0xFF5A, Script::Latn),
    (0xFF66, 0xFF9F, Script::Kana),
    (0xFFA0, 0xFFDC, Script::Hang),
    (0x1B000, 0x1B0FF, Script::Kana),
    (0x20000, 0x3FFFF, Script::Hani),
];

/// The script of a letter (or of a combining mark, which the caller attaches to the letter
/// before it). Characters outside every known block give [`Script::Zzzz`].
#[inline]
pub fn script_of(c: char) -> Script {
    let u = u32::from(c);
    if u < 0x250 {
        // ASCII, Latin-1, Latin Extended-A/B; the caller has already kept only letters.
        return Script::Latn;
    }
    crate::unicode::find_range(RANGES, c, |&(lo, hi, _)| (lo, hi))
        .map_or(Script::Zzzz, |i| RANGES[i].2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_sorted_and_disjoint() {
        for w in RANGES.windows(2) {
            assert!(w[0].0 <= w[0].1 && w[0].1 < w[1].0, "{:x?}", w);
        }
    }

    #[test]
    fn scripts_of_sample_letters() {
        let cases = [
            ('a', Script::Latn),
            ('ß', Script::Latn),
            ('ạ', Script::Latn),
            ('ж', Script::Cyrl),
            ('λ', Script::Grek),
            ('ש', Script::Hebr),
            ('ب', Script::Arab),
            ('ک', Script::Arab),
            ('क', Script::Deva),
            ('ก', Script::Thai),
            ('ა', Script::Geor),
            ('한', Script::Hang),
            ('の', Script::Hira),
            ('カ', Script::Kana),
            ('ｶ', Script::Kana),
            ('東', Script::Hani),
            ('𠀀', Script::Hani),
            ('ᚠ', Script::Zzzz),
        ];
        for (c, s) in cases {
            assert_eq!(script_of(c), s, "{c}");
        }
    }

    #[test]
    fn codes_follow_discriminants() {
        for (i, s) in Script::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
            assert_eq!(s.code().len(), 4);
        }
        assert_eq!(Script::Latn.code(), "Latn");
        assert_eq!(Script::Hani.code(), "Hani");
    }
}
