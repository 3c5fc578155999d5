//! `scc run FILE --capture DIR`: one pcap file per NF port, whose frames are exactly what each
//! NF counted, read back independently (parsed here and, where installed, by tcpdump).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use scc_io::middleware::{CapturedFrame, read_pcap};
use serde_json::Value;

const CHAIN: &str = r#"name = "capture"
[io]
driver = "mmsg"
batch = 32
[interconnect]
kind = "b2b"
[[nf]]
name = "c1"
kind = "router"
env = "netns"
routes = ["198.18.0.0/15"]
[[nf]]
name = "c2"
kind = "router"
env = "native"
routes = ["198.18.0.0/15"]
[traffic]
rate_pps = 2000
frame_size = 64
duration_s = 1.0
"#;

/// Frames tcpdump counts in `path` (one unindented line each), or why it could not run.
fn tcpdump_count(path: &Path) -> Result<usize, String> {
    let o = Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(path)
        .output()
        .map_err(|e| format!("no tcpdump ({e})"))?;
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .count())
}

fn src_mac(f: &CapturedFrame) -> Option<[u8; 6]> {
    f.data.get(6..12).and_then(|m| m.try_into().ok())
}

#[test]
fn capture_files_hold_exactly_the_frames_each_nf_counted() {
    let dir = std::env::temp_dir().join(format!("scc-capture-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let chain = dir.join("chain.toml");
    std::fs::write(&chain, CHAIN).unwrap();
    let cap: PathBuf = dir.join("pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_scc"))
        .args(["run", "--json", "--capture"])
        .arg(&cap)
        .arg(&chain)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scc run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sent = v["sent"].as_u64().unwrap();
    assert_eq!(sent, 2000);
    let nfs = v["nfs"].as_array().unwrap();
    assert_eq!(nfs.len(), 2);
    let listed = v["capture"]["files"]
        .as_array()
        .expect("capture key")
        .clone();
    assert_eq!(listed.len(), 4, "{v}");
    for n in nfs {
        let name = n["name"].as_str().unwrap();
        let rx = n["rx"].as_u64().unwrap();
        let tx = n["tx"].as_u64().unwrap();
        let tx_failed = n["drops"]["tx_failed"].as_u64().unwrap_or(0);
        let rx_file = read_pcap(cap.join(format!("{name}-rx.pcap"))).unwrap();
        let tx_file = read_pcap(cap.join(format!("{name}-tx.pcap"))).unwrap();
        // The NF writes its own source MAC on every frame it sends; frames with another source
        // were received.
        let own: HashSet<[u8; 6]> = tx_file.iter().filter_map(src_mac).collect();
        assert_eq!(own.len(), 1, "{name}: one source MAC on the tx port");
        let is_own = |f: &CapturedFrame| src_mac(f).is_some_and(|m| own.contains(&m));
        let received = rx_file.iter().filter(|f| !is_own(f)).count() as u64
            + tx_file.iter().filter(|f| !is_own(f)).count() as u64;
        let sent_by_nf = rx_file.iter().filter(|f| is_own(f)).count() as u64
            + tx_file.iter().filter(|f| is_own(f)).count() as u64;
        assert!(rx > 0, "{n}");
        assert_eq!(
            received, rx,
            "{name}: received frames in the capture vs the NF's rx: {n}"
        );
        assert_eq!(
            sent_by_nf,
            tx + tx_failed,
            "{name}: sent frames vs the NF's tx: {n}"
        );
        for (port, frames) in [("rx", &rx_file), ("tx", &tx_file)] {
            let iface = format!("{name}-{port}");
            let entry = listed
                .iter()
                .find(|f| f["interface"] == iface.as_str())
                .unwrap_or_else(|| panic!("{iface} not listed: {v}"));
            assert_eq!(entry["frames"].as_u64(), Some(frames.len() as u64));
            match tcpdump_count(&cap.join(format!("{iface}.pcap"))) {
                Ok(t) => assert_eq!(t, frames.len(), "tcpdump count of {iface}"),
                Err(why) => println!(
                    "SKIPPED: capture_files_hold_exactly_the_frames_each_nf_counted tcpdump cross-check of {iface}: {why}"
                ),
            }
        }
    }
    // The text report lists the files too.
    let out = Command::new(env!("CARGO_BIN_EXE_scc"))
        .args(["run", "--capture"])
        .arg(&cap)
        .arg(&chain)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("capture in {}", cap.display())) && text.contains("c2-tx.pcap"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
