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

/// Decodes `&amp;`, `&lt;`, `&#39;`, `&#x1F600;` and the other common entities; unknown ones
/// stay as written.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    decode_entities_into(s, &mut out);
    out
}

fn decode_entities_into(mut s: &str, out: &mut String) {
    while let Some(amp) = s.find('&') {
        out.push_str(&s[..amp]);
        let after = &s[amp + 1..];
        let end = after.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let name = &after[..e];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => '\u{a0}',
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                s = &after[e + 1..];
            }
            None => {
                out.push('&');
                s = after;
            }
        }
    }
    out.push_str(s);
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
    }
}
