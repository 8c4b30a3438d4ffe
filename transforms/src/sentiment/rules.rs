//! VADER's rules for one token's valence — boosters, ALL CAPS, negation, "least", idioms —
//! and the "but" rule over the whole list, each as the reference writes it.

use std::collections::BTreeSet;

use super::lexicon::{B_INCR, C_INCR, N_SCALAR, kw};
use super::score::Report;
use super::tokens::Tok;
use crate::hash::FastMap;

/// `scalar_inc_dec`: the boost a preceding booster word gives.
fn scalar_inc_dec(t: &Tok, valence: f64, is_cap_diff: bool) -> f64 {
    let Some(b) = t.word.booster() else {
        return 0.0;
    };
    let mut scalar = if valence < 0.0 { -b } else { b };
    if t.upper && is_cap_diff {
        if valence > 0.0 {
            scalar += C_INCR;
        } else {
            scalar -= C_INCR;
        }
    }
    scalar
}

/// `sentiment_valence` for token `i` (not a booster, not "kind" before "of").
pub(super) fn sentiment_valence(
    toks: &[Tok],
    i: usize,
    is_cap_diff: bool,
    report: &mut Report,
) -> f64 {
    let t = &toks[i];
    let Some(lex) = t.word.valence() else {
        return 0.0;
    };
    let n = toks.len();
    let w = |j: usize| toks[j].kw();
    // Sign flips applied by negation rules, to report negated words.
    let mut flips = 0u32;
    let mut valence = lex;
    if t.kw() == kw::NO && i != n - 1 && toks[i + 1].in_lexicon() {
        valence = 0.0;
    }
    if (i > 0 && w(i - 1) == kw::NO)
        || (i > 1 && w(i - 2) == kw::NO)
        || (i > 2 && w(i - 3) == kw::NO && matches!(w(i - 1), kw::OR | kw::NOR))
    {
        valence = lex * N_SCALAR;
        flips += 1;
    }
    if t.upper && is_cap_diff {
        report.caps_emphasis += 1;
        if valence > 0.0 {
            valence += C_INCR;
        } else {
            valence -= C_INCR;
        }
    }
    for start_i in 0..3 {
        if i > start_i && !toks[i - (start_i + 1)].in_lexicon() {
            let mut s = scalar_inc_dec(&toks[i - (start_i + 1)], valence, is_cap_diff);
            if start_i == 1 && s != 0.0 {
                s *= 0.95;
            }
            if start_i == 2 && s != 0.0 {
                s *= 0.9;
            }
            valence += s;
            valence = negation_check(valence, toks, start_i, i, &mut flips);
            if start_i == 2 {
                valence = special_idioms_check(valence, toks, i);
            }
        }
    }
    valence = least_check(valence, toks, i, &mut flips);
    if flips % 2 == 1 {
        report.negated_words += 1;
    }
    valence
}

/// `_negation_check` for the word `start_i + 1` places before token `i`.
fn negation_check(valence: f64, toks: &[Tok], start_i: usize, i: usize, flips: &mut u32) -> f64 {
    let w = |j: usize| toks[j].kw();
    let mut negate = |v: f64| {
        *flips += 1;
        v * N_SCALAR
    };
    match start_i {
        0 => {
            if toks[i - 1].negated() {
                return negate(valence);
            }
        }
        1 => {
            if w(i - 2) == kw::NEVER && matches!(w(i - 1), kw::SO | kw::THIS) {
                return valence * 1.25;
            } else if w(i - 2) == kw::WITHOUT && w(i - 1) == kw::DOUBT {
                return valence;
            } else if toks[i - 2].negated() {
                return negate(valence);
            }
        }
        _ => {
            // Python precedence makes this `(never and (so or this)) or (so or this)`.
            if (w(i - 3) == kw::NEVER && matches!(w(i - 2), kw::SO | kw::THIS))
                || matches!(w(i - 1), kw::SO | kw::THIS)
            {
                return valence * 1.25;
            } else if w(i - 3) == kw::WITHOUT && (w(i - 2) == kw::DOUBT || w(i - 1) == kw::DOUBT) {
                return valence;
            } else if toks[i - 3].negated() {
                return negate(valence);
            }
        }
    }
    valence
}

/// VADER's `SPECIAL_CASES` as sequences of [`kw`] ids.
const SPECIAL_CASES: &[(&[u8], f64)] = &[
    (&[kw::THE, kw::SHIT], 3.0),
    (&[kw::THE, kw::BOMB], 3.0),
    (&[kw::BAD, kw::ASS], 1.5),
    (&[kw::BUS, kw::STOP], 0.0),
    (&[kw::YEAH, kw::RIGHT], -2.0),
    (&[kw::KISS, kw::OF, kw::DEATH], -1.5),
    (&[kw::TO, kw::DIE, kw::FOR], 3.0),
    (&[kw::BEATING, kw::HEART], 3.5),
];

fn special_case(seq: &[u8]) -> Option<f64> {
    if seq.contains(&kw::NONE) {
        return None;
    }
    SPECIAL_CASES
        .iter()
        .find(|(k, _)| *k == seq)
        .map(|&(_, v)| v)
}

/// `_special_idioms_check` for token `i` (`i >= 3`).
fn special_idioms_check(mut valence: f64, toks: &[Tok], i: usize) -> f64 {
    let n = toks.len();
    let w = |j: usize| toks[j].kw();
    let (w3, w2, w1, w0) = (w(i - 3), w(i - 2), w(i - 1), w(i));
    let sequences: [&[u8]; 5] = [
        &[w1, w0],
        &[w2, w1, w0],
        &[w2, w1],
        &[w3, w2, w1],
        &[w3, w2],
    ];
    if let Some(v) = sequences.iter().find_map(|s| special_case(s)) {
        valence = v;
    }
    if n - 1 > i
        && let Some(v) = special_case(&[w0, w(i + 1)])
    {
        valence = v;
    }
    if n - 1 > i + 1
        && let Some(v) = special_case(&[w0, w(i + 1), w(i + 2)])
    {
        valence = v;
    }
    // Two-word dampeners ending one or two words back (no three-word booster exists).
    for (a, b) in [(w3, w2), (w2, w1)] {
        if matches!(
            (a, b),
            (kw::KIND, kw::OF) | (kw::SORT, kw::OF) | (kw::JUST, kw::ENOUGH)
        ) {
            valence -= B_INCR;
        }
    }
    valence
}

/// `_least_check`: "least" before a word negates it, unless "at least" or "very least".
fn least_check(valence: f64, toks: &[Tok], i: usize, flips: &mut u32) -> f64 {
    let is_least = |j: usize| !toks[j].in_lexicon() && toks[j].kw() == kw::LEAST;
    if i > 1 && is_least(i - 1) {
        if !matches!(toks[i - 2].kw(), kw::AT | kw::VERY) {
            *flips += 1;
            return valence * N_SCALAR;
        }
    } else if i > 0 && is_least(i - 1) {
        *flips += 1;
        return valence * N_SCALAR;
    }
    valence
}

/// At most this many non-zero valences run the "but" rule as the reference does.
const BUT_DIRECT_MAX: usize = 64;

/// `_but_check`: halves each valence before the first "but" and multiplies those after by 1.5,
/// reproducing the reference's `list.index(value)` lookup (the first equal value is the one
/// changed).
///
/// Zeros are left out: scaling a zero leaves a zero (at most its sign changes, which no score
/// can see), and a non-zero value never becomes zero, so steps on zeros change nothing and
/// non-zero values only ever match each other.
pub(super) fn but_check(sent: &mut [f64], bi: usize, scratch: &mut Vec<(usize, f64)>) {
    scratch.clear();
    scratch.extend(
        sent.iter()
            .enumerate()
            .filter(|(_, v)| **v != 0.0)
            .map(|(i, &v)| (i, v)),
    );
    if scratch.len() <= BUT_DIRECT_MAX {
        but_check_direct(scratch, bi);
    } else {
        but_check_indexed(scratch, bi);
    }
    for &(i, v) in scratch.iter() {
        sent[i] = v;
    }
}

#[inline]
fn scale_for(si: usize, bi: usize, v: f64) -> Option<f64> {
    match si.cmp(&bi) {
        std::cmp::Ordering::Less => Some(v * 0.5),
        std::cmp::Ordering::Greater => Some(v * 1.5),
        std::cmp::Ordering::Equal => None,
    }
}

/// The rule over `(position, value)` pairs in position order, as the reference runs it.
fn but_check_direct(vals: &mut [(usize, f64)], bi: usize) {
    for k in 0..vals.len() {
        let v = vals[k].1;
        let j = vals[..=k].iter().position(|x| x.1 == v).unwrap_or(k);
        if let Some(nv) = scale_for(vals[j].0, bi, v) {
            vals[j].1 = nv;
        }
    }
}

/// The same rule in O(n log n): for each value, the ordered set of slots holding it.
fn but_check_indexed(vals: &mut [(usize, f64)], bi: usize) {
    let mut at: FastMap<u64, BTreeSet<usize>> = FastMap::default();
    for (k, &(_, v)) in vals.iter().enumerate() {
        at.entry(v.to_bits()).or_default().insert(k);
    }
    for k in 0..vals.len() {
        let v = vals[k].1;
        let Some(j) = at.get(&v.to_bits()).and_then(|s| s.first().copied()) else {
            continue;
        };
        if let Some(nv) = scale_for(vals[j].0, bi, v) {
            if let Some(s) = at.get_mut(&v.to_bits()) {
                s.remove(&j);
            }
            at.entry(nv.to_bits()).or_default().insert(j);
            vals[j].1 = nv;
        }
    }
}
