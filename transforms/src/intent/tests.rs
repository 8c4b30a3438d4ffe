//! Intent and safety tests: real examples (paraphrased from the corpus and public support
//! threads) for each cue family, PII shapes that must and must not be flagged, awkward input.

use proptest::prelude::*;

use super::cues::{self, bit};
use super::is_question;
use super::pii::{self, luhn};
use crate::analysis::Analysis;

fn mention(text: &str) -> model::Mention {
    static TEMPLATE: std::sync::LazyLock<model::Mention> = std::sync::LazyLock::new(|| {
        serde_json::from_str(
            r#"{"id":"x:1","source":"x","kind":"post","created_at":"2026-01-01T00:00:00Z",
            "collected_at":"2026-01-01T00:00:01Z","text":"","author":{"id":"7"}}"#,
        )
        .expect("template mention")
    });
    let mut m = TEMPLATE.clone();
    m.text = text.to_owned();
    m
}

fn intents(text: &str) -> u16 {
    let m = mention(text);
    let a = Analysis::new(&m);
    let lw = a.lower_words();
    let mut bits = cues::scan(lw.len(), |i| lw.get(i).unwrap_or_default()).bits & !bit::PROFANITY;
    if is_question(a.text, a.words(), |i| lw.get(i)) {
        bits |= bit::QUESTION;
    }
    bits
}

fn profanity(text: &str) -> usize {
    let m = mention(text);
    let a = Analysis::new(&m);
    let lw = a.lower_words();
    cues::scan(lw.len(), |i| lw.get(i).unwrap_or_default()).profanity
}

#[test]
fn questions() {
    for q in [
        "Is anyone else having issues with the app today",
        "How do I get rid of this notification. It's driving me nuts",
        "what's the deal with the new layout",
        "Great game. Do you think they make the playoffs",
        "Anyone know a good plumber in Austin",
        "wait, really?",
        "Can’t believe it. Is there a fix",
    ] {
        assert!(intents(q) & bit::QUESTION != 0, "{q}");
    }
    for q in [
        "Do it now!",
        "How I met your mother is on tonight",
        "See https://example.com/page?id=4 for details",
        "I know what you did",
        "",
    ] {
        assert!(intents(q) & bit::QUESTION == 0, "{q}");
    }
}

#[test]
fn intent_families() {
    let cases: &[(&str, u16)] = &[
        (
            "My phone stopped working after the update and I'm still waiting on a reply",
            bit::COMPLAINT,
        ),
        (
            "Charged twice for the same order, this is unacceptable",
            bit::COMPLAINT,
        ),
        ("Total waste of money", bit::COMPLAINT),
        (
            "I want to buy a new laptop before school starts",
            bit::PURCHASE,
        ),
        ("where can i buy the limited edition?", bit::PURCHASE),
        ("Shut up and take my money", bit::PURCHASE),
        (
            "Please help, I can't log in to my account",
            bit::SUPPORT | bit::HELP,
        ),
        ("Can anyone help me with this puzzle", bit::HELP),
        (
            "@acme my order never showed up, order number in DMs",
            bit::SUPPORT,
        ),
        (
            "Any recommendations for a budget mechanical keyboard?",
            bit::RECOMMEND,
        ),
        ("What's the best way to learn Rust?", bit::RECOMMEND),
        ("Thanks so much, really appreciate it", bit::GRATITUDE),
        ("thank you all for the birthday wishes", bit::GRATITUDE),
        ("I'm going to cancel my subscription", bit::CHURN),
        ("Done with them, I switched to another carrier", bit::CHURN),
    ];
    for &(text, want) in cases {
        assert!(intents(text) & want != 0, "{text}: {:b}", intents(text));
    }
    for text in [
        "The sunset over the lake was beautiful",
        "I bought groceries and walked the dog",
        "This movie is terrible",
    ] {
        let other = intents(text) & !bit::QUESTION;
        assert_eq!(other, 0, "{text}");
    }
}

#[test]
fn every_cue_line_names_a_known_intent() {
    for line in cues::data_lines(cues::CUES) {
        let (intent, phrase) = line.split_once('\t').expect("intent<TAB>phrase");
        assert!(cues::intent_bit(intent).is_some(), "{line:?}");
        assert_eq!(phrase, phrase.to_lowercase(), "{line:?}");
        assert!(
            !phrase.trim().is_empty() && !phrase.contains("  "),
            "{line:?}"
        );
    }
}

#[test]
fn typographic_apostrophes_match() {
    assert!(intents("it isn’t working at all") & bit::COMPLAINT != 0);
}

#[test]
fn profanity_counts_words_and_phrases() {
    assert_eq!(profanity("What the fuck, this is bullshit"), 2);
    assert_eq!(profanity("FUCK"), 1);
    assert_eq!(profanity("a blow job"), 1);
    // Ordinary, medical and identity words of the source list are not counted.
    assert_eq!(
        profanity("God, the gay pride parade killed it, hell yes"),
        0
    );
    assert_eq!(profanity("Scunthorpe and classic assessments"), 0);
    assert_eq!(
        profanity("Sex education and the history of the Nazi party"),
        0
    );
    assert_eq!(profanity(""), 0);
}

#[test]
fn emails() {
    for t in [
        "write to contact@reddit.com for details",
        "mail me: jane.doe+news@mail.example.co.uk.",
    ] {
        assert!(pii::scan(t).email, "{t}");
    }
    for t in [
        "@reddit is great",
        "email@localhost",
        "a@b.c",
        "me@ .com",
        "@@@@",
    ] {
        assert!(!pii::scan(t).email, "{t}");
    }
}

#[test]
fn phones() {
    for t in [
        "call me 423 521 0367",
        "(304)594-2353",
        "Call 916-923-5646.",
        "+44 20 7946 0958",
        "+1 (555) 234-5678",
        "ring 020 7946 0958 today",
        "1-800-555-0199",
    ] {
        assert!(pii::scan(t).phone, "{t}");
    }
    for t in [
        "the 2021-2022 season",
        "+2021-2022",
        "on 2024-01-15 at 10:30",
        "it costs $555-1234",
        "order #5551234567",
        "version 192.168.100.200",
        "5551234567",
        "12/25/2024",
        "score 3-2 after 90 minutes",
        "01.02.2024 12.30",
    ] {
        assert!(!pii::scan(t).phone, "{t}");
    }
}

#[test]
fn cards_ibans_ssns() {
    assert!(luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
    assert!(pii::scan("card 4111 1111 1111 1111 exp 12/29").payment_card);
    assert!(pii::scan("5500-0000-0000-0004").payment_card);
    assert!(!pii::scan("card 4111 1111 1111 1112").payment_card, "Luhn");
    assert!(!pii::scan("id 1234567812345670").payment_card, "no issuer");
    assert!(pii::scan("pay to GB82 WEST 1234 5698 7654 32 please").iban);
    assert!(pii::scan("DE89370400440532013000").iban);
    assert!(!pii::scan("GB82 WEST 1234 5698 7654 33").iban, "mod 97");
    assert!(!pii::scan("XX82WEST12345698765432").iban, "country");
    assert!(pii::scan("ssn 123-45-6789").us_ssn);
    assert!(!pii::scan("ssn 666-45-6789").us_ssn);
    assert!(!pii::scan("2023-45-6789").us_ssn);
    let p = pii::scan("mail a@example.com or call +1 202 555 0143");
    assert_eq!(p.kinds().collect::<Vec<_>>(), ["email", "phone"]);
}

#[test]
fn corpus_rates_are_plausible() {
    // Not a precision measure: a guard that no family fires on most posts or on none.
    let posts = crate::corpus::real_posts();
    let mut hits = [0usize; 9];
    for m in &posts {
        let a = Analysis::new(m);
        let lw = a.lower_words();
        let bits = cues::scan(lw.len(), |i| lw.get(i).unwrap_or_default()).bits;
        for (k, h) in hits.iter_mut().enumerate() {
            *h += usize::from(bits & (1 << k) != 0);
        }
    }
    eprintln!("intent hits over {} posts: {hits:?}", posts.len());
    if std::env::var_os("SHOW_INTENTS").is_some() {
        for m in &posts {
            let a = Analysis::new(m);
            let lw = a.lower_words();
            let bits = cues::scan(lw.len(), |i| lw.get(i).unwrap_or_default()).bits;
            if bits & !(bit::GRATITUDE | bit::QUESTION) != 0 {
                let t: String = m.text.chars().take(140).collect();
                eprintln!("{bits:09b} {t:?}");
            }
        }
    }
    for (k, h) in hits.into_iter().enumerate() {
        if k == 7 {
            continue; // profanity is not an intent
        }
        assert!(h > 0 && h < posts.len() / 4, "{hits:?}");
    }
}

#[test]
fn corpus_pii_hits_are_few() {
    // Real posts rarely hold personal data: a flood of hits would mean false positives.
    let posts = crate::corpus::real_posts();
    let mut kinds = std::collections::BTreeMap::new();
    for m in &posts {
        let p = pii::scan(&m.text);
        for k in p.kinds() {
            *kinds.entry(k).or_insert(0usize) += 1;
            if std::env::var_os("SHOW_PII").is_some() {
                eprintln!("{k}: {:?}", m.text.chars().take(160).collect::<String>());
            }
        }
    }
    eprintln!("pii kinds over {} posts: {kinds:?}", posts.len());
    assert!(kinds.values().all(|&n| n < 50), "{kinds:?}");
}

/// The question rule written the obvious way: check the gap before every word.
fn opens_question_reference(text: &str) -> bool {
    let m = mention(text);
    let a = Analysis::new(&m);
    let lw = a.lower_words();
    let words = a.words();
    let base = a.text.as_ptr() as usize;
    let mut prev_end = 0;
    for (i, w) in words.iter().enumerate() {
        let start = w.as_ptr() as usize - base;
        let gap = &a.text[prev_end..start];
        prev_end = start + w.len();
        let sentence_start = i == 0 || gap.bytes().any(|c| b".!\n;:".contains(&c));
        if sentence_start && is_question("", &words[i..], |k| lw.get(i + k)) {
            return true;
        }
    }
    false
}

proptest! {
    #[test]
    fn question_rule_walks_terminators_like_the_reference(
        s in "((What|how|Do|is|you|there|it|anyone|e\\.g|3\\.5|the|cat|[.!;:\n ,])( |\\. |\n)?){0,14}"
    ) {
        let m = mention(&s);
        let a = Analysis::new(&m);
        let lw = a.lower_words();
        let got = is_question(a.text, a.words(), |i| lw.get(i));
        prop_assert_eq!(got, opens_question_reference(&s), "{:?}", s);
    }

    #[test]
    fn any_text_is_handled(s in "\\PC*") {
        let _ = intents(&s);
        let _ = profanity(&s);
        let p = pii::scan(&s);
        prop_assert!(p.kinds().count() <= 5);
    }

    #[test]
    fn digit_soup_is_handled(s in "[0-9 +()\\-.@a-zA-Z]{0,200}") {
        let _ = pii::scan(&s);
    }
}
