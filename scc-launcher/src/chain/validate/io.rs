//! `[io]`, `[nf.io]` and `[interconnect]`.

use scc_io::{Driver, MAX_BATCH};

use super::Problems;
use crate::chain::host::HostInfo;
use crate::chain::schema::{Chain, InterconnectKind, IoSpec};

/// The driver and batch of an I/O spec at `path` (`io` or `nf[i].io`).
pub(super) fn check_io(io: &IoSpec, path: &str, p: &mut Problems) {
    if io.driver == Driver::Mem {
        p.add(
            format!("{path}.driver"),
            "`mem` is an in-process port for tests; a chain needs `packet`, `mmsg` or `ring`",
        );
    }
    if io.batch == 0 || io.batch > MAX_BATCH {
        p.add(
            format!("{path}.batch"),
            format!("{} is out of range: 1..={MAX_BATCH}", io.batch),
        );
    }
    if let Some(q) = io.rx_queue_frames
        && !(1..=scc_io::MAX_RX_QUEUE_FRAMES).contains(&q)
    {
        p.add(
            format!("{path}.rx_queue_frames"),
            format!(
                "{q} is out of range: 1..={} frames",
                scc_io::MAX_RX_QUEUE_FRAMES
            ),
        );
    }
}

/// `[interconnect]`: OVS installed, a switch core only where there is a switch.
pub(super) fn interconnect(chain: &Chain, host: &HostInfo, p: &mut Problems) {
    let ic = &chain.interconnect;
    if ic.kind == InterconnectKind::Ovs && !host.ovs {
        p.add(
            "interconnect.kind",
            "`ovs` needs Open vSwitch (ovs-vswitchd not found in PATH; e.g. apt install \
             openvswitch-switch), or use `b2b` or `bridge`",
        );
    }
    if let Some(c) = ic.core {
        if ic.kind == InterconnectKind::B2b {
            p.add("interconnect.core", "a b2b chain has no switch to place");
        } else if !host.is_online(c) {
            p.add("interconnect.core", host.core_reason(c));
        }
    }
}
