//! The campaigns as generated chains (pure): which configurations, which capacity searches,
//! which regimes. Adding an I/O backend or a scheduling choice is one line in
//! [`DRIVER_VARIANTS`] or [`CHAIN_SERIES`].

use serde::Serialize;

use super::search::SearchParams;
use super::spec::{ChainSpec, Sched};

/// The campaigns `scc experiment` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CampaignName {
    /// One router as kernel forwarding and as scc-nf with each I/O driver (Fig. 4, Table 4).
    Drivers,
    /// One router, batch 1..256 x frame sizes at a fixed rate (Fig. 8, Table 7).
    BatchSweep,
    /// 1..8 routers on one core over b2b, bridge and OVS, per scheduling and I/O choice
    /// (Figs. 5, 9, 10; Tables 5 and 8).
    ChainLength,
}

/// What `scc experiment list` prints: name and what it reproduces.
pub const CAMPAIGNS: &[(CampaignName, &str, &str)] = &[
    (
        CampaignName::Drivers,
        "Fig. 4, Table 4, Findings 1-3",
        "one router as Linux kernel forwarding, as scc-nf with each I/O driver and behind Open \
         vSwitch: capacity \
         (highest rate with < 0.1% loss), latency and CPU per frame at common rates and at \
         25/75/110% of each one's capacity",
    ),
    (
        CampaignName::BatchSweep,
        "Fig. 8, Table 7, Sec. 6.1's batching gains",
        "one router, mmsg batch 1..256 x 64/128/256/1500-byte frames at one rate (75% of the \
         batch-1 router's capacity): latency percentiles, syscalls and CPU per frame",
    ),
    (
        CampaignName::ChainLength,
        "Figs. 5, 9, 10, Tables 5 and 8, Sec. 6.2's scheduling gains",
        "1..8 routers on one core, b2b / bridge / OVS, default, batch (nice -1, -19), FIFO, RR \
         and EEVDF-slice scheduling, packet and mmsg 2/16/32 I/O, at 75% of each length's \
         capacity (25% and 110% for the reference series): linear fit of the median from 2 NFs \
         on, p25-p75 spread, p99/p50, Wait/RunTime and SchedContention/RunTime",
    ),
];

impl CampaignName {
    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            CampaignName::Drivers => "drivers",
            CampaignName::BatchSweep => "batch-sweep",
            CampaignName::ChainLength => "chain-length",
        }
    }

    /// By CLI name.
    pub fn parse(s: &str) -> Option<CampaignName> {
        CAMPAIGNS.iter().map(|c| c.0).find(|c| c.name() == s)
    }

    /// What it reproduces of the paper.
    pub fn reproduces(self) -> &'static str {
        CAMPAIGNS.iter().find(|c| c.0 == self).map_or("", |c| c.1)
    }

    /// One-paragraph description.
    pub fn description(self) -> &'static str {
        CAMPAIGNS.iter().find(|c| c.0 == self).map_or("", |c| c.2)
    }
}

/// The router variants of the `drivers` campaign: `(label, nf kind, I/O driver,
/// interconnect)`. One line per I/O backend; `ovs+mmsg` is Finding 3's router behind the
/// switch (left out where Open vSwitch is not usable).
pub const DRIVER_VARIANTS: &[(&str, &str, &str, &str)] = &[
    ("kernel", "kernel", "mmsg", "b2b"),
    ("packet", "router", "packet", "b2b"),
    ("mmsg", "router", "mmsg", "b2b"),
    ("ring", "router", "ring", "b2b"),
    ("ovs+mmsg", "router", "mmsg", "ovs"),
];

/// The batch sizes of `batch-sweep` (full form).
pub const BATCHES: &[usize] = &[1, 2, 4, 8, 16, 32, 64, 128, 256];
/// The frame sizes of `batch-sweep` (full form).
pub const FRAME_SIZES: &[usize] = &[64, 128, 256, 1500];

/// A series of the `chain-length` campaign: `(interconnect, scheduling, driver, batch)`.
pub type SeriesDef = (&'static str, Sched, &'static str, usize);

/// The series of `chain-length`, one line per combination; the first of each interconnect is
/// the reference whose capacity defines the rates.
pub const CHAIN_SERIES: &[SeriesDef] = &[
    ("b2b", Sched::Default, "mmsg", 32),
    ("b2b", Sched::Batch(-1), "mmsg", 32),
    ("b2b", Sched::Batch(-19), "mmsg", 32),
    ("b2b", Sched::Fifo, "mmsg", 32),
    ("b2b", Sched::Rr(100), "mmsg", 32),
    ("b2b", Sched::Slice(100_000), "mmsg", 32),
    ("b2b", Sched::Default, "packet", 1),
    ("b2b", Sched::Batch(-19), "packet", 1),
    ("b2b", Sched::Batch(-19), "mmsg", 2),
    ("b2b", Sched::Batch(-19), "mmsg", 16),
    ("bridge", Sched::Default, "mmsg", 32),
    ("bridge", Sched::Batch(-19), "mmsg", 32),
    ("ovs", Sched::Default, "mmsg", 32),
    ("ovs", Sched::Batch(-19), "mmsg", 32),
];
/// Chain lengths of `chain-length` (full form; Table 5's lengths).
pub const CHAIN_LENGTHS: &[usize] = &[1, 2, 4, 8];

/// At which offered rate a point is measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// A fixed rate (pps).
    Fixed(f64),
    /// A fraction of the capacity found by the configuration's search.
    Capacity(f64),
}

impl Regime {
    /// `20000 pps` | `75% of capacity`.
    pub fn label(&self) -> String {
        match self {
            Regime::Fixed(r) => format!("{r:.0} pps"),
            Regime::Capacity(f) => format!("{:.0}% of capacity", f * 100.0),
        }
    }

    /// Short form for ids and file names (`20kpps`, `cap75`).
    pub fn slug(&self) -> String {
        match self {
            Regime::Fixed(r) if *r >= 1000.0 && r % 1000.0 == 0.0 => {
                format!("{:.0}kpps", r / 1000.0)
            }
            Regime::Fixed(r) => format!("{r:.0}pps"),
            Regime::Capacity(f) => format!("cap{:.0}", f * 100.0),
        }
    }
}

/// A capacity search of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchSpec {
    /// Its id (the configurations that use it name it).
    pub id: String,
    /// The chain searched.
    #[serde(skip)]
    pub spec: ChainSpec,
    /// How.
    pub params: SearchParams,
}

/// One configuration of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Unique id (`driver=mmsg`, `b2b-default-mmsg32/n4`).
    pub id: String,
    /// The plot series it belongs to.
    pub series: String,
    /// Its label in the series (`mmsg`, `batch 4`, `4 NFs`).
    pub label: String,
    /// Its numeric x (variant index, batch, chain length).
    pub x: f64,
    /// The chain.
    #[serde(skip)]
    pub spec: ChainSpec,
    /// The search whose capacity defines its capacity regimes.
    pub search: Option<String>,
    /// Rates it is measured at.
    pub regimes: Vec<Regime>,
}

/// One point: a configuration at one regime.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Index into [`Campaign::configs`].
    pub config: usize,
    /// The regime.
    pub regime: Regime,
}

/// What the host allows (decides which configurations a campaign contains).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCaps {
    /// Host root (real-time policies, negative nice).
    pub root: bool,
    /// `ovs-vswitchd` usable.
    pub ovs: bool,
    /// The launcher supports `kind = "kernel"` NFs.
    pub kernel_nf: bool,
}

/// A generated campaign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Campaign {
    /// Which.
    pub name: CampaignName,
    /// The quick form.
    pub quick: bool,
    /// Repeats of every point.
    pub repeat: usize,
    /// Traffic seconds of a point.
    pub duration_s: f64,
    /// Traffic seconds of a search trial.
    pub search_duration_s: f64,
    /// Capacity searches (run first).
    pub searches: Vec<SearchSpec>,
    /// Configurations.
    pub configs: Vec<Config>,
    /// What was left out on this host, and why.
    pub skipped: Vec<String>,
}

impl Campaign {
    /// Generates campaign `name`; `repeat` defaults to 3 (full) or 1 (quick).
    pub fn new(name: CampaignName, quick: bool, repeat: Option<usize>, host: HostCaps) -> Self {
        let repeat = repeat.unwrap_or(if quick { 1 } else { 3 }).max(1);
        let mut c = Campaign {
            name,
            quick,
            repeat,
            duration_s: if quick { 0.5 } else { 2.0 },
            search_duration_s: if quick { 0.5 } else { 1.0 },
            searches: Vec::new(),
            configs: Vec::new(),
            skipped: Vec::new(),
        };
        match name {
            CampaignName::Drivers => c.drivers(host),
            CampaignName::BatchSweep => c.batch_sweep(),
            CampaignName::ChainLength => c.chain_length(host),
        }
        c
    }

    fn search_params(&self, start_pps: f64) -> SearchParams {
        SearchParams {
            start_pps,
            max_trials: if self.quick { 3 } else { 7 },
            ..SearchParams::default()
        }
    }

    fn drivers(&mut self, host: HostCaps) {
        if !self.quick {
            self.duration_s = 3.0;
        }
        let regimes = if self.quick {
            vec![Regime::Fixed(20_000.0), Regime::Capacity(0.75)]
        } else {
            vec![
                Regime::Fixed(20_000.0),
                Regime::Fixed(100_000.0),
                Regime::Capacity(0.25),
                Regime::Capacity(0.75),
                Regime::Capacity(1.10),
            ]
        };
        for (i, (label, kind, driver, ic)) in DRIVER_VARIANTS.iter().enumerate() {
            if *kind == "kernel" && !host.kernel_nf {
                self.skipped.push(format!(
                    "{label}: this launcher has no `kind = \"kernel\"` NF"
                ));
                continue;
            }
            if *ic == "ovs" && !host.ovs {
                self.skipped.push(format!(
                    "{label}: Open vSwitch (ovs-vswitchd) is not usable here"
                ));
                continue;
            }
            let spec = ChainSpec {
                nf_kind: kind.to_string(),
                driver: driver.to_string(),
                interconnect: ic.to_string(),
                ..ChainSpec::router(&format!("x-drv-{}", super::slug(label)))
            };
            let id = format!("driver={label}");
            self.searches.push(SearchSpec {
                id: id.clone(),
                spec: spec.clone(),
                params: self.search_params(40_000.0),
            });
            self.configs.push(Config {
                id: id.clone(),
                series: "router".into(),
                label: label.to_string(),
                x: i as f64,
                spec,
                search: Some(id),
                regimes: regimes.clone(),
            });
        }
    }

    fn batch_sweep(&mut self) {
        let (batches, sizes): (&[usize], &[usize]) = if self.quick {
            (&[1, 32, 256], &[64, 1500])
        } else {
            (BATCHES, FRAME_SIZES)
        };
        let base = ChainSpec::router("x-batch");
        let search_id = "batch=1,frame=64".to_string();
        self.searches.push(SearchSpec {
            id: search_id.clone(),
            spec: ChainSpec {
                batch: 1,
                ..base.clone()
            },
            params: self.search_params(40_000.0),
        });
        for &size in sizes {
            for &batch in batches {
                self.configs.push(Config {
                    id: format!("batch={batch},frame={size}"),
                    series: format!("{size} B"),
                    label: format!("{batch}"),
                    x: batch as f64,
                    spec: ChainSpec {
                        batch,
                        frame_size: size,
                        ..base.clone()
                    },
                    search: Some(search_id.clone()),
                    regimes: vec![Regime::Capacity(0.75)],
                });
            }
        }
    }

    fn chain_length(&mut self, host: HostCaps) {
        if !self.quick {
            self.duration_s = 1.5;
        }
        let (series, lengths): (Vec<SeriesDef>, &[usize]) = if self.quick {
            (
                vec![
                    ("b2b", Sched::Default, "mmsg", 32),
                    ("b2b", Sched::Slice(100_000), "mmsg", 32),
                ],
                &[1, 2],
            )
        } else {
            (CHAIN_SERIES.to_vec(), CHAIN_LENGTHS)
        };
        for (si, (ic, sched, driver, batch)) in series.iter().enumerate() {
            let name = series_name(ic, *sched, driver, *batch);
            if sched.needs_root() && !host.root {
                self.skipped
                    .push(format!("{name}: {} needs root", sched.label()));
                continue;
            }
            if *ic == "ovs" && !host.ovs {
                self.skipped.push(format!(
                    "{name}: Open vSwitch (ovs-vswitchd) is not usable here"
                ));
                continue;
            }
            for &n in lengths {
                let spec = ChainSpec {
                    nfs: n,
                    interconnect: ic.to_string(),
                    driver: driver.to_string(),
                    batch: *batch,
                    sched: *sched,
                    ..ChainSpec::router(&format!("x-len-{n}"))
                };
                // The reference series of each interconnect (the first of it) defines the
                // rates: every scheduling and I/O choice of that length and interconnect is
                // offered the same load.
                let search_id = format!("{ic}/n{n}");
                if !self.searches.iter().any(|s| s.id == search_id) {
                    self.searches.push(SearchSpec {
                        id: search_id.clone(),
                        spec: spec.clone(),
                        params: self.search_params(if n >= 4 { 10_000.0 } else { 40_000.0 }),
                    });
                }
                let reference = si == 0;
                let regimes = if reference && !self.quick {
                    vec![
                        Regime::Capacity(0.25),
                        Regime::Capacity(0.75),
                        Regime::Capacity(1.10),
                    ]
                } else {
                    vec![Regime::Capacity(0.75)]
                };
                self.configs.push(Config {
                    id: format!("{name}/n{n}"),
                    series: name.clone(),
                    label: format!("{n} NFs"),
                    x: n as f64,
                    spec,
                    search: Some(search_id),
                    regimes,
                });
            }
        }
    }

    /// Every point, in configuration order.
    pub fn points(&self) -> Vec<Point> {
        self.configs
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                c.regimes.iter().map(move |r| Point {
                    config: i,
                    regime: *r,
                })
            })
            .collect()
    }

    /// The point's id (`config @ regime`).
    pub fn point_id(&self, p: &Point) -> String {
        format!("{} @ {}", self.configs[p.config].id, p.regime.slug())
    }

    /// Runs the campaign will make at most (search trials + points x repeats).
    pub fn planned_runs(&self) -> usize {
        self.searches
            .iter()
            .map(|s| s.params.max_trials)
            .sum::<usize>()
            + self.points().len() * self.repeat
    }

    /// Rough upper bound of the wall time in seconds (0.6 s of deployment per run).
    pub fn estimate_s(&self) -> f64 {
        let trials: usize = self.searches.iter().map(|s| s.params.max_trials).sum();
        trials as f64 * (self.search_duration_s + 0.6)
            + (self.points().len() * self.repeat) as f64 * (self.duration_s + 0.6)
    }
}

/// `b2b default mmsg32` / `ovs batch-19 packet`.
pub fn series_name(ic: &str, sched: Sched, driver: &str, batch: usize) -> String {
    if driver == "packet" {
        format!("{ic} {} packet", sched.label())
    } else {
        format!("{ic} {} {driver}{batch}", sched.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::HostInfo;

    const ALL: HostCaps = HostCaps {
        root: true,
        ovs: true,
        kernel_nf: true,
    };
    #[test]
    fn this_launcher_has_kernel_nfs() {
        assert!(crate::experiment::host_caps().kernel_nf);
    }

    const USER: HostCaps = HostCaps {
        root: false,
        ovs: false,
        kernel_nf: true,
    };

    fn host() -> HostInfo {
        HostInfo::with_cores(2, true)
    }

    #[test]
    fn every_generated_chain_is_valid_and_uniquely_named() {
        for (name, _, _) in CAMPAIGNS {
            for quick in [true, false] {
                let c = Campaign::new(*name, quick, None, ALL);
                assert!(!c.configs.is_empty());
                let mut ids: Vec<&str> = c.configs.iter().map(|c| c.id.as_str()).collect();
                ids.sort();
                ids.dedup();
                assert_eq!(ids.len(), c.configs.len(), "{name:?}: duplicate ids");
                for cfg in &c.configs {
                    let chain = cfg.spec.chain(10_000, c.duration_s).unwrap();
                    chain.validate(&host()).unwrap();
                    let s = cfg.search.as_ref().unwrap();
                    assert!(c.searches.iter().any(|x| &x.id == s), "{s}");
                }
                for s in &c.searches {
                    s.spec.chain(10_000, c.search_duration_s).unwrap();
                }
                assert_eq!(c.repeat, if quick { 1 } else { 3 });
            }
        }
    }

    #[test]
    fn the_quick_forms_fit_in_a_minute_and_the_full_ones_in_ten() {
        for (name, _, _) in CAMPAIGNS {
            let q = Campaign::new(*name, true, None, ALL);
            assert!(
                q.estimate_s() < 50.0,
                "{name:?} quick: {} s",
                q.estimate_s()
            );
            let f = Campaign::new(*name, false, None, ALL);
            assert!(
                f.estimate_s() < 600.0,
                "{name:?} full: {} s",
                f.estimate_s()
            );
        }
    }

    #[test]
    fn batch_sweep_is_the_papers_grid_at_one_rate() {
        let c = Campaign::new(CampaignName::BatchSweep, false, None, ALL);
        assert_eq!(c.configs.len(), BATCHES.len() * FRAME_SIZES.len());
        assert_eq!(c.searches.len(), 1);
        assert_eq!(c.searches[0].spec.batch, 1);
        assert!(
            c.configs
                .iter()
                .all(|x| x.regimes == [Regime::Capacity(0.75)])
        );
        let b4 = c
            .configs
            .iter()
            .find(|x| x.id == "batch=4,frame=1500")
            .unwrap();
        assert_eq!((b4.spec.batch, b4.spec.frame_size, b4.x), (4, 1500, 4.0));
        assert_eq!(c.points().len(), 36);
    }

    #[test]
    fn drivers_has_every_variant_with_common_rates_and_capacity_fractions() {
        let c = Campaign::new(CampaignName::Drivers, false, None, ALL);
        let labels: Vec<&str> = c.configs.iter().map(|x| x.label.as_str()).collect();
        assert_eq!(labels, ["kernel", "packet", "mmsg", "ring", "ovs+mmsg"]);
        assert_eq!(c.configs[4].spec.interconnect, "ovs");
        assert_eq!(c.configs[0].spec.nf_kind, "kernel");
        assert_eq!(c.configs[3].spec.driver, "ring");
        for cfg in &c.configs {
            assert!(cfg.regimes.contains(&Regime::Fixed(20_000.0)));
            for f in [0.25, 0.75, 1.10] {
                assert!(cfg.regimes.contains(&Regime::Capacity(f)));
            }
        }
        let without = Campaign::new(
            CampaignName::Drivers,
            false,
            None,
            HostCaps {
                kernel_nf: false,
                ..ALL
            },
        );
        assert_eq!(without.configs.len(), 4);
        assert!(without.skipped[0].starts_with("kernel:"));
        let user = Campaign::new(CampaignName::Drivers, false, None, USER);
        assert_eq!(user.configs.len(), 4);
        assert!(user.skipped[0].starts_with("ovs+mmsg:"));
    }

    #[test]
    fn chain_length_leaves_out_what_the_host_cannot_run_and_says_so() {
        let all = Campaign::new(CampaignName::ChainLength, false, None, ALL);
        assert_eq!(all.configs.len(), CHAIN_SERIES.len() * CHAIN_LENGTHS.len());
        assert!(all.skipped.is_empty());
        // one search per interconnect and length
        assert_eq!(all.searches.len(), 3 * CHAIN_LENGTHS.len());
        let user = Campaign::new(CampaignName::ChainLength, false, None, USER);
        assert!(user.configs.iter().all(|c| !c.spec.needs_root()));
        assert!(user.configs.iter().all(|c| c.spec.interconnect != "ovs"));
        assert!(user.skipped.iter().any(|s| s.contains("fifo needs root")));
        assert!(user.skipped.iter().any(|s| s.contains("Open vSwitch")));
        // same load for every series of one length and interconnect
        let n4: Vec<_> = all
            .configs
            .iter()
            .filter(|c| c.x == 4.0 && c.spec.interconnect == "b2b")
            .collect();
        assert!(n4.iter().all(|c| c.search.as_deref() == Some("b2b/n4")));
        // the reference series has the three regimes
        let r = &all.configs[0];
        assert_eq!(r.series, "b2b default mmsg32");
        assert_eq!(r.regimes.len(), 3);
    }

    #[test]
    fn repeat_and_point_ids() {
        let c = Campaign::new(CampaignName::BatchSweep, true, Some(2), ALL);
        assert_eq!(c.repeat, 2);
        let p = &c.points()[0];
        assert_eq!(c.point_id(p), "batch=1,frame=64 @ cap75");
        assert_eq!(Regime::Fixed(20_000.0).slug(), "20kpps");
        assert_eq!(Regime::Fixed(20_000.0).label(), "20000 pps");
        assert_eq!(Regime::Capacity(1.1).label(), "110% of capacity");
        assert_eq!(
            CampaignName::parse("chain-length"),
            Some(CampaignName::ChainLength)
        );
        assert_eq!(CampaignName::parse("nope"), None);
    }
}
