//! VADER's word tables, parsed once from the lexicon files shipped with vaderSentiment 3.3.2
//! (see `data/sentiment/README.md`), plus the small fixed word lists of its rules.
//!
//! Every lower-cased token is looked up once, in one map, and the answer (`Word`) carries all
//! that VADER's rules ask about a word: its valence, whether it is a booster, a negation, an
//! emoticon, or one of the few words the rules compare against (`kw`).

use std::sync::LazyLock;

use super::word_table::WordTable;
use crate::hash::FastMap;

/// Words VADER's rules compare tokens against, as small ids so rules compare bytes, not strings.
pub(crate) mod kw {
    pub const NONE: u8 = 0;
    pub const NO: u8 = 1;
    pub const OR: u8 = 2;
    pub const NOR: u8 = 3;
    pub const KIND: u8 = 4;
    pub const OF: u8 = 5;
    pub const LEAST: u8 = 6;
    pub const AT: u8 = 7;
    pub const VERY: u8 = 8;
    pub const NEVER: u8 = 9;
    pub const SO: u8 = 10;
    pub const THIS: u8 = 11;
    pub const WITHOUT: u8 = 12;
    pub const DOUBT: u8 = 13;
    pub const BUT: u8 = 14;
    pub const THE: u8 = 15;
    pub const SHIT: u8 = 16;
    pub const BOMB: u8 = 17;
    pub const BAD: u8 = 18;
    pub const ASS: u8 = 19;
    pub const BUS: u8 = 20;
    pub const STOP: u8 = 21;
    pub const YEAH: u8 = 22;
    pub const RIGHT: u8 = 23;
    pub const KISS: u8 = 24;
    pub const DEATH: u8 = 25;
    pub const TO: u8 = 26;
    pub const DIE: u8 = 27;
    pub const FOR: u8 = 28;
    pub const BEATING: u8 = 29;
    pub const HEART: u8 = 30;
    pub const JUST: u8 = 31;
    pub const ENOUGH: u8 = 32;
    pub const SORT: u8 = 33;

    pub(super) const WORDS: &[(&str, u8)] = &[
        ("no", NO),
        ("or", OR),
        ("nor", NOR),
        ("kind", KIND),
        ("of", OF),
        ("least", LEAST),
        ("at", AT),
        ("very", VERY),
        ("never", NEVER),
        ("so", SO),
        ("this", THIS),
        ("without", WITHOUT),
        ("doubt", DOUBT),
        ("but", BUT),
        ("the", THE),
        ("shit", SHIT),
        ("bomb", BOMB),
        ("bad", BAD),
        ("ass", ASS),
        ("bus", BUS),
        ("stop", STOP),
        ("yeah", YEAH),
        ("right", RIGHT),
        ("kiss", KISS),
        ("death", DEATH),
        ("to", TO),
        ("die", DIE),
        ("for", FOR),
        ("beating", BEATING),
        ("heart", HEART),
        ("just", JUST),
        ("enough", ENOUGH),
        ("sort", SORT),
    ];
}

/// Mean rating increase for a booster word (VADER's `B_INCR`); dampeners use its negative.
pub(crate) const B_INCR: f64 = 0.293;
/// Rating increase for an ALL-CAPS word among mixed-case text (`C_INCR`).
pub(crate) const C_INCR: f64 = 0.733;
/// Factor a negation applies to a valence (`N_SCALAR`).
pub(crate) const N_SCALAR: f64 = -0.74;

/// VADER's `NEGATE` list.
const NEGATE: &[&str] = &[
    "aint",
    "arent",
    "cannot",
    "cant",
    "couldnt",
    "darent",
    "didnt",
    "doesnt",
    "ain't",
    "aren't",
    "can't",
    "couldn't",
    "daren't",
    "didn't",
    "doesn't",
    "dont",
    "hadnt",
    "hasnt",
    "havent",
    "isnt",
    "mightnt",
    "mustnt",
    "neither",
    "don't",
    "hadn't",
    "hasn't",
    "haven't",
    "isn't",
    "mightn't",
    "mustn't",
    "neednt",
    "needn't",
    "never",
    "none",
    "nope",
    "nor",
    "not",
    "nothing",
    "nowhere",
    "oughtnt",
    "shant",
    "shouldnt",
    "uhuh",
    "wasnt",
    "werent",
    "oughtn't",
    "shan't",
    "shouldn't",
    "uh-uh",
    "wasn't",
    "weren't",
    "without",
    "wont",
    "wouldnt",
    "won't",
    "wouldn't",
    "rarely",
    "seldom",
    "despite",
];

/// The one-word entries of VADER's `BOOSTER_DICT` that raise intensity (`B_INCR`).
const BOOSTERS_UP: &[&str] = &[
    "absolutely",
    "amazingly",
    "awfully",
    "completely",
    "considerable",
    "considerably",
    "decidedly",
    "deeply",
    "effing",
    "enormous",
    "enormously",
    "entirely",
    "especially",
    "exceptional",
    "exceptionally",
    "extreme",
    "extremely",
    "fabulously",
    "flipping",
    "flippin",
    "frackin",
    "fracking",
    "fricking",
    "frickin",
    "frigging",
    "friggin",
    "fully",
    "fuckin",
    "fucking",
    "fuggin",
    "fugging",
    "greatly",
    "hella",
    "highly",
    "hugely",
    "incredible",
    "incredibly",
    "intensely",
    "major",
    "majorly",
    "more",
    "most",
    "particularly",
    "purely",
    "quite",
    "really",
    "remarkably",
    "so",
    "substantially",
    "thoroughly",
    "total",
    "totally",
    "tremendous",
    "tremendously",
    "uber",
    "unbelievably",
    "unusually",
    "utter",
    "utterly",
    "very",
];

/// The one-word entries of `BOOSTER_DICT` that lower intensity (`B_DECR`). The two-word ones
/// ("just enough", "kind of", "sort of") are matched as pairs of [`kw`] ids.
const BOOSTERS_DOWN: &[&str] = &[
    "almost",
    "barely",
    "hardly",
    "kinda",
    "kindof",
    "kind-of",
    "less",
    "little",
    "marginal",
    "marginally",
    "occasional",
    "occasionally",
    "partly",
    "scarce",
    "scarcely",
    "slight",
    "slightly",
    "somewhat",
    "sorta",
    "sortof",
    "sort-of",
];

/// What VADER knows about one lower-cased token, in 6 bytes so it can sit in the table slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word {
    /// Valence from `vader_lexicon.txt` in tenths (every entry has one decimal), or
    /// [`NO_VALENCE`].
    tenths: i16,
    /// Sign of the scalar in `BOOSTER_DICT` (+1 for +0.293, -1 for -0.293), 0 when absent.
    pub booster: i8,
    flags: u8,
    /// One of the [`kw`] ids, or [`kw::NONE`].
    pub kw: u8,
}

const NO_VALENCE: i16 = i16::MIN;
const NEGATION: u8 = 1;
const EMOTICON: u8 = 2;

impl Default for Word {
    fn default() -> Self {
        Word {
            tenths: NO_VALENCE,
            booster: 0,
            flags: 0,
            kw: kw::NONE,
        }
    }
}

impl Word {
    /// Valence from the lexicon: tenths / 10 is the same double as parsing the decimal, since
    /// both are the correctly rounded value of the same rational.
    #[inline]
    pub fn valence(&self) -> Option<f64> {
        (self.tenths != NO_VALENCE).then(|| f64::from(self.tenths) / 10.0)
    }
    #[inline]
    pub fn in_lexicon(&self) -> bool {
        self.tenths != NO_VALENCE
    }
    /// In VADER's `NEGATE` list.
    #[inline]
    pub fn negation(&self) -> bool {
        self.flags & NEGATION != 0
    }
    /// A lexicon entry made of punctuation: an emoticon such as `:)`, `<3` or `:-(`.
    #[inline]
    pub fn emoticon(&self) -> bool {
        self.flags & EMOTICON != 0
    }
    /// The `BOOSTER_DICT` scalar, if the word is a booster.
    #[inline]
    pub fn booster(&self) -> Option<f64> {
        match self.booster {
            0 => None,
            b if b > 0 => Some(B_INCR),
            _ => Some(-B_INCR),
        }
    }
}

/// Parses a lexicon measure ("-1.5") into tenths, if it has at most one decimal and fits.
fn tenths(measure: &str) -> Option<i16> {
    let v: f64 = measure.parse().ok()?;
    let t = (v * 10.0).round();
    let fits = t.abs() < 30_000.0 && f64::from(t as i16) / 10.0 == v;
    fits.then_some(t as i16)
}

/// The VADER tables.
#[derive(Debug)]
pub(crate) struct Tables {
    pub words: WordTable<Word>,
    /// Single-code-point emoji and their descriptions. VADER's translation step tests one code
    /// point at a time, so the lexicon's multi-code-point sequences can never match and are
    /// left out.
    pub emoji: FastMap<char, &'static str>,
}

static LEXICON: &str = include_str!("../../data/sentiment/vader_lexicon.txt");
static EMOJI: &str = include_str!("../../data/sentiment/emoji_utf8_lexicon.txt");

/// The tables, parsed on first use.
pub(crate) static TABLES: LazyLock<Tables> = LazyLock::new(build);

/// Python's `str.isspace` for one char: Rust's White_Space plus the four ASCII separators
/// U+001C..U+001F, which Python also splits on.
#[inline]
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

fn is_emoticon(key: &str) -> bool {
    let mut run = 0;
    let mut longest = 0;
    for b in key.bytes() {
        if b.is_ascii_alphabetic() {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest <= 2 && key.bytes().any(|b| b":;=<>()[]{}|\\^_*@.".contains(&b))
}

fn build() -> Tables {
    let mut words: FastMap<&'static str, Word> = FastMap::default();
    // As `make_lex_dict`: strip the line, first two tab fields, later lines win.
    for line in LEXICON.trim_end_matches('\n').split('\n') {
        let mut cols = py_strip(line).split('\t');
        let (Some(word), Some(measure)) = (cols.next(), cols.next()) else {
            continue;
        };
        // Every measure in vaderSentiment 3.3.2 has one decimal; a test checks none is lost.
        let Some(t) = tenths(measure) else {
            continue;
        };
        let e = words.entry(word).or_default();
        e.tenths = t;
        if is_emoticon(word) {
            e.flags |= EMOTICON;
        }
    }
    for w in NEGATE {
        words.entry(w).or_default().flags |= NEGATION;
    }
    for w in BOOSTERS_UP {
        words.entry(w).or_default().booster = 1;
    }
    for w in BOOSTERS_DOWN {
        words.entry(w).or_default().booster = -1;
    }
    for &(w, id) in kw::WORDS {
        words.entry(w).or_default().kw = id;
    }
    let mut emoji: FastMap<char, &'static str> = FastMap::default();
    for line in EMOJI.trim_end_matches('\n').split('\n') {
        let mut cols = py_strip(line).split('\t');
        let (Some(key), Some(desc)) = (cols.next(), cols.next()) else {
            continue;
        };
        let mut chars = key.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            emoji.insert(c, desc);
        }
    }
    Tables {
        words: WordTable::new(words),
        emoji,
    }
}

/// Valence of `word` (lower-case) in VADER's lexicon.
pub fn valence(word: &str) -> Option<f64> {
    TABLES.words.get(word).and_then(Word::valence)
}

/// VADER's description of a single-code-point emoji.
pub fn emoji_description(c: char) -> Option<&'static str> {
    TABLES.emoji.get(&c).copied()
}

#[cfg(test)]
mod tests {
    use super::TABLES;
    use crate::hash::FastMap;

    #[test]
    fn every_lexicon_word_is_found_with_its_entry() {
        let words = &TABLES.words;
        // Later lines win, as in the reference's dict (":-p" appears twice).
        let mut want: FastMap<&str, f64> = FastMap::default();
        for line in super::LEXICON.lines() {
            let mut cols = line.trim().split('\t');
            let (Some(w), Some(m)) = (cols.next(), cols.next()) else {
                continue;
            };
            want.insert(w, m.parse().expect("measure"));
        }
        assert_eq!(want.len(), 7506, "entries in the reference's lexicon dict");
        for (w, v) in &want {
            assert_eq!(words.get(w).and_then(|e| e.valence()), Some(*v), "{w:?}");
        }
        assert_eq!(words.get("kinda").map(|w| w.booster), Some(-1));
        assert_eq!(words.get("very").map(|w| w.booster), Some(1));
        assert!(words.get("can't").is_some_and(|w| w.negation()));
        assert!(words.get(":)").is_some_and(|w| w.emoticon()));
        assert!(!words.get("good").is_some_and(|w| w.emoticon()));
        assert!(words.get("zzzznotaword").is_none());
        assert!(
            words
                .get("a-very-long-token-that-is-no-word-at-all")
                .is_none()
        );
    }
}
