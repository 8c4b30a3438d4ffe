//! Languages of a shared script that the n-gram model does not hold, told by letters that only
//! they use.
//!
//! Azerbaijani in Cyrillic script (its alphabet until 1991, still in print and in older texts)
//! has no model of its own: langid.py knows Azerbaijani only in Latin script, so Cyrillic
//! Azerbaijani went to whichever Turkic or Mongolian relative shared its vowels (ky, mn, kk).
//! Its alphabet has ҹ and ҝ, which no language of the Cyrillic model writes, and ј together with
//! ә: ј is Serbian and Macedonian, ә Kazakh, and no alphabet of the model has both. ә with һ is
//! common in Azerbaijani (һәр, һүгуг) and rare in Kazakh, whose own letters қ ң ұ і Azerbaijani
//! does not write, so those count against it.

/// Evidence that a Cyrillic text is Azerbaijani: letters only its alphabet has (ҹ, ҝ) plus the
/// pairs of ј or һ with ә, minus the Kazakh/Kyrgyz letters it lacks. Positive means Azerbaijani.
pub fn azerbaijani_cyrillic(buf: &[u8]) -> i32 {
    let (mut own, mut je, mut heh, mut schwa, mut against) = (0i32, 0i32, 0i32, 0i32, 0i32);
    // The letters are all two UTF-8 bytes starting 0xD0..0xD3; decoding only what the scanner
    // wrote (valid UTF-8) keeps this a plain pass.
    let Ok(text) = std::str::from_utf8(buf) else {
        return 0;
    };
    for c in text.chars() {
        match c {
            'ҹ' | 'Ҹ' | 'ҝ' | 'Ҝ' => own += 1,
            'ј' | 'Ј' => je += 1,
            'һ' | 'Һ' => heh += 1,
            'ә' | 'Ә' => schwa += 1,
            'қ' | 'Қ' | 'ң' | 'Ң' | 'ұ' | 'Ұ' | 'і' | 'І' => against += 1,
            _ => {}
        }
    }
    own.saturating_add(je.min(schwa))
        .saturating_add(heh.min(schwa))
        .saturating_sub(against)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azerbaijani_letters_and_not_its_neighbours() {
        let az = |t: &str| azerbaijani_cyrillic(format!(" {t} ").as_bytes());
        assert!(az("Мән бу ҝүн евдә јазырам, сабаһ ҝәләҹәјәм") > 0);
        assert!(az("ИНСАН ҺҮГУГЛАРЫ ҺАГГЫНДА ҮМУМИ БӘЈАННАМӘ") > 0);
        // Kazakh: ә but no ј, and its own letters.
        assert!(az("Һәр бир шәхс вәтәндашлыг һүгугуна маликдир") > 0);
        assert!(az("Мен бүгін үйде жазамын, ертең қалаға барамын") <= 0);
        assert!(
            az(
                "Қазақстан Республикасы өзін демократиялық, зайырлы, құқықтық және әлеуметтік мемлекет ретінде орнықтырады"
            ) <= 0
        );
        assert!(az("Бүгін шаһардағы жиһаз дүкеніне бардық") <= 0);
        // Serbian: ј but no ә.
        assert!(az("Сутра ћу бити код куће, јави ми се") <= 0);
        assert!(az("Завтра я буду дома, позвони мне") <= 0);
        assert!(az("Маргааш би гэртээ байна, надруу залгаарай") <= 0);
    }
}
