//! Offline runs for simulators: the NF of an [`NfConfig`] over in-memory ports, fed a fixed
//! number of UDP frames, then it exits (`scc-nf ... --simulate-packets N`). Profilers run this
//! under valgrind's cachegrind twice with different packet counts and take the difference
//! (`scc profile --simulate`, `scc_profiler::cachegrind::Simulation`), so the NF's user-space
//! data references per packet are counted where no hardware PMU exists.
//!
//! No interface is opened: the NF's MAC is `--src-mac` (default `02:00:00:00:00:01`), its MTU
//! `--mtu` (default 1500), its addresses `--addr`. The frames go from `198.18.0.1` to `dst`
//! (the chain's probe destination) and are addressed to the NF's MAC.

use std::net::Ipv4Addr;
use std::time::Duration;

use scc_io::mem::pair;
use scc_io::{Batch, Port};

use crate::config::{Env, NfConfig, Preset, build_pipeline};
use crate::error::{NfError, Result};
use crate::nf::{Nf, NfCounters, NfOptions};
use crate::wire::MacAddr;
use crate::wire::build::UdpFrame;

/// What to feed the NF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feed {
    /// Frames to send in total.
    pub packets: u64,
    /// Destination address of the frames.
    pub dst: Ipv4Addr,
    /// Frame size in bytes (without FCS), 42..=1514.
    pub frame_size: usize,
}

/// The NF's MAC when `--src-mac` is not given.
pub const DEFAULT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);

/// Runs the NF of `cfg` over in-memory ports on `feed` and returns its counters (`rx` equals
/// `feed.packets` when every frame was taken; what the NF sent is drained and dropped).
pub fn run_offline(cfg: &NfConfig, feed: Feed) -> Result<NfCounters> {
    let batch = cfg.batch.unwrap_or(32).clamp(1, scc_io::MAX_BATCH);
    if !(42..=1514).contains(&feed.frame_size) {
        return Err(NfError::Config(format!(
            "--simulate-frame-size {}: expected 42..=1514",
            feed.frame_size
        )));
    }
    let src_mac = cfg.src_mac.unwrap_or(DEFAULT_MAC);
    let env = Env {
        src_mac,
        gw_mac: cfg.gw_mac,
        addrs: cfg.addrs.clone(),
        mtu: cfg.mtu.unwrap_or(1500),
        icmp_rate: cfg.icmp_rate.unwrap_or(100),
    };
    let pipeline = build_pipeline(cfg, &env)?;
    let slots = (4 * batch).max(64);
    let (mut gen_tx, nf_in) = pair("gen", "nf-in", slots, 2048)?;
    let (nf_out, mut sink) = pair("nf-out", "sink", slots, 2048)?;
    let ports: Vec<Box<dyn Port>> = vec![Box::new(nf_in), Box::new(nf_out)];
    let kind = if cfg.element.is_empty() {
        cfg.preset.map_or("custom", Preset::name).to_string()
    } else {
        "custom".to_string()
    };
    let mut nf = Nf::new(
        pipeline,
        ports,
        vec![0, 1],
        NfOptions {
            name: cfg.name.clone().unwrap_or_else(|| kind.clone()),
            kind,
            batch,
            frame_size: 2048,
            poll: crate::config::PollMode::Busy,
            spin: Duration::ZERO,
            stats_file: None,
        },
    )?;
    let mut input = Batch::with_capacity(batch)?;
    let mut frame = vec![0u8; feed.frame_size];
    let payload = vec![0xab; feed.frame_size.saturating_sub(42)];
    for i in 0..batch {
        let spec = UdpFrame {
            src_mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
            dst_mac: src_mac,
            src_ip: Ipv4Addr::new(198, 18, 0, 1),
            dst_ip: feed.dst,
            src_port: 4000 + i as u16,
            dst_port: 5000,
            ttl: 64,
            ident: i as u16,
            dont_frag: false,
            udp_checksum: true,
        };
        let n = spec
            .write(&mut frame, &payload)
            .map_err(|e| NfError::Config(format!("cannot build the simulation frame: {e}")))?;
        input.push(&frame[..n])?;
    }
    let mut drain = Batch::with_capacity(scc_io::MAX_BATCH)?;
    let mut left = feed.packets;
    while left > 0 {
        let k = usize::try_from(left).unwrap_or(usize::MAX).min(batch);
        let sent = gen_tx.send_frames(&input, &scc_io::ALL_INDICES[..k])?;
        left -= sent as u64;
        // The NF takes what was sent (the ring holds a batch), then its output is drained.
        while nf.poll_once()? > 0 {}
        loop {
            drain.clear();
            if sink.recv_batch(&mut drain)? == 0 {
                break;
            }
        }
        if sent == 0 {
            return Err(NfError::Config(
                "the NF's input ring stayed full: nothing is taken".into(),
            ));
        }
    }
    Ok(nf.counters())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> NfConfig {
        NfConfig {
            preset: Some(Preset::Router),
            routes: vec!["198.18.0.0/15".into()],
            gw_mac: Some(MacAddr([0x02, 0, 0, 0, 0, 0x22])),
            ..Default::default()
        }
    }

    #[test]
    fn every_frame_is_taken_and_routed() {
        let feed = Feed {
            packets: 1000,
            dst: Ipv4Addr::new(198, 19, 0, 1),
            frame_size: 64,
        };
        let c = run_offline(&router(), feed).unwrap();
        assert_eq!(c.rx, 1000, "{c:?}");
        assert_eq!(c.tx, 1000, "{c:?}");
    }

    #[test]
    fn unrouted_frames_are_dropped_and_counted() {
        let feed = Feed {
            packets: 100,
            dst: Ipv4Addr::new(10, 0, 0, 1),
            frame_size: 64,
        };
        let c = run_offline(&router(), feed).unwrap();
        assert_eq!(c.rx, 100);
        assert_eq!(c.tx + c.drops.values().sum::<u64>(), 100, "{c:?}");
        assert!(
            run_offline(
                &router(),
                Feed {
                    frame_size: 10,
                    ..feed
                }
            )
            .is_err()
        );
    }
}
