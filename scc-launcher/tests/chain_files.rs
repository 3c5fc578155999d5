//! Every example chain parses, validates and plans; every malformed file fails with the
//! expected field path and reason (the first line of each bad file says what to expect).

use std::path::{Path, PathBuf};

use scc_launcher::chain::{Chain, HostInfo};
use scc_launcher::plan::DeployPlan;

fn host() -> HostInfo {
    HostInfo::with_cores(2, false)
}
/// The examples include Open vSwitch chains: validate them for a host that has it.
fn host_ovs() -> HostInfo {
    HostInfo::with_cores(2, true)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml" || e == "json"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_example_parses_validates_and_plans() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/chains");
    let all = files(&dir);
    assert!(all.len() >= 21, "examples missing: {all:?}");
    for f in all {
        let chain = Chain::load(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        chain
            .validate(&host_ovs())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(chain.file_problems(&dir), [], "{}", f.display());
        let plan = DeployPlan::new(&chain, &dir, &[0, 1]).unwrap();
        assert_eq!(plan.nfs.len(), chain.nfs.len());
    }
    for n in 1..=8 {
        for k in ["b2b", "bridge"] {
            let f = dir.join(format!("routers-{k}-{n}.toml"));
            let c = Chain::load(&f).unwrap();
            assert_eq!(c.nfs.len(), n, "{}", f.display());
            assert_eq!(c.interconnect.kind.name(), k);
        }
    }
}

#[test]
fn demo_needs_no_privileges_and_has_three_routers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/chains");
    let c = Chain::load(&dir.join("demo.toml")).unwrap();
    assert!(c.privileged_fields().is_empty());
    assert_eq!(c.nfs.len(), 3);
    assert!(c.traffic.is_some());
    let fifo = Chain::load(&dir.join("routers-b2b-8-fifo.toml")).unwrap();
    assert_eq!(
        fifo.privileged_fields(),
        vec!["schedule.policy = \"fifo\" (CAP_SYS_NICE)".to_string()]
    );
}

#[test]
fn every_malformed_file_names_field_and_reason() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chains/bad");
    let all = files(&dir);
    assert!(all.len() >= 30);
    let mut failures = Vec::new();
    for f in all {
        let text = std::fs::read_to_string(&f).unwrap();
        let (first, rest) = text.split_once('\n').unwrap();
        let expect = first
            .strip_prefix("# expect: ")
            .expect("first line: # expect: ...");
        let body = if f.extension().is_some_and(|e| e == "json") {
            rest
        } else {
            &text
        };
        let result = Chain::parse(body).and_then(|c| {
            let mut p = c.problems(&host());
            p.extend(c.file_problems(&dir));
            if p.is_empty() {
                Ok(())
            } else {
                Err(scc_launcher::chain::ChainError::Invalid(p))
            }
        });
        let err = match result {
            Ok(()) => "accepted".to_string(),
            Err(e) => e.to_string(),
        };
        if !err.contains(expect) {
            failures.push(format!(
                "{}:\n  expected: {expect}\n  got: {err}",
                f.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn json_and_toml_give_the_same_chain() {
    let t = Chain::parse(
        r#"name = "x"
[[nf]]
name = "r1"
kind = "router"
routes = ["198.18.0.0/15"]
[traffic]
rate_pps = 5
duration_s = 1
"#,
    )
    .unwrap();
    let j = Chain::parse(
        r#"{"name": "x", "nf": [{"name": "r1", "kind": "router", "routes": ["198.18.0.0/15"]}],
            "traffic": {"rate_pps": 5, "duration_s": 1}}"#,
    )
    .unwrap();
    assert_eq!(t, j);
    // And a chain serialised to JSON reads back the same.
    let again = Chain::parse_json(&serde_json::to_string(&t).unwrap()).unwrap();
    assert_eq!(t, again);
}

#[test]
fn validation_lists_every_problem() {
    let c = Chain::parse(
        r#"name = "x"
[io]
batch = 0
[[nf]]
name = "r1"
kind = "router"
routes = ["1.2.3.4/40"]
core = 9
"#,
    )
    .unwrap();
    let errs = c.problems(&host());
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["io.batch", "nf[0].core", "nf[0].routes[0]"]);
}

/// A host whose online CPUs have a hole ("0,2-3"): a chain on core 1 is refused although 1 is
/// below the highest online CPU.
#[test]
fn a_core_in_a_hole_of_the_online_list_is_refused() {
    let host = HostInfo::with_cpu_list("0,2-3", false).unwrap();
    let text = r#"name = "x"
[schedule]
cores = [1]
[[nf]]
name = "r1"
kind = "router"
routes = ["198.18.0.0/15"]
"#;
    let c = Chain::parse(text).unwrap();
    let errs = c.problems(&host);
    let got: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        got,
        ["schedule.cores[0]: core 1 is not online on this host (online CPUs: 0,2-3)"]
    );
    // Core 2 is online there, and the chain is valid.
    let c = Chain::parse(&text.replace("cores = [1]", "cores = [2]")).unwrap();
    assert_eq!(c.problems(&host), []);
}
