//! The fused router path gives the same results as the element-by-element graph: the same
//! bytes out, the same frames per port, the same drops by reason and events, on valid, mutated
//! and random frames (property test), with several routes, ports, padding, IP options, small
//! MTUs and expiring TTLs.
mod common;

use std::net::Ipv4Addr;

use common::*;
use proptest::prelude::*;
use scc_nf::config::{Env, NfConfig, Preset, build_pipeline};
use scc_nf::graph::{Pipeline, Target};
use scc_nf::wire::MacAddr;
use scc_nf::wire::build::{UdpFrame, arp_request};

fn router_cfg() -> NfConfig {
    NfConfig {
        preset: Some(Preset::Router),
        routes: vec![
            "198.18.0.0/15".into(),
            "198.19.7.0/24 via 02:00:00:00:00:44 port rx".into(),
            "10.0.0.0/8 via 02:00:00:00:00:33".into(),
        ],
        ..Default::default()
    }
}

fn env_mtu(mtu: u16) -> Env {
    Env { mtu, ..env() }
}

/// The same router twice: fused and element by element.
fn pair(mtu: u16) -> (Pipeline, Pipeline) {
    let fused = build_pipeline(&router_cfg(), &env_mtu(mtu)).unwrap();
    let mut plain = build_pipeline(&router_cfg(), &env_mtu(mtu)).unwrap();
    plain.set_fusion(false);
    assert!(fused.is_fused());
    assert!(!plain.is_fused());
    (fused, plain)
}

fn valid_frames() -> Vec<Vec<u8>> {
    let mut arp_f = vec![0u8; 42];
    arp_request(&mut arp_f, SRC_MAC, SRC_IP, ROUTER_IP).unwrap();
    let mut padded = udp_frame(&spec());
    padded.extend_from_slice(&[0xee; 30]);
    // IPv4 options: a 24-byte header (one NOP word), valid checksum.
    let plain = udp_frame(&UdpFrame { ttl: 2, ..spec() });
    let mut opts = plain[..34].to_vec();
    opts.extend_from_slice(&[1, 1, 1, 1]);
    opts.extend_from_slice(&plain[34..]);
    opts[14] = 0x46;
    let tl = u16::from_be_bytes([opts[16], opts[17]]) + 4;
    opts[16..18].copy_from_slice(&tl.to_be_bytes());
    fix_ip_checksum(&mut opts);
    vec![
        udp_frame(&spec()),
        udp_frame(&UdpFrame { ttl: 1, ..spec() }),
        udp_frame(&UdpFrame { ttl: 2, ..spec() }),
        udp_frame(&UdpFrame {
            dst_ip: Ipv4Addr::new(198, 19, 7, 9),
            ..spec()
        }),
        udp_frame(&UdpFrame {
            dst_ip: Ipv4Addr::new(10, 9, 9, 9),
            dont_frag: true,
            ..spec()
        }),
        udp_frame(&UdpFrame {
            dst_ip: Ipv4Addr::new(8, 8, 8, 8),
            ..spec()
        }),
        padded,
        opts,
        arp_f,
    ]
}

/// A frame: random bytes, or a valid frame with some bytes flipped / truncated / extended.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    let n = valid_frames().len();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..120),
        (0..n).prop_map(|k| valid_frames()[k].clone()),
        (
            0..n,
            proptest::collection::vec((0usize..80, any::<u8>()), 0..4),
            0usize..100,
            any::<bool>(),
        )
            .prop_map(|(k, flips, cut, fix)| {
                let mut f = valid_frames()[k].clone();
                for (at, x) in flips {
                    if let Some(b) = f.get_mut(at % 60) {
                        *b ^= x;
                    }
                }
                if fix && f.len() >= 34 {
                    fix_ip_checksum(&mut f);
                }
                let keep = f.len().saturating_sub(cut % 40);
                f.truncate(keep);
                f
            }),
    ]
}

/// Runs `frames` through both pipelines and checks that everything observable agrees.
fn same(
    fused: &mut Pipeline,
    plain: &mut Pipeline,
    frames: &[Vec<u8>],
    now: u64,
) -> Result<(), TestCaseError> {
    same_from(fused, plain, frames, now, 0)
}

/// [`same`] for frames that came in by port `in_port`.
fn same_from(
    fused: &mut Pipeline,
    plain: &mut Pipeline,
    frames: &[Vec<u8>],
    now: u64,
    in_port: u8,
) -> Result<(), TestCaseError> {
    let mut bf = batch_of(frames);
    let mut bp = batch_of(frames);
    fused.process_port(&mut bf, now, in_port);
    plain.process_port(&mut bp, now, in_port);
    for port in 0..plain.ports().len() {
        let (mut a, mut b) = (
            fused.port_frames(port).to_vec(),
            plain.port_frames(port).to_vec(),
        );
        a.sort_unstable();
        b.sort_unstable();
        prop_assert_eq!(&a, &b, "port {}", port);
        for &i in &a {
            prop_assert_eq!(
                bf.frame(usize::from(i)),
                bp.frame(usize::from(i)),
                "frame {}",
                i
            );
        }
    }
    prop_assert_eq!(fused.drops(), plain.drops());
    prop_assert_eq!(fused.events(), plain.events());
    prop_assert_eq!(fused.frames_in(), plain.frames_in());
    prop_assert_eq!(fused.frames_out(), plain.frames_out());
    prop_assert_eq!(fused.frames_in(), fused.frames_out() + fused.total_drops());
    Ok(())
}

#[test]
fn fused_equals_generic_on_known_frames() {
    for mtu in [1500, 60, 40] {
        let (mut f, mut p) = pair(mtu);
        let frames = valid_frames();
        same(&mut f, &mut p, &frames, 0).unwrap();
        // Forwarded frames keep their order and go first on their port.
        let tx = f.port_frames(1).to_vec();
        let mut sorted = tx.clone();
        sorted.sort_unstable();
        if mtu == 1500 {
            assert_eq!(&tx[..4], &[0, 2, 4, 6], "mtu {mtu}: {tx:?}");
            assert_eq!(f.port_frames(0).first(), Some(&3));
        }
    }
}

#[test]
fn fusion_only_for_the_router_shape() {
    let mut r = build_pipeline(&router_cfg(), &env()).unwrap();
    assert!(r.is_fused());
    // Changing the graph turns the fusion off.
    let n = r.index_of("encap").unwrap();
    r.connect(n, 0, Target::Port(0)).unwrap();
    assert!(!r.is_fused());
    // A custom graph of the same shape is fused; one with an element in between is not.
    let text = Preset::Router.toml();
    let cfg = NfConfig {
        routes: router_cfg().routes,
        ..NfConfig::from_toml(text, "router.toml").unwrap()
    };
    assert!(build_pipeline(&cfg, &env()).unwrap().is_fused());
    let odd = text.replace(
        "outputs = [\"lookup\"]",
        "outputs = [\"count\"]\n\n[[element]]\nname = \"count\"\nclass = \"Counter\"\noutputs = [\"lookup\"]",
    );
    let cfg = NfConfig {
        routes: router_cfg().routes,
        ..NfConfig::from_toml(&odd, "odd.toml").unwrap()
    };
    let p = build_pipeline(&cfg, &env()).unwrap();
    assert!(!p.is_fused());
    for preset in [Preset::Firewall, Preset::Forward] {
        let cfg = NfConfig {
            preset: Some(preset),
            ..Default::default()
        };
        assert!(!build_pipeline(&cfg, &env()).unwrap().is_fused());
    }
}

const MTUS: [u16; 4] = [1500, 74, 60, 40];

thread_local! {
    /// One pair per MTU, built once (building a router compiles its LPM, slow in debug builds)
    /// and reused by every case: both pipelines see the same sequence, so their counters, rate
    /// limits and clocks stay comparable.
    static PAIRS: std::cell::RefCell<Vec<(Pipeline, Pipeline, u64)>> =
        std::cell::RefCell::new(MTUS.iter().map(|&m| { let (f, p) = pair(m); (f, p, 0) }).collect());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn fused_equals_generic(
        mtu in 0..MTUS.len(),
        batches in proptest::collection::vec(proptest::collection::vec(frame(), 1..40), 1..4)
    ) {
        PAIRS.with(|pairs| {
            let mut pairs = pairs.borrow_mut();
            let (f, p, now) = &mut pairs[mtu];
            for frames in &batches {
                same(f, p, frames, *now)?;
                // Sometimes the same instant (empty rate-limit bucket), sometimes later.
                *now += u64::from(frames.len() as u32 % 3) * 40_000_000;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}

/// A BGP-sized table (120k prefixes, so the LPM's batched lookups run rather than the small-table
/// scan), routes to both ports, frames in by both ports, to known prefixes, unrouted addresses,
/// foreign MACs and expiring TTLs: fused and element by element agree on everything.
#[test]
fn fused_equals_generic_on_a_large_table() {
    use scc_nf::lpm::{XorShift, synthetic_table};
    let table = synthetic_table(120_000, 7);
    let mut routes: Vec<String> = table
        .iter()
        .enumerate()
        .map(|(k, &(a, l))| {
            let port = if k % 3 == 0 { "rx" } else { "tx" };
            format!(
                "{}/{l} via 02:00:00:00:{:02x}:{:02x} port {port}",
                Ipv4Addr::from(a),
                k % 7,
                k % 5
            )
        })
        .collect();
    routes.push("198.18.0.0/15".into());
    let cfg = NfConfig {
        preset: Some(Preset::Router),
        routes,
        ..Default::default()
    };
    let fused_p = build_pipeline(&cfg, &env()).unwrap();
    let mut plain = build_pipeline(&cfg, &env()).unwrap();
    plain.set_fusion(false);
    assert!(fused_p.is_fused() && !plain.is_fused());
    let mut fused = fused_p;
    let mut rng = XorShift(99);
    let mut forwarded = 0;
    for round in 0..40u64 {
        let frames: Vec<Vec<u8>> = (0..32)
            .map(|k| {
                let r = rng.next();
                let (a, l) = table[(r % table.len() as u64) as usize];
                let host = (rng.next() as u32) & !scc_nf::wire::ipv4::prefix_mask(l);
                let dst = match k % 8 {
                    7 => Ipv4Addr::from(rng.next() as u32),
                    _ => Ipv4Addr::from(a | host),
                };
                udp_frame(&UdpFrame {
                    dst_ip: dst,
                    ttl: if k % 11 == 0 { 1 } else { 64 },
                    dst_mac: if k % 13 == 0 {
                        MacAddr([2, 0xaa, 0, 0, 0, 1])
                    } else {
                        ROUTER_MAC
                    },
                    ident: k,
                    ..spec()
                })
            })
            .collect();
        same_from(
            &mut fused,
            &mut plain,
            &frames,
            round * 1_000_000,
            (round % 2) as u8,
        )
        .unwrap();
        forwarded += fused.port_frames(0).len() + fused.port_frames(1).len();
    }
    let drops = fused.drops();
    assert!(
        forwarded > 40 * 20,
        "most frames are routed: {forwarded}, {drops:?}"
    );
    assert!(drops.get("other_host").is_some_and(|&n| n > 0), "{drops:?}");
    assert!(drops.get("no_route").is_some_and(|&n| n > 0), "{drops:?}");
}
