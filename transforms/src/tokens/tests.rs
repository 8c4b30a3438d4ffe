use super::*;

#[test]
fn vocabulary_statistics() {
    let hashes = |words: &[&str]| -> Vec<u64> {
        words
            .iter()
            .map(|w| crate::hash::word_hash(w.as_bytes()))
            .collect()
    };
    let v = vocabulary(&hashes(&["a", "b", "a", "c", "a"]));
    assert_eq!((v.unique, v.hapax, v.max_repeat), (3, 2, 3));
    let expected_h = -(0.6f64 * 0.6f64.log2() + 2.0 * 0.2 * 0.2f64.log2());
    assert!((v.entropy - expected_h).abs() < 1e-12);
    assert!((v.yules_k - 1e4 * (11.0 - 5.0) / 25.0).abs() < 1e-9);
    assert_eq!(vocabulary(&[]), Vocabulary::default());
    let one = vocabulary(&hashes(&["x", "x"]));
    assert_eq!((one.unique, one.entropy), (1, 0.0));
}

#[test]
fn vocabulary_statistics_do_not_depend_on_the_table_seed() {
    // Each thread seeds its own table, so the tokens land in other slots; the sums must not
    // follow them, or one post would get a different entropy from each worker.
    let posts = crate::corpus::real_posts();
    let hashes: Vec<Vec<u64>> = posts
        .iter()
        .map(|m| {
            let a = Analysis::new(m);
            a.word_hashes().to_vec()
        })
        .collect();
    let run = |hashes: &[Vec<u64>]| -> Vec<(usize, usize, usize, u64, u64)> {
        hashes
            .iter()
            .map(|h| {
                let v = vocabulary(h);
                let (e, k) = (v.entropy.to_bits(), v.yules_k.to_bits());
                (v.unique, v.hapax, v.max_repeat, e, k)
            })
            .collect()
    };
    let here = run(&hashes);
    for _ in 0..3 {
        let there = std::thread::scope(|s| s.spawn(|| run(&hashes)).join().expect("thread"));
        assert!(here == there, "a statistic differs with the seed");
    }
    assert!(here.iter().any(|v| v.2 > 2), "posts with repeated tokens");
}

#[test]
fn languages_and_stop_words() {
    assert_eq!(Lang::from_code("nb").map(Lang::code), Some("no"));
    assert_eq!(Lang::from_code("ja"), None);
    assert_eq!(Lang::from_code("und"), None);
    let en = Lang::from_code("en").expect("en");
    assert!(en.is_stop_word("the") && en.is_stop_word("ourselves"));
    assert!(!en.is_stop_word("phone"));
    let de = Lang::from_code("de").expect("de");
    assert!(de.is_stop_word("und") && de.is_stop_word("über"));
    let el = Lang::from_code("el").expect("el");
    assert!(
        el.is_stop_word("από"),
        "accented form matches the plain list"
    );
    for code in [
        "ar", "da", "nl", "en", "fi", "fr", "de", "el", "hu", "it", "no", "pt", "ro", "ru", "es",
        "sv", "ta", "tr",
    ] {
        assert!(Lang::from_code(code).is_some(), "{code}");
    }
}

#[test]
fn stems_per_language() {
    let en = Lang::from_code("en").expect("en");
    assert_eq!(en.stem("running"), "run");
    assert_eq!(en.stem("connections"), "connect");
    let fr = Lang::from_code("fr").expect("fr");
    assert_eq!(fr.stem("continuellement"), "continuel");
    let ru = Lang::from_code("ru").expect("ru");
    assert_eq!(ru.stem("книги"), "книг");
}

#[test]
fn long_tokens_are_stemmed_but_not_cached() {
    let en = Lang::from_code("en").expect("en");
    let long = "connections".repeat(500);
    let mut got: Vec<(String, u64)> = Vec::new();
    lang::with_cache(en, |c| {
        let mut push = |s: &str, h| got.push((s.to_owned(), h));
        assert!(!c.stem_with(&long, &mut push));
        assert!(c.stem_with("the", &mut push));
        assert!(c.stem_with("the", &mut push), "cached");
        assert!(!c.stem_with("", &mut push));
    });
    assert_eq!(got[0].0, en.stem(&long));
    assert_eq!(got[1].0, "the");
    assert_eq!(got[1], got[2]);
    assert_eq!(got[3].0, "");
}

#[test]
fn the_stem_cache_agrees_with_the_stemmer_as_it_grows_and_clears() {
    let en = Lang::from_code("en").expect("en");
    // Enough distinct tokens to grow the table several times and clear it once.
    let words: Vec<String> = (0..60_000).map(|i| format!("connect{i}ing")).collect();
    for pass in 0..2 {
        lang::with_cache(en, |c| {
            for w in words.iter().step_by(1 + pass * 7) {
                let mut got = None;
                let stop = c.stem_with(w, |s, h| got = Some((s.to_owned(), h)));
                let stem = en.stem(w);
                let h = crate::hash::hash_bytes(stem.as_bytes());
                assert_eq!(got, Some((stem, h)), "{w}");
                assert!(!stop);
            }
        });
    }
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn stemming_and_stop_words_never_panic(word in "\\PC{0,40}", lang in 0usize..18) {
            let code = ["ar", "da", "nl", "en", "fi", "fr", "de", "el", "hu", "it", "no", "pt",
                "ro", "ru", "es", "sv", "ta", "tr"][lang];
            let l = Lang::from_code(code).expect("supported");
            let lower = word.to_lowercase();
            let _ = l.stem(&lower);
            let _ = l.is_stop_word(&lower);
        }
    }
}
