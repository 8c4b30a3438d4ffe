//! Character classes the text statistics need: Unicode general categories (generated tables),
//! emoji, scripts, and the invisible characters that spam and spoofing use.

use crate::unicode::in_ranges;

#[rustfmt::skip]
mod table {
    include!("unicode_table.rs");
}

/// Unicode punctuation (general category P*).
#[inline]
pub(crate) fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return matches!(c, '!'..='#' | '%'..='*' | ','..='/' | ':' | ';' | '?' | '@' | '['..=']' | '_' | '{' | '}');
    }
    in_ranges(table::PUNCTUATION, c)
}

/// Currency symbols (general category Sc).
#[inline]
pub(crate) fn is_currency(c: char) -> bool {
    if c.is_ascii() {
        return c == '$';
    }
    in_ranges(table::CURRENCY, c)
}

/// Combining marks (general categories Mn, Me).
#[inline]
pub(crate) fn is_mark(c: char) -> bool {
    !c.is_ascii() && in_ranges(table::MARKS, c)
}

/// Invisible characters with no width: zero-width space, (non-)joiners, word joiner, BOM,
/// Mongolian vowel separator.
#[inline]
pub(crate) fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{180e}'
    )
}

/// Bidirectional formatting controls (marks, embeddings, overrides, isolates).
#[inline]
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// Extended_Pictographic (UTS #51) code points.
const PICTOGRAPHIC: &[(u32, u32)] = &[
    (0xA9, 0xA9),
    (0xAE, 0xAE),
    (0x203C, 0x203C),
    (0x2049, 0x2049),
    (0x2122, 0x2122),
    (0x2139, 0x2139),
    (0x2194, 0x2199),
    (0x21A9, 0x21AA),
    (0x231A, 0x231B),
    (0x2328, 0x2328),
    (0x2388, 0x2388),
    (0x23CF, 0x23CF),
    (0x23E9, 0x23F3),
    (0x23F8, 0x23FA),
    (0x24C2, 0x24C2),
    (0x25AA, 0x25AB),
    (0x25B6, 0x25B6),
    (0x25C0, 0x25C0),
    (0x25FB, 0x25FE),
    (0x2600, 0x2605),
    (0x2607, 0x2612),
    (0x2614, 0x2685),
    (0x2690, 0x2705),
    (0x2708, 0x2712),
    (0x2714, 0x2714),
    (0x2716, 0x2716),
    (0x271D, 0x271D),
    (0x2721, 0x2721),
    (0x2728, 0x2728),
    (0x2733, 0x2734),
    (0x2744, 0x2744),
    (0x2747, 0x2747),
    (0x274C, 0x274C),
    (0x274E, 0x274E),
    (0x2753, 0x2755),
    (0x2757, 0x2757),
    (0x2763, 0x2767),
    (0x2795, 0x2797),
    (0x27A1, 0x27A1),
    (0x27B0, 0x27B0),
    (0x27BF, 0x27BF),
    (0x2934, 0x2935),
    (0x2B05, 0x2B07),
    (0x2B1B, 0x2B1C),
    (0x2B50, 0x2B50),
    (0x2B55, 0x2B55),
    (0x3030, 0x3030),
    (0x303D, 0x303D),
    (0x3297, 0x3297),
    (0x3299, 0x3299),
    (0x1F000, 0x1F0FF),
    (0x1F10D, 0x1F10F),
    (0x1F12F, 0x1F12F),
    (0x1F16C, 0x1F171),
    (0x1F17E, 0x1F17F),
    (0x1F18E, 0x1F18E),
    (0x1F191, 0x1F19A),
    (0x1F1AD, 0x1F1E5),
    (0x1F201, 0x1F20F),
    (0x1F21A, 0x1F21A),
    (0x1F22F, 0x1F22F),
    (0x1F232, 0x1F23A),
    (0x1F23C, 0x1F23F),
    (0x1F249, 0x1F3FA),
    (0x1F400, 0x1F53D),
    (0x1F546, 0x1F64F),
    (0x1F680, 0x1F6FF),
    (0x1F774, 0x1F77F),
    (0x1F7D5, 0x1F7FF),
    (0x1F80C, 0x1F80F),
    (0x1F848, 0x1F84F),
    (0x1F85A, 0x1F85F),
    (0x1F888, 0x1F88F),
    (0x1F8AE, 0x1F8FF),
    (0x1F90C, 0x1F93A),
    (0x1F93C, 0x1F945),
    (0x1F947, 0x1FAFF),
    (0x1FC00, 0x1FFFD),
];

/// BMP pictographs shown as emoji by default (Emoji_Presentation=Yes), even without U+FE0F.
const BMP_EMOJI_PRESENTATION: &[(u32, u32)] = &[
    (0x231A, 0x231B),
    (0x23E9, 0x23EC),
    (0x23F0, 0x23F0),
    (0x23F3, 0x23F3),
    (0x25FD, 0x25FE),
    (0x2614, 0x2615),
    (0x2648, 0x2653),
    (0x267F, 0x267F),
    (0x2693, 0x2693),
    (0x26A1, 0x26A1),
    (0x26AA, 0x26AB),
    (0x26BD, 0x26BE),
    (0x26C4, 0x26C5),
    (0x26CE, 0x26CE),
    (0x26D4, 0x26D4),
    (0x26EA, 0x26EA),
    (0x26F2, 0x26F3),
    (0x26F5, 0x26F5),
    (0x26FA, 0x26FA),
    (0x26FD, 0x26FD),
    (0x2705, 0x2705),
    (0x270A, 0x270B),
    (0x2728, 0x2728),
    (0x274C, 0x274C),
    (0x274E, 0x274E),
    (0x2753, 0x2755),
    (0x2757, 0x2757),
    (0x2795, 0x2797),
    (0x27B0, 0x27B0),
    (0x27BF, 0x27BF),
    (0x2B1B, 0x2B1C),
    (0x2B50, 0x2B50),
    (0x2B55, 0x2B55),
];

/// Extended_Pictographic.
#[inline]
pub(crate) fn is_pictographic(c: char) -> bool {
    u32::from(c) >= 0xA9 && in_ranges(PICTOGRAPHIC, c)
}

/// A pictograph that renders as emoji by itself (supplementary planes, or a BMP one with
/// default emoji presentation). Others (©, ™, ☺) are emoji only when followed by U+FE0F.
#[inline]
pub(crate) fn is_emoji_presentation(c: char) -> bool {
    let u = u32::from(c);
    (u >= 0x1F000 && is_pictographic(c))
        || ((0x231A..0x1_0000).contains(&u) && in_ranges(BMP_EMOJI_PRESENTATION, c))
}

#[inline]
pub(crate) fn is_regional_indicator(c: char) -> bool {
    ('\u{1F1E6}'..='\u{1F1FF}').contains(&c)
}

/// Code points that only occur inside emoji sequences: variation selectors, ZWJ, skin-tone
/// modifiers, keycap, tags.
#[inline]
pub(crate) fn is_emoji_component(c: char) -> bool {
    matches!(c, '\u{fe0e}' | '\u{fe0f}' | '\u{200d}' | '\u{20e3}' | '\u{1F3FB}'..='\u{1F3FF}' | '\u{E0020}'..='\u{E007F}')
}

/// Writing systems we tell apart (by Unicode block, for letters only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Script {
    Latin,
    Greek,
    Cyrillic,
    Armenian,
    Hebrew,
    Arabic,
    Devanagari,
    Bengali,
    Tamil,
    Thai,
    Georgian,
    Hangul,
    Hiragana,
    Katakana,
    Han,
    Other,
}

pub(crate) const SCRIPTS: usize = 16;

impl Script {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Script::Latin => "latin",
            Script::Greek => "greek",
            Script::Cyrillic => "cyrillic",
            Script::Armenian => "armenian",
            Script::Hebrew => "hebrew",
            Script::Arabic => "arabic",
            Script::Devanagari => "devanagari",
            Script::Bengali => "bengali",
            Script::Tamil => "tamil",
            Script::Thai => "thai",
            Script::Georgian => "georgian",
            Script::Hangul => "hangul",
            Script::Hiragana => "hiragana",
            Script::Katakana => "katakana",
            Script::Han => "han",
            Script::Other => "other",
        }
    }

    pub(crate) const ALL: [Script; SCRIPTS] = [
        Script::Latin,
        Script::Greek,
        Script::Cyrillic,
        Script::Armenian,
        Script::Hebrew,
        Script::Arabic,
        Script::Devanagari,
        Script::Bengali,
        Script::Tamil,
        Script::Thai,
        Script::Georgian,
        Script::Hangul,
        Script::Hiragana,
        Script::Katakana,
        Script::Han,
        Script::Other,
    ];

    pub(crate) fn bit(self) -> u16 {
        1 << self as u8
    }
}

/// The script of a letter (`c` must be alphabetic).
pub(crate) fn script_of(c: char) -> Script {
    let u = u32::from(c);
    match u {
        0x41..=0x24F
        | 0x250..=0x2AF
        | 0x1D00..=0x1DBF
        | 0x1E00..=0x1EFF
        | 0x2C60..=0x2C7F
        | 0xA720..=0xA7FF
        | 0xAB30..=0xAB6F
        | 0xFB00..=0xFB06
        | 0xFF21..=0xFF5A => Script::Latin,
        0x370..=0x3FF | 0x1F00..=0x1FFF => Script::Greek,
        0x400..=0x52F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => Script::Cyrillic,
        0x530..=0x58F | 0xFB13..=0xFB17 => Script::Armenian,
        0x590..=0x5FF | 0xFB1D..=0xFB4F => Script::Hebrew,
        0x600..=0x6FF | 0x750..=0x77F | 0x870..=0x8FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => {
            Script::Arabic
        }
        0x900..=0x97F | 0xA8E0..=0xA8FF => Script::Devanagari,
        0x980..=0x9FF => Script::Bengali,
        0xB80..=0xBFF => Script::Tamil,
        0xE00..=0xE7F => Script::Thai,
        0x10A0..=0x10FF | 0x1C90..=0x1CBF | 0x2D00..=0x2D2F => Script::Georgian,
        0x1100..=0x11FF | 0x3130..=0x318F | 0xA960..=0xA97F | 0xAC00..=0xD7FF | 0xFFA0..=0xFFDC => {
            Script::Hangul
        }
        0x3040..=0x309F => Script::Hiragana,
        0x30A0..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => Script::Katakana,
        0x2E80..=0x2FDF
        | 0x3005..=0x3007
        | 0x3021..=0x3029
        | 0x3038..=0x303B
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF
        | 0x20000..=0x323AF => Script::Han,
        _ => Script::Other,
    }
}

/// Right-to-left scripts: Hebrew, Arabic, Syriac, Thaana, N'Ko, Samaritan, Mandaic and the
/// right-to-left blocks of the supplementary planes.
pub(crate) fn is_rtl(c: char) -> bool {
    matches!(u32::from(c), 0x590..=0x8FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF | 0x10800..=0x10FFF | 0x1E800..=0x1EFFF)
}

/// Chinese, Japanese and Korean characters (Han, kana, Hangul, Bopomofo).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(
        u32::from(c),
        0x1100..=0x11FF | 0x2E80..=0x2FDF | 0x3040..=0x30FF | 0x3100..=0x312F | 0x3130..=0x318F
            | 0x31A0..=0x31FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xA960..=0xA97F
            | 0xAC00..=0xD7FF | 0xF900..=0xFAFF | 0xFF66..=0xFFDC | 0x20000..=0x323AF
    )
}

/// Whether a set of scripts (bits of [`Script::bit`]) mixes writing systems, in the spirit of
/// UTS #39's "highly restrictive" level: one script, or Latin with the scripts a CJK language
/// writes together (Han + kana for Japanese, Han + Hangul for Korean), is not mixed.
pub(crate) fn is_mixed(scripts: u16) -> bool {
    let japanese =
        Script::Latin.bit() | Script::Han.bit() | Script::Hiragana.bit() | Script::Katakana.bit();
    let korean = Script::Latin.bit() | Script::Han.bit() | Script::Hangul.bit();
    scripts.count_ones() > 1 && scripts & !japanese != 0 && scripts & !korean != 0
}
