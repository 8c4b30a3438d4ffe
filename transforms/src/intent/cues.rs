//! Cue phrases for intents and profanity, matched over lower-case words.
//!
//! The intent cue lists are ours: short, specific phrases written after reading real support,
//! complaint and shopping posts, chosen to say the intent on their own ("still waiting",
//! "where can i buy") rather than single words that often mean something else ("terrible").
//! The profanity words come from better_profanity 0.7.0 (MIT; `data/intent/README.md`), less
//! [`PROFANITY_EXCLUDED`].
//!
//! All phrases go into one map from first word to candidate tails, so a text costs one lookup
//! per word plus a short tail comparison where a first word matches.

use std::sync::LazyLock;

use crate::sentiment::lexicon::{FastMap, WordTable};

/// Bits of the intents a phrase signals.
pub mod bit {
    pub const QUESTION: u16 = 1 << 0;
    pub const COMPLAINT: u16 = 1 << 1;
    pub const PURCHASE: u16 = 1 << 2;
    pub const SUPPORT: u16 = 1 << 3;
    pub const RECOMMEND: u16 = 1 << 4;
    pub const GRATITUDE: u16 = 1 << 5;
    pub const CHURN: u16 = 1 << 6;
    pub const PROFANITY: u16 = 1 << 7;
    pub const HELP: u16 = 1 << 8;
}

/// Indirect questions that carry no question mark.
const QUESTION: &[&str] = &[
    "anyone know",
    "anybody know",
    "does anyone",
    "does anybody",
    "has anyone",
    "has anybody",
    "any idea",
    "any ideas",
    "i wonder if",
    "wondering if",
    "wondering whether",
];

/// A problem with a product or service, said as a grievance.
const COMPLAINT: &[&str] = &[
    "not working",
    "stopped working",
    "isn't working",
    "still not working",
    "still waiting",
    "never received",
    "never arrived",
    "never got my",
    "hasn't arrived",
    "didn't receive my",
    "charged twice",
    "double charged",
    "overcharged",
    "this is unacceptable",
    "absolutely unacceptable",
    "totally unacceptable",
    "completely unacceptable",
    "waste of money",
    "rip off",
    "ripoff",
    "ripped off",
    "worst service",
    "worst customer service",
    "terrible service",
    "horrible service",
    "awful service",
    "poor service",
    "bad service",
    "terrible customer service",
    "horrible customer service",
    "awful customer service",
    "customer service sucks",
    "customer service is terrible",
    "customer service is horrible",
    "so frustrating",
    "very disappointed",
    "really disappointed",
    "extremely disappointed",
    "so disappointed",
    "false advertising",
    "want a refund",
    "want my money back",
    "give me my money back",
    "filed a complaint",
    "file a complaint",
    "keeps crashing",
    "keeps breaking",
    "broke after",
    "fell apart after",
    "on hold for",
    "been on hold",
];

/// Intends to buy (not: has bought).
const PURCHASE: &[&str] = &[
    "want to buy",
    "wanna buy",
    "need to buy",
    "going to buy",
    "gonna buy",
    "plan to buy",
    "planning to buy",
    "thinking of buying",
    "thinking about buying",
    "looking to buy",
    "about to buy",
    "where can i buy",
    "where to buy",
    "where can i get",
    "where do i buy",
    "how much does it cost",
    "how much is it",
    "how much for",
    "how much do they cost",
    "take my money",
    "can't wait to buy",
    "can't wait to get my",
    "want to order",
    "going to order",
    "gonna order",
    "in the market for",
    "pre-order",
    "preorder",
    "pre order",
    "worth buying",
    "shopping for",
];

/// Asks a company for support with an account, an order or a fault.
const SUPPORT: &[&str] = &[
    "can't log in",
    "cannot log in",
    "can't login",
    "cannot login",
    "unable to log in",
    "unable to login",
    "can't sign in",
    "cannot sign in",
    "locked out of my",
    "reset my password",
    "password reset",
    "hacked my account",
    "my account was",
    "my account is",
    "my order",
    "order number",
    "tracking number",
    "refund my",
    "please dm",
    "dm us",
    "contact support",
    "contacted support",
    "support team",
    "support ticket",
    "error message",
    "error code",
    "won't load",
    "won't turn on",
    "keeps crashing",
    "still not working",
    "not working since",
    "how do i fix",
    "how can i fix",
];

/// Asks for help of any kind.
const HELP: &[&str] = &[
    "please help",
    "pls help",
    "plz help",
    "need help",
    "need some help",
    "help me",
    "can someone help",
    "can anyone help",
    "can anybody help",
    "can you help",
    "could you help",
    "could someone help",
    "any help",
    "how do i",
    "how can i",
    "how to fix",
];

/// Asks others for a recommendation or an opinion before choosing.
const RECOMMEND: &[&str] = &[
    "any recommendations",
    "any suggestions",
    "any advice",
    "any tips",
    "can anyone recommend",
    "can someone recommend",
    "can you recommend",
    "could you recommend",
    "would you recommend",
    "do you recommend",
    "recommend me",
    "suggestions for",
    "recommendations for",
    "what's the best",
    "what is the best",
    "which is better",
    "which one should",
    "should i get",
    "should i buy",
    "should i go with",
    "looking for recommendations",
    "looking for suggestions",
    "thoughts on",
];

/// Thanks someone.
const GRATITUDE: &[&str] = &[
    "thank you",
    "thank u",
    "thanks",
    "thankyou",
    "thx",
    "tysm",
    "grateful",
    "gratitude",
    "appreciate it",
    "appreciate you",
    "appreciate that",
    "appreciate this",
    "much appreciated",
    "greatly appreciated",
    "kudos",
];

/// Says they are leaving, cancelling or switching away.
const CHURN: &[&str] = &[
    "cancel my",
    "cancelled my",
    "canceled my",
    "cancelling my",
    "canceling my",
    "unsubscribe",
    "unsubscribed",
    "close my account",
    "closing my account",
    "closed my account",
    "delete my account",
    "deleting my account",
    "deleted my account",
    "i'm switching to",
    "im switching to",
    "i am switching to",
    "we're switching to",
    "i switched to",
    "we switched to",
    "time to switch to",
    "switching over to",
    "never buying",
    "never buy from",
    "never ordering",
    "never using",
    "never shopping",
    "done with you",
    "taking my business",
];

static PROFANITY_LIST: &str = include_str!("../../data/intent/profanity_wordlist.txt");

/// Entries of the better_profanity list we do not count: ordinary, medical or anatomical
/// vocabulary, names of drinks and drugs, identity terms (counting them as profanity is a
/// known bias), words naming a sexual or historical topic (sex, rape, nazi), and mild insults
/// or slang that are not swearing.
pub const PROFANITY_EXCLUDED: &[&str] = &[
    "god",
    "hell",
    "kill",
    "murder",
    "sniper",
    "uzi",
    "napalm",
    "stroke",
    "thrust",
    "organ",
    "ovary",
    "ovum",
    "ovums",
    "uterus",
    "womb",
    "virgin",
    "hymen",
    "tampon",
    "sperm",
    "menses",
    "menstruate",
    "menstruation",
    "labia",
    "glans",
    "pubic",
    "pubis",
    "rectal",
    "rectum",
    "rectus",
    "scrotum",
    "testes",
    "testis",
    "testicle",
    "testical",
    "teste",
    "testee",
    "phallic",
    "phalli",
    "penile",
    "penial",
    "urine",
    "urinal",
    "vomit",
    "fart",
    "poop",
    "pee",
    "peepee",
    "potty",
    "tinkle",
    "hiv",
    "herpes",
    "herp",
    "herpy",
    "leper",
    "schizo",
    "vodka",
    "rum",
    "hooch",
    "hootch",
    "drunk",
    "stoned",
    "pot",
    "hemp",
    "weed",
    "reefer",
    "ganja",
    "toke",
    "heroin",
    "meth",
    "pcp",
    "opiate",
    "opium",
    "peyote",
    "valium",
    "junkie",
    "junky",
    "hookah",
    "seaman",
    "seamen",
    "sandbar",
    "revue",
    "len",
    "maxi",
    "paddy",
    "pasty",
    "pastie",
    "pawn",
    "playboy",
    "prude",
    "prig",
    "racy",
    "scantily",
    "slave",
    "slope",
    "strip",
    "snatch",
    "homey",
    "gringo",
    "inbred",
    "pollock",
    "hebe",
    "guido",
    "foobar",
    "fubar",
    "dummy",
    "fat",
    "ugly",
    "stupid",
    "moron",
    "jerk",
    "jerked",
    "doofus",
    "dopey",
    "nimrod",
    "ninny",
    "weirdo",
    "sissy",
    "punky",
    "dink",
    "dinks",
    "trashy",
    "tawdry",
    "sleaze",
    "sleazy",
    "tramp",
    "thug",
    "souse",
    "soused",
    "snuff",
    "wedgie",
    "undies",
    "panties",
    "pantie",
    "panty",
    "toots",
    "woody",
    "willy",
    "willies",
    "wad",
    "whiz",
    "lmao",
    "lmfao",
    "omg",
    "gay",
    "gai",
    "gae",
    "gey",
    "ghay",
    "ghey",
    "queer",
    "queers",
    "lezbian",
    "lezbians",
    "homo",
    "suck",
    "sucked",
    "sucking",
    "lust",
    "lusting",
    "lusty",
    "loin",
    "loins",
    "kinky",
    "naked",
    "nude",
    "nudes",
    "horny",
    "steamy",
    "seduce",
    "facial",
    "fingering",
    "fondle",
    "flange",
    "erect",
    "erection",
    "enlargement",
    "oral",
    "orally",
    "penetrate",
    "penetration",
    "perversion",
    "voyeur",
    "vulgar",
    "masochist",
    "sadism",
    "sadist",
    "hitler",
    "reich",
    "hump",
    "humped",
    "humping",
    "nappy",
    "hooter",
    "hooters",
    "cowgirl",
    "cowgirls",
    "cow girl",
    "cow girls",
    "xx",
    "x-rated2g1c",
    "essohbee",
    "busty",
    "bondage",
    "booty call",
    "three some",
    "pimp",
    // Words naming a sexual, medical or historical topic rather than swearing at it.
    "sex",
    "sexual",
    "pornography",
    "nazi",
    "penis",
    "vagina",
    "breasts",
    "pms",
    "rape",
    "raped",
    "rapist",
    "raping",
    "gays",
    "kkk",
    "klan",
    "anal",
    "anus",
    "semen",
    "ejaculation",
];

/// Phrases to match, as tails by first word.
#[derive(Debug)]
pub struct Phrases {
    first: WordTable<u32>,
    tails: Vec<Vec<(Vec<&'static str>, u16)>>,
}

/// Collects phrases before they are frozen into [`Phrases`].
#[derive(Debug, Default)]
struct Builder {
    first: FastMap<&'static str, Vec<(Vec<&'static str>, u16)>>,
}

impl Builder {
    fn add(&mut self, phrase: &'static str, bits: u16) {
        let mut words = phrase.split(' ').filter(|w| !w.is_empty());
        let Some(first) = words.next() else {
            return;
        };
        let tail: Vec<&'static str> = words.collect();
        let list = self.first.entry(first).or_default();
        match list.iter_mut().find(|(t, _)| *t == tail) {
            Some((_, b)) => *b |= bits,
            None => list.push((tail, bits)),
        }
    }

    fn build(self) -> Phrases {
        let mut tails = Vec::with_capacity(self.first.len());
        let mut index = Vec::with_capacity(self.first.len());
        for (w, list) in self.first {
            index.push((w, tails.len() as u32));
            tails.push(list);
        }
        Phrases {
            first: WordTable::new(index),
            tails,
        }
    }
}

/// The intent cue phrases and the profanity words, in one table so a text is scanned once.
pub static PHRASES: LazyLock<Phrases> = LazyLock::new(|| {
    let mut p = Builder::default();
    let lists: [(&[&'static str], u16); 8] = [
        (QUESTION, bit::QUESTION),
        (COMPLAINT, bit::COMPLAINT),
        (PURCHASE, bit::PURCHASE),
        (SUPPORT, bit::SUPPORT),
        (HELP, bit::HELP),
        (RECOMMEND, bit::RECOMMEND),
        (GRATITUDE, bit::GRATITUDE),
        (CHURN, bit::CHURN),
    ];
    for (list, b) in lists {
        for phrase in list {
            p.add(phrase, b);
        }
    }
    for w in PROFANITY_LIST.lines().map(str::trim) {
        // Entries with capitals ("LEN", "aSanchez") are not words anyone types lower-case.
        if !w.is_empty()
            && !w.bytes().any(|b| b.is_ascii_uppercase())
            && !PROFANITY_EXCLUDED.contains(&w)
        {
            p.add(w, bit::PROFANITY);
        }
    }
    p.build()
});

/// Whether word `w` equals pattern `p`, treating the typographic apostrophe as `'`.
#[inline]
fn word_eq(w: &str, p: &str) -> bool {
    w == p
        || (!w.is_ascii() && w.contains('\u{2019}') && w.chars().map(fold_apostrophe).eq(p.chars()))
}

#[inline]
fn fold_apostrophe(c: char) -> char {
    if c == '\u{2019}' { '\'' } else { c }
}

/// What the cue phrases found in a sequence of lower-case words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Found {
    /// Union of [`bit`]s.
    pub bits: u16,
    /// Profanity words and phrases matched.
    pub profanity: usize,
}

/// Matches every phrase starting at every word; `word(i)` is the `i`-th of `n` lower-case words.
pub fn scan<'w>(n: usize, word: impl Fn(usize) -> &'w str) -> Found {
    let p = &*PHRASES;
    let mut found = Found::default();
    let mut folded = String::new();
    for i in 0..n {
        let w = word(i);
        let key = if !w.is_ascii() && w.contains('\u{2019}') {
            folded.clear();
            folded.extend(w.chars().map(fold_apostrophe));
            folded.as_str()
        } else {
            w
        };
        let Some(cands) = p.first.get(key).and_then(|&i| p.tails.get(i as usize)) else {
            continue;
        };
        for (tail, bits) in cands {
            if i + tail.len() < n
                && tail
                    .iter()
                    .enumerate()
                    .all(|(k, t)| word_eq(word(i + 1 + k), t))
            {
                found.bits |= bits;
                if bits & bit::PROFANITY != 0 {
                    found.profanity += 1;
                }
            }
        }
    }
    found
}
