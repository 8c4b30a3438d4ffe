//! Unit and property tests of the combined extraction.

use super::*;

fn strs<'t>(text: &'t str, r: &'t [Range<usize>]) -> Vec<&'t str> {
    Entities::strs(text, r).collect()
}

#[test]
fn extracts_everything_once() {
    let t = "RT @alice: Loving #Rust 🦀 and $TSLA.. see https://example.com/a#frag :) #dev";
    let e = extract(t);
    assert_eq!(strs(t, &e.mentions), ["alice"]);
    assert_eq!(strs(t, &e.hashtags), ["Rust", "dev"]);
    assert_eq!(strs(t, &e.cashtags), ["TSLA"]);
    assert_eq!(
        e.url_strs(t).collect::<Vec<_>>(),
        ["https://example.com/a#frag"]
    );
    assert_eq!(e.emojis.len(), 1);
    assert_eq!(e.emoticons.len(), 1);
}

#[test]
fn url_fragments_are_not_hashtags() {
    let t = "http://example.com/#tag and #real";
    assert_eq!(strs(t, &extract(t).hashtags), ["real"]);
}

/// Checks the invariants every extraction keeps: ranges inside the text, on char boundaries,
/// non-empty, in order, and twitter-text entities not overlapping one another.
fn check_invariants(text: &str) {
    let e = extract(text);
    let ok = |r: &Range<usize>| {
        r.start < r.end
            && r.end <= text.len()
            && text.is_char_boundary(r.start)
            && text.is_char_boundary(r.end)
    };
    let mut spans: Vec<Range<usize>> = Vec::new();
    for r in e.hashtags.iter().chain(&e.mentions).chain(&e.cashtags) {
        assert!(ok(r), "{r:?} in {text:?}");
        spans.push(r.clone());
    }
    for u in &e.urls {
        assert!(ok(&u.range) && ok(&u.host), "{u:?} in {text:?}");
        assert!(u.range.start <= u.host.start && u.host.end <= u.range.end);
        spans.push(u.range.clone());
    }
    spans.sort_by_key(|r| r.start);
    for w in spans.windows(2) {
        assert!(w[0].end <= w[1].start, "overlap {w:?} in {text:?}");
    }
    for m in &e.emojis {
        assert!(ok(&m.range), "{m:?} in {text:?}");
    }
    for m in &e.emoticons {
        assert!(ok(&m.range), "{m:?} in {text:?}");
    }
    if let Some(r) = &e.reply_to {
        assert!(ok(r));
    }
}

proptest::proptest! {
    #[test]
    fn any_unicode_keeps_invariants(text in "\\PC{0,80}|.{0,80}") {
        check_invariants(&text);
    }

    #[test]
    fn entity_like_text_keeps_invariants(
        text in "[a-zA-Z0-9._\\-#@$:/?&=()\\[\\]+~%!'＃＠ \u{3000}\u{a0}日本é́ш🙂👍🏽\u{200d}\u{fe0f}\u{20e3}\u{202e}\u{1f1eb}\u{1f1f7}]{0,120}"
    ) {
        check_invariants(&text);
    }
}

#[test]
fn hostile_inputs_finish() {
    let cases = [
        "a".repeat(16_384),
        "日".repeat(5_000) + ".com",
        "a_".repeat(8_000) + ".com",
        "x.".repeat(8_000),
        "http://".repeat(2_000),
        "#".repeat(16_000),
        "@a".repeat(8_000),
        "$A ".repeat(5_000),
        "(".repeat(8_000) + "http://a.com/" + &"(x)".repeat(3_000),
        "http://a.com/".to_owned() + &"(".repeat(16_000),
        "🙂\u{200d}".repeat(3_000),
        "\u{1f1eb}".repeat(4_000),
        ":) ".repeat(5_000),
        "1".repeat(16_000),
        "\u{300}".repeat(8_000),
    ];
    for text in &cases {
        check_invariants(text);
    }
}
