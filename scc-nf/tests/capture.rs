//! `scc-nf --pcap-dir` / `--pcap`: the capture files hold exactly the frames the NF counted,
//! read back independently (pcap parsed here, and by tcpdump where it is installed).
//!
//! ```text
//! gen0 <-veth-> c_in [forwarding NF, captured] c_out <-veth-> sink0
//! ```
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use scc_io::link::{Netlink, VethPair};
use scc_io::middleware::read_pcap;
use scc_io::{Batch, Driver, Port, PortConfig, open_port, wait_running};
use scc_nf::nf::NfCounters;
use scc_nf::wire::MacAddr;
use scc_nf::wire::build::UdpFrame;

fn mac_of(name: &str) -> MacAddr {
    MacAddr(Netlink::open().unwrap().link(name).unwrap().unwrap().mac)
}

/// Frames tcpdump reads from `path` (one unindented line each), or why it could not run:
/// not installed, or (as root of a user namespace) unable to drop privileges, which it
/// insists on (the scc-io unit test `tcpdump_reads_the_capture` reads the format outside one).
fn tcpdump_count(path: &Path) -> Result<usize, String> {
    let o = std::process::Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(path)
        .output()
        .map_err(|e| format!("no tcpdump ({e})"))?;
    let err = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() && err.contains("Couldn't change to") {
        return Err("tcpdump cannot drop privileges in a user namespace".into());
    }
    assert!(o.status.success(), "{err}");
    let text = String::from_utf8_lossy(&o.stdout);
    Ok(text
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .count())
}

fn run_nf_and_capture(capture_args: &[&str]) -> NfCounters {
    let (gen_mac, in_mac, sink_mac) = (mac_of("gen0"), mac_of("c_in"), mac_of("sink0"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scc-nf"))
        .args(["forward", "--rx", "c_in", "--tx", "c_out", "--io", "mmsg"])
        .args(["--batch", "16", "--gw-mac", &sink_mac.to_string()])
        .args(capture_args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut gen_port = open_port(&PortConfig::new("gen0", Driver::Mmsg, 64)).unwrap();
    let mut sink = open_port(&PortConfig::new("sink0", Driver::Mmsg, 64)).unwrap();
    let frame = |k: u16| {
        udp_frame(&UdpFrame {
            src_mac: gen_mac,
            dst_mac: in_mac,
            ident: k,
            ..spec()
        })
    };
    let mut out = Batch::new(64, 2048).unwrap();
    let mut inb = Batch::new(64, 2048).unwrap();
    // Probe until the NF forwards (it has opened its sockets), then send a burst.
    let t0 = Instant::now();
    let mut forwarded = 0;
    while forwarded == 0 && t0.elapsed() < Duration::from_secs(5) {
        out.clear();
        out.push(&frame(0)).unwrap();
        gen_port.send_batch(&out).unwrap();
        sink.wait_readable(Some(Duration::from_millis(100)))
            .unwrap();
        inb.clear();
        sink.recv_batch(&mut inb).unwrap();
        // Only our IPv4 probes prove the NF runs (the kernel's IPv6 chatter from c_out also
        // reaches sink0).
        forwarded += inb
            .iter()
            .filter(|f| f.get(12..14) == Some(&[8, 0]))
            .count();
        if let Some(st) = child.try_wait().unwrap() {
            panic!("scc-nf exited early: {st:?}");
        }
    }
    assert!(forwarded > 0, "the NF never forwarded");
    out.clear();
    for k in 1..=50 {
        out.push(&frame(k)).unwrap();
    }
    assert_eq!(gen_port.send_batch(&out).unwrap(), 50);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(300) {
        sink.wait_readable(Some(Duration::from_millis(20))).unwrap();
        inb.clear();
        sink.recv_batch(&mut inb).unwrap();
    }
    let pid = child.id().to_string();
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(st.success());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "exit {:?}", o.status);
    serde_json::from_str(&String::from_utf8(o.stdout).unwrap()).unwrap()
}

fn topology() -> (VethPair, VethPair) {
    let a = VethPair::create("gen0", "c_in").unwrap();
    let b = VethPair::create("c_out", "sink0").unwrap();
    for i in ["gen0", "c_in", "c_out", "sink0"] {
        assert!(wait_running(i, Duration::from_secs(3)).unwrap(), "{i}");
    }
    (a, b)
}

scc_io::sandbox_test!(
    /// One file per port: frames in `c_in.pcap` not sent by the NF are exactly its `rx`; the
    /// frames it sent (on either port) are exactly its `tx` plus failed sends.
    fn pcap_dir_holds_exactly_the_counted_frames() {
        let _links = topology();
        let in_mac = mac_of("c_in");
        let out_mac = mac_of("c_out");
        let dir = std::env::temp_dir().join(format!("scc-nf-capture-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = run_nf_and_capture(&["--pcap-dir", dir.to_str().unwrap()]);
        let rx_file = read_pcap(dir.join("c_in.pcap")).unwrap();
        let tx_file = read_pcap(dir.join("c_out.pcap")).unwrap();
        let sent_by_nf = |f: &&scc_io::middleware::CapturedFrame| {
            f.data.get(6..12) == Some(&in_mac.0[..]) || f.data.get(6..12) == Some(&out_mac.0[..])
        };
        let received = rx_file.iter().filter(|f| !sent_by_nf(f)).count() as u64;
        let sent = rx_file.iter().filter(sent_by_nf).count() as u64
            + tx_file.iter().filter(sent_by_nf).count() as u64;
        assert!(c.rx >= 51, "{c:?}");
        assert_eq!(received, c.rx, "{c:?}");
        let tx_failed = c.drops.get("tx_failed").copied().unwrap_or(0);
        assert_eq!(sent, c.tx + tx_failed, "{c:?}");
        // Nothing else: the NF reads nothing from its tx port.
        assert_eq!(
            tx_file.len() as u64,
            tx_file.iter().filter(sent_by_nf).count() as u64
        );
        for (name, n) in [("c_in.pcap", rx_file.len()), ("c_out.pcap", tx_file.len())] {
            match tcpdump_count(&dir.join(name)) {
                Ok(t) => assert_eq!(t, n, "tcpdump count of {name}"),
                Err(why) => println!(
                    "SKIPPED: pcap_dir_holds_exactly_the_counted_frames tcpdump cross-check of {name}: {why}"
                ),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
);

scc_io::sandbox_test!(
    /// One file for both ports: its frame count is the NF's rx + tx (+ failed sends).
    fn pcap_file_holds_both_ports() {
        let _links = topology();
        let dir = std::env::temp_dir().join(format!("scc-nf-capture1-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("nf.pcap");
        let c = run_nf_and_capture(&["--pcap", file.to_str().unwrap()]);
        let frames = read_pcap(&file).unwrap();
        let tx_failed = c.drops.get("tx_failed").copied().unwrap_or(0);
        assert_eq!(frames.len() as u64, c.rx + c.tx + tx_failed, "{c:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
);

/// A capture file that cannot be created is a usage error (exit 2) before any port opens.
#[test]
fn unwritable_pcap_path_exits_2() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_scc-nf"))
        .args(["forward", "--rx", "lo", "--pcap", "/nonexistent/dir/x.pcap"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("pcap"));
}
