//! URLs by the rules of twitter-text: with `http(s)://` any valid host, without a protocol only
//! ASCII host names that end in a listed TLD.
//!
//! twitter-text states the rule as one regular expression (preceding character, optional
//! protocol, domain, port, path, query) scanned left to right, followed by checks that may
//! reject a match; a rejected match still consumes its text. This is a hand-written scanner for
//! the same language. Host names are looked at for at most [`MAX_HOST_BYTES`] bytes, which keeps
//! the work linear on hostile input (DNS names are at most 253 bytes, so longer ones are never
//! valid anyway).

use std::ops::Range;

use super::chars::{char_at, is_cyrillic, is_domain_char, is_invalid, is_latin_accent};
use super::tlds::tld_end;

/// Host names longer than this are not considered.
const MAX_HOST_BYTES: usize = 320;
/// twitter-text's limit on a whole URL (with protocol).
const MAX_URL_LENGTH: usize = 4096;
/// t.co slugs longer than this are not t.co links.
const MAX_TCO_SLUG: usize = 40;

/// One URL found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlMatch {
    /// The URL as written.
    pub range: Range<usize>,
    /// Its host name.
    pub host: Range<usize>,
    /// Whether it starts with `http://` or `https://`.
    pub has_protocol: bool,
}

/// A regex-level match: the URL's parts before the checks.
struct Raw {
    /// The consumed preceding character (empty at the start of the text).
    before: Range<usize>,
    protocol: Range<usize>,
    domain: Range<usize>,
    path: Option<Range<usize>>,
    end: usize,
}

fn is_label_char(c: char) -> bool {
    is_domain_char(c) || c == '-' || c == '_'
}

/// The end of the longest valid domain starting at `d`: labels followed by `.`, then a TLD;
/// every label but the last may contain `_`, none may start or end with `-` or `_`.
fn domain_end(text: &str, d: usize) -> Result<usize, Option<usize>> {
    // Ok(end) on success; Err(Some(y)) when the first label run ends at `y` without a dot (every
    // later start inside that run fails too); Err(None) otherwise.
    let mut limit = (d + MAX_HOST_BYTES).min(text.len());
    while !text.is_char_boundary(limit) {
        limit -= 1;
    }
    let mut labels: [(usize, bool); 16] = [(0, false); 16];
    let mut n = 0;
    let mut x = d;
    loop {
        let mut y = x;
        let mut first = None;
        let mut last = None;
        let mut underscore = false;
        for c in text[x..limit].chars() {
            if !is_label_char(c) {
                break;
            }
            first.get_or_insert(c);
            last = Some(c);
            underscore |= c == '_';
            y += c.len_utf8();
        }
        if text.as_bytes().get(y) != Some(&b'.') {
            if n == 0 && y < limit {
                return Err(Some(y));
            }
            break;
        }
        let edges_ok = first.is_some_and(is_domain_char) && last.is_some_and(is_domain_char);
        if !edges_ok {
            break;
        }
        labels[n] = (y, !underscore);
        n += 1;
        x = y + 1;
        if n == labels.len() || x >= limit {
            break;
        }
    }
    for &(dot, name_ok) in labels[..n].iter().rev() {
        if !name_ok {
            continue;
        }
        if let Some(end) = tld_end(&text[..limit], dot + 1) {
            return Ok(end);
        }
    }
    Err(None)
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '!' | '*'
                | '\''
                | ';'
                | ':'
                | '='
                | '+'
                | ','
                | '.'
                | '$'
                | '/'
                | '%'
                | '#'
                | '['
                | ']'
                | '-'
                | '\u{2013}'
                | '_'
                | '~'
                | '@'
                | '|'
                | '&'
        )
        || is_cyrillic(c)
        || is_latin_accent(c)
}

fn is_path_end_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '+' | '-' | '=' | '_' | '#' | '/')
        || is_cyrillic(c)
        || is_latin_accent(c)
}

/// A balanced parenthesised group in a path, at most two levels deep: its end.
fn balanced_parens(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'(') {
        return None;
    }
    let run = |from: usize| -> usize {
        text[from..]
            .chars()
            .take_while(|&c| is_path_char(c))
            .map(char::len_utf8)
            .sum::<usize>()
            + from
    };
    let a = run(i + 1);
    if a > i + 1 && b.get(a) == Some(&b')') {
        return Some(a + 1);
    }
    // One nested level: G* ( G+ ) G* )
    if b.get(a) == Some(&b'(') {
        let inner = run(a + 1);
        if inner > a + 1 && b.get(inner) == Some(&b')') {
            let tail = run(inner + 1);
            if b.get(tail) == Some(&b')') {
                return Some(tail + 1);
            }
        }
    }
    None
}

/// The end of a URL path starting just after its `/`. twitter-text's path is a repetition of
/// units, each either path characters and balanced groups ending in a path-ending character, or
/// one balanced group on its own: so the path ends after its last path-ending character, or
/// after a group that directly follows a valid end.
fn path_end(text: &str, start: usize) -> usize {
    let mut i = start;
    let mut good = start;
    while i < text.len() {
        if let Some(end) = balanced_parens(text, i) {
            if i == good {
                good = end;
            }
            i = end;
            continue;
        }
        match char_at(text, i) {
            Some(c) if is_path_char(c) => {
                i += c.len_utf8();
                if is_path_end_char(c) {
                    good = i;
                }
            }
            _ => break,
        }
    }
    good
}

fn is_query_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!?*'@();:&=+$/%#[]-_.,~|".contains(&b)
}

fn is_query_end_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_&=#/".contains(&b)
}

/// The end of a query string starting at its `?`, if it has a valid last character.
fn query_end(text: &str, q: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut good = None;
    for (k, &c) in b[q + 1..].iter().enumerate() {
        if !is_query_char(c) {
            break;
        }
        if is_query_end_char(c) {
            good = Some(q + 1 + k + 1);
        }
    }
    good
}

fn protocol_len(text: &str, r: usize) -> usize {
    let b = &text.as_bytes()[r..];
    let starts = |p: &[u8]| b.len() >= p.len() && b[..p.len()].eq_ignore_ascii_case(p);
    if starts(b"https://") {
        8
    } else if starts(b"http://") {
        7
    } else {
        0
    }
}

/// The rest of a match after its preceding character: protocol, domain, port, path, query.
/// `Err(Some(y))` means no match can start before `y` within the same host run.
fn match_rest(text: &str, before: Range<usize>) -> Result<Raw, Option<usize>> {
    let r = before.end;
    let p = protocol_len(text, r);
    let (protocol, dom) = if p > 0 {
        match domain_end(text, r + p) {
            Ok(end) => (r..r + p, r + p..end),
            Err(_) => (r..r, r..domain_end(text, r).map_err(|_| None)?),
        }
    } else {
        (r..r, r..domain_end(text, r)?)
    };
    let b = text.as_bytes();
    let mut end = dom.end;
    if b.get(end) == Some(&b':') {
        let digits = b[end + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits > 0 {
            end += 1 + digits;
        }
    }
    let mut path = None;
    if b.get(end) == Some(&b'/') {
        let e = path_end(text, end + 1);
        path = Some(end..e);
        end = e;
    }
    if b.get(end) == Some(&b'?')
        && let Some(e) = query_end(text, end)
    {
        end = e;
    }
    Ok(Raw {
        before,
        protocol,
        domain: dom,
        path,
        end,
    })
}

/// Whether `c` may come just before a URL (and is consumed by the match).
fn is_preceding(c: char) -> bool {
    !(c.is_ascii_alphanumeric() || matches!(c, '@' | '＠' | '$' | '#' | '＃') || is_invalid(c))
}

/// Finds the next regex-level match that starts in `from..until`.
fn next_raw(text: &str, from: usize, until: usize) -> Option<Raw> {
    let mut s = from;
    while s < until {
        let c = char_at(text, s)?;
        let next = s + c.len_utf8();
        let mut skip_to = None;
        if is_preceding(c) {
            match match_rest(text, s..next) {
                Ok(raw) => return Some(raw),
                Err(y) => skip_to = y,
            }
        }
        if s == 0
            && let Ok(raw) = match_rest(text, 0..0)
        {
            return Some(raw);
        }
        s = next;
        if let Some(y) = skip_to {
            // Starts inside the dotless run fail too, except where a protocol begins.
            let run = &text.as_bytes()[next..y];
            let http = run
                .windows(4)
                .position(|w| w.eq_ignore_ascii_case(b"http"))
                .map(|k| next + k);
            let target = http.unwrap_or(y);
            if let Some(prev) = super::chars::char_before(text, target) {
                s = s.max(target - prev.len_utf8());
            }
        }
    }
    None
}

/// Rough check that a host name converts to ASCII (IDNA): labels of at most 63 bytes after
/// punycode, no `xn--` label with non-ASCII characters.
fn host_is_valid(host: &str) -> bool {
    host.split(['.', '\u{3002}', '\u{ff0e}', '\u{ff61}'])
        .all(|label| {
            if label.is_ascii() {
                return label.len() <= 63;
            }
            if label.len() >= 4 && label.as_bytes()[..4].eq_ignore_ascii_case(b"xn--") {
                return false;
            }
            // Punycode: "xn--", the ASCII characters and a dash, then roughly two to three
            // characters per non-ASCII character; estimate on the high side.
            let ascii = label.bytes().filter(u8::is_ascii).count();
            let other = label.chars().filter(|c| !c.is_ascii()).count();
            4 + ascii + 1 + 3 * other <= 63
        })
}

/// Every URL in `text`, in order.
pub fn urls(text: &str, out: &mut Vec<UrlMatch>) {
    if !text.contains('.') {
        return;
    }
    // Every match has a dot in its host name, and the first dot at or after the scan position
    // belongs to the host run just before it: only starts in that run (or its protocol) can
    // reach it, so the scan jumps from dot to dot.
    let mut pos = 0;
    let mut dot_from = 0;
    while let Some(off) = memchr_dot(&text.as_bytes()[dot_from..]) {
        let q = dot_from + off;
        let from = run_start(text, pos, q);
        let Some(raw) = next_raw(text, from, q) else {
            dot_from = q + 1;
            continue;
        };
        pos = raw.end;
        dot_from = raw.end;
        let url = raw.protocol.start..raw.end;
        let host = &text[raw.domain.clone()];
        if !host_is_valid(host) || raw.protocol.len() + url.len() > MAX_URL_LENGTH {
            continue;
        }
        if raw.protocol.is_empty() {
            if text[raw.before.clone()].ends_with(['-', '_', '.', '/']) {
                continue;
            }
            let found = out.len();
            ascii_domains(text, raw.domain.clone(), out);
            if let (Some(_), Some(last)) =
                (&raw.path, out.get_mut(found..).and_then(|s| s.last_mut()))
            {
                last.range.end = raw.end;
            }
            continue;
        }
        let mut end = raw.end;
        if let Some(slug) = tco_slug(text, raw.protocol.end, raw.domain.clone()) {
            if slug.len() > MAX_TCO_SLUG {
                continue;
            }
            end = slug.end;
            if text.as_bytes().get(end) == Some(&b'?')
                && let Some(e) = query_end(text, end)
            {
                end = e.min(raw.end);
            }
        }
        out.push(UrlMatch {
            range: url.start..end,
            host: raw.domain,
            has_protocol: true,
        });
    }
}

fn memchr_dot(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'.')
}

/// The earliest match start that can reach the dot at `q`: the character before the host run
/// that ends at `q` (extended over an `http://` or `https://` just before it), not before `pos`.
fn run_start(text: &str, pos: usize, q: usize) -> usize {
    let mut rs = q;
    while rs > pos && q - rs < MAX_HOST_BYTES {
        match super::chars::char_before(text, rs) {
            Some(c) if is_label_char(c) => rs -= c.len_utf8(),
            _ => break,
        }
    }
    let head = &text.as_bytes()[pos..rs];
    for p in [&b"https://"[..], &b"http://"[..]] {
        if head.len() >= p.len() && head[head.len() - p.len()..].eq_ignore_ascii_case(p) {
            rs -= p.len();
            break;
        }
    }
    match super::chars::char_before(text, rs) {
        Some(c) if rs - c.len_utf8() >= pos => rs - c.len_utf8(),
        _ => rs.max(pos),
    }
}

/// For a `t.co` link, the range of its slug (letters and digits after `t.co/`).
fn tco_slug(text: &str, host_start: usize, domain: Range<usize>) -> Option<Range<usize>> {
    if !text[domain.clone()].eq_ignore_ascii_case("t.co") || domain.start != host_start {
        return None;
    }
    let b = text.as_bytes();
    if b.get(domain.end) != Some(&b'/') {
        return None;
    }
    let s = domain.end + 1;
    let n = b[s..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    (n > 0).then_some(s..s + n)
}

fn is_ascii_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || is_latin_accent(c)
}

/// The ASCII (and Latin-accented) host names inside a protocol-less domain match.
fn ascii_domains(text: &str, domain: Range<usize>, out: &mut Vec<UrlMatch>) {
    let dom = &text[domain.clone()];
    let mut k = 0;
    while k < dom.len() {
        let Some(c) = char_at(dom, k) else { break };
        if !is_ascii_label_char(c) {
            k += c.len_utf8();
            continue;
        }
        // Labels of label characters, each followed by a dot; then a TLD after the last usable dot.
        let mut dots: [usize; 16] = [0; 16];
        let mut n = 0;
        let mut x = k;
        loop {
            let run: usize = dom[x..]
                .chars()
                .take_while(|&c| is_ascii_label_char(c))
                .map(char::len_utf8)
                .sum();
            if run == 0 || dom.as_bytes().get(x + run) != Some(&b'.') || n == dots.len() {
                break;
            }
            dots[n] = x + run;
            n += 1;
            x += run + 1;
        }
        let found = dots[..n]
            .iter()
            .rev()
            .find_map(|&dot| tld_end(dom, dot + 1));
        match found {
            Some(end) => {
                out.push(UrlMatch {
                    range: domain.start + k..domain.start + end,
                    host: domain.start + k..domain.start + end,
                    has_protocol: false,
                });
                k = end;
            }
            None => k += c.len_utf8(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        urls(text, &mut out);
        out.iter().map(|u| &text[u.range.clone()]).collect()
    }

    #[test]
    fn basics() {
        assert_eq!(
            find("see http://example.com/a?b=1."),
            ["http://example.com/a?b=1"]
        );
        assert_eq!(find("foo.com and bar.co.uk/x"), ["foo.com", "bar.co.uk/x"]);
        assert_eq!(find("foo.comm"), Vec::<&str>::new());
        assert_eq!(find("mail me@foo.com"), Vec::<&str>::new());
    }
}
