//! The regime search (pure): the highest offered rate a chain forwards with less than 0.1%
//! loss, found by short runs - doubling from a start rate until a run loses frames, then
//! bisecting between the highest clean rate and the lowest lossy one. A short run can hide
//! overload in the socket buffers (a chain of 8 NFs queues tens of thousands of frames and
//! delivers them all during the drain), so a run is clean only when its p99 latency also stays
//! below a tenth of its length: above that, queues were growing for the whole run. Campaign points are then
//! measured at fixed fractions of that capacity (e.g. 25%, 75%, 110%), so every chain is
//! compared in the same regime of its own capacity.
//!
//! ```
//! use scc_launcher::experiment::search::{CapacitySearch, SearchParams, Trial};
//! let mut s = CapacitySearch::new(SearchParams { start_pps: 10_000.0, ..SearchParams::default() });
//! // A simulated chain that forwards up to 37 kpps.
//! while let Some(rate) = s.next_rate() {
//!     let sent = (rate * 1.0) as u64;
//!     let received = sent.min(37_000);
//!     s.record(Trial { offered_pps: rate, achieved_pps: rate, sent, received, p99_us: Some(50.0), duration_s: 1.0 });
//! }
//! let c = s.result().capacity_pps.unwrap();
//! assert!(c <= 37_000.0 && c > 37_000.0 * 0.9, "{c}");
//! ```

use serde::Serialize;

/// How the search goes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SearchParams {
    /// First rate tried.
    pub start_pps: f64,
    /// Never offer more than this (the generator's reach).
    pub max_pps: f64,
    /// Never offer less than this.
    pub min_pps: f64,
    /// Loss fraction a clean run stays below (0.001 = 0.1%).
    pub loss_limit: f64,
    /// A clean run's p99 latency stays below this fraction of the run's length (queues that
    /// grow for the whole run hide overload in the buffers).
    pub max_p99_fraction: f64,
    /// Stop when the lossy rate is within this fraction above the clean one.
    pub precision: f64,
    /// At most this many trial runs.
    pub max_trials: usize,
    /// A run whose generator achieved less than this fraction of the offered rate could not
    /// offer it: the capacity is then the generator's, not the chain's.
    pub generator_tolerance: f64,
}

impl Default for SearchParams {
    fn default() -> Self {
        Self {
            start_pps: 10_000.0,
            max_pps: 400_000.0,
            min_pps: 500.0,
            loss_limit: 0.001,
            max_p99_fraction: 0.1,
            precision: 0.1,
            max_trials: 8,
            generator_tolerance: 0.95,
        }
    }
}

/// One trial run's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trial {
    /// Offered rate.
    pub offered_pps: f64,
    /// Rate the generator achieved.
    pub achieved_pps: f64,
    /// Frames sent.
    pub sent: u64,
    /// Frames received by the sink.
    pub received: u64,
    /// p99 one-way latency (us; `None` when nothing arrived).
    pub p99_us: Option<f64>,
    /// Length of the run (s).
    pub duration_s: f64,
}

impl Trial {
    /// `lost / sent` (1 when nothing was sent: a run that sent nothing proves nothing).
    pub fn loss_fraction(&self) -> f64 {
        if self.sent == 0 {
            1.0
        } else {
            self.sent.saturating_sub(self.received) as f64 / self.sent as f64
        }
    }
}

/// A recorded trial with the search's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Step {
    /// The trial.
    #[serde(flatten)]
    pub trial: Trial,
    /// Its loss fraction.
    pub loss_fraction: f64,
    /// Below the loss limit, with the p99 latency below its bound.
    pub clean: bool,
    /// The p99 latency reached its bound (queues grew through the run).
    pub queueing: bool,
    /// The generator could not offer the rate.
    pub generator_bound: bool,
}

/// The search's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResult {
    /// Highest rate forwarded with less than the loss limit (`None`: not even `min_pps` or the
    /// first rate tried, whichever was lowest).
    pub capacity_pps: Option<f64>,
    /// The capacity is the generator's reach (its achieved rate), not the chain's: the chain
    /// may carry more.
    pub generator_bound: bool,
    /// Lowest rate that was not clean: it lost frames or its queues grew (`None`: none).
    pub lossy_pps: Option<f64>,
    /// Every trial, in order.
    pub steps: Vec<Step>,
    /// The parameters.
    pub params: SearchParams,
}

/// The search's state: feed it trials until [`CapacitySearch::next_rate`] says `None`.
#[derive(Debug, Clone)]
pub struct CapacitySearch {
    params: SearchParams,
    clean: Option<f64>,
    lossy: Option<f64>,
    generator_bound: bool,
    steps: Vec<Step>,
}

impl CapacitySearch {
    /// A new search.
    pub fn new(params: SearchParams) -> Self {
        Self {
            params,
            clean: None,
            lossy: None,
            generator_bound: false,
            steps: Vec::new(),
        }
    }

    /// The rate of the next trial, or `None` when the search is done.
    pub fn next_rate(&self) -> Option<f64> {
        let p = &self.params;
        if self.steps.len() >= p.max_trials || self.generator_bound {
            return None;
        }
        let rate = match (self.clean, self.lossy) {
            (None, None) => p.start_pps.clamp(p.min_pps, p.max_pps),
            (Some(c), None) => {
                if c >= p.max_pps {
                    return None;
                }
                (c * 2.0).min(p.max_pps)
            }
            (None, Some(l)) => {
                if l <= p.min_pps {
                    return None;
                }
                (l / 2.0).max(p.min_pps)
            }
            (Some(c), Some(l)) => {
                if l <= c * (1.0 + p.precision) {
                    return None;
                }
                (c * l).sqrt()
            }
        };
        Some(rate.round())
    }

    /// Records a trial.
    pub fn record(&mut self, t: Trial) {
        let p = self.params;
        let loss = t.loss_fraction();
        let gen_bound = t.sent > 0 && t.achieved_pps < t.offered_pps * p.generator_tolerance;
        let queueing = t
            .p99_us
            .is_some_and(|p99| p99 >= p.max_p99_fraction * t.duration_s * 1e6);
        let clean = t.sent > 0 && loss < p.loss_limit && !queueing;
        self.steps.push(Step {
            trial: t,
            loss_fraction: loss,
            clean,
            queueing,
            generator_bound: gen_bound,
        });
        if clean {
            // What was really carried: the achieved rate when the generator fell short.
            let carried = if gen_bound {
                t.achieved_pps
            } else {
                t.offered_pps
            };
            self.clean = Some(self.clean.map_or(carried, |c| c.max(carried)));
            if gen_bound {
                self.generator_bound = true;
            }
        } else {
            self.lossy = Some(self.lossy.map_or(t.offered_pps, |l| l.min(t.offered_pps)));
        }
        // A clean rate above a lossy one (noise): trust the latest lossy verdict.
        if let (Some(c), Some(l)) = (self.clean, self.lossy)
            && c >= l
        {
            self.clean = self
                .steps
                .iter()
                .filter(|s| s.clean && s.trial.offered_pps < l)
                .map(|s| s.trial.offered_pps)
                .reduce(f64::max);
        }
    }

    /// The result so far.
    pub fn result(&self) -> SearchResult {
        SearchResult {
            capacity_pps: self.clean,
            generator_bound: self.generator_bound,
            lossy_pps: self.lossy,
            steps: self.steps.clone(),
            params: self.params,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a chain that forwards at most `cap` pps and a generator that
    /// offers at most `gen_max` pps.
    fn simulate(params: SearchParams, cap: f64, gen_max: f64) -> SearchResult {
        let mut s = CapacitySearch::new(params);
        let mut n = 0;
        while let Some(rate) = s.next_rate() {
            n += 1;
            assert!(n <= params.max_trials, "the search does not end");
            let achieved = rate.min(gen_max);
            let sent = achieved as u64;
            let received = sent.min(cap as u64);
            s.record(Trial {
                offered_pps: rate,
                achieved_pps: achieved,
                sent,
                received,
                p99_us: Some(100.0),
                duration_s: 1.0,
            });
        }
        s.result()
    }

    #[test]
    fn finds_the_capacity_within_the_precision() {
        for cap in [3_000.0, 24_000.0, 37_000.0, 150_000.0] {
            let p = SearchParams {
                max_trials: 20,
                ..SearchParams::default()
            };
            let r = simulate(p, cap, 1e9);
            let c = r.capacity_pps.unwrap();
            assert!(c <= cap, "{cap}: {c}");
            assert!(c >= cap / (1.0 + p.precision) * 0.999, "{cap}: {c}");
            assert!(!r.generator_bound);
            assert!(r.lossy_pps.unwrap() > cap);
            // every clean step is below the capacity, every lossy one above it
            for s in &r.steps {
                if s.clean {
                    assert!(s.trial.offered_pps <= cap * (1.0 + p.loss_limit), "{s:?}");
                } else {
                    assert!(s.trial.offered_pps > cap, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn a_generator_bound_capacity_is_flagged_and_is_the_achieved_rate() {
        let r = simulate(SearchParams::default(), 1e9, 190_000.0);
        assert!(r.generator_bound);
        assert_eq!(r.capacity_pps, Some(190_000.0));
        assert_eq!(r.lossy_pps, None);
    }

    #[test]
    fn a_chain_that_loses_everything_has_no_capacity() {
        let p = SearchParams::default();
        let r = simulate(p, 0.0, 1e9);
        assert_eq!(r.capacity_pps, None);
        assert_eq!(r.lossy_pps, Some(p.min_pps));
        assert!(r.steps.len() <= p.max_trials);
    }

    #[test]
    fn the_loss_limit_is_strict_and_nothing_sent_is_not_clean() {
        let mut s = CapacitySearch::new(SearchParams::default());
        // exactly 0.1% lost: not below the limit
        s.record(Trial {
            offered_pps: 10_000.0,
            achieved_pps: 10_000.0,
            sent: 10_000,
            received: 9_990,
            p99_us: Some(100.0),
            duration_s: 1.0,
        });
        assert!(!s.result().steps[0].clean);
        s.record(Trial {
            offered_pps: 5_000.0,
            achieved_pps: 0.0,
            sent: 0,
            received: 0,
            p99_us: None,
            duration_s: 1.0,
        });
        assert!(!s.result().steps[1].clean);
        assert_eq!(s.result().capacity_pps, None);
    }

    #[test]
    fn a_run_whose_queues_grow_is_not_clean_even_without_loss() {
        let mut s = CapacitySearch::new(SearchParams::default());
        let t = |rate: f64, p99_us: f64| Trial {
            offered_pps: rate,
            achieved_pps: rate,
            sent: rate as u64,
            received: rate as u64,
            p99_us: Some(p99_us),
            duration_s: 1.0,
        };
        s.record(t(10_000.0, 20_000.0)); // 20 ms p99 in a 1 s run: fine
        s.record(t(20_000.0, 100_000.0)); // 100 ms: a tenth of the run, queues grew
        let r = s.result();
        assert!(r.steps[0].clean && !r.steps[0].queueing);
        assert!(!r.steps[1].clean && r.steps[1].queueing);
        assert_eq!(r.capacity_pps, Some(10_000.0));
        assert_eq!(r.lossy_pps, Some(20_000.0));
    }

    #[test]
    fn noise_above_a_lossy_rate_does_not_raise_the_capacity() {
        let mut s = CapacitySearch::new(SearchParams::default());
        let t = |rate: f64, received: u64| Trial {
            offered_pps: rate,
            achieved_pps: rate,
            sent: rate as u64,
            received,
            p99_us: Some(100.0),
            duration_s: 1.0,
        };
        s.record(t(10_000.0, 10_000));
        s.record(t(20_000.0, 15_000)); // lossy
        s.record(t(30_000.0, 30_000)); // clean by luck, above the lossy rate
        let r = s.result();
        assert_eq!(r.capacity_pps, Some(10_000.0));
        assert_eq!(r.lossy_pps, Some(20_000.0));
        assert_eq!(s.next_rate(), Some((10_000.0f64 * 20_000.0).sqrt().round()));
    }
}
