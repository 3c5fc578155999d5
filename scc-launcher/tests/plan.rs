//! The deployment plan, without privileges: names, MACs, next hops, argv, namespaces,
//! scheduling placement, and teardown as the plan's inverse.

use std::path::Path;

use scc_launcher::chain::{Chain, fmt_mac};
use scc_launcher::plan::{DeployPlan, NsRole, Step, Undo};

fn chain(text: &str) -> Chain {
    Chain::parse(text).unwrap()
}

const TWO: &str = r#"name = "t"
[schedule]
plan = "multiprocessor"
cores = [0, 1]
[[nf]]
name = "a"
kind = "router"
env = "netns"
core = 1
routes = ["198.18.0.0/15"]
[[nf]]
name = "b"
kind = "router"
env = "native"
routes = ["198.18.0.0/15", "10.0.0.0/8"]
core = 0
"#;

#[test]
fn b2b_links_consecutive_nfs_and_next_hop_macs_chain_up() {
    let p = DeployPlan::new(&chain(TWO), Path::new("."), &[0, 1]).unwrap();
    assert_eq!(
        p.namespaces,
        [
            NsRole::Gen,
            NsRole::Sink,
            NsRole::Chain,
            NsRole::Nf("a".into())
        ]
    );
    let pairs: Vec<(&str, &str)> = p
        .veths
        .iter()
        .map(|v| (v.a.name.as_str(), v.b.name.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [("gen0", "a-rx"), ("a-tx", "b-rx"), ("b-tx", "sink0")]
    );
    // a (netns) in its own namespace, b (native) in the chain's.
    assert_eq!(p.nfs[0].ns, 3);
    assert_eq!(p.nfs[1].ns, 2);
    // Next hops: gen -> a-rx, a -> b-rx, b -> sink.
    let mac_of = |name: &str| {
        p.veths
            .iter()
            .flat_map(|v| [&v.a, &v.b])
            .find(|e| e.name == name)
            .unwrap()
            .mac
    };
    assert_eq!(p.gen_end.peer_mac, mac_of("a-rx"));
    assert_eq!(p.nfs[0].gw_mac, mac_of("b-rx"));
    assert_eq!(p.nfs[1].gw_mac, mac_of("sink0"));
    assert_eq!(p.sink.peer_mac, mac_of("b-tx"));
    // Every MAC is unicast, locally administered and distinct.
    let macs: Vec<[u8; 6]> = p.veths.iter().flat_map(|v| [v.a.mac, v.b.mac]).collect();
    for m in &macs {
        assert_eq!(m[0] & 0x03, 0x02, "{}", fmt_mac(*m));
    }
    let mut uniq = macs.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), macs.len());
    // argv: the scc-nf contract flags; a later NF's receive queue is 8 batches by default
    // under the kernel's scheduling (scc_launcher::fusion::default_rx_queue_frames).
    let argv = p.nfs[1].argv.join(" ");
    assert_eq!(
        argv,
        format!(
            "nf router --rx b-rx --tx b-tx --io mmsg --batch 32 --poll sleep --gw-mac {} \
             --route 198.18.0.0/15 --route 10.0.0.0/8 --rx-queue-frames 256",
            fmt_mac(mac_of("sink0"))
        )
    );
    // Cores: as asked, one scheduler instance per core (scc-sched's plan).
    assert_eq!(p.nfs[0].core, Some(1));
    assert_eq!(p.nfs[1].core, Some(0));
    assert_eq!(p.sched.per_core[&1], ["a"]);
    assert_eq!(p.sched.per_core[&0], ["b"]);
}

#[test]
fn bridge_puts_every_port_on_the_switch_and_announces_it() {
    let mut c = chain(TWO);
    c.interconnect.kind = scc_launcher::chain::InterconnectKind::Bridge;
    c.nfs[1].core = Some(1);
    c.interconnect.core = Some(0);
    let p = DeployPlan::new(&c, Path::new("."), &[0, 1]).unwrap();
    assert_eq!(p.namespaces.last(), Some(&NsRole::Switch));
    let sw = p.namespaces.len() - 1;
    assert_eq!(p.bridges.len(), 1);
    assert_eq!(p.veths.len(), 6); // gen, a rx/tx, b rx/tx, sink
    for v in &p.veths {
        assert_eq!(v.b.ns, sw);
        assert_eq!(v.b.master.as_deref(), Some("scc-br0"));
        assert_eq!(v.b.name, format!("{}b", v.a.name));
    }
    assert_eq!(p.announce.len(), 6);
    // Multiprocessor: the switch on the second core.
    assert_eq!(p.switch_core, Some(0));
    assert!(p.sched.per_core[&0].contains(&"switch".to_string()));
}

#[test]
fn teardown_is_the_inverse_of_the_steps_done() {
    let p = DeployPlan::new(&chain(TWO), Path::new("."), &[0, 1]).unwrap();
    let steps = p.steps();
    assert_eq!(steps.first(), Some(&Step::CreateNs(0)));
    assert_eq!(steps.last(), Some(&Step::SpawnNf(1)));
    let all = DeployPlan::teardown(&steps);
    assert_eq!(all.first(), Some(&Undo::StopNf(1)));
    assert_eq!(all.last(), Some(&Undo::DropNs(0)));
    assert_eq!(all.len(), steps.len());
    // A partial deployment undoes only what was done.
    let part = DeployPlan::teardown(&steps[..5]);
    assert_eq!(
        part,
        [
            Undo::DeleteVeth(0),
            Undo::DropNs(3),
            Undo::DropNs(2),
            Undo::DropNs(1),
            Undo::DropNs(0)
        ]
    );
}

#[test]
fn explicit_gw_mac_and_io_override_win() {
    let mut c = chain(TWO);
    c.nfs[0].gw_mac = Some("02:00:00:00:00:42".into());
    c.nfs[0].io.batch = Some(8);
    c.nfs[0].io.driver = Some(scc_io::Driver::Packet);
    let p = DeployPlan::new(&c, Path::new("."), &[0, 1]).unwrap();
    let argv = p.nfs[0].argv.join(" ");
    assert!(argv.contains("--gw-mac 02:00:00:00:00:42"), "{argv}");
    assert!(argv.contains("--io packet --batch 8"), "{argv}");
}

#[test]
fn ovs_puts_every_port_on_the_userspace_switch() {
    let mut c = chain(TWO);
    c.interconnect.kind = scc_launcher::chain::InterconnectKind::Ovs;
    c.nfs[1].core = Some(1);
    c.interconnect.core = Some(0);
    let p = DeployPlan::new(&c, Path::new("."), &[0, 1]).unwrap();
    assert!(p.bridges.is_empty(), "no Linux bridge with OVS");
    let o = p.ovs.as_ref().unwrap();
    assert_eq!(p.namespaces[o.ns], NsRole::Switch);
    assert_eq!(o.ports.len(), 6);
    for v in &p.veths {
        assert_eq!(v.b.ns, o.ns);
        assert_eq!(v.b.master, None, "OVS adds its ports itself");
        assert!(o.ports.contains(&v.b.name));
    }
    assert_eq!(p.switch_core, Some(0));
    let steps = p.steps();
    let sw = steps.iter().position(|s| *s == Step::StartSwitch).unwrap();
    assert!(matches!(steps[sw - 1], Step::CreateVeth(_)));
    assert!(matches!(steps[sw + 1], Step::SpawnNf(0)));
    assert!(DeployPlan::teardown(&steps).contains(&Undo::StopSwitch));
}

#[test]
fn contradictory_plans_are_refused_with_scc_sched_reason() {
    let mut c = chain(TWO);
    c.schedule.plan = scc_launcher::chain::Plan::Uniprocessor;
    let e = DeployPlan::new(&c, Path::new("."), &[0, 1])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("schedule: ") && e.contains("uniprocessor"),
        "{e}"
    );
    // Validation reports it too, on the `schedule` field.
    let errs = c.problems(&scc_launcher::chain::HostInfo::with_cores(2, false));
    assert!(errs.iter().any(|e| e.path == "schedule"), "{errs:?}");
}

#[test]
fn no_schedule_means_no_pinning() {
    let c = chain(
        r#"name = "free"
[[nf]]
name = "f"
kind = "forward"
"#,
    );
    let p = DeployPlan::new(&c, Path::new("."), &[0, 1]).unwrap();
    assert_eq!(p.nfs[0].core, None);
    assert!(p.sched.plan.is_none());
    assert_eq!(p.sched.unpinned, ["f"]);
}
