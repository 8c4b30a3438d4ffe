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
