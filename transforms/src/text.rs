//! Text statistics: size, shape and typography of the text.
//!
//! One group, one pass: every character-level fact comes from a single scan of the analysed text
//! (`scan::scan`, ASCII classified by table lookup), word-level facts from one walk over the
//! shared UAX #29 words. Graphemes need the segmenter only for non-ASCII text.

mod chars;
mod scan;
#[cfg(test)]
mod tests;

use unicode_segmentation::UnicodeSegmentation;

use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::registry::{FieldSpec, FieldWriter, fields};
use chars::{SCRIPTS, Script};

pub const EXTRACTORS: &[&dyn Extractor] = &[&Stats];

/// Sizes of the text in its different units, character classes, typography and scripts.
#[derive(Debug)]
pub struct Stats;

fields! {
    const FIELDS, mod f = [
        BYTES => FieldSpec::int("text_bytes", "Length of the full text in UTF-8 bytes."),
        CHARS => FieldSpec::int("text_chars", "Unicode scalar values in the analysed text."),
        WORDS => FieldSpec::int(
            "text_words",
            "Words and numbers by Unicode word segmentation (UAX #29).",
        ),
        LINES => FieldSpec::int(
            "text_lines",
            "Lines in the analysed text (0 for empty text).",
        ),
        TRUNCATED => FieldSpec::bool(
            "text_truncated",
            "The text was longer than the analysis cap (16 KiB) and fields describe its prefix.",
        ),
        GRAPHEMES => FieldSpec::int(
            "text_graphemes",
            "User-perceived characters (extended grapheme clusters, UAX #29): an emoji sequence is one.",
        ),
        SENTENCES => FieldSpec::int(
            "text_sentences",
            "Sentences with a letter or digit, ended by . ! ? … (or CJK 。！？) before a space or the end.",
        ),
        PARAGRAPHS => FieldSpec::int(
            "text_paragraphs",
            "Paragraphs: runs of non-blank lines separated by blank lines.",
        ),
        LONGEST_WORD => FieldSpec::int(
            "text_longest_word",
            "Length in characters of the longest UAX #29 word (0 without words).",
        ),
        AVG_WORD_LENGTH => FieldSpec::float(
            "text_avg_word_length",
            "Mean length in characters of the UAX #29 words (0 without words).",
        ),
        UPPERCASE_RATIO => FieldSpec::float(
            "text_uppercase_ratio",
            "Share of letters that are upper-case (0 without letters).",
        ),
        LETTER_RATIO => FieldSpec::float(
            "text_letter_ratio",
            "Share of characters that are letters (0 for empty text).",
        ),
        DIGIT_RATIO => FieldSpec::float(
            "text_digit_ratio",
            "Share of characters that are digits or other numerals.",
        ),
        PUNCTUATION_RATIO => FieldSpec::float(
            "text_punctuation_ratio",
            "Share of characters that are Unicode punctuation (category P).",
        ),
        WHITESPACE_RATIO => FieldSpec::float(
            "text_whitespace_ratio",
            "Share of characters that are whitespace.",
        ),
        NON_ASCII_RATIO => FieldSpec::float("text_non_ascii_ratio", "Share of characters outside ASCII."),
        LINE_BREAK_RATIO => FieldSpec::float(
            "text_line_break_ratio",
            "Line breaks per character (how broken-up the layout is).",
        ),
        EMOJI_COUNT => FieldSpec::int(
            "text_emoji_count",
            "Emoji: pictographs in emoji presentation, flags and keycaps; a ZWJ sequence counts once.",
        ),
        EMOJI_RATIO => FieldSpec::float(
            "text_emoji_ratio",
            "Share of non-space characters that belong to emoji (pictographs, modifiers, joiners, flags).",
        ),
        EMOJI_ONLY => FieldSpec::bool(
            "text_emoji_only",
            "Has emoji and no letters, digits or punctuation (only emoji, symbols and spaces).",
        ),
        EXCLAMATIONS => FieldSpec::int(
            "text_exclamations",
            "Exclamation marks (!, full-width and inverted forms included).",
        ),
        QUESTIONS => FieldSpec::int(
            "text_questions",
            "Question marks (?, full-width, inverted and Arabic forms included).",
        ),
        REPEATED_PUNCTUATION => FieldSpec::int(
            "text_repeated_punctuation",
            "Runs of two or more exclamation/question marks, such as \"!!\" or \"?!?\".",
        ),
        ELLIPSES => FieldSpec::int(
            "text_ellipses",
            "Ellipses: each \"…\" and each run of three or more dots.",
        ),
        QUOTE_MARKS => FieldSpec::int(
            "text_quote_marks",
            "Double and guillemet quotation marks (\" “ ” „ « » 「 」 and kin; apostrophes excluded).",
        ),
        CURRENCY_SYMBOLS => FieldSpec::int(
            "text_currency_symbols",
            "Currency symbols ($ € £ ¥ ₹ ₿ …, category Sc).",
        ),
        CONTROL_CHARS => FieldSpec::int(
            "text_control_chars",
            "Control characters other than tab, line feed and carriage return.",
        ),
        ZERO_WIDTH_CHARS => FieldSpec::int(
            "text_zero_width_chars",
            "Zero-width characters (ZWSP, ZWNJ, ZWJ, word joiner, BOM), often used to dodge filters.",
        ),
        BIDI_CONTROLS => FieldSpec::int(
            "text_bidi_controls",
            "Bidirectional formatting controls (LRM/RLM, embeddings, overrides, isolates).",
        ),
        COMBINING_MARKS => FieldSpec::int(
            "text_combining_marks",
            "Non-spacing and enclosing combining marks (categories Mn, Me).",
        ),
        HAS_RTL => FieldSpec::bool(
            "text_has_rtl",
            "Contains right-to-left script (Arabic, Hebrew, Syriac, Thaana, N'Ko, …).",
        ),
        HAS_CJK => FieldSpec::bool(
            "text_has_cjk",
            "Contains Chinese, Japanese or Korean characters (Han, kana, Hangul).",
        ),
        SCRIPT_COUNT => FieldSpec::int(
            "text_script_count",
            "Distinct writing systems among the letters (Latin, Cyrillic, Han, …).",
        ),
        DOMINANT_SCRIPT => FieldSpec::str(
            "text_dominant_script",
            "Writing system of most letters (latin, cyrillic, arabic, han, …; \"none\" without letters).",
        ),
        MIXED_SCRIPTS => FieldSpec::bool(
            "text_mixed_scripts",
            "Letters mix writing systems beyond the usual CJK combinations (UTS #39 highly restrictive).",
        ),
        MIXED_SCRIPT_WORDS => FieldSpec::int(
            "text_mixed_script_words",
            "Words whose letters mix writing systems (e.g. Latin with Cyrillic look-alikes).",
        ),
        ALLCAPS_WORDS => FieldSpec::int(
            "text_allcaps_words",
            "Words of two or more letters written entirely in upper case.",
        ),
        ELONGATED_WORDS => FieldSpec::int(
            "text_elongated_words",
            "Words with a letter repeated three or more times in a row (\"sooo\", \"yesss\").",
        ),
        NUMBERS => FieldSpec::int(
            "text_numbers",
            "Words that are numbers (start with a digit: 42, 3.14, 1,000, 2nd).",
        ),
        MAX_CHAR_RUN => FieldSpec::int(
            "text_max_char_run",
            "Longest run of one repeated non-space character.",
        ),
        STARTS_WITH_MENTION => FieldSpec::bool(
            "text_starts_with_mention",
            "Starts with an @-mention (a reply or address).",
        ),
        STARTS_WITH_RT => FieldSpec::bool(
            "text_starts_with_rt",
            "Starts with \"RT @\", the classic retweet prefix.",
        ),
        STARTS_WITH_CAPITAL => FieldSpec::bool(
            "text_starts_with_capital",
            "The first letter is upper-case.",
        ),
        ENDS_WITH_QUESTION => FieldSpec::bool(
            "text_ends_with_question",
            "The last non-space character is a question mark.",
        ),
        ENDS_WITH_EXCLAMATION => FieldSpec::bool(
            "text_ends_with_exclamation",
            "The last non-space character is an exclamation mark.",
        ),
        ENDS_WITH_ELLIPSIS => FieldSpec::bool(
            "text_ends_with_ellipsis",
            "Ends with \"…\" or \"...\", which often means the source cut the text.",
        ),
        HTML_ENTITIES => FieldSpec::int(
            "text_html_entities",
            "HTML character references left in the text (&amp;, &#39;, &#x1F600;).",
        ),
    ]
}

impl Extractor for Stats {
    fn name(&self) -> &'static str {
        "text"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let t = a.text;
        let s = scan::scan(t);
        let words = a.words();
        let w = scan::words(words);
        let ratio = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };

        out.count(f::BYTES, a.mention.text.len());
        out.count(f::CHARS, s.chars);
        out.count(f::WORDS, words.len());
        out.count(
            f::LINES,
            s.newlines + usize::from(!t.is_empty() && s.last_char != Some('\n')),
        );
        out.bool(f::TRUNCATED, a.truncated);
        out.count(
            f::GRAPHEMES,
            if s.non_ascii == 0 {
                s.chars - s.crlf
            } else {
                graphemes(t)
            },
        );
        out.count(f::SENTENCES, s.sentences);
        out.count(f::PARAGRAPHS, s.paragraphs);
        out.count(f::LONGEST_WORD, w.longest);
        out.float(f::AVG_WORD_LENGTH, ratio(w.total_chars, words.len()));

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
        out.count(f::SCRIPT_COUNT, s.script_bits.count_ones() as usize);
        let dominant = (0..SCRIPTS)
            .filter(|&i| s.script_letters[i] > 0)
            .max_by_key(|&i| (s.script_letters[i], std::cmp::Reverse(i)))
            .map_or("none", |i| Script::ALL[i].name());
        out.str(f::DOMINANT_SCRIPT, dominant);
        out.bool(f::MIXED_SCRIPTS, chars::is_mixed(s.script_bits));
        out.count(f::MIXED_SCRIPT_WORDS, w.mixed_script);
        out.count(f::ALLCAPS_WORDS, w.allcaps);
        out.count(f::ELONGATED_WORDS, w.elongated);
        out.count(f::NUMBERS, w.numbers);
        out.count(f::MAX_CHAR_RUN, s.max_run);

        let start = t.trim_start();
        out.bool(f::STARTS_WITH_MENTION, starts_with_mention(start));
        out.bool(f::STARTS_WITH_RT, start.starts_with("RT @"));
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
        out.count(f::HTML_ENTITIES, s.html_entities);
    }
}

fn starts_with_mention(t: &str) -> bool {
    let mut it = t.chars();
    matches!(it.next(), Some('@' | '＠'))
        && it.next().is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Extended grapheme clusters. Between two ASCII characters there is always a boundary (except
/// CR LF), so only the stretches around non-ASCII characters go through the segmenter.
fn graphemes(t: &str) -> usize {
    let b = t.as_bytes();
    let piece = |s: &str| {
        if s.len() == 1 || s == "\r\n" {
            1
        } else {
            s.graphemes(true).count()
        }
    };
    let (mut total, mut start) = (0, 0);
    for p in 1..b.len() {
        if b[p - 1].is_ascii() && b[p].is_ascii() && !(b[p - 1] == b'\r' && b[p] == b'\n') {
            total += piece(&t[start..p]);
            start = p;
        }
    }
    if start < t.len() {
        total += piece(&t[start..]);
    }
    total
}
