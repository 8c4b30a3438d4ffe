use super::*;

#[test]
fn vocabulary_statistics() {
    let v = vocabulary(["a", "b", "a", "c", "a"].into_iter());
    assert_eq!((v.unique, v.hapax, v.max_repeat), (3, 2, 3));
    let expected_h = -(0.6f64 * 0.6f64.log2() + 2.0 * 0.2 * 0.2f64.log2());
    assert!((v.entropy - expected_h).abs() < 1e-12);
    assert!((v.yules_k - 1e4 * (11.0 - 5.0) / 25.0).abs() < 1e-9);
    assert_eq!(vocabulary(std::iter::empty()), Vocabulary::default());
    let one = vocabulary(["x", "x"].into_iter());
    assert_eq!((one.unique, one.entropy), (1, 0.0));
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
    let (mut stems, mut hashes) = (Vec::new(), Vec::new());
    lang::with_cache(en, |c| {
        assert!(!c.stem_into(&long, &mut stems, &mut hashes));
        assert!(c.stem_into("the", &mut stems, &mut hashes));
        assert!(c.stem_into("the", &mut stems, &mut hashes), "cached");
    });
    assert_eq!(stems[1], "the");
    assert_eq!(hashes[1], hashes[2]);
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
