use super::shape::{scan, words};
use super::*;

#[test]
fn graphemes_join_emoji_sequences_and_crlf() {
    assert_eq!(graphemes(""), 0);
    assert_eq!(graphemes("a\r\nb"), 3);
    assert_eq!(graphemes("👩‍👩‍👧🇫🇷e\u{301}"), 3);
}

#[test]
fn sentences_end_at_terminal_punctuation_before_space() {
    assert_eq!(sentences(""), 0);
    assert_eq!(sentences("..."), 0);
    assert_eq!(sentences("Hi. How are you?! Fine"), 3);
    assert_eq!(sentences("Pi is 3.14 and e.g.x stays one"), 1);
    assert_eq!(sentences("He said \"stop.\" Then left."), 2);
    assert_eq!(sentences("東京です。大阪です。"), 2);
    assert_eq!(sentences("wow!!! 🙂 ok"), 2);
}

#[test]
fn lines_and_paragraphs_follow_blank_lines() {
    assert_eq!(lines_and_paragraphs(""), (0, 0));
    assert_eq!(lines_and_paragraphs("a\nb\n\n\nc\n"), (5, 2));
    assert_eq!(lines_and_paragraphs("  \n \n"), (2, 0));
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
    assert_eq!(scan("a\0b\x07c").controls, 2);
    assert_eq!(
        scan("x &amp; y &#39; &#x1F600; & no; &toolongname;").html_entities,
        3
    );
    assert_eq!(scan("What?!? Really?? ....").repeated_punctuation, 2);
    assert_eq!(scan("....").ellipses, 1);
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
}

mod prop {
    use super::super::shape::scan;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn counts_are_bounded_by_length(text in "\\PC{0,200}|[\\x00-\\x7f]{0,200}") {
            let s = scan(&text);
            let n = text.chars().count();
            prop_assert_eq!(s.chars, n);
            prop_assert!(s.letters + s.digits + s.whitespace <= n);
            prop_assert!(s.upper <= s.letters);
            prop_assert!(s.emoji <= s.emoji_chars.max(n));
            prop_assert!(s.max_run <= n);
            prop_assert!(super::super::graphemes(&text) <= n);
        }
    }
}
