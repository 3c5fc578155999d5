//! # scc-fuzz: fuzz targets for the inputs scc takes from outside
//!
//! Each target is a plain function from bytes to a verdict, so it runs three ways:
//! - under libFuzzer with cargo-fuzz (`fuzz_targets/*.rs`; needs the `libfuzzer` feature and
//!   a nightly compiler, or `RUSTC_BOOTSTRAP=1` on stable):
//!   `RUSTC_BOOTSTRAP=1 cargo fuzz run --features libfuzzer frames fuzz/corpus/frames`;
//! - on stable as a plain loop binary that mutates the seed corpus with a seeded PRNG
//!   (`cargo run --release -p scc-fuzz --bin fuzz_loop -- --target all --frames 10000000`), which
//!   counts panics and identity violations and exits non-zero on any;
//! - as a short bounded pass in `cargo test -p scc-fuzz` (CI).
//!
//! The targets:
//! - [`frames`]: frames into the router (fused and element by element), the firewall and the
//!   forwarder. After every batch the accounting identity must hold with each side counted by
//!   a different party: the frames the harness put in = the frames the pipeline listed for
//!   its ports + the increase of the drops its elements counted by reason; and the fused
//!   router must send the same frames (bytes and ports) and count the same drops as the
//!   element-by-element router.
//! - [`chain`]: text into `scc_launcher::chain::Chain::parse` and `validate`.
//! - [`routes`] and [`rules`]: text into the routes-file and rules-file parsers; parsed routes
//!   are compiled into a route table and looked up.
//! - [`lpm`]: routes and addresses into `scc_nf::lpm::Lpm` (single and batched lookups)
//!   against a linear-scan reference.
//!
//! A target returns `Err` when an identity or a reference comparison fails; a panic is a
//! bug too (the loop binary catches and counts it).
//!
//! Dependencies: `libfuzzer-sys` only behind the `libfuzzer` feature (it compiles libFuzzer's
//! C++ runtime), so the default build stays on stable without a C++ compiler.
#![warn(missing_docs)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use scc_io::{Batch, MAX_BATCH};
use scc_nf::config::{Env, NfConfig, Preset, build_pipeline};
use scc_nf::graph::Pipeline;
use scc_nf::lpm::{Lpm, Route};
use scc_nf::wire::MacAddr;
use scc_nf::wire::build::{UdpFrame, arp_request};

pub mod mutate;

/// A target's verdict: `Ok(units)` (frames, lines or lookups checked) or the violated rule.
pub type Verdict = Result<u64, String>;

/// A fuzz target.
pub type Target = fn(&[u8]) -> Verdict;

/// The targets by name, for the loop binary and the tests.
pub const TARGETS: [(&str, Target); 5] = [
    ("frames", frames),
    ("chain", chain),
    ("routes", routes),
    ("rules", rules),
    ("lpm", lpm),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

const SRC_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
const NF_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xaa]);
const NF_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);

fn env(mtu: u16) -> Env {
    Env {
        src_mac: NF_MAC,
        gw_mac: Some(MacAddr([0x02, 0, 0, 0, 0, 0x22])),
        addrs: vec![NF_IP],
        mtu,
        icmp_rate: 1000,
    }
}

/// The pipelines under test: router fused, router element by element, firewall, forward.
struct Pipelines {
    fused: Pipeline,
    plain: Pipeline,
    firewall: Pipeline,
    forward: Pipeline,
    /// Scratch batches (one per pipeline; the pipelines rewrite frames in place).
    batches: [Batch; 4],
}

fn build_all() -> Pipelines {
    let router = NfConfig {
        preset: Some(Preset::Router),
        routes: vec![
            "198.18.0.0/15".into(),
            "198.19.7.0/24 via 02:00:00:00:00:44 port rx".into(),
            "10.0.0.0/8 via 02:00:00:00:00:33".into(),
        ],
        ..Default::default()
    };
    let filter = |preset| NfConfig {
        preset: Some(preset),
        rules: vec![
            "deny udp dport 5000-5001".into(),
            "allow tcp from 198.18.0.0/16 to any dport 80".into(),
            "allow any from 198.18.0.0/15".into(),
            "default deny".into(),
        ],
        ..Default::default()
    };
    // A small MTU so MtuCheck's branches are reachable with short frames too.
    let e = env(576);
    let build = |c: &NfConfig| build_pipeline(c, &e).expect("the fuzz pipelines build");
    let fused = build(&router);
    let mut plain = build(&router);
    plain.set_fusion(false);
    assert!(fused.is_fused() && !plain.is_fused());
    let batch = || Batch::new(MAX_BATCH, 2048).expect("batch");
    Pipelines {
        fused,
        plain,
        firewall: build(&filter(Preset::Firewall)),
        forward: build(&filter(Preset::Forward)),
        batches: [batch(), batch(), batch(), batch()],
    }
}

thread_local! {
    static PIPELINES: RefCell<Option<Pipelines>> = const { RefCell::new(None) };
}

/// Valid frames the structured records start from (UDP, TTL 1, DF, ARP, a routed-elsewhere
/// UDP, TCP to port 80).
pub fn templates() -> Vec<Vec<u8>> {
    let spec = UdpFrame {
        src_mac: SRC_MAC,
        dst_mac: NF_MAC,
        src_ip: Ipv4Addr::new(198, 18, 0, 1),
        dst_ip: Ipv4Addr::new(198, 19, 0, 1),
        src_port: 4000,
        dst_port: 6000,
        ttl: 64,
        ident: 1,
        dont_frag: false,
        udp_checksum: true,
    };
    let udp = |s: &UdpFrame, payload: usize| {
        let mut b = vec![0u8; 42 + payload];
        let n = s.write(&mut b, &vec![0xab; payload]).expect("template");
        b.truncate(n);
        b
    };
    let mut arp = vec![0u8; 42];
    arp_request(&mut arp, SRC_MAC, Ipv4Addr::new(198, 18, 0, 1), NF_IP).expect("arp");
    let mut tcp = udp(&spec, 22);
    tcp[23] = 6; // protocol TCP (checksum left stale: exercises CheckIpHeader too)
    tcp[36..38].copy_from_slice(&80u16.to_be_bytes());
    vec![
        udp(&spec, 22),
        udp(&UdpFrame { ttl: 1, ..spec }, 22),
        udp(
            &UdpFrame {
                dont_frag: true,
                ..spec
            },
            600,
        ),
        arp,
        udp(
            &UdpFrame {
                dst_ip: Ipv4Addr::new(10, 1, 2, 3),
                dst_port: 5000,
                ..spec
            },
            22,
        ),
        tcp,
    ]
}

/// Decodes frames from fuzz bytes. Each record starts with a kind byte and a length byte:
/// even kinds are a raw frame of that many following bytes; odd kinds take template
/// `kind / 2` and apply `len / 8` (offset, xor) flips from the following bytes, then cut
/// `len % 8 * 4` bytes off its end. A record cut short by the end of the input still counts.
pub fn decode_frames(data: &[u8], out: &mut Vec<Vec<u8>>, templates: &[Vec<u8>]) {
    out.clear();
    let mut i = 0;
    while i < data.len() && out.len() < 4 * MAX_BATCH {
        let kind = data[i];
        let len = usize::from(data.get(i + 1).copied().unwrap_or(0));
        i += 2;
        if kind % 2 == 0 {
            let end = (i + len).min(data.len());
            out.push(data[i.min(end)..end].to_vec());
            i = end;
        } else {
            let mut f = templates[usize::from(kind / 2) % templates.len()].clone();
            for _ in 0..len / 8 {
                let (Some(&at), Some(&x)) = (data.get(i), data.get(i + 1)) else {
                    break;
                };
                let at = usize::from(at) % f.len().max(1);
                if let Some(b) = f.get_mut(at) {
                    *b ^= x;
                }
                i += 2;
            }
            let cut = (len % 8) * 4;
            f.truncate(f.len().saturating_sub(cut));
            out.push(f);
        }
    }
}

fn drops_total(p: &Pipeline) -> u64 {
    p.drops().values().sum()
}

/// One batch through one pipeline; checks the identity and returns the per-port frames.
fn run_one(
    name: &str,
    p: &mut Pipeline,
    batch: &mut Batch,
    frames: &[Vec<u8>],
    now: u64,
) -> Result<Vec<Vec<u16>>, String> {
    batch.clear();
    for f in frames {
        batch
            .push(f)
            .map_err(|e| format!("{name}: harness push: {e}"))?;
    }
    let before_in = p.frames_in();
    let before_drops = drops_total(p);
    p.process(batch, now);
    let put = frames.len() as u64;
    let listed: Vec<Vec<u16>> = (0..p.ports().len())
        .map(|k| p.port_frames(k).to_vec())
        .collect();
    let out: u64 = listed.iter().map(|v| v.len() as u64).sum();
    let dropped = drops_total(p) - before_drops;
    if put != out + dropped {
        return Err(format!(
            "{name}: {put} frames in, {out} listed for ports + {dropped} counted drops"
        ));
    }
    if p.frames_in() - before_in != put {
        return Err(format!(
            "{name}: pipeline counted {} frames in, the harness put {put}",
            p.frames_in() - before_in
        ));
    }
    if p.frames_in() != p.frames_out() + p.total_drops() {
        return Err(format!(
            "{name}: cumulative frames_in {} != frames_out {} + drops {}",
            p.frames_in(),
            p.frames_out(),
            p.total_drops()
        ));
    }
    let mut seen = vec![false; frames.len()];
    for &i in listed.iter().flatten() {
        match seen.get_mut(usize::from(i)) {
            Some(s) if !*s => *s = true,
            Some(_) => return Err(format!("{name}: frame {i} listed twice")),
            None => return Err(format!("{name}: frame index {i} beyond the batch")),
        }
    }
    Ok(listed)
}

/// Frames into the four pipelines, in batches of up to [`MAX_BATCH`]; see the crate docs.
/// Returns the number of frames each pipeline processed.
pub fn frames(data: &[u8]) -> Verdict {
    thread_local! {
        /// Decoded frames and the templates.
        static SCRATCH: RefCell<[Vec<Vec<u8>>; 2]> =
            RefCell::new([Vec::new(), templates()]);
    }
    SCRATCH.with(|s| {
        let [frames, templates] = &mut *s.borrow_mut();
        decode_frames(data, frames, templates);
        PIPELINES.with(|cell| {
            let mut cell = cell.borrow_mut();
            let ps = cell.get_or_insert_with(build_all);
            let Pipelines {
                fused,
                plain,
                firewall,
                forward,
                batches,
            } = ps;
            let [b0, b1, b2, b3] = batches;
            let mut n = 0u64;
            // The batch size comes from the data too (first byte), 1..=MAX_BATCH.
            let per = usize::from(data.first().copied().unwrap_or(0)) % MAX_BATCH + 1;
            for (k, chunk) in frames.chunks(per).enumerate() {
                let now = k as u64 * 1_000_000;
                let fused_drops_before = fused.drops();
                let plain_drops_before = plain.drops();
                let a = run_one("router fused", fused, b0, chunk, now)?;
                let b = run_one("router generic", plain, b1, chunk, now)?;
                if a != b {
                    return Err(format!("fused vs generic ports differ: {a:?} vs {b:?}"));
                }
                for (port, idx) in a.iter().enumerate() {
                    for &i in idx {
                        let (x, y) = (b0.frame(usize::from(i)), b1.frame(usize::from(i)));
                        if x != y {
                            return Err(format!(
                                "fused vs generic bytes differ: frame {i} to port {port}"
                            ));
                        }
                    }
                }
                let delta = |after: BTreeMap<String, u64>, before: BTreeMap<String, u64>| {
                    after
                        .into_iter()
                        .map(|(k, v)| {
                            let d = v - before.get(&k).copied().unwrap_or(0);
                            (k, d)
                        })
                        .filter(|(_, d)| *d > 0)
                        .collect::<BTreeMap<_, _>>()
                };
                let (da, db) = (
                    delta(fused.drops(), fused_drops_before),
                    delta(plain.drops(), plain_drops_before),
                );
                if da != db {
                    return Err(format!("fused vs generic drops differ: {da:?} vs {db:?}"));
                }
                run_one("firewall", firewall, b2, chunk, now)?;
                run_one("forward", forward, b3, chunk, now)?;
                n += chunk.len() as u64;
            }
            Ok(n)
        })
    })
}

/// Text into the chain-file parser and validation (never panics; errors are fine).
pub fn chain(data: &[u8]) -> Verdict {
    use scc_launcher::chain::{Chain, HostInfo};
    let text = String::from_utf8_lossy(data);
    // A fixed host (2 cores, OVS installed) keeps the target deterministic.
    let host = HostInfo::with_cores(2, true);
    if let Ok(c) = Chain::parse(&text) {
        let _ = c.validate(&host);
        let _ = c.problems(&host);
    }
    Ok(1)
}

/// Text into the routes-file parser; parsed routes are compiled and looked up.
pub fn routes(data: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(data);
    let Ok(specs) = scc_nf::route::parse_routes(&text, "fuzz") else {
        return Ok(1);
    };
    let port = |n: &str| match n {
        "rx" => Some(0),
        "tx" => Some(1),
        _ => None,
    };
    if let Ok(t) = scc_nf::route::RouteTable::build(&specs, 1, port) {
        for s in &specs {
            if t.lookup(s.prefix).is_none() {
                return Err(format!(
                    "route {}/{} was parsed and compiled but its own prefix finds no route",
                    s.prefix, s.len
                ));
            }
        }
    }
    Ok(specs.len() as u64 + 1)
}

/// Text into the rules-file parser; parsed rules are matched against the templates.
pub fn rules(data: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(data);
    let Ok(set) = scc_nf::filter::parse_rules(&text, "fuzz") else {
        return Ok(1);
    };
    for t in templates() {
        if let Some(ip) = t.get(14..) {
            let _ = set.first_match(ip);
        }
    }
    Ok(1)
}

/// The reference: the longest matching prefix by a linear scan (the last duplicate wins).
fn lpm_reference(routes: &[Route], addr: u32) -> u16 {
    let mut best: Option<(u8, u16)> = None;
    for r in routes {
        let m = scc_nf::wire::ipv4::prefix_mask(r.len);
        if addr & m == r.addr & m && best.is_none_or(|(l, _)| r.len >= l) {
            best = Some((r.len, r.next_hop));
        }
    }
    best.map_or(0, |(_, nh)| nh)
}

/// Routes and addresses from the bytes into the LPM, compared with a linear-scan reference. Layout:
/// a count byte `n`, then `n` routes of 7 bytes (address 4, length 1, next hop 2), then
/// addresses of 4 bytes each (plus every route's own address, its neighbours and its last
/// address).
pub fn lpm(data: &[u8]) -> Verdict {
    let n = usize::from(data.first().copied().unwrap_or(0));
    let mut rest = data.get(1..).unwrap_or(&[]);
    let mut routes = Vec::with_capacity(n);
    while routes.len() < n && rest.len() >= 7 {
        let addr = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let len = rest[4] % 33;
        let nh = u16::from_be_bytes([rest[5], rest[6]]).max(1);
        routes.push(Route {
            addr,
            len,
            next_hop: nh,
        });
        rest = &rest[7..];
    }
    let lpm = Lpm::build(&routes).map_err(|e| format!("valid routes refused: {e}"))?;
    let mut addrs: Vec<u32> = rest
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    for r in &routes {
        let m = scc_nf::wire::ipv4::prefix_mask(r.len);
        let net = r.addr & m;
        addrs.extend([
            net,
            net.wrapping_sub(1),
            net | !m,
            (net | !m).wrapping_add(1),
        ]);
    }
    let mut out = vec![0u16; addrs.len()];
    lpm.lookup_batch(&addrs, &mut out);
    for (a, got_batch) in addrs.iter().zip(&out) {
        let want = lpm_reference(&routes, *a);
        let got = lpm.lookup(*a);
        if got != want || *got_batch != want {
            return Err(format!(
                "lookup {} : lpm {got}, batch {got_batch}, reference {want} ({} routes)",
                Ipv4Addr::from(*a),
                routes.len()
            ));
        }
    }
    Ok(addrs.len() as u64)
}
