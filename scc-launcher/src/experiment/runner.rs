//! Running a campaign (OS side): every trial and point is a normal [`run_chain`] of a
//! generated chain (deployment, accounting and teardown are the launcher's). The CSV and
//! JSON files are rewritten after every run, so an interrupted campaign keeps what it
//! measured; the plots are drawn at the end (also after an interruption).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;

use super::campaign::{Campaign, CampaignName, Regime};
use super::plot;
use super::record::{Row, RowContext, write_csv};
use super::search::{CapacitySearch, SearchResult, Trial};
use super::spec::ChainSpec;
use super::summary::{self, PointSummary, SeriesFit};
use super::{ExperimentError, slug};
use crate::chain::HostInfo;
use crate::run::{RunError, RunOptions, run_chain};

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// An indicatif bar (for a terminal).
    Bar,
    /// One plain line per run (not a terminal).
    Lines,
    /// Nothing.
    Quiet,
}

/// Settings of a campaign run that do not come from the campaign.
pub struct ExperimentOptions {
    /// Output folder (created).
    pub out: PathBuf,
    /// Set by SIGINT/SIGTERM: the running chain stops and is torn down, the campaign ends.
    pub stop: Arc<AtomicBool>,
    /// The `scc` executable that runs `scc nf ...` (default: this executable).
    pub exe: Option<PathBuf>,
    /// An NF executable with the scc-nf contract instead of `scc nf`.
    pub nf_exe: Option<PathBuf>,
    /// Progress display.
    pub progress: Progress,
    /// Print the launcher's deployment events (`scc: nf r1 pid ...`) on stderr.
    pub verbose: bool,
}

/// The machine and its load while the campaign ran.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Online CPUs.
    pub cpus: usize,
    /// `uname -r`.
    pub kernel: String,
    /// Running as host root.
    pub root: bool,
    /// `uptime` before the first run.
    pub uptime_start: String,
    /// `uptime` after the last run.
    pub uptime_end: String,
    /// 1/5/15-minute load averages before the first run.
    pub loadavg_start: Option<[f64; 3]>,
    /// ... and after the last.
    pub loadavg_end: Option<[f64; 3]>,
}

/// A capacity search's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct SearchOutcome {
    /// Search id.
    pub id: String,
    /// Result (capacity, steps).
    pub result: SearchResult,
}

/// Everything a campaign produced: the JSON file (and `scc experiment --json`).
#[derive(Debug, Clone, Serialize)]
pub struct CampaignReport {
    /// Campaign name.
    pub campaign: String,
    /// What it reproduces.
    pub reproduces: String,
    /// What it does.
    pub description: String,
    /// Quick form.
    pub quick: bool,
    /// Repeats per point.
    pub repeat: usize,
    /// Traffic seconds per point.
    pub duration_s: f64,
    /// Traffic seconds per search trial.
    pub search_duration_s: f64,
    /// UTC start (`date -u`).
    pub started_utc: String,
    /// UTC end.
    pub ended_utc: String,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// SIGINT/SIGTERM ended the campaign early: the rows are those measured until then.
    pub interrupted: bool,
    /// Machine and load.
    pub machine: Machine,
    /// Capacity searches.
    pub searches: Vec<SearchOutcome>,
    /// Every run (search trials and points), in order.
    pub rows: Vec<Row>,
    /// Per point: medians with min-max over the repeats.
    pub summary: Vec<PointSummary>,
    /// Per series: linear fit of the median latency from x = 2 on.
    pub fits: Vec<SeriesFit>,
    /// What was left out, and why.
    pub skipped: Vec<String>,
    /// Files written (relative to the output folder).
    pub files: Vec<String>,
}

fn cmd_out(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The load averages from `/proc/loadavg`.
pub fn loadavg() -> Option<[f64; 3]> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// `uptime` as the command prints it.
pub fn uptime() -> String {
    cmd_out("uptime", &[])
}

fn utc_now() -> String {
    cmd_out("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"])
}

struct Runner<'a> {
    c: &'a Campaign,
    opts: &'a ExperimentOptions,
    report: CampaignReport,
    host: HostInfo,
    bar: Option<indicatif::ProgressBar>,
    done: usize,
    planned: usize,
    start: Instant,
    failures_in_a_row: usize,
    chains_written: Vec<String>,
}

impl Runner<'_> {
    fn stopped(&self) -> bool {
        self.opts.stop.load(Ordering::Relaxed)
    }

    fn say(&self, line: &str) {
        match (&self.bar, self.opts.progress) {
            (Some(b), _) => b.println(line),
            (None, Progress::Lines) => eprintln!("{line}"),
            _ => {}
        }
    }

    fn run_one(&mut self, spec: &ChainSpec, rate: f64, duration: f64, ctx: RowContext) -> Row {
        let what = format!("{} {} at {rate:.0} pps", ctx.config, ctx.phase);
        if let Some(b) = &self.bar {
            b.set_message(what.clone());
        }
        let rate_u = rate.round().max(1.0) as u64;
        let mut ctx = ctx;
        ctx.load1 = loadavg().map(|l| l[0]);
        let row = match self.chain_and_run(spec, rate_u, duration) {
            Ok(rep) => Row::of(ctx, &rep),
            Err(e) => {
                let interrupted = matches!(e, ExperimentError::Run(RunError::Interrupted));
                Row::failed(ctx, e.to_string(), interrupted)
            }
        };
        self.done += 1;
        if let Some(b) = &self.bar {
            b.set_position(self.done as u64);
        }
        let el = self.start.elapsed().as_secs_f64();
        let left = if self.done > 0 {
            el / self.done as f64 * self.planned.saturating_sub(self.done) as f64
        } else {
            0.0
        };
        let result = match (&row.error, row.loss_fraction, &row.latency_us) {
            (Some(e), _, _) => format!("failed: {e}"),
            (None, Some(l), Some(lat)) => format!(
                "lost {:.2}%, p50 {:.0} us, p99 {:.0} us",
                l * 100.0,
                lat.p50,
                lat.p99
            ),
            (None, Some(l), None) => format!("lost {:.2}%, no latency", l * 100.0),
            _ => "no traffic result".into(),
        };
        let line = format!(
            "scc experiment: [{}/{}] {what}: {result} (elapsed {el:.0} s, ~{left:.0} s left)",
            self.done, self.planned
        );
        if self.bar.is_none() {
            self.say(&line);
        }
        if row.error.is_some() && !row.interrupted {
            self.failures_in_a_row += 1;
        } else {
            self.failures_in_a_row = 0;
        }
        // The chain file of each configuration, as it was first run.
        let cfg_file = format!("chains/{}.toml", slug(&row.ctx.config));
        if !self.chains_written.contains(&cfg_file) {
            let p = self.opts.out.join(&cfg_file);
            if std::fs::write(&p, spec.to_toml(rate_u, duration)).is_ok() {
                self.chains_written.push(cfg_file);
            }
        }
        row
    }

    fn chain_and_run(
        &self,
        spec: &ChainSpec,
        rate: u64,
        duration: f64,
    ) -> Result<crate::run::RunReport, ExperimentError> {
        let chain = spec.chain(rate, duration)?;
        chain.validate(&self.host)?;
        let mut o = RunOptions::new(Arc::clone(&self.opts.stop)).map_err(ExperimentError::Exe)?;
        if let Some(exe) = &self.opts.exe {
            o.exe = exe.clone();
        }
        if self.opts.nf_exe.is_some() {
            o.nf_exe = self.opts.nf_exe.clone();
        }
        o.progress = false;
        if self.opts.verbose {
            o.log = Box::new(|l| eprintln!("scc: {l}"));
        }
        Ok(run_chain(&chain, o)?)
    }

    fn push(&mut self, row: Row) -> Result<(), ExperimentError> {
        self.report.rows.push(row);
        self.write_data()
    }

    fn write_data(&mut self) -> Result<(), ExperimentError> {
        let name = self.c.name.name();
        let out = &self.opts.out;
        write_csv(&out.join(format!("{name}.csv")), &self.report.rows)?;
        self.report.summary = summary::summarize(&self.report.rows);
        if self.c.name == CampaignName::ChainLength {
            self.report.fits = summary::fits(&self.report.summary, 2.0);
        }
        self.report.ended_utc = utc_now();
        self.report.elapsed_s = self.start.elapsed().as_secs_f64();
        write_json(&out.join(format!("{name}.json")), &self.report)
    }

    fn ctx(&self, phase: &str, point: String, cfg: Option<usize>, spec: &ChainSpec) -> RowContext {
        let (config, series, label, x) = match cfg {
            Some(i) => {
                let c = &self.c.configs[i];
                (c.id.clone(), c.series.clone(), c.label.clone(), c.x)
            }
            None => (point.clone(), String::new(), String::new(), 0.0),
        };
        RowContext {
            campaign: self.c.name.name().into(),
            phase: phase.into(),
            point,
            config,
            series,
            label,
            x,
            params: spec
                .params()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            ..RowContext::default()
        }
    }

    fn searches(&mut self) -> Result<(), ExperimentError> {
        for s in &self.c.searches {
            let mut search = CapacitySearch::new(s.params);
            let mut trials = 0;
            while let Some(rate) = search.next_rate() {
                if self.stopped() || self.failures_in_a_row >= 5 {
                    break;
                }
                let mut ctx = self.ctx("search", s.id.clone(), None, &s.spec);
                ctx.regime = "search".into();
                ctx.duration_s = self.c.search_duration_s;
                let row = self.run_one(&s.spec, rate, self.c.search_duration_s, ctx);
                trials += 1;
                if !row.interrupted {
                    search.record(Trial {
                        offered_pps: row.offered_pps.unwrap_or(rate),
                        achieved_pps: row.achieved_pps.unwrap_or(0.0),
                        sent: row.sent.unwrap_or(0),
                        received: row.received.unwrap_or(0),
                        p99_us: row.latency_us.as_ref().map(|l| l.p99),
                        duration_s: self.c.search_duration_s,
                    });
                }
                self.push(row)?;
            }
            // Trials the search did not need.
            self.planned -= s.params.max_trials - trials.min(s.params.max_trials);
            if let Some(b) = &self.bar {
                b.set_length(self.planned as u64);
            }
            let r = search.result();
            self.say(&format!(
                "scc experiment: capacity of {}: {}",
                s.id,
                match (r.capacity_pps, r.generator_bound) {
                    (Some(c), false) => format!("{c:.0} pps"),
                    (Some(c), true) => format!("{c:.0} pps (the generator's limit)"),
                    (None, _) => "none (loses frames or queues at every rate tried)".into(),
                }
            ));
            self.report.searches.push(SearchOutcome {
                id: s.id.clone(),
                result: r,
            });
            if self.stopped() {
                break;
            }
        }
        Ok(())
    }

    fn points(&mut self) -> Result<(), ExperimentError> {
        let points = self.c.points();
        for rep in 0..self.c.repeat {
            for p in &points {
                if self.stopped() || self.failures_in_a_row >= 5 {
                    return Ok(());
                }
                let cfg = &self.c.configs[p.config];
                let capacity = cfg.search.as_ref().and_then(|id| {
                    self.report
                        .searches
                        .iter()
                        .find(|s| &s.id == id)
                        .and_then(|s| s.result.capacity_pps)
                });
                let rate = match p.regime {
                    Regime::Fixed(r) => r,
                    Regime::Capacity(f) => match capacity {
                        Some(c) => c * f,
                        None => {
                            let why = format!(
                                "{}: no capacity found (search {})",
                                self.c.point_id(p),
                                cfg.search.as_deref().unwrap_or("-")
                            );
                            if !self.report.skipped.contains(&why) {
                                self.report.skipped.push(why);
                            }
                            self.planned = self.planned.saturating_sub(1);
                            continue;
                        }
                    },
                };
                let mut ctx = self.ctx("point", self.c.point_id(p), Some(p.config), &cfg.spec);
                ctx.regime = p.regime.label();
                ctx.repeat = rep;
                ctx.duration_s = self.c.duration_s;
                if let Regime::Capacity(f) = p.regime {
                    ctx.fraction = Some(f);
                    ctx.capacity_pps = capacity;
                }
                let spec = cfg.spec.clone();
                let row = self.run_one(&spec, rate, self.c.duration_s, ctx);
                self.push(row)?;
            }
        }
        Ok(())
    }

    fn plots(&mut self) -> Result<(), ExperimentError> {
        self.write_data()?;
        let files = replot(&self.opts.out, self.c.name)?;
        self.report.files.retain(|f| !f.ends_with(".svg"));
        self.report.files.extend(files);
        Ok(())
    }
}

/// Draws the plots of campaign `name` again from its JSON file in `dir` (its `summary` and
/// `fits`), e.g. after the plotting changed; returns the files written.
pub fn replot(dir: &Path, name: CampaignName) -> Result<Vec<String>, ExperimentError> {
    #[derive(serde::Deserialize)]
    struct Saved {
        summary: Vec<PointSummary>,
        #[serde(default)]
        fits: Vec<SeriesFit>,
    }
    let path = dir.join(format!("{}.json", name.name()));
    let text =
        std::fs::read_to_string(&path).map_err(|e| ExperimentError::Write(path.clone(), e))?;
    let saved: Saved = serde_json::from_str(&text)
        .map_err(|e| ExperimentError::Json(format!("{}: {e}", path.display())))?;
    let (boxes, lines) = plot::charts(name, &saved.summary, &saved.fits);
    let mut files = Vec::new();
    for b in &boxes {
        plot::render_box(b, &dir.join(&b.file))?;
        files.push(b.file.clone());
    }
    for l in &lines {
        plot::render_lines(l, &dir.join(&l.file))?;
        files.push(l.file.clone());
    }
    // The JSON lists the plots now there; plots it listed that were not redrawn go.
    let mut v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ExperimentError::Json(e.to_string()))?;
    if let Some(list) = v.get_mut("files").and_then(|f| f.as_array_mut()) {
        for old in list.iter().filter_map(|f| f.as_str()) {
            if old.ends_with(".svg") && !files.iter().any(|f| f == old) && !old.contains('/') {
                let _ = std::fs::remove_file(dir.join(old));
            }
        }
        list.retain(|f| f.as_str().is_some_and(|f| !f.ends_with(".svg")));
        list.extend(files.iter().map(|f| serde_json::Value::from(f.as_str())));
        write_json(&path, &v)?;
    }
    Ok(files)
}

/// Writes `v` as pretty JSON through a temporary file.
pub fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), ExperimentError> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(v).map_err(|e| ExperimentError::Json(e.to_string()))?;
    let io = |e| ExperimentError::Write(path.to_path_buf(), e);
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Runs campaign `c` into `opts.out`: capacity searches, then every point `repeat` times
/// (round-robin over the points, so the repeats are spread over time), then the plots.
/// Returns the report also when SIGINT/SIGTERM interrupted it (`interrupted: true`).
pub fn run_campaign(
    c: &Campaign,
    opts: &ExperimentOptions,
) -> Result<CampaignReport, ExperimentError> {
    let io = |e| ExperimentError::Write(opts.out.clone(), e);
    std::fs::create_dir_all(opts.out.join("chains")).map_err(io)?;
    let started = utc_now();
    let machine = Machine {
        cpus: HostInfo::detect().cores(),
        kernel: cmd_out("uname", &["-r"]),
        root: crate::privilege::host_root(),
        uptime_start: uptime(),
        uptime_end: String::new(),
        loadavg_start: loadavg(),
        loadavg_end: None,
    };
    let planned = c.planned_runs();
    let bar = (opts.progress == Progress::Bar).then(|| {
        let b = indicatif::ProgressBar::new(planned as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} (ETA {eta}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b.set_prefix(c.name.name());
        b
    });
    let mut r = Runner {
        c,
        opts,
        report: CampaignReport {
            campaign: c.name.name().into(),
            reproduces: c.name.reproduces().into(),
            description: c.name.description().into(),
            quick: c.quick,
            repeat: c.repeat,
            duration_s: c.duration_s,
            search_duration_s: c.search_duration_s,
            started_utc: started,
            ended_utc: String::new(),
            elapsed_s: 0.0,
            interrupted: false,
            machine,
            searches: Vec::new(),
            rows: Vec::new(),
            summary: Vec::new(),
            fits: Vec::new(),
            skipped: c.skipped.clone(),
            files: Vec::new(),
        },
        host: HostInfo::detect(),
        bar,
        done: 0,
        planned,
        start: Instant::now(),
        failures_in_a_row: 0,
        chains_written: Vec::new(),
    };
    r.say(&format!(
        "scc experiment {}: {} configurations, {} searches, repeat {}, about {:.0} s at most; load: {}",
        c.name.name(),
        c.configs.len(),
        c.searches.len(),
        c.repeat,
        c.estimate_s(),
        r.report.machine.uptime_start
    ));
    for s in &c.skipped {
        r.say(&format!("scc experiment: skipped {s}"));
    }
    r.searches()?;
    r.points()?;
    if r.failures_in_a_row >= 5 {
        r.report
            .skipped
            .push("the campaign stopped after 5 failed runs in a row".into());
    }
    r.report.interrupted = r.stopped();
    r.report.machine.uptime_end = uptime();
    r.report.machine.loadavg_end = loadavg();
    let name = c.name.name();
    r.report.files = vec![format!("{name}.csv"), format!("{name}.json")];
    r.report.files.extend(r.chains_written.iter().cloned());
    r.plots()?;
    r.write_data()?;
    if let Some(b) = &r.bar {
        b.finish_and_clear();
    }
    Ok(r.report)
}
