//! `[traffic] kind = "hosts"`: real hosts (namespaces with kernel stacks) at both ends of a
//! chain. Pure: the fields parse with their defaults, bad combinations are named, the plan
//! routes both ways. For real (the `scc` binary in a fresh user + network namespace, as the
//! rootless launcher runs): one router and three routers between the hosts; `ping` round trips
//! both ways, a 4 MiB TCP transfer arrives intact (the chain's own server and client, and
//! programs a user starts through the printed `nsenter` commands), every NF's per-port counters
//! balance (rx = tx + drops), and afterwards nothing is left (processes, namespaces).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scc_launcher::chain::{Chain, HostCommand, HostInfo, TrafficKind};
use scc_launcher::plan::{DeployPlan, NsRole};
use serde_json::Value;

const MIB4: u64 = 4 << 20;

const SERVER_PY: &str = r#"import hashlib, socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], 5001))
l.listen(1)
c, _ = l.accept()
c.settimeout(30)
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(65536)
    if not b:
        break
    h.update(b)
    n += len(b)
print(n, h.hexdigest(), flush=True)
c.close()
"#;

const CLIENT_PY: &str = r#"import hashlib, random, socket, sys
data = random.Random(7).randbytes(4 << 20)
s = socket.create_connection((sys.argv[1], 5001), timeout=30)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
s.recv(1)
print(len(data), hashlib.sha256(data).hexdigest(), flush=True)
"#;

fn host() -> HostInfo {
    HostInfo::with_cores(2, false)
}

fn problems(text: &str) -> Vec<String> {
    Chain::parse(text)
        .unwrap()
        .problems(&host())
        .into_iter()
        .map(|e| e.to_string())
        .collect()
}

fn hosts_chain(nfs: &[&str], traffic: &str) -> String {
    let mut s = String::from("name = \"h\"\n");
    for (i, k) in nfs.iter().enumerate() {
        s.push_str(&format!("[[nf]]\nname = \"n{i}\"\nkind = \"{k}\"\n"));
    }
    s.push_str(&format!("[traffic]\nkind = \"hosts\"\n{traffic}"));
    s
}

#[test]
fn hosts_fields_parse_with_defaults_and_bad_combinations_are_named() {
    // Defaults: the generator's addresses become the hosts', gateways at .254 of each /24.
    let c = Chain::parse(&hosts_chain(
        &["router"],
        "server = \"python3 -m http.server\"\nclient = [\"curl\", \"-s\", \"http://198.19.0.1:8000/\"]\n",
    ))
    .unwrap();
    assert_eq!(c.problems(&host()), []);
    let t = c.traffic.as_ref().unwrap();
    assert_eq!(t.kind, TrafficKind::Hosts);
    let (src, dst) = t.host_addrs();
    assert_eq!(
        (src.ip.to_string(), src.gw.to_string(), src.cidr()),
        (
            "198.18.0.1".into(),
            "198.18.0.254".into(),
            "198.18.0.0/24".into()
        )
    );
    assert_eq!(
        (dst.ip.to_string(), dst.gw.to_string(), dst.cidr()),
        (
            "198.19.0.1".into(),
            "198.19.0.254".into(),
            "198.19.0.0/24".into()
        )
    );
    assert_eq!((t.pings(), t.duration_s), (3, None));
    assert_eq!(
        t.server.as_ref().map(HostCommand::argv),
        Some(vec![
            "sh".into(),
            "-c".into(),
            "python3 -m http.server".into()
        ])
    );
    assert_eq!(t.client.as_ref().map(|c| c.argv().len()), Some(3));
    // The generator kind is the default and still needs its rate.
    let g = Chain::parse("name = \"g\"\n[[nf]]\nname = \"r\"\nkind = \"router\"\nroutes = [\"198.18.0.0/15\"]\n[traffic]\nduration_s = 1\n").unwrap();
    assert_eq!(g.traffic.as_ref().unwrap().kind, TrafficKind::Generator);
    let p: Vec<String> = g.problems(&host()).iter().map(|e| e.to_string()).collect();
    assert!(
        p.iter()
            .any(|e| e.starts_with("traffic.rate_pps: must be > 0")),
        "{p:?}"
    );

    let bad = [
        (
            hosts_chain(&["router"], "rate_pps = 5\n"),
            "traffic.rate_pps: is for kind = \"generator\"",
        ),
        (
            hosts_chain(&["router"], "frame_size = 128\n"),
            "traffic.frame_size: is for kind",
        ),
        (
            hosts_chain(&["router"], "packets = 10\n"),
            "traffic.packets: is for kind",
        ),
        (
            hosts_chain(&["router"], "dst_ip = \"198.18.0.7\"\n"),
            "traffic.dst_ip: the hosts' subnets",
        ),
        (
            hosts_chain(&["router"], "src_gw = \"198.18.0.1\"\n"),
            "traffic.src_gw: 198.18.0.1 is both the host and its gateway",
        ),
        (
            hosts_chain(&["router"], "dst_gw = \"198.19.0.255\"\n"),
            "traffic.dst_gw: 198.19.0.255 is the network or broadcast",
        ),
        (
            hosts_chain(&["router"], "src_ip = \"10.0.0.1\"\n"),
            "traffic.src_ip: 10.0.0.1 is outside 198.18.0.0/15",
        ),
        (
            hosts_chain(&["router"], "prefix_len = 31\n"),
            "traffic.prefix_len: 31 is out of range",
        ),
        (
            hosts_chain(&["router"], "client = []\n"),
            "traffic.client: is empty",
        ),
        (
            hosts_chain(&["router"], "server = \" \"\n"),
            "traffic.server: is empty",
        ),
        (
            hosts_chain(&["router"], "duration_s = 0\n"),
            "traffic.duration_s: 0 is out of range",
        ),
        (
            hosts_chain(&["router"], "").replace(
                "kind = \"router\"",
                "kind = \"kernel\"\nenv = \"netns\"\nroutes = [\"198.18.0.0/15\"]",
            ),
            "nf[0].kind: a kernel NF forwards one way only",
        ),
        (
            format!(
                "{}[schedule]\nplan = \"fused\"\n",
                hosts_chain(&["router", "router"], "")
            ),
            "schedule.plan: a fused chain forwards one way only",
        ),
    ];
    for (text, want) in bad {
        let p = problems(&text);
        assert!(
            p.iter().any(|e| e.starts_with(want)),
            "want `{want}` in {p:?}\n{text}"
        );
    }
    // The hosts' fields with the generator are named too; unknown keys stay errors.
    let g = hosts_chain(&["router"], "ping = 2\n")
        .replace("kind = \"hosts\"", "rate_pps = 5\nduration_s = 1");
    assert!(
        problems(&g)
            .iter()
            .any(|e| e.starts_with("traffic.ping: is for kind = \"hosts\""))
    );
    let err = Chain::parse(&hosts_chain(&["router"], "srv = \"x\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("traffic.srv"), "{err}");
    assert!(Chain::parse(&hosts_chain(&["router"], "kind = \"hosts\"\n")).is_err());
}

#[test]
fn the_plan_routes_both_ways_and_gives_the_end_routers_the_gateways() {
    let c = Chain::parse(&hosts_chain(&["router", "forward", "router"], "")).unwrap();
    assert_eq!(c.problems(&host()), []);
    let p = DeployPlan::new(&c, Path::new("."), &[0, 1]).unwrap();
    assert_eq!(&p.namespaces[..2], [NsRole::SrcHost, NsRole::DstHost]);
    assert_eq!(
        (p.gen_end.ifname.as_str(), p.sink.ifname.as_str()),
        ("src0", "dst0")
    );
    let h = p.hosts.as_ref().unwrap();
    assert_eq!(
        (h.src.gw_mac, h.dst.gw_mac),
        (p.gen_end.peer_mac, p.sink.peer_mac)
    );
    // Routers at both ends answer ARP: no static entries.
    assert!(!h.src.static_gw && !h.dst.static_gw);
    let mac = |m| scc_launcher::chain::fmt_mac(m);
    let argv = |i: usize| p.nfs[i].argv.join(" ");
    // n0: back to the source host by rx, on to the forward by tx; the source's gateway on rx.
    assert!(
        argv(0).contains(&format!(
            "--route 198.18.0.0/24 via {} port rx",
            mac(p.gen_end.mac)
        )),
        "{}",
        argv(0)
    );
    assert!(argv(0).contains(&format!(
        "--route 198.19.0.0/24 via {} port tx",
        mac(p.nfs[0].gw_mac)
    )));
    assert!(argv(0).contains("--addr rx=198.18.0.254") && !argv(0).contains("--addr tx="));
    // The forward sends the way back to n0's tx port.
    assert!(
        argv(1).contains(&format!(
            "--rx-gw-mac {}",
            mac(scc_launcher::plan::mac_for("h", 1, 1))
        )),
        "{}",
        argv(1)
    );
    assert!(argv(2).contains("--addr tx=198.19.0.254") && !argv(2).contains("--addr rx="));
    // Between real hosts the NFs keep the socket's own buffer (TCP bursts a window at a time),
    // unless the chain bounds it.
    assert!((0..3).all(|i| !argv(i).contains("--rx-queue-frames")));
    let bounded = Chain::parse(
        &hosts_chain(&["router"], "")
            .replace("[traffic]", "[io]\nrx_queue_frames = 128\n[traffic]"),
    )
    .unwrap();
    let pb = DeployPlan::new(&bounded, Path::new("."), &[0, 1]).unwrap();
    assert!(pb.nfs[0].argv.join(" ").contains("--rx-queue-frames 128"));
    assert!(argv(2).contains(&format!(
        "--route 198.19.0.0/24 via {} port tx",
        mac(p.sink.mac)
    )));
    // A forward at an end answers no ARP: that host gets a permanent neighbour entry.
    let c = Chain::parse(&hosts_chain(&["forward", "router"], "")).unwrap();
    let p = DeployPlan::new(&c, Path::new("."), &[0, 1]).unwrap();
    let h = p.hosts.unwrap();
    assert!(h.src.static_gw && !h.dst.static_gw);
    // The generator kind's plan is as before.
    let g = Chain::parse("name = \"g\"\n[[nf]]\nname = \"r\"\nkind = \"router\"\nroutes = [\"198.18.0.0/15\"]\n[traffic]\nrate_pps = 5\nduration_s = 1\n").unwrap();
    let p = DeployPlan::new(&g, Path::new("."), &[0, 1]).unwrap();
    assert!(p.hosts.is_none());
    assert_eq!(
        (p.gen_end.ifname.as_str(), p.sink.ifname.as_str()),
        ("gen0", "sink0")
    );
    assert!(!p.nfs[0].argv.iter().any(|a| a == "--addr"));
    assert!(p.nfs[0].argv.join(" ").contains("--rx-queue-frames 128"));
}

// ---- for real ----

/// The programs the tests need, or a SKIPPED line.
fn tools_present(test: &str) -> bool {
    for tool in ["ping", "python3", "nsenter"] {
        if scc_launcher::chain::find_in_path(tool).is_none() {
            scc_io::skip::skipped(test, &format!("`{tool}` is not installed"));
            return false;
        }
    }
    true
}

/// A folder with the chain file and the scripts, removed on drop.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(name: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("scc-hosts-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("server.py"), SERVER_PY).unwrap();
    std::fs::write(d.join("client.py"), CLIENT_PY).unwrap();
    Dir(d)
}

/// `scc run -v --json FILE` in a fresh user + network namespace (as the rootless launcher
/// runs; it needs no root), its stdout and stderr going to files beside FILE.
struct Running {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Running {
    fn start(file: &Path) -> Running {
        let (out, err) = (file.with_extension("json"), file.with_extension("log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scc"));
        cmd.args(["run", "-v", "--json"]).arg(file);
        scc_io::netns::command_in_new_user_netns(&mut cmd);
        let child = cmd
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Running { child, out, err }
    }

    fn lines(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.err).unwrap_or_default();
        text.lines().map(String::from).collect()
    }

    /// The first stderr line that contains every one of `needles` (waits up to 30 s).
    fn wait_for(&self, needles: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let lines = self.lines();
            if let Some(l) = lines.iter().find(|l| needles.iter().all(|n| l.contains(n))) {
                return l.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no {needles:?}: {lines:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the end (at most 90 s): exit code, report, stderr lines.
    fn finish(mut self) -> (Option<i32>, Value, Vec<String>) {
        let start = Instant::now();
        let code = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st.code();
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "scc did not end: {:?}",
                self.lines()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = std::fs::read_to_string(&self.out).unwrap();
        let lines = self.lines();
        let v = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{lines:?}"));
        (code, v, lines)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // On a failed assertion: our child (scc) ends, and its NFs and hosts with it.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn routers(name: &str, n: usize, traffic: &str) -> String {
    let mut s = format!("name = \"{name}\"\n");
    for i in 1..=n {
        let env = if i == 2 { "netns" } else { "native" };
        s.push_str(&format!(
            "[[nf]]\nname = \"r{i}\"\nkind = \"router\"\nenv = \"{env}\"\n"
        ));
    }
    s.push_str(&format!("[traffic]\nkind = \"hosts\"\n{traffic}"));
    s
}

/// Both pings: every reply back, through `n` routers each way (TTL 64 - n); returns the RTTs.
fn check_pings(report: &Value, n: u64) -> Vec<f64> {
    let pings = report["hosts"]["ping"].as_array().unwrap();
    assert_eq!(pings.len(), 2, "{pings:?}");
    let mut rtts = Vec::new();
    for p in pings {
        assert_eq!(p["sent"], 3, "{p}");
        assert_eq!(p["received"], 3, "{p}");
        assert_eq!(p["ttl"], 64 - n, "{p}");
        rtts.extend(
            p["rtt_ms"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_f64),
        );
    }
    assert_eq!(rtts.len(), 6);
    rtts
}

/// Every NF: per port, summed over its ports, rx = tx + drops by reason; both of its ports
/// received and sent (traffic went both ways).
fn check_counters(report: &Value, n: usize) {
    let nfs = report["nfs"].as_array().unwrap();
    assert_eq!(nfs.len(), n);
    for nf in nfs {
        let c = &nf["counters"];
        let ports = c["ports"]
            .as_array()
            .unwrap_or_else(|| panic!("no ports: {nf}"));
        assert_eq!(ports.len(), 2, "{nf}");
        let sum = |k: &str| ports.iter().map(|p| p[k].as_u64().unwrap()).sum::<u64>();
        let drops: u64 = c["drops"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(sum("rx"), sum("tx") + drops, "{nf}");
        assert_eq!(
            (sum("rx"), sum("tx")),
            (nf["rx"].as_u64().unwrap(), nf["tx"].as_u64().unwrap())
        );
        for p in ports {
            // 4 MiB of TCP segments one way, their ACKs the other.
            assert!(
                p["rx"].as_u64().unwrap() > 100 && p["tx"].as_u64().unwrap() > 100,
                "{nf}"
            );
        }
    }
}

/// What `scc` logged as its processes (NFs, host programs) and namespaces are gone.
fn check_nothing_left(lines: &[String]) {
    let pids: Vec<u32> = lines
        .iter()
        .filter(|l| l.starts_with("scc: nf ") || l.starts_with("scc: host "))
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let k = w.iter().position(|x| *x == "pid")?;
            w.get(k + 1)?.parse().ok()
        })
        .collect();
    assert!(pids.len() >= 3, "{lines:?}");
    for pid in pids {
        let alive =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z"));
        assert!(!alive, "process {pid} is still running");
    }
    let namespaces: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("scc: netns "))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert!(namespaces.len() >= 3, "{lines:?}");
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(l) = std::fs::read_link(e.path().join("ns/net")) {
            let l = l.to_string_lossy().into_owned();
            assert!(
                !namespaces.contains(&l.as_str()),
                "process {:?} is still in {l}",
                e.file_name()
            );
        }
    }
    assert!(
        lines.iter().any(|l| l == "scc: teardown complete"),
        "{lines:?}"
    );
}

/// `N sha256` as the scripts print it.
fn transfer(out: &str) -> (u64, String) {
    let mut w = out.split_whitespace();
    let n = w.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    (n, w.next().unwrap_or_default().to_string())
}

#[test]
fn one_router_between_real_hosts_pings_both_ways_and_moves_4_mib_intact() {
    let test = "one_router_between_real_hosts_pings_both_ways_and_moves_4_mib_intact";
    if !tools_present(test) {
        return;
    }
    let d = dir("one");
    let (server, client) = (d.0.join("server.py"), d.0.join("client.py"));
    // The server as a shell line, the client as an argv; both find the addresses in the
    // environment the launcher gives them.
    let traffic = format!(
        "server = \"python3 {} $SCC_DST_IP\"\nclient = [\"python3\", \"{}\", \"198.19.0.1\"]\nduration_s = 60\n",
        server.display(),
        client.display()
    );
    let file = d.0.join("one.toml");
    std::fs::write(&file, routers("hosts-one", 1, &traffic)).unwrap();
    let run = Running::start(&file);
    let (code, report, lines) = run.finish();
    assert_eq!(code, Some(0), "{report}\n{lines:?}");
    let rtts = check_pings(&report, 1);
    println!("ping RTTs through 1 router (ms): {rtts:?}");
    let h = &report["hosts"];
    for side in ["server", "client"] {
        assert_eq!(h[side]["code"], 0, "{h}");
        assert_eq!(h[side]["stopped_by_us"], false, "{h}");
    }
    let sent = transfer(h["client"]["stdout"].as_str().unwrap());
    let got = transfer(h["server"]["stdout"].as_str().unwrap());
    assert_eq!(sent.0, MIB4);
    assert_eq!(got, sent, "the transfer arrived changed");
    assert_eq!(h["src"]["gateway_by"], "arp");
    // The generator's keys are there, empty.
    assert!(report["sent"].is_null() && report["traffic"].is_null());
    check_counters(&report, 1);
    check_nothing_left(&lines);
}

#[test]
fn three_routers_between_real_hosts_serve_programs_started_through_nsenter() {
    let test = "three_routers_between_real_hosts_serve_programs_started_through_nsenter";
    if !tools_present(test) {
        return;
    }
    let d = dir("three");
    let file = d.0.join("three.toml");
    // No server or client in the chain: the hosts stay up until SIGINT, like a user's session.
    std::fs::write(&file, routers("hosts-three", 3, "")).unwrap();
    let run = Running::start(&file);
    let enter = |side: &str| -> Vec<String> {
        let l = run.wait_for(&[&format!("scc: {side} host "), "enter it with: "]);
        let cmd = l
            .split("enter it with: ")
            .nth(1)
            .unwrap()
            .trim_end_matches(" sh");
        cmd.split_whitespace().map(String::from).collect()
    };
    let (src, dst) = (enter("src"), enter("dst"));
    assert!(
        src.iter().any(|a| a.starts_with("--user=")),
        "rootless: {src:?}"
    );
    // The built-in pings (source first, then destination) are over.
    run.wait_for(&["scc: host dst ping pid", "exited"]);
    let in_host = |argv: &[String], prog: &[&str]| {
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]).args(prog);
        c
    };
    let py = |f: &str| d.0.join(f).display().to_string();
    let mut server = in_host(&dst, &["python3", &py("server.py"), "198.19.0.1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    struct Reap<'a>(&'a mut Child);
    impl Drop for Reap<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let server = Reap(&mut server);
    // The client retries until the server listens.
    let mut client_out = None;
    for _ in 0..50 {
        let out = in_host(&src, &["python3", &py("client.py"), "198.19.0.1"])
            .output()
            .unwrap();
        if out.status.success() {
            client_out = Some(String::from_utf8_lossy(&out.stdout).into_owned());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let client_out = client_out.expect("the client never connected");
    let mut server_out = String::new();
    std::io::Read::read_to_string(server.0.stdout.as_mut().unwrap(), &mut server_out).unwrap();
    drop(server);
    let ping = in_host(&src, &["ping", "-n", "-c", "2", "-i", "0.2", "198.19.0.1"])
        .output()
        .unwrap();
    let ping = String::from_utf8_lossy(&ping.stdout).into_owned();
    // SAFETY: kill has no memory arguments; the pid is our child (scc).
    unsafe { libc::kill(run.child.id() as i32, libc::SIGINT) };
    let (code, report, lines) = run.finish();
    assert_eq!(code, Some(130), "{lines:?}");
    assert_eq!(report["interrupted"], true);
    assert!(
        ping.contains("2 received") && ping.contains("ttl=61"),
        "{ping}"
    );
    let rtts = check_pings(&report, 3);
    println!("ping RTTs through 3 routers (ms): {rtts:?}");
    let sent = transfer(&client_out);
    assert_eq!(sent.0, MIB4);
    assert_eq!(transfer(&server_out), sent, "the transfer arrived changed");
    check_counters(&report, 3);
    check_nothing_left(&lines);
}
