//! Property tests: random and mutated frames never panic any NF, and the accounting identity
//! (frames in + originated = frames out + drops + held) holds after every batch; `originated`
//! and `held` come from the router whose gateway is found by ARP.
mod common;

use common::*;
use proptest::prelude::*;
use scc_nf::config::{NfConfig, Preset, build_pipeline};
use scc_nf::graph::Pipeline;
use scc_nf::wire::build::{UdpFrame, arp_request};

/// The gateway of the ARP-resolving router (it answers in `valid_frames`).
const NEIGH_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 19, 0, 9);

fn pipelines() -> Vec<Pipeline> {
    let via_ip = NfConfig {
        preset: Some(Preset::Router),
        routes: vec![
            "198.18.0.0/15".into(),
            format!("198.19.0.0/16 via {NEIGH_IP}"),
            "198.18.4.0/24 direct".into(),
        ],
        ..Default::default()
    };
    let mut v = vec![router(), build_pipeline(&via_ip, &env()).unwrap()];
    for preset in [Preset::Firewall, Preset::Forward] {
        let cfg = NfConfig {
            preset: Some(preset),
            rules: vec![
                "deny udp dport 5000-5001".into(),
                "allow any from 198.18.0.0/15".into(),
                "default deny".into(),
            ],
            ..Default::default()
        };
        v.push(build_pipeline(&cfg, &env()).unwrap());
    }
    v
}

fn valid_frames() -> Vec<Vec<u8>> {
    let mut arp_f = vec![0u8; 42];
    arp_request(&mut arp_f, SRC_MAC, SRC_IP, ROUTER_IP).unwrap();
    // The gateway's answer (a reply from NEIGH_IP to the router's address).
    let mut reply = vec![0u8; 42];
    arp_request(&mut reply, GW_MAC, NEIGH_IP, ROUTER_IP).unwrap();
    reply[..6].copy_from_slice(&ROUTER_MAC.0);
    reply[21] = 2;
    vec![
        reply,
        // To a destination on the connected network (resolved one by one).
        udp_frame(&UdpFrame {
            dst_ip: std::net::Ipv4Addr::new(198, 18, 4, 5),
            ..spec()
        }),
        udp_frame(&spec()),
        udp_frame(&UdpFrame { ttl: 1, ..spec() }),
        udp_frame(&UdpFrame {
            dont_frag: true,
            ..spec()
        }),
        arp_f,
    ]
}

/// A frame: random bytes, or a valid frame with some bytes flipped / truncated / extended.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        (
            0usize..6,
            proptest::collection::vec((0usize..80, any::<u8>()), 0..6),
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn nfs_never_panic_and_account_for_every_frame(
        batches in proptest::collection::vec(proptest::collection::vec(frame(), 1..40), 1..4)
    ) {
        for mut p in pipelines() {
            let mut now = 0u64;
            for frames in &batches {
                let mut b = batch_of(frames);
                p.process(&mut b, now);
                let out: usize = (0..p.ports().len()).map(|k| p.port_frames(k).len()).sum();
                prop_assert!(out <= frames.len());
                // Every index sent from the outbox is one of its frames.
                let n_ports = p.ports().len();
                if let Some(ob) = p.originate(now) {
                    for k in 0..n_ports {
                        prop_assert!(ob.port_frames(k).iter().all(|&i| usize::from(i) < ob.batch().len()));
                    }
                }
                // Time runs on fast (0.7 s a batch): requests repeat and queues give up too.
                now += 700_000_000;
                prop_assert_eq!(
                    p.frames_in() + p.originated(),
                    p.frames_out() + p.total_drops() + p.held()
                );
                let drops: u64 = p.drops().values().sum();
                prop_assert_eq!(drops, p.total_drops());
                // Every forwarded frame is a valid length frame of the batch.
                for k in 0..p.ports().len() {
                    for &i in p.port_frames(k) {
                        prop_assert!(usize::from(i) < b.len());
                    }
                }
            }
        }
    }
}
