//! The `scc-nf` command line, as a library function so that other binaries (the `scc` launcher)
//! can run an NF by re-executing themselves with an `nf` subcommand.
//!
//! ```text
//! scc-nf router   --rx IF --tx IF --io packet|mmsg|ring|xdp|auto --batch N --route PREFIX/LEN [--route ...]
//!                 [--routes FILE] --gw-mac MAC [--src-mac MAC] [--addr [PORT=]IP] [--mtu N]
//!                 [--no-host-filter] [--rx-gw-mac MAC]
//!                 [--poll sleep|busy|adaptive] [--spin-us N] [--stats-file FILE] [--config NF.toml]
//!                 [--pcap FILE | --pcap-dir DIR]
//! scc-nf firewall --rx IF --tx IF ... [--rules FILE | --rule LINE ...] [--gw-mac MAC]
//! scc-nf forward  --rx IF --tx IF ... [--gw-mac MAC]
//! scc-nf run      --config NF.toml [flags overriding the file]
//! scc-nf chain    --config A.toml --config B.toml ... | --nf-toml TEXT --nf-toml TEXT ...
//!                 [--rx IF] [--tx IF] [--io ...] [--batch N]
//!                 [--poll ...] [--rx-queue-frames N]    # the NFs fused into this one process
//! scc-nf preset   router|firewall|forward      # print the preset's graph as TOML
//! scc-nf router ... --simulate-packets N [--simulate-dst IP] [--simulate-frame-size B]
//!                                              # offline over memory ports, then exit
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
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use scc_io::{Driver, IoError};

use crate::chain::ChainCounters;
use crate::chain::order::{ChainOrder, DEFAULT_HANDOFF_TIMEOUT};
use crate::config::{NfConfig, PollMode, Preset};
use crate::error::{NfError, Result};
use crate::nf::NfCounters;
use crate::status::{Status, StatusChannel};
use crate::wire::MacAddr;
use scc_sched::handoff::Handoff;

pub use crate::setup::{prepare_fused, prepare_nf};

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
    /// The process name: `scc-nf:<NAME>` in ps/top/pgrep (default `fused`).
    #[arg(long)]
    name: Option<String>,
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
    /// I/O backend: packet (one syscall per frame), mmsg (recvmmsg/sendmmsg), ring (PACKET_MMAP),
    /// xdp (AF_XDP; needs CAP_BPF + CAP_NET_ADMIN in the initial user namespace), auto (the
    /// fastest of xdp, ring, mmsg that opens; a warning says why a faster one was skipped).
    #[arg(long, value_name = "packet|mmsg|ring|xdp|auto", value_parser = parse_driver)]
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
    /// A static route `PREFIX/LEN [via MAC|IP] [port rx|tx|IF]` (repeatable; `via IP`: the
    /// gateway's MAC is found by ARP).
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
    /// The NF's own IPv4 address (ARP replies, ICMP errors); repeatable. `IP` applies to every
    /// port, `PORT=IP` (PORT: rx, tx or the interface's name) to one. Default: the addresses
    /// configured on each interface.
    #[arg(long = "addr", value_name = "[PORT=]IP", value_parser = parse_addr)]
    addr: Vec<AddrArg>,
    /// Do not drop frames addressed to other hosts' MACs (a bump-in-the-wire NF).
    #[arg(long)]
    no_host_filter: bool,
    /// Forward/firewall: destination MAC of frames sent out of rx (the reverse direction).
    #[arg(long, value_name = "MAC", value_parser = parse_mac)]
    rx_gw_mac: Option<MacAddr>,
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
    /// Capture every frame received and sent, on every port, into this pcap file (readable by
    /// tcpdump and Wireshark). Off by default.
    #[arg(long, value_name = "FILE", conflicts_with = "pcap_dir")]
    pcap: Option<String>,
    /// Capture each port's frames into DIR/<interface>.pcap (the folder is created).
    #[arg(long, value_name = "DIR")]
    pcap_dir: Option<String>,
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
    /// Do not open interfaces: feed N UDP frames through the NF over in-memory ports, print
    /// the counters and exit (for simulators such as cachegrind; see `scc_nf::simulate`).
    #[arg(long, value_name = "N")]
    simulate_packets: Option<u64>,
    /// With --simulate-packets: the frames' destination address (default 198.19.0.1).
    #[arg(long, value_name = "IP")]
    simulate_dst: Option<Ipv4Addr>,
    /// With --simulate-packets: the frames' size in bytes without FCS (default 64).
    #[arg(long, value_name = "BYTES")]
    simulate_frame_size: Option<usize>,
}

fn parse_driver(s: &str) -> std::result::Result<Driver, String> {
    match s.parse::<Driver>() {
        Ok(Driver::Mem) | Err(_) => Err(format!(
            "unknown I/O driver `{s}` (expected packet, mmsg, ring, xdp or auto)"
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

/// `--addr [PORT=]IP`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AddrArg {
    port: Option<String>,
    ip: Ipv4Addr,
}

fn parse_addr(s: &str) -> std::result::Result<AddrArg, String> {
    let (port, ip) = match s.split_once('=') {
        Some((p, ip)) if !p.is_empty() => (Some(p.to_string()), ip),
        Some(_) => return Err(format!("`{s}`: expected PORT=IP")),
        None => (None, s),
    };
    let ip = ip
        .parse()
        .map_err(|_| format!("`{ip}` is not an IPv4 address"))?;
    Ok(AddrArg { port, ip })
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
              rules_file <- rules, mtu <- mtu, icmp_rate <- icmp_rate, stats_file <- stats_file,
              pcap <- pcap, pcap_dir <- pcap_dir);
        c.routes.extend(self.route);
        if self.no_host_filter {
            c.host_filter = Some(false);
        }
        c.rx_gw_mac = self.rx_gw_mac.or(c.rx_gw_mac);
        for a in self.addr {
            match a.port {
                None => c.addrs.push(a.ip),
                Some(p) => c.port_addrs.entry(p).or_default().push(a.ip),
            }
        }
        c.rules.extend(self.rule);
        Ok(c)
    }
}

/// Set by SIGINT and SIGTERM.
static STOP: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Makes SIGINT and SIGTERM set [`STOP`] (signal-hook: the handler only stores to the atomic).
/// A sleep in poll() is cut short by the signal (poll is never restarted) or, at the latest,
/// ends after [`crate::nf::SLEEP_SLICE`], and the loop then sees the flag.
fn install_signal_handlers() -> Result<()> {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&STOP))
            .map_err(|e| NfError::Io(IoError::from_io("sigaction", e)))?;
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
    // `ps`/`top`/`pgrep` show the NF by its name (best effort: a name is no reason to fail).
    let _ = crate::title::set_current_name(&crate::title::process_name(&nf.counters().name));
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
    drop(nf);
    crate::capture::warn_about_captures();
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
    let r = chain.run(&STOP);
    let c = chain.counters();
    drop(chain);
    crate::capture::warn_about_captures();
    match r {
        Ok(c) => Ok(c),
        Err(e) => Err((e, Some(Box::new(c)))),
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
            // Best effort: a name is no reason to fail.
            let title = crate::title::process_name(a.name.as_deref().unwrap_or(FUSED_NAME));
            let _ = crate::title::set_current_name(&title);
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
    let simulate = args.simulate_packets.map(|packets| crate::simulate::Feed {
        packets,
        dst: args.simulate_dst.unwrap_or(Ipv4Addr::new(198, 19, 0, 1)),
        frame_size: args.simulate_frame_size.unwrap_or(64),
    });
    let cfg = args.into_config(preset)?;
    if let Some(feed) = simulate {
        print_counters(&crate::simulate::run_offline(&cfg, feed)?);
        return Ok(());
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::port_addrs;

    #[test]
    fn addr_flags_apply_to_all_ports_or_one() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            parse_addr("198.18.0.1").unwrap(),
            AddrArg {
                port: None,
                ip: ip("198.18.0.1")
            }
        );
        assert_eq!(
            parse_addr("r1=198.18.2.254").unwrap().port.as_deref(),
            Some("r1")
        );
        assert!(parse_addr("=1.2.3.4").is_err());
        assert!(parse_addr("tx=1.2.3").is_err());
        let cli = Cli::try_parse_from([
            "scc-nf",
            "router",
            "--rx",
            "a",
            "--tx",
            "b",
            "--addr",
            "198.18.0.9",
            "--addr",
            "b=198.18.2.254",
            "--no-host-filter",
        ])
        .unwrap();
        let Cmd::Router(args) = cli.cmd else {
            panic!("router")
        };
        let cfg = args.into_config(Some(Preset::Router)).unwrap();
        assert_eq!(cfg.host_filter, Some(false));
        // Per port: the port's own entry, else the NF-wide addresses, else the interface's.
        let found = vec![ip("10.0.0.1")];
        assert_eq!(
            port_addrs(&cfg, ["tx", "b"], found.clone()),
            [ip("198.18.2.254")]
        );
        assert_eq!(
            port_addrs(&cfg, ["rx", "a"], found.clone()),
            [ip("198.18.0.9")]
        );
        let bare = NfConfig::default();
        assert_eq!(port_addrs(&bare, ["rx", "a"], found.clone()), found);
    }
}
