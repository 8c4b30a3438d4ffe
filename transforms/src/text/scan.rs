//! One pass over the characters of a text, tallying everything the text statistics need.
//! ASCII characters (most of social media) are classified by one table lookup.

use super::chars::{self, SCRIPTS, Script};

/// Per-character tallies.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Scan {
    pub chars: usize,
    pub letters: usize,
    pub upper: usize,
    pub digits: usize,
    pub punctuation: usize,
    pub whitespace: usize,
    pub non_ascii: usize,
    pub line_breaks: usize,
    /// `\r\n` pairs (one grapheme each).
    pub crlf: usize,
    /// `\n`, the separators `str::lines` splits on.
    pub newlines: usize,
    pub last_char: Option<char>,
    pub paragraphs: usize,
    pub sentences: usize,
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

// ASCII class bits.
const LETTER: u16 = 1;
const UPPER: u16 = 1 << 1;
const DIGIT: u16 = 1 << 2;
const SPACE: u16 = 1 << 3;
const CONTROL: u16 = 1 << 4;
const PUNCT: u16 = 1 << 5;
const TERMINAL: u16 = 1 << 6;
const CLOSER: u16 = 1 << 7;
const SPECIAL: u16 = 1 << 8;

const fn ascii_class(b: u8) -> u16 {
    match b {
        b'a'..=b'z' => LETTER,
        b'A'..=b'Z' => LETTER | UPPER,
        b'0'..=b'9' => DIGIT,
        b'\t' | b'\x0b' | b'\x0c' | b' ' => SPACE,
        b'\n' | b'\r' => SPACE | SPECIAL,
        0..=0x1f | 0x7f => CONTROL,
        b'.' | b'!' | b'?' => PUNCT | TERMINAL | SPECIAL,
        b'"' => PUNCT | CLOSER | SPECIAL,
        b'\'' | b')' | b']' | b'}' => PUNCT | CLOSER,
        b'&' => PUNCT | SPECIAL,
        b'$' => SPECIAL,
        b'#' | b'%' | b'(' | b'*' | b',' | b'-' | b'/' | b':' | b';' | b'@' | b'[' | b'\\'
        | b'_' | b'{' => PUNCT,
        _ => 0,
    }
}

static ASCII: [u16; 128] = {
    let mut t = [0u16; 128];
    let mut i = 0;
    while i < 128 {
        t[i] = ascii_class(i as u8);
        i += 1;
    }
    t
};

/// Running state carried from one character to the next.
#[derive(Debug, Default)]
struct Run {
    prev: char,
    same: usize,
    bangs: usize,
    dots: usize,
    regional: usize,
    /// The previous char is a text-style pictograph (☺) that U+FE0F would turn into an emoji.
    text_pictograph: bool,
    /// Sentence: letters/digits seen since the last end, and a terminal waiting for a space.
    content: bool,
    pending_end: bool,
    /// Paragraph: the current line has a non-space character; we are inside a paragraph.
    line_content: bool,
    in_paragraph: bool,
}

#[inline]
fn is_bang(c: char) -> bool {
    matches!(c, '!' | '?' | '！' | '？')
}

/// One pass over the chars of `text`.
pub(super) fn scan(text: &str) -> Scan {
    if text.is_ascii() {
        return scan_ascii(text.as_bytes());
    }
    scan_chars(text)
}

/// [`scan`] char by char, for any text.
pub(super) fn scan_chars(text: &str) -> Scan {
    let mut s = Scan::default();
    let mut r = Run::default();
    let bytes = text.as_bytes();
    for (i, c) in text.char_indices() {
        s.chars += 1;
        let space;
        if c.is_ascii() {
            let class = ASCII[c as usize];
            let letter = usize::from(class & LETTER != 0);
            s.letters += letter;
            s.script_letters[Script::Latin as usize] += letter;
            s.upper += usize::from(class & UPPER != 0);
            s.digits += usize::from(class & DIGIT != 0);
            space = class & SPACE != 0;
            s.whitespace += usize::from(space);
            s.controls += usize::from(class & CONTROL != 0);
            s.punctuation += usize::from(class & PUNCT != 0);
            r.regional = 0;
            r.text_pictograph = false;
            if class & SPECIAL != 0 {
                ascii_special(&mut s, &mut r, c, bytes, i);
            }
            sentence_step(
                &mut s,
                &mut r,
                class & (LETTER | DIGIT) != 0,
                space,
                class & TERMINAL != 0,
                class & CLOSER != 0,
                false,
            );
        } else {
            space = c.is_whitespace();
            non_ascii(&mut s, &mut r, c, space);
        }
        r.line_content |= !space;
        if c == r.prev && !space {
            r.same += 1;
        } else {
            r.same = usize::from(!space);
        }
        s.max_run = s.max_run.max(r.same);
        r.prev = c;
    }
    finish(&mut s, &mut r, text.is_empty());
    s
}

/// What [`scan`] does after the last character.
#[inline(always)]
fn finish(s: &mut Scan, r: &mut Run, empty: bool) {
    s.last_char = r.prev_if(!empty);
    if !empty && s.last_char != Some('\n') {
        end_line(s, r);
    }
    s.sentences += usize::from(r.content);
    for (i, &n) in s.script_letters.iter().enumerate() {
        if n > 0 {
            s.script_bits |= 1 << i;
        }
    }
}

/// The ASCII characters whose class has `SPECIAL`: line breaks, terminal punctuation, quotes,
/// dollars and ampersands (HTML entities). `r.prev` is still the previous character.
#[inline(always)]
fn ascii_special(s: &mut Scan, r: &mut Run, c: char, bytes: &[u8], i: usize) {
    match c {
        '\n' => {
            s.newlines += 1;
            if r.prev == '\r' {
                s.crlf += 1;
            } else {
                s.line_breaks += 1;
            }
            end_line(s, r);
        }
        '\r' => s.line_breaks += 1,
        '!' | '?' => {
            if c == '!' {
                s.exclamations += 1;
            } else {
                s.questions += 1;
            }
            r.bangs = if is_bang(r.prev) { r.bangs + 1 } else { 1 };
            s.repeated_punctuation += usize::from(r.bangs == 2);
        }
        '.' => {
            r.dots = if r.prev == '.' { r.dots + 1 } else { 1 };
            s.ellipses += usize::from(r.dots == 3);
        }
        '"' => s.quotes += 1,
        '$' => s.currency += 1,
        '&' => s.html_entities += usize::from(html_entity_at(&bytes[i..])),
        _ => {}
    }
}

/// [`scan`] for all-ASCII text (most posts): the same tallies, by bytes. ASCII has no marks,
/// emoji, regional indicators or non-Latin letters, so only the ASCII branch of [`scan`] runs;
/// the whole state stays local, so the compiler keeps it in registers.
fn scan_ascii(bytes: &[u8]) -> Scan {
    let mut s = Scan::default();
    let mut r = Run::default();
    let (mut letters, mut upper, mut digits) = (0usize, 0usize, 0usize);
    let (mut whitespace, mut controls, mut punctuation) = (0usize, 0usize, 0usize);
    let (mut same, mut max_run) = (0usize, 0usize);
    let mut prev = 0u8;
    for (i, &b) in bytes.iter().enumerate() {
        let class = ASCII[usize::from(b)];
        letters += usize::from(class & LETTER != 0);
        upper += usize::from(class & UPPER != 0);
        digits += usize::from(class & DIGIT != 0);
        let space = class & SPACE != 0;
        whitespace += usize::from(space);
        controls += usize::from(class & CONTROL != 0);
        punctuation += usize::from(class & PUNCT != 0);
        if class & SPECIAL != 0 {
            r.prev = char::from(prev);
            ascii_special(&mut s, &mut r, char::from(b), bytes, i);
        }
        sentence_step(
            &mut s,
            &mut r,
            class & (LETTER | DIGIT) != 0,
            space,
            class & TERMINAL != 0,
            class & CLOSER != 0,
            false,
        );
        r.line_content |= !space;
        same = if b == prev && !space {
            same + 1
        } else {
            usize::from(!space)
        };
        max_run = max_run.max(same);
        prev = b;
    }
    s.chars = bytes.len();
    s.letters = letters;
    s.script_letters[Script::Latin as usize] = letters;
    s.upper = upper;
    s.digits = digits;
    s.whitespace = whitespace;
    s.controls = controls;
    s.punctuation = punctuation;
    s.max_run = max_run;
    r.prev = char::from(prev);
    finish(&mut s, &mut r, bytes.is_empty());
    s
}

impl Run {
    fn prev_if(&self, any: bool) -> Option<char> {
        any.then_some(self.prev)
    }
}

#[inline(always)]
fn end_line(s: &mut Scan, r: &mut Run) {
    if r.line_content && !r.in_paragraph {
        s.paragraphs += 1;
    }
    r.in_paragraph = r.line_content;
    r.line_content = false;
}

/// Sentences: stretches holding a letter or digit, closed by terminal punctuation that is
/// followed (after any closing quotes or brackets) by whitespace or the end of the text, so that
/// "3.14", "e.g.x" or "example.com" do not end one. CJK full stops end a sentence by themselves.
#[inline(always)]
fn sentence_step(
    s: &mut Scan,
    r: &mut Run,
    alnum: bool,
    space: bool,
    terminal: bool,
    closer: bool,
    cjk_stop: bool,
) {
    if cjk_stop {
        s.sentences += usize::from(r.content);
        r.content = false;
        r.pending_end = false;
    } else if terminal {
        r.pending_end = r.content;
    } else if closer && r.pending_end {
    } else if space {
        if r.pending_end {
            s.sentences += 1;
            r.content = false;
            r.pending_end = false;
        }
    } else {
        r.pending_end = false;
        r.content |= alnum;
    }
}

fn non_ascii(s: &mut Scan, r: &mut Run, c: char, space: bool) {
    s.non_ascii += 1;
    let mut alnum = false;
    if crate::unicode::is_alphabetic(c) {
        alnum = true;
        s.letters += 1;
        s.upper += usize::from(crate::unicode::is_uppercase(c));
        s.script_letters[chars::script_of(c) as usize] += 1;
    } else if crate::unicode::is_numeric(c) {
        alnum = true;
        s.digits += 1;
    } else if space {
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
    let text_pictograph = std::mem::take(&mut r.text_pictograph);
    if chars::is_regional_indicator(c) {
        s.emoji_chars += 1;
        r.regional += 1;
        // A flag is a pair; count it at its first half.
        s.emoji += usize::from(r.regional % 2 == 1);
    } else {
        r.regional = 0;
        if chars::is_pictographic(c) {
            s.emoji_chars += 1;
            if r.prev != '\u{200d}' {
                if chars::is_emoji_presentation(c) {
                    s.emoji += 1;
                } else {
                    // ©, ™, ☺: an emoji only if U+FE0F follows.
                    r.text_pictograph = true;
                }
            }
        } else if chars::is_emoji_component(c) {
            s.emoji_chars += 1;
            // A keycap (1️⃣) has no pictograph: count it at U+20E3.
            s.emoji += usize::from(c == '\u{20e3}' || (c == '\u{fe0f}' && text_pictograph));
        }
    }
    // Typography.
    let (mut terminal, mut closer, mut cjk_stop) = (false, false, false);
    match c {
        '！' | '¡' => s.exclamations += 1,
        '？' | '¿' | '؟' => s.questions += 1,
        '…' => s.ellipses += 1,
        '“' | '”' | '„' | '‟' | '«' | '»' | '‹' | '›' | '「' | '」' | '『' | '』' | '＂' => {
            s.quotes += 1
        }
        _ => {}
    }
    if matches!(c, '！' | '？') {
        r.bangs = if is_bang(r.prev) { r.bangs + 1 } else { 1 };
        s.repeated_punctuation += usize::from(r.bangs == 2);
    }
    match c {
        '…' | '؟' | '‼' | '⁇' | '⁈' | '⁉' => terminal = true,
        '。' | '！' | '？' | '｡' => cjk_stop = true,
        '”' | '’' | '»' | '›' | '」' | '』' => closer = true,
        _ => {}
    }
    sentence_step(s, r, alnum, space, terminal, closer, cjk_stop);
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
    pub longest: usize,
    pub total_chars: usize,
    pub mixed_script: usize,
    pub allcaps: usize,
    pub elongated: usize,
    pub numbers: usize,
}

pub(super) fn words(words: &[&str]) -> Words {
    let mut w = Words::default();
    for word in words {
        let (n, letters, upper, scripts, elongated) = if word.is_ascii() {
            ascii_word(word.as_bytes())
        } else {
            unicode_word(word)
        };
        w.longest = w.longest.max(n);
        w.total_chars += n;
        w.numbers += usize::from(word.starts_with(|c: char| c.is_numeric()));
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

/// (chars, letters, upper-case letters, scripts, has a letter three times in a row).
type WordShape = (usize, usize, usize, u16, bool);

fn ascii_word(word: &[u8]) -> WordShape {
    let (mut letters, mut upper, mut run, mut prev, mut elongated) = (0, 0, 0, 0u8, false);
    for &b in word {
        if b.is_ascii_alphabetic() {
            letters += 1;
            upper += usize::from(b.is_ascii_uppercase());
            let lc = b | 0x20;
            run = if lc == prev { run + 1 } else { 1 };
            elongated |= run >= 3;
            prev = lc;
        } else {
            prev = 0;
        }
    }
    let scripts = if letters > 0 { Script::Latin.bit() } else { 0 };
    (word.len(), letters, upper, scripts, elongated)
}

fn unicode_word(word: &str) -> WordShape {
    let (mut n, mut letters, mut upper, mut scripts) = (0, 0, 0, 0u16);
    let (mut prev, mut run, mut elongated) = ('\0', 0usize, false);
    for c in word.chars() {
        n += 1;
        if crate::unicode::is_alphabetic(c) {
            letters += 1;
            upper += usize::from(crate::unicode::is_uppercase(c));
            scripts |= chars::script_of(c).bit();
            let lc = crate::unicode::lower_char(c);
            run = if lc == prev { run + 1 } else { 1 };
            elongated |= run >= 3;
            prev = lc;
        } else {
            prev = '\0';
            run = 0;
        }
    }
    (n, letters, upper, scripts, elongated)
}
