//! The `scc-nf` command line, as a library function so that other binaries (the `scc` launcher)
//! can run an NF by re-executing themselves with an `nf` subcommand.
//!
//! ```text
//! scc-nf router   --rx IF --tx IF --io packet|mmsg|ring --batch N --route PREFIX/LEN [--route ...]
//!                 [--routes FILE] --gw-mac MAC [--src-mac MAC] [--addr IP] [--mtu N]
//!                 [--poll sleep|busy|adaptive] [--spin-us N] [--stats-file FILE] [--config NF.toml]
//! scc-nf firewall --rx IF --tx IF ... [--rules FILE | --rule LINE ...] [--gw-mac MAC]
//! scc-nf forward  --rx IF --tx IF ... [--gw-mac MAC]
//! scc-nf run      --config NF.toml [flags overriding the file]
//! scc-nf chain    --config A.toml --config B.toml ... | --nf-toml TEXT --nf-toml TEXT ...
//!                 [--rx IF] [--tx IF] [--io ...] [--batch N]
//!                 [--poll ...] [--rx-queue-frames N]    # the NFs fused into this one process
//! scc-nf preset   router|firewall|forward      # print the preset's graph as TOML
//! ```
//! `chain` runs the NFs of the files, in order, as one run-to-completion pipeline
//! ([`crate::chain::FusedChain`]): it reads the first NF's `rx` interface and writes the last
//! NF's `tx`; the other NFs need no interface (an NF without one needs `src_mac`). `--rx` and
//! `--tx` set the chain's two ends; `--io`, `--batch`, `--poll`, `--spin-us` and
//! `--rx-queue-frames` apply to the whole chain (default: the first NF's). It prints a
//! [`ChainCounters`] object whose `nfs` holds one [`NfCounters`] per NF.
//!
//! With `--status-fd N` the NF also reports on the inherited descriptor N: `ready`, counters
//! every second and the final counters, one JSON line each ([`crate::status`]).
//! On SIGINT or SIGTERM the NF prints its [`NfCounters`] as one JSON object on stdout and exits
//! 0 (after an I/O failure it prints them too, then exits 1). Bad arguments, unreadable or malformed files (with file, line and reason) and unknown
//! interfaces exit 2; I/O failures while running exit 1.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use scc_io::link::Netlink;
use scc_io::{Driver, IoError, PortConfig, open_port};

use crate::chain::order::{ChainOrder, DEFAULT_HANDOFF_TIMEOUT};
use crate::chain::{ChainCounters, FusedChain, FusedNf, FusedOptions};
use crate::config::{Env, NfConfig, PollMode, Preset, build_pipeline};
use crate::error::{NfError, Result};
use crate::nf::{Nf, NfCounters, NfOptions};
use crate::status::{Status, StatusChannel};
use crate::wire::MacAddr;
use scc_sched::handoff::Handoff;

#[derive(Parser, Debug)]
#[command(
    name = "scc-nf",
    version,
    about = "Run one SCC network function (router, firewall, forward or a custom element graph) on two interfaces"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Click's IP router without ARPQuerier: Classifier, ArpResponder, Strip, CheckIpHeader,
    /// IpLookup, DecIpTtl, MtuCheck, EtherEncap.
    Router(NfArgs),
    /// IpFilter (ordered allow/deny rules, first match wins) in front of a MAC-rewriting forward.
    Firewall(NfArgs),
    /// A wire that rewrites MAC addresses.
    Forward(NfArgs),
    /// Run the NF described by --config (a preset or a custom [[element]] graph).
    Run(NfArgs),
    /// Run the NFs of several --config files, in order, fused into this one process (one
    /// run-to-completion pipeline; only the chain's two ends touch the kernel).
    Chain(ChainArgs),
    /// Print a preset's element graph in the NF file format (a start for a custom NF).
    Preset {
        /// router, firewall or forward.
        name: String,
    },
}

/// `scc-nf chain`'s flags.
#[derive(Args, Debug, Default)]
struct ChainArgs {
    /// NF files (TOML), in chain order (repeat the flag).
    #[arg(
        long = "config",
        value_name = "NF.toml",
        required_unless_present = "nf_toml"
    )]
    configs: Vec<String>,
    /// An NF file's text given inline, in chain order (repeat the flag; instead of --config,
    /// for launchers that keep no files).
    #[arg(long = "nf-toml", value_name = "TOML", conflicts_with = "configs")]
    nf_toml: Vec<String>,
    /// The chain's input interface (default: the first NF's `rx`).
    #[arg(long, value_name = "IF")]
    rx: Option<String>,
    /// The chain's output interface (default: the last NF's `tx`).
    #[arg(long, value_name = "IF")]
    tx: Option<String>,
    /// I/O backend of the two ends (default: the first NF's, else mmsg).
    #[arg(long, value_name = "packet|mmsg|ring", value_parser = parse_driver)]
    io: Option<Driver>,
    /// Frames per batch (default: the first NF's, else 32).
    #[arg(long, value_name = "N")]
    batch: Option<usize>,
    /// How the chain waits for input (default: the first NF's, else sleep).
    #[arg(long, value_name = "sleep|busy|adaptive", value_parser = parse_poll)]
    poll: Option<PollMode>,
    /// Adaptive polling: microseconds to keep spinning after the last frame.
    #[arg(long, value_name = "US")]
    spin_us: Option<u64>,
    /// Bound the entry port's kernel receive queue to about N frames.
    #[arg(long, value_name = "N")]
    rx_queue_frames: Option<usize>,
    /// Report `ready` (name `fused`) on this inherited descriptor once the ports are open (the
    /// counters stay on stdout: one `ChainCounters` object).
    #[arg(long, value_name = "FD")]
    status_fd: Option<i32>,
}

/// The flags shared by every NF subcommand (they override `--config`).
#[derive(Args, Debug, Default)]
struct NfArgs {
    /// NF file (TOML); flags override its values.
    #[arg(long, value_name = "NF.toml")]
    config: Option<String>,
    /// Input interface.
    #[arg(long, value_name = "IF")]
    rx: Option<String>,
    /// Output interface (default: the input interface).
    #[arg(long, value_name = "IF")]
    tx: Option<String>,
    /// I/O backend: packet (one syscall per frame), mmsg (recvmmsg/sendmmsg), ring (PACKET_MMAP).
    #[arg(long, value_name = "packet|mmsg|ring", value_parser = parse_driver)]
    io: Option<Driver>,
    /// Frames per batch (1..=1024).
    #[arg(long, value_name = "N")]
    batch: Option<usize>,
    /// How to wait for input: sleep in poll() (default), busy (spin), adaptive (spin, then sleep).
    #[arg(long, value_name = "sleep|busy|adaptive", value_parser = parse_poll)]
    poll: Option<PollMode>,
    /// Adaptive polling: microseconds to keep spinning after the last frame (default 200).
    #[arg(long, value_name = "US")]
    spin_us: Option<u64>,
    /// Bound each port's kernel receive queue to about N (64-byte) frames (default: a 4 MiB
    /// socket buffer). Excess frames are dropped by the kernel and counted in `kernel_drops`.
    #[arg(long, value_name = "N")]
    rx_queue_frames: Option<usize>,
    /// A static route `PREFIX/LEN [via MAC] [port rx|tx]` (repeatable).
    #[arg(long = "route", value_name = "PREFIX/LEN")]
    route: Vec<String>,
    /// Routes file (one route per line, see the README).
    #[arg(long, value_name = "FILE")]
    routes: Option<String>,
    /// Gateway MAC written as destination (EtherEncap / EtherRewrite).
    #[arg(long, value_name = "MAC", value_parser = parse_mac)]
    gw_mac: Option<MacAddr>,
    /// Source MAC (default: the tx interface's own).
    #[arg(long, value_name = "MAC", value_parser = parse_mac)]
    src_mac: Option<MacAddr>,
    /// The NF's own IPv4 address (ARP replies, ICMP errors); repeatable. Default: the addresses
    /// configured on the interfaces.
    #[arg(long = "addr", value_name = "IP")]
    addr: Vec<Ipv4Addr>,
    /// Firewall rules file.
    #[arg(long, value_name = "FILE")]
    rules: Option<String>,
    /// A firewall rule line (repeatable), e.g. "deny udp dport 53".
    #[arg(long = "rule", value_name = "RULE")]
    rule: Vec<String>,
    /// Output MTU for MtuCheck (default: the tx interface's MTU).
    #[arg(long, value_name = "BYTES")]
    mtu: Option<u16>,
    /// ICMP errors per second per element (0 disables them; default 100).
    #[arg(long, value_name = "N")]
    icmp_rate: Option<u64>,
    /// Append the counters as one JSON line every second to this file.
    #[arg(long, value_name = "FILE")]
    stats_file: Option<String>,
    /// Name shown in the counters.
    #[arg(long)]
    name: Option<String>,
    /// Chain order: the hand-off file (made by the launcher) of the NFs sharing this NF's
    /// core; the NF then runs one batch per turn, in chain order (see `scc_nf::chain::order`).
    #[arg(long, value_name = "FILE", requires = "handoff_index")]
    handoff: Option<String>,
    /// Chain order: this NF's position among the NFs sharing its core (0 = first).
    #[arg(long, value_name = "N", requires = "handoff")]
    handoff_index: Option<usize>,
    /// Chain order: give up after this many milliseconds without progress of the NF holding
    /// the core (default 2000).
    #[arg(long, value_name = "MS", requires = "handoff")]
    handoff_timeout_ms: Option<u64>,
    /// Report on this inherited file descriptor (a pipe), one JSON line each: `ready` once the
    /// ports are open, `counters` every second, `final` when stopping (see [`crate::status`]).
    /// The counters on stdout stay as they are.
    #[arg(long, value_name = "FD")]
    status_fd: Option<i32>,
}

fn parse_driver(s: &str) -> std::result::Result<Driver, String> {
    match s.parse::<Driver>() {
        Ok(Driver::Mem) | Err(_) => Err(format!(
            "unknown I/O driver `{s}` (expected packet, mmsg or ring)"
        )),
        Ok(d) => Ok(d),
    }
}

fn parse_poll(s: &str) -> std::result::Result<PollMode, String> {
    s.parse::<PollMode>().map_err(|e| e.to_string())
}

fn parse_mac(s: &str) -> std::result::Result<MacAddr, String> {
    s.parse::<MacAddr>().map_err(|e| e.to_string())
}

impl NfArgs {
    /// Merges the file (if any) and the flags into one configuration.
    fn into_config(self, preset: Option<Preset>) -> Result<NfConfig> {
        let mut c = match &self.config {
            Some(p) => NfConfig::load(p)?,
            None => NfConfig::default(),
        };
        if let Some(p) = preset {
            if !c.element.is_empty() {
                return Err(NfError::Config(format!(
                    "{} defines [[element]]s: run it with `scc-nf run --config FILE`",
                    self.config.as_deref().unwrap_or("the NF file")
                )));
            }
            c.preset = Some(p);
        }
        macro_rules! over {
            ($($f:ident <- $a:ident),*) => { $( if self.$a.is_some() { c.$f = self.$a; } )* };
        }
        over!(name <- name, rx <- rx, tx <- tx, io <- io, batch <- batch, poll <- poll,
              spin_us <- spin_us, rx_queue_frames <- rx_queue_frames, routes_file <- routes, gw_mac <- gw_mac, src_mac <- src_mac,
              rules_file <- rules, mtu <- mtu, icmp_rate <- icmp_rate, stats_file <- stats_file);
        c.routes.extend(self.route);
        c.addrs.extend(self.addr);
        c.rules.extend(self.rule);
        Ok(c)
    }
}

/// What an interface looks like to the NF.
fn interface(nl: &mut Netlink, name: &str) -> Result<(MacAddr, u32, Vec<Ipv4Addr>)> {
    let info = nl
        .link(name)?
        .ok_or_else(|| NfError::Io(IoError::UnknownInterface(name.to_string())))?;
    let addrs = nl
        .ipv4_addrs(name)
        .map(|v| v.into_iter().map(|a| a.0).collect())
        .unwrap_or_default();
    Ok((MacAddr(info.mac), info.mtu, addrs))
}

/// The NF's kind name for the counters (`router`, `firewall`, `forward` or `custom`).
fn kind_of(cfg: &NfConfig) -> String {
    if cfg.element.is_empty() {
        cfg.preset.map_or("custom", Preset::name).to_string()
    } else {
        "custom".to_string()
    }
}

/// The NF's environment (source MAC, MTU, own addresses) from its configuration and, where
/// they exist, its interfaces. With `need_ifaces`, `rx` and `tx` must exist (a separate NF);
/// without, an interface that does not exist is skipped (an NF inside a fused chain), and the
/// NF then needs `src_mac`; its MTU defaults to `default_mtu`.
fn resolve_env(
    cfg: &NfConfig,
    nl: &mut Netlink,
    need_ifaces: bool,
    default_mtu: u32,
) -> Result<Env> {
    let rx = cfg.rx.clone();
    let tx = cfg.tx.clone().or_else(|| rx.clone());
    let mut found = |name: &Option<String>| -> Result<Option<(MacAddr, u32, Vec<Ipv4Addr>)>> {
        match name {
            None => Ok(None),
            Some(n) => match interface(nl, n) {
                Ok(i) => Ok(Some(i)),
                Err(NfError::Io(IoError::UnknownInterface(_))) if !need_ifaces => Ok(None),
                Err(e) => Err(e),
            },
        }
    };
    let rx_info = found(&rx)?;
    let tx_info = found(&tx)?;
    let mut addrs = cfg.addrs.clone();
    if addrs.is_empty() {
        for a in rx_info
            .iter()
            .chain(tx_info.iter())
            .flat_map(|i| i.2.iter().copied())
        {
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
    }
    let src_mac = match (cfg.src_mac, &tx_info) {
        (Some(m), _) => m,
        (None, Some(i)) => i.0,
        (None, None) => {
            return Err(NfError::Config(format!(
                "NF `{}`: no src_mac and no {} interface to take it from: an NF fused into a chain without an interface of its own needs src_mac",
                cfg.name.clone().unwrap_or_else(|| kind_of(cfg)),
                tx.as_deref().unwrap_or("tx")
            )));
        }
    };
    let mtu = tx_info.as_ref().map_or(default_mtu, |i| i.1);
    Ok(Env {
        src_mac,
        gw_mac: cfg.gw_mac,
        addrs,
        mtu: cfg
            .mtu
            .unwrap_or_else(|| u16::try_from(mtu).unwrap_or(u16::MAX).max(68)),
        icmp_rate: cfg.icmp_rate.unwrap_or(100),
    })
}

fn check_batch(batch: usize) -> Result<usize> {
    if batch == 0 || batch > scc_io::MAX_BATCH {
        return Err(NfError::Io(IoError::BadBatchSize(batch)));
    }
    Ok(batch)
}

fn port_config(ifname: &str, driver: Driver, batch: usize, cfg: &NfConfig) -> PortConfig {
    let mut pc = PortConfig::new(ifname, driver, batch);
    pc.rx_queue_frames = cfg.rx_queue_frames;
    pc
}

/// Builds an NF from `cfg` in the calling thread's network namespace: resolves the interfaces
/// (MAC, MTU, addresses), builds the pipeline and opens the ports.
pub fn prepare_nf(cfg: &NfConfig) -> Result<Nf> {
    let rx = cfg
        .rx
        .clone()
        .ok_or_else(|| NfError::Config("no input interface: give --rx IF".into()))?;
    let tx = cfg.tx.clone().unwrap_or_else(|| rx.clone());
    let batch = check_batch(cfg.batch.unwrap_or(32))?;
    cfg.element_specs()?; // fail on a missing NF before touching interfaces
    let mut nl = Netlink::open()?;
    let env = resolve_env(cfg, &mut nl, true, 1500)?;
    let pipeline = build_pipeline(cfg, &env)?;
    let driver = cfg.io.unwrap_or(Driver::Mmsg);
    let mut ports = vec![open_port(&port_config(&rx, driver, batch, cfg))?];
    let map = if tx == rx {
        vec![0, 0]
    } else {
        ports.push(open_port(&port_config(&tx, driver, batch, cfg))?);
        vec![0, 1]
    };
    let kind = kind_of(cfg);
    Nf::new(
        pipeline,
        ports,
        map,
        NfOptions {
            name: cfg.name.clone().unwrap_or_else(|| kind.clone()),
            kind,
            batch,
            frame_size: scc_io::DEFAULT_FRAME_SIZE,
            poll: cfg.poll.unwrap_or_default(),
            spin: Duration::from_micros(cfg.spin_us.unwrap_or(200)),
            stats_file: cfg.stats_file.clone(),
        },
    )
}

/// Builds a fused chain of the NFs `cfgs` (in chain order) in the calling thread's network
/// namespace: the entry port on the first NF's `rx`, the exit port on the last NF's `tx` (else
/// its `rx`). I/O driver, batch, poll mode and receive queue come from the first NF's
/// configuration. NFs whose interfaces do not exist need `src_mac`; their MTU defaults to the
/// exit interface's.
pub fn prepare_fused(cfgs: &[NfConfig]) -> Result<FusedChain> {
    let (Some(first), Some(last)) = (cfgs.first(), cfgs.last()) else {
        return Err(NfError::Config(
            "a fused chain needs at least one NF".into(),
        ));
    };
    let entry_if = first
        .rx
        .clone()
        .ok_or_else(|| NfError::Config("no input interface: give --rx IF".into()))?;
    let exit_if = last
        .tx
        .clone()
        .or_else(|| last.rx.clone())
        .ok_or_else(|| NfError::Config("no output interface: give --tx IF".into()))?;
    let batch = check_batch(first.batch.unwrap_or(32))?;
    for c in cfgs {
        c.element_specs()?;
    }
    let mut nl = Netlink::open()?;
    let (_, exit_mtu, _) = interface(&mut nl, &exit_if)?;
    interface(&mut nl, &entry_if)?;
    let mut nfs = Vec::with_capacity(cfgs.len());
    let mut names = std::collections::BTreeSet::new();
    for cfg in cfgs {
        let env = resolve_env(cfg, &mut nl, false, exit_mtu)?;
        let kind = kind_of(cfg);
        let name = cfg.name.clone().unwrap_or_else(|| kind.clone());
        if !names.insert(name.clone()) {
            return Err(NfError::Config(format!(
                "two NFs of the chain are named `{name}`: give each a distinct name"
            )));
        }
        let pipeline =
            build_pipeline(cfg, &env).map_err(|e| NfError::Config(format!("NF `{name}`: {e}")))?;
        nfs.push(FusedNf {
            pipeline,
            name,
            kind,
            stats_file: cfg.stats_file.clone(),
        });
    }
    let driver = first.io.unwrap_or(Driver::Mmsg);
    let entry = open_port(&port_config(&entry_if, driver, batch, first))?;
    let exit = open_port(&port_config(&exit_if, driver, batch, first))?;
    FusedChain::new(
        nfs,
        entry,
        exit,
        FusedOptions {
            batch,
            frame_size: scc_io::DEFAULT_FRAME_SIZE,
            poll: first.poll.unwrap_or_default(),
            spin: Duration::from_micros(first.spin_us.unwrap_or(200)),
        },
    )
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Installs SIGINT and SIGTERM handlers that set the stop flag (without SA_RESTART, so a sleep in
/// poll() returns at once).
fn install_signal_handlers() -> Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; we then set a
        // handler that only stores to an atomic (async-signal-safe), and pass valid pointers to
        // sigaction (a null old-action pointer is allowed).
        let r = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if r != 0 {
            return Err(NfError::Io(IoError::last_os("sigaction")));
        }
    }
    Ok(())
}

/// Runs the NF of `cfg` until SIGINT/SIGTERM and returns its counters. When the loop fails
/// (an I/O error), the counters so far come back with the error.
pub fn run_until_signal(cfg: &NfConfig) -> Result<NfCounters, (NfError, Option<Box<NfCounters>>)> {
    run_until_signal_with(cfg, None, None)
}

/// Where an NF sits in a chain-order ring: the hand-off file, its index, the timeout.
#[derive(Debug, Clone)]
pub struct OrderArgs {
    /// The hand-off file.
    pub file: String,
    /// Position among the NFs sharing the core.
    pub index: usize,
    /// Give up after this long without progress of the holder.
    pub timeout: Duration,
}

/// [`run_until_signal`], reporting on `status` (`--status-fd`): `ready` once the ports are
/// open, the counters every second, and the final counters (also after an I/O failure); in
/// chain order when `order` is given (`--handoff`).
pub fn run_until_signal_with(
    cfg: &NfConfig,
    status: Option<StatusChannel>,
    order: Option<&OrderArgs>,
) -> Result<NfCounters, (NfError, Option<Box<NfCounters>>)> {
    install_signal_handlers().map_err(|e| (e, None))?;
    let order = match order {
        None => None,
        Some(o) => Some(ChainOrder::new(
            Handoff::open(std::path::Path::new(&o.file), o.index).map_err(|e| (e.into(), None))?,
            o.timeout,
        )),
    };
    let mut nf = prepare_nf(cfg).map_err(|e| (e, None))?;
    let reporting = status.is_some();
    if let Some(ch) = status {
        nf.set_status(ch);
        let name = nf.counters().name;
        nf.send_status(&Status::Ready {
            name,
            pid: std::process::id(),
        });
    }
    let r = match &order {
        Some(o) => o.run(&mut nf, &STOP),
        None => nf.run(&STOP),
    };
    let c = nf.counters();
    if reporting {
        nf.send_status(&Status::Final(c.clone()));
    }
    match r {
        Ok(_) => Ok(c),
        Err(e) => Err((e, Some(Box::new(c)))),
    }
}

/// The name a fused chain reports `ready` under on its status channel.
pub const FUSED_NAME: &str = "fused";

/// Runs the fused chain of `cfgs` until SIGINT/SIGTERM and returns its counters (with the error
/// and the counters so far when the loop fails).
pub fn run_fused_until_signal(
    cfgs: &[NfConfig],
    status: Option<StatusChannel>,
) -> Result<ChainCounters, (NfError, Option<Box<ChainCounters>>)> {
    install_signal_handlers().map_err(|e| (e, None))?;
    let mut chain = prepare_fused(cfgs).map_err(|e| (e, None))?;
    if let Some(mut ch) = status {
        let ready = Status::Ready {
            name: FUSED_NAME.into(),
            pid: std::process::id(),
        };
        if let Err(e) = ch.send(&ready) {
            eprintln!("scc-nf: status channel: {e}");
        }
    }
    match chain.run(&STOP) {
        Ok(c) => Ok(c),
        Err(e) => Err((e, Some(Box::new(chain.counters())))),
    }
}

impl ChainArgs {
    /// The NF files, with the chain-wide flags applied.
    fn into_configs(self) -> Result<Vec<NfConfig>> {
        let mut cfgs = self
            .configs
            .iter()
            .map(|p| NfConfig::load(p))
            .chain(
                self.nf_toml
                    .iter()
                    .enumerate()
                    .map(|(k, t)| NfConfig::from_toml(t, &format!("--nf-toml #{}", k + 1))),
            )
            .collect::<Result<Vec<_>>>()?;
        let n = cfgs.len();
        if let Some(first) = cfgs.first_mut() {
            macro_rules! over {
                ($($f:ident),*) => { $( if self.$f.is_some() { first.$f = self.$f; } )* };
            }
            over!(rx, io, batch, poll, spin_us, rx_queue_frames);
        }
        if let (Some(tx), Some(last)) = (self.tx, cfgs.get_mut(n.wrapping_sub(1))) {
            last.tx = Some(tx);
        }
        Ok(cfgs)
    }
}

fn print_json(c: &impl serde::Serialize) {
    match serde_json::to_string(c) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("scc-nf: cannot encode counters: {e}"),
    }
}

fn print_counters(c: &NfCounters) {
    print_json(c);
}

fn run(cli: Cli) -> Result<()> {
    let (args, preset) = match cli.cmd {
        Cmd::Preset { name } => {
            let p: Preset = name.parse()?;
            print!("{}", p.toml());
            return Ok(());
        }
        Cmd::Router(a) => (a, Some(Preset::Router)),
        Cmd::Firewall(a) => (a, Some(Preset::Firewall)),
        Cmd::Forward(a) => (a, Some(Preset::Forward)),
        Cmd::Chain(a) => {
            let status = match a.status_fd {
                Some(fd) => Some(StatusChannel::open_fd(fd).map_err(|e| {
                    NfError::Config(format!("--status-fd {fd}: not an open descriptor ({e})"))
                })?),
                None => None,
            };
            let cfgs = a.into_configs()?;
            return match run_fused_until_signal(&cfgs, status) {
                Ok(c) => {
                    print_json(&c);
                    Ok(())
                }
                Err((e, Some(c))) => {
                    print_json(&c);
                    Err(e)
                }
                Err((e, None)) => Err(e),
            };
        }
        Cmd::Run(a) => {
            if a.config.is_none() {
                return Err(NfError::Config("`run` needs --config NF.toml".into()));
            }
            (a, None)
        }
    };
    let order = match (&args.handoff, args.handoff_index) {
        (Some(file), Some(index)) => Some(OrderArgs {
            file: file.clone(),
            index,
            timeout: args
                .handoff_timeout_ms
                .map_or(DEFAULT_HANDOFF_TIMEOUT, Duration::from_millis),
        }),
        _ => None,
    };
    let status = match args.status_fd {
        Some(fd) => Some(StatusChannel::open_fd(fd).map_err(|e| {
            NfError::Config(format!("--status-fd {fd}: not an open descriptor ({e})"))
        })?),
        None => None,
    };
    let cfg = args.into_config(preset)?;
    match run_until_signal_with(&cfg, status, order.as_ref()) {
        Ok(c) => {
            print_counters(&c);
            Ok(())
        }
        Err((e, Some(c))) => {
            print_counters(&c);
            Err(e)
        }
        Err((e, None)) => Err(e),
    }
}

/// The whole `scc-nf` program: parses `args` (the first is the program name), runs, and returns
/// the exit code (0 ok, 2 usage errors, 1 runtime failures).
pub fn main_from_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scc-nf: error: {e}");
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}
