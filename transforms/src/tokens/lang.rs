//! The languages with a Snowball stemmer, their stemmers and stop-word lists (built once).

use std::cell::RefCell;
use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

use crate::hash::{WordSet, hash_bytes, hash_bytes_seeded, random_seed};

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

type StopSet = WordSet<&'static str>;

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
const FIRST_SLOTS: usize = 1 << 12;

/// Token -> (stem, hash of the stem, is a stop word): an open-addressing table whose keys and
/// stems sit side by side in one arena, so a hit touches one slot and one arena line and never
/// allocates. Tokens come from what anyone posts, so slots are placed by a hash with a random
/// seed of this table's own: nobody can aim tokens at one run of slots.
#[derive(Debug)]
pub(crate) struct CacheMap {
    /// Power-of-two sized, or empty before first use.
    slots: Vec<Slot>,
    /// Each entry's key bytes followed by its stem bytes.
    arena: String,
    len: usize,
    seed: u64,
}

impl Default for CacheMap {
    fn default() -> Self {
        CacheMap {
            slots: Vec::new(),
            arena: String::new(),
            len: 0,
            seed: random_seed(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Seeded hash of the key (never 0; 0 marks an empty slot).
    hash: u64,
    stem_hash: u64,
    at: u32,
    stem_len: u16,
    key_len: u8,
    stop: bool,
}

impl CacheMap {
    /// The slot holding `key` (hashing to `hash`), or the empty slot where it would go.
    #[inline]
    fn find(&self, key: &str, hash: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let s = &self.slots[i];
            if s.hash == 0 {
                return i;
            }
            if s.hash == hash && usize::from(s.key_len) == key.len() {
                let at = s.at as usize;
                if self.arena.as_bytes().get(at..at + key.len()) == Some(key.as_bytes()) {
                    return i;
                }
            }
            i = (i + 1) & mask;
        }
    }

    fn stem(&self, s: &Slot) -> &str {
        let at = s.at as usize + usize::from(s.key_len);
        self.arena
            .get(at..at + usize::from(s.stem_len))
            .unwrap_or("")
    }

    fn insert(&mut self, key: &str, hash: u64, stem: &str, stem_hash: u64, stop: bool) {
        let (Ok(key_len), Ok(stem_len)) = (u8::try_from(key.len()), u16::try_from(stem.len()))
        else {
            return;
        };
        if self.len >= CACHE_MAX || self.arena.len() + key.len() + stem.len() > u32::MAX as usize {
            self.slots.clear();
            self.arena.clear();
            self.len = 0;
        }
        if self.slots.is_empty() {
            self.slots = vec![Slot::default(); FIRST_SLOTS];
        } else if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        let i = self.find(key, hash);
        let at = self.arena.len() as u32;
        self.arena.push_str(key);
        self.arena.push_str(stem);
        self.slots[i] = Slot {
            hash,
            stem_hash,
            at,
            stem_len,
            key_len,
            stop,
        };
        self.len += 1;
    }

    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); size]);
        let mask = self.slots.len() - 1;
        for s in old.into_iter().filter(|s| s.hash != 0) {
            let mut i = s.hash as usize & mask;
            while self.slots[i].hash != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = s;
        }
    }
}

thread_local! {
    static CACHES: RefCell<Vec<CacheMap>> =
        RefCell::new((0..LANGS.len()).map(|_| CacheMap::default()).collect());
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
            map: &mut CacheMap::default(),
        }),
    })
}

impl Cache<'_> {
    /// Calls `found` with the stem of `token` and the stem's hash ([`hash_bytes`]); returns
    /// whether `token` is a stop word.
    pub(crate) fn stem_with(&mut self, token: &str, found: impl FnOnce(&str, u64)) -> bool {
        let cacheable = !token.is_empty() && token.len() <= CACHE_KEY_MAX;
        let hash = hash_bytes_seeded(self.map.seed, token.as_bytes()).max(1);
        if cacheable && !self.map.slots.is_empty() {
            let s = self.map.slots[self.map.find(token, hash)];
            if s.hash != 0 {
                found(self.map.stem(&s), s.stem_hash);
                return s.stop;
            }
        }
        let stem = TABLES.stemmers[self.lang.0].stem(token);
        let stem_hash = hash_bytes(stem.as_bytes());
        let stop = self.lang.is_stop_word(token);
        if cacheable {
            self.map.insert(token, hash, &stem, stem_hash, stop);
        }
        found(&stem, stem_hash);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::tests::colliding_words;

    impl CacheMap {
        /// The most slots a lookup of a cached token walks past its own.
        fn longest_probe(&self) -> usize {
            let mask = self.slots.len() - 1;
            (0..self.slots.len())
                .filter(|&i| self.slots[i].hash != 0)
                .map(|i| i.wrapping_sub(self.slots[i].hash as usize) & mask)
                .max()
                .unwrap_or(0)
        }
    }

    #[test]
    fn posted_words_cannot_pile_onto_one_run_of_slots() {
        // 500 words that all land on slot 0 of the first 4,096 slots under the unseeded hash.
        let words = colliding_words(500, FIRST_SLOTS.trailing_zeros());
        let en = Lang::from_code("en").unwrap();
        let mut map = CacheMap::default();
        let mut cache = Cache {
            lang: en,
            map: &mut map,
        };
        for w in &words {
            cache.stem_with(w, |_, _| {});
        }
        assert_eq!(map.len, words.len());
        assert_eq!(map.slots.len(), FIRST_SLOTS);
        // Unseeded, the last of them would walk 499 slots; at this load, a run of 40 has a
        // probability far below one in a billion.
        assert!(map.longest_probe() < 40, "{}", map.longest_probe());
        let mut cache = Cache {
            lang: en,
            map: &mut map,
        };
        for w in &words {
            let mut got = String::new();
            cache.stem_with(w, |s, _| got = s.to_owned());
            assert_eq!(got, en.stem(w), "cached stem of {w}");
        }
    }
}
