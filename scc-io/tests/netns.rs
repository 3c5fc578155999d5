//! Tests of `scc_io::netns` and `scc_io::link`: real namespaces, real veth pairs, real frames.
//!
//! Every test that needs network privileges runs in its own user + network namespace through
//! `sandbox_test!`, so this passes as an ordinary user and never touches the host's namespaces.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use scc_io::IoError;
use scc_io::link::{Netlink, VethPair};
use scc_io::netns::{self, NetNs};

/// A raw `AF_PACKET` socket bound to one interface (test helper).
struct RawSock {
    fd: OwnedFd,
    ifindex: i32,
}

impl RawSock {
    /// Opens a socket in the calling thread's namespace, bound to `ifname`.
    fn open(ifname: &str) -> RawSock {
        let ifindex = Netlink::open().unwrap().index(ifname).unwrap() as i32;
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket call, no pointers.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(proto),
            )
        };
        assert!(
            fd >= 0,
            "socket(AF_PACKET): {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: fd was just returned by socket and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex;
        // SAFETY: sll is a valid sockaddr_ll of the given length.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        RawSock { fd, ifindex }
    }

    fn send(&self, frame: &[u8]) {
        // SAFETY: frame is valid for its length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(
            n,
            frame.len() as isize,
            "send: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Waits up to 2 s for a frame carrying `marker` (other traffic, like IPv6 router
    /// solicitations, is skipped).
    fn recv_marked(&self, marker: &[u8]) -> Option<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut buf = vec![0u8; 2048];
        while Instant::now() < deadline {
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, 100) };
            if rc <= 0 {
                continue;
            }
            // SAFETY: buf is valid for its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                let frame = &buf[..n as usize];
                if frame.windows(marker.len()).any(|w| w == marker) {
                    return Some(frame.to_vec());
                }
            }
        }
        None
    }
}

/// A 64-byte Ethernet frame with an experimental EtherType and `marker` in its payload.
fn frame(dst: [u8; 6], src: [u8; 6], marker: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&0x88b5u16.to_be_bytes());
    f.extend_from_slice(marker);
    f.resize(64, 0xab);
    f
}

const BROADCAST: [u8; 6] = [0xff; 6];

scc_io::sandbox_test!(
    /// The sandbox gives an ordinary user the capabilities a packet test needs, and `lo` is up.
    fn sandbox_has_privileges_and_loopback() {
        assert!(netns::in_sandbox());
        assert!(
            netns::have_net_admin(),
            "no CAP_NET_ADMIN + CAP_NET_RAW in the sandbox"
        );
        let mut nl = Netlink::open().unwrap();
        let lo = nl.link("lo").unwrap().expect("lo exists");
        assert!(lo.up, "lo is down");
        // A fresh namespace: lo is its only interface.
        let names: Vec<String> = nl.links().unwrap().into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["lo"]);
    }
);

scc_io::sandbox_test!(
    /// A veth pair comes up, a frame sent on one end arrives on the other through AF_PACKET.
    fn veth_pair_up_and_af_packet_frames_cross() {
        let pair = VethPair::create("sccA0", "sccB0").unwrap();
        let mut nl = Netlink::open().unwrap();
        let a = nl.link("sccA0").unwrap().unwrap();
        let b = nl.link("sccB0").unwrap().unwrap();
        assert!(a.up && b.up);
        assert_eq!(a.kind.as_deref(), Some("veth"));
        assert_eq!(b.kind.as_deref(), Some("veth"));
        assert_ne!(a.mac, [0; 6]);
        let tx = RawSock::open(&pair.a);
        let rx = RawSock::open(&pair.b);
        assert_eq!(tx.ifindex as u32, a.index);
        let sent = frame(BROADCAST, a.mac, b"scc-veth-basic");
        tx.send(&sent);
        let got = rx
            .recv_marked(b"scc-veth-basic")
            .expect("frame did not arrive");
        assert_eq!(got, sent);
        drop(pair);
        assert!(nl.link("sccA0").unwrap().is_none());
        assert!(
            nl.link("sccB0").unwrap().is_none(),
            "deleting one end removes both"
        );
    }
);

scc_io::sandbox_test!(
    /// Body of `host_namespaces_untouched`: makes a pair and reports where it ran.
    fn sandbox_child_reports_its_namespace() {
        let _pair = VethPair::create("sccHost0", "sccHost1").unwrap();
        let mine = NetNs::current().unwrap().inode().unwrap();
        if let Ok(host) = std::env::var("SCC_TEST_HOST_NETNS") {
            assert_ne!(
                host.parse::<u64>().unwrap(),
                mine,
                "sandbox ran in the host's namespace"
            );
        }
        // /proc/self/net shows the namespace this process is in: the pair is there.
        let dev = std::fs::read_to_string("/proc/self/net/dev").unwrap();
        assert!(dev.contains("sccHost0"));
        println!("SANDBOX_NETNS={mine}");
    }
);

/// Runs a sandboxed child that creates a veth pair and checks that neither the host's network
/// namespace nor its interfaces changed.
#[test]
fn host_namespaces_untouched() {
    if netns::in_sandbox() {
        return;
    }
    let host = NetNs::current().unwrap().inode().unwrap();
    let host_links = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = host_links();
    let mut cmd = netns::sandbox_command("sandbox_child_reports_its_namespace").unwrap();
    cmd.env("SCC_TEST_HOST_NETNS", host.to_string());
    let out = netns::run_sandbox_command(&mut cmd).unwrap();
    assert!(
        out.passed(),
        "child failed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    let child_ns: u64 = out
        .stdout
        .lines()
        .find_map(|l| l.split_once("SANDBOX_NETNS=").map(|(_, v)| v))
        .expect("child reported its namespace")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap();
    assert_ne!(child_ns, host);
    assert_eq!(NetNs::current().unwrap().inode().unwrap(), host);
    let after = host_links();
    assert!(
        !after.iter().any(|l| l.starts_with("sccHost")),
        "host gained {after:?}"
    );
    // Other processes may change the host's links; ours must not appear or vanish.
    for l in &before {
        assert!(after.contains(l) || !l.starts_with("scc"), "host lost {l}");
    }
}

/// A sandbox body that fails makes the parent fail, quoting the child's output.
#[test]
fn failing_sandbox_body_fails_the_test_with_its_output() {
    if netns::in_sandbox() {
        return;
    }
    let out = netns::run_sandboxed("sandbox_body_that_fails").unwrap();
    assert!(!out.passed());
    let result = std::panic::catch_unwind(|| {
        netns::sandboxed("sandbox_body_that_fails", || {
            unreachable!("parent does not run the body")
        })
    });
    let msg = result.expect_err("sandboxed must panic");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("scc-deliberate-failure-marker"),
        "message lacks child output: {msg}"
    );
}

/// Only meaningful inside the sandbox (run by the test above); outside it passes trivially.
#[test]
fn sandbox_body_that_fails() {
    if std::env::var("SCC_SANDBOX").as_deref() == Ok("sandbox_body_that_fails") {
        println!("scc-deliberate-failure-marker");
        panic!("deliberate failure");
    }
}

/// A wrong test path is caught (the child runs zero tests, which must not count as a pass).
#[test]
fn sandbox_with_unknown_test_path_fails() {
    if netns::in_sandbox() {
        return;
    }
    let out = netns::run_sandboxed("no_such_test_here").unwrap();
    assert!(!out.passed());
}

#[test]
fn test_path_drops_the_crate_segment() {
    assert_eq!(netns::test_path("netns", "f"), "f");
    assert_eq!(netns::test_path("netns::a::b", "f"), "a::b::f");
}

mod nested {
    scc_io::sandbox_test!(
        /// The macro computes nested module paths right.
        fn sandbox_test_in_a_module() {
            assert!(scc_io::netns::in_sandbox());
            assert_eq!(
                std::env::var("SCC_SANDBOX").unwrap(),
                "nested::sandbox_test_in_a_module"
            );
        }
    );
}

#[allow(dead_code)]
fn _uses(_: Ipv4Addr, _: IoError) {}
