//! Upper-tail probabilities of the Poisson and binomial laws, as scores (`-log10 p`), so the
//! detector can ask "how surprising is this count" for 3 mentions as well as for 3000 without a
//! normal approximation that lies at small counts.

/// The largest score returned: `p` below `1e-300` is all the same to an alert.
pub const MAX_SCORE: f64 = 300.0;

/// `ln n!`: exact for small `n`, Stirling's series beyond (error below 1e-10 there).
pub fn ln_factorial(n: u64) -> f64 {
    if n < 32 {
        return (2..=n).map(|i| (i as f64).ln()).sum();
    }
    let x = n as f64;
    x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x * x * x)
}

/// Sums a tail whose first term is `ln_first` and whose term `i+1` is term `i` times
/// `ratio(i)`, in log space; stops when the terms stop mattering.
fn ln_tail_sum(ln_first: f64, first: u64, last: u64, ratio: impl Fn(u64) -> f64) -> f64 {
    let (mut term, mut sum) = (1.0_f64, 1.0_f64);
    let mut i = first;
    while i < last && i - first < 100_000 {
        term *= ratio(i);
        sum += term;
        if term < sum * 1e-12 {
            break;
        }
        i += 1;
    }
    ln_first + sum.ln()
}

fn score_of(ln_p: f64) -> f64 {
    (-ln_p / std::f64::consts::LN_10).clamp(0.0, MAX_SCORE)
}

/// `-log10 P(X ≥ k)` for `X ~ Poisson(lambda)`; 0 when `k` is not above the mean.
pub fn poisson_score(k: u64, lambda: f64) -> f64 {
    if (k as f64) <= lambda {
        return 0.0;
    }
    if lambda <= 0.0 {
        return MAX_SCORE;
    }
    let ln_first = -lambda + k as f64 * lambda.ln() - ln_factorial(k);
    score_of(ln_tail_sum(ln_first, k, u64::MAX, |i| {
        lambda / (i + 1) as f64
    }))
}

/// `-log10 P(X ≥ k)` for `X ~ Binomial(n, p)`; 0 when `k` is not above the mean.
pub fn binomial_score(k: u64, n: u64, p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    if k > n || (k as f64) <= n as f64 * p {
        return 0.0;
    }
    let ln_first = ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
        + k as f64 * p.ln()
        + (n - k) as f64 * (1.0 - p).ln();
    let odds = p / (1.0 - p);
    score_of(ln_tail_sum(ln_first, k, n, |i| {
        (n - i) as f64 / (i + 1) as f64 * odds
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stirling_joins_the_exact_sum() {
        let exact: f64 = (2..=40u64).map(|i| (i as f64).ln()).sum();
        assert!((ln_factorial(40) - exact).abs() < 1e-9);
    }

    #[test]
    fn poisson_tail_matches_hand_values() {
        // P(X >= 3 | 0.5) = 1 - e^-0.5 (1 + 0.5 + 0.125) = 0.014388
        assert!((poisson_score(3, 0.5) - -(0.014_388_f64).log10()).abs() < 1e-3);
        assert_eq!(poisson_score(2, 5.0), 0.0);
        assert!(poisson_score(1000, 100.0) > 200.0);
    }

    #[test]
    fn binomial_tail_matches_hand_values() {
        // P(X >= 9 | 10, 0.5) = 11 / 1024
        assert!((binomial_score(9, 10, 0.5) - -(11.0_f64 / 1024.0).log10()).abs() < 1e-9);
        assert_eq!(binomial_score(3, 10, 0.5), 0.0);
    }
}
