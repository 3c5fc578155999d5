//! Deployment of the network part for real (namespaces, veth pairs, a bridge) in a sandbox
//! (a fresh user + network namespace, so it runs without root), and its teardown: afterwards no
//! fd or process of ours refers to any of the namespaces.

use std::path::Path;

use scc_io::link::Netlink;
use scc_launcher::chain::{Chain, InterconnectKind};
use scc_launcher::deploy::Deployment;
use scc_launcher::plan::DeployPlan;

const TWO: &str = r#"name = "deploy-test"
[[nf]]
name = "a"
kind = "router"
env = "netns"
routes = ["198.18.0.0/15"]
[[nf]]
name = "b"
kind = "router"
env = "native"
routes = ["198.18.0.0/15"]
"#;

/// Network namespaces referred to by our fds or threads.
fn our_netns_inodes() -> Vec<String> {
    let mut v = Vec::new();
    for dir in ["/proc/self/fd", "/proc/self/task"] {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = if dir.ends_with("task") {
                e.path().join("ns/net")
            } else {
                e.path()
            };
            if let Ok(l) = std::fs::read_link(&p) {
                let l = l.to_string_lossy().into_owned();
                if l.starts_with("net:[") {
                    v.push(l);
                }
            }
        }
    }
    v.sort();
    v.dedup();
    v
}

fn deploy_and_check(kind: InterconnectKind) {
    let mut chain = Chain::parse(TWO).unwrap();
    chain.interconnect.kind = kind;
    let plan = DeployPlan::new(&chain, Path::new("."), &[0, 1]).unwrap();
    let before = our_netns_inodes();
    let exe = std::env::current_exe().unwrap();
    let mut dep = Deployment::new(plan.clone(), exe, Box::new(|_| {}));
    dep.create_network().unwrap();
    let mut inodes = Vec::new();
    for (id, ifs) in plan.interfaces() {
        let ns = dep.netns(id).unwrap();
        inodes.push(format!("net:[{}]", ns.inode().unwrap()));
        let mut nl = Netlink::open_in(ns).unwrap();
        for name in ifs {
            let l = nl
                .link(&name)
                .unwrap()
                .unwrap_or_else(|| panic!("{name} missing"));
            assert!(l.up, "{name} down");
            if let Some(end) = plan
                .veths
                .iter()
                .flat_map(|v| [&v.a, &v.b])
                .find(|e| e.name == name)
            {
                assert_eq!(l.mac, end.mac, "{name}");
            }
        }
    }
    // The caller's namespace got nothing.
    let mine: Vec<String> = Netlink::open()
        .unwrap()
        .links()
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(mine, ["lo"], "links leaked into the caller's namespace");
    dep.teardown();
    drop(dep);
    let after = our_netns_inodes();
    assert_eq!(before, after);
    for ino in inodes {
        assert!(!after.contains(&ino), "{ino} still referenced");
    }
}

scc_io::sandbox_test!(
    fn b2b_network_is_created_and_removed() {
        deploy_and_check(InterconnectKind::B2b);
    }
);

scc_io::sandbox_test!(
    fn bridge_network_is_created_and_removed() {
        deploy_and_check(InterconnectKind::Bridge);
    }
);
