//! Text statistics: size, shape and typography of the text.
//!
//! Two groups: [`Size`] (lengths in every unit a product filters by) and [`shape::Shape`]
//! (character classes, typography, scripts, invisible characters). Each makes one pass over the
//! characters of the analysed text; word-level facts use the shared UAX #29 words.

mod chars;
mod shape;
#[cfg(test)]
mod tests;

use unicode_segmentation::UnicodeSegmentation;

use crate::analysis::Analysis;
use crate::registry::{Extractor, FieldSpec, FieldWriter};

pub use shape::Shape;

pub const EXTRACTORS: &[&dyn Extractor] = &[&Size, &Shape];

/// Sizes of the text in its different units.
#[derive(Debug)]
pub struct Size;

mod f {
    pub const BYTES: usize = 0;
    pub const CHARS: usize = 1;
    pub const WORDS: usize = 2;
    pub const LINES: usize = 3;
    pub const TRUNCATED: usize = 4;
    pub const GRAPHEMES: usize = 5;
    pub const SENTENCES: usize = 6;
    pub const PARAGRAPHS: usize = 7;
    pub const LONGEST_WORD: usize = 8;
    pub const AVG_WORD_LENGTH: usize = 9;
}

const SIZE_FIELDS: &[FieldSpec] = &[
    FieldSpec::int("text_bytes", "Length of the full text in UTF-8 bytes."),
    FieldSpec::int("text_chars", "Unicode scalar values in the analysed text."),
    FieldSpec::int(
        "text_words",
        "Words and numbers by Unicode word segmentation (UAX #29).",
    ),
    FieldSpec::int(
        "text_lines",
        "Lines in the analysed text (0 for empty text).",
    ),
    FieldSpec::bool(
        "text_truncated",
        "The text was longer than the analysis cap (16 KiB) and fields describe its prefix.",
    ),
    FieldSpec::int(
        "text_graphemes",
        "User-perceived characters (extended grapheme clusters, UAX #29): an emoji sequence is one.",
    ),
    FieldSpec::int(
        "text_sentences",
        "Sentences with a letter or digit, ended by . ! ? … (or CJK 。！？) before a space or the end.",
    ),
    FieldSpec::int(
        "text_paragraphs",
        "Paragraphs: runs of non-blank lines separated by blank lines.",
    ),
    FieldSpec::int(
        "text_longest_word",
        "Length in characters of the longest UAX #29 word (0 without words).",
    ),
    FieldSpec::float(
        "text_avg_word_length",
        "Mean length in characters of the UAX #29 words (0 without words).",
    ),
];

impl Extractor for Size {
    fn name(&self) -> &'static str {
        "text_size"
    }
    fn version(&self) -> u32 {
        2
    }
    fn fields(&self) -> &'static [FieldSpec] {
        SIZE_FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let t = a.text;
        out.count(f::BYTES, a.mention.text.len());
        out.count(f::CHARS, t.chars().count());
        let words = a.words();
        out.count(f::WORDS, words.len());
        out.bool(f::TRUNCATED, a.truncated);
        out.count(f::GRAPHEMES, graphemes(t));
        out.count(f::SENTENCES, sentences(t));
        let (lines, paragraphs) = lines_and_paragraphs(t);
        out.count(f::LINES, lines);
        out.count(f::PARAGRAPHS, paragraphs);
        let (mut longest, mut total) = (0usize, 0usize);
        for w in words {
            let n = if w.is_ascii() {
                w.len()
            } else {
                w.chars().count()
            };
            longest = longest.max(n);
            total += n;
        }
        out.count(f::LONGEST_WORD, longest);
        out.float(
            f::AVG_WORD_LENGTH,
            if words.is_empty() {
                0.0
            } else {
                total as f64 / words.len() as f64
            },
        );
    }
}

/// Extended grapheme clusters; ASCII text needs no segmenter (only CR LF joins two chars).
fn graphemes(t: &str) -> usize {
    if t.is_ascii() {
        t.len() - t.as_bytes().windows(2).filter(|w| w == b"\r\n").count()
    } else {
        t.graphemes(true).count()
    }
}

/// Sentences: stretches holding a letter or digit, closed by terminal punctuation that is
/// followed (after any closing quotes or brackets) by whitespace or the end of the text, so that
/// "3.14", "e.g.x" or "example.com" do not end one. CJK full stops end a sentence by themselves.
/// (We do not use `unicode_sentences`: its `size_hint` underflows on empty text in
/// unicode-segmentation 1.13.3, which panics in debug builds.)
fn sentences(t: &str) -> usize {
    let (mut count, mut content, mut pending) = (0, false, false);
    for c in t.chars() {
        match c {
            '.' | '!' | '?' | '…' | '؟' | '‼' | '⁇' | '⁈' | '⁉' => pending = content,
            '。' | '！' | '？' | '｡' => {
                count += usize::from(content);
                content = false;
                pending = false;
            }
            '"' | '\'' | ')' | ']' | '}' | '”' | '’' | '»' | '›' | '」' | '』' if pending =>
                {}
            c if c.is_whitespace() => {
                if pending {
                    count += 1;
                    content = false;
                    pending = false;
                }
            }
            c => {
                pending = false;
                content |= c.is_alphanumeric();
            }
        }
    }
    count + usize::from(content)
}

/// Lines as `str::lines` counts them, and paragraphs (blocks of non-blank lines).
fn lines_and_paragraphs(t: &str) -> (usize, usize) {
    let (mut lines, mut paragraphs, mut in_paragraph) = (0, 0, false);
    for line in t.lines() {
        lines += 1;
        let blank = line.trim().is_empty();
        if !blank && !in_paragraph {
            paragraphs += 1;
        }
        in_paragraph = !blank;
    }
    (lines, paragraphs)
}
