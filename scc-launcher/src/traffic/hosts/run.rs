//! One run between real hosts: the server in the destination host, the built-in `ping` round
//! trips both ways, then the client in the source host, whose exit ends the run (else
//! `duration_s`, else SIGINT/SIGTERM); and its report ([`HostsReport`], the `hosts` object of
//! `scc run --json`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::ping::{PingReport, parse_ping};
use super::{HostEnd, enter_command};
use crate::chain::{Chain, HostCommand, fmt_mac};
use crate::deploy::{DeployError, Deployment, HostOutcome};

/// The most of a process's stdout/stderr kept in the report (its end).
pub const OUTPUT_TAIL: usize = 64 << 10;
/// How long the client waits for the server to listen (a TCP listening or a bound UDP socket
/// in the destination host) before it starts anyway.
pub const SERVER_WAIT: Duration = Duration::from_secs(15);
/// The resolver options the hosts' commands get (unless `RES_OPTIONS` is set already): the
/// hosts have no name server, and their default route sends queries into the chain, where no
/// router routes them; glibc would wait 2 x 5 s per lookup (e.g. Python's `http.server`
/// looking up its own name before it listens), this makes it 1 s.
pub const HOST_RES_OPTIONS: &str = "timeout:1 attempts:1";
/// The interval between the built-in pings, in seconds.
const PING_INTERVAL_S: f64 = 0.2;

/// One host as deployed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostReport {
    /// Its interface.
    pub ifname: String,
    /// Address with prefix length (`198.18.0.1/24`).
    pub ip: String,
    /// Its gateway (the NF at its end of the chain).
    pub gateway: String,
    /// The gateway's MAC (that NF's port).
    pub gateway_mac: String,
    /// `arp` (the router answered) or `static` (a permanent neighbour entry).
    pub gateway_by: String,
    /// The command prefix that enters its namespace while the chain is up.
    pub enter: String,
}

/// A server or client command and how it ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcReport {
    /// Its command line.
    pub argv: Vec<String>,
    /// Its PID.
    pub pid: u32,
    /// `exited with status N` / `was killed by SIGX (n)`.
    pub exit: String,
    /// Its exit code, when it exited.
    pub code: Option<i32>,
    /// Whether the launcher stopped it (end of the run).
    pub stopped_by_us: bool,
    /// Its standard output (the last 64 KiB).
    pub stdout: String,
    /// Its standard error (the last 64 KiB).
    pub stderr: String,
}

impl ProcReport {
    fn from_outcome(o: HostOutcome) -> ProcReport {
        ProcReport {
            exit: o.exit(),
            code: o.status.and_then(|s| s.code()),
            argv: o.argv,
            pid: o.pid,
            stopped_by_us: o.stopped_by_us,
            stdout: tail(o.stdout),
            stderr: tail(o.stderr),
        }
    }

    /// Whether it failed on its own: a non-zero exit or a signal it was not sent by us.
    pub fn failed(&self) -> bool {
        !self.stopped_by_us && self.code != Some(0)
    }
}

/// The `hosts` object of `scc run --json` (`traffic.kind = "hosts"`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostsReport {
    /// The source host.
    pub src: HostReport,
    /// The destination host.
    pub dst: HostReport,
    /// The built-in check: `ping` source to destination, then destination to source (empty
    /// with `ping = 0`).
    pub ping: Vec<PingReport>,
    /// The server (`traffic.server`), in the destination host.
    pub server: Option<ProcReport>,
    /// The client (`traffic.client`), in the source host.
    pub client: Option<ProcReport>,
    /// How long the hosts were up, in seconds.
    pub elapsed_s: f64,
}

impl HostsReport {
    /// Whether the client failed (see [`ProcReport::failed`]).
    pub fn client_failed(&self) -> bool {
        self.client.as_ref().is_some_and(ProcReport::failed)
    }

    /// The report's lines for the table.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (side, h) in [("src", &self.src), ("dst", &self.dst)] {
            s.push_str(&format!(
                "host {side} {} {} via {} ({}, {})\n",
                h.ifname, h.ip, h.gateway, h.gateway_mac, h.gateway_by
            ));
        }
        for p in &self.ping {
            s.push_str(&p.to_text());
            s.push('\n');
        }
        for (what, p) in [("server", &self.server), ("client", &self.client)] {
            let Some(p) = p else { continue };
            s.push_str(&format!(
                "{what} pid {} {}{}: {}\n",
                p.pid,
                p.exit,
                if p.stopped_by_us { " (stopped)" } else { "" },
                p.argv.join(" ")
            ));
            for (name, text) in [("stdout", &p.stdout), ("stderr", &p.stderr)] {
                let lines: Vec<&str> = text.trim_end().lines().collect();
                let from = lines.len().saturating_sub(10);
                for l in &lines[from..] {
                    s.push_str(&format!("  {what} {name}| {l}\n"));
                }
            }
        }
        s.push_str(&format!("hosts up {:.1} s\n", self.elapsed_s));
        s
    }
}

fn tail(mut s: String) -> String {
    if s.len() > OUTPUT_TAIL {
        let mut cut = s.len() - OUTPUT_TAIL;
        while !s.is_char_boundary(cut) {
            cut += 1;
        }
        s.drain(..cut);
    }
    s
}

fn host_report(h: &HostEnd, enter: String) -> HostReport {
    HostReport {
        ifname: h.ifname.clone(),
        ip: format!("{}/{}", h.addr.ip, h.addr.prefix_len),
        gateway: h.addr.gw.to_string(),
        gateway_mac: fmt_mac(h.gw_mac),
        gateway_by: if h.static_gw { "static" } else { "arp" }.into(),
        enter,
    }
}

/// Runs the hosts' part of a deployed chain (its network and NFs up): prints how to enter
/// the hosts, starts the server, pings both ways, runs the client, and waits for the client's
/// exit, `duration_s` or `stop`. Every process it started has ended when it returns. An NF
/// that dies meanwhile is the error.
pub fn run_hosts(
    chain: &Chain,
    dep: &mut Deployment,
    stop: &AtomicBool,
) -> Result<HostsReport, DeployError> {
    let started = Instant::now();
    let (Some(t), Some(hp)) = (chain.traffic.as_ref(), dep.plan.hosts.clone()) else {
        return Ok(HostsReport::default());
    };
    let rootless = scc_sched::Capabilities::in_user_namespace();
    let pid = std::process::id();
    let enter = |side: &str| {
        dep.host_ns_fd(side)
            .map_or(String::new(), |fd| enter_command(pid, fd, rootless))
    };
    let mut report = HostsReport {
        src: host_report(&hp.src, enter("src")),
        dst: host_report(&hp.dst, enter("dst")),
        ..HostsReport::default()
    };
    for (h, r) in [(&hp.src, &report.src), (&hp.dst, &report.dst)] {
        eprintln!(
            "scc: {} host {} ({}) is up; enter it with: {} sh",
            h.side, r.ip, h.ifname, r.enter
        );
    }
    let (src, dst) = (hp.src.addr, hp.dst.addr);
    let env: Vec<(String, String)> = [
        ("SCC_SRC_IP", src.ip),
        ("SCC_DST_IP", dst.ip),
        ("SCC_SRC_GW", src.gw),
        ("SCC_DST_GW", dst.gw),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain(
        std::env::var_os("RES_OPTIONS")
            .is_none()
            .then(|| ("RES_OPTIONS".to_string(), HOST_RES_OPTIONS.to_string())),
    )
    .collect();
    let deadline = t.duration_s.map(|d| started + Duration::from_secs_f64(d));
    let over = |dep: &mut Deployment| -> Result<bool, DeployError> {
        dep.check_alive()?;
        Ok(stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d))
    };
    let result = (|| -> Result<(), DeployError> {
        let server = match &t.server {
            Some(cmd) => {
                let id = dep.host_spawn("dst", "server", &cmd.argv(), &env)?;
                wait_listening(dep, id, &hp.dst, &over)?;
                Some(id)
            }
            None => None,
        };
        let pings = t.pings();
        if pings > 0 {
            for (side, from, to) in [("src", src.ip, dst.ip), ("dst", dst.ip, src.ip)] {
                if over(dep)? {
                    break;
                }
                report
                    .ping
                    .push(ping(dep, side, from, to, pings, &env, &over)?);
            }
        }
        let client = match &t.client {
            Some(cmd) if !over(dep)? => Some(dep.host_spawn("src", "client", &cmd.argv(), &env)?),
            _ => None,
        };
        loop {
            if client.is_some_and(|id| !dep.host_running(id)) || over(dep)? {
                break;
            }
            // Without a client, only the deadline or a signal ends the run.
            std::thread::sleep(Duration::from_millis(20));
        }
        report.client = client
            .and_then(|id| dep.host_finish(id))
            .map(ProcReport::from_outcome);
        report.server = server
            .and_then(|id| dep.host_finish(id))
            .map(ProcReport::from_outcome);
        Ok(())
    })();
    report.elapsed_s = started.elapsed().as_secs_f64();
    result.map(|()| report)
}

/// Waits until the destination host has a listening TCP socket or a bound UDP socket (the
/// server is ready), the server ends, the run is over or [`SERVER_WAIT`] passes.
fn wait_listening(
    dep: &mut Deployment,
    server: usize,
    dst: &HostEnd,
    over: &dyn Fn(&mut Deployment) -> Result<bool, DeployError>,
) -> Result<(), DeployError> {
    let until = Instant::now() + SERVER_WAIT;
    while Instant::now() < until && dep.host_running(server) && !over(dep)? {
        let Some(ns) = dep.netns(dst.ns) else { break };
        let listening = ns
            .run(|| {
                let table = |f: &str| {
                    std::fs::read_to_string(format!("/proc/thread-self/net/{f}"))
                        .unwrap_or_default()
                };
                listening_in(&table("tcp"), &table("udp"))
                    || listening_in(&table("tcp6"), &table("udp6"))
            })
            .unwrap_or(false);
        if listening {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Whether a `/proc/net/tcp` table has a socket in LISTEN (state `0A`) or a `/proc/net/udp`
/// table an unconnected one (state `07`; a resolver's query socket is connected, `01`) (pure).
pub fn listening_in(tcp: &str, udp: &str) -> bool {
    let state = |l: &str| l.split_whitespace().nth(3).map(str::to_string);
    tcp.lines()
        .skip(1)
        .any(|l| state(l).as_deref() == Some("0A"))
        || udp
            .lines()
            .skip(1)
            .any(|l| state(l).as_deref() == Some("07"))
}

/// `ping -c COUNT` from host `side` (address `from`) to `to`, waited for (stopped when the run
/// is over), parsed.
fn ping(
    dep: &mut Deployment,
    side: &'static str,
    from: std::net::Ipv4Addr,
    to: std::net::Ipv4Addr,
    count: u32,
    env: &[(String, String)],
    over: &dyn Fn(&mut Deployment) -> Result<bool, DeployError>,
) -> Result<PingReport, DeployError> {
    let mut r = PingReport {
        from: from.to_string(),
        to: to.to_string(),
        ..PingReport::default()
    };
    if crate::proc::find_in_path("ping").is_none() {
        r.exit = "`ping` is not installed".into();
        return Ok(r);
    }
    let argv = HostCommand::Argv(
        [
            "ping",
            "-n",
            "-c",
            &count.to_string(),
            "-i",
            &PING_INTERVAL_S.to_string(),
            "-W",
            "2",
            &to.to_string(),
        ]
        .map(String::from)
        .to_vec(),
    )
    .argv();
    let id = match dep.host_spawn(side, "ping", &argv, env) {
        Ok(id) => id,
        Err(e) => {
            r.exit = e.to_string();
            return Ok(r);
        }
    };
    // At most: every interval, the last reply's 2 s wait, and some slack.
    let until = Instant::now() + Duration::from_secs_f64(f64::from(count) * PING_INTERVAL_S + 5.0);
    while dep.host_running(id) && Instant::now() < until && !over(dep)? {
        std::thread::sleep(Duration::from_millis(10));
    }
    let Some(o) = dep.host_finish(id) else {
        return Ok(r);
    };
    let (sent, received, rtt, ttl) = parse_ping(&o.stdout);
    r.sent = sent;
    r.received = received;
    r.rtt_ms = rtt;
    r.ttl = ttl;
    r.exit = o.exit();
    if received < sent || sent == 0 {
        r.output = tail(format!("{}{}", o.stdout, o.stderr));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_found_in_proc_tables() {
        let head = "  sl  local_address rem_address   st tx_queue rx_queue\n";
        let listen = format!("{head}   0: 010013C6:1389 00000000:0000 0A 00000000:00000000\n");
        let estab = format!("{head}   0: 010013C6:1389 010012C6:D431 01 00000000:00000000\n");
        let bound = format!("{head}   0: 010013C6:1389 00000000:0000 07 00000000:00000000\n");
        assert!(listening_in(&listen, head));
        assert!(!listening_in(&estab, head));
        // A server's UDP socket, not a resolver's connected query socket.
        assert!(listening_in(head, &bound));
        assert!(!listening_in(head, &estab));
        assert!(!listening_in("", ""));
    }

    #[test]
    fn outputs_keep_their_end() {
        let s = "é".repeat(OUTPUT_TAIL);
        let t = tail(s);
        assert!(t.len() <= OUTPUT_TAIL && t.ends_with('é'));
        assert_eq!(tail("short".into()), "short");
    }
}
