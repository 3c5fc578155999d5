//! # `scc experiment`: campaigns that redo the paper's figures and tables
//!
//! A campaign is a list of generated chains ([`campaign`]; each one an ordinary chain file,
//! [`spec`]), measured by normal [`run_chain`](crate::run::run_chain) runs, so deployment,
//! accounting and teardown are the launcher's. Each chain is measured at fixed fractions of
//! its own capacity, found first by a short search for the highest rate with < 0.1% loss
//! ([`search`]), or at fixed common rates; every point is repeated and summarized as medians
//! with min-max ([`stats`], [`summary`]). The results go to one CSV and one JSON file
//! ([`record`], [`runner`]) and SVG plots like the paper's ([`plot`]).
//!
//! - `drivers` (Fig. 4, Table 4): one router as Linux kernel forwarding (`kind = "kernel"`)
//!   and as scc-nf with each I/O driver ([`campaign::DRIVER_VARIANTS`]).
//! - `batch-sweep` (Fig. 8, Table 7): batch 1..256 x 64/128/256/1500-byte frames.
//! - `chain-length` (Figs. 5, 9, 10, Tables 5 and 8): 1..8 routers on one core per
//!   interconnect, scheduling and I/O ([`campaign::CHAIN_SERIES`]).
//!
//! The pure parts (generation, search, fit, aggregation, plot data) are tested without
//! privileges; [`runner::run_campaign`] needs what `scc run` needs (CAP_NET_ADMIN, e.g. inside
//! the user namespace `scc` makes for an ordinary user).
//!
//! Dependencies: `plotters` (SVG backend only: plots without system fonts or libraries),
//! `indicatif` (the progress bar on a terminal), `csv` (quoting and headers of the CSV file).
//!
//! ```no_run
//! use std::sync::{Arc, atomic::AtomicBool};
//! use scc_launcher::experiment::{Campaign, CampaignName, ExperimentOptions, HostCaps, Progress};
//!
//! let caps = HostCaps { root: false, ovs: false, kernel_nf: true };
//! let campaign = Campaign::new(CampaignName::BatchSweep, true, None, caps);
//! let opts = ExperimentOptions {
//!     out: "results/batch-sweep".into(),
//!     stop: Arc::new(AtomicBool::new(false)),
//!     exe: None,
//!     nf_exe: None,
//!     progress: Progress::Lines,
//!     verbose: false,
//! };
//! let report = scc_launcher::experiment::run_campaign(&campaign, &opts)?;
//! print!("{}", scc_launcher::experiment::summary::table(&report.summary));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;

pub mod campaign;
pub mod plot;
pub mod record;
pub mod runner;
pub mod search;
pub mod spec;
pub mod stats;
pub mod summary;

pub use campaign::{CAMPAIGNS, Campaign, CampaignName, Config, HostCaps, Point, Regime};
pub use runner::{CampaignReport, ExperimentOptions, Progress, replot, run_campaign};
pub use spec::{ChainSpec, Sched};

/// Errors of a campaign (a failed run is a row with its error, not an error of the campaign).
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// A generated chain is invalid (a bug of the campaign's generation).
    #[error("generated chain: {0}")]
    Chain(#[from] crate::chain::ChainError),
    /// A run failed.
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    /// This executable (the `scc` that runs `scc nf ...`) could not be found.
    #[error("cannot find the scc executable: {0}")]
    Exe(#[source] std::io::Error),
    /// An output file could not be written.
    #[error("{}: {}", .0.display(), .1)]
    Write(PathBuf, #[source] std::io::Error),
    /// The CSV writer failed.
    #[error("csv: {0}")]
    Csv(String),
    /// The JSON encoder failed.
    #[error("json: {0}")]
    Json(String),
    /// A plot could not be drawn.
    #[error("plot {}: {}", .0.display(), .1)]
    Plot(PathBuf, String),
}

/// What this host allows a campaign: host root, a usable Open vSwitch, and whether the
/// launcher knows `kind = "kernel"` NFs.
pub fn host_caps() -> HostCaps {
    let host = crate::chain::HostInfo::detect();
    let root = crate::privilege::host_root();
    let tun_ok = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .is_ok();
    HostCaps {
        root,
        ovs: host.ovs && (root || tun_ok),
        kernel_nf: ChainSpec {
            nf_kind: "kernel".into(),
            ..ChainSpec::router("probe")
        }
        .chain(1000, 1.0)
        .is_ok(),
    }
}

/// The text of `scc experiment list`.
pub fn list_text() -> String {
    let mut s = String::new();
    for (c, reproduces, what) in CAMPAIGNS {
        let quick = Campaign::new(*c, true, None, host_caps());
        let full = Campaign::new(*c, false, None, host_caps());
        s.push_str(&format!(
            "{:<13} reproduces {reproduces}\n{:13} {what}\n{:13} {} configurations; at most ~{:.0} s (--quick: ~{:.0} s)\n\n",
            c.name(),
            "",
            "",
            full.configs.len(),
            full.estimate_s(),
            quick.estimate_s()
        ));
    }
    s
}

/// File-name form of an id (`b2b default mmsg32/n4` -> `b2b-default-mmsg32-n4`).
pub(crate) fn slug(id: &str) -> String {
    let mut o = String::new();
    for c in id.chars() {
        if c.is_ascii_alphanumeric() {
            o.push(c.to_ascii_lowercase());
        } else if c == '+' {
            o.push('p');
        } else if !o.ends_with('-') {
            o.push('-');
        }
    }
    o.trim_matches('-').to_string()
}
