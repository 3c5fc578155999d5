//! The `scc-nf` binary's error handling: exit code 2 with a clear message for bad arguments,
//! malformed files (file:line: reason) and unknown interfaces. Runs unprivileged (`lo` exists in
//! every network namespace; errors are found before any socket is opened).
use std::process::{Command, Output};

fn scc_nf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scc-nf"))
        .args(args)
        .output()
        .unwrap()
}

fn expect_usage_error(args: &[&str], needle: &str) {
    let out = scc_nf(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: stderr lacks `{needle}`: {err}"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout on error");
}

fn tmp(name: &str, text: &str) -> String {
    let p = std::env::temp_dir().join(format!("scc-nf-cli-{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

const GW: &str = "02:00:00:00:00:02";

#[test]
fn bad_arguments_exit_2() {
    expect_usage_error(&[], "Usage");
    expect_usage_error(&["bogus"], "unrecognized subcommand");
    expect_usage_error(
        &["router", "--rx", "lo", "--io", "dpdk"],
        "unknown I/O driver `dpdk`",
    );
    expect_usage_error(
        &["router", "--rx", "lo", "--io", "mem"],
        "unknown I/O driver `mem`",
    );
    expect_usage_error(
        &["router", "--rx", "lo", "--poll", "lazy"],
        "unknown poll mode",
    );
    expect_usage_error(
        &["router", "--rx", "lo", "--gw-mac", "02:00"],
        "bad MAC address",
    );
    expect_usage_error(&["router", "--rx", "lo", "--batch", "x"], "invalid value");
    expect_usage_error(
        &["router", "--rx", "lo", "--batch", "0"],
        "bad batch size 0",
    );
    expect_usage_error(&["router", "--tx", "lo"], "no input interface");
    expect_usage_error(&["router", "--rx", "lo"], "no route was given");
    expect_usage_error(
        &["router", "--rx", "lo", "--route", "198.18.0.0/15"],
        "--gw-mac",
    );
    expect_usage_error(&["run", "--rx", "lo"], "needs --config");
    expect_usage_error(&["preset", "nat"], "unknown preset `nat`");
}

#[test]
fn unknown_interface_exits_2() {
    expect_usage_error(
        &[
            "router",
            "--rx",
            "nosuch0",
            "--tx",
            "lo",
            "--route",
            "198.18.0.0/15",
            "--gw-mac",
            GW,
        ],
        "unknown interface `nosuch0`",
    );
    expect_usage_error(
        &["forward", "--rx", "lo", "--tx", "nosuch1"],
        "unknown interface `nosuch1`",
    );
}

#[test]
fn malformed_files_name_the_line() {
    let routes = tmp(
        "routes",
        "# ok\n198.18.0.0/15\n198.19.0.0/16 via zz:00:00:00:00:00\n",
    );
    expect_usage_error(
        &["router", "--rx", "lo", "--routes", &routes, "--gw-mac", GW],
        &format!("{routes}:3: bad MAC address"),
    );
    expect_usage_error(
        &[
            "router",
            "--rx",
            "lo",
            "--route",
            "198.18.0.0/15",
            "--route",
            "10.0.0.0/99",
            "--gw-mac",
            GW,
        ],
        "--route:2: prefix length 99 > 32",
    );
    expect_usage_error(
        &[
            "router",
            "--rx",
            "lo",
            "--routes",
            "/nonexistent/routes.txt",
            "--gw-mac",
            GW,
        ],
        "/nonexistent/routes.txt: No such file",
    );
    let rules = tmp("rules", "allow udp\n\nallow icmp dport 5\n");
    expect_usage_error(
        &["firewall", "--rx", "lo", "--rules", &rules],
        &format!("{rules}:3: `dport` needs protocol tcp or udp"),
    );
    let conf = tmp(
        "conf.toml",
        "preset = \"router\"\nrx = \"lo\"\nbatch = \"many\"\n",
    );
    expect_usage_error(&["run", "--config", &conf], "conf.toml");
    let conf2 = tmp(
        "conf2.toml",
        "[[element]]\nname = \"x\"\nclass = \"Strip\"\noutputs = [\"nowhere\"]\n",
    );
    expect_usage_error(
        &["run", "--config", &conf2, "--rx", "lo"],
        "unknown target `nowhere`",
    );
    expect_usage_error(
        &["router", "--config", &conf2, "--rx", "lo"],
        "scc-nf run --config",
    );
    for f in [routes, rules, conf, conf2] {
        std::fs::remove_file(f).unwrap();
    }
}

#[test]
fn help_and_presets_exit_0() {
    let out = scc_nf(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let out = scc_nf(&["router", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--rx",
        "--tx",
        "--io",
        "--batch",
        "--route",
        "--routes",
        "--gw-mac",
        "--config",
        "--poll",
        "--stats-file",
    ] {
        assert!(text.contains(flag), "router --help lacks {flag}");
    }
    let out = scc_nf(&["preset", "router"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let cfg = scc_nf::config::NfConfig::from_toml(&text, "preset").unwrap();
    assert_eq!(cfg.element.len(), 12);
}

#[test]
fn chain_usage_errors_exit_2_and_name_the_problem() {
    expect_usage_error(&["chain"], "--config");
    let f = tmp("chain-a.toml", "preset = \"router\"\nrx = \"lo\"\n");
    expect_usage_error(
        &["chain", "--config", &f, "--nf-toml", "preset = \"router\""],
        "cannot be used with",
    );
    expect_usage_error(&["chain", "--nf-toml", "bogus = 1"], "--nf-toml #1");
    expect_usage_error(
        &[
            "chain",
            "--nf-toml",
            "preset = \"router\"\nrx = \"nope0\"\ntx = \"lo\"\nroutes = [\"198.19.0.0/16\"]",
        ],
        "nope0",
    );
    // An NF in the middle of a chain has no interface of its own: it needs src_mac.
    let first = "name = \"a\"\npreset = \"forward\"\nrx = \"lo\"\ntx = \"nope1\"";
    let last = "name = \"b\"\npreset = \"forward\"\nrx = \"nope2\"\ntx = \"lo\"";
    expect_usage_error(
        &["chain", "--nf-toml", first, "--nf-toml", last],
        "NF `a`: no src_mac",
    );
    let first_ok = format!("{first}\nsrc_mac = \"{GW}\"");
    let last_dup = last.replace("\"b\"", "\"a\"");
    expect_usage_error(
        &["chain", "--nf-toml", &first_ok, "--nf-toml", &last_dup],
        "two NFs of the chain are named `a`",
    );
}

#[test]
fn a_status_fd_that_is_not_open_exits_2() {
    expect_usage_error(
        &[
            "forward",
            "--rx",
            "lo",
            "--gw-mac",
            GW,
            "--status-fd",
            "917",
        ],
        "--status-fd 917: not an open descriptor",
    );
    expect_usage_error(
        &["forward", "--rx", "lo", "--gw-mac", GW, "--status-fd", "x"],
        "invalid value 'x'",
    );
}

/// `--simulate-packets N`: no interface is opened (the named one does not exist); N frames go
/// through the router over memory ports and the counters come out on stdout.
#[test]
fn simulate_packets_runs_offline() {
    let out = scc_nf(&[
        "router",
        "--rx",
        "no-such-if0",
        "--route",
        "198.18.0.0/15",
        "--gw-mac",
        "02:00:00:00:00:22",
        "--simulate-packets",
        "777",
        "--simulate-frame-size",
        "128",
    ]);
    assert!(out.status.success(), "{out:?}");
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["rx"], 777);
    assert_eq!(c["tx"], 777);
    assert_eq!(c["io"], "mem");
}
