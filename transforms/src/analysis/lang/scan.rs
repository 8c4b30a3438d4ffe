//! One pass over the text that prepares it for detection: social-media furniture (URLs,
//! @mentions, #hashtags, HTML entities), digits, emoji and punctuation are dropped; letters are
//! counted per script and written into a byte buffer, words separated by one space.
//!
//! Case is kept, as in the text the model was trained on (a capital "I" is English, a lower-case
//! "i" is Danish, Swedish or Norwegian), except that words written all in capitals are
//! lower-cased: shouting is not a language.
//!
//! Hashtags are dropped because they are often English tags on non-English posts; when the rest
//! of the text has too few letters, the caller scans again keeping their words.

use super::script::{SCRIPT_COUNT, Script, script_of};

/// Only this many bytes of the analysed text are scanned: a post's language shows in its first
/// couple of kilobytes, and the bound keeps the cost of a long text flat.
pub const SCAN_LIMIT: usize = 2048;

/// What a scan found.
#[derive(Debug, Clone)]
pub struct Scan {
    /// Letters (and the marks, apostrophes and hyphens inside words), all-capital words
    /// lower-cased, words separated by one space, with a space at both ends.
    pub buf: Vec<u8>,
    /// Letters per script, indexed by `Script as usize`.
    pub counts: [u32; SCRIPT_COUNT],
    /// All letters counted.
    pub letters: u32,
    /// Places where a letter's script differs from the previous letter's (Han and kana count as
    /// one script here, as they are written together).
    pub switches: u32,
    /// Where the current word starts in `buf`, and its letters and capitals so far.
    word_start: usize,
    word_letters: u32,
    word_upper: u32,
}

/// Combining marks and joiners that continue a word without being letters themselves.
fn is_word_mark(u: u32) -> bool {
    matches!(u,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05C7 | 0x0610..=0x061A | 0x064B..=0x065F
        | 0x0670 | 0x06D6..=0x06ED | 0x0900..=0x0903 | 0x093A..=0x094F | 0x0951..=0x0957
        | 0x0962..=0x0963 | 0x0E31..=0x0E3A | 0x0E47..=0x0E4E | 0x200C..=0x200D)
}

/// Length in bytes of a URL, @mention or HTML entity starting at `rest`, if one does.
fn furniture_len(rest: &str, at_token_start: bool, keep_hashtags: bool) -> Option<usize> {
    let b = rest.as_bytes();
    match b.first()? {
        b'h' | b'H' | b'w' | b'W' if at_token_start => {
            let head = &b[..b.len().min(8)];
            let is_url = starts_with_ci(head, b"http://")
                || starts_with_ci(head, b"https://")
                || starts_with_ci(head, b"www.");
            is_url.then(|| rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len()))
        }
        b'@' if at_token_start => {
            let n = rest[1..]
                .find(|c: char| {
                    !(crate::unicode::is_alphanumeric(c) || matches!(c, '_' | '.' | '-'))
                })
                .unwrap_or(rest.len() - 1);
            (n > 0).then_some(1 + n)
        }
        b'#' if at_token_start && !keep_hashtags => {
            let n = rest[1..]
                .find(|c: char| !(crate::unicode::is_alphanumeric(c) || c == '_'))
                .unwrap_or(rest.len() - 1);
            (n > 0).then_some(1 + n)
        }
        b'&' => {
            // &amp; &lt; &quot; … as left behind by sources that double-escape.
            let n = b[1..]
                .iter()
                .take(8)
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'#')
                .count();
            (n >= 2 && b.get(1 + n) == Some(&b';')).then_some(n + 2)
        }
        _ => None,
    }
}

fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Scans at most [`SCAN_LIMIT`] bytes of `text`.
pub fn scan(text: &str, keep_hashtags: bool) -> Scan {
    let text = crate::analysis::cap(text, SCAN_LIMIT);
    let mut out = Scan {
        buf: Vec::with_capacity(text.len() + 2),
        counts: [0; SCRIPT_COUNT],
        letters: 0,
        switches: 0,
        word_start: 1,
        word_letters: 0,
        word_upper: 0,
    };
    out.buf.push(b' ');
    let mut prev_script: Option<Script> = None;
    // Whether the previous character can start nothing new (a letter, digit or underscore).
    let mut in_word = false;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            // ASCII, the bulk of most posts: no decoding.
            let furniture =
                matches!(b, b'@' | b'#' | b'&') || (!in_word && matches!(b | 0x20, b'h' | b'w'));
            if furniture && let Some(n) = furniture_len(&text[i..], !in_word, keep_hashtags) {
                out.separate();
                in_word = false;
                i += n;
                continue;
            }
            if b.is_ascii_alphabetic() {
                // A run of ASCII letters at once.
                let run = bytes[i..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .count();
                let letters = &bytes[i..i + run];
                out.buf.extend_from_slice(letters);
                out.letter(Script::Latn, &mut prev_script);
                let more = u32::try_from(run - 1).unwrap_or(u32::MAX);
                out.counts[Script::Latn as usize] += more;
                out.letters += more;
                out.word_letters += more + 1;
                out.word_upper += letters.iter().filter(|b| b.is_ascii_uppercase()).count() as u32;
                in_word = true;
                i += run;
                continue;
            }
            i += 1;
            if b == b'\'' || b == b'-' {
                out.joiner(b);
                in_word = false;
            } else {
                out.separate();
                in_word = b.is_ascii_digit() || b == b'_';
            }
            continue;
        }
        let Some(c) = text[i..].chars().next() else {
            break;
        };
        i += c.len_utf8();
        let u = u32::from(c);
        if matches!(u, 0x2019 | 0x02BC | 0x2018) {
            out.joiner(b'\'');
            in_word = false;
        } else if u == 0x2010 || u == 0x2011 {
            out.joiner(b'-');
            in_word = false;
        } else if crate::unicode::is_alphabetic(c) {
            let mut tmp = [0u8; 4];
            out.buf
                .extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            out.letter(script_of(c), &mut prev_script);
            out.word_letters += 1;
            out.word_upper += u32::from(crate::unicode::is_uppercase(c));
            in_word = true;
        } else if is_word_mark(u) {
            if out.buf.last().is_some_and(|&b| b != b' ') {
                let mut tmp = [0u8; 4];
                out.buf
                    .extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        } else {
            out.separate();
            in_word = crate::unicode::is_numeric(c);
        }
    }
    out.separate();
    out
}

impl Scan {
    #[inline]
    fn letter(&mut self, s: Script, prev: &mut Option<Script>) {
        self.counts[s as usize] += 1;
        self.letters += 1;
        let family = |s: Script| match s {
            Script::Hira | Script::Kana => Script::Hani,
            s => s,
        };
        if let Some(p) = *prev
            && family(p) != family(s)
        {
            self.switches += 1;
        }
        *prev = Some(s);
    }

    /// An apostrophe or hyphen: kept only between letters (the trailing one is removed by the
    /// next separator).
    #[inline]
    fn joiner(&mut self, b: u8) {
        match self.buf.last() {
            Some(b' ' | b'\'' | b'-') | None => {}
            Some(_) => self.buf.push(b),
        }
    }

    /// Ends the current word, lower-casing it if it was written all in capitals.
    #[inline]
    fn separate(&mut self) {
        while matches!(self.buf.last(), Some(b'\'' | b'-')) {
            self.buf.pop();
        }
        if self.word_letters >= 2 && self.word_upper == self.word_letters {
            let word = &mut self.buf[self.word_start..];
            if word.is_ascii() {
                word.make_ascii_lowercase();
            } else if let Ok(w) = std::str::from_utf8(word) {
                let lower = crate::unicode::to_lowercase(w);
                self.buf.truncate(self.word_start);
                self.buf.extend_from_slice(lower.as_bytes());
            }
        }
        self.word_letters = 0;
        self.word_upper = 0;
        if self.buf.last() != Some(&b' ') {
            self.buf.push(b' ');
        }
        self.word_start = self.buf.len();
    }

    /// Letters of `s`.
    pub fn count(&self, s: Script) -> u32 {
        self.counts[s as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cleaned(t: &str) -> String {
        String::from_utf8(scan(t, false).buf).expect("scan keeps UTF-8")
    }

    #[test]
    fn drops_social_furniture_and_lowercases() {
        assert_eq!(
            cleaned("Hey @bob_1, see https://x.co/a?b=1 NOW!! #Win 42 times 🙂 I ÉTÉ"),
            " Hey see now times I été "
        );
        assert_eq!(cleaned("Tom &amp; Jerry"), " Tom Jerry ");
        assert_eq!(cleaned("me@example.com"), " me example com ");
        assert_eq!(
            cleaned("l'aggiornamento — écrivez-moi 'quoted'"),
            " l'aggiornamento écrivez-moi quoted "
        );
    }

    #[test]
    fn keeps_hashtag_words_on_request() {
        let s = scan("#BuenosDías", true);
        assert_eq!(s.buf, " BuenosDías ".as_bytes());
        assert_eq!(scan("#BuenosDías", false).letters, 0);
    }

    #[test]
    fn counts_scripts_and_switches() {
        let s = scan("東京は今日 hello мир", false);
        assert_eq!(s.count(Script::Hani), 4);
        assert_eq!(s.count(Script::Hira), 1);
        assert_eq!(s.count(Script::Latn), 5);
        assert_eq!(s.count(Script::Cyrl), 3);
        assert_eq!(s.letters, 13);
        assert_eq!(s.switches, 2);
    }

    #[test]
    fn keeps_marks_inside_words() {
        let s = scan("می‌داند", false);
        assert_eq!(std::str::from_utf8(&s.buf).ok(), Some(" می‌داند "));
        assert_eq!(s.letters, 6);
        // A lone combining mark is not a letter and starts no word.
        let s = scan("\u{300}\u{301}", false);
        assert_eq!((s.letters, s.buf.as_slice()), (0, &b" "[..]));
    }
}
