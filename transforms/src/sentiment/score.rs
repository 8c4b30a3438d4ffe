//! VADER's scoring: punctuation emphasis, normalisation, the proportions, and Python's
//! rounding.

/// VADER's four scores, rounded as the reference rounds them (compound to 4 places, the
/// proportions to 3).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scores {
    /// Normalised sum of valences, -1..1.
    pub compound: f64,
    /// Proportion of the text that is positive.
    pub pos: f64,
    /// Proportion that is neutral.
    pub neu: f64,
    /// Proportion that is negative.
    pub neg: f64,
}

/// The scores and the facts VADER's rules found on the way.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Report {
    pub scores: Scores,
    /// Tokens after whitespace splitting (and emoji translation).
    pub tokens: usize,
    /// Tokens found in the lexicon.
    pub lexicon_words: usize,
    /// Tokens whose final valence (after all rules) is positive / negative.
    pub positive_tokens: usize,
    pub negative_tokens: usize,
    /// Largest positive and most negative final token valence (0 when there is none).
    pub max_positive: f64,
    pub max_negative: f64,
    /// Negation tokens (VADER's `NEGATE` list or containing "n't").
    pub negations: usize,
    /// Lexicon words whose sign a negation rule flipped.
    pub negated_words: usize,
    /// Booster tokens that raise / lower intensity (dampeners include "kind of", "sort of",
    /// "just enough").
    pub intensifiers: usize,
    pub dampeners: usize,
    /// Lexicon words in ALL CAPS that got the caps emphasis (only among mixed-case text).
    pub caps_emphasis: usize,
    /// Emoji translated to words.
    pub emoji: usize,
    /// Emoticon tokens (lexicon entries such as `:)` or `<3`).
    pub emoticons: usize,
    /// The amplifier from `!` and `?` added to the sum of valences.
    pub punct_emphasis: f64,
    /// There is a "but", and the valence before it and after it have opposite signs.
    pub but_shift: bool,
}

/// `_punctuation_emphasis`: up to four `!` at 0.292 each, plus 0.18 per `?` for two or three
/// of them and 0.96 for more.
pub(super) fn punctuation_emphasis(ep: usize, qm: usize) -> f64 {
    let ep_amp = ep.min(4) as f64 * 0.292;
    let qm_amp = match qm {
        0 | 1 => 0.0,
        2 | 3 => qm as f64 * 0.18,
        _ => 0.96,
    };
    ep_amp + qm_amp
}

/// VADER's `normalize` with alpha 15.
fn normalize(score: f64) -> f64 {
    (score / (score * score + 15.0).sqrt()).clamp(-1.0, 1.0)
}

/// `score_valence`.
pub(super) fn score_valence(sent: &[f64], punct: f64) -> Scores {
    if sent.is_empty() {
        return Scores::default();
    }
    let mut sum_s: f64 = sent.iter().fold(0.0, |a, &b| a + b);
    if sum_s > 0.0 {
        sum_s += punct;
    } else if sum_s < 0.0 {
        sum_s -= punct;
    }
    let compound = normalize(sum_s);
    let (mut pos_sum, mut neg_sum, mut neu) = (0.0f64, 0.0f64, 0usize);
    for &s in sent {
        if s > 0.0 {
            pos_sum += s + 1.0;
        }
        if s < 0.0 {
            neg_sum += s - 1.0;
        }
        if s == 0.0 {
            neu += 1;
        }
    }
    if pos_sum > neg_sum.abs() {
        pos_sum += punct;
    } else if pos_sum < neg_sum.abs() {
        neg_sum -= punct;
    }
    let total = pos_sum + neg_sum.abs() + neu as f64;
    Scores {
        compound: py_round(compound, 4),
        pos: py_round((pos_sum / total).abs(), 3),
        neu: py_round((neu as f64 / total).abs(), 3),
        neg: py_round((neg_sum / total).abs(), 3),
    }
}

/// Python's `round(x, nd)` for `nd <= 8`: the exact binary value rounded half-to-even to `nd`
/// decimals, then the nearest double. Negative zero becomes zero.
pub(crate) fn py_round(x: f64, nd: u32) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    if !x.is_finite() {
        return x;
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (m, e) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    };
    // |x| * 10^nd == big * 2^sh exactly.
    let big = u128::from(m) * 5u128.pow(nd);
    let sh = e + nd as i32;
    if sh >= 0 {
        return x; // already an integer multiple of 10^-nd
    }
    let s = sh.unsigned_abs();
    let r = if s >= 120 {
        0
    } else {
        let q = big >> s;
        let rem = big & ((1u128 << s) - 1);
        let half = 1u128 << (s - 1);
        if rem > half || (rem == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    // r < 2^63 (|x| * 10^nd rounded, for the small |x| VADER rounds), so the u64 is exact.
    let y = u64::try_from(r).unwrap_or(u64::MAX) as f64 / 10f64.powi(nd as i32);
    if x < 0.0 && y != 0.0 { -y } else { y }
}
