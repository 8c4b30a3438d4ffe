//! The shape of a text: character classes, typography, scripts and invisible characters, from
//! one pass over its chars plus one over its words.

use super::chars::{self, SCRIPTS, Script};
use crate::analysis::Analysis;
use crate::registry::{Extractor, FieldSpec, FieldWriter};

/// Character classes, typography and scripts.
#[derive(Debug)]
pub struct Shape;

mod f {
    pub const UPPERCASE_RATIO: usize = 0;
    pub const LETTER_RATIO: usize = 1;
    pub const DIGIT_RATIO: usize = 2;
    pub const PUNCTUATION_RATIO: usize = 3;
    pub const WHITESPACE_RATIO: usize = 4;
    pub const NON_ASCII_RATIO: usize = 5;
    pub const LINE_BREAK_RATIO: usize = 6;
    pub const EMOJI_COUNT: usize = 7;
    pub const EMOJI_RATIO: usize = 8;
    pub const EMOJI_ONLY: usize = 9;
    pub const EXCLAMATIONS: usize = 10;
    pub const QUESTIONS: usize = 11;
    pub const REPEATED_PUNCTUATION: usize = 12;
    pub const ELLIPSES: usize = 13;
    pub const QUOTE_MARKS: usize = 14;
    pub const CURRENCY_SYMBOLS: usize = 15;
    pub const CONTROL_CHARS: usize = 16;
    pub const ZERO_WIDTH_CHARS: usize = 17;
    pub const BIDI_CONTROLS: usize = 18;
    pub const COMBINING_MARKS: usize = 19;
    pub const HAS_RTL: usize = 20;
    pub const HAS_CJK: usize = 21;
    pub const SCRIPT_COUNT: usize = 22;
    pub const DOMINANT_SCRIPT: usize = 23;
    pub const MIXED_SCRIPTS: usize = 24;
    pub const MIXED_SCRIPT_WORDS: usize = 25;
    pub const ALLCAPS_WORDS: usize = 26;
    pub const ELONGATED_WORDS: usize = 27;
    pub const NUMBERS: usize = 28;
    pub const MAX_CHAR_RUN: usize = 29;
    pub const STARTS_WITH_MENTION: usize = 30;
    pub const STARTS_WITH_RT: usize = 31;
    pub const STARTS_WITH_CAPITAL: usize = 32;
    pub const ENDS_WITH_QUESTION: usize = 33;
    pub const ENDS_WITH_EXCLAMATION: usize = 34;
    pub const ENDS_WITH_ELLIPSIS: usize = 35;
    pub const HTML_ENTITIES: usize = 36;
}

pub(super) const FIELDS: &[FieldSpec] = &[
    FieldSpec::float(
        "text_uppercase_ratio",
        "Share of letters that are upper-case (0 without letters).",
    ),
    FieldSpec::float(
        "text_letter_ratio",
        "Share of characters that are letters (0 for empty text).",
    ),
    FieldSpec::float(
        "text_digit_ratio",
        "Share of characters that are digits or other numerals.",
    ),
    FieldSpec::float(
        "text_punctuation_ratio",
        "Share of characters that are Unicode punctuation (category P).",
    ),
    FieldSpec::float(
        "text_whitespace_ratio",
        "Share of characters that are whitespace.",
    ),
    FieldSpec::float("text_non_ascii_ratio", "Share of characters outside ASCII."),
    FieldSpec::float(
        "text_line_break_ratio",
        "Line breaks per character (how broken-up the layout is).",
    ),
    FieldSpec::int(
        "text_emoji_count",
        "Emoji: pictographs in emoji presentation, flags and keycaps; a ZWJ sequence counts once.",
    ),
    FieldSpec::float(
        "text_emoji_ratio",
        "Share of non-space characters that belong to emoji (pictographs, modifiers, joiners, flags).",
    ),
    FieldSpec::bool(
        "text_emoji_only",
        "Has emoji and no letters, digits or punctuation (only emoji, symbols and spaces).",
    ),
    FieldSpec::int(
        "text_exclamations",
        "Exclamation marks (!, full-width and inverted forms included).",
    ),
    FieldSpec::int(
        "text_questions",
        "Question marks (?, full-width, inverted and Arabic forms included).",
    ),
    FieldSpec::int(
        "text_repeated_punctuation",
        "Runs of two or more exclamation/question marks, such as \"!!\" or \"?!?\".",
    ),
    FieldSpec::int(
        "text_ellipses",
        "Ellipses: each \"…\" and each run of three or more dots.",
    ),
    FieldSpec::int(
        "text_quote_marks",
        "Double and guillemet quotation marks (\" “ ” „ « » 「 」 and kin; apostrophes excluded).",
    ),
    FieldSpec::int(
        "text_currency_symbols",
        "Currency symbols ($ € £ ¥ ₹ ₿ …, category Sc).",
    ),
    FieldSpec::int(
        "text_control_chars",
        "Control characters other than tab, line feed and carriage return.",
    ),
    FieldSpec::int(
        "text_zero_width_chars",
        "Zero-width characters (ZWSP, ZWNJ, ZWJ, word joiner, BOM), often used to dodge filters.",
    ),
    FieldSpec::int(
        "text_bidi_controls",
        "Bidirectional formatting controls (LRM/RLM, embeddings, overrides, isolates).",
    ),
    FieldSpec::int(
        "text_combining_marks",
        "Non-spacing and enclosing combining marks (categories Mn, Me).",
    ),
    FieldSpec::bool(
        "text_has_rtl",
        "Contains right-to-left script (Arabic, Hebrew, Syriac, Thaana, N'Ko, …).",
    ),
    FieldSpec::bool(
        "text_has_cjk",
        "Contains Chinese, Japanese or Korean characters (Han, kana, Hangul).",
    ),
    FieldSpec::int(
        "text_script_count",
        "Distinct writing systems among the letters (Latin, Cyrillic, Han, …).",
    ),
    FieldSpec::str(
        "text_dominant_script",
        "Writing system of most letters (latin, cyrillic, arabic, han, …; \"none\" without letters).",
    ),
    FieldSpec::bool(
        "text_mixed_scripts",
        "Letters mix writing systems beyond the usual CJK combinations (UTS #39 highly restrictive).",
    ),
    FieldSpec::int(
        "text_mixed_script_words",
        "Words whose letters mix writing systems (e.g. Latin with Cyrillic look-alikes).",
    ),
    FieldSpec::int(
        "text_allcaps_words",
        "Words of two or more letters written entirely in upper case.",
    ),
    FieldSpec::int(
        "text_elongated_words",
        "Words with a letter repeated three or more times in a row (\"sooo\", \"yesss\").",
    ),
    FieldSpec::int(
        "text_numbers",
        "Words that are numbers (start with a digit: 42, 3.14, 1,000, 2nd).",
    ),
    FieldSpec::int(
        "text_max_char_run",
        "Longest run of one repeated non-space character.",
    ),
    FieldSpec::bool(
        "text_starts_with_mention",
        "Starts with an @-mention (a reply or address).",
    ),
    FieldSpec::bool(
        "text_starts_with_rt",
        "Starts with \"RT @\", the classic retweet prefix.",
    ),
    FieldSpec::bool(
        "text_starts_with_capital",
        "The first letter is upper-case.",
    ),
    FieldSpec::bool(
        "text_ends_with_question",
        "The last non-space character is a question mark.",
    ),
    FieldSpec::bool(
        "text_ends_with_exclamation",
        "The last non-space character is an exclamation mark.",
    ),
    FieldSpec::bool(
        "text_ends_with_ellipsis",
        "Ends with \"…\" or \"...\", which often means the source cut the text.",
    ),
    FieldSpec::int(
        "text_html_entities",
        "HTML character references left in the text (&amp;, &#39;, &#x1F600;).",
    ),
];

impl Extractor for Shape {
    fn name(&self) -> &'static str {
        "text_shape"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let s = scan(a.text);
        let ratio = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        out.float(f::UPPERCASE_RATIO, ratio(s.upper, s.letters));
        out.float(f::LETTER_RATIO, ratio(s.letters, s.chars));
        out.float(f::DIGIT_RATIO, ratio(s.digits, s.chars));
        out.float(f::PUNCTUATION_RATIO, ratio(s.punctuation, s.chars));
        out.float(f::WHITESPACE_RATIO, ratio(s.whitespace, s.chars));
        out.float(f::NON_ASCII_RATIO, ratio(s.non_ascii, s.chars));
        out.float(f::LINE_BREAK_RATIO, ratio(s.line_breaks, s.chars));
        out.count(f::EMOJI_COUNT, s.emoji);
        out.float(f::EMOJI_RATIO, ratio(s.emoji_chars, s.chars - s.whitespace));
        out.bool(
            f::EMOJI_ONLY,
            s.emoji > 0 && s.letters == 0 && s.digits == 0 && s.punctuation == 0,
        );
        out.count(f::EXCLAMATIONS, s.exclamations);
        out.count(f::QUESTIONS, s.questions);
        out.count(f::REPEATED_PUNCTUATION, s.repeated_punctuation);
        out.count(f::ELLIPSES, s.ellipses);
        out.count(f::QUOTE_MARKS, s.quotes);
        out.count(f::CURRENCY_SYMBOLS, s.currency);
        out.count(f::CONTROL_CHARS, s.controls);
        out.count(f::ZERO_WIDTH_CHARS, s.zero_width);
        out.count(f::BIDI_CONTROLS, s.bidi);
        out.count(f::COMBINING_MARKS, s.marks);
        out.bool(f::HAS_RTL, s.rtl);
        out.bool(f::HAS_CJK, s.cjk);
        let scripts = s.script_letters.iter().filter(|&&n| n > 0).count();
        out.count(f::SCRIPT_COUNT, scripts);
        let dominant = (0..SCRIPTS)
            .filter(|&i| s.script_letters[i] > 0)
            .max_by_key(|&i| (s.script_letters[i], std::cmp::Reverse(i)))
            .map_or("none", |i| Script::ALL[i].name());
        out.str(f::DOMINANT_SCRIPT, dominant);
        out.bool(f::MIXED_SCRIPTS, chars::is_mixed(s.script_bits));
        out.count(f::MAX_CHAR_RUN, s.max_run);
        out.count(f::HTML_ENTITIES, s.html_entities);

        let w = words(a.words());
        out.count(f::MIXED_SCRIPT_WORDS, w.mixed_script);
        out.count(f::ALLCAPS_WORDS, w.allcaps);
        out.count(f::ELONGATED_WORDS, w.elongated);
        out.count(f::NUMBERS, w.numbers);

        let t = a.text;
        let trimmed = t.trim_start();
        out.bool(f::STARTS_WITH_MENTION, starts_with_mention(trimmed));
        out.bool(f::STARTS_WITH_RT, trimmed.starts_with("RT @"));
        out.bool(
            f::STARTS_WITH_CAPITAL,
            t.chars()
                .find(|c| c.is_alphabetic())
                .is_some_and(char::is_uppercase),
        );
        let end = t.trim_end();
        let last = end.chars().next_back();
        out.bool(
            f::ENDS_WITH_QUESTION,
            matches!(last, Some('?' | '？' | '؟')),
        );
        out.bool(f::ENDS_WITH_EXCLAMATION, matches!(last, Some('!' | '！')));
        out.bool(
            f::ENDS_WITH_ELLIPSIS,
            end.ends_with('…') || end.ends_with("..."),
        );
    }
}

fn starts_with_mention(t: &str) -> bool {
    let mut it = t.chars();
    matches!(it.next(), Some('@' | '＠'))
        && it.next().is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Per-character tallies.
#[derive(Debug, Default)]
pub(super) struct Scan {
    pub chars: usize,
    pub letters: usize,
    pub upper: usize,
    pub digits: usize,
    pub punctuation: usize,
    pub whitespace: usize,
    pub non_ascii: usize,
    pub line_breaks: usize,
    pub emoji: usize,
    pub emoji_chars: usize,
    pub exclamations: usize,
    pub questions: usize,
    pub repeated_punctuation: usize,
    pub ellipses: usize,
    pub quotes: usize,
    pub currency: usize,
    pub controls: usize,
    pub zero_width: usize,
    pub bidi: usize,
    pub marks: usize,
    pub rtl: bool,
    pub cjk: bool,
    pub script_letters: [usize; SCRIPTS],
    pub script_bits: u16,
    pub max_run: usize,
    pub html_entities: usize,
}

/// One pass over the chars of `text`.
pub(super) fn scan(text: &str) -> Scan {
    let mut s = Scan::default();
    let mut prev = '\0';
    let mut run = 0usize; // current run of `prev` (non-space)
    let mut bang_run = 0usize; // current run of ! and ?
    let mut dot_run = 0usize;
    let mut regional = 0usize;
    let bytes = text.as_bytes();
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        s.chars += 1;
        let next = it.peek().map(|&(_, n)| n);
        if c.is_ascii() {
            regional = 0;
            match c {
                'a'..='z' => {
                    s.letters += 1;
                    s.script_letters[Script::Latin as usize] += 1;
                }
                'A'..='Z' => {
                    s.letters += 1;
                    s.upper += 1;
                    s.script_letters[Script::Latin as usize] += 1;
                }
                '0'..='9' => s.digits += 1,
                ' ' | '\t' => s.whitespace += 1,
                '\n' => {
                    s.whitespace += 1;
                    s.line_breaks += 1;
                }
                '\r' => {
                    s.whitespace += 1;
                    if next != Some('\n') {
                        s.line_breaks += 1;
                    }
                }
                '\x0b' | '\x0c' => s.whitespace += 1,
                '\0'..='\x1f' | '\x7f' => s.controls += 1,
                '$' => s.currency += 1,
                '&' => s.html_entities += usize::from(html_entity_at(&bytes[i..])),
                _ => {}
            }
            if chars::is_punctuation(c) {
                s.punctuation += 1;
            }
        } else {
            s.non_ascii += 1;
            if c.is_alphabetic() {
                s.letters += 1;
                s.upper += usize::from(c.is_uppercase());
                s.script_letters[chars::script_of(c) as usize] += 1;
            } else if c.is_numeric() {
                s.digits += 1;
            } else if c.is_whitespace() {
                s.whitespace += 1;
                s.line_breaks += usize::from(matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}'));
            } else if chars::is_punctuation(c) {
                s.punctuation += 1;
            } else if chars::is_currency(c) {
                s.currency += 1;
            } else if c.is_control() {
                s.controls += 1;
            } else if chars::is_mark(c) {
                s.marks += 1;
            }
            s.zero_width += usize::from(chars::is_zero_width(c));
            s.bidi += usize::from(chars::is_bidi_control(c));
            s.rtl |= chars::is_rtl(c);
            s.cjk |= chars::is_cjk(c);
            // Emoji.
            if chars::is_regional_indicator(c) {
                s.emoji_chars += 1;
                regional += 1;
                if regional % 2 == 1 {
                    s.emoji += 1; // a flag is a pair; count at its first half
                }
            } else {
                regional = 0;
                if chars::is_pictographic(c) {
                    s.emoji_chars += 1;
                    let presented = chars::is_emoji_presentation(c) || next == Some('\u{fe0f}');
                    if presented && prev != '\u{200d}' {
                        s.emoji += 1;
                    }
                } else if chars::is_emoji_component(c) {
                    s.emoji_chars += 1;
                    // A keycap (1️⃣) has no pictograph: count it at U+20E3.
                    s.emoji += usize::from(c == '\u{20e3}');
                }
            }
        }
        // Typography.
        match c {
            '!' | '！' | '¡' => s.exclamations += 1,
            '?' | '？' | '¿' | '؟' => s.questions += 1,
            '…' => s.ellipses += 1,
            '"' | '“' | '”' | '„' | '‟' | '«' | '»' | '‹' | '›' | '「' | '」' | '『' | '』'
            | '＂' => s.quotes += 1,
            _ => {}
        }
        if matches!(c, '!' | '?' | '！' | '？') {
            bang_run += 1;
            if bang_run == 2 {
                s.repeated_punctuation += 1;
            }
        } else {
            bang_run = 0;
        }
        if c == '.' {
            dot_run += 1;
            if dot_run == 3 {
                s.ellipses += 1;
            }
        } else {
            dot_run = 0;
        }
        if c == prev && !c.is_whitespace() {
            run += 1;
        } else {
            run = usize::from(!c.is_whitespace());
        }
        s.max_run = s.max_run.max(run);
        prev = c;
    }
    for (i, &n) in s.script_letters.iter().enumerate() {
        if n > 0 {
            s.script_bits |= 1 << i;
        }
    }
    s
}

/// Whether `b` (starting at `&`) begins an HTML character reference: `&name;` (2-8 ASCII
/// letters), `&#123;` or `&#x1F600;`.
fn html_entity_at(b: &[u8]) -> bool {
    let body = &b[1..b.len().min(12)];
    let Some(end) = body.iter().position(|&c| c == b';') else {
        return false;
    };
    let name = &body[..end];
    match name {
        [b'#', b'x' | b'X', hex @ ..] => !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit),
        [b'#', dec @ ..] => !dec.is_empty() && dec.iter().all(u8::is_ascii_digit),
        _ => (2..=8).contains(&name.len()) && name.iter().all(u8::is_ascii_alphabetic),
    }
}

/// Word-level tallies over UAX #29 words.
#[derive(Debug, Default)]
pub(super) struct Words {
    pub mixed_script: usize,
    pub allcaps: usize,
    pub elongated: usize,
    pub numbers: usize,
}

pub(super) fn words(words: &[&str]) -> Words {
    let mut w = Words::default();
    for word in words {
        if word.starts_with(|c: char| c.is_numeric()) {
            w.numbers += 1;
        }
        let (mut letters, mut upper, mut scripts) = (0usize, 0usize, 0u16);
        let (mut prev, mut run, mut elongated) = ('\0', 0usize, false);
        for c in word.chars() {
            if c.is_alphabetic() {
                letters += 1;
                upper += usize::from(c.is_uppercase());
                if !c.is_ascii() {
                    scripts |= chars::script_of(c).bit();
                } else {
                    scripts |= Script::Latin.bit();
                }
                let lc = c.to_ascii_lowercase();
                run = if lc == prev { run + 1 } else { 1 };
                elongated |= run >= 3;
                prev = lc;
            } else {
                prev = '\0';
                run = 0;
            }
        }
        w.allcaps += usize::from(letters >= 2 && upper == letters);
        // "www" is a host name, not a drawn-out word.
        let host = word
            .as_bytes()
            .get(..3)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"www"));
        w.elongated += usize::from(elongated && !host);
        w.mixed_script += usize::from(chars::is_mixed(scripts));
    }
    w
}
