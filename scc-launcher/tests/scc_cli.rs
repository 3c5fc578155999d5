//! The `scc` binary end to end: `check` on every example and on malformed files; 2-NF chains
//! back to back and over a bridge with traffic, counts checked hop by hop; an NF killed
//! mid-run and SIGINT to `scc`, after which nothing is left (processes, namespaces, links,
//! cgroups). As root, the rootless path is exercised too (as uid 65534 through `setpriv`).
//!
//! Rates are low and runs short (1-2 s): these are correctness tests, not benchmarks.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

fn scc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scc"))
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/chains")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A chain file in a temporary folder, removed (with the folder, once empty) on drop.
struct TempChain(PathBuf);

impl std::ops::Deref for TempChain {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempChain {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempChain {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(d) = self.0.parent() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn write_chain(name: &str, text: &str) -> TempChain {
    let dir = std::env::temp_dir().join(format!("scc-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    TempChain(p)
}

fn two_routers(name: &str, kind: &str, rate: u32, secs: f64) -> String {
    format!(
        r#"name = "{name}"
[io]
driver = "mmsg"
batch = 32
[interconnect]
kind = "{kind}"
[[nf]]
name = "r1"
kind = "router"
env = "netns"
routes = ["198.18.0.0/15"]
[[nf]]
name = "r2"
kind = "router"
env = "native"
routes = ["198.18.0.0/15"]
[traffic]
rate_pps = {rate}
frame_size = 64
duration_s = {secs}
"#
    )
}

#[test]
fn check_accepts_every_example_and_names_the_field_of_a_bad_one() {
    for e in std::fs::read_dir(examples()).unwrap().flatten() {
        if e.file_name().to_string_lossy().contains("ovs") && !ovs_installed() {
            scc_io::skip::skipped(
                &format!(
                    "check_accepts_every_example_and_names_the_field_of_a_bad_one ({})",
                    e.file_name().to_string_lossy()
                ),
                "Open vSwitch is not installed",
            );
            continue;
        }
        let out = scc().arg("check").arg(e.path()).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            e.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chains/bad/unknown-field.toml");
    let out = scc().arg("check").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("schedule.polcy") && err.contains("did you mean `policy`"),
        "{err}"
    );
    let out = scc().args(["check", "--json"]).arg(&bad).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["path"], "schedule.polcy");
}

/// `scc run --json` on `f`, which must succeed; its report.
fn run_json(f: &TempChain) -> Value {
    let out = scc().args(["run", "--json"]).arg(f).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scc run failed: {stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs a chain with `--json` and checks the counts from the generator through every NF to
/// the sink.
fn run_and_check_counts(kind: &str) {
    let f = write_chain(
        &format!("counts-{kind}"),
        &two_routers(kind, kind, 2000, 1.0),
    );
    let v = run_json(&f);
    for k in [
        "offered_pps",
        "achieved_pps",
        "sent",
        "received",
        "lost",
        "latency_us",
        "nfs",
    ] {
        assert!(v.get(k).is_some(), "missing key {k}");
    }
    for k in ["p1", "p25", "p50", "p75", "p99", "max"] {
        assert!(v["latency_us"][k].as_f64().unwrap() > 0.0, "latency_us.{k}");
    }
    let sent = v["sent"].as_u64().unwrap();
    let received = v["received"].as_u64().unwrap();
    let lost = v["lost"].as_u64().unwrap();
    assert_eq!(sent, 2000);
    // `lost` is `sent - received` by definition; the identities below compare counts kept by
    // different parties instead (generator, each NF, the sink's port).
    assert!(lost <= sent);
    assert!(received * 100 >= sent * 95, "too much loss at 2 kpps: {v}");
    let nfs = v["nfs"].as_array().unwrap();
    assert_eq!(nfs.len(), 2);
    let mut upstream = sent;
    for n in nfs {
        let rx = n["rx"].as_u64().unwrap_or_else(|| panic!("no rx: {n}"));
        let tx = n["tx"].as_u64().unwrap();
        let drops: u64 = n["drops"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(Value::as_u64)
            .sum();
        assert!(
            rx <= upstream,
            "{} received more than was sent to it: {v}",
            n["name"]
        );
        assert!(tx <= rx, "{n}");
        // What reached the NF's interface was received or dropped by its socket (the kernel's
        // PACKET_STATISTICS, in the NF's own counters): veth delivers synchronously.
        let kernel_drops = n["counters"]["kernel_drops"].as_u64().unwrap();
        assert_eq!(upstream, rx + kernel_drops, "{}: {n}", n["name"]);
        // The report shows the same kernel drops per NF at the top of its entry.
        assert_eq!(n["kernel_drops"].as_u64(), Some(kernel_drops), "{n}");
        assert!(n["syscalls"].as_u64().unwrap() > 0, "{n}");
        // Every frame in is forwarded or dropped with a reason (the NF's rx, tx and drop
        // counters are kept at different points of its loop).
        assert_eq!(tx + drops, rx, "unaccounted frames in {n}");
        upstream = tx;
    }
    assert!(received <= upstream);
    // What the last NF sent reached the sink's port or was dropped there by the kernel (the
    // sink's own counters): veth delivers synchronously.
    let sink = &v["traffic"]["sink"];
    let sink_rx = sink["rx_frames"].as_u64().unwrap();
    let sink_drops = sink["kernel_drops"].as_u64().unwrap();
    assert_eq!(upstream, sink_rx + sink_drops, "{sink}");
    // Every frame the sink took is a probe counted once, a duplicate, or counted as other.
    let other: u64 = ["non_probe", "bad_checksum", "foreign"]
        .iter()
        .map(|k| sink[*k].as_u64().unwrap())
        .sum();
    assert_eq!(
        sink_rx,
        received + sink["duplicates"].as_u64().unwrap() + other,
        "{sink}"
    );
}

fn ovs_installed() -> bool {
    scc_launcher::ovs::OvsTools::find().is_ok()
}

/// Open vSwitch's userspace datapath as the switch: only where it is installed (and, for an
/// ordinary user, where /dev/net/tun is usable); otherwise the test says why it did nothing.
#[test]
fn two_routers_over_open_vswitch_forward_everything() {
    if !ovs_installed() {
        scc_io::skip::skipped(
            "two_routers_over_open_vswitch_forward_everything",
            "Open vSwitch is not installed (apt install openvswitch-switch)",
        );
        return;
    }
    if !is_root()
        && std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .is_err()
    {
        scc_io::skip::skipped(
            "two_routers_over_open_vswitch_forward_everything",
            "this user cannot open /dev/net/tun, which ovs-vswitchd needs",
        );
        return;
    }
    let before = links();
    let f = write_chain("ovs", &two_routers("ovs", "ovs", 2000, 1.0));
    let out = scc()
        .args(["run", "-v", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sent"], 2000);
    assert!(v["received"].as_u64().unwrap() >= 1900, "{v}");
    assert_eq!(v["traffic"]["duplicates"], 0, "the switch flooded: {v}");
    let lines: Vec<String> = stderr.lines().map(str::to_string).collect();
    let ovs_pid: u32 = lines
        .iter()
        .find_map(|l| l.strip_prefix("scc: ovs scc-br0 pid "))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .expect("ovs-vswitchd pid logged");
    assert!(
        !Path::new(&format!("/proc/{ovs_pid}")).exists(),
        "ovs-vswitchd left running"
    );
    assert_nothing_left(&lines, &before);
}

#[test]
fn two_routers_back_to_back_forward_everything() {
    run_and_check_counts("b2b");
}

#[test]
fn two_routers_over_a_bridge_forward_everything() {
    run_and_check_counts("bridge");
}

/// A running `scc run -v` whose stderr is collected line by line.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(cmd: &mut Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l2 = Arc::clone(&lines);
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l2.lock().unwrap().push(line);
            }
        });
        Running { child, lines }
    }

    fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return l.clone();
            }
            assert!(
                start.elapsed() < timeout,
                "no `{needle}` within {timeout:?}: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait(mut self, timeout: Duration) -> (Option<i32>, Vec<String>) {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50));
                return (st.code(), self.lines.lock().unwrap().clone());
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                panic!("scc did not end within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn pids_in(lines: &[String]) -> Vec<u32> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("scc: nf "))
        .filter_map(|l| l.split_whitespace().nth(2)?.parse().ok())
        .collect()
}

fn netns_in(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.starts_with("scc: netns "))
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect()
}

/// Everything `scc` made is gone: its NF processes, its namespaces (no process is in one and
/// no fd refers to one), its links (none appeared in our namespace), its cgroups.
fn assert_nothing_left(lines: &[String], links_before: &[String]) {
    let pids = pids_in(lines);
    assert!(!pids.is_empty(), "no NF pids logged: {lines:?}");
    for pid in pids {
        let alive =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z"));
        assert!(!alive, "NF process {pid} is still running");
    }
    let namespaces = netns_in(lines);
    assert!(!namespaces.is_empty());
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if !e
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        for sub in ["ns/net"] {
            if let Ok(l) = std::fs::read_link(e.path().join(sub)) {
                let l = l.to_string_lossy().into_owned();
                assert!(
                    !namespaces.contains(&l),
                    "process {:?} is still in {l}",
                    e.file_name()
                );
            }
        }
    }
    assert_eq!(
        links(),
        links_before,
        "links changed in the test's namespace"
    );
    let cgroups = lines
        .iter()
        .filter(|l| l.starts_with("scc: cpuset ") || l.starts_with("scc: cgroup "))
        .filter_map(|l| l.split_whitespace().last());
    for l in cgroups {
        assert!(!Path::new(l).exists(), "cgroup {l} left behind");
    }
}

fn links() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|s| s.trim().to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn sigint_to_scc_tears_everything_down() {
    let before = links();
    let f = write_chain("sigint", &two_routers("sigint", "bridge", 1000, 30.0));
    let run = Running::start(scc().args(["run", "-v", "--json"]).arg(&f));
    run.wait_for("scc: nf r2 pid", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: kill has no memory arguments; the pid is our child.
    unsafe { libc::kill(run.child.id() as i32, libc::SIGINT) };
    let (code, lines) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{lines:?}");
    assert!(
        lines.iter().any(|l| l == "scc: teardown complete"),
        "{lines:?}"
    );
    assert_nothing_left(&lines, &before);
}

/// Starts `scc run -v` on `f`, waits for `wait` lines, SIGKILLs NF `victim` once `last` has
/// started, and checks that `scc` reports it (exit 3, name, pid, signal) and leaves nothing.
fn killed_nf_is_reported(f: &TempChain, wait: &[&str], victim: &str, last: &str) {
    let before = links();
    let run = Running::start(scc().args(["run", "-v"]).arg(f));
    for w in wait {
        run.wait_for(w, Duration::from_secs(20));
    }
    let line = run.wait_for(&format!("scc: nf {victim} pid"), Duration::from_secs(20));
    run.wait_for(&format!("scc: nf {last} pid"), Duration::from_secs(20));
    let pid: i32 = line.split_whitespace().nth(4).unwrap().parse().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill has no memory arguments; `pid` is an NF started by the scc under test.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let (code, lines) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(3), "{lines:?}");
    let msg = lines.last().unwrap();
    assert!(
        msg.contains(&format!("NF `{victim}`"))
            && msg.contains(&format!("pid {pid}"))
            && msg.contains("SIGKILL"),
        "{msg}"
    );
    assert_nothing_left(&lines, &before);
}

#[test]
fn a_killed_nf_is_reported_and_everything_torn_down() {
    let f = write_chain("crash", &two_routers("crash", "b2b", 1000, 30.0));
    killed_nf_is_reported(&f, &[], "r1", "r2");
}

fn user_copy_of_scc() -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("scc-cli-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dst = dir.join("scc");
    if !dst.exists() {
        std::fs::copy(env!("CARGO_BIN_EXE_scc"), &dst).unwrap();
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dst
}

fn setpriv() -> Option<PathBuf> {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// As an ordinary user: the chain runs in a user namespace of its own; a chain that asks for
/// real-time scheduling is refused in one line naming the field and the capability.
#[test]
fn an_ordinary_user_runs_a_chain_and_is_told_what_needs_root() {
    let as_user = |args: &[&str], file: &Path| -> std::process::Output {
        let mut cmd = if is_root() {
            let Some(sp) = setpriv() else {
                panic!("setpriv (util-linux) is needed to test the rootless path as root");
            };
            // The build tree may not be reachable for uid 65534 (e.g. a clone under /root):
            // run a world-readable copy of the binary.
            let copy = user_copy_of_scc();
            let mut c = Command::new(sp);
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(copy);
            c
        } else {
            scc()
        };
        cmd.args(args).arg(file).current_dir("/").output().unwrap()
    };
    let f = write_chain("rootless", &two_routers("rootless", "b2b", 1000, 0.5));
    let dir = f.parent().unwrap();
    // The unprivileged user must be able to read the file.
    let _ = Command::new("chmod")
        .arg("-R")
        .arg("a+rX")
        .arg(dir)
        .status();
    let out = as_user(&["run", "--json"], &f);
    assert!(
        out.status.success(),
        "rootless run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sent"], 500);
    assert!(v["received"].as_u64().unwrap() > 0);

    let fifo = examples().join("routers-b2b-8-fifo.toml");
    let out = as_user(&["run"], &fifo);
    if is_root() {
        let copy = user_copy_of_scc();
        let _ = std::fs::remove_file(&copy);
        let _ = std::fs::remove_dir(copy.parent().unwrap());
    }
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("schedule.policy") && err.contains("CAP_SYS_NICE"),
        "{err}"
    );
}

/// As root: the chain's cpuset reservation and the per-NF cgroups of `netns` NFs exist during
/// the run and are gone after SIGINT.
#[test]
fn cgroups_are_removed_after_sigint_as_root() {
    if !is_root() {
        scc_io::skip::skipped(
            "cgroups_are_removed_after_sigint_as_root",
            "cgroups need root (CI runs this as root)",
        );
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let core = if cpus > 1 { 1 } else { 0 };
    let before = links();
    let text = two_routers("cgroups", "b2b", 1000, 30.0).replace(
        "[[nf]]",
        &format!("[schedule]\npolicy = \"batch\"\ncores = [{core}]\nreserve = true\n[[nf]]"),
    );
    // Only the first [[nf]] gets the [schedule] table in front of it.
    let text = text.replacen(
        &format!("[schedule]\npolicy = \"batch\"\ncores = [{core}]\nreserve = true\n[[nf]]\nname = \"r2\""),
        "[[nf]]\nname = \"r2\"",
        1,
    );
    let f = write_chain("cgroups", &text);
    let run = Running::start(scc().args(["run", "-v"]).arg(&f));
    let cpuset = run.wait_for("scc: cpuset ", Duration::from_secs(20));
    let nf_cg = run.wait_for("scc: cgroup r1 ", Duration::from_secs(20));
    for l in [&cpuset, &nf_cg] {
        let path = l.split_whitespace().last().unwrap();
        assert!(Path::new(path).is_dir(), "{path} missing during the run");
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill has no memory arguments; the pid is our child.
    unsafe { libc::kill(run.child.id() as i32, libc::SIGINT) };
    let (code, lines) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{lines:?}");
    assert_nothing_left(&lines, &before);
}

/// `scc profile --json`: the profiler is attached to every NF; the report has issue 4's keys
/// at the top level (`nfs[{name, pid, sched, counters, model}]`, `chain{model_latency_us,
/// measured_latency_us, model_percentile}`) beside the run report's keys, and what this host
/// cannot count is `null` with a reason, never zero; a model with missing terms is `null`
/// with its partial sum named as such.
#[test]
fn profile_mode_reports_the_model_and_the_measured_latency() {
    let f = write_chain("profile", &two_routers("profile", "b2b", 2000, 1.0));
    // No saved sysbench table: the model uses the paper's latencies and says so.
    let no_table = std::env::temp_dir().join("scc-test-no-such-sysbench.json");
    let out = scc()
        .args(["profile", "--json"])
        .arg(&f)
        .env("SCC_LATENCY_TABLE", &no_table)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scc profile failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mode"], "profile");
    assert_eq!(v["profile"]["latency_table"]["source"], "paper");
    // The run report's keys stay beside the profiler's.
    assert!(v["sent"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["chain_name"], "profile");
    let nfs = v["nfs"].as_array().unwrap();
    assert_eq!(nfs.len(), 2);
    for n in nfs {
        assert!(n["name"].is_string());
        assert!(n["pid"].as_u64().unwrap() > 0);
        assert_eq!(n["kind"], "router");
        assert!(n["rx"].as_u64().unwrap() > 0, "{n}");
        assert!(n["nf_counters"].is_object(), "{n}");
        assert!(n["counters"].is_object(), "{n}");
        assert!(n["counters"].get("task_clock_ns").is_some(), "{n}");
        for k in [
            "run_ns",
            "runqueue_wait_ns",
            "wait_over_run",
            "contention_over_run",
            "voluntary_switches",
            "involuntary_switches",
        ] {
            assert!(n["sched"].get(k).is_some(), "sched.{k}: {n}");
        }
        assert!(n["sched"]["run_ns"].as_u64().unwrap() > 0);
        let m = &n["model"];
        for t in [
            "L_D1", "L_D2", "L_D3", "L_DM", "L_T1", "L_T2", "L_TM", "L_CS", "L_SC",
        ] {
            let term = &m["terms"][t];
            assert!(
                term.as_f64().is_some() || m["unavailable"][t].is_string(),
                "{t} is neither a value nor unavailable with a reason: {m}"
            );
        }
        // Whole only when no term is missing; otherwise the partial sum says so.
        let missing = m["missing_terms"].as_array().unwrap();
        if missing.is_empty() {
            assert!(m["latency_ns_per_packet"].as_f64().is_some(), "{m}");
        } else {
            assert!(m["latency_ns_per_packet"].is_null(), "{m}");
            assert!(m["latency_ns_per_packet_partial"].as_f64().is_some(), "{m}");
        }
    }
    let c = &v["chain"];
    assert_eq!(c["name"], "profile");
    for k in ["p1", "p25", "p50", "p75", "p99", "max"] {
        assert!(c["measured_latency_us"][k].as_f64().unwrap() > 0.0, "{k}");
    }
    // No PMU here (and no DTLB-hit or L2 events anywhere): the chain's model is partial, so the
    // whole figure and its percentile are null and the partial sum names what it lacks.
    let missing = c["missing_terms"].as_array().unwrap();
    if missing.is_empty() {
        assert!(c["model_latency_us"].as_f64().unwrap() > 0.0);
        let pct = c["model_percentile"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&pct));
    } else {
        assert!(
            c["model_latency_us"].is_null() && c["model_percentile"].is_null(),
            "{c}"
        );
        assert!(
            c["model_latency_us_partial"].as_f64().unwrap() >= 0.0,
            "{c}"
        );
        for t in missing {
            let t = t.as_str().unwrap();
            assert!(c["model"]["unavailable"][t].is_string(), "{t}: {c}");
        }
    }
    // The latency table's origin is in the JSON and in the table output.
    assert!(c["latency_table_source"].is_string(), "{c}");
    assert!(v["profile"]["latency_table"]["source"].is_string(), "{v}");
    assert!(v["profile"].get("nfs").is_none());
    // The table output says it too, not only the JSON.
    let out = scc()
        .arg("profile")
        .arg(&f)
        .env("SCC_LATENCY_TABLE", &no_table)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("NOT this host's"), "{text}");
    if !missing.is_empty() {
        assert!(text.contains("model unknown (partial sum"), "{text}");
    }
}

/// A firewall that denies the probes: every frame is dropped at the first NF with a counted
/// reason, nothing reaches the router or the sink.
#[test]
fn firewall_drops_are_counted_by_reason() {
    let text = r#"name = "fw-deny"
[[nf]]
name = "fw"
kind = "firewall"
env = "netns"
rules = ["deny udp from 198.18.0.0/15", "default allow"]
[[nf]]
name = "r1"
kind = "router"
env = "netns"
routes = ["198.18.0.0/15"]
[traffic]
rate_pps = 2000
packets = 500
duration_s = 2
"#;
    let f = write_chain("fw-deny", text);
    let out = scc().args(["run", "--json"]).arg(&f).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sent"], 500);
    assert_eq!(v["received"], 0);
    assert_eq!(v["lost"], 500);
    assert!(
        v["latency_us"].is_null(),
        "no probe arrived: latency must be null"
    );
    let fw = &v["nfs"][0];
    assert_eq!(fw["rx"], 500);
    assert_eq!(fw["tx"], 0);
    let drops: u64 = fw["drops"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(drops, 500, "{fw}");
    assert_eq!(v["nfs"][1]["rx"], 0);
}

/// A malformed chain is refused before anything is created.
#[test]
fn a_malformed_chain_leaves_nothing_behind() {
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chains/bad/duplicate-names.toml");
    let out = scc().args(["run", "-v"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nf[1].name: duplicate NF name `r1`"), "{err}");
    assert!(!err.contains("scc: netns"), "something was deployed: {err}");
}

/// As root: cgroups left by an `scc` that was killed with SIGKILL (which no process can catch)
/// are removed by the next run, and only when empty.
#[test]
fn the_next_run_removes_stale_cgroups_as_root() {
    if !is_root() {
        scc_io::skip::skipped(
            "the_next_run_removes_stale_cgroups_as_root",
            "cgroups need root (CI runs this as root)",
        );
        return;
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let Some(v2) = mounts.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        post.starts_with("cgroup2 ")
            .then(|| PathBuf::from(pre.split_whitespace().nth(4).unwrap()))
    }) else {
        scc_io::skip::skipped(
            "the_next_run_removes_stale_cgroups_as_root",
            "no cgroup2 hierarchy mounted",
        );
        return;
    };
    // A PID that surely no longer runs: a child we have reaped.
    let mut c = Command::new("true").spawn().unwrap();
    let dead = c.id();
    c.wait().unwrap();
    let stale = v2.join(format!("scc-stale-{dead}-nfs"));
    std::fs::create_dir_all(stale.join("r1")).unwrap();
    let f = write_chain(
        "stale",
        "name = \"stale\"\n[[nf]]\nname = \"f1\"\nkind = \"forward\"\n",
    );
    let out = scc().args(["run", "-v"]).arg(&f).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let gone = !stale.exists();
    if !gone {
        let _ = std::fs::remove_dir(stale.join("r1"));
        let _ = std::fs::remove_dir(&stale);
    }
    assert!(out.status.success(), "{err}");
    assert!(gone, "stale cgroup kept: {err}");
    assert!(err.contains("removed stale cgroup"), "{err}");
}

/// `scc profile --simulate`: each NF also runs under cachegrind over in-memory ports; the
/// memory terms the PMU cannot count come from that simulation, labelled `simulated` in the
/// JSON and the table, rescaled to the NF's real packets.
#[test]
fn profile_simulate_fills_memory_terms_labelled_simulated() {
    if scc_profiler::cachegrind::detect().is_err() {
        scc_io::skip::skipped(
            "profile_simulate_fills_memory_terms_labelled_simulated",
            "valgrind is not installed (make deps installs it)",
        );
        return;
    }
    let text = r#"name = "profile-sim"
[[nf]]
name = "r1"
kind = "router"
env = "netns"
routes = ["198.18.0.0/15"]
[traffic]
rate_pps = 2000
frame_size = 64
duration_s = 0.5
"#;
    let f = write_chain("profile-sim", text);
    let out = scc()
        .args(["profile", "--simulate", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scc profile --simulate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = v["warnings"].as_array().unwrap();
    assert!(
        !warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("--simulate")),
        "{warnings:?}"
    );
    let m = &v["nfs"][0]["model"];
    let sim: Vec<&str> = m["simulated_terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    // Terms the PMU counted stay counted; the others among L1 hits, L3 hits and L3 misses
    // are simulated, with a value.
    for t in ["L_D1", "L_D3", "L_DM"] {
        assert!(m["terms"][t].as_f64().is_some(), "{t}: {m}");
    }
    if sim.is_empty() {
        // A host with a PMU counted them all.
        assert!(m["unavailable"].get("L_D1").is_none(), "{m}");
    } else {
        assert!(m["simulated"].as_bool().unwrap(), "{m}");
        // L1 hits per packet: a router reads at least its frame's headers.
        assert!(
            m["events_per_packet"]["L_D1"].as_f64().unwrap() > 10.0,
            "{m}"
        );
    }
    assert_eq!(
        v["chain"]["model"]["simulated_terms"]
            .as_array()
            .unwrap()
            .len(),
        sim.len()
    );
}

/// Three routers with `plan` (`fused` or `chain-order`) on one core, `rate` pps for `secs`.
fn three_routers(name: &str, plan: &str, rate: u32, secs: f64) -> String {
    three_routers_on(name, plan, "b2b", rate, secs)
}

/// [`three_routers`] with interconnect `kind`.
fn three_routers_on(name: &str, plan: &str, kind: &str, rate: u32, secs: f64) -> String {
    let nf = |n: &str, env: &str| {
        format!(
            "[[nf]]\nname = \"{n}\"\nkind = \"router\"\nenv = \"{env}\"\nroutes = [\"198.18.0.0/15\"]\n"
        )
    };
    format!(
        "name = \"{name}\"\n[io]\ndriver = \"mmsg\"\nbatch = 32\n[interconnect]\nkind = \"{kind}\"\n[schedule]\nplan = \"{plan}\"\ncores = [{core}]\n{}{}{}[traffic]\nrate_pps = {rate}\nframe_size = 64\nduration_s = {secs}\ncore = 0\ndrain_ms = 1000\n",
        nf("r1", "netns"),
        nf("r2", "native"),
        nf("r3", "native"),
        core = scc_sched::online_cpus()
            .ok()
            .and_then(|c| c.last().copied())
            .unwrap_or(0),
    )
}

/// `scc run --json` of three routers under `plan`: exact counts hop by hop, each counted by a
/// different party (generator, each NF, sink). Returns the report.
fn run_three(plan: &str) -> Value {
    run_three_on(plan, "b2b")
}

/// [`run_three`] with interconnect `kind`.
fn run_three_on(plan: &str, kind: &str) -> Value {
    let f = write_chain(
        &format!("three-{plan}-{kind}"),
        &three_routers_on(plan, plan, kind, 2000, 1.0),
    );
    let v = run_json(&f);
    let nfs = v["nfs"].as_array().unwrap();
    let names: Vec<&str> = nfs.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["r1", "r2", "r3"], "one entry per NF: {v}");
    let (sent, received, lost) = (
        v["sent"].as_u64().unwrap(),
        v["received"].as_u64().unwrap(),
        v["lost"].as_u64().unwrap(),
    );
    let num = |n: &Value, k: &str| n[k].as_u64().unwrap_or_else(|| panic!("no {k}: {n}"));
    // Every frame offered was sent or counted by the generator as not sent (a loaded machine
    // can leave some unsent or dropped at the generator's own port).
    let g = &v["traffic"]["generator"];
    assert_eq!(sent + num(g, "tx_dropped") + num(g, "unsent"), 2000, "{g}");
    assert_eq!(sent, received + lost);
    let kd0 = num(&nfs[0]["counters"], "kernel_drops");
    assert_eq!(sent, num(&nfs[0], "rx") + kd0, "generator -> r1: {v}");
    for (k, n) in nfs.iter().enumerate() {
        let drops: u64 = n["drops"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(num(n, "rx"), num(n, "tx") + drops, "{n}");
        if k + 1 < nfs.len() {
            assert_eq!(num(n, "tx"), num(&nfs[k + 1], "rx"), "hop {k}: {v}");
        }
    }
    assert_eq!(num(&nfs[2], "tx"), received, "r3 -> sink: {v}");
    // How much a 2 kpps run loses depends on the machine's load (a starved chain overflows its
    // bounded entry queue); every lost frame is counted above, at r1's kernel queue or as an NF
    // drop. Traffic must still pass.
    assert!(received * 2 >= sent, "most frames lost at 2 kpps: {v}");
    assert_eq!(v["schedule"]["plan"], plan);
    v
}

#[test]
fn three_routers_fused_pass_traffic_with_exact_per_nf_counts() {
    let v = run_three("fused");
    let nfs = v["nfs"].as_array().unwrap();
    let pids: Vec<u64> = nfs.iter().map(|n| n["pid"].as_u64().unwrap()).collect();
    assert!(pids.iter().all(|&p| p == pids[0]), "one process: {pids:?}");
    assert_eq!(nfs[1]["counters"]["io"], "fused");
    assert_eq!(
        nfs[1]["counters"]["syscalls"], 0,
        "the middle NF made no system call"
    );
}

#[test]
fn three_routers_in_chain_order_pass_traffic_with_exact_per_nf_counts() {
    let v = run_three("chain-order");
    let nfs = v["nfs"].as_array().unwrap();
    let mut pids: Vec<u64> = nfs.iter().map(|n| n["pid"].as_u64().unwrap()).collect();
    pids.dedup();
    assert_eq!(pids.len(), 3, "separate processes");
    let cores: Vec<&Value> = nfs.iter().map(|n| &n["core"]).collect();
    assert!(cores.iter().all(|c| *c == cores[0]), "one core: {cores:?}");
}

#[test]
fn three_routers_fused_and_in_chain_order_over_a_bridge() {
    for plan in ["fused", "chain-order"] {
        let v = run_three_on(plan, "bridge");
        assert_eq!(v["interconnect"], "bridge", "{v}");
    }
}

#[test]
fn check_shows_the_plan_and_refuses_what_cannot_be_fused() {
    let f = write_chain(
        "check-fused",
        &three_routers("check-fused", "fused", 1000, 1.0),
    );
    let out = scc().arg("check").arg(&f).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("plan fused: schedule.plan = \"fused\""),
        "{text}"
    );
    assert!(
        text.contains("gives up: env = \"netns\" isolation is given up under fusion: nf[0] (`r1`)"),
        "{text}"
    );
    let out = scc().args(["check", "--json"]).arg(&f).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["plan"]["kind"], "fused");
    assert_eq!(v["nfs"].as_array().unwrap().len(), 1, "one process: {v}");
    // A custom NF executable cannot be fused: refused, naming the field.
    let out = scc()
        .args(["check", "--nf-exe", "/opt/other-nf"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("schedule.plan") && err.contains("cannot be fused"),
        "{err}"
    );
    // A kernel NF (the kernel's own forwarding) has no element graph to fuse.
    let kernel = three_routers("check-kernel-fused", "fused", 1000, 1.0).replacen(
        "name = \"r2\"\nkind = \"router\"\nenv = \"native\"",
        "name = \"r2\"\nkind = \"kernel\"\nenv = \"netns\"",
        1,
    );
    assert!(kernel.contains("kind = \"kernel\""));
    let f = write_chain("check-kernel-fused", &kernel);
    let out = scc().arg("check").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nf[1].kind") && err.contains("`kernel` cannot be fused"),
        "{err}"
    );
    let f = write_chain(
        "check-profile-fused",
        &format!(
            "mode = \"profile\"\n{}",
            three_routers("cpf", "fused", 1000, 1.0)
        ),
    );
    let out = scc().arg("check").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mode:") && err.contains("one process per NF"),
        "{err}"
    );
}

#[test]
fn a_killed_chain_order_nf_is_reported_and_everything_torn_down() {
    let f = write_chain(
        "co-crash",
        &three_routers("co-crash", "chain-order", 1000, 30.0),
    );
    killed_nf_is_reported(&f, &["chain order on core"], "r2", "r3");
}

#[test]
fn an_idle_chain_order_chain_uses_under_5_percent_of_a_core() {
    // 1 frame per second: the chain is idle almost all the time.
    let f = write_chain("co-idle", &three_routers("co-idle", "chain-order", 1, 30.0));
    let run = Running::start(scc().args(["run", "-v"]).arg(&f));
    run.wait_for("scc: nf r3 pid", Duration::from_secs(20));
    let pids = pids_in(&run.lines.lock().unwrap().clone());
    assert_eq!(pids.len(), 3);
    std::thread::sleep(Duration::from_millis(700));
    let cpu = |pid: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let before: u64 = pids.iter().map(|&p| cpu(p)).sum();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let used = pids.iter().map(|&p| cpu(p)).sum::<u64>() - before;
    let share = used as f64 / t.elapsed().as_nanos() as f64;
    println!(
        "idle chain-order chain of 3 under scc run: {:.3}% of a core",
        share * 100.0
    );
    // SAFETY: kill has no memory arguments; the pid is our child.
    unsafe { libc::kill(run.child.id() as i32, libc::SIGINT) };
    let (code, lines) = run.wait(Duration::from_secs(20));
    assert_eq!(code, Some(130), "{lines:?}");
    assert!(
        share < 0.05,
        "an idle chain used {:.1}% of a core",
        share * 100.0
    );
}

/// `driver = "auto"`: every NF reports the backend it chose (`nfs[].io` in the JSON, the `io`
/// column of the table): `xdp` where AF_XDP works (root), else `ring`, with the reason in
/// `nfs[].io_fallbacks`; the frames are counted through the chain as with any backend.
#[test]
fn driver_auto_reports_the_backend_each_nf_chose() {
    let text =
        two_routers("auto", "b2b", 1000, 0.5).replace("driver = \"mmsg\"", "driver = \"auto\"");
    let f = write_chain("auto", &text);
    let out = scc().args(["run", "--json"]).arg(&f).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scc run failed: {stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = match scc_io::xdp::probe() {
        Ok(()) => "xdp",
        Err(why) => {
            println!("note: AF_XDP unavailable here ({why}): auto must choose ring");
            "ring"
        }
    };
    let nfs = v["nfs"].as_array().unwrap();
    assert_eq!(nfs.len(), 2);
    for n in nfs {
        assert_eq!(n["io"], want, "{n}");
        assert_eq!(n["counters"]["io"], want, "{n}");
        let fallbacks = n["io_fallbacks"].as_array().unwrap();
        if want == "ring" {
            assert!(!fallbacks.is_empty(), "the skipped xdp is reported: {n}");
        } else {
            assert!(fallbacks.is_empty(), "{n}");
        }
    }
    assert_eq!(v["sent"], 500);
    assert!(v["received"].as_u64().unwrap() > 0, "{v}");
    // The table shows it too.
    let out = scc().arg("run").arg(&f).output().unwrap();
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let header = table
        .lines()
        .find(|l| l.starts_with("nf "))
        .expect("NF table");
    assert!(header.split_whitespace().any(|c| c == "io"), "{table}");
    assert!(
        header.split_whitespace().any(|c| c == "kernel_drops"),
        "{table}"
    );
    for nf in ["r1", "r2"] {
        let row = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(nf))
            .unwrap_or_else(|| panic!("no row for {nf}: {table}"));
        assert!(row.split_whitespace().any(|c| c == want), "{row}");
    }
}

/// As an ordinary user (a rootless run: NFs in a user namespace, where AF_XDP cannot load its
/// program), `driver = "auto"` falls back to `ring` and the report says why, per NF.
#[test]
fn driver_auto_falls_back_to_ring_for_an_ordinary_user_and_says_why() {
    use std::os::unix::fs::PermissionsExt;
    let text =
        two_routers("autouser", "b2b", 1000, 0.5).replace("driver = \"mmsg\"", "driver = \"auto\"");
    let f = write_chain("autouser", &text);
    let _ = Command::new("chmod")
        .arg("-R")
        .arg("a+rX")
        .arg(f.parent().unwrap())
        .status();
    let mut copy_dir = None;
    let mut cmd = if is_root() {
        let Some(sp) = setpriv() else {
            println!(
                "SKIPPED: driver_auto_falls_back_to_ring_for_an_ordinary_user_and_says_why: setpriv (util-linux) is missing"
            );
            return;
        };
        // A world-readable copy of the binary of this test's own (the build tree may not be
        // reachable for uid 65534).
        let dir = std::env::temp_dir().join(format!("scc-cli-bin-auto-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let exe = dir.join("scc");
        std::fs::copy(env!("CARGO_BIN_EXE_scc"), &exe).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        copy_dir = Some(dir);
        let mut c = Command::new(sp);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(exe);
        c
    } else {
        scc()
    };
    let out = cmd
        .args(["run", "--json"])
        .arg(&*f)
        .current_dir("/")
        .output()
        .unwrap();
    if let Some(d) = copy_dir {
        let _ = std::fs::remove_dir_all(d);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rootless auto run failed: {stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for n in v["nfs"].as_array().unwrap() {
        assert_eq!(n["io"], "ring", "{n}");
        let why: Vec<&str> = n["io_fallbacks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(!why.is_empty(), "{n}");
        for w in why {
            assert!(
                w.contains("xdp unavailable") && w.contains("CAP_BPF") && w.contains("using ring"),
                "{w}"
            );
        }
    }
    assert!(v["received"].as_u64().unwrap() > 0, "{v}");
}
