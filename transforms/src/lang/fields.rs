//! The `language` field group: the detected language and the script facts behind it.

use super::{Detection, Script};
use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::registry::{FieldSpec, FieldWriter, fields};

pub const EXTRACTORS: &[&dyn Extractor] = &[&Language, &LanguageHint];

/// Language, confidence, script and script mix of the text.
#[derive(Debug)]
pub struct Language;

fields! {
    const FIELDS, mod f = [
        LANG => FieldSpec::str(
            "lang",
            "Detected language: ISO 639-1 code (639-3 where none), `und` when too little text.",
        ),
        CONFIDENCE => FieldSpec::float(
            "lang_confidence",
            "Confidence in `lang`, 0..1 (0 for `und`); scaled down by letters of other scripts.",
        ),
        SCRIPT => FieldSpec::str(
            "lang_script",
            "ISO 15924 code of the dominant script of the letters (`Zyyy` when there are none).",
        ),
        RELIABLE => FieldSpec::bool(
            "lang_reliable",
            "The language is trustworthy: enough letters and a clear winner.",
        ),
        RUNNER_UP => FieldSpec::str(
            "lang_runner_up",
            "Second most likely language, when the n-gram model decided.",
        )
        .nullable(),
        RUNNER_UP_CONFIDENCE => FieldSpec::float(
            "lang_runner_up_confidence",
            "Confidence in `lang_runner_up` on the scale of `lang_confidence`.",
        )
        .nullable(),
        METHOD => FieldSpec::str(
            "lang_method",
            "How the language was decided: `script` (script alone), `ngram` (model) or `none`.",
        ),
        FAMILY => FieldSpec::str(
            "lang_family",
            "Language family (or major branch) of `lang`, snake_case; `und` when unknown.",
        ),
        LETTERS => FieldSpec::int(
            "lang_letters",
            "Letters the detector read, excluding URLs, @mentions and hashtags (unless only hashtags had letters).",
        ),
        NGRAM_HITS => FieldSpec::int(
            "lang_ngram_hits",
            "Byte n-grams of the language model found in the text: the evidence behind an `ngram` decision.",
        ),
        USED_HASHTAGS => FieldSpec::bool(
            "lang_used_hashtags",
            "Hashtag words were read because the rest of the text had too few letters.",
        ),
        SCRIPT_SHARE => FieldSpec::float(
            "lang_script_share",
            "Share of letters in the dominant script (Han, kana and Hangul count double).",
        )
        .nullable(),
        SECOND_SCRIPT => FieldSpec::str(
            "lang_second_script",
            "ISO 15924 code of the script with the second most letters, if any.",
        )
        .nullable(),
        SCRIPT_COUNT => FieldSpec::int(
            "lang_script_count",
            "Number of distinct scripts among the letters.",
        ),
        SCRIPT_SWITCHES => FieldSpec::int(
            "lang_script_switches",
            "Changes of script between consecutive letters (Han and kana count as one): code-mixing.",
        ),
        RTL => FieldSpec::bool(
            "lang_rtl",
            "The dominant script is written right to left (Arabic, Hebrew, Thaana).",
        ),
        LATIN_SHARE => FieldSpec::float("lang_latin_share", "Share of letters in Latin script."),
        CYRILLIC_SHARE => FieldSpec::float(
            "lang_cyrillic_share",
            "Share of letters in Cyrillic script.",
        ),
        ARABIC_SHARE => FieldSpec::float("lang_arabic_share", "Share of letters in Arabic script."),
        CJK_SHARE => FieldSpec::float(
            "lang_cjk_share",
            "Share of letters that are Han, kana or Hangul.",
        ),
    ]
}

impl Extractor for Language {
    fn name(&self) -> &'static str {
        "language"
    }
    fn version(&self) -> u32 {
        2
    }
    fn fields(&self) -> &'static [FieldSpec] {
        FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let d: &Detection = a.lang();
        out.str(f::LANG, d.code);
        out.float(f::CONFIDENCE, d.confidence);
        out.str(f::SCRIPT, d.script.code());
        out.bool(f::RELIABLE, d.reliable);
        match d.runner_up {
            Some(r) => {
                out.str(f::RUNNER_UP, r);
                out.float(f::RUNNER_UP_CONFIDENCE, d.runner_up_confidence);
            }
            None => {
                out.null(f::RUNNER_UP);
                out.null(f::RUNNER_UP_CONFIDENCE);
            }
        }
        out.str(f::METHOD, d.method.as_str());
        out.str(f::FAMILY, family(d.code));
        out.int(f::LETTERS, i64::from(d.letters));
        out.int(f::NGRAM_HITS, i64::from(d.ngram_hits));
        out.bool(f::USED_HASHTAGS, d.used_hashtags);
        out.opt_float(f::SCRIPT_SHARE, d.script_share());
        // Second script: most letters after the dominant one (Han and kana as one for Japanese).
        let same_family = |s: Script| {
            s == d.script
                || (matches!(d.script, Script::Hani | Script::Hira | Script::Kana)
                    && matches!(s, Script::Hani | Script::Hira | Script::Kana))
        };
        let second = Script::ALL[1..]
            .iter()
            .filter(|&&s| !same_family(s) && d.script_letters[s as usize] > 0)
            .max_by_key(|&&s| (d.script_letters[s as usize], std::cmp::Reverse(s)));
        match second {
            Some(s) => out.str(f::SECOND_SCRIPT, s.code()),
            None => out.null(f::SECOND_SCRIPT),
        }
        out.count(
            f::SCRIPT_COUNT,
            d.script_letters.iter().filter(|&&n| n > 0).count(),
        );
        out.int(f::SCRIPT_SWITCHES, i64::from(d.script_switches));
        out.bool(f::RTL, d.letters > 0 && d.script.is_rtl());
        out.float(f::LATIN_SHARE, d.share_of(&[Script::Latn]));
        out.float(f::CYRILLIC_SHARE, d.share_of(&[Script::Cyrl]));
        out.float(f::ARABIC_SHARE, d.share_of(&[Script::Arab]));
        out.float(
            f::CJK_SHARE,
            d.share_of(&[Script::Hani, Script::Hira, Script::Kana, Script::Hang]),
        );
    }
}

/// The source's own language claim, and whether we agree with it .
#[derive(Debug)]
pub struct LanguageHint;

fields! {
    const HINT_FIELDS, mod h = [
        HINT => FieldSpec::str(
            "lang_hint",
            "The source's language tag reduced to our code scheme (`en-US` → `en`, `iw` → `he`), if any.",
        )
        .nullable(),
        AGREES => FieldSpec::bool(
            "lang_hint_agrees",
            "The source's language tag names the detected language; null without a tag or a detection.",
        )
        .nullable(),
    ]
}

/// The primary language subtag of a BCP 47 tag, lower-cased and mapped to the codes `lang`
/// uses (deprecated and macro-language aliases folded); `None` for an empty or odd tag.
pub fn normalize_hint(tag: &str) -> Option<&'static str> {
    let primary = tag.trim().split(['-', '_']).next()?;
    if !(2..=3).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let mut buf = [0u8; 3];
    let lower = &mut buf[..primary.len()];
    lower.copy_from_slice(primary.as_bytes());
    lower.make_ascii_lowercase();
    let code = std::str::from_utf8(lower).ok()?;
    let folded = match code {
        "iw" => "he",
        "in" => "id",
        "ji" => "yi",
        "nb" | "nn" | "nob" | "nno" => "no",
        "fil" => "tl",
        "cmn" | "yue" | "zho" => "zh",
        "jpn" => "ja",
        "kor" => "ko",
        "eng" => "en",
        other => other,
    };
    Some(intern_code(folded))
}

/// A `'static` code for `code`: ours when we know it, `und` for the rest (hint codes come from
/// sources and must not grow memory).
fn intern_code(code: &str) -> &'static str {
    const EXTRA: &[&str] = &["ja", "zh", "yi"];
    let model = &*crate::analysis::lang::model::MODEL;
    model
        .groups
        .iter()
        .flat_map(|g| g.langs.iter().copied())
        .chain(Script::ALL.iter().filter_map(|s| s.sole_language()))
        .chain(EXTRA.iter().copied())
        .find(|c| *c == code)
        .unwrap_or("und")
}

impl Extractor for LanguageHint {
    fn name(&self) -> &'static str {
        "language_hint"
    }
    fn version(&self) -> u32 {
        2
    }
    fn fields(&self) -> &'static [FieldSpec] {
        HINT_FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let hint = a.mention.lang_hint.as_deref().and_then(normalize_hint);
        match hint {
            Some(tag) => out.str(h::HINT, tag),
            None => out.null(h::HINT),
        }
        let detected = a.lang().code;
        match hint {
            Some(tag) if detected != "und" => out.bool(h::AGREES, tag == detected),
            _ => out.null(h::AGREES),
        }
    }
}

/// The family (for Indo-European, the branch) a language belongs to, by ISO 639 code.
pub fn family(code: &str) -> &'static str {
    match code {
        "en" | "de" | "nl" | "sv" | "da" | "no" | "is" | "af" => "germanic",
        "es" | "fr" | "pt" | "it" | "ro" | "ca" | "gl" => "romance",
        "ru" | "uk" | "be" | "pl" | "cs" | "sk" | "bg" | "mk" | "sr" | "hr" | "sl" => "slavic",
        "lt" | "lv" => "baltic",
        "cy" | "ga" => "celtic",
        "el" => "hellenic",
        "sq" => "albanian",
        "hy" => "armenian",
        "fa" | "ps" => "iranian",
        "hi" | "mr" | "ne" | "bn" | "pa" | "gu" | "or" | "si" | "ur" | "dv" => "indo_aryan",
        "fi" | "et" | "hu" => "uralic",
        "tr" | "az" | "kk" | "ky" => "turkic",
        "ar" | "he" | "mt" | "am" => "semitic",
        "zh" | "my" | "bo" => "sino_tibetan",
        "ja" => "japonic",
        "ko" => "koreanic",
        "th" | "lo" => "kra_dai",
        "vi" | "km" => "austroasiatic",
        "id" | "ms" | "tl" => "austronesian",
        "ta" | "te" | "kn" | "ml" => "dravidian",
        "ka" => "kartvelian",
        "sw" => "niger_congo",
        "eu" => "basque",
        "mn" => "mongolic",
        _ => "und",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_detectable_language_has_a_family() {
        let model = &*crate::analysis::lang::model::MODEL;
        let mut codes: Vec<&str> = model
            .groups
            .iter()
            .flat_map(|g| g.langs.iter().copied())
            .collect();
        codes.extend(Script::ALL.iter().filter_map(|s| s.sole_language()));
        codes.extend(["ja", "zh"]);
        for c in codes {
            assert_ne!(family(c), "und", "{c}");
        }
        assert_eq!(family("und"), "und");
    }

    #[test]
    fn hints_are_normalised() {
        let cases = [
            ("en-US", Some("en")),
            ("pt_BR", Some("pt")),
            ("iw", Some("he")),
            ("nb-NO", Some("no")),
            ("zh-Hant-TW", Some("zh")),
            ("JA", Some("ja")),
            ("xx", Some("und")),
            ("", None),
            ("english", None),
            ("e1", None),
        ];
        for (tag, want) in cases {
            assert_eq!(normalize_hint(tag), want, "{tag}");
        }
    }

    #[test]
    fn hint_agreement() {
        let mut m = crate::corpus::real_posts().swap_remove(0);
        let run = |m: &model::Mention| {
            let a = Analysis::new(m);
            let mut slots = vec![crate::Value::Null; 2];
            LanguageHint.extract(&a, &mut FieldWriter::new(&mut slots, HINT_FIELDS));
            slots
        };
        m.text = "Somehow I was blessed with some really amazing friends in my life".into();
        m.lang_hint = None;
        assert_eq!(run(&m), [crate::Value::Null, crate::Value::Null]);
        m.lang_hint = Some("en-GB".into());
        assert_eq!(
            run(&m),
            [crate::Value::Str("en".into()), crate::Value::Bool(true)]
        );
        m.lang_hint = Some("de".into());
        assert_eq!(
            run(&m),
            [crate::Value::Str("de".into()), crate::Value::Bool(false)]
        );
        m.text = "ok".into();
        assert_eq!(
            run(&m),
            [crate::Value::Str("de".into()), crate::Value::Null]
        );
    }
}
