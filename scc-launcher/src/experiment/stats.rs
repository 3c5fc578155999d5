//! Aggregation over repeats and the linear fit (pure).
//!
//! ```
//! use scc_launcher::experiment::stats::{Spread, linear_fit};
//! let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
//! assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
//! let f = linear_fit(&[(2.0, 5.0), (4.0, 9.0), (8.0, 17.0)]).unwrap();
//! assert!((f.slope - 2.0).abs() < 1e-12 && (f.intercept - 1.0).abs() < 1e-12);
//! ```

use serde::{Deserialize, Serialize};

/// Median with min-max over repeats of one measurement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Number of values.
    pub n: usize,
}

impl Spread {
    /// The spread of the finite values; `None` when there is none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }

    /// `median [min-max]` with `digits` decimals (just the median when n = 1).
    pub fn show(&self, digits: usize) -> String {
        if self.n <= 1 || self.min == self.max {
            format!("{:.*}", digits, self.median)
        } else {
            format!(
                "{:.*} [{:.*}-{:.*}]",
                digits, self.median, digits, self.min, digits, self.max
            )
        }
    }
}

/// A least-squares line `y = slope * x + intercept`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// Slope (for chain length: the cost of one more NF).
    pub slope: f64,
    /// Intercept (the cost of a zero-length chain).
    pub intercept: f64,
    /// Coefficient of determination (1 when every point is on the line; `null` in JSON when
    /// all y are equal).
    pub r2: Option<f64>,
    /// Points fitted.
    pub n: usize,
}

impl Fit {
    /// The line's value at `x`.
    pub fn at(&self, x: f64) -> f64 {
        self.slope * x + self.intercept
    }
}

/// Ordinary least squares over `(x, y)` points; `None` with fewer than two distinct x (or a
/// non-finite value).
pub fn linear_fit(points: &[(f64, f64)]) -> Option<Fit> {
    if points.iter().any(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return None;
    }
    let n = points.len();
    if n < 2 {
        return None;
    }
    let nf = n as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= f64::EPSILON * mx.abs().max(1.0) {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let ss_tot: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    let ss_res: f64 = points
        .iter()
        .map(|p| (p.1 - (slope * p.0 + intercept)).powi(2))
        .sum();
    let r2 = (ss_tot > 0.0).then(|| 1.0 - ss_res / ss_tot);
    Some(Fit {
        slope,
        intercept,
        r2,
        n,
    })
}

/// `a / b`, `None` when `b` is 0 or either is unknown.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_known_values() {
        let s = Spread::of(&[5.0, 1.0, 4.0, 2.0]).unwrap();
        assert_eq!(s.median, 3.0);
        assert_eq!((s.min, s.max, s.n), (1.0, 5.0, 4));
        assert_eq!(s.show(1), "3.0 [1.0-5.0]");
        assert_eq!(Spread::of(&[7.0]).unwrap().show(0), "7");
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[f64::NAN]), None);
        assert_eq!(Spread::of(&[f64::NAN, 2.0]).unwrap().n, 1);
    }

    #[test]
    fn fit_recovers_the_papers_line() {
        // Fig. 5's legend: median = 1769 us * NFs + b; points on the line from 2 NFs on.
        let pts: Vec<(f64, f64)> = (2..=8)
            .map(|n| (n as f64, 1769.0 * n as f64 - 1100.0))
            .collect();
        let f = linear_fit(&pts).unwrap();
        assert!((f.slope - 1769.0).abs() < 1e-9, "{f:?}");
        assert!((f.intercept + 1100.0).abs() < 1e-9, "{f:?}");
        assert!((f.r2.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(f.n, 7);
        assert!((f.at(10.0) - 16590.0).abs() < 1e-9);
    }

    #[test]
    fn fit_of_noisy_known_data() {
        // y = 2x + 1 with residuals +1, -1, -1, +1 at x = 1..4. They sum to 0 and are
        // orthogonal to x - mean(x): (-1.5)(1) + (-0.5)(-1) + (0.5)(-1) + (1.5)(1) = 0, so
        // least squares gives back slope 2 and intercept 1 exactly.
        let pts = [(1.0, 4.0), (2.0, 4.0), (3.0, 6.0), (4.0, 10.0)];
        let f = linear_fit(&pts).unwrap();
        assert!((f.slope - 2.0).abs() < 1e-12, "{f:?}");
        assert!((f.intercept - 1.0).abs() < 1e-12, "{f:?}");
        // ss_res = 4, ss_tot = sum((y - 6)^2) = 4 + 4 + 0 + 16 = 24
        assert!((f.r2.unwrap() - (1.0 - 4.0 / 24.0)).abs() < 1e-12);
    }

    #[test]
    fn degenerate_fits_are_refused() {
        assert_eq!(linear_fit(&[]), None);
        assert_eq!(linear_fit(&[(1.0, 2.0)]), None);
        assert_eq!(linear_fit(&[(2.0, 1.0), (2.0, 3.0)]), None);
        assert_eq!(linear_fit(&[(1.0, 1.0), (2.0, f64::NAN)]), None);
        let flat = linear_fit(&[(1.0, 3.0), (2.0, 3.0)]).unwrap();
        assert_eq!((flat.slope, flat.intercept, flat.r2), (0.0, 3.0, None));
    }

    #[test]
    fn ratio_refuses_zero_and_unknown() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
    }
}
