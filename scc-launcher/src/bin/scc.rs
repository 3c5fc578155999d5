//! The `scc` command line: `scc run|profile|check FILE`, `scc sysbench`, `scc experiment NAME`,
//! each with `--json`.
//! (`scc nf ...` is the hidden entry point the launcher uses to start an NF in its namespace.)

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Parser, Subcommand};
use scc_launcher::chain::{Chain, ChainError, HostInfo, Mode};
use scc_launcher::plan::DeployPlan;
use scc_launcher::run::{RunOptions, privilege_refusal, run_chain, stop_on_signals};

/// The hidden flag marking the copy of `scc` re-executed inside its own user namespace. It only
/// stops a second re-execution (and words an error); whether the launcher holds host privileges
/// is decided from the OS ([`scc_launcher::privilege::host_root`]), never from a flag or an
/// environment variable the caller could set.
const INNER_FLAG: &str = "--rootless-inner";

#[derive(Parser)]
#[command(
    name = "scc",
    version,
    about = "SCC: profile and accelerate NFV service chains on commodity Linux",
    long_about = "SCC deploys a service chain described in a TOML/JSON file into network \
                  namespaces, drives traffic through it, and schedules (run-time mode) or \
                  profiles (profile mode) its NFs. Without root, it runs the chain inside a \
                  user namespace of its own."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Deploy a chain, run its traffic in the file's mode, report, tear down.
    Run(RunArgs),
    /// Like `run`, but in profile mode: the profiler is attached to every NF.
    Profile(RunArgs),
    /// Validate a chain file (no side effects) and show what would be deployed.
    Check {
        /// Chain file (TOML, or JSON).
        file: PathBuf,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
        /// Check as if the NFs ran with this executable (as `scc run --nf-exe PATH`).
        #[arg(long, value_name = "PATH")]
        nf_exe: Option<PathBuf>,
    },
    /// Measure this host's latency table (memory, context switches, syscalls) and save it.
    Sysbench {
        /// Short run (ends within 20 s).
        #[arg(long)]
        quick: bool,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
        /// Where to save the table (default: ~/.cache/scc/sysbench.json, or $SCC_LATENCY_TABLE).
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// Remove what an `scc` killed with SIGKILL left: its cgroups (moving host tasks that
    /// `schedule.isolate` confined back first; needs root) and its Open vSwitch folders.
    Cleanup {
        /// One JSON object on stdout: `{"actions": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Run a measurement campaign that redoes the paper's figures (`scc experiment list`).
    Experiment(ExperimentArgs),
    /// Run one NF (used by the launcher inside the NF's namespace).
    #[command(hide = true, disable_help_flag = true)]
    Nf {
        /// Arguments of the NF (`router --rx IF --tx IF ...`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Chain file (TOML, or JSON).
    file: PathBuf,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Print deployment events (namespaces, links, NF PIDs, teardown) on stderr.
    #[arg(short, long)]
    verbose: bool,
    /// No progress line on stderr.
    #[arg(long)]
    no_progress: bool,
    /// Run the NFs with this executable (the scc-nf command-line contract) instead of `scc nf`.
    #[arg(long, value_name = "PATH")]
    nf_exe: Option<PathBuf>,
    /// Profile mode: before the run, count each NF's memory references under valgrind's
    /// cachegrind (10 000 packets over in-memory ports); they stand in for the L1/L3/DRAM
    /// counts the host's PMU cannot give, labelled `simulated` (user space only).
    #[arg(long)]
    simulate: bool,
    /// Capture every NF port into DIR/<interface>.pcap (every frame received and sent, with
    /// timestamps; readable by tcpdump and Wireshark). Off by default.
    #[arg(long, value_name = "DIR")]
    capture: Option<PathBuf>,
    /// Set by `scc` itself on its copy inside a user namespace of its own.
    #[arg(long = "rootless-inner", hide = true)]
    rootless_inner: bool,
}

#[derive(clap::Args)]
struct ExperimentArgs {
    /// Campaign (`drivers`, `batch-sweep`, `chain-length`), or `list`.
    name: String,
    /// The short form (ends within a minute).
    #[arg(long)]
    quick: bool,
    /// Output folder for the CSV, JSON and SVG files (default: results/NAME).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The campaign's JSON report on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Repeat every point N times (default 3, or 1 with --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100))]
    repeat: Option<u64>,
    /// Print each run's deployment events (namespaces, NF PIDs, teardown) on stderr.
    #[arg(short, long)]
    verbose: bool,
    /// Run the NFs with this executable (the scc-nf contract) instead of `scc nf`.
    #[arg(long, value_name = "PATH")]
    nf_exe: Option<PathBuf>,
    /// Measure nothing: draw the plots again from NAME.json in --out DIR.
    #[arg(long)]
    replot: bool,
    /// Set by `scc` itself on its copy inside a user namespace of its own.
    #[arg(long = "rootless-inner", hide = true)]
    rootless_inner: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run(a) => cmd_run(a, None),
        Cmd::Profile(a) => cmd_run(a, Some(Mode::Profile)),
        Cmd::Check { file, json, nf_exe } => cmd_check(&file, json, nf_exe.as_deref()),
        Cmd::Sysbench { quick, json, save } => cmd_sysbench(quick, json, save),
        Cmd::Cleanup { json } => cmd_cleanup(json),
        Cmd::Experiment(a) => cmd_experiment(a),
        Cmd::Nf { args } => cmd_nf(args),
    }
}

/// Loads and validates `file`; `nf_exe` is the command line's `--nf-exe` (never the
/// environment's).
fn load(file: &Path, nf_exe: Option<&Path>) -> Result<Chain, ChainError> {
    let chain = Chain::load(file)?;
    let mut problems = chain.problems(&HostInfo::detect());
    problems.extend(chain.file_problems(file.parent().unwrap_or(Path::new("."))));
    problems.extend(scc_launcher::fusion::exe_refusal(&chain, nf_exe));
    if problems.is_empty() {
        Ok(chain)
    } else {
        Err(ChainError::Invalid(problems))
    }
}

fn report_chain_error(file: &Path, e: &ChainError, json: bool) -> ExitCode {
    if json {
        let errors: Vec<_> = e
            .field_errors()
            .into_iter()
            .map(|f| serde_json::json!({"path": f.path, "reason": f.reason}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"file": file, "valid": false, "errors": errors})
        );
    } else {
        eprintln!("scc: {}: {e}", file.display());
    }
    ExitCode::from(2)
}

fn cmd_check(file: &Path, json: bool, nf_exe: Option<&Path>) -> ExitCode {
    let chain = match load(file, nf_exe) {
        Ok(c) => c,
        Err(e) => return report_chain_error(file, &e, json),
    };
    let base = file.parent().unwrap_or(Path::new("."));
    let online = scc_sched::online_cpus().unwrap_or_default();
    let plan = match DeployPlan::new(&chain, base, &online) {
        Ok(p) => p,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"file": file, "valid": false,
                        "errors": [{"path": plan_error_path(&e), "reason": e.to_string()}]})
                );
            } else {
                eprintln!("scc: {}: {e}", file.display());
            }
            return ExitCode::from(2);
        }
    };
    let needs_root = chain.privileged_fields();
    if json {
        let nfs: Vec<_> = plan
            .nfs
            .iter()
            .map(|p| {
                serde_json::json!({"name": p.name, "kind": p.kind.name(), "core": p.core,
                    "rx": p.rx, "tx": p.tx, "namespace": plan.namespaces[p.ns].label(),
                    "argv": p.argv})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"file": file, "valid": true, "chain": chain.name,
                "needs_root": needs_root,
                "namespaces": plan.namespaces.iter().map(|n| n.label()).collect::<Vec<_>>(),
                "nfs": nfs, "schedule": plan.sched.plan,
                "plan": scc_launcher::fusion::plan_summary(&chain)})
        );
    } else {
        println!("{}: valid chain `{}`", file.display(), chain.name);
        let summary = scc_launcher::fusion::plan_summary(&chain);
        println!("  plan {}: {}", summary.kind, summary.why);
        for g in &summary.gives_up {
            println!("  gives up: {g}");
        }
        print!("{}", plan.describe());
        if !needs_root.is_empty() {
            println!("  needs root for: {}", needs_root.join(", "));
        }
    }
    ExitCode::SUCCESS
}

fn cmd_run(a: RunArgs, force_mode: Option<Mode>) -> ExitCode {
    let chain = match load(&a.file, a.nf_exe.as_deref()) {
        Ok(c) => c,
        Err(e) => return report_chain_error(&a.file, &e, a.json),
    };
    let inner = a.rootless_inner;
    if !inner && !scc_io::netns::have_net_admin() {
        if let Some(msg) = privilege_refusal(&chain) {
            eprintln!("{msg}");
            return ExitCode::from(1);
        }
        return reexec_rootless();
    }
    let stop = Arc::new(AtomicBool::new(false));
    if let Err(e) = stop_on_signals(&stop) {
        eprintln!("scc: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    let mut opts = match RunOptions::new(Arc::clone(&stop)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("scc: cannot find the scc executable: {e}");
            return ExitCode::from(1);
        }
    };
    opts.base = a
        .file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    opts.mode = force_mode.unwrap_or(chain.mode);
    opts.simulate = a.simulate;
    if let Some(exe) = a.nf_exe {
        opts.nf_exe = Some(exe);
    }
    opts.capture = a.capture;
    opts.progress = !a.no_progress && is_tty_stderr();
    if a.verbose {
        opts.log = Box::new(|l| eprintln!("scc: {l}"));
    }
    match run_chain(&chain, opts) {
        Ok(report) => {
            if a.json {
                match report.to_json() {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("scc: cannot encode the report: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                print!("{}", report.to_text());
                if let Some(t) = &report.profile_table {
                    println!("\nprofile:\n{t}");
                }
            }
            if report.interrupted {
                ExitCode::from(130)
            } else if report.hosts.as_ref().is_some_and(|h| h.client_failed()) {
                // Real hosts: the client's failure is the run's (its exit is in the report).
                ExitCode::from(4)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("scc: {e}");
            if inner && e.to_string().contains("permission denied") {
                eprintln!(
                    "scc: hint: this host restricts unprivileged user namespaces (e.g. Ubuntu's \
                     kernel.apparmor_restrict_unprivileged_userns=1); run as root or allow them"
                );
            }
            ExitCode::from(e.exit_code())
        }
    }
}

fn is_tty_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// Runs this same command again inside a fresh user + network namespace (uid 0 inside), so an
/// ordinary user can deploy a chain; forwards SIGINT/SIGTERM and returns the child's exit code.
fn reexec_rootless() -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("scc: cannot find the scc executable: {e}");
            return ExitCode::from(1);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    if let Err(e) = stop_on_signals(&stop) {
        eprintln!("scc: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    // `scc run|profile|experiment --rootless-inner ARGS...`: the flag right after the subcommand, so it
    // can never land after a `--`.
    let mut args = std::env::args_os().skip(1);
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args.next()).arg(INNER_FLAG).args(args);
    scc_io::netns::command_in_new_user_netns(&mut cmd);
    scc_launcher::run::die_with_parent(&mut cmd, libc::SIGTERM);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "scc: cannot create a user namespace for the chain ({e}); this host may forbid \
                 unprivileged user namespaces (kernel.unprivileged_userns_clone / \
                 apparmor_restrict_unprivileged_userns): run as root instead"
            );
            return ExitCode::from(1);
        }
    };
    let mut forwarded = false;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                use std::os::unix::process::ExitStatusExt;
                return match (st.code(), st.signal()) {
                    (Some(c), _) => ExitCode::from(c.clamp(0, 255) as u8),
                    (None, Some(s)) => ExitCode::from((128 + s).clamp(0, 255) as u8),
                    _ => ExitCode::from(1),
                };
            }
            Ok(None) => {}
            Err(e) => {
                eprintln!("scc: waiting for the chain: {e}");
                return ExitCode::from(1);
            }
        }
        if stop.load(Ordering::Relaxed) && !forwarded {
            forwarded = true;
            let _ = scc_launcher::run::signal_child(child.id(), libc::SIGTERM);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn cmd_sysbench(quick: bool, json: bool, save: Option<PathBuf>) -> ExitCode {
    use scc_profiler::sysbench::{SysbenchOptions, SysbenchReport};
    let opts = if quick {
        SysbenchOptions::quick()
    } else {
        SysbenchOptions::full()
    };
    let report = match SysbenchReport::run(&opts, quick) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("scc sysbench: {e}");
            return ExitCode::from(1);
        }
    };
    let path = save.unwrap_or_else(scc_launcher::profile::host_table_path);
    let saved = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .map_err(|e| e.to_string())
        .and_then(|_| report.save(&path).map_err(|e| e.to_string()));
    if json {
        match serde_json::to_string(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("scc sysbench: cannot encode the report: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", report.render_table());
    }
    match saved {
        Ok(()) => eprintln!("scc sysbench: latency table saved to {}", path.display()),
        Err(e) => eprintln!("scc sysbench: could not save to {}: {e}", path.display()),
    }
    ExitCode::SUCCESS
}

fn cmd_cleanup(json: bool) -> ExitCode {
    let actions = scc_launcher::run::cleanup();
    if json {
        println!("{}", serde_json::json!({ "actions": actions }));
    } else if actions.is_empty() {
        println!("scc cleanup: nothing left by a killed scc");
    } else {
        for a in &actions {
            println!("scc cleanup: {a}");
        }
    }
    if !scc_launcher::privilege::host_root() {
        eprintln!("scc cleanup: not root: cgroups were not looked at");
    }
    ExitCode::SUCCESS
}

fn cmd_experiment(a: ExperimentArgs) -> ExitCode {
    use scc_launcher::experiment::{self, Campaign, CampaignName, ExperimentOptions, Progress};
    if a.name == "list" {
        print!("{}", experiment::list_text());
        return ExitCode::SUCCESS;
    }
    let Some(name) = CampaignName::parse(&a.name) else {
        let names: Vec<&str> = experiment::CAMPAIGNS.iter().map(|c| c.0.name()).collect();
        eprintln!(
            "scc experiment: unknown campaign `{}` (one of: {}, or `list`)",
            a.name,
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    let out = a
        .out
        .unwrap_or_else(|| PathBuf::from("results").join(name.name()));
    if a.replot {
        return match experiment::replot(&out, name) {
            Ok(files) => {
                println!("{} plots redrawn in {}", files.len(), out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("scc experiment: {e}");
                ExitCode::from(1)
            }
        };
    }
    if !a.rootless_inner && !scc_io::netns::have_net_admin() {
        return reexec_rootless();
    }
    let stop = Arc::new(AtomicBool::new(false));
    if let Err(e) = stop_on_signals(&stop) {
        eprintln!("scc: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    let campaign = Campaign::new(
        name,
        a.quick,
        a.repeat.map(|r| r as usize),
        experiment::host_caps(),
    );
    let opts = ExperimentOptions {
        out,
        stop: Arc::clone(&stop),
        exe: None,
        nf_exe: a.nf_exe,
        progress: if is_tty_stderr() {
            Progress::Bar
        } else {
            Progress::Lines
        },
        verbose: a.verbose,
    };
    let report = match experiment::run_campaign(&campaign, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("scc experiment: {e}");
            return ExitCode::from(1);
        }
    };
    if a.json {
        match serde_json::to_string(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("scc experiment: cannot encode the report: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        println!(
            "{} ({}), {} runs, load before: {}, after: {}",
            report.campaign,
            report.reproduces,
            report.rows.len(),
            report.machine.uptime_start,
            report.machine.uptime_end
        );
        print!("{}", experiment::summary::table(&report.summary));
        for f in report.fits.iter().filter(|f| f.points.len() >= 2) {
            if let Some(fit) = f.fit {
                println!(
                    "fit {} ({}): median = {:.1} us x NFs {:+.1} us (r2 {}) from {} NFs on",
                    f.series,
                    f.regime,
                    fit.slope,
                    fit.intercept,
                    fit.r2.map_or("-".into(), |r| format!("{r:.3}")),
                    f.from_x
                );
            }
        }
        for s in &report.skipped {
            println!("skipped: {s}");
        }
        let failed = report
            .rows
            .iter()
            .filter(|r| r.error.is_some() && !r.interrupted)
            .count();
        if failed > 0 {
            println!("{failed} runs failed (their `error` column says why)");
        }
        println!("files in {}: {}", opts.out.display(), report.files.len());
    }
    if report.interrupted {
        eprintln!(
            "scc experiment: interrupted; the {} runs measured so far are in {}",
            report.rows.len(),
            opts.out.display()
        );
        ExitCode::from(130)
    } else if report.summary.is_empty() {
        eprintln!("scc experiment: no point was measured");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn cmd_nf(args: Vec<String>) -> ExitCode {
    scc_nf::cli::main_from_args(std::iter::once("scc nf".to_string()).chain(args))
}

fn plan_error_path(e: &scc_launcher::plan::PlanError) -> &'static str {
    match e {
        scc_launcher::plan::PlanError::Sched(_) => "schedule",
        _ => "nf",
    }
}
