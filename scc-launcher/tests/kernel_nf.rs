//! `kind = "kernel"` NFs for real: `scc run --json` on a kernel router back to back and over
//! a Linux bridge, in anonymous namespaces. The kernel's own counters (read in the router's
//! namespace) and the generator/sink counts are independent parties: every frame sent was
//! received by the kernel router, forwarded, and received by the sink. Needs what `scc run`
//! needs (root, or user namespaces).

use std::process::Command;

fn kernel_chain(name: &str, interconnect: &str) -> String {
    format!(
        "name = \"{name}\"\n[interconnect]\nkind = \"{interconnect}\"\n\
         [schedule]\npolicy = \"other\"\ncores = [1]\n\
         [[nf]]\nname = \"k1\"\nkind = \"kernel\"\nenv = \"netns\"\nroutes = [\"198.18.0.0/15\"]\n\
         [[nf]]\nname = \"r2\"\nkind = \"router\"\nenv = \"netns\"\nroutes = [\"198.18.0.0/15\"]\n\
         [traffic]\nrate_pps = 5000\npackets = 5000\nduration_s = 3\ncore = 0\n"
    )
}

fn run(name: &str, interconnect: &str) {
    let path = std::env::temp_dir().join(format!("scc-kernel-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, kernel_chain(name, interconnect)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scc"))
        .args(["run", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = |v: &serde_json::Value| v.as_u64().unwrap();
    let (sent, received, lost) = (n(&r["sent"]), n(&r["received"]), n(&r["lost"]));
    assert_eq!(sent, 5000);
    assert_eq!(sent, received + lost);
    let k = &r["nfs"][0];
    assert_eq!(k["kind"], "kernel");
    assert_eq!(k["exit"], "kernel forwarding (no process)");
    assert!(
        k["syscalls"].is_null(),
        "the kernel makes no NF syscalls: {k}"
    );
    let drops: u64 = k["drops"].as_object().unwrap().values().map(n).sum();
    // the kernel's count: every probe in, forwarded or counted as a drop
    assert_eq!(n(&k["rx"]), sent, "{k}");
    assert_eq!(n(&k["rx"]), n(&k["tx"]) + drops, "{k}");
    // the next NF (an scc-nf router) received what the kernel forwarded
    let r2 = &r["nfs"][1];
    assert_eq!(n(&r2["rx"]), n(&k["tx"]), "{r2}");
    assert_eq!(lost, 0, "{r}");
}

#[test]
fn a_kernel_router_back_to_back_forwards_every_frame() {
    run("kb2b", "b2b");
}

#[test]
fn a_kernel_router_over_a_bridge_forwards_every_frame() {
    run("kbr", "bridge");
}
