//! The `scc-nf` command line, as a library function so that other binaries (the `scc` launcher)
//! can run an NF by re-executing themselves with an `nf` subcommand.
//!
//! ```text
//! scc-nf router   --rx IF --tx IF --io packet|mmsg|ring --batch N --route PREFIX/LEN [--route ...]
//!                 [--routes FILE] --gw-mac MAC [--src-mac MAC] [--addr IP] [--mtu N]
//!                 [--poll sleep|busy|adaptive] [--spin-us N] [--stats-file FILE] [--config NF.toml]
//!                 [--pcap FILE | --pcap-dir DIR]
//! scc-nf firewall --rx IF --tx IF ... [--rules FILE | --rule LINE ...] [--gw-mac MAC]
//! scc-nf forward  --rx IF --tx IF ... [--gw-mac MAC]
//! scc-nf run      --config NF.toml [flags overriding the file]
//! scc-nf preset   router|firewall|forward      # print the preset's graph as TOML
//! ```
//! With `--status-fd N` the NF also reports on the inherited descriptor N: `ready`, counters
//! every second and the final counters, one JSON line each ([`crate::status`]).
//! On SIGINT or SIGTERM the NF prints its [`NfCounters`] as one JSON object on stdout and exits
//! 0 (after an I/O failure it prints them too, then exits 1). Bad arguments, unreadable or malformed files (with file, line and reason) and unknown
//! interfaces exit 2; I/O failures while running exit 1.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use scc_io::link::Netlink;
use scc_io::middleware::{PcapFile, PcapPort};
use scc_io::{Driver, IoError, Port, PortConfig, open_port};

use crate::config::{Env, NfConfig, PollMode, Preset, build_pipeline};
use crate::error::{NfError, Result};
use crate::nf::{Nf, NfCounters, NfOptions};
use crate::status::{Status, StatusChannel};
use crate::wire::MacAddr;

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
    /// Print a preset's element graph in the NF file format (a start for a custom NF).
    Preset {
        /// router, firewall or forward.
        name: String,
    },
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
    /// Capture every frame received and sent, on every port, into this pcap file (readable by
    /// tcpdump and Wireshark). Off by default.
    #[arg(long, value_name = "FILE", conflicts_with = "pcap_dir")]
    pcap: Option<String>,
    /// Capture each port's frames into DIR/<interface>.pcap (the folder is created).
    #[arg(long, value_name = "DIR")]
    pcap_dir: Option<String>,
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
              spin_us <- spin_us, routes_file <- routes, gw_mac <- gw_mac, src_mac <- src_mac,
              rules_file <- rules, mtu <- mtu, icmp_rate <- icmp_rate, stats_file <- stats_file,
              pcap <- pcap, pcap_dir <- pcap_dir);
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

/// Builds an NF from `cfg` in the calling thread's network namespace: resolves the interfaces
/// (MAC, MTU, addresses), builds the pipeline and opens the ports.
pub fn prepare_nf(cfg: &NfConfig) -> Result<Nf> {
    let rx = cfg
        .rx
        .clone()
        .ok_or_else(|| NfError::Config("no input interface: give --rx IF".into()))?;
    let tx = cfg.tx.clone().unwrap_or_else(|| rx.clone());
    let batch = cfg.batch.unwrap_or(32);
    if batch == 0 || batch > scc_io::MAX_BATCH {
        return Err(NfError::Io(IoError::BadBatchSize(batch)));
    }
    cfg.element_specs()?; // fail on a missing NF before touching interfaces
    let mut nl = Netlink::open()?;
    let (_, _, rx_addrs) = interface(&mut nl, &rx)?;
    let (tx_mac, tx_mtu, tx_addrs) = interface(&mut nl, &tx)?;
    let mut addrs = cfg.addrs.clone();
    if addrs.is_empty() {
        for a in rx_addrs.into_iter().chain(tx_addrs) {
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
    }
    let env = Env {
        src_mac: cfg.src_mac.unwrap_or(tx_mac),
        gw_mac: cfg.gw_mac,
        addrs,
        mtu: cfg
            .mtu
            .unwrap_or_else(|| u16::try_from(tx_mtu).unwrap_or(u16::MAX).max(68)),
        icmp_rate: cfg.icmp_rate.unwrap_or(100),
    };
    let pipeline = build_pipeline(cfg, &env)?;
    let driver = cfg.io.unwrap_or(Driver::Mmsg);
    let capture = Capture::new(cfg)?;
    let mut ports = vec![capture.open(&PortConfig::new(rx.clone(), driver, batch))?];
    let map = if tx == rx {
        vec![0, 0]
    } else {
        ports.push(capture.open(&PortConfig::new(tx.clone(), driver, batch))?);
        vec![0, 1]
    };
    let kind = if cfg.element.is_empty() {
        cfg.preset.map_or("custom", Preset::name).to_string()
    } else {
        "custom".to_string()
    };
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

/// Where the NF's ports are captured (`--pcap` / `--pcap-dir`); off by default.
enum Capture {
    Off,
    /// Every port into one shared file.
    File(PcapFile),
    /// One file per port in this folder.
    Dir(PathBuf),
}

impl Capture {
    fn new(cfg: &NfConfig) -> Result<Self> {
        if let Some(f) = &cfg.pcap {
            if cfg.pcap_dir.is_some() {
                return Err(NfError::Config(
                    "give either --pcap FILE or --pcap-dir DIR, not both".into(),
                ));
            }
            return Ok(Capture::File(PcapFile::create(f)?));
        }
        match &cfg.pcap_dir {
            None => Ok(Capture::Off),
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|source| NfError::File {
                    path: d.clone(),
                    source,
                })?;
                Ok(Capture::Dir(PathBuf::from(d)))
            }
        }
    }

    /// Opens a port, wrapped in a [`PcapPort`] when capturing (unwrapped, and so at no cost,
    /// otherwise).
    fn open(&self, pc: &PortConfig) -> Result<Box<dyn Port>> {
        let port = open_port(pc)?;
        let file = match self {
            Capture::Off => return Ok(port),
            Capture::File(f) => f.clone(),
            Capture::Dir(d) => PcapFile::create(d.join(format!("{}.pcap", pc.ifname)))?,
        };
        CAPTURES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(file.clone());
        Ok(Box::new(PcapPort::new(port, file)))
    }
}

/// The capture files of this process, checked for write errors when the NF stops.
static CAPTURES: std::sync::Mutex<Vec<PcapFile>> = std::sync::Mutex::new(Vec::new());

/// Says on stderr which capture files are incomplete (a write failed: disk full, file gone).
fn warn_about_captures() {
    for f in CAPTURES.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let _ = f.flush();
        let st = f.stats();
        if let Some(e) = st.error {
            eprintln!(
                "scc-nf: warning: capture {} is incomplete: {} frames not written ({e})",
                f.path().display(),
                st.lost
            );
        }
    }
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
    run_until_signal_with(cfg, None)
}

/// [`run_until_signal`], reporting on `status` (`--status-fd`): `ready` once the ports are
/// open, the counters every second, and the final counters (also after an I/O failure).
pub fn run_until_signal_with(
    cfg: &NfConfig,
    status: Option<StatusChannel>,
) -> Result<NfCounters, (NfError, Option<Box<NfCounters>>)> {
    install_signal_handlers().map_err(|e| (e, None))?;
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
    let r = nf.run(&STOP);
    let c = nf.counters();
    if reporting {
        nf.send_status(&Status::Final(c.clone()));
    }
    drop(nf);
    warn_about_captures();
    match r {
        Ok(_) => Ok(c),
        Err(e) => Err((e, Some(Box::new(c)))),
    }
}

fn print_counters(c: &NfCounters) {
    match serde_json::to_string(c) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("scc-nf: cannot encode counters: {e}"),
    }
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
        Cmd::Run(a) => {
            if a.config.is_none() {
                return Err(NfError::Config("`run` needs --config NF.toml".into()));
            }
            (a, None)
        }
    };
    let status = match args.status_fd {
        Some(fd) => Some(StatusChannel::open_fd(fd).map_err(|e| {
            NfError::Config(format!("--status-fd {fd}: not an open descriptor ({e})"))
        })?),
        None => None,
    };
    let cfg = args.into_config(preset)?;
    match run_until_signal_with(&cfg, status) {
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
