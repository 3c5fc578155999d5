//! The campaign's summary (pure): per point, medians with min-max over the repeats of every
//! result; per series, the linear fit of the median latency against x from x = 2 on (the
//! paper fits chain length from 2 NFs on); and the readable table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::record::Row;
use super::stats::{Fit, Spread, linear_fit, ratio};

/// One point over its repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointSummary {
    /// Point id.
    pub point: String,
    /// Configuration id.
    pub config: String,
    /// Series.
    pub series: String,
    /// Label.
    pub label: String,
    /// x.
    pub x: f64,
    /// Regime label.
    pub regime: String,
    /// Capacity that defined the rate.
    pub capacity_pps: Option<f64>,
    /// Repeats that count.
    pub runs: usize,
    /// Offered rate.
    pub offered_pps: Option<Spread>,
    /// Achieved rate.
    pub achieved_pps: Option<Spread>,
    /// Loss fraction.
    pub loss_fraction: Option<Spread>,
    /// Latency percentiles (us): `p1`, `p25`, `p50`, `p75`, `p99`, `p999`, `max`.
    pub latency_us: BTreeMap<String, Spread>,
    /// p75 - p25 (us).
    pub iqr_us: Option<Spread>,
    /// p99 / p50.
    pub p99_over_p50: Option<Spread>,
    /// NF system calls per frame per NF.
    pub syscalls_per_frame: Option<Spread>,
    /// The chain's CPU per frame (us).
    pub cpu_us_per_frame: Option<Spread>,
    /// Wait/RunTime of the chain.
    pub wait_over_run: Option<Spread>,
    /// SchedContention/RunTime of the chain.
    pub contention_over_run: Option<Spread>,
    /// 1-minute load averages seen.
    pub load1: Option<Spread>,
}

/// A series' fit of the median latency (medians over repeats) against x.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesFit {
    /// Series.
    pub series: String,
    /// Regime of the points fitted.
    pub regime: String,
    /// Fitted from this x on.
    pub from_x: f64,
    /// The fit (`null` with fewer than two points).
    pub fit: Option<Fit>,
    /// `(x, median p50)` fitted.
    pub points: Vec<(f64, f64)>,
}

/// The percentiles kept per point.
pub const PERCENTILES: &[&str] = &["p1", "p25", "p50", "p75", "p99", "p999", "max"];

fn pct(l: &crate::traffic::LatencySummary, k: &str) -> f64 {
    match k {
        "p1" => l.p1,
        "p25" => l.p25,
        "p50" => l.p50,
        "p75" => l.p75,
        "p99" => l.p99,
        "p999" => l.p999,
        _ => l.max,
    }
}

/// Summaries of every point that has usable rows, in first-seen order.
pub fn summarize(rows: &[Row]) -> Vec<PointSummary> {
    let mut order: Vec<&str> = Vec::new();
    for r in rows.iter().filter(|r| r.usable()) {
        if !order.contains(&r.ctx.point.as_str()) {
            order.push(&r.ctx.point);
        }
    }
    order
        .into_iter()
        .map(|p| {
            let rs: Vec<&Row> = rows
                .iter()
                .filter(|r| r.usable() && r.ctx.point == p)
                .collect();
            let first = rs[0];
            let of = |f: &dyn Fn(&Row) -> Option<f64>| {
                Spread::of(&rs.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
            };
            let mut latency_us = BTreeMap::new();
            for k in PERCENTILES {
                if let Some(s) = of(&|r| r.latency_us.as_ref().map(|l| pct(l, k))) {
                    latency_us.insert(k.to_string(), s);
                }
            }
            PointSummary {
                point: p.to_string(),
                config: first.ctx.config.clone(),
                series: first.ctx.series.clone(),
                label: first.ctx.label.clone(),
                x: first.ctx.x,
                regime: first.ctx.regime.clone(),
                capacity_pps: first.ctx.capacity_pps,
                runs: rs.len(),
                offered_pps: of(&|r| r.offered_pps),
                achieved_pps: of(&|r| r.achieved_pps),
                loss_fraction: of(&|r| r.loss_fraction),
                latency_us,
                iqr_us: of(&|r| r.latency_us.as_ref().map(|l| l.p75 - l.p25)),
                p99_over_p50: of(&|r| {
                    r.latency_us
                        .as_ref()
                        .and_then(|l| ratio(Some(l.p99), Some(l.p50)))
                }),
                syscalls_per_frame: of(&|r| r.syscalls_per_frame),
                cpu_us_per_frame: of(&|r| r.cpu_us_per_frame),
                wait_over_run: of(&|r| r.wait_over_run),
                contention_over_run: of(&|r| r.contention_over_run),
                load1: of(&|r| r.ctx.load1),
            }
        })
        .collect()
}

/// Per series and regime, the fit of the median p50 against x for x >= `from_x`.
pub fn fits(summaries: &[PointSummary], from_x: f64) -> Vec<SeriesFit> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for s in summaries {
        let k = (s.series.clone(), s.regime.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(series, regime)| {
            let mut points: Vec<(f64, f64)> = summaries
                .iter()
                .filter(|s| s.series == series && s.regime == regime && s.x >= from_x)
                .filter_map(|s| Some((s.x, s.latency_us.get("p50")?.median)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            SeriesFit {
                fit: linear_fit(&points),
                series,
                regime,
                from_x,
                points,
            }
        })
        .collect()
}

fn show(s: &Option<Spread>, digits: usize) -> String {
    s.as_ref().map_or("-".into(), |s| s.show(digits))
}

/// The readable table printed at the end of a campaign (medians, `[min-max]` over repeats).
pub fn table(summaries: &[PointSummary]) -> String {
    let mut t = format!(
        "{:<34} {:>16} {:>5} {:>18} {:>12} {:>16} {:>16} {:>16} {:>10} {:>9} {:>14}\n",
        "point",
        "regime",
        "runs",
        "achieved pps",
        "loss %",
        "p50 us",
        "p25-p75 us",
        "p99 us",
        "cpu us/fr",
        "sys/fr",
        "wait/run"
    );
    for s in summaries {
        let lat = |k: &str| s.latency_us.get(k).map_or("-".to_string(), |v| v.show(0));
        t.push_str(&format!(
            "{:<34} {:>16} {:>5} {:>18} {:>12} {:>16} {:>16} {:>16} {:>10} {:>9} {:>14}\n",
            s.config,
            s.regime,
            s.runs,
            show(&s.achieved_pps, 0),
            s.loss_fraction
                .map_or("-".into(), |l| format!("{:.2}", l.median * 100.0)),
            lat("p50"),
            show(&s.iqr_us, 0),
            lat("p99"),
            s.cpu_us_per_frame
                .map_or("-".into(), |v| format!("{:.2}", v.median)),
            s.syscalls_per_frame
                .map_or("-".into(), |v| format!("{:.2}", v.median)),
            show(&s.wait_over_run, 1),
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::record::tests::{nf, report};
    use crate::experiment::record::{Row, RowContext};

    fn row(point: &str, series: &str, x: f64, p50: f64, phase: &str) -> Row {
        let mut r = Row::of(
            RowContext {
                phase: phase.into(),
                point: point.into(),
                config: point.into(),
                series: series.into(),
                x,
                regime: "75% of capacity".into(),
                ..RowContext::default()
            },
            &report(1000, 1000, p50, vec![nf("r1", 1000, true)]),
        );
        r.ctx.load1 = Some(1.5);
        r
    }

    #[test]
    fn medians_and_min_max_over_repeats_and_only_usable_rows() {
        let mut rows = vec![
            row("a", "s", 1.0, 10.0, "point"),
            row("a", "s", 1.0, 30.0, "point"),
            row("a", "s", 1.0, 20.0, "point"),
            row("a", "s", 1.0, 999.0, "search"),
            row("b", "s", 2.0, 50.0, "point"),
        ];
        let mut broken = row("a", "s", 1.0, 5000.0, "point");
        broken.interrupted = true;
        rows.push(broken);
        let s = summarize(&rows);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].runs, 3);
        let p50 = s[0].latency_us["p50"];
        assert_eq!((p50.median, p50.min, p50.max), (20.0, 10.0, 30.0));
        // p25 = 0.8 p50, p75 = 1.2 p50 in the fixture: IQR = 0.4 p50
        assert!((s[0].iqr_us.unwrap().median - 8.0).abs() < 1e-9);
        assert!((s[0].p99_over_p50.unwrap().median - 3.0).abs() < 1e-9);
        assert_eq!(s[1].runs, 1);
        assert!(table(&s).contains("20 [10-30]"));
    }

    #[test]
    fn fit_starts_at_two_and_recovers_a_known_slope() {
        let rows: Vec<Row> = [1.0, 2.0, 4.0, 8.0]
            .iter()
            .map(|&n| {
                // 1 NF off the line (the paper fits from 2 NFs on)
                let p50 = if n == 1.0 { 500.0 } else { 5.0 * n + 40.0 };
                row(&format!("n{n}"), "s", n, p50, "point")
            })
            .collect();
        let f = fits(&summarize(&rows), 2.0);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].points.len(), 3);
        let fit = f[0].fit.unwrap();
        assert!((fit.slope - 5.0).abs() < 1e-9 && (fit.intercept - 40.0).abs() < 1e-9);
    }
}
