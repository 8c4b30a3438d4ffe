use super::scan::{scan, scan_chars, words};
use super::*;

fn lines(t: &str) -> usize {
    let s = scan(t);
    s.newlines + usize::from(!t.is_empty() && s.last_char != Some('\n'))
}

#[test]
fn lines_and_paragraphs_follow_blank_lines() {
    for t in ["", "a", "a\n", "a\nb", "\n", "a\r\nb\r\n", "\n\n x \n"] {
        assert_eq!(lines(t), t.lines().count(), "{t:?}");
    }
    assert_eq!(scan("a\nb\n\n\nc\n").paragraphs, 2);
    assert_eq!(scan("  \n \n").paragraphs, 0);
    assert_eq!(scan("one\r\n\r\ntwo").paragraphs, 2);
    assert_eq!(scan("a\r\nb").crlf, 1);
}

#[test]
fn sentences_end_at_terminal_punctuation_before_space() {
    let n = |t: &str| scan(t).sentences;
    assert_eq!(n(""), 0);
    assert_eq!(n("..."), 0);
    assert_eq!(n("Hi. How are you?! Fine"), 3);
    assert_eq!(n("Pi is 3.14 and e.g.x stays one"), 1);
    assert_eq!(n("He said \"stop.\" Then left."), 2);
    assert_eq!(n("東京です。大阪です。"), 2);
    assert_eq!(n("wow!!! 🙂 ok"), 2);
    assert_eq!(n("Wait… what"), 2);
}

#[test]
fn character_classes() {
    let s = scan("Hi THERE!!! 42 $5 …\n\u{200b}\u{202e}é\u{301}");
    assert_eq!(s.letters, 8);
    assert_eq!(s.upper, 6);
    assert_eq!(s.digits, 3);
    assert_eq!(s.exclamations, 3);
    assert_eq!(s.repeated_punctuation, 1);
    assert_eq!(s.ellipses, 1);
    assert_eq!(s.currency, 1);
    assert_eq!(s.zero_width, 1);
    assert_eq!(s.bidi, 1);
    assert_eq!(s.marks, 1);
    assert_eq!(s.line_breaks, 1);
    assert_eq!(s.max_run, 3);
    assert_eq!(s.punctuation, 4);
    assert_eq!(scan("a\0b\x07c").controls, 2);
    assert_eq!(
        scan("x &amp; y &#39; &#x1F600; & no; &toolongname;").html_entities,
        3
    );
    assert_eq!(scan("What?!? Really?? ....").repeated_punctuation, 2);
    assert_eq!(scan("....").ellipses, 1);
    assert_eq!(scan("«quoted» \"too\" 「日本」").quotes, 6);
}

#[test]
fn emoji_sequences_count_once() {
    assert_eq!(scan("🙂🙂🙂").emoji, 3);
    assert_eq!(scan("👩‍👩‍👧").emoji, 1);
    assert_eq!(scan("🇫🇷🇩🇪").emoji, 2);
    assert_eq!(scan("1\u{fe0f}\u{20e3}").emoji, 1);
    assert_eq!(scan("👍🏽").emoji, 1);
    // Text-style symbols are not emoji unless asked for with U+FE0F.
    assert_eq!(scan("© ™ ☺").emoji, 0);
    assert_eq!(scan("☺\u{fe0f} ⚽").emoji, 2);
}

#[test]
fn scripts() {
    let s = scan("Hello мир");
    assert_eq!(s.script_bits.count_ones(), 2);
    assert!(chars::is_mixed(s.script_bits));
    let s = scan("東京はとてもキレイ");
    assert!(s.cjk && !chars::is_mixed(s.script_bits));
    assert!(scan("مرحبا").rtl);
    assert!(!scan("hello").rtl);
}

#[test]
fn word_facts() {
    let w = words(&[
        "sooo",
        "GOOD",
        "I",
        "pаypal",
        "42",
        "3.14",
        "www.x.com",
        "ok",
    ]);
    assert_eq!(w.elongated, 1);
    assert_eq!(w.allcaps, 1);
    assert_eq!(w.mixed_script, 1, "Cyrillic а in pаypal");
    assert_eq!(w.numbers, 2);
    assert_eq!(w.longest, 9);
}

#[test]
fn graphemes_use_the_segmenter_only_when_needed() {
    let m = |t: &str| {
        let mut m = crate::corpus::real_posts().swap_remove(0);
        m.text = t.to_owned();
        m
    };
    for t in ["", "a\r\nb", "👩‍👩‍👧🇫🇷e\u{301}", "plain ascii"] {
        let mention = m(t);
        let a = Analysis::new(&mention);
        let mut rec = crate::Record::new();
        let id = crate::catalogue::registry()
            .extractors
            .iter()
            .position(|e| e.name() == "text")
            .expect("text group");
        crate::catalogue::run_one(id, &a, &mut rec);
        assert_eq!(
            rec.by_name("text_graphemes"),
            Some(&crate::Value::Int(t.graphemes(true).count() as i64)),
            "{t:?}"
        );
    }
}

mod prop {
    use super::super::scan::scan;
    use proptest::prelude::*;
    use unicode_segmentation::UnicodeSegmentation;

    proptest! {
        #[test]
        fn grapheme_shortcut_matches_the_segmenter(text in "[a-z\r\n ]{0,5}(\\PC|[\u{300}-\u{36f}\u{1F1E6}-\u{1F1FF}\u{200d}\u{fe0f}\u{600}-\u{605}\r\n a]){0,40}") {
            prop_assert_eq!(super::super::graphemes(&text), text.graphemes(true).count());
        }

        #[test]
        fn counts_are_bounded_by_length(text in "\\PC{0,200}|[\\x00-\\x7f]{0,200}") {
            let s = scan(&text);
            let n = text.chars().count();
            prop_assert_eq!(s.chars, n);
            prop_assert!(s.letters + s.digits + s.whitespace <= n);
            prop_assert!(s.upper <= s.letters);
            prop_assert!(s.emoji <= n);
            prop_assert!(s.max_run <= n);
            prop_assert!(s.sentences <= n && s.paragraphs <= n);
            prop_assert_eq!(s.newlines + usize::from(!text.is_empty() && s.last_char != Some('\n')), text.lines().count());
        }
    }
}

#[test]
fn ascii_scan_equals_char_scan_on_the_real_corpus() {
    for m in crate::corpus::real_posts()
        .iter()
        .filter(|m| m.text.is_ascii())
    {
        assert_eq!(scan(&m.text), scan_chars(&m.text), "{:?}", m.text);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4_000))]

    /// The ASCII fast path tallies exactly what the char-by-char scan does.
    #[test]
    fn ascii_scan_equals_char_scan(s in "[\\x00-\\x7f]{0,60}|[a-zA-Z0-9 .!?\"'()&#;$\r\n\t]{0,60}") {
        proptest::prop_assert_eq!(scan(&s), scan_chars(&s));
    }
}
