//! Plots like the paper's (plotters, SVG backend: no system fonts or libraries): latency
//! boxplots per configuration on a logarithmic axis (box p25-p75, whiskers p1 and p99, a line
//! at the median), and lines with their linear fit. The plot data is built by pure functions
//! from the summary ([`charts`]); [`render_box`] and [`render_lines`] draw it.

use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use super::campaign::CampaignName;
use super::stats::Fit;
use super::summary::{PointSummary, SeriesFit};
use super::{ExperimentError, slug};

/// Opacity of the boxes' fill (the smoke test finds the boxes by it).
pub const BOX_OPACITY: f64 = 0.45;

/// One box: the medians over repeats of each percentile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoxItem {
    /// Position on the x axis.
    pub x: f64,
    /// Axis label.
    pub label: String,
    /// Whisker bottom (us).
    pub p1: f64,
    /// Box bottom.
    pub p25: f64,
    /// Median line.
    pub p50: f64,
    /// Box top.
    pub p75: f64,
    /// Whisker top.
    pub p99: f64,
    /// Loss fraction (median; shown above the box when > 0).
    pub loss: f64,
}

/// A boxplot chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoxChart {
    /// File name (`.svg`).
    pub file: String,
    /// Title.
    pub title: String,
    /// x axis label.
    pub x_label: String,
    /// Boxes.
    pub boxes: Vec<BoxItem>,
    /// x is a category (labels at 0, 1, ...); else numeric.
    pub categorical: bool,
    /// x on a log axis (numeric x only).
    pub log_x: bool,
    /// A fit line drawn over the boxes, from this x on.
    pub fit: Option<(Fit, f64)>,
}

/// One line of a line chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// Legend.
    pub label: String,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
    /// Its fit, drawn dashed from this x on.
    pub fit: Option<(Fit, f64)>,
}

/// A line chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineChart {
    /// File name.
    pub file: String,
    /// Title.
    pub title: String,
    /// x axis label.
    pub x_label: String,
    /// y axis label.
    pub y_label: String,
    /// Log x axis.
    pub log_x: bool,
    /// Log y axis.
    pub log_y: bool,
    /// Lines.
    pub series: Vec<Line>,
}

fn box_of(s: &PointSummary, x: f64, label: String) -> Option<BoxItem> {
    let l = |k: &str| s.latency_us.get(k).map(|v| v.median);
    Some(BoxItem {
        x,
        label,
        p1: l("p1")?,
        p25: l("p25")?,
        p50: l("p50")?,
        p75: l("p75")?,
        p99: l("p99")?,
        loss: s.loss_fraction.map_or(0.0, |v| v.median),
    })
}

fn distinct<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = Vec::new();
    for s in it {
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

/// The charts of a campaign from its summary and fits (pure).
pub fn charts(
    campaign: CampaignName,
    summaries: &[PointSummary],
    fits: &[SeriesFit],
) -> (Vec<BoxChart>, Vec<LineChart>) {
    let mut boxes = Vec::new();
    let mut lines = Vec::new();
    let name = campaign.name();
    match campaign {
        CampaignName::Drivers => {
            for regime in distinct(summaries.iter().map(|s| s.regime.as_str())) {
                let items: Vec<&PointSummary> =
                    summaries.iter().filter(|s| s.regime == regime).collect();
                boxes.push(BoxChart {
                    file: format!("{name}-{}.svg", slug(regime)),
                    title: format!("one router, 64 B frames, {regime}"),
                    x_label: "router".into(),
                    boxes: items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, s)| box_of(s, i as f64, s.label.clone()))
                        .collect(),
                    categorical: true,
                    log_x: false,
                    fit: None,
                });
            }
        }
        CampaignName::BatchSweep | CampaignName::ChainLength => {
            let batch = campaign == CampaignName::BatchSweep;
            for series in distinct(summaries.iter().map(|s| s.series.as_str())) {
                for regime in distinct(
                    summaries
                        .iter()
                        .filter(|s| s.series == series)
                        .map(|s| s.regime.as_str()),
                ) {
                    let items: Vec<BoxItem> = summaries
                        .iter()
                        .filter(|s| s.series == series && s.regime == regime)
                        .filter_map(|s| box_of(s, s.x, format!("{}", s.x)))
                        .collect();
                    let fit = if batch {
                        None
                    } else {
                        fits.iter()
                            .find(|f| f.series == series && f.regime == regime)
                            .and_then(|f| Some((f.fit?, f.from_x)))
                    };
                    boxes.push(BoxChart {
                        file: format!("{name}-{}-{}.svg", slug(series), slug(regime)),
                        title: if batch {
                            format!("one router, {series} frames, {regime}")
                        } else {
                            format!("{series}, {regime}")
                        },
                        x_label: if batch {
                            "frames per system call (batch)".into()
                        } else {
                            "chain length (NFs)".into()
                        },
                        boxes: items,
                        categorical: false,
                        log_x: batch,
                        fit,
                    });
                }
            }
            let line = |file: &str,
                        title: &str,
                        y_label: &str,
                        log_y: bool,
                        prefix: &str,
                        f: &dyn Fn(&PointSummary) -> Option<f64>| {
                let mut series = Vec::new();
                for sname in distinct(
                    summaries
                        .iter()
                        .map(|s| s.series.as_str())
                        .filter(|s| s.starts_with(prefix)),
                ) {
                    let main_regime = summaries
                        .iter()
                        .find(|s| s.series == sname && s.regime.starts_with("75%"))
                        .or_else(|| summaries.iter().find(|s| s.series == sname))
                        .map(|s| s.regime.clone())
                        .unwrap_or_default();
                    let points: Vec<(f64, f64)> = summaries
                        .iter()
                        .filter(|s| s.series == sname && s.regime == main_regime)
                        .filter_map(|s| Some((s.x, f(s)?)))
                        .filter(|(_, y)| !log_y || *y > 0.0)
                        .collect();
                    if points.is_empty() {
                        continue;
                    }
                    let fit = (file.starts_with("median"))
                        .then(|| {
                            fits.iter()
                                .find(|x| x.series == sname && x.regime == main_regime)
                                .and_then(|x| Some((x.fit?, x.from_x)))
                        })
                        .flatten();
                    series.push(Line {
                        label: sname.to_string(),
                        points,
                        fit,
                    });
                }
                LineChart {
                    file: format!("{name}-{file}"),
                    title: title.to_string(),
                    x_label: if batch {
                        "frames per system call (batch)".into()
                    } else {
                        "chain length (NFs)".into()
                    },
                    y_label: y_label.to_string(),
                    log_x: batch,
                    log_y,
                    series,
                }
            };
            if batch {
                lines.push(line(
                    "syscalls.svg",
                    "NF system calls per frame",
                    "system calls per frame",
                    true,
                    "",
                    &|s| s.syscalls_per_frame.map(|v| v.median),
                ));
                lines.push(line(
                    "cpu.svg",
                    "NF CPU time per frame",
                    "CPU us per frame",
                    false,
                    "",
                    &|s| s.cpu_us_per_frame.map(|v| v.median),
                ));
                lines.push(line(
                    "median.svg",
                    "median latency",
                    "median latency (us)",
                    true,
                    "",
                    &|s| s.latency_us.get("p50").map(|v| v.median),
                ));
            } else {
                // One chart per interconnect (the series' first word): readable legends.
                let ics = distinct(
                    summaries
                        .iter()
                        .filter_map(|s| s.series.split_whitespace().next()),
                );
                for ic in ics {
                    let prefix = format!("{ic} ");
                    lines.push(line(
                        &format!("median-{ic}.svg"),
                        &format!("{ic}: median latency vs chain length (fit from 2 NFs on)"),
                        "median latency (us)",
                        true,
                        &prefix,
                        &|s| s.latency_us.get("p50").map(|v| v.median),
                    ));
                    lines.push(line(
                        &format!("wait-over-run-{ic}.svg"),
                        &format!("{ic}: Wait/RunTime of the chain (Table 5)"),
                        "Wait/RunTime",
                        true,
                        &prefix,
                        &|s| s.wait_over_run.map(|v| v.median),
                    ));
                    lines.push(line(
                        &format!("contention-over-run-{ic}.svg"),
                        &format!("{ic}: SchedContention/RunTime of the chain (Table 5)"),
                        "SchedContention/RunTime",
                        false,
                        &prefix,
                        &|s| s.contention_over_run.map(|v| v.median),
                    ));
                }
            }
        }
    }
    boxes.retain(|b| !b.boxes.is_empty());
    lines.retain(|l| !l.series.is_empty());
    (boxes, lines)
}

fn draw_err<E: std::fmt::Display>(file: &Path) -> impl Fn(E) -> ExperimentError + '_ {
    move |e| ExperimentError::Plot(file.to_path_buf(), e.to_string())
}

/// A log range that holds `lo..hi` with some room, in decades.
fn log_range(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let lo = lo.max(1e-3);
    let hi = hi.max(lo * 1.5);
    (lo / 1.6)..(hi * 1.6)
}

const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(0, 0, 0),
    RGBColor(188, 189, 34),
    RGBColor(128, 128, 128),
    RGBColor(0, 128, 128),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// Draws a boxplot chart into `path` (latency on a log axis).
pub fn render_box(chart: &BoxChart, path: &Path) -> Result<(), ExperimentError> {
    let err = draw_err(path);
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let lo = chart
        .boxes
        .iter()
        .map(|b| b.p1)
        .fold(f64::INFINITY, f64::min);
    let hi = chart.boxes.iter().map(|b| b.p99).fold(0.0, f64::max);
    let yr = log_range(lo, hi);
    let xs: Vec<f64> = chart.boxes.iter().map(|b| b.x).collect();
    let (xmin, xmax) = (
        xs.iter().copied().fold(f64::INFINITY, f64::min),
        xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let color = PALETTE[0];
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(&chart.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    // Box half-width in x units (log-x: a factor).
    if chart.log_x {
        let xr = (xmin / 1.6)..(xmax * 1.6);
        let mut c = builder
            .build_cartesian_2d(xr.log_scale(), yr.log_scale())
            .map_err(&err)?;
        c.configure_mesh()
            .x_desc(&chart.x_label)
            .y_desc("one-way latency (us), log scale")
            .draw()
            .map_err(&err)?;
        let k = 1.18f64;
        draw_boxes(&mut c, chart, color, |x| (x / k, x * k), &err)?;
        draw_fit(&mut c, chart.fit, xmax, &err)?;
    } else {
        let pad = if chart.categorical { 0.6 } else { 0.8 };
        let xr = (xmin - pad)..(xmax + pad);
        let mut c = builder
            .build_cartesian_2d(xr, yr.log_scale())
            .map_err(&err)?;
        let labels: Vec<(f64, String)> =
            chart.boxes.iter().map(|b| (b.x, b.label.clone())).collect();
        let fmt = |v: &f64| {
            labels
                .iter()
                .find(|(x, _)| (x - v).abs() < 1e-6)
                .map_or(String::new(), |(_, l)| l.clone())
        };
        let integer = |v: &f64| {
            if (v - v.round()).abs() < 1e-6 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        };
        let mut mesh = c.configure_mesh();
        mesh.x_desc(&chart.x_label)
            .y_desc("one-way latency (us), log scale");
        if chart.categorical {
            mesh.x_labels(chart.boxes.len() * 2 + 1)
                .x_label_formatter(&fmt);
        } else {
            mesh.x_labels(((xmax - xmin) as usize + 2) * 2)
                .x_label_formatter(&integer);
        }
        mesh.draw().map_err(&err)?;
        let w = 0.3;
        draw_boxes(&mut c, chart, color, |x| (x - w, x + w), &err)?;
        draw_fit(&mut c, chart.fit, xmax, &err)?;
    }
    root.present().map_err(&err)?;
    Ok(())
}

fn draw_boxes<'a, DB, X, F>(
    c: &mut ChartContext<'a, DB, Cartesian2d<X, LogCoord<f64>>>,
    chart: &BoxChart,
    color: RGBColor,
    span: F,
    err: &dyn Fn(DrawingAreaErrorKind<DB::ErrorType>) -> ExperimentError,
) -> Result<(), ExperimentError>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    F: Fn(f64) -> (f64, f64),
{
    for b in &chart.boxes {
        let (l, r) = span(b.x);
        let fill = color.mix(BOX_OPACITY).filled();
        c.draw_series(std::iter::once(Rectangle::new(
            [(l, b.p25), (r, b.p75)],
            fill,
        )))
        .map_err(err)?;
        let stroke = color.stroke_width(1);
        c.draw_series(std::iter::once(Rectangle::new(
            [(l, b.p25), (r, b.p75)],
            stroke,
        )))
        .map_err(err)?;
        let black = BLACK.stroke_width(2);
        c.draw_series(std::iter::once(PathElement::new(
            vec![(l, b.p50), (r, b.p50)],
            black,
        )))
        .map_err(err)?;
        let (wl, wr) = {
            let (l2, r2) = span(b.x);
            let mid = (l2 + r2) / 2.0;
            (mid - (mid - l2) / 2.0, mid + (r2 - mid) / 2.0)
        };
        let mid = (l + r) / 2.0;
        let thin = color.stroke_width(1);
        for (from, to) in [(b.p1, b.p25), (b.p75, b.p99)] {
            c.draw_series(std::iter::once(PathElement::new(
                vec![(mid, from), (mid, to)],
                thin,
            )))
            .map_err(err)?;
        }
        for y in [b.p1, b.p99] {
            c.draw_series(std::iter::once(PathElement::new(
                vec![(wl, y), (wr, y)],
                thin,
            )))
            .map_err(err)?;
        }
        if b.loss > 0.0 {
            c.draw_series(std::iter::once(Text::new(
                format!("loss {:.1}%", b.loss * 100.0),
                (l, b.p99 * 1.15),
                ("sans-serif", 12).into_font().color(&RED),
            )))
            .map_err(err)?;
        }
    }
    Ok(())
}

fn draw_fit<'a, DB, X>(
    c: &mut ChartContext<'a, DB, Cartesian2d<X, LogCoord<f64>>>,
    fit: Option<(Fit, f64)>,
    xmax: f64,
    err: &dyn Fn(DrawingAreaErrorKind<DB::ErrorType>) -> ExperimentError,
) -> Result<(), ExperimentError>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
{
    let Some((f, from)) = fit else {
        return Ok(());
    };
    let pts: Vec<(f64, f64)> = (0..=40)
        .map(|i| from + (xmax - from) * i as f64 / 40.0)
        .map(|x| (x, f.at(x)))
        .filter(|(_, y)| *y > 0.0)
        .collect();
    let label = format!("fit: {:.1} us x NFs {:+.1} us", f.slope, f.intercept);
    c.draw_series(DashedLineSeries::new(pts, 6, 4, RED.stroke_width(2)))
        .map_err(err)?
        .label(label)
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Draws a line chart into `path`.
pub fn render_lines(chart: &LineChart, path: &Path) -> Result<(), ExperimentError> {
    let err = draw_err(path);
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let all: Vec<(f64, f64)> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .collect();
    let fx = |f: fn(f64, f64) -> f64, init: f64, g: fn(&(f64, f64)) -> f64| {
        all.iter().map(g).fold(init, f)
    };
    let (xmin, xmax) = (
        fx(f64::min, f64::INFINITY, |p| p.0),
        fx(f64::max, f64::NEG_INFINITY, |p| p.0),
    );
    let (ymin, ymax) = (
        fx(f64::min, f64::INFINITY, |p| p.1),
        fx(f64::max, f64::NEG_INFINITY, |p| p.1),
    );
    let mut b = ChartBuilder::on(&root);
    b.caption(&chart.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    macro_rules! body {
        ($c:expr) => {{
            let mut c = $c;
            c.configure_mesh()
                .x_desc(&chart.x_label)
                .y_desc(&chart.y_label)
                .draw()
                .map_err(&err)?;
            for (i, s) in chart.series.iter().enumerate() {
                let col = PALETTE[i % PALETTE.len()];
                c.draw_series(LineSeries::new(s.points.clone(), col.stroke_width(2)))
                    .map_err(&err)?
                    .label(s.label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2))
                    });
                c.draw_series(
                    s.points
                        .iter()
                        .map(|&(x, y)| Circle::new((x, y), 3, col.filled())),
                )
                .map_err(&err)?;
                if let Some((f, from)) = s.fit {
                    let x1 = s.points.iter().map(|p| p.0).fold(from, f64::max);
                    let pts: Vec<(f64, f64)> = (0..=20)
                        .map(|k| from + (x1 - from) * k as f64 / 20.0)
                        .map(|x| (x, f.at(x)))
                        .filter(|(_, y)| !chart.log_y || *y > 0.0)
                        .collect();
                    c.draw_series(DashedLineSeries::new(pts, 5, 4, col.stroke_width(1)))
                        .map_err(&err)?
                        .label(format!("  fit {:.1}x {:+.1}", f.slope, f.intercept))
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(1))
                        });
                }
            }
            c.configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 11))
                .draw()
                .map_err(&err)?;
        }};
    }
    let ypad_lin = ((ymax - ymin).abs() * 0.1).max(ymax.abs() * 0.05).max(1e-3);
    match (chart.log_x, chart.log_y) {
        (true, true) => body!(
            b.build_cartesian_2d(
                ((xmin / 1.3)..(xmax * 1.3)).log_scale(),
                log_range(ymin, ymax).log_scale()
            )
            .map_err(&err)?
        ),
        (true, false) => body!(
            b.build_cartesian_2d(
                ((xmin / 1.3)..(xmax * 1.3)).log_scale(),
                (ymin.min(0.0))..(ymax + ypad_lin)
            )
            .map_err(&err)?
        ),
        (false, true) => body!(
            b.build_cartesian_2d(
                (xmin - 0.5)..(xmax + 0.5),
                log_range(ymin, ymax).log_scale()
            )
            .map_err(&err)?
        ),
        (false, false) => body!(
            b.build_cartesian_2d(
                (xmin - 0.5)..(xmax + 0.5),
                (ymin.min(0.0))..(ymax + ypad_lin)
            )
            .map_err(&err)?
        ),
    }
    root.present().map_err(&err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::record::tests::{nf, report};
    use crate::experiment::record::{Row, RowContext};
    use crate::experiment::summary::{fits, summarize};

    fn rows(series: &[&str], xs: &[f64]) -> Vec<Row> {
        let mut v = Vec::new();
        for s in series {
            for &x in xs {
                v.push(Row::of(
                    RowContext {
                        phase: "point".into(),
                        point: format!("{s}/{x}"),
                        config: format!("{s}/{x}"),
                        series: s.to_string(),
                        label: format!("{x}"),
                        x,
                        regime: "75% of capacity".into(),
                        ..RowContext::default()
                    },
                    &report(100, 100, 10.0 * x + 20.0, vec![nf("r1", 100, true)]),
                ));
            }
        }
        v
    }

    #[test]
    fn chain_length_charts_have_one_box_per_length_and_the_fit() {
        let s = summarize(&rows(
            &["b2b default mmsg32", "b2b batch-19 mmsg32"],
            &[1.0, 2.0, 4.0, 8.0],
        ));
        let f = fits(&s, 2.0);
        let (boxes, lines) = charts(CampaignName::ChainLength, &s, &f);
        assert_eq!(boxes.len(), 2);
        assert_eq!(
            boxes[0].file,
            "chain-length-b2b-default-mmsg32-75-of-capacity.svg"
        );
        assert_eq!(boxes[0].boxes.len(), 4);
        let (fit, from) = boxes[0].fit.unwrap();
        assert_eq!(from, 2.0);
        assert!((fit.slope - 10.0).abs() < 1e-9);
        let b = &boxes[0].boxes[2];
        assert_eq!((b.x, b.p50, b.p25, b.p75), (4.0, 60.0, 48.0, 72.0));
        assert_eq!((b.p1, b.p99), (30.0, 180.0));
        let median = lines
            .iter()
            .find(|l| l.file == "chain-length-median-b2b.svg")
            .unwrap();
        assert_eq!(median.series.len(), 2);
        // one set of line charts per interconnect
        assert_eq!(lines.len(), 3);
        assert!(median.series[0].fit.is_some());
    }

    #[test]
    fn rendered_svg_has_the_boxes() {
        let s = summarize(&rows(&["64 B"], &[1.0, 2.0, 4.0]));
        let (boxes, lines) = charts(CampaignName::BatchSweep, &s, &[]);
        let dir = std::env::temp_dir().join(format!("scc-plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(&boxes[0].file);
        render_box(&boxes[0], &p).unwrap();
        let svg = std::fs::read_to_string(&p).unwrap();
        let n = svg.matches(&format!("opacity=\"{BOX_OPACITY}\"")).count();
        assert_eq!(n, 3, "{svg}");
        for l in &lines {
            render_lines(l, &dir.join(&l.file)).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
