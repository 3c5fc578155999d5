//! Pure helpers: suggestions for unknown names, NF counter parsing, prefixes and MACs.

use scc_launcher::chain::{fmt_mac, parse_mac, parse_prefix, suggest, valid_name};
use scc_launcher::run::parse_nf_counters;
use serde_json::json;

#[test]
fn suggestions_pick_the_closest_known_name_only_when_close() {
    let fields = [
        "policy",
        "nice",
        "priority",
        "rr_timeslice_ms",
        "slice_us",
        "cores",
    ];
    assert_eq!(suggest("polcy", fields), Some("policy"));
    assert_eq!(suggest("prio", fields), Some("priority"));
    assert_eq!(suggest("core", fields), Some("cores"));
    assert_eq!(suggest("slice", fields), Some("slice_us"));
    assert_eq!(suggest("zzzzzz", fields), None);
    assert_eq!(
        suggest("routr", ["router", "firewall", "forward"]),
        Some("router")
    );
    assert_eq!(suggest("x", [] as [&str; 0]), None);
}

#[test]
fn nf_counters_are_read_from_scc_nf_json() {
    // The object scc-nf prints on stdout (and sends on its status channel), every field.
    let v = json!({"name": "r1", "nf": "router", "rx": 10, "tx": 7,
        "drops": {"no_route": 2, "ttl_expired": 1}, "syscalls": 5, "rx_syscalls": 3,
        "tx_syscalls": 2, "kernel_drops": 0, "empty_polls": 4, "batches": 3, "events": {},
        "io": "mmsg", "batch": 32, "poll": "sleep", "elapsed_s": 1.5});
    let c = parse_nf_counters(&v).unwrap();
    assert_eq!((c.rx, c.tx, c.syscalls), (10, 7, 5));
    assert_eq!(c.drops.values().sum::<u64>(), 3);
    assert!(c.balanced());
    // It is scc-nf's own record: what scc-nf serialises reads back equal.
    let again = parse_nf_counters(&serde_json::to_value(&c).unwrap()).unwrap();
    assert_eq!(again, c);
    // Missing fields stay unknown, never zero.
    assert_eq!(parse_nf_counters(&json!({"name": "x"})), None);
}

#[test]
fn prefixes_and_macs() {
    assert_eq!(
        parse_prefix("198.18.0.0/15").unwrap(),
        ("198.18.0.0".parse().unwrap(), 15)
    );
    assert!(parse_prefix("0.0.0.0/0").is_ok());
    assert!(parse_prefix("198.18.0.1/32").is_ok());
    assert!(
        parse_prefix("198.18.0.1/15")
            .unwrap_err()
            .contains("198.18.0.0/15")
    );
    assert!(parse_prefix("198.18.0.0").is_err());
    assert!(parse_prefix("300.1.1.1/8").is_err());
    let m = parse_mac("02:AB:cd:00:00:01").unwrap();
    assert_eq!(fmt_mac(m), "02:ab:cd:00:00:01");
    assert!(parse_mac("ff:ff:ff:ff:ff:ff").is_err());
    assert!(parse_mac("00:00:00:00:00:00").is_err());
    assert!(parse_mac("02:00:00:00:00").is_err());
    assert!(valid_name("r1", 12) && valid_name("fw-2", 12));
    assert!(!valid_name("-r", 12) && !valid_name("R1", 12) && !valid_name("", 12));
    assert!(!valid_name("a_b", 12) && !valid_name("abcdefghijklm", 12));
}

#[test]
fn stale_cgroup_names_give_their_owner() {
    use scc_launcher::cgroup::owner_pid;
    assert_eq!(owner_pid("scc-demo-1234-nfs"), Some(1234));
    assert_eq!(owner_pid("scc-routers-b2b-2-1234-nfs"), Some(1234));
    assert_eq!(owner_pid("scc-demo-1234"), None);
    assert_eq!(owner_pid("scc-res-12177-0"), Some(12177));
    assert_eq!(owner_pid("scc-nf-r1-12177-1"), Some(12177));
    assert_eq!(owner_pid("user.slice"), None);
    assert_eq!(owner_pid("scc-"), None);
    // The group an `isolate` reservation moves the host's other tasks into.
    assert_eq!(owner_pid("scc-res-12177-0-others"), Some(12177));
    assert_eq!(owner_pid("scc-demo-1234-nfs-others"), None);
    assert_eq!(owner_pid("scc-others"), None);
}
