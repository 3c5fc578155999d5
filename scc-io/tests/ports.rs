//! Real tests of the kernel backends (`packet`, `mmsg`, `ring`) over veth pairs.
//!
//! Each test runs in a fresh user + network namespace of its own (`scc_io::sandbox_test!`), so
//! they need no root and never touch the host's interfaces; the namespace, and the veth pair in
//! it, vanish with the test's child process.

use std::time::{Duration, Instant};

use scc_io::link::{Netlink, VethPair};
use scc_io::{
    Batch, Driver, IoError, MAX_BATCH, Port, PortConfig, open_port, sandbox_test, wait_running,
};

/// Our test frames' EtherType (IEEE local experimental).
const ETHERTYPE: [u8; 2] = [0x88, 0xb5];

/// Makes `va` <-> `vb` with IPv6 off (so the kernel sends nothing of its own on them) and the
/// given MTU.
fn veth(mtu: u32) -> VethPair {
    for k in ["all", "default"] {
        // Best effort: without IPv6 in the kernel there is nothing to silence.
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{k}/disable_ipv6"), "1");
    }
    let pair = VethPair::create("va", "vb").expect("create veth pair");
    if mtu != 1500 {
        let mut nl = Netlink::open().unwrap();
        nl.set_mtu("va", mtu).unwrap();
        nl.set_mtu("vb", mtu).unwrap();
    }
    for end in ["va", "vb"] {
        assert!(
            wait_running(end, Duration::from_secs(5)).unwrap(),
            "{end} running"
        );
    }
    pair
}

fn cfg(ifname: &str, driver: Driver, batch: usize) -> PortConfig {
    PortConfig::new(ifname, driver, batch)
}

/// A ring port that transmits through a `PACKET_TX_RING` of `slots` slots.
fn tx_ring_cfg(ifname: &str, batch: usize, slots: usize) -> PortConfig {
    let mut c = cfg(ifname, Driver::Ring, batch);
    c.ring_tx_frames = slots;
    c
}

/// A test frame: broadcast, our EtherType, `seq` then a pattern derived from it.
fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len.max(18)];
    f[..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&ETHERTYPE);
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f.iter_mut().enumerate().skip(18) {
        *b = (seq as usize + i) as u8;
    }
    f.truncate(len);
    f
}

/// Receives until `want` frames arrived or `limit` passed.
fn drain(port: &mut dyn Port, want: usize, frame_size: usize, limit: Duration) -> Vec<Vec<u8>> {
    let mut b = Batch::new(64, frame_size).unwrap();
    let mut got = Vec::new();
    let end = Instant::now() + limit;
    while got.len() < want && Instant::now() < end {
        port.wait_readable(Some(Duration::from_millis(20))).unwrap();
        b.clear();
        port.recv_batch(&mut b).unwrap();
        got.extend(b.iter().map(|f| f.to_vec()));
    }
    got
}

/// Receives until nothing more arrives for `quiet` (at most `limit`); returns the count.
fn drain_all(port: &mut dyn Port, frame_size: usize, quiet: Duration, limit: Duration) -> usize {
    let mut b = Batch::new(256, frame_size).unwrap();
    let mut n = 0;
    let end = Instant::now() + limit;
    let mut last = Instant::now();
    while Instant::now() < end && last.elapsed() < quiet {
        port.wait_readable(Some(Duration::from_millis(5))).unwrap();
        b.clear();
        let k = port.recv_batch(&mut b).unwrap();
        if k > 0 {
            n += k;
            last = Instant::now();
        }
    }
    n
}

/// Frames of `sizes` cross `va` -> `vb` intact and in order, sent in batches of `batch`.
fn crosses_intact(tx_cfg: PortConfig, rx_cfg: PortConfig, sizes: &[usize]) {
    let frame_size = tx_cfg.frame_size;
    let mut tx = open_port(&tx_cfg).unwrap();
    let mut rx = open_port(&rx_cfg).unwrap();
    let sent: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| frame(i as u32, len))
        .collect();
    let mut out = Batch::new(tx_cfg.batch, frame_size).unwrap();
    for chunk in sent.chunks(tx_cfg.batch) {
        out.clear();
        for f in chunk {
            out.push(f).unwrap();
        }
        assert_eq!(tx.send_batch(&out).unwrap(), chunk.len());
    }
    let got = drain(rx.as_mut(), sent.len(), frame_size, Duration::from_secs(3));
    assert_eq!(got.len(), sent.len(), "frames received");
    for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(g.len(), s.len(), "length of frame {i}");
        assert!(g == s, "content of frame {i} ({} bytes)", s.len());
    }
    let ts = tx.stats();
    let rs = rx.stats();
    assert_eq!(ts.tx_frames, sent.len() as u64);
    assert_eq!(ts.tx_bytes, sizes.iter().sum::<usize>() as u64);
    assert_eq!(ts.tx_dropped, 0);
    assert_eq!(rs.rx_frames, sent.len() as u64);
    assert_eq!(rs.kernel_drops, 0);
    assert!(ts.tx_syscalls > 0);
}

const SIZES: [usize; 14] = [
    60, 61, 64, 65, 100, 128, 255, 256, 512, 1000, 1024, 1500, 1513, 1514,
];

fn sizes_60_to_1514() -> Vec<usize> {
    // Every size class twice, plus a sweep, so batches mix sizes.
    let mut v: Vec<usize> = SIZES.iter().chain(SIZES.iter().rev()).copied().collect();
    v.extend((60..=1514).step_by(97));
    v
}

fn jumbo_sizes() -> Vec<usize> {
    vec![60, 1514, 1515, 4000, 8000, 9013, 9014, 64, 9014]
}

fn jumbo_cfg(ifname: &str, driver: Driver) -> PortConfig {
    let mut c = cfg(ifname, driver, 4);
    c.frame_size = 9216;
    c
}

sandbox_test!(
    fn packet_frames_cross_intact_in_order() {
        let _v = veth(1500);
        crosses_intact(
            cfg("va", Driver::Packet, 8),
            cfg("vb", Driver::Packet, 8),
            &sizes_60_to_1514(),
        );
    }
);

sandbox_test!(
    fn mmsg_frames_cross_intact_in_order() {
        let _v = veth(1500);
        crosses_intact(
            cfg("va", Driver::Mmsg, 8),
            cfg("vb", Driver::Mmsg, 8),
            &sizes_60_to_1514(),
        );
    }
);

sandbox_test!(
    fn ring_frames_cross_intact_in_order() {
        let _v = veth(1500);
        // TX by sendmmsg (the default) ...
        crosses_intact(
            cfg("va", Driver::Ring, 8),
            cfg("vb", Driver::Ring, 8),
            &sizes_60_to_1514(),
        );
        // ... and through a PACKET_TX_RING.
        crosses_intact(
            tx_ring_cfg("vb", 8, 64),
            cfg("va", Driver::Ring, 8),
            &sizes_60_to_1514(),
        );
    }
);

sandbox_test!(
    fn ring_tx_sendmmsg_mode_and_mixed_backends() {
        let _v = veth(1500);
        let mut t = cfg("va", Driver::Ring, 16);
        t.ring_tx_frames = 0;
        crosses_intact(t, cfg("vb", Driver::Mmsg, 16), &sizes_60_to_1514());
        let mut t = cfg("vb", Driver::Ring, 16);
        t.ring_tx_frames = 8; // fewer slots than frames: the ring wraps around
        crosses_intact(t, cfg("va", Driver::Packet, 16), &sizes_60_to_1514());
    }
);

sandbox_test!(
    fn jumbo_frames_cross_every_backend() {
        let _v = veth(9000);
        for d in Driver::KERNEL {
            crosses_intact(jumbo_cfg("va", d), jumbo_cfg("vb", d), &jumbo_sizes());
        }
        let mut t = jumbo_cfg("vb", Driver::Ring);
        t.ring_tx_frames = 8;
        crosses_intact(t, jumbo_cfg("va", Driver::Ring), &jumbo_sizes());
    }
);

/// With fewer frames waiting than the batch holds, `recv_batch` returns at once with them.
fn partial_batch_returns_at_once(driver: Driver) {
    let _v = veth(1500);
    let mut tx = open_port(&cfg("va", Driver::Mmsg, 8)).unwrap();
    let mut rx = open_port(&cfg("vb", driver, 64)).unwrap();
    let mut b = Batch::new(64, 2048).unwrap();
    // Nothing waiting: returns 0 at once.
    assert_eq!(rx.recv_batch(&mut b).unwrap(), 0);
    assert!(!rx.wait_readable(Some(Duration::from_millis(5))).unwrap());
    let mut out = Batch::new(8, 2048).unwrap();
    for s in 0..3 {
        out.push(&frame(s, 60)).unwrap();
    }
    assert_eq!(tx.send_batch(&out).unwrap(), 3);
    let mut got = 0;
    let end = Instant::now() + Duration::from_secs(2);
    while got < 3 && Instant::now() < end {
        assert!(
            rx.wait_readable(Some(Duration::from_secs(1))).unwrap(),
            "input ready"
        );
        let n = rx.recv_batch(&mut b).unwrap();
        assert!(n <= 3);
        got += n;
    }
    assert_eq!(got, 3);
    assert_eq!(b.len(), 3);
    for (i, f) in b.iter().enumerate() {
        assert_eq!(f, frame(i as u32, 60).as_slice());
    }
    // And again nothing: returns 0 immediately.
    assert_eq!(rx.recv_batch(&mut b).unwrap(), 0);
    let s = rx.stats();
    assert_eq!(s.rx_frames, 3);
    assert!(s.empty_polls >= 2);
}

sandbox_test!(
    fn packet_partial_batch_returns_at_once() {
        partial_batch_returns_at_once(Driver::Packet);
    }
);

sandbox_test!(
    fn mmsg_partial_batch_returns_at_once() {
        partial_batch_returns_at_once(Driver::Mmsg);
    }
);

sandbox_test!(
    fn ring_partial_batch_returns_at_once() {
        partial_batch_returns_at_once(Driver::Ring);
    }
);

/// A burst far larger than the receive buffer: received + kernel drops == sent, exactly.
fn burst_is_accounted(driver: Driver) {
    let _v = veth(1500);
    const N: u64 = 3000;
    let mut tx = open_port(&cfg("va", Driver::Mmsg, 64)).unwrap();
    let mut rc = cfg("vb", driver, 64);
    rc.rcvbuf = Some(4096); // the kernel's minimum: a handful of frames
    rc.ring_blocks = 2;
    rc.ring_block_size = 4096;
    let mut rx = open_port(&rc).unwrap();
    let mut out = Batch::new(64, 2048).unwrap();
    let mut seq = 0u32;
    while u64::from(seq) < N {
        out.clear();
        while !out.is_full() && u64::from(seq) < N {
            out.push(&frame(seq, 60)).unwrap();
            seq += 1;
        }
        tx.send_batch(&out).unwrap();
    }
    let ts = tx.stats();
    assert_eq!(ts.tx_frames + ts.tx_dropped, N);
    let got = drain_all(
        rx.as_mut(),
        2048,
        Duration::from_millis(100),
        Duration::from_secs(3),
    );
    let rs = rx.stats();
    assert_eq!(rs.rx_frames, got as u64);
    assert!(
        rs.kernel_drops > 0,
        "the burst overflowed the buffer: {rs:?}"
    );
    assert_eq!(
        rs.rx_frames + rs.kernel_drops,
        ts.tx_frames,
        "received + kernel drops == sent ({rs:?}, {ts:?})"
    );
}

sandbox_test!(
    fn packet_burst_beyond_socket_buffer_is_accounted() {
        burst_is_accounted(Driver::Packet);
    }
);

sandbox_test!(
    fn mmsg_burst_beyond_socket_buffer_is_accounted() {
        burst_is_accounted(Driver::Mmsg);
    }
);

sandbox_test!(
    fn ring_burst_beyond_ring_is_accounted() {
        burst_is_accounted(Driver::Ring);
    }
);

sandbox_test!(
    fn unknown_interface_is_a_typed_error() {
        for d in Driver::KERNEL {
            for name in ["nosuch0", "", "a-name-far-too-long-for-linux", "a/b"] {
                match open_port(&cfg(name, d, 8)) {
                    Err(IoError::UnknownInterface(n)) => assert_eq!(n, name),
                    other => panic!("{d} {name:?}: {:?}", other.err()),
                }
            }
        }
    }
);

sandbox_test!(
    fn down_interface_is_a_typed_error() {
        let _v = veth(1500);
        Netlink::open().unwrap().set_down("va").unwrap();
        for d in Driver::KERNEL {
            match open_port(&cfg("va", d, 8)) {
                Err(IoError::InterfaceDown(n)) => assert_eq!(n, "va"),
                other => panic!("{d}: {:?}", other.err()),
            }
        }
    }
);

sandbox_test!(
    fn bad_batch_and_ring_sizes_are_typed_errors() {
        let _v = veth(1500);
        for d in Driver::KERNEL {
            assert!(matches!(
                open_port(&cfg("va", d, 0)),
                Err(IoError::BadBatchSize(0))
            ));
            assert!(matches!(
                open_port(&cfg("va", d, MAX_BATCH + 1)),
                Err(IoError::BadBatchSize(n)) if n == MAX_BATCH + 1
            ));
            let mut c = cfg("va", d, 8);
            c.frame_size = 10;
            assert!(matches!(open_port(&c), Err(IoError::BadFrameSize(10))));
        }
        let mut c = cfg("va", Driver::Ring, 8);
        c.ring_block_size = 1000;
        assert!(matches!(open_port(&c), Err(IoError::BadRingConfig(_))));
        let mut c = cfg("va", Driver::Ring, 8);
        c.ring_blocks = 0;
        assert!(matches!(open_port(&c), Err(IoError::BadRingConfig(_))));
        assert!(matches!(
            open_port(&cfg("va", Driver::Mem, 8)),
            Err(IoError::Unsupported { .. })
        ));
    }
);

sandbox_test!(
    fn oversize_frame_is_dropped_counted_and_reported() {
        let _v = veth(1500);
        let configs = Driver::KERNEL
            .map(|d| cfg("va", d, 8))
            .into_iter()
            .chain([tx_ring_cfg("va", 8, 16)]);
        for c in configs {
            let d = format!("{} (tx ring slots {})", c.driver, c.ring_tx_frames);
            let mut tx = open_port(&c).unwrap();
            let mut rx = open_port(&cfg("vb", Driver::Mmsg, 8)).unwrap();
            let mut out = Batch::new(8, 2048).unwrap();
            out.push(&frame(0, 100)).unwrap();
            out.push(&frame(1, 1515)).unwrap(); // MTU 1500 + 14 + 1
            out.push(&frame(2, 10)).unwrap(); // shorter than an Ethernet header
            out.push(&frame(3, 200)).unwrap();
            match tx.send_batch(&out) {
                Err(IoError::FrameTooLarge {
                    len: 1515,
                    cap: 1514,
                }) => {}
                other => panic!("{d}: {other:?}"),
            }
            let s = tx.stats();
            assert_eq!((s.tx_frames, s.tx_dropped), (2, 2), "{d}: {s:?}");
            // The frames that fit were sent, in order.
            let got = drain(rx.as_mut(), 2, 2048, Duration::from_secs(2));
            assert_eq!(got, vec![frame(0, 100), frame(3, 200)], "{d}");
            // A frame larger than a batch buffer cannot even enter the batch.
            let mut small = Batch::new(1, 64).unwrap();
            assert!(matches!(
                small.push(&frame(0, 65)),
                Err(IoError::FrameTooLarge { len: 65, cap: 64 })
            ));
        }
    }
);

sandbox_test!(
    fn received_frame_larger_than_buffers_is_dropped_and_counted() {
        let _v = veth(9000);
        for d in Driver::KERNEL {
            let mut tx = open_port(&jumbo_cfg("va", Driver::Mmsg)).unwrap();
            let mut rx = open_port(&cfg("vb", d, 8)).unwrap(); // 2048-byte buffers
            let mut out = Batch::new(4, 9216).unwrap();
            out.push(&frame(0, 60)).unwrap();
            out.push(&frame(1, 4000)).unwrap();
            out.push(&frame(2, 61)).unwrap();
            assert_eq!(tx.send_batch(&out).unwrap(), 3);
            let got = drain(rx.as_mut(), 2, 2048, Duration::from_secs(2));
            assert_eq!(got, vec![frame(0, 60), frame(2, 61)], "{d}");
            let s = rx.stats();
            assert_eq!((s.rx_frames, s.kernel_drops), (2, 1), "{d}: {s:?}");
        }
    }
);

sandbox_test!(
    fn without_cap_net_raw_open_is_permission_denied() {
        let _v = veth(1500);
        // Capabilities are per thread: drop CAP_NET_RAW in a thread of our own and open there.
        let r = std::thread::spawn(|| {
            drop_cap_net_raw();
            open_port(&cfg("va", Driver::Mmsg, 8)).map(|_| ())
        })
        .join()
        .unwrap();
        match r {
            Err(e @ IoError::PermissionDenied { .. }) => {
                assert!(e.to_string().contains("CAP_NET_RAW"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
);

/// Removes CAP_NET_RAW from the calling thread's effective set (capget/capset, v3 ABI).
fn drop_cap_net_raw() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const V3: u32 = 0x2008_0522;
    const CAP_NET_RAW: u32 = 13;
    let mut h = Header {
        version: V3,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: header and two data structs, as the v3 capget ABI requires, live for the call.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) };
    assert_eq!(r, 0, "capget");
    d[0].effective &= !(1 << CAP_NET_RAW);
    // SAFETY: as above; capset only reads them and acts on the calling thread (pid 0).
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()) };
    assert_eq!(r, 0, "capset");
}

sandbox_test!(
    fn stats_count_syscalls_and_empty_polls() {
        let _v = veth(1500);
        let mut tx = open_port(&cfg("va", Driver::Packet, 8)).unwrap();
        let mut rx = open_port(&cfg("vb", Driver::Mmsg, 32)).unwrap();
        let mut out = Batch::new(8, 2048).unwrap();
        for s in 0..8 {
            out.push(&frame(s, 64)).unwrap();
        }
        assert_eq!(tx.send_batch(&out).unwrap(), 8);
        assert_eq!(tx.stats().tx_syscalls, 8, "packet: one sendto per frame");
        let mut b = Batch::new(32, 2048).unwrap();
        assert_eq!(rx.recv_batch(&mut b).unwrap(), 8);
        assert_eq!(rx.recv_batch(&mut b).unwrap(), 0);
        let s = rx.stats();
        assert_eq!(
            (s.rx_syscalls, s.empty_polls, s.rx_frames, s.rx_bytes),
            (2, 1, 8, 8 * 64)
        );
        // Each call moves at most the configured batch, whatever room the Batch has.
        for d in Driver::KERNEL {
            let mut rx = open_port(&cfg("vb", d, 3)).unwrap();
            assert_eq!(tx.send_batch(&out).unwrap(), 8);
            let mut b = Batch::new(32, 2048).unwrap();
            let mut calls = Vec::new();
            let end = Instant::now() + Duration::from_secs(2);
            while b.len() < 8 && Instant::now() < end {
                rx.wait_readable(Some(Duration::from_millis(20))).unwrap();
                let n = rx.recv_batch(&mut b).unwrap();
                if n > 0 {
                    calls.push(n);
                }
            }
            assert_eq!(b.len(), 8, "{d}");
            assert!(calls.iter().all(|&n| n <= 3), "{d}: {calls:?}");
        }
    }
);

// ---------------------------------------------------------------------------------------------
// AF_XDP (`xdp`) and `auto`.
//
// bpf() needs CAP_BPF + CAP_NET_ADMIN in the *initial* user namespace here
// (kernel.unprivileged_bpf_disabled = 2), so the user-namespace sandbox cannot run these: as root
// (CI) each test makes a fresh network namespace of its own on a thread (`NetNs::new` +
// `NetNs::run`), never touching the root namespace; otherwise it prints `SKIPPED: <test>: <why>`.

use scc_io::netns::NetNs;
use scc_io::{RingRx, XdpMode, XdpPort, XdpUnavailable};

/// Runs `body` in a fresh network namespace of the test's own, or prints why it cannot.
fn in_xdp_netns(test: &str, body: impl FnOnce() + Send) {
    if let Err(why) = scc_io::xdp::probe() {
        scc_io::skip::skipped(test, &why.to_string());
        return;
    }
    let ns = NetNs::new().expect("a fresh network namespace");
    ns.run(body).expect("enter the namespace");
}

fn xdp_cfg(ifname: &str, batch: usize, mode: XdpMode) -> PortConfig {
    let mut c = cfg(ifname, Driver::Xdp, batch);
    c.xdp_mode = mode;
    c
}

/// No XDP program is attached to any interface of this namespace (netlink `IFLA_XDP`).
///
/// The kernel detaches a link's program when the last descriptor of the link closes. Other
/// tests of this harness fork children concurrently, and a child holds copies of every
/// descriptor between `fork` and `exec` (the close-on-exec ones until that `exec`), so the
/// last close can come a moment after our drop: wait for it, bounded (2 s).
fn assert_no_xdp_attached() {
    let mut nl = Netlink::open().unwrap();
    let end = Instant::now() + Duration::from_secs(2);
    loop {
        let left: Vec<String> = nl
            .links()
            .unwrap()
            .into_iter()
            .filter(|l| l.xdp.is_some())
            .map(|l| format!("{} {:?}", l.name, l.xdp))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < end, "XDP program left on {left:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn xdp_attached(ifname: &str) -> Option<(u32, &'static str)> {
    Netlink::open().unwrap().link(ifname).unwrap().unwrap().xdp
}

#[test]
fn xdp_frames_cross_intact_in_order() {
    in_xdp_netns("xdp_frames_cross_intact_in_order", || {
        let _v = veth(1500);
        for mode in [XdpMode::Generic, XdpMode::Native] {
            // xdp -> xdp, then each way against mmsg, batches mixing sizes 60..1514.
            crosses_intact(
                xdp_cfg("va", 8, mode),
                xdp_cfg("vb", 8, mode),
                &sizes_60_to_1514(),
            );
            assert_no_xdp_attached();
            crosses_intact(
                xdp_cfg("vb", 32, mode),
                cfg("va", Driver::Mmsg, 32),
                &sizes_60_to_1514(),
            );
            crosses_intact(
                cfg("va", Driver::Mmsg, 16),
                xdp_cfg("vb", 16, mode),
                &sizes_60_to_1514(),
            );
            assert_no_xdp_attached();
        }
    });
}

#[test]
fn xdp_partial_batch_returns_at_once() {
    in_xdp_netns("xdp_partial_batch_returns_at_once", || {
        partial_batch_returns_at_once(Driver::Xdp);
        assert_no_xdp_attached();
    });
}

#[test]
fn xdp_burst_beyond_rings_is_accounted() {
    in_xdp_netns("xdp_burst_beyond_rings_is_accounted", || {
        let _v = veth(1500);
        for mode in [XdpMode::Generic, XdpMode::Native] {
            const N: u64 = 3000;
            let mut tx = open_port(&cfg("va", Driver::Mmsg, 64)).unwrap();
            let mut rc = xdp_cfg("vb", 64, mode);
            rc.xdp_ring_size = 64; // 64 RX chunks: the burst overflows them
            let mut rx = open_port(&rc).unwrap();
            let mut out = Batch::new(64, 2048).unwrap();
            let mut seq = 0u32;
            while u64::from(seq) < N {
                out.clear();
                while !out.is_full() && u64::from(seq) < N {
                    out.push(&frame(seq, 60)).unwrap();
                    seq += 1;
                }
                tx.send_batch(&out).unwrap();
            }
            let ts = tx.stats();
            assert_eq!(ts.tx_frames + ts.tx_dropped, N);
            let got = drain_all(
                rx.as_mut(),
                2048,
                Duration::from_millis(100),
                Duration::from_secs(3),
            );
            let rs = rx.stats();
            assert_eq!(rs.rx_frames, got as u64);
            assert!(
                rs.kernel_drops > 0,
                "{mode:?}: the burst overflowed: {rs:?}"
            );
            assert_eq!(
                rs.rx_frames + rs.kernel_drops,
                ts.tx_frames,
                "{mode:?}: received + kernel drops == sent ({rs:?}, {ts:?})"
            );
            drop(rx);
            assert_no_xdp_attached();
        }
    });
}

#[test]
fn xdp_tx_burst_beyond_rings_is_accounted() {
    // The xdp port sends more than its TX ring and UMEM hold; the receiver counts on its own.
    in_xdp_netns("xdp_tx_burst_beyond_rings_is_accounted", || {
        let _v = veth(1500);
        let mut tc = xdp_cfg("va", 256, XdpMode::Generic);
        tc.xdp_ring_size = 64;
        let mut tx = open_port(&tc).unwrap();
        let mut rx = open_port(&cfg("vb", Driver::Ring, 256)).unwrap();
        let mut out = Batch::new(256, 2048).unwrap();
        const ROUNDS: u32 = 8;
        for r in 0..ROUNDS {
            out.clear();
            for s in 0..256 {
                out.push(&frame(r * 256 + s, 60)).unwrap();
            }
            tx.send_batch(&out).unwrap();
        }
        let ts = tx.stats();
        assert_eq!(
            ts.tx_frames + ts.tx_dropped,
            u64::from(ROUNDS) * 256,
            "{ts:?}"
        );
        let got = drain_all(
            rx.as_mut(),
            2048,
            Duration::from_millis(100),
            Duration::from_secs(3),
        );
        let rs = rx.stats();
        assert_eq!(
            rs.rx_frames + rs.kernel_drops,
            ts.tx_frames,
            "{rs:?} {ts:?}"
        );
        assert_eq!(rs.rx_frames, got as u64);
    });
}

#[test]
fn xdp_program_is_detached_when_the_port_is_dropped() {
    in_xdp_netns("xdp_program_is_detached_when_the_port_is_dropped", || {
        let _v = veth(1500);
        for (mode, want) in [(XdpMode::Generic, "skb"), (XdpMode::Native, "drv")] {
            let p = XdpPort::open(&xdp_cfg("va", 8, mode)).unwrap();
            let (id, m) = xdp_attached("va").expect("program attached while the port lives");
            assert!(id > 0);
            assert_eq!(m, want, "{mode:?}");
            assert_eq!(xdp_attached("vb"), None);
            // A second port on the same interface: a typed driver error, and nothing leaks.
            match XdpPort::open(&xdp_cfg("va", 8, mode)) {
                Err(IoError::XdpUnavailable {
                    reason: XdpUnavailable::Driver(_),
                    ..
                }) => {}
                other => panic!("{mode:?}: {other:?}"),
            }
            drop(p);
            assert_no_xdp_attached(); // detached on drop
        }
        // Auto attaches natively where the driver allows (veth does).
        let p = XdpPort::open(&xdp_cfg("vb", 8, XdpMode::Auto)).unwrap();
        assert_eq!(p.attach_mode(), scc_io::xdp::XdpAttach::Native);
        drop(p);
        assert_no_xdp_attached();
    });
}

#[test]
fn xdp_open_errors_are_typed_and_leave_nothing() {
    in_xdp_netns("xdp_open_errors_are_typed_and_leave_nothing", || {
        let _v = veth(9000);
        // Jumbo frames do not fit a UMEM chunk: a driver error naming the MTU.
        match XdpPort::open(&xdp_cfg("va", 8, XdpMode::Generic)) {
            Err(
                e @ IoError::XdpUnavailable {
                    reason: XdpUnavailable::Driver(_),
                    ..
                },
            ) => assert!(e.to_string().contains("MTU 9000"), "{e}"),
            other => panic!("{other:?}"),
        }
        // A queue the interface does not have.
        let mut nl = Netlink::open().unwrap();
        nl.set_mtu("va", 1500).unwrap();
        let mut c = xdp_cfg("va", 8, XdpMode::Generic);
        c.xdp_queue = 7;
        assert!(
            matches!(
                XdpPort::open(&c),
                Err(IoError::XdpUnavailable {
                    reason: XdpUnavailable::Driver(_),
                    ..
                })
            ),
            "queue 7"
        );
        let mut c = xdp_cfg("va", 8, XdpMode::Generic);
        c.xdp_ring_size = 100;
        assert!(matches!(XdpPort::open(&c), Err(IoError::BadRingConfig(_))));
        assert!(matches!(
            XdpPort::open(&xdp_cfg("nosuch0", 8, XdpMode::Generic)),
            Err(IoError::UnknownInterface(_))
        ));
        assert_no_xdp_attached();
        // On MTU 9000, auto falls back to ring and says why.
        nl.set_mtu("va", 9000).unwrap();
        let (p, why) = scc_io::open_auto(&cfg("va", Driver::Auto, 8)).unwrap();
        assert_eq!(p.driver(), Driver::Ring);
        assert!(
            matches!(
                why.as_slice(),
                [(Driver::Xdp, IoError::XdpUnavailable { .. })]
            ),
            "{why:?}"
        );
        drop(p);
        assert_no_xdp_attached();
    });
}

#[test]
fn auto_picks_xdp_when_it_works() {
    in_xdp_netns("auto_picks_xdp_when_it_works", || {
        let _v = veth(1500);
        let (p, why) = scc_io::open_auto(&cfg("va", Driver::Auto, 8)).unwrap();
        assert_eq!(p.driver(), Driver::Xdp);
        assert!(why.is_empty(), "{why:?}");
        drop(p);
        let p = open_port(&cfg("va", Driver::Auto, 8)).unwrap();
        assert_eq!(p.driver(), Driver::Xdp);
        drop(p);
        assert_no_xdp_attached();
    });
}

sandbox_test!(
    /// In a rootless user namespace AF_XDP cannot load its program: a one-line error that names
    /// the privilege; `auto` falls back to `ring` and says why.
    fn xdp_in_a_user_namespace_says_which_privilege_it_needs() {
        let _v = veth(1500);
        let disabled = std::fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled")
            .map(|s| s.trim() != "0")
            .unwrap_or(true);
        match XdpPort::open(&xdp_cfg("va", 8, XdpMode::Auto)) {
            Err(
                e @ IoError::XdpUnavailable {
                    reason: XdpUnavailable::Permission(_),
                    ..
                },
            ) => {
                let msg = e.to_string();
                assert!(!msg.contains('\n'), "one line: {msg}");
                assert!(
                    msg.contains("CAP_BPF") && msg.contains("initial user namespace"),
                    "{msg}"
                );
            }
            Ok(_) if !disabled => println!("note: unprivileged bpf() is allowed on this host"),
            other => panic!("{other:?}"),
        }
        let (p, why) = scc_io::open_auto(&cfg("va", Driver::Auto, 8)).unwrap();
        if disabled {
            assert_eq!(p.driver(), Driver::Ring);
            assert!(matches!(
                why.as_slice(),
                [(Driver::Xdp, IoError::XdpUnavailable { .. })]
            ));
        }
        assert_no_xdp_attached();
    }
);

sandbox_test!(
    /// The V3 ring (blocks, block timer) still works and balances; the default is V2.
    fn ring_v3_frames_cross_and_burst_balances() {
        let _v = veth(1500);
        let mut c = cfg("vb", Driver::Ring, 8);
        c.ring_rx = RingRx::V3;
        c.ring_block_timeout_ms = 2;
        crosses_intact(cfg("va", Driver::Mmsg, 8), c, &sizes_60_to_1514());
        let p = scc_io::RingPort::open(&cfg("va", Driver::Ring, 8)).unwrap();
        assert_eq!(p.rx_ring(), RingRx::V2);
        let mut c = cfg("va", Driver::Ring, 8);
        c.ring_rx = RingRx::V3;
        c.ring_block_timeout_ms = 0;
        assert!(matches!(open_port(&c), Err(IoError::BadRingConfig(_))));
    }
);

sandbox_test!(
    /// A frame the kernel refuses from the TX ring (here: longer than the MTU, which shrank
    /// after the port was opened) is counted as dropped, never as sent, and the frames behind
    /// it are still sent, in order.
    fn ring_tx_frame_refused_by_the_kernel_is_not_counted_as_sent() {
        let _v = veth(1500);
        let mut tx = open_port(&tx_ring_cfg("va", 8, 16)).unwrap();
        let mut rx = open_port(&cfg("vb", Driver::Mmsg, 8)).unwrap();
        Netlink::open().unwrap().set_mtu("va", 1000).unwrap();
        assert!(wait_running("va", Duration::from_secs(5)).unwrap());
        let mut out = Batch::new(8, 2048).unwrap();
        for (s, len) in [(0, 100), (1, 1400), (2, 200), (3, 300)] {
            out.push(&frame(s, len)).unwrap();
        }
        let r = tx.send_batch(&out);
        assert!(
            matches!(r, Err(IoError::FrameTooLarge { len: 1400, .. })),
            "{r:?}"
        );
        let s = tx.stats();
        assert_eq!((s.tx_frames, s.tx_dropped), (3, 1), "{s:?}");
        let got = drain(rx.as_mut(), 3, 2048, Duration::from_secs(2));
        assert_eq!(got, vec![frame(0, 100), frame(2, 200), frame(3, 300)]);
        // And the ring goes on working.
        out.clear();
        out.push(&frame(4, 64)).unwrap();
        assert_eq!(tx.send_batch(&out).unwrap(), 1);
        assert_eq!(
            drain(rx.as_mut(), 1, 2048, Duration::from_secs(2)),
            vec![frame(4, 64)]
        );
    }
);

/// Set in the helper process of [`xdp_program_is_detached_after_a_crash`].
const CRASH_CHILD_ENV: &str = "SCC_IO_XDP_CRASH_CHILD";

#[test]
fn xdp_program_is_detached_after_a_crash() {
    in_xdp_netns("xdp_program_is_detached_after_a_crash", || {
        use std::io::BufRead;
        let _v = veth(1500);
        let ns = NetNs::current().unwrap();
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "xdp_crash_helper",
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
        scc_io::netns::command_in_netns(&mut cmd, &ns);
        let mut child = cmd.spawn().unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let end = Instant::now() + Duration::from_secs(20);
        while !line.contains("xdp port open") && Instant::now() < end {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                break;
            }
        }
        assert!(
            line.contains("xdp port open"),
            "helper did not open its port: {line:?}"
        );
        assert!(
            xdp_attached("va").is_some(),
            "attached while the helper lives"
        );
        // SIGKILL: no destructor runs; only the kernel's closing of the link fd detaches.
        child.kill().unwrap(); // our own child, by its handle
        child.wait().unwrap();
        let end = Instant::now() + Duration::from_secs(5);
        while xdp_attached("va").is_some() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(xdp_attached("va"), None, "detached after the crash");
        assert_no_xdp_attached();
    });
}

/// Helper process of `xdp_program_is_detached_after_a_crash` (runs only when that test starts
/// it, inside the test's namespace): opens an xdp port on `va`, says so, and waits to be killed.
#[test]
#[ignore = "helper process of xdp_program_is_detached_after_a_crash"]
fn xdp_crash_helper() {
    if std::env::var_os(CRASH_CHILD_ENV).is_none() {
        return;
    }
    let _p = XdpPort::open(&xdp_cfg("va", 8, XdpMode::Auto)).unwrap();
    println!("xdp port open");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}
