//! The languages with a Snowball stemmer, their stemmers and stop-word lists (built once).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

use crate::readability::{FxHasher, hash_bytes};

/// A language we can stem and strip stop words for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lang(usize);

macro_rules! stop_list {
    ($code:literal) => {
        include_str!(concat!("../../data/tokens/stopwords/", $code, ".txt"))
    };
}

/// ISO 639-1 code, Snowball algorithm, stop list; in the order of `Lang`'s index.
const LANGS: [(&str, Algorithm, &str); 18] = [
    ("ar", Algorithm::Arabic, stop_list!("ar")),
    ("da", Algorithm::Danish, stop_list!("da")),
    ("nl", Algorithm::Dutch, stop_list!("nl")),
    ("en", Algorithm::English, stop_list!("en")),
    ("fi", Algorithm::Finnish, stop_list!("fi")),
    ("fr", Algorithm::French, stop_list!("fr")),
    ("de", Algorithm::German, stop_list!("de")),
    ("el", Algorithm::Greek, stop_list!("el")),
    ("hu", Algorithm::Hungarian, stop_list!("hu")),
    ("it", Algorithm::Italian, stop_list!("it")),
    ("no", Algorithm::Norwegian, stop_list!("no")),
    ("pt", Algorithm::Portuguese, stop_list!("pt")),
    ("ro", Algorithm::Romanian, stop_list!("ro")),
    ("ru", Algorithm::Russian, stop_list!("ru")),
    ("es", Algorithm::Spanish, stop_list!("es")),
    ("sv", Algorithm::Swedish, stop_list!("sv")),
    ("ta", Algorithm::Tamil, stop_list!("ta")),
    ("tr", Algorithm::Turkish, stop_list!("tr")),
];

const GREEK: usize = 7;

type StopSet = HashSet<&'static str, BuildHasherDefault<FxHasher>>;

struct Tables {
    stemmers: Vec<Stemmer>,
    stops: Vec<StopSet>,
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| Tables {
    stemmers: LANGS.iter().map(|l| Stemmer::create(l.1)).collect(),
    stops: LANGS
        .iter()
        .map(|l| {
            l.2.lines()
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect()
        })
        .collect(),
});

impl Lang {
    /// The language for an ISO 639-1 code (`nb`, Bokmål, uses the Norwegian tables).
    pub fn from_code(code: &str) -> Option<Lang> {
        let code = if code == "nb" { "no" } else { code };
        LANGS.iter().position(|l| l.0 == code).map(Lang)
    }

    /// The ISO 639-1 code of the tables used.
    pub fn code(self) -> &'static str {
        LANGS[self.0].0
    }

    /// Whether the lower-cased `token` is a stop word.
    pub fn is_stop_word(self, token: &str) -> bool {
        let stops = &TABLES.stops[self.0];
        if self.0 == GREEK && !token.is_ascii() {
            // The Greek list is written without accents and with medial sigma only.
            let plain: String = token.chars().map(greek_plain).collect();
            return stops.contains(plain.as_str());
        }
        stops.contains(token)
    }

    /// The Snowball stem of the lower-cased `token`.
    pub fn stem(self, token: &str) -> String {
        TABLES.stemmers[self.0].stem(token).into_owned()
    }
}

/// Stems and stop-word flags of recently seen tokens, per language and thread: Snowball
/// stemming costs far more than a lookup, and social text repeats its words. Bounded: a
/// language's cache is emptied when it reaches [`CACHE_MAX`] entries.
#[derive(Debug)]
pub(crate) struct Cache<'l> {
    lang: Lang,
    map: &'l mut CacheMap,
}

const CACHE_MAX: usize = 50_000;
/// Longer tokens are not cached, so the cache stays small (a few MB) whatever the input.
const CACHE_KEY_MAX: usize = 40;

/// Token -> (stem, hash of the stem, is a stop word).
type CacheMap = HashMap<Box<str>, (Box<str>, u64, bool), BuildHasherDefault<FxHasher>>;

thread_local! {
    static CACHES: RefCell<Vec<CacheMap>> =
        RefCell::new((0..LANGS.len()).map(|_| HashMap::default()).collect());
}

/// Runs `f` with this thread's cache for `lang`.
pub(crate) fn with_cache<R>(lang: Lang, f: impl FnOnce(&mut Cache<'_>) -> R) -> R {
    CACHES.with(|c| match c.try_borrow_mut() {
        Ok(mut maps) => f(&mut Cache {
            lang,
            map: &mut maps[lang.0],
        }),
        Err(_) => f(&mut Cache {
            lang,
            map: &mut HashMap::default(),
        }),
    })
}

impl Cache<'_> {
    /// Pushes the stem of `token` onto `stems` and its hash onto `hashes`; returns whether
    /// `token` is a stop word.
    pub(crate) fn stem_into(
        &mut self,
        token: &str,
        stems: &mut Vec<String>,
        hashes: &mut Vec<u64>,
    ) -> bool {
        if let Some((stem, hash, stop)) = self.map.get(token) {
            stems.push(String::from(&**stem));
            hashes.push(*hash);
            return *stop;
        }
        let stem = self.lang.stem(token);
        let hash = hash_bytes(stem.as_bytes());
        let stop = self.lang.is_stop_word(token);
        if token.len() <= CACHE_KEY_MAX {
            if self.map.len() >= CACHE_MAX {
                self.map.clear();
            }
            self.map
                .insert(token.into(), (stem.as_str().into(), hash, stop));
        }
        stems.push(stem);
        hashes.push(hash);
        stop
    }
}

/// Forces the stemmers and stop lists to load.
pub fn warm_up() {
    LazyLock::force(&TABLES);
}

fn greek_plain(c: char) -> char {
    match c {
        'ά' => 'α',
        'έ' => 'ε',
        'ή' => 'η',
        'ί' | 'ϊ' | 'ΐ' => 'ι',
        'ό' => 'ο',
        'ύ' | 'ϋ' | 'ΰ' => 'υ',
        'ώ' => 'ω',
        'ς' => 'σ',
        c => c,
    }
}
