//! The emoji and emoticon field groups.

use std::collections::HashSet;

use super::Polarity;
use super::Qualification;
use crate::analysis::Analysis;
use crate::extractor::Extractor;
use crate::registry::{FieldSpec, FieldWriter, fields};

/// Emoji: the sequences, their kinds and Unicode's emoji groups.
#[derive(Debug)]
pub struct EmojiStats;

/// Emoji groups that get a count field, as indices into [`super::emoji::GROUPS`].
const GROUP_FIELDS: [u8; 8] = [0, 1, 3, 4, 5, 6, 7, 8];

fields! {
    const EMOJI_FIELDS, mod g = [
        EMOJIS => FieldSpec::strs(
            "emojis",
            "Emoji in order of appearance, each a whole sequence (ZWJ sequences, skin tones, flags, keycaps) per Unicode's emoji data.",
        ),
        COUNT => FieldSpec::int("emoji_count", "Number of emoji sequences."),
        UNIQUE => FieldSpec::int("emoji_unique_count", "Number of distinct emoji sequences."),
        SKIN_TONE => FieldSpec::int(
            "emoji_skin_tone_count",
            "Emoji carrying a skin-tone modifier (U+1F3FB..U+1F3FF).",
        ),
        SKIN_TONES => FieldSpec::strs(
            "emoji_skin_tones",
            "Fitzpatrick type of each skin-tone modifier used: light, medium_light, medium, medium_dark, dark.",
        ),
        FLAG => FieldSpec::int(
            "emoji_flag_count",
            "National and subdivision flags (regional-indicator pairs and tag sequences).",
        ),
        ZWJ => FieldSpec::int(
            "emoji_zwj_count",
            "Zero-width-joiner sequences (e.g. family, profession and gendered emoji).",
        ),
        TEXT_STYLE => FieldSpec::int(
            "emoji_text_style_count",
            "Emoji written without their emoji presentation selector (e.g. ❤ or © rather than ❤️), often shown as text.",
        ),
        MAX_RUN => FieldSpec::int(
            "emoji_max_run",
            "Longest run of emoji with nothing but spaces between them.",
        ),
        SHARE => FieldSpec::float(
            "emoji_share",
            "Share of non-space characters that belong to emoji (0..1; 0 for empty text).",
        ),
        ENDS_WITH => FieldSpec::bool(
            "ends_with_emoji",
            "The last non-space character belongs to an emoji.",
        ),
        /// First of the per-group counts, in [`super::GROUP_FIELDS`] order.
        GROUPS => [
            FieldSpec::int(
                "emoji_smileys_count",
                "Emoji in Unicode's group Smileys & Emotion.",
            ),
            FieldSpec::int(
                "emoji_people_count",
                "Emoji in Unicode's group People & Body.",
            ),
            FieldSpec::int(
                "emoji_nature_count",
                "Emoji in Unicode's group Animals & Nature.",
            ),
            FieldSpec::int("emoji_food_count", "Emoji in Unicode's group Food & Drink."),
            FieldSpec::int(
                "emoji_travel_count",
                "Emoji in Unicode's group Travel & Places (includes sky and weather).",
            ),
            FieldSpec::int(
                "emoji_activity_count",
                "Emoji in Unicode's group Activities.",
            ),
            FieldSpec::int("emoji_object_count", "Emoji in Unicode's group Objects."),
            FieldSpec::int("emoji_symbol_count", "Emoji in Unicode's group Symbols."),
        ],
    ]
}

const SKIN_TONES: [&str; 5] = ["light", "medium_light", "medium", "medium_dark", "dark"];

impl Extractor for EmojiStats {
    fn name(&self) -> &'static str {
        "emoji"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        EMOJI_FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let text = a.text;
        let em = &a.entities().emojis;
        let list = out.strs(g::EMOJIS);
        list.extend(em.iter().map(|e| text[e.range.clone()].to_owned()));
        out.count(g::COUNT, em.len());
        let unique = if em.len() < 2 {
            em.len()
        } else {
            em.iter()
                .map(|e| &text[e.range.clone()])
                .collect::<HashSet<_>>()
                .len()
        };
        out.count(g::UNIQUE, unique);
        let tones = out.strs(g::SKIN_TONES);
        let mut toned = 0;
        for e in em {
            if let Some(t) = e.skin_tone(text) {
                toned += 1;
                tones.push(SKIN_TONES[usize::from(t.clamp(1, 5) - 1)].to_owned());
            }
        }
        out.count(g::SKIN_TONE, toned);
        out.count(g::FLAG, em.iter().filter(|e| e.is_flag(text)).count());
        out.count(g::ZWJ, em.iter().filter(|e| e.is_zwj(text)).count());
        out.count(
            g::TEXT_STYLE,
            em.iter()
                .filter(|e| e.qualification == Qualification::Unqualified)
                .count(),
        );
        let mut max_run = 0;
        let mut run = 0;
        let mut last_end = 0;
        for e in em {
            if run > 0 && text[last_end..e.range.start].trim().is_empty() {
                run += 1;
            } else {
                run = 1;
            }
            max_run = max_run.max(run);
            last_end = e.range.end;
        }
        out.count(g::MAX_RUN, max_run);
        let non_space = if em.is_empty() {
            0
        } else {
            text.chars().filter(|c| !c.is_whitespace()).count()
        };
        let in_emoji: usize = em
            .iter()
            .map(|e| text[e.range.clone()].chars().count())
            .sum();
        out.float(
            g::SHARE,
            if non_space == 0 {
                0.0
            } else {
                (in_emoji as f64 / non_space as f64).min(1.0)
            },
        );
        // Emoji-only text is `text_emoji_only` in the text group.
        let end = text.trim_end().len();
        out.bool(
            g::ENDS_WITH,
            end > 0 && em.last().is_some_and(|e| e.range.end == end),
        );
        for (k, &group) in GROUP_FIELDS.iter().enumerate() {
            out.count(
                g::GROUPS + k,
                em.iter().filter(|e| e.group == group).count(),
            );
        }
    }
}

/// Text emoticons and their polarity.
#[derive(Debug)]
pub struct Emoticons;

fields! {
    const EMOTICON_FIELDS, mod h = [
        LIST => FieldSpec::strs(
            "emoticons",
            "Text emoticons such as :) :-( <3 xD ¯\\_(ツ)_/¯ standing as their own word.",
        ),
        COUNT => FieldSpec::int("emoticon_count", "Number of text emoticons."),
        POSITIVE => FieldSpec::int(
            "emoticon_positive_count",
            "Emoticons with positive valence (VADER valence of at least 0.5, or positive by our list).",
        ),
        NEGATIVE => FieldSpec::int(
            "emoticon_negative_count",
            "Emoticons with negative valence (VADER valence of at most -0.5, or negative by our list).",
        ),
    ]
}

impl Extractor for Emoticons {
    fn name(&self) -> &'static str {
        "emoticons"
    }
    fn version(&self) -> u32 {
        1
    }
    fn fields(&self) -> &'static [FieldSpec] {
        EMOTICON_FIELDS
    }
    fn extract(&self, a: &Analysis<'_>, out: &mut FieldWriter<'_>) {
        let text = a.text;
        let em = &a.entities().emoticons;
        let list = out.strs(h::LIST);
        list.extend(em.iter().map(|e| text[e.range.clone()].to_owned()));
        out.count(h::COUNT, em.len());
        let count = |p: Polarity| em.iter().filter(|e| e.polarity == p).count();
        out.count(h::POSITIVE, count(Polarity::Positive));
        out.count(h::NEGATIVE, count(Polarity::Negative));
    }
}
