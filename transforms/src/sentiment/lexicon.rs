//! VADER's word tables, parsed once from the lexicon files shipped with vaderSentiment 3.3.2
//! (see `data/sentiment/README.md`), plus the small fixed word lists of its rules.
//!
//! Every lower-cased token is looked up once, in one map, and the answer ([`Word`]) carries all
//! that VADER's rules ask about a word: its valence, whether it is a booster, a negation, an
//! emoticon, or one of the few words the rules compare against (`kw`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

/// A small, fast, non-cryptographic hasher for short words (the FxHash mixing step). The maps
/// it serves are built from fixed data, so hash flooding is not a concern.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct WordHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl WordHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` keyed by short words (or chars) with [`WordHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

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

/// What VADER knows about one lower-cased token.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Word {
    /// Valence from `vader_lexicon.txt`.
    pub valence: Option<f64>,
    /// Scalar from `BOOSTER_DICT` (±0.293).
    pub booster: Option<f64>,
    /// In VADER's `NEGATE` list.
    pub negation: bool,
    /// A lexicon entry made of punctuation: an emoticon such as `:)`, `<3` or `:-(`.
    pub emoticon: bool,
    /// One of the [`kw`] ids, or [`kw::NONE`].
    pub kw: u8,
}

/// The VADER tables.
#[derive(Debug)]
pub(crate) struct Tables {
    pub words: FastMap<&'static str, Word>,
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
        let Ok(v) = measure.parse::<f64>() else {
            continue;
        };
        let e = words.entry(word).or_default();
        e.valence = Some(v);
        e.emoticon = is_emoticon(word);
    }
    for w in NEGATE {
        words.entry(w).or_default().negation = true;
    }
    for w in BOOSTERS_UP {
        words.entry(w).or_default().booster = Some(B_INCR);
    }
    for w in BOOSTERS_DOWN {
        words.entry(w).or_default().booster = Some(-B_INCR);
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
    Tables { words, emoji }
}

/// Valence of `word` (lower-case) in VADER's lexicon.
pub fn valence(word: &str) -> Option<f64> {
    TABLES.words.get(word).and_then(|w| w.valence)
}

/// VADER's description of a single-code-point emoji.
pub fn emoji_description(c: char) -> Option<&'static str> {
    TABLES.emoji.get(&c).copied()
}
