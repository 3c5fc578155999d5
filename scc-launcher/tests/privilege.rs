//! Least privilege of the NF processes, for real: a deployed chain's NFs (started by the
//! launcher in a sandbox, a fresh user + network namespace where the launcher is root of the
//! namespace) run with only the capabilities of their I/O backend and `NoNewPrivs`, and show
//! under their own name (`/proc/PID/comm` = `scc-nf:<name>`, `argv[0]` likewise).

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use scc_launcher::chain::Chain;
use scc_launcher::deploy::Deployment;
use scc_launcher::plan::DeployPlan;
use scc_sched::CapSet;

const CHAIN: &str = r#"name = "least-priv"
[io]
driver = "mmsg"
[[nf]]
name = "r1"
kind = "router"
routes = ["198.18.0.0/15"]
[[nf]]
name = "fw-2"
kind = "firewall"
io = { driver = "ring" }
rules = ["allow all"]
"#;

fn status_field(pid: u32, field: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_string()
}

scc_io::sandbox_test!(
    fn nfs_run_with_only_their_capabilities_and_under_their_name() {
        let chain = Chain::parse(CHAIN).unwrap();
        let plan = DeployPlan::new(&chain, Path::new("."), &[0, 1]).unwrap();
        let exe = Path::new(env!("CARGO_BIN_EXE_scc")).to_path_buf();
        let mut dep = Deployment::new(plan.clone(), exe, Box::new(|_| {}));
        dep.create_network().unwrap();
        dep.spawn_nfs().unwrap();
        dep.wait_ready(Duration::from_secs(10), &AtomicBool::new(false))
            .unwrap();
        // The launcher itself (root of the sandbox) has every capability.
        let mine = CapSet::effective_of(std::process::id()).unwrap();
        assert!(mine.contains(CapSet::SYS_ADMIN) && mine.contains(CapSet::SETPCAP));
        let raw = CapSet::of(&[CapSet::NET_RAW]);
        for (name, pid) in dep.pids() {
            let eff = CapSet::effective_of(pid).unwrap();
            assert_eq!(eff, raw, "{name}: CapEff {eff}");
            let bnd = u64::from_str_radix(&status_field(pid, "CapBnd:"), 16).unwrap();
            assert_eq!(CapSet(bnd), raw, "{name}: CapBnd");
            assert_eq!(status_field(pid, "CapInh:"), "0000000000000000", "{name}");
            assert_eq!(status_field(pid, "CapAmb:"), "0000000000000000", "{name}");
            assert_eq!(status_field(pid, "NoNewPrivs:"), "1", "{name}");
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
            assert_eq!(comm.trim_end(), format!("scc-nf:{name}"), "{name}");
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
            let argv0 = cmdline.split(|&b| b == 0).next().unwrap();
            assert_eq!(argv0, format!("scc-nf:{name}").as_bytes(), "{name}");
        }
        assert_eq!(plan.nfs[0].caps, raw);
        assert_eq!(plan.nfs[1].caps, raw);
        dep.teardown();
    }
);

// ---- through the `scc` binary ----

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn scc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scc"))
}

/// A scratch folder of this test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("scc-priv-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn one_router(name: &str, env: &str, secs: f64) -> String {
    format!(
        "name = \"{name}\"\n[[nf]]\nname = \"r1\"\nkind = \"router\"\nenv = \"{env}\"\n\
         routes = [\"198.18.0.0/15\"]\n[traffic]\nrate_pps = 200\nduration_s = {secs}\n"
    )
}

fn host_root() -> bool {
    scc_launcher::privilege::host_root()
}

/// `scc run` (as root, or rootless in its own user namespace) starts its NFs with `CAP_NET_RAW`
/// only, named `scc-nf:r1`: read from `/proc/PID/status` and `comm` of the running NF.
#[test]
fn scc_run_starts_nfs_with_least_privilege() {
    let dir = Scratch::new("caps");
    let f = dir.0.join("caps.toml");
    std::fs::write(&f, one_router("caps", "native", 3.0)).unwrap();
    let mut child = scc()
        .args(["run", "-v"])
        .arg(&f)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let pid: u32 = loop {
        let Some(Ok(l)) = lines.next() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("scc ended before logging the NF: {seen:?}");
        };
        if let Some(rest) = l.strip_prefix("scc: nf r1 pid ") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
        seen.push(l);
    };
    // The NF is ready once its socket is open and it named itself; poll briefly for the name.
    let start = std::time::Instant::now();
    let comm = loop {
        let c = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if c.trim_end() == "scc-nf:r1" || start.elapsed() > Duration::from_secs(5) {
            break c;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let eff = CapSet::effective_of(pid);
    let nnp = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("NoNewPrivs:") && l.ends_with('1'));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let st = child.wait().unwrap();
    assert!(st.success(), "{seen:?} {rest:?}");
    assert_eq!(comm.trim_end(), "scc-nf:r1");
    assert_eq!(
        eff,
        Some(CapSet::of(&[CapSet::NET_RAW])),
        "CapEff of the NF"
    );
    assert!(nnp, "NoNewPrivs not set");
}

/// The environment cannot choose the NF executable: `SCC_NF_EXE` naming a program that would
/// leave a mark is not executed (only `--nf-exe` is).
#[test]
fn the_environment_does_not_choose_the_nf_executable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Scratch::new("nfexe");
    let mark = dir.0.join("executed");
    let fake = dir.0.join("fake-nf");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\ntouch {}\nexit 1\n", mark.display()),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let f = dir.0.join("nfexe.toml");
    std::fs::write(&f, one_router("nfexe", "native", 0.3)).unwrap();
    let out = scc()
        .args(["run", "--json"])
        .arg(&f)
        .env("SCC_NF_EXE", &fake)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!mark.exists(), "scc executed $SCC_NF_EXE");
}

/// As host root, `SCC_INNER` in the caller's environment does not switch off the launcher's
/// own privileged steps: the `env = "netns"` NF still gets its cgroup.
#[test]
fn the_environment_does_not_skip_privilege_handling() {
    if !host_root() {
        println!(
            "SKIPPED: the_environment_does_not_skip_privilege_handling: needs root in the initial user namespace"
        );
        return;
    }
    if scc_sched::CgroupLayout::detect().v2.is_none() {
        println!(
            "SKIPPED: the_environment_does_not_skip_privilege_handling: no cgroup2 hierarchy mounted"
        );
        return;
    }
    let dir = Scratch::new("inner");
    let f = dir.0.join("inner.toml");
    std::fs::write(&f, one_router("inner", "netns", 0.3)).unwrap();
    let out = scc()
        .args(["run", "--json"])
        .arg(&f)
        .env("SCC_INNER", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let groups = v["schedule"]["nf_cgroups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(groups.len(), 1, "{v}");
    assert!(
        !v["warnings"].to_string().contains("need root"),
        "{}",
        v["warnings"]
    );
}

// ---- Open vSwitch ----

fn ns_of(pid: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .map(|l| l.display().to_string())
        .unwrap_or_default()
}

/// During an OVS run, `ovsdb-server` runs in the switch's namespace (that of `ovs-vswitchd`, not
/// ours), and their folder is private: mode 0700, a random name, a marker naming its owner.
#[test]
fn open_vswitch_runs_in_the_switch_namespace_with_a_private_folder() {
    use std::os::unix::fs::PermissionsExt;
    if scc_launcher::ovs::OvsTools::find().is_err() {
        println!(
            "SKIPPED: open_vswitch_runs_in_the_switch_namespace_with_a_private_folder: Open vSwitch is not installed"
        );
        return;
    }
    if !scc_launcher::privilege::host_root()
        && std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .is_err()
    {
        println!(
            "SKIPPED: open_vswitch_runs_in_the_switch_namespace_with_a_private_folder: this user cannot open /dev/net/tun"
        );
        return;
    }
    let dir = Scratch::new("ovs");
    let f = dir.0.join("ovs.toml");
    std::fs::write(
        &f,
        one_router("ovs", "native", 2.0)
            .replace("[[nf]]", "[interconnect]\nkind = \"ovs\"\n[[nf]]"),
    )
    .unwrap();
    let mut child = scc()
        .args(["run", "-v"])
        .arg(&f)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let (mut vswitchd, mut db) = (None, None);
    while vswitchd.is_none() || db.is_none() {
        let Some(Ok(l)) = lines.next() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("scc ended before logging the switch: {seen:?}");
        };
        if let Some(r) = l.strip_prefix("scc: ovs scc-br0 pid ") {
            vswitchd = r.split_whitespace().next().map(str::to_string);
        }
        if let Some(r) = l.strip_prefix("scc: ovsdb-server pid ") {
            let mut it = r.split_whitespace();
            let pid = it.next().unwrap().to_string();
            it.next(); // "dir"
            db = Some((pid, PathBuf::from(it.next().unwrap())));
        }
        seen.push(l);
    }
    let (vswitchd, (db, folder)) = (vswitchd.unwrap(), db.unwrap());
    let (ns_db, ns_vs, ns_me) = (ns_of(&db), ns_of(&vswitchd), ns_of("self"));
    let mode = std::fs::metadata(&folder).map(|m| m.permissions().mode() & 0o777);
    let marker = std::fs::read_to_string(folder.join(scc_launcher::ovs::MARKER));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let st = child.wait().unwrap();
    assert!(st.success(), "{seen:?} {rest:?}");
    assert!(!ns_db.is_empty() && !ns_vs.is_empty());
    assert_eq!(ns_db, ns_vs, "ovsdb-server outside the switch namespace");
    assert_ne!(ns_db, ns_me, "ovsdb-server in the caller's namespace");
    assert_eq!(mode.ok(), Some(0o700), "{}", folder.display());
    let name = folder.file_name().unwrap().to_string_lossy().into_owned();
    let suffix = name.rsplit('-').next().unwrap();
    assert_eq!(suffix.len(), 6, "{name}: not a mkdtemp name");
    assert!(marker.is_ok_and(|m| m.trim().parse::<u32>().is_ok()));
    assert!(!folder.exists(), "the private folder was left");
}

/// The stale-folder sweep removes only folders scc made (this user's, with the marker naming
/// a dead PID); never one without the marker, a symbolic link, a live scc's, or (as root)
/// another user's.
#[test]
fn the_stale_ovs_sweep_removes_only_what_scc_made() {
    use scc_launcher::ovs::{MARKER, remove_stale_dirs_in};
    let scratch = Scratch::new("ovs-sweep");
    let base = &scratch.0;
    let mut c = Command::new("true").spawn().unwrap();
    let dead = c.id();
    c.wait().unwrap();
    let mk = |name: &str, marker: Option<String>| {
        let d = base.join(name);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("conf.db"), "x").unwrap();
        if let Some(m) = marker {
            std::fs::write(d.join(MARKER), m).unwrap();
        }
        d
    };
    let stale = mk(&format!("scc-ovs-{dead}-aB3xYz"), Some(dead.to_string()));
    let no_marker = mk(&format!("scc-ovs-{dead}-nomark"), None);
    let wrong_pid = mk(&format!("scc-ovs-{dead}-wrongp"), Some("1".into()));
    let live = mk(
        &format!("scc-ovs-{}-livexx", std::process::id()),
        Some(std::process::id().to_string()),
    );
    let target = mk("elsewhere", Some(dead.to_string()));
    let link = base.join(format!("scc-ovs-{dead}-linkxx"));
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let foreign = if scc_launcher::privilege::host_root() {
        let d = mk(&format!("scc-ovs-{dead}-foreig"), Some(dead.to_string()));
        for p in [d.clone(), d.join(MARKER)] {
            std::os::unix::fs::lchown(&p, Some(65534), Some(65534)).unwrap();
        }
        Some(d)
    } else {
        println!(
            "SKIPPED: the_stale_ovs_sweep_removes_only_what_scc_made (another user's folder part): needs root"
        );
        None
    };
    let notes = remove_stale_dirs_in(base);
    assert!(!stale.exists(), "{notes:?}");
    assert_eq!(notes.len(), 1, "{notes:?}");
    for kept in [&no_marker, &wrong_pid, &live, &target, &link]
        .into_iter()
        .chain(foreign.as_ref())
    {
        assert!(
            std::fs::symlink_metadata(kept).is_ok(),
            "{} removed",
            kept.display()
        );
    }
    assert!(target.join(MARKER).exists());
}

/// As root, `--capture DIR` works in a folder of another user although the NFs keep no
/// `CAP_DAC_OVERRIDE`: the launcher creates the files, the NFs write them.
#[test]
fn capture_into_another_users_folder_as_root() {
    if !host_root() {
        println!(
            "SKIPPED: capture_into_another_users_folder_as_root: needs root in the initial user namespace"
        );
        return;
    }
    let dir = Scratch::new("capture");
    let cap = dir.0.join("cap");
    std::fs::create_dir(&cap).unwrap();
    std::os::unix::fs::chown(&cap, Some(65534), Some(65534)).unwrap();
    let f = dir.0.join("capture.toml");
    std::fs::write(&f, one_router("capture", "native", 0.3)).unwrap();
    let out = scc()
        .args(["run", "--json", "--capture"])
        .arg(&cap)
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = v["capture"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{v}");
    let rx = files.iter().find(|f| f["interface"] == "r1-rx").unwrap();
    assert_eq!(rx["frames"], v["nfs"][0]["counters"]["rx"], "{v}");
}

/// As root, an NF still reads a routes file only its owner may read (in a 0700 folder of
/// another user), and keeps `CAP_DAC_READ_SEARCH` for that, nothing more.
#[test]
fn an_nf_reads_a_private_routes_file_as_root() {
    if !host_root() {
        println!(
            "SKIPPED: an_nf_reads_a_private_routes_file_as_root: needs root in the initial user namespace"
        );
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = Scratch::new("private-routes");
    let home = dir.0.join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("routes.txt"), "198.18.0.0/15\n").unwrap();
    let f = home.join("c.toml");
    std::fs::write(
        &f,
        one_router("private", "native", 0.3).replace(
            "routes = [\"198.18.0.0/15\"]",
            "routes_file = \"routes.txt\"",
        ),
    )
    .unwrap();
    for p in [home.join("routes.txt"), f.clone(), home.clone()] {
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
        let mode = if p == home { 0o700 } else { 0o600 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let out = scc().args(["run", "--json"]).arg(&f).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The routes were read: the router forwarded (an NF without them exits at start).
    assert!(v["nfs"][0]["counters"]["tx"].as_u64() > Some(0), "{v}");
}
