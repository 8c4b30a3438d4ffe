//! Word segmentation (UAX #29) with a byte-level path for ASCII, the first thing most groups
//! read from the analysis.

use unicode_segmentation::UnicodeSegmentation;

/// `text.unicode_words()`, appended to `out`, with ASCII stretches segmented by [`ascii_words`].
///
/// The text is cut before every space (U+0020) that follows a character other than a space
/// (WSegSpace: U+0020, U+1680, U+2000–U+2006, U+2008–U+200A, U+205F, U+3000, which WB3d joins to
/// it): each cut is a word boundary (no other rule joins a character to a following space, and
/// WB4's extending marks only attach what follows them) and no rule looks across it (the
/// rules that look back or ahead, WB6/7, WB11/12 and WB15/16, need letters, digits, middle
/// punctuation or regional indicators on the far side; WB4 only attaches what follows). So the
/// pieces can be segmented apart, and only the ones holding non-ASCII need the full segmenter.
pub(crate) fn words_into<'t>(text: &'t str, out: &mut Vec<&'t str>) {
    if text.is_ascii() {
        return ascii_words(text, out);
    }
    let piece = |p: &'t str, out: &mut Vec<&'t str>| {
        if p.is_ascii() {
            ascii_words(p, out);
        } else {
            out.extend(p.unicode_words());
        }
    };
    let b = text.as_bytes();
    let mut start = 0;
    for i in 1..b.len() {
        if b[i] == b' ' && !after_space(text, i) {
            piece(&text[start..i], out);
            start = i;
        }
    }
    piece(&text[start..], out);
}

/// Whether the character that ends at byte `i` of `text` is a WSegSpace (WB3d).
fn after_space(text: &str, i: usize) -> bool {
    match text.as_bytes()[i - 1] {
        b' ' => true,
        c if c.is_ascii() => false,
        _ => matches!(
            text[..i].chars().next_back(),
            Some(
                '\u{1680}'
                | '\u{2000}'..='\u{2006}'
                | '\u{2008}'..='\u{200a}'
                | '\u{205f}'
                | '\u{3000}',
            )
        ),
    }
}

/// UAX #29 word boundaries restricted to ASCII, keeping the segments that hold a letter or digit
/// (what `unicode_words()` returns for ASCII text). Within ASCII the word-forming categories are
/// ALetter `A-Za-z`, Numeric `0-9` and ExtendNumLet `_`, which never break among themselves
/// (WB5, WB8–WB10, WB13a/b); MidLetter `:`, MidNumLet `.` and Single_Quote `'` join two letters
/// (WB6/7); MidNum `,` `;`, MidNumLet and Single_Quote join two digits (WB11/12). Every other
/// ASCII character breaks on both sides (WB3a/b, WB999) and WB3d only joins spaces, which are
/// never words.
pub(crate) fn ascii_words<'t>(text: &'t str, out: &mut Vec<&'t str>) {
    let b = text.as_bytes();
    let class = |i: usize| b.get(i).map_or(0, |&c| WB[usize::from(c & 0x7f)]);
    let mut i = 0;
    while i < b.len() {
        if class(i) & WORD == 0 {
            i += 1;
            continue;
        }
        let start = i;
        let mut alnum = 0;
        loop {
            let mut c = class(i);
            while c & WORD != 0 {
                alnum |= c;
                i += 1;
                c = class(i);
            }
            // b[i - 1] is a word character; join across one middle character if the rules do.
            let (prev, next) = (class(i - 1), class(i + 1));
            if (c & MID_LETTER != 0 && prev & next & ALPHA != 0)
                || (c & MID_NUM != 0 && prev & next & DIGIT != 0)
            {
                i += 1;
                continue;
            }
            break;
        }
        if alnum & (ALPHA | DIGIT) != 0 {
            out.push(&text[start..i]);
        }
    }
}

// Word-break classes of ASCII bytes (see `ascii_words`).
const WORD: u8 = 1;
const ALPHA: u8 = 2;
const DIGIT: u8 = 4;
/// Joins two letters: MidLetter, MidNumLet, Single_Quote.
const MID_LETTER: u8 = 8;
/// Joins two digits: MidNum, MidNumLet, Single_Quote.
const MID_NUM: u8 = 16;

static WB: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphabetic() {
            WORD | ALPHA
        } else if b.is_ascii_digit() {
            WORD | DIGIT
        } else {
            match b {
                b'_' => WORD,
                b':' => MID_LETTER,
                b'.' | b'\'' => MID_LETTER | MID_NUM,
                b',' | b';' => MID_NUM,
                _ => 0,
            }
        };
        c += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn both(s: &str) -> (Vec<&str>, Vec<&str>) {
        let mut fast = Vec::new();
        ascii_words(s, &mut fast);
        (fast, s.unicode_words().collect())
    }

    fn pieces(s: &str) -> (Vec<&str>, Vec<&str>) {
        let mut fast = Vec::new();
        words_into(s, &mut fast);
        (fast, s.unicode_words().collect())
    }

    #[test]
    fn split_segmentation_follows_uax29() {
        for s in [
            " \u{301}a",
            "a \u{301}b",
            "a\u{200d} 😀",
            "🇫🇷 🇩🇪🇫🇷 x",
            "a. b",
            "1, 2",
            "l'été  x",
            "א\" ב",
            "カタ カナ",
            "e\u{301} \u{301}",
            "\u{200d} \u{200d}😀",
            "x\u{a0} y",
            // WB3d joins every WSegSpace, and the run keeps a mark that follows it (WB4).
            "\u{2000} \u{df2}",
            "a\u{3000} \u{301}b",
            "\u{1680}  \u{200a} \u{205f} \u{301}",
            "\u{2000}\u{301} \u{301}x",
            "\u{2007} \u{301}",
        ] {
            let (fast, slow) = pieces(s);
            assert_eq!(fast, slow, "{s:?}");
        }
        for m in crate::corpus::real_posts() {
            let (fast, slow) = pieces(&m.text);
            assert_eq!(fast, slow, "{:?}", m.text);
        }
    }

    #[test]
    fn ascii_words_follow_uax29() {
        for s in [
            "",
            "_",
            "__ _a a_ a__b",
            "e.g. a.b.c a..b a.1 1.a 1.2.3 1,2 a,b a:b 1:2 1;2",
            "don't 'quoted' rock'n'roll 12'34 x'",
            "3.14, 1,000,000; v1.2_beta #tag @user",
            "http://example.com/a_b?c=d&e=f",
            "line\r\nbreak\u{b}tab\there",
            "a.:b 1.,2 .5 5.",
        ] {
            let (fast, slow) = both(s);
            assert_eq!(fast, slow, "{s:?}");
        }
    }

    #[test]
    fn ascii_words_equal_unicode_words_on_the_real_corpus() {
        let posts = crate::corpus::real_posts();
        let mut ascii = 0;
        for m in posts.iter().filter(|m| m.text.is_ascii()) {
            let (fast, slow) = both(&m.text);
            assert_eq!(fast, slow, "{:?}", m.text);
            ascii += 1;
        }
        assert!(ascii > 10_000, "only {ascii} ASCII posts");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        /// Over ASCII strings dense in the characters the rules treat specially.
        #[test]
        fn ascii_words_equal_unicode_words(s in "[a-zA-Z0-9_.,;:'\"\\- \t\r\n\x0b#@$%!?/()]{0,40}") {
            let (fast, slow) = both(&s);
            prop_assert_eq!(fast, slow);
        }

        /// Over text dense in what the rules look at: spaces, marks, joiners, flags, letters
        /// of several kinds, digits and middle punctuation.
        #[test]
        fn split_words_equal_unicode_words(
            s in "[ a-z0-9.,:;'\"_\u{301}\u{df2}\u{200d}\u{200b}\u{a0}\u{1680}\u{2000}-\u{200a}\u{205f}\u{3000}😀👍🏽🇫🇷éאカ中\u{2019}]{0,40}"
        ) {
            let (fast, slow) = pieces(&s);
            prop_assert_eq!(fast, slow);
        }

        /// Over any text.
        #[test]
        fn split_words_equal_unicode_words_any(s in "\\PC{0,60}|[\\s\\S]{0,30}") {
            let (fast, slow) = pieces(&s);
            prop_assert_eq!(fast, slow);
        }

        /// Over any ASCII.
        #[test]
        fn ascii_words_equal_unicode_words_any(s in "[\\x00-\\x7f]{0,60}") {
            let (fast, slow) = both(&s);
            prop_assert_eq!(fast, slow);
        }
    }
}
