//! Hashtags, @mentions, cashtags and replies by the rules of the twitter-text library.
//!
//! twitter-text states its rules as regular expressions scanned left to right, where a match
//! consumes the character before its sigil and a match rejected afterwards still consumes its
//! text. The scanners below walk the sigils instead and keep `consumed` (the end of the last
//! regex-level match) to reproduce exactly that behaviour in one pass.

use std::ops::Range;

use super::chars::{
    char_at, char_before, is_hashtag_char, is_latin_accent, is_letter_or_mark, is_punct, is_space,
};

/// One @mention or list reference: `name` is the screen name, `list` the list slug after `/`
/// (empty for a plain mention). `whole` covers the sigil through the end of the slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MentionMatch {
    pub whole: Range<usize>,
    pub name: Range<usize>,
    pub list: Range<usize>,
}

fn is_at_sign(c: char) -> bool {
    c == '@' || c == '＠'
}

/// Hashtags: ranges of the tag text (after the sigil), not yet checked against URLs.
pub fn hashtags(text: &str, out: &mut Vec<Range<usize>>) {
    let mut consumed = 0;
    let mut from = 0;
    while let Some(off) = text[from..].find(['#', '＃']) {
        let sign = from + off;
        let sign_len = if text.as_bytes()[sign] == b'#' { 1 } else { 3 };
        from = sign + sign_len;
        // The boundary before the sign: start of text, a variation selector, or a character
        // that is neither a hashtag character nor `&`, not already part of an earlier match.
        if sign > 0 {
            let Some(prev) = char_before(text, sign) else {
                continue;
            };
            if sign - prev.len_utf8() < consumed {
                continue;
            }
            let ok =
                matches!(prev, '\u{fe0e}' | '\u{fe0f}') || !(is_hashtag_char(prev) || prev == '&');
            if !ok {
                continue;
            }
        }
        let body = sign + sign_len;
        if matches!(char_at(text, body), Some('\u{fe0f}' | '\u{20e3}')) {
            continue;
        }
        let mut end = body;
        let mut has_alpha = false;
        for c in text[body..].chars() {
            if !is_hashtag_char(c) {
                break;
            }
            has_alpha |= is_letter_or_mark(c);
            end += c.len_utf8();
        }
        if !has_alpha {
            continue;
        }
        consumed = end;
        from = end;
        let rest = &text[end..];
        if rest.starts_with(['#', '＃']) || rest.starts_with("://") {
            continue;
        }
        out.push(body..end);
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether a mention's sign at `at` has a valid preceding context that starts at or after
/// `consumed`.
fn mention_preceded_ok(text: &str, at: usize, consumed: usize) -> bool {
    if at == 0 {
        return true;
    }
    let Some(prev) = char_before(text, at) else {
        return false;
    };
    let p = at - prev.len_utf8();
    if p < consumed {
        return false;
    }
    let plain = !(prev.is_ascii_alphanumeric()
        || matches!(prev, '_' | '!' | '#' | '$' | '%' | '&' | '*' | '@' | '＠'));
    if plain {
        return true;
    }
    // "RT" in any case, optionally followed by ':', at the start or after a character that is
    // not a word character or one of `+~.-`.
    let b = text.as_bytes();
    let rt_end = if prev == ':' { p } else { at };
    if rt_end < 2 || rt_end - 2 < consumed {
        return false;
    }
    if !b[rt_end - 2].eq_ignore_ascii_case(&b'r') || !b[rt_end - 1].eq_ignore_ascii_case(&b't') {
        return false;
    }
    let rt = rt_end - 2;
    if rt == 0 {
        return true;
    }
    match char_before(text, rt) {
        Some(c) => {
            rt - c.len_utf8() >= consumed
                && !(c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '~' | '.' | '-'))
        }
        None => false,
    }
}

/// Mentions and list references, in order.
pub fn mentions_or_lists(text: &str, out: &mut Vec<MentionMatch>) {
    let b = text.as_bytes();
    let mut consumed = 0;
    let mut from = 0;
    while let Some(off) = text[from..].find(['@', '＠']) {
        let at = from + off;
        let at_len = if b[at] == b'@' { 1 } else { 3 };
        from = at + at_len;
        if !mention_preceded_ok(text, at, consumed) {
            continue;
        }
        let name_start = at + at_len;
        let run = b[name_start..]
            .iter()
            .take(20)
            .take_while(|&&c| is_name_byte(c))
            .count();
        if run == 0 {
            continue;
        }
        let name_end = name_start + run;
        let mut end = name_end;
        let mut list = end..end;
        if b.get(end) == Some(&b'/') && b.get(end + 1).is_some_and(u8::is_ascii_alphabetic) {
            let slug = b[end + 2..]
                .iter()
                .take(24)
                .take_while(|&&c| is_name_byte(c) || c == b'-')
                .count();
            list = end..end + 2 + slug;
            end = list.end;
        }
        consumed = end;
        from = end;
        let rest = &text[end..];
        let bad_after = rest.starts_with(['@', '＠'])
            || rest.starts_with("://")
            || char_at(text, end).is_some_and(is_latin_accent);
        if bad_after {
            continue;
        }
        out.push(MentionMatch {
            whole: at..end,
            name: name_start..name_end,
            list,
        });
    }
}

/// The screen name a text replies to: a mention at the very start, after optional spaces.
pub fn reply(text: &str) -> Option<Range<usize>> {
    let start = text.len() - text.trim_start_matches(is_space).len();
    let c = char_at(text, start)?;
    if !is_at_sign(c) {
        return None;
    }
    let name_start = start + c.len_utf8();
    let b = text.as_bytes();
    let run = b[name_start..]
        .iter()
        .take(20)
        .take_while(|&&c| is_name_byte(c))
        .count();
    if run == 0 {
        return None;
    }
    let end = name_start + run;
    let rest = &text[end..];
    if rest.starts_with(['@', '＠'])
        || rest.starts_with("://")
        || char_at(text, end).is_some_and(is_latin_accent)
    {
        return None;
    }
    Some(name_start..end)
}

/// Cashtags: ranges of the symbol (after `$`).
pub fn cashtags(text: &str, out: &mut Vec<Range<usize>>) {
    let b = text.as_bytes();
    let mut consumed = 0;
    let mut from = 0;
    while let Some(off) = text[from..].find('$') {
        let dollar = from + off;
        from = dollar + 1;
        if dollar > 0 {
            match char_before(text, dollar) {
                Some(c) if is_space(c) && dollar - c.len_utf8() >= consumed => {}
                _ => continue,
            }
        }
        let start = dollar + 1;
        let letters = b[start..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic())
            .count();
        if !(1..=6).contains(&letters) {
            continue;
        }
        let mut end = start + letters;
        // Optional ".xx" / "_xx" suffix of one or two letters, kept only when a boundary follows.
        if matches!(b.get(end), Some(b'.' | b'_')) {
            let n = b[end + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphabetic())
                .count();
            if (1..=2).contains(&n) && cashtag_boundary(text, end + 1 + n) {
                end += 1 + n;
            }
        }
        if !cashtag_boundary(text, end) {
            continue;
        }
        consumed = end;
        from = end;
        out.push(start..end);
    }
}

fn cashtag_boundary(text: &str, i: usize) -> bool {
    match char_at(text, i) {
        None => true,
        Some(c) => c.is_whitespace() || is_punct(c),
    }
}
