//! The per-mention analysis that extractors share.
//!
//! Several groups need the same intermediate results (word tokens, their lower-case forms, the
//! detected language, the entities). Each is computed at most once per mention, lazily, the first
//! time an extractor asks, so running one extractor alone (as the per-extractor bench does) pays
//! only for what it uses.

pub mod entities;
pub mod lang;
mod words;

use std::cell::OnceCell;
use std::ops::Range;

use model::Mention;

pub(crate) use words::words_into;

/// Text beyond this many bytes is not analysed; `text_truncated` says when that happened. Social
/// posts are far shorter; the cap bounds the work a hostile 1 MB payload can cause.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Lower-cased word tokens held in one buffer.
#[derive(Debug, Default)]
pub struct LowerWords {
    buf: String,
    spans: Vec<Range<usize>>,
}

impl LowerWords {
    /// The lower-cased words, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.spans.iter().map(|r| &self.buf[r.clone()])
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `i`-th lower-cased word.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.spans.get(i).map(|r| &self.buf[r.clone()])
    }
}

/// Shared, lazily computed facts about one mention.
#[derive(Debug)]
pub struct Analysis<'m> {
    /// The mention being enriched.
    pub mention: &'m Mention,
    /// The analysed text: the mention's text, cut to at most [`MAX_TEXT_BYTES`] on a char boundary.
    pub text: &'m str,
    /// Whether `text` is a prefix of a longer text.
    pub truncated: bool,
    words: OnceCell<Vec<&'m str>>,
    lower: OnceCell<LowerWords>,
    word_hashes: OnceCell<Vec<u64>>,
    lang: OnceCell<lang::Detection>,
    entities: OnceCell<entities::Entities>,
}

impl<'m> Analysis<'m> {
    pub fn new(mention: &'m Mention) -> Self {
        let full = mention.text.as_str();
        let text = cap(full, MAX_TEXT_BYTES);
        Analysis {
            mention,
            text,
            truncated: text.len() < full.len(),
            words: OnceCell::new(),
            lower: OnceCell::new(),
            word_hashes: OnceCell::new(),
            lang: OnceCell::new(),
            entities: OnceCell::new(),
        }
    }

    /// Word tokens by Unicode word segmentation (UAX #29): words and numbers, without the
    /// punctuation and whitespace between them. Exactly `unicode_words()`; ASCII text (most
    /// posts) takes a byte-level path that applies the same rules.
    pub fn words(&self) -> &[&'m str] {
        self.words.get_or_init(|| {
            let mut out = Vec::with_capacity(self.text.len() / 5 + 1);
            words_into(self.text, &mut out);
            out
        })
    }

    /// [`Analysis::words`], lower-cased (full Unicode lower-casing).
    pub fn lower_words(&self) -> &LowerWords {
        self.lower.get_or_init(|| {
            let words = self.words();
            let mut out = LowerWords {
                buf: String::with_capacity(self.text.len()),
                spans: Vec::with_capacity(words.len()),
            };
            for w in words {
                let start = out.buf.len();
                if w.is_ascii() {
                    out.buf.push_str(w);
                    out.buf[start..].make_ascii_lowercase();
                } else {
                    crate::unicode::extend_lowercase_chars(&mut out.buf, w);
                }
                out.spans.push(start..out.buf.len());
            }
            out
        })
    }

    /// A 64-bit hash of each of [`Analysis::lower_words`], in order, for groups that compare or
    /// count words without comparing strings. Stable across platforms and builds
    /// ([`crate::hash::word_hash`]).
    pub fn word_hashes(&self) -> &[u64] {
        self.word_hashes.get_or_init(|| {
            self.lower_words()
                .iter()
                .map(|w| crate::hash::word_hash(w.as_bytes()))
                .collect()
        })
    }

    /// The detected language of `text`.
    pub fn lang(&self) -> &lang::Detection {
        self.lang.get_or_init(|| lang::detect(self))
    }

    /// Hashtags, mentions, URLs, cashtags and emoji found in `text`.
    pub fn entities(&self) -> &entities::Entities {
        self.entities.get_or_init(|| entities::extract(self.text))
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
pub fn cap(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
