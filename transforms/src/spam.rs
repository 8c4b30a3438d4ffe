//! Spam and bot signals: stuffing of links, hashtags and mentions, repetition, shouting, spam
//! phrases, contact details, account anomalies, and a combined score.
//!
//! Account facts come from the mention (`author.created_at`, follower counts, post count) and are
//! compared with the mention's own `created_at`, never with a clock, so results are reproducible.

use std::sync::LazyLock;

use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::registry::{FieldSpec, FieldWriter, fields};

pub const EXTRACTORS: &[&dyn Extractor] = &[&Spam];

/// Spam and bot signals of one mention (the `spam` group; not to be confused with
/// [`crate::signals`], tenants' tracked queries).
#[derive(Debug)]
pub struct Spam;

fields! {
    const FIELDS, mod f = [
        LINK_DENSITY => FieldSpec::float(
            "spam_link_density",
            "URLs per word (words by UAX #29; 0 for a text without words).",
        ),
        HASHTAG_DENSITY => FieldSpec::float("spam_hashtag_density", "Hashtags per word (0 without words)."),
        MENTION_DENSITY => FieldSpec::float("spam_mention_density", "Mentions per word (0 without words)."),
        DUP_TOKENS => FieldSpec::float(
            "spam_duplicate_token_ratio",
            "Share of words that repeat an earlier word, ignoring case (0..1; 0 below two words).",
        ),
        CAPS_WORDS => FieldSpec::float(
            "spam_caps_word_share",
            "Share of words of three or more letters written entirely in capitals (shouting).",
        ),
        PHRASES => FieldSpec::int(
            "spam_phrase_count",
            "Occurrences of common spam and scam phrases as whole words (\"click here\", \"free followers\", \"link in bio\", …; list in spam.rs).",
        ),
        CONTACTS => FieldSpec::int(
            "spam_contact_count",
            "E-mail addresses and phone-number-like digit runs (10 or more digits) in the text.",
        ),
        RISKY_LINKS => FieldSpec::int(
            "spam_risky_link_count",
            "URLs through a link shortener or on a top-level domain often abused for spam (list in spam.rs).",
        ),
        NEW_ACCOUNT_LINKS => FieldSpec::bool(
            "spam_new_account_with_links",
            "The account was under 30 days old when it posted a text with URLs; null when its creation date is unknown.",
        )
        .nullable(),
        FOLLOW_ANOMALY => FieldSpec::bool(
            "spam_follow_anomaly",
            "The account follows at least 500 accounts and ten times more than follow it (follow-back farming); null when counts are unknown.",
        )
        .nullable(),
        RATE_ANOMALY => FieldSpec::bool(
            "spam_posting_rate_anomaly",
            "The account averaged more than 50 posts a day since its creation; null when the post count or creation date is unknown.",
        )
        .nullable(),
        SCORE => FieldSpec::float(
            "spam_score",
            "Combined spam likelihood in 0..1: 0.15 links (URL count / 2, capped) + 0.15 risky links (any) + 0.15 hashtag stuffing ((hashtags - 2) / 4) + 0.10 mention stuffing ((mentions - 2) / 4) + 0.10 repetition (max of duplicate-word ratio and (char run - 3) / 7) + 0.10 shouting (caps word share) + 0.15 spam phrases (count / 2) + 0.10 account anomaly (any of the three); each term capped to 0..1.",
        ),
        LIKELY => FieldSpec::bool("is_spam_likely", "spam_score is at least 0.4."),
    ]
}

/// Threshold of `is_spam_likely`.
pub const LIKELY_THRESHOLD: f64 = 0.4;

/// Phrases typical of spam, scams and engagement bait (ours; matched as whole words, ignoring
/// case).
const PHRASES: &[&str] = &[
    "click here",
    "click the link",
    "free followers",
    "follow back",
    "follow for follow",
    "f4f",
    "dm me",
    "dm for",
    "link in bio",
    "check my bio",
    "limited time",
    "act now",
    "giveaway",
    "airdrop",
    "earn money",
    "make money",
    "work from home",
    "100% free",
    "promo code",
    "discount code",
    "buy now",
    "order now",
    "sign up now",
    "free gift",
    "winner",
    "claim your",
    "crypto signals",
    "investment opportunity",
    "guaranteed",
    "whatsapp",
    "telegram",
];

/// Top-level domains over-represented in abuse reports (Spamhaus' and Interisle's yearly
/// most-abused TLD lists; facts, not a copy of either list).
const RISKY_TLDS: &[&str] = &[
    "tk", "ml", "ga", "cf", "gq", "xyz", "top", "icu", "buzz", "cyou", "rest", "fit", "click",
    "link", "work", "surf", "monster", "cam", "sbs", "bar", "loan", "win", "bid", "zip", "mov",
    "ru", "su",
];

/// The phrases as sequences of word hashes (words by UAX #29, as the analysis splits them),
/// with a 64-bit filter of their first words.
#[derive(Debug)]
struct PhraseHashes {
    phrases: Vec<Vec<u64>>,
    /// Bit `h % 4096` is set for the hash `h` of each phrase's first word.
    first_words: [u64; 64],
}

impl PhraseHashes {
    #[inline]
    fn may_start(&self, h: u64) -> bool {
        let bit = (h >> 52) as usize; // top 12 bits
        self.first_words[bit / 64] & (1 << (bit % 64)) != 0
    }
}

static PHRASE_HASHES: LazyLock<PhraseHashes> = LazyLock::new(|| {
    use unicode_segmentation::UnicodeSegmentation;
    let phrases: Vec<Vec<u64>> = PHRASES
        .iter()
        .map(|p| {
            p.unicode_words()
                .map(|w| crate::hash::word_hash(crate::unicode::to_lowercase(w).as_bytes()))
                .collect()
        })
        .collect();
    let mut first_words = [0u64; 64];
    for h in phrases.iter().filter_map(|p| p.first()) {
        let bit = (h >> 52) as usize;
        first_words[bit / 64] |= 1 << (bit % 64);
    }
    PhraseHashes {
        phrases,
        first_words,
    }
});

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

fn clamp01(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

/// Character-level facts gathered in one pass: the longest run of one repeated non-space
/// character, and the phone-number-like digit runs (10 to 15 digits, possibly split by single
/// spaces, dots, dashes, brackets or plus signs).
fn char_facts(text: &str) -> (usize, usize) {
    // Byte classes: 1 white space, 2 digit, 3 phone separator, 0 anything else.
    const CLASS: [u8; 128] = {
        let mut t = [0u8; 128];
        let mut b = 0;
        while b < 128 {
            t[b] = match b as u8 {
                b' ' => 1 | 4,
                b'\t' | b'\n' | 0x0b | 0x0c | b'\r' => 1,
                b'0'..=b'9' => 2,
                b'-' | b'.' | b'(' | b')' | b'+' => 4,
                _ => 0,
            };
            b += 1;
        }
        t
    };
    let (mut best, mut run, mut prev) = (0usize, 0usize, u32::MAX);
    let (mut phones, mut digits, mut gap) = (0usize, 0usize, 0usize);
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let (c, class) = if b[i] < 0x80 {
            i += 1;
            (u32::from(b[i - 1]), CLASS[usize::from(b[i - 1])])
        } else {
            let c = text[i..].chars().next().unwrap_or('\0');
            i += c.len_utf8();
            (u32::from(c), u8::from(c.is_whitespace()))
        };
        // Branch-free: white space resets the run, an equal character extends it.
        let space = usize::from(class & 1);
        run = (run * usize::from(prev == c) + 1) * (1 - space);
        prev = if space == 1 { u32::MAX } else { c };
        best = best.max(run);
        if class == 2 {
            digits += 1;
            gap = 0;
        } else if digits > 0 {
            if gap < 2 && class & 4 != 0 {
                gap += 1;
            } else {
                phones += usize::from((10..=15).contains(&digits));
                digits = 0;
                gap = 0;
            }
        }
    }
    (best, phones + usize::from((10..=15).contains(&digits)))
}

/// Word-level facts from the shared lower-cased words: the share of words that repeat an
/// earlier one, and the spam phrases found (whole-word matches).
fn word_facts(a: &Analysis<'_>) -> (f64, usize) {
    let hashes = a.word_hashes();
    let total = hashes.len();
    let p = &*PHRASE_HASHES;
    let mut phrases = 0;
    for k in 0..hashes.len() {
        if !p.may_start(hashes[k]) {
            continue;
        }
        if p.phrases.iter().any(|ph| hashes[k..].starts_with(ph)) {
            phrases += 1;
        }
    }
    if total < 2 {
        return (0.0, phrases);
    }
    let dups = if total <= 48 {
        // Open addressing on the stack; 0 marks an empty slot, so hashes are forced odd.
        let mut slots = [0u64; 64];
        let mut dups = 0;
        for &h in hashes.iter() {
            let h = h | 1;
            let mut k = (h >> 58) as usize;
            loop {
                if slots[k] == 0 {
                    slots[k] = h;
                    break;
                }
                if slots[k] == h {
                    dups += 1;
                    break;
                }
                k = (k + 1) & 63;
            }
        }
        dups
    } else {
        let mut sorted = hashes.to_vec();
        sorted.sort_unstable();
        let mut distinct = 1;
        for w in sorted.windows(2) {
            distinct += usize::from(w[0] != w[1]);
        }
        total - distinct
    };
    (dups as f64 / total as f64, phrases)
}

/// E-mail addresses: `local@domain.tld` with a plain local part.
fn emails(text: &str) -> usize {
    let b = text.as_bytes();
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let mut n = 0;
    let mut from = 0;
    while let Some(off) = b[from..].iter().position(|&c| c == b'@') {
        let at = from + off;
        from = at + 1;
        let l = b[..at].iter().rev().take_while(|&&c| local(c)).count();
        let d = b[at + 1..]
            .iter()
            .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
            .count();
        let domain = text[at + 1..at + 1 + d].trim_end_matches('.');
        if l > 0 && domain.contains('.') && !domain.starts_with('.') {
            n += 1;
        }
    }
    n
}

fn is_caps_word(w: &str) -> bool {
    let mut letters = 0;
    for c in w.chars() {
        if crate::unicode::is_lowercase(c) {
            return false;
        }
        letters += usize::from(crate::unicode::is_uppercase(c));
    }
    letters >= 3
}

impl Extractor for Spam {
    fn name(&self) -> &'static str {
        "spam"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let text = a.text;
        let e = a.entities();
        let words = a.words();
        let n_words = words.len();
        out.float(f::LINK_DENSITY, ratio(e.urls.len(), n_words));
        out.float(f::HASHTAG_DENSITY, ratio(e.hashtags.len(), n_words));
        out.float(f::MENTION_DENSITY, ratio(e.mentions.len(), n_words));
        let (repeat, phones) = char_facts(text);
        // The longest run itself is `text_max_char_run`; here it only feeds the score.

        let (dup, phrases) = word_facts(a);
        out.float(f::DUP_TOKENS, dup);
        let caps = ratio(words.iter().filter(|w| is_caps_word(w)).count(), n_words);
        out.float(f::CAPS_WORDS, caps);
        out.count(f::PHRASES, phrases);
        out.count(f::CONTACTS, phones + emails(text));

        let mut risky = 0;
        let mut domain = String::new();
        for u in &e.urls {
            domain.clear();
            crate::unicode::extend_lowercase_chars(&mut domain, &text[u.host.clone()]);
            let host = domain.strip_prefix("www.").unwrap_or(&domain);
            let tld = host.rsplit('.').next().unwrap_or(host);
            if crate::entities::is_shortener(host) || RISKY_TLDS.contains(&tld) {
                risky += 1;
            }
        }
        out.count(f::RISKY_LINKS, risky);

        let m = a.mention;
        let age_days = m
            .author
            .created_at
            .map(|c| (m.created_at - c).num_seconds() as f64 / 86_400.0);
        let new_with_links = age_days.map(|d| d < 30.0 && !e.urls.is_empty());
        let follow = match (m.author.followers, m.author.following) {
            (Some(fers), Some(fing)) => Some(fing >= 500 && fing >= fers.saturating_mul(10)),
            _ => None,
        };
        let rate = match (m.author.posts, age_days) {
            (Some(p), Some(d)) => Some(p as f64 / d.max(1.0) > 50.0),
            _ => None,
        };
        for (i, v) in [
            (f::NEW_ACCOUNT_LINKS, new_with_links),
            (f::FOLLOW_ANOMALY, follow),
            (f::RATE_ANOMALY, rate),
        ] {
            match v {
                Some(b) => out.bool(i, b),
                None => out.null(i),
            }
        }

        let account = [new_with_links, follow, rate].contains(&Some(true));
        let score = 0.15 * clamp01(e.urls.len() as f64 / 2.0)
            + 0.15 * f64::from(u8::from(risky > 0))
            + 0.15 * clamp01((e.hashtags.len() as f64 - 2.0) / 4.0)
            + 0.10 * clamp01((e.mentions.len() as f64 - 2.0) / 4.0)
            + 0.10 * clamp01(dup.max((repeat as f64 - 3.0) / 7.0))
            + 0.10 * clamp01(caps)
            + 0.15 * clamp01(phrases as f64 / 2.0)
            + 0.10 * f64::from(u8::from(account));
        let score = clamp01(score);
        out.float(f::SCORE, score);
        out.bool(f::LIKELY, score >= LIKELY_THRESHOLD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(char_facts("soooo good!!!").0, 4);
        assert_eq!(char_facts(""), (0, 0));
        assert_eq!(
            char_facts("call 555-123-4567 ext 12 or (555) 123 4567").1,
            2
        );
        assert_eq!(char_facts("year 2024 and 12345").1, 0);
        assert_eq!(emails("mail a.b@example.com, not @user or x@y"), 1);
        assert!(is_caps_word("FREE") && !is_caps_word("Free") && !is_caps_word("OK"));
    }

    #[test]
    fn spammy_text_scores_high() {
        let mut m = crate::corpus::real_posts().swap_remove(0);
        m.text =
            "FREE FOLLOWERS!!!!!! click here http://bit.ly/x #follow #f4f #free #win @a @b @c @d"
                .into();
        let r = crate::enrich(&m);
        let score = match r.by_name("spam_score") {
            Some(crate::Value::Float(x)) => *x,
            other => panic!("{other:?}"),
        };
        assert!(score >= LIKELY_THRESHOLD, "{score}");
        m.text = "Had a lovely walk by the river today.".into();
        let r = crate::enrich(&m);
        assert_eq!(
            r.by_name("is_spam_likely"),
            Some(&crate::Value::Bool(false))
        );
    }
}
