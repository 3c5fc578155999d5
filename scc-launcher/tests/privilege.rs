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
