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
        let mut buf = vec![0u8; 65536];
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

scc_io::sandbox_test!(
    /// `NetNs::new` makes a distinct namespace with only `lo` (up) and leaves the caller's alone;
    /// `enter` switches the thread and its guard switches back; `run` returns f's value.
    fn netns_new_enter_run() {
        let home = NetNs::current().unwrap().inode().unwrap();
        let ns = NetNs::new().unwrap();
        let id = ns.inode().unwrap();
        assert_ne!(id, home);
        assert_eq!(NetNs::current().unwrap().inode().unwrap(), home);
        let links = Netlink::open_in(&ns).unwrap().links().unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].name, "lo");
        assert!(links[0].up);
        {
            let _guard = ns.enter().unwrap();
            assert_eq!(NetNs::current().unwrap().inode().unwrap(), id);
            // A handle opened here acts here: a pair made through it is not at home.
            let mut nl = Netlink::open().unwrap();
            nl.create_veth("ent0", "ent1").unwrap();
        }
        assert_eq!(NetNs::current().unwrap().inode().unwrap(), home);
        assert!(Netlink::open().unwrap().link("ent0").unwrap().is_none());
        let seen = ns
            .run(|| NetNs::current().unwrap().inode().unwrap())
            .unwrap();
        assert_eq!(seen, id);
        assert!(
            ns.run(|| Netlink::open().unwrap().link("ent1").unwrap().is_some())
                .unwrap()
        );
        assert_eq!(ns.try_clone().unwrap().inode().unwrap(), id);
        // A panic inside `run` reaches the caller.
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ns.run(|| panic!("inside"))));
        assert!(r.is_err());
    }
);

scc_io::sandbox_test!(
    /// A veth pair with its ends in two fresh namespaces: a frame sent by an AF_PACKET socket in A
    /// arrives at one in B.
    fn frames_cross_between_namespaces() {
        let ns_a = NetNs::new().unwrap();
        let ns_b = NetNs::new().unwrap();
        let mut nl_a = Netlink::open_in(&ns_a).unwrap();
        let mut nl_b = Netlink::open_in(&ns_b).unwrap();
        nl_a.create_veth_peer_in("xa0", "xb0", &ns_b).unwrap();
        assert!(nl_a.link("xb0").unwrap().is_none(), "peer stayed in A");
        assert!(nl_b.link("xa0").unwrap().is_none());
        assert!(
            Netlink::open().unwrap().link("xa0").unwrap().is_none(),
            "leaked into the sandbox"
        );
        nl_a.set_up("xa0").unwrap();
        nl_b.set_up("xb0").unwrap();
        let a = nl_a.link("xa0").unwrap().unwrap();
        let b = nl_b.link("xb0").unwrap().unwrap();
        assert!(a.up && b.up);
        let tx = ns_a.run(|| RawSock::open("xa0")).unwrap();
        let rx = ns_b.run(|| RawSock::open("xb0")).unwrap();
        let sent = frame(b.mac, a.mac, b"scc-across-namespaces");
        tx.send(&sent);
        assert_eq!(
            rx.recv_marked(b"scc-across-namespaces")
                .expect("no frame in B"),
            sent
        );
    }
);

scc_io::sandbox_test!(
    /// `move_to_netns` moves an end, which keeps working from its new namespace.
    fn move_to_netns_moves_an_end() {
        let ns = NetNs::new().unwrap();
        let mut nl = Netlink::open().unwrap();
        nl.create_veth("mv0", "mv1").unwrap();
        nl.move_to_netns("mv1", &ns).unwrap();
        assert!(nl.link("mv1").unwrap().is_none());
        let mut there = Netlink::open_in(&ns).unwrap();
        let moved = there.link("mv1").unwrap().expect("mv1 arrived");
        assert_eq!(moved.kind.as_deref(), Some("veth"));
        nl.set_up("mv0").unwrap();
        there.set_up("mv1").unwrap();
        let tx = RawSock::open("mv0");
        let rx = ns.run(|| RawSock::open("mv1")).unwrap();
        tx.send(&frame(BROADCAST, [2, 0, 0, 0, 0, 1], b"scc-moved"));
        assert!(rx.recv_marked(b"scc-moved").is_some());
    }
);

scc_io::sandbox_test!(
    /// A bridge with two veths attached forwards a frame from one to the other.
    fn bridge_forwards_between_two_veths() {
        let mut nl = Netlink::open().unwrap();
        nl.create_bridge("sccbr0").unwrap();
        let p1 = VethPair::create("h1", "s1").unwrap();
        let p2 = VethPair::create("h2", "s2").unwrap();
        nl.set_master("s1", "sccbr0").unwrap();
        nl.set_master("s2", "sccbr0").unwrap();
        nl.set_up("sccbr0").unwrap();
        let br = nl.link("sccbr0").unwrap().unwrap();
        assert_eq!(br.kind.as_deref(), Some("bridge"));
        assert!(br.up);
        assert_eq!(nl.link("s1").unwrap().unwrap().master, Some(br.index));
        assert_eq!(nl.link("s2").unwrap().unwrap().master, Some(br.index));
        assert_eq!(nl.link("h1").unwrap().unwrap().master, None);
        let tx = RawSock::open(&p1.a);
        let rx = RawSock::open(&p2.a);
        let src = nl.link("h1").unwrap().unwrap().mac;
        let sent = frame(BROADCAST, src, b"scc-through-bridge");
        tx.send(&sent);
        assert_eq!(
            rx.recv_marked(b"scc-through-bridge")
                .expect("bridge did not forward"),
            sent
        );
        // Detached, the port no longer forwards.
        nl.clear_master("s2").unwrap();
        assert_eq!(nl.link("s2").unwrap().unwrap().master, None);
        tx.send(&frame(BROADCAST, src, b"scc-after-detach"));
        assert!(rx.recv_marked(b"scc-after-detach").is_none());
        nl.delete("sccbr0").unwrap();
        assert!(nl.link("sccbr0").unwrap().is_none());
    }
);

scc_io::sandbox_test!(
    /// MTU, MAC, up/down and IPv4 addresses read back as set.
    fn mtu_mac_state_and_address_read_back() {
        let pair = VethPair::create("cfg0", "cfg1").unwrap();
        let mut nl = Netlink::open().unwrap();
        nl.set_mtu(&pair.a, 9000).unwrap();
        assert_eq!(nl.link("cfg0").unwrap().unwrap().mtu, 9000);
        let mac = [0x02, 0x53, 0x43, 0x43, 0x00, 0x01];
        nl.set_mac(&pair.a, mac).unwrap();
        assert_eq!(nl.link("cfg0").unwrap().unwrap().mac, mac);
        let a = nl.link("cfg0").unwrap().unwrap();
        assert!(a.up && a.lower_up, "both ends up: carrier on");
        nl.set_down(&pair.b).unwrap();
        assert!(!nl.link("cfg1").unwrap().unwrap().up);
        assert!(
            !nl.link("cfg0").unwrap().unwrap().lower_up,
            "peer down: no carrier"
        );
        nl.set_up(&pair.b).unwrap();
        assert!(nl.link("cfg1").unwrap().unwrap().up);
        assert!(nl.ipv4_addrs("cfg0").unwrap().is_empty());
        nl.add_ipv4("cfg0", Ipv4Addr::new(198, 18, 0, 1), 24)
            .unwrap();
        nl.add_ipv4("cfg0", Ipv4Addr::new(198, 19, 255, 254), 31)
            .unwrap();
        let mut addrs = nl.ipv4_addrs("cfg0").unwrap();
        addrs.sort();
        assert_eq!(
            addrs,
            [
                (Ipv4Addr::new(198, 18, 0, 1), 24),
                (Ipv4Addr::new(198, 19, 255, 254), 31)
            ]
        );
        assert!(nl.ipv4_addrs("cfg1").unwrap().is_empty());
        let dup = nl
            .add_ipv4("cfg0", Ipv4Addr::new(198, 18, 0, 1), 24)
            .unwrap_err();
        assert!(
            matches!(dup, IoError::Netlink(ref m) if m.contains("already assigned")),
            "{dup}"
        );
        let all: Vec<String> = nl.links().unwrap().into_iter().map(|l| l.name).collect();
        for name in ["lo", "cfg0", "cfg1"] {
            assert!(all.iter().any(|n| n == name), "{name} missing from {all:?}");
        }
    }
);

scc_io::sandbox_test!(
    /// Deleting one end removes both; deleting again is a typed error.
    fn delete_removes_both_ends() {
        let mut nl = Netlink::open().unwrap();
        nl.create_veth("del0", "del1").unwrap();
        assert!(nl.link("del1").unwrap().is_some());
        nl.delete("del1").unwrap();
        assert!(nl.link("del0").unwrap().is_none());
        assert!(nl.link("del1").unwrap().is_none());
        assert!(matches!(nl.delete("del0"), Err(IoError::UnknownInterface(n)) if n == "del0"));
    }
);

scc_io::sandbox_test!(
    /// Unknown interfaces, duplicates, bad names and refused values give typed errors.
    fn errors_are_typed() {
        let mut nl = Netlink::open().unwrap();
        let unknown = |r: scc_io::Result<()>, name: &str| match r {
            Err(IoError::UnknownInterface(n)) => assert_eq!(n, name),
            other => panic!("expected UnknownInterface({name}), got {other:?}"),
        };
        unknown(nl.set_up("nosuch0"), "nosuch0");
        unknown(nl.set_down("nosuch0"), "nosuch0");
        unknown(nl.set_mtu("nosuch0", 1500), "nosuch0");
        unknown(nl.set_mac("nosuch0", [2, 0, 0, 0, 0, 1]), "nosuch0");
        unknown(
            nl.add_ipv4("nosuch0", Ipv4Addr::new(198, 18, 0, 1), 24),
            "nosuch0",
        );
        unknown(nl.delete("nosuch0"), "nosuch0");
        assert!(matches!(
            nl.index("nosuch0"),
            Err(IoError::UnknownInterface(_))
        ));
        assert!(nl.link("nosuch0").unwrap().is_none());
        nl.create_veth("err0", "err1").unwrap();
        unknown(nl.set_master("err0", "nobridge"), "nobridge");
        let ns = NetNs::new().unwrap();
        unknown(nl.move_to_netns("nosuch0", &ns), "nosuch0");
        assert!(matches!(
            nl.create_veth("err0", "err2"),
            Err(IoError::InterfaceExists(_))
        ));
        assert!(matches!(
            nl.create_veth("err3", "err1"),
            Err(IoError::InterfaceExists(_))
        ));
        assert!(
            matches!(nl.create_bridge("err0"), Err(IoError::InterfaceExists(n)) if n == "err0")
        );
        for bad in ["", "a/b", "a:b", "a b", ".", "sixteen-chars-xx"] {
            assert!(
                matches!(nl.create_veth(bad, "ok0"), Err(IoError::InvalidInterfaceName(ref n)) if n == bad),
                "{bad:?}"
            );
            assert!(
                matches!(nl.link(bad), Err(IoError::InvalidInterfaceName(_))),
                "{bad:?}"
            );
        }
        // The kernel refuses an MTU below the minimum: its errno text comes back.
        let e = nl.set_mtu("err0", 10).unwrap_err();
        assert!(
            matches!(e, IoError::Netlink(ref m) if m.contains("err0")),
            "{e}"
        );
        assert!(
            nl.add_ipv4("err0", Ipv4Addr::new(198, 18, 0, 1), 33)
                .is_err()
        );
        // Nothing half-made was left behind.
        assert!(nl.link("ok0").unwrap().is_none());
        assert!(nl.link("err2").unwrap().is_none());
    }
);

scc_io::sandbox_test!(
    /// A `VethPair` is deleted when the code holding it panics.
    fn veth_pair_removed_when_the_body_panics() {
        let r = std::panic::catch_unwind(|| {
            let pair = VethPair::create("pan0", "pan1").unwrap();
            assert!(Netlink::open().unwrap().link(&pair.a).unwrap().is_some());
            panic!("deliberate panic while holding a veth pair");
        });
        assert!(r.is_err());
        let mut nl = Netlink::open().unwrap();
        assert!(nl.link("pan0").unwrap().is_none());
        assert!(nl.link("pan1").unwrap().is_none());
    }
);

scc_io::sandbox_test!(
    /// A pair made in another namespace is deleted there on drop, whatever thread drops it.
    fn veth_pair_in_other_namespace_deleted_there() {
        let ns = NetNs::new().unwrap();
        let pair = VethPair::create_in(&ns, "oth0", "oth1").unwrap();
        let mut there = Netlink::open_in(&ns).unwrap();
        assert!(there.link("oth0").unwrap().unwrap().up);
        assert!(Netlink::open().unwrap().link("oth0").unwrap().is_none());
        drop(pair);
        assert!(there.link("oth0").unwrap().is_none());
    }
);

scc_io::sandbox_test!(
    /// `command_in_netns` starts a program inside a given namespace.
    fn command_in_netns_joins_the_namespace() {
        let ns = NetNs::new().unwrap();
        let mut cmd = std::process::Command::new("readlink");
        cmd.arg("/proc/self/ns/net");
        netns::command_in_netns(&mut cmd, &ns);
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.trim(), format!("net:[{}]", ns.inode().unwrap()));
        // The handle may be dropped before spawning: the command keeps its own copy.
        let mut cmd = std::process::Command::new("readlink");
        cmd.arg("/proc/self/ns/net");
        {
            let tmp = NetNs::new().unwrap();
            netns::command_in_netns(&mut cmd, &tmp);
        }
        assert!(cmd.output().unwrap().status.success());
    }
);

/// `command_in_new_user_netns` gives any program (not only tests) a private namespace where it
/// is uid 0 with `lo` up, from an ordinary test (a multi-threaded process).
#[test]
fn command_in_new_user_netns_maps_root_and_isolates() {
    let host = NetNs::current().unwrap().inode().unwrap();
    let mut cmd = std::process::Command::new("sh");
    cmd.args([
        "-c",
        "readlink /proc/self/ns/net; id -u; cat /proc/self/uid_map; cat /proc/net/dev",
    ]);
    netns::command_in_new_user_netns(&mut cmd);
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines();
    assert_ne!(lines.next().unwrap(), format!("net:[{host}]"));
    assert_eq!(lines.next().unwrap(), "0");
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let map: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(map, ["0", &uid.to_string(), "1"]);
    let devs: Vec<&str> = lines
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(devs, ["lo"]);
}

/// Outside the sandbox, `NetNs::new` works for root (the namespace is anonymous and vanishes)
/// and is a typed permission error for an ordinary user.
#[test]
fn netns_new_outside_the_sandbox() {
    if netns::in_sandbox() {
        return;
    }
    match NetNs::new() {
        Ok(ns) => {
            assert!(netns::have_sys_admin());
            assert_ne!(
                ns.inode().unwrap(),
                NetNs::current().unwrap().inode().unwrap()
            );
        }
        Err(e) => {
            assert!(!netns::have_sys_admin());
            assert!(matches!(e, IoError::PermissionDenied { .. }), "{e}");
        }
    }
}

scc_io::sandbox_test!(
    #[ignore = "run inside the sandbox by sandbox_runs_ignored_tests"]
    fn ignored_sandbox_body() {
        assert!(netns::have_net_admin());
    }
);

/// A sandboxed child runs its test even when it is `#[ignore]`d (the parent chose to run it).
#[test]
fn sandbox_runs_ignored_tests() {
    if netns::in_sandbox() {
        return;
    }
    let out = netns::run_sandboxed("ignored_sandbox_body").unwrap();
    assert!(out.passed(), "{}{}", out.stdout, out.stderr);
}

scc_io::sandbox_test!(
    /// The module docs' chain topology (generator -> NF -> sink, one namespace each) carries a
    /// frame over both hops, and a 9000-byte jumbo frame crosses once the MTU allows it.
    fn chain_topology_and_jumbo_frames() {
        let (gen_ns, nf_ns, sink_ns) = (
            NetNs::new().unwrap(),
            NetNs::new().unwrap(),
            NetNs::new().unwrap(),
        );
        let mut nf = Netlink::open_in(&nf_ns).unwrap();
        nf.create_veth_peer_in("in0", "gen0", &gen_ns).unwrap();
        nf.create_veth_peer_in("out0", "sink0", &sink_ns).unwrap();
        let mut gen_nl = Netlink::open_in(&gen_ns).unwrap();
        let mut sink_nl = Netlink::open_in(&sink_ns).unwrap();
        for name in ["in0", "out0"] {
            nf.set_mtu(name, 9000).unwrap();
            nf.set_up(name).unwrap();
        }
        gen_nl.set_mtu("gen0", 9000).unwrap();
        gen_nl.set_up("gen0").unwrap();
        sink_nl.set_mtu("sink0", 9000).unwrap();
        sink_nl.set_up("sink0").unwrap();
        let gen_tx = gen_ns.run(|| RawSock::open("gen0")).unwrap();
        let nf_rx = nf_ns.run(|| RawSock::open("in0")).unwrap();
        let nf_tx = nf_ns.run(|| RawSock::open("out0")).unwrap();
        let sink_rx = sink_ns.run(|| RawSock::open("sink0")).unwrap();
        let mut jumbo = frame(BROADCAST, [2, 0, 0, 0, 0, 1], b"scc-jumbo-hop");
        jumbo.resize(9014, 0x5a);
        gen_tx.send(&jumbo);
        let got = nf_rx.recv_marked(b"scc-jumbo-hop").expect("hop 1");
        assert_eq!(got, jumbo);
        nf_tx.send(&got);
        assert_eq!(sink_rx.recv_marked(b"scc-jumbo-hop").expect("hop 2"), jumbo);
    }
);

scc_io::sandbox_test!(
    /// A dump larger than one netlink read (many interfaces) is read completely.
    fn links_dump_spanning_several_reads() {
        let mut nl = Netlink::open().unwrap();
        for i in 0..60 {
            nl.create_veth(&format!("many{i}a"), &format!("many{i}b"))
                .unwrap();
        }
        let links = nl.links().unwrap();
        assert_eq!(links.len(), 121, "lo + 60 pairs");
        for i in 0..60 {
            for end in ["a", "b"] {
                let name = format!("many{i}{end}");
                let l = links
                    .iter()
                    .find(|l| l.name == name)
                    .unwrap_or_else(|| panic!("{name} missing"));
                assert_eq!(l.kind.as_deref(), Some("veth"));
            }
        }
        let mut indices: Vec<u32> = links.iter().map(|l| l.index).collect();
        indices.sort();
        indices.dedup();
        assert_eq!(indices.len(), 121);
    }
);
