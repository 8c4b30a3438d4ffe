//! HTML fragments (Mastodon `content`, Hacker News `text`, feed summaries) to plain text.
//!
//! Not a browser: enough to turn the markup these sources emit into the text a reader sees —
//! block ends become newlines, tags vanish, entities are decoded.

/// The visible text of an HTML fragment.
pub fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        decode_entities_into(&rest[..lt], &mut out);
        let after = &rest[lt + 1..];
        let Some(gt) = after.find('>') else {
            // A lone `<` is text.
            decode_entities_into(&rest[lt..], &mut out);
            rest = "";
            break;
        };
        let tag = after[..gt].trim().to_ascii_lowercase();
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        match name {
            "br" => out.push('\n'),
            "p" | "div" | "li" | "blockquote" | "pre" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
                if !out.is_empty() && !out.ends_with("\n\n")
                // Paragraphs are separated by a blank line, once.
                && (tag.starts_with('/') || !out.ends_with('\n')) =>
            {
                out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
            }
            _ => {}
        }
        rest = &after[gt + 1..];
    }
    decode_entities_into(rest, &mut out);
    out.trim().to_owned()
}

/// Decodes `&amp;`, `&lt;`, `&#39;`, `&#x1F600;` and the other common entities: HTML 4's named
/// ones (Latin-1, typographic punctuation, arrows and a few symbols; [`named`]), numeric ones,
/// and a UTF-16 surrogate pair written as two numeric entities (`&#55357;&#56832;`, which some
/// feed generators emit for an emoji). Unknown ones stay as written.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    decode_entities_into(s, &mut out);
    out
}

fn decode_entities_into(mut s: &str, out: &mut String) {
    while let Some(amp) = s.find('&') {
        out.push_str(&s[..amp]);
        let after = &s[amp + 1..];
        match entity(after) {
            Some((c, rest)) => {
                out.push(c);
                s = rest;
            }
            None => {
                out.push('&');
                s = after;
            }
        }
    }
    out.push_str(s);
}

/// The character of the entity `after` starts with (what follows a `&`), and the text after it.
fn entity(after: &str) -> Option<(char, &str)> {
    let e = after.find(';').filter(|&e| e <= 10)?;
    let (name, rest) = (&after[..e], &after[e + 1..]);
    let Some(num) = name.strip_prefix('#') else {
        return Some((named(name)?, rest));
    };
    let code = number(num)?;
    if let Some(c) = char::from_u32(code) {
        return Some((c, rest));
    }
    // A high surrogate: a character only with the low one right after it.
    if !(0xd800..0xdc00).contains(&code) {
        return None;
    }
    let low_at = rest.strip_prefix("&#")?;
    let end = low_at.find(';').filter(|&e| e <= 8)?;
    let low = number(&low_at[..end]).filter(|l| (0xdc00..0xe000).contains(l))?;
    let c = char::from_u32(0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00))?;
    Some((c, &low_at[end + 1..]))
}

/// A numeric entity's code: decimal, or hexadecimal after `x`.
fn number(num: &str) -> Option<u32> {
    match num.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => num.parse().ok(),
    }
}

/// HTML 4's Latin-1 entities, for U+00A0 to U+00FF in order.
const LATIN1: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

/// A named entity's character: the markup ones, [`LATIN1`], and HTML 4's typographic
/// punctuation, arrows and common symbols. Names are case-sensitive, as in HTML.
fn named(name: &str) -> Option<char> {
    if let Some(i) = LATIN1.iter().position(|&n| n == name) {
        return char::from_u32(0xa0 + i as u32);
    }
    let code: u32 = match name {
        "amp" => 0x26,
        "lt" => 0x3c,
        "gt" => 0x3e,
        "quot" => 0x22,
        "apos" => 0x27,
        "OElig" => 0x152,
        "oelig" => 0x153,
        "Scaron" => 0x160,
        "scaron" => 0x161,
        "Yuml" => 0x178,
        "fnof" => 0x192,
        "circ" => 0x2c6,
        "tilde" => 0x2dc,
        "ensp" => 0x2002,
        "emsp" => 0x2003,
        "thinsp" => 0x2009,
        "zwnj" => 0x200c,
        "zwj" => 0x200d,
        "lrm" => 0x200e,
        "rlm" => 0x200f,
        "ndash" => 0x2013,
        "mdash" => 0x2014,
        "lsquo" => 0x2018,
        "rsquo" => 0x2019,
        "sbquo" => 0x201a,
        "ldquo" => 0x201c,
        "rdquo" => 0x201d,
        "bdquo" => 0x201e,
        "dagger" => 0x2020,
        "Dagger" => 0x2021,
        "bull" => 0x2022,
        "hellip" => 0x2026,
        "permil" => 0x2030,
        "prime" => 0x2032,
        "Prime" => 0x2033,
        "lsaquo" => 0x2039,
        "rsaquo" => 0x203a,
        "oline" => 0x203e,
        "frasl" => 0x2044,
        "euro" => 0x20ac,
        "trade" => 0x2122,
        "larr" => 0x2190,
        "uarr" => 0x2191,
        "rarr" => 0x2192,
        "darr" => 0x2193,
        "harr" => 0x2194,
        "minus" => 0x2212,
        "infin" => 0x221e,
        "ne" => 0x2260,
        "le" => 0x2264,
        "ge" => 0x2265,
        "hearts" => 0x2665,
        _ => return None,
    };
    char::from_u32(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_tags_keeps_breaks_and_decodes_entities() {
        assert_eq!(
            to_text(
                "<p>Hi <a href=\"x\">@<span>bob</span></a> &amp; co</p><p>2nd&#39;s<br>line &#x1F600;</p>"
            ),
            "Hi @bob & co\n\n2nd's\nline \u{1F600}"
        );
        assert_eq!(to_text("a < b &unknown; c"), "a < b &unknown; c");
        assert_eq!(decode_entities("&lt;&gt;&quot;&#8217;"), "<>\"\u{2019}");
        assert_eq!(
            decode_entities("It&rsquo;s &ldquo;caf&eacute;&rdquo; &mdash; 5&euro;&hellip; &copy;"),
            "It\u{2019}s \u{201c}caf\u{e9}\u{201d} \u{2014} 5\u{20ac}\u{2026} \u{a9}"
        );
        // The Latin-1 table's ends, and names are case-sensitive.
        assert_eq!(
            decode_entities("&nbsp;&yuml;&Yuml;&Eacute;"),
            "\u{a0}\u{ff}\u{178}\u{c9}"
        );
        assert_eq!(decode_entities("&RSQUO;"), "&RSQUO;");
        // An emoji as a UTF-16 surrogate pair; a lone or reversed surrogate stays as written.
        assert_eq!(decode_entities("&#55357;&#56832;!"), "\u{1F600}!");
        assert_eq!(decode_entities("&#xD83D;&#xDE00;"), "\u{1F600}");
        assert_eq!(decode_entities("&#55357; x"), "&#55357; x");
        assert_eq!(decode_entities("&#56832;&#55357;"), "&#56832;&#55357;");
    }
}
