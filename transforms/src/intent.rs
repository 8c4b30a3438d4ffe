//! Intent and safety: what the author wants (to ask, complain, buy, get help, get advice,
//! thank, leave) and what a moderator or a privacy filter needs to know (profanity, personal
//! data).
//!
//! Intents come from cue phrases of our own ([`cues`]) matched over the lower-case words, plus
//! a question rule that also reads the sentence shape. Personal data is detected by [`pii`],
//! which only answers yes or no: no field ever holds the address or number found.

pub mod cues;
pub mod pii;

#[cfg(test)]
mod tests;

use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::registry::{FieldSpec, FieldWriter, fields};
use cues::bit;

pub const EXTRACTORS: &[&dyn Extractor] = &[&Intent];

/// The author's intents, profanity and personal data: one group, because intent cues and
/// profanity are matched in the same pass over the words.
#[derive(Debug)]
pub struct Intent;

fields! {
    const FIELDS, mod f = [
        QUESTION => FieldSpec::bool(
            "is_question",
            "Asks something: a question mark (not in a URL), a sentence opening like a question (what is, do you), or an indirect one (anyone know).",
        ),
        COMPLAINT => FieldSpec::bool(
            "intent_complaint",
            "Complains about a product or service (not working, still waiting, charged twice, waste of money, ...).",
        ),
        PURCHASE => FieldSpec::bool(
            "intent_purchase",
            "Intends to buy (want to buy, where can I get, how much is it, pre-order, ...).",
        ),
        SUPPORT => FieldSpec::bool(
            "intent_support_request",
            "Asks a company for support with an account, order or fault (can't log in, my order, error code, dm us, ...).",
        ),
        RECOMMEND => FieldSpec::bool(
            "intent_recommendation_request",
            "Asks for a recommendation (any suggestions, what's the best, should I get, ...).",
        ),
        GRATITUDE => FieldSpec::bool(
            "intent_gratitude",
            "Thanks someone (thank you, thanks, much appreciated, ...).",
        ),
        CHURN => FieldSpec::bool(
            "intent_churn",
            "Says they are leaving or switching (cancel my, unsubscribe, I'm switching to, delete my account, ...).",
        ),
        HELP => FieldSpec::bool(
            "intent_help_request",
            "Asks for help of any kind (please help, can anyone help, how do I, need help, ...).",
        ),
        HAS_PROFANITY => FieldSpec::bool(
            "has_profanity",
            "Contains a word or phrase of the better_profanity list (MIT), less ordinary and identity words.",
        ),
        PROFANITY_COUNT => FieldSpec::int(
            "profanity_count",
            "Profane words and phrases (better_profanity list, MIT, less ordinary and identity words).",
        ),
        PII_EMAIL => FieldSpec::bool(
            "pii_email",
            "Contains something shaped like an e-mail address (flag only; the address is not kept).",
        ),
        PII_PHONE => FieldSpec::bool(
            "pii_phone",
            "Contains a phone number: NANP, +international or 0-national format; not dates, prices or ids (flag only).",
        ),
        PII_KINDS => FieldSpec::strs(
            "pii_kinds",
            "Kinds of personal data found, of email, phone, payment_card (Luhn), iban (mod 97), us_ssn; never the data itself.",
        ),
    ]
}

impl Extractor for Intent {
    fn name(&self) -> &'static str {
        "intent"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let lw = a.lower_words();
        let found = cues::scan(lw.len(), |i| lw.get(i).unwrap_or_default());
        let has = |b: u16| found.bits & b != 0;
        let question = has(bit::QUESTION) || is_question(a.text, a.words(), |i| lw.get(i));
        out.bool(f::QUESTION, question);
        out.bool(f::COMPLAINT, has(bit::COMPLAINT));
        out.bool(f::PURCHASE, has(bit::PURCHASE));
        out.bool(f::SUPPORT, has(bit::SUPPORT));
        out.bool(f::RECOMMEND, has(bit::RECOMMEND));
        out.bool(f::GRATITUDE, has(bit::GRATITUDE));
        out.bool(f::CHURN, has(bit::CHURN));
        out.bool(f::HELP, has(bit::HELP));
        out.bool(f::HAS_PROFANITY, found.profanity > 0);
        out.count(f::PROFANITY_COUNT, found.profanity);
        let p = pii::scan(a.text);
        out.bool(f::PII_EMAIL, p.email);
        out.bool(f::PII_PHONE, p.phone);
        let kinds = out.strs(f::PII_KINDS);
        kinds.extend(p.kinds().map(str::to_owned));
    }
}

/// A question mark that ends a question: not one inside a URL or query string (`?id=`).
fn has_question_mark(text: &str) -> bool {
    let b = text.as_bytes();
    let url_like = |next: Option<&u8>| next.is_some_and(u8::is_ascii_alphanumeric);
    if b.contains(&b'?')
        && b.iter()
            .enumerate()
            .any(|(i, &c)| c == b'?' && !url_like(b.get(i + 1)))
    {
        return true;
    }
    // Full-width (EF BC 9F), Arabic (D8 9F) and Greek (CD BE) question marks: only texts with
    // one of those last bytes are decoded.
    !text.is_ascii()
        && (b.contains(&0x9f) || b.contains(&0xbe))
        && text.char_indices().any(|(i, c)| {
            matches!(c, '\u{ff1f}' | '\u{61f}' | '\u{37e}') && !url_like(b.get(i + c.len_utf8()))
        })
}

fn is_wh(w: &str) -> bool {
    matches!(
        w,
        "what" | "why" | "how" | "when" | "where" | "who" | "which" | "whose" | "whom"
    )
}

fn is_wh_contracted(w: &str) -> bool {
    matches!(
        w,
        "what's" | "how's" | "where's" | "who's" | "when's" | "why's" | "what're" | "who're"
    )
}

fn is_aux(w: &str) -> bool {
    matches!(
        w,
        "is" | "are"
            | "was"
            | "were"
            | "am"
            | "do"
            | "does"
            | "did"
            | "can"
            | "could"
            | "would"
            | "should"
            | "will"
            | "shall"
            | "may"
            | "might"
            | "has"
            | "have"
            | "had"
            | "isn't"
            | "aren't"
            | "wasn't"
            | "doesn't"
            | "don't"
            | "didn't"
            | "can't"
            | "won't"
            | "wouldn't"
            | "shouldn't"
            | "couldn't"
            | "haven't"
            | "hasn't"
    )
}

fn is_subject(w: &str) -> bool {
    matches!(
        w,
        "i" | "you"
            | "we"
            | "they"
            | "he"
            | "she"
            | "it"
            | "anyone"
            | "anybody"
            | "someone"
            | "somebody"
            | "there"
            | "this"
            | "that"
            | "u"
            | "y'all"
            | "people"
            | "everyone"
            | "ya"
    )
}

fn fold(w: &str) -> std::borrow::Cow<'_, str> {
    if !w.is_ascii() && w.contains('\u{2019}') {
        w.replace('\u{2019}', "'").into()
    } else {
        w.into()
    }
}

/// A question mark, or a sentence that opens like a question: a wh-word and an auxiliary
/// ("how do", "what is"), a contracted wh-word ("what's"), or an auxiliary and a subject
/// ("do you", "is there", "can anyone"; "do it" is an order, not a question).
pub fn is_question<'w>(
    text: &str,
    words: &[&str],
    lower: impl Fn(usize) -> Option<&'w str>,
) -> bool {
    if has_question_mark(text) {
        return true;
    }
    let opens_question = |i: usize| -> bool {
        let (Some(w0), Some(w1)) = (lower(i), lower(i + 1)) else {
            return false;
        };
        let (w0, w1) = (fold(w0), fold(w1));
        let (w0, w1) = (w0.as_ref(), w1.as_ref());
        is_wh_contracted(w0)
            || (is_wh(w0) && is_aux(w1))
            || (is_aux(w0)
                && is_subject(w1)
                && !(w0 == "do" && matches!(w1, "it" | "this" | "that"))
                && lower(i + 2).is_some())
    };
    if words.is_empty() {
        return false;
    }
    if opens_question(0) {
        return true;
    }
    // A word opens a sentence when a terminator lies between it and the word before. Walk the
    // terminators, not the words: most texts have few.
    let b = text.as_bytes();
    let base = text.as_ptr() as usize;
    let start = |k: usize| (words[k].as_ptr() as usize).saturating_sub(base);
    let end = |k: usize| start(k) + words[k].len();
    let (mut k, mut last_checked, mut pos) = (0usize, 0usize, 0usize);
    while let Some(p) = b
        .get(pos..)
        .and_then(|rest| {
            rest.iter()
                .position(|&c| matches!(c, b'.' | b'!' | b'\n' | b';' | b':'))
        })
        .map(|off| off + pos)
    {
        while k < words.len() && start(k) <= p {
            k += 1;
        }
        if k == words.len() {
            break;
        }
        if k > last_checked && p >= end(k - 1) {
            if opens_question(k) {
                return true;
            }
            last_checked = k;
        }
        pos = p + 1;
    }
    false
}
