//! Interfaces (veth pairs, bridges), their state and addresses, through rtnetlink.
//!
//! Synchronous: one `NETLINK_ROUTE` socket from `netlink-sys`, messages built and parsed with
//! `netlink-packet-route`, no async runtime, no spawning of `ip`. A [`Netlink`] handle acts in
//! the network namespace of the thread that opened it (a netlink socket is bound to the
//! namespace it was created in), so `ns.run(Netlink::open)` gives a handle for another
//! namespace.
//!
//! Build topologies only inside namespaces you created ([`crate::netns::NetNs::new`], the test
//! sandbox): they vanish with their last fd or process, interfaces included. Nothing here
//! refuses to act in the host's namespace: that is the caller's choice (tests run in the
//! sandbox; use IPv4 addresses from 198.18.0.0/15, the benchmarking range).
//!
//! Errors are typed: [`IoError::UnknownInterface`] (`ENODEV`), [`IoError::InterfaceExists`]
//! (`EEXIST`), [`IoError::InvalidInterfaceName`] (checked before asking the kernel),
//! [`IoError::PermissionDenied`] (`EPERM`/`EACCES`) and [`IoError::Netlink`] with the kernel's
//! errno text for anything else.
//!
//! # A chain topology: generator -> NF -> sink, one namespace each
//!
//! ```no_run
//! use scc_io::link::Netlink;
//! use scc_io::netns::{command_in_netns, NetNs};
//! use std::process::Command;
//!
//! # fn main() -> scc_io::Result<()> {
//! let (gen_ns, nf_ns, sink_ns) = (NetNs::new()?, NetNs::new()?, NetNs::new()?);
//! let mut nf = Netlink::open_in(&nf_ns)?;
//! nf.create_veth_peer_in("in0", "gen0", &gen_ns)?; // in0 stays in nf_ns
//! nf.create_veth_peer_in("out0", "sink0", &sink_ns)?;
//! nf.set_up("in0")?;
//! nf.set_up("out0")?;
//! Netlink::open_in(&gen_ns)?.set_up("gen0")?;
//! Netlink::open_in(&sink_ns)?.set_up("sink0")?;
//! let mut cmd = Command::new("scc-nf");
//! command_in_netns(&mut cmd, &nf_ns).args(["--in", "in0", "--out", "out0"]);
//! // cmd.spawn()?; the namespaces (and the veths) vanish when the handles and processes do.
//! # Ok(())
//! # }
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage,
    LinkXdp, XdpAttached,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::error::{IoError, Result};
use crate::netns::NetNs;

/// Largest interface name the kernel accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

const RECV_BUF: usize = 64 * 1024;

/// What the kernel reports about one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface name.
    pub name: String,
    /// Interface index (unique within its namespace).
    pub index: u32,
    /// Hardware address (all zero when the interface has none, like `lo`).
    pub mac: [u8; 6],
    /// MTU in bytes.
    pub mtu: u32,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Kind (`veth`, `bridge`, ...), `None` for devices without one (`lo`).
    pub kind: Option<String>,
    /// Carrier present (`IFF_LOWER_UP`): for a veth, both ends are up.
    pub lower_up: bool,
    /// Operationally up (`IFF_RUNNING`): carrier, and the kernel has activated its queueing
    /// discipline, so frames sent now are not dropped.
    pub running: bool,
    /// Index of the bridge this interface is attached to.
    pub master: Option<u32>,
    /// The XDP program attached to the interface (`IFLA_XDP`): its id and whether it runs
    /// generic (`skb`) or native (`drv`); `None` when none is attached.
    pub xdp: Option<(u32, &'static str)>,
}

/// A handle on the kernel's interface tables of one network namespace (the one of the thread
/// that opened it).
pub struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink")
            .field("fd", &self.socket.as_raw_fd())
            .finish()
    }
}

/// Why a request failed: the kernel's errno, or something local.
enum Failure {
    Errno(i32),
    Local(IoError),
}

impl From<IoError> for Failure {
    fn from(e: IoError) -> Self {
        Failure::Local(e)
    }
}

/// Turns a failure of `op` on interface `name` into a typed error.
fn typed(op: &str, name: &str, f: Failure) -> IoError {
    match f {
        Failure::Local(e) => e,
        Failure::Errno(libc::ENODEV) => IoError::UnknownInterface(name.to_string()),
        Failure::Errno(libc::EEXIST) => IoError::InterfaceExists(name.to_string()),
        Failure::Errno(libc::EPERM) | Failure::Errno(libc::EACCES) => IoError::PermissionDenied {
            what: format!("{op} `{name}` (needs CAP_NET_ADMIN)"),
        },
        Failure::Errno(e) => IoError::Netlink(format!(
            "{op} `{name}`: {}",
            std::io::Error::from_raw_os_error(e)
        )),
    }
}

/// Checks a name the way the kernel's `dev_valid_name` does.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_IFNAME_LEN
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace());
    if ok {
        Ok(())
    } else {
        Err(IoError::InvalidInterfaceName(name.to_string()))
    }
}

impl Netlink {
    /// Opens a route netlink socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let mut socket =
            Socket::new(NETLINK_ROUTE).map_err(|e| IoError::from_io("socket(NETLINK_ROUTE)", e))?;
        socket
            .bind_auto()
            .map_err(|e| IoError::from_io("bind netlink", e))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| IoError::from_io("connect netlink", e))?;
        // Extended acks are a nicety; ignore kernels without them.
        let _ = socket.set_ext_ack(true);
        Ok(Netlink {
            socket,
            seq: 0,
            buf: vec![0; RECV_BUF],
        })
    }

    /// Opens a handle acting in `ns` (the socket is created by a thread inside it).
    pub fn open_in(ns: &NetNs) -> Result<Netlink> {
        ns.run(Netlink::open)?
    }

    /// Sends one request and collects the replies until the ACK (or `NLMSG_DONE` for dumps).
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> std::result::Result<Vec<RouteNetlinkMessage>, Failure> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        loop {
            match self.socket.send(&out, 0) {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(IoError::from_io("send netlink", e).into()),
            }
        }
        let mut replies = Vec::new();
        loop {
            let n = loop {
                match self.socket.recv(&mut &mut self.buf[..], 0) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(IoError::from_io("recv netlink", e).into()),
                }
            };
            if n > self.buf.len() {
                return Err(IoError::Netlink(format!("reply of {n} bytes truncated")).into());
            }
            let mut off = 0;
            while off < n {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[off..n])
                    .map_err(|e| IoError::Netlink(format!("cannot decode reply: {e}")))?;
                let len = msg.header.length as usize;
                if len == 0 {
                    break;
                }
                off += len.div_ceil(4) * 4;
                if msg.header.sequence_number != seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(code) => Err(Failure::Errno(-code.get())),
                        };
                    }
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
            }
        }
    }

    /// A change request (create, set, delete) that expects only an ACK.
    fn change(&mut self, msg: RouteNetlinkMessage, flags: u16) -> std::result::Result<(), Failure> {
        self.request(msg, flags | NLM_F_ACK).map(drop)
    }

    /// The index of `ifname`, or [`IoError::UnknownInterface`].
    pub fn index(&mut self, ifname: &str) -> Result<u32> {
        match self.link(ifname)? {
            Some(l) => Ok(l.index),
            None => Err(IoError::UnknownInterface(ifname.to_string())),
        }
    }

    /// Creates a veth pair `a` <-> `b` in this handle's namespace (both ends down).
    pub fn create_veth(&mut self, a: &str, b: &str) -> Result<()> {
        self.new_veth(a, b, None)
    }

    /// Creates a veth pair whose end `a` is in this handle's namespace and `b` in `b_ns`.
    pub fn create_veth_peer_in(&mut self, a: &str, b: &str, b_ns: &NetNs) -> Result<()> {
        self.new_veth(a, b, Some(b_ns))
    }

    fn new_veth(&mut self, a: &str, b: &str, b_ns: Option<&NetNs>) -> Result<()> {
        check_name(a)?;
        check_name(b)?;
        let mut peer = LinkMessage::default();
        peer.attributes.push(LinkAttribute::IfName(b.to_string()));
        if let Some(ns) = b_ns {
            peer.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(a.to_string()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            NlLinkInfo::Kind(InfoKind::Veth),
            NlLinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.change(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map_err(|f| typed("create veth", &format!("{a}/{b}"), f))
            .map_err(|e| match e {
                // EEXIST does not say which end: report both names.
                IoError::InterfaceExists(_) => IoError::InterfaceExists(format!("{a} or {b}")),
                e => e,
            })
    }

    /// Creates a bridge `name` (down; STP off, so ports forward at once).
    pub fn create_bridge(&mut self, name: &str) -> Result<()> {
        check_name(name)?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![NlLinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.change(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map_err(|f| typed("create bridge", name, f))
    }

    /// Sends a `RTM_SETLINK` for `ifname` with `edit` applied to the message.
    fn set(&mut self, op: &str, ifname: &str, edit: impl FnOnce(&mut LinkMessage)) -> Result<()> {
        let index = self.index(ifname)?;
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        edit(&mut msg);
        self.change(RouteNetlinkMessage::SetLink(msg), 0)
            .map_err(|f| typed(op, ifname, f))
    }

    /// Moves `ifname` into `ns` (it disappears from this namespace).
    pub fn move_to_netns(&mut self, ifname: &str, ns: &NetNs) -> Result<()> {
        let fd = ns.as_raw_fd();
        self.set("move to namespace", ifname, |m| {
            m.attributes.push(LinkAttribute::NetNsFd(fd))
        })
    }

    /// Brings `ifname` up.
    pub fn set_up(&mut self, ifname: &str) -> Result<()> {
        self.set("set up", ifname, |m| {
            m.header.flags = LinkFlags::Up;
            m.header.change_mask = LinkFlags::Up;
        })
    }

    /// Brings `ifname` down.
    pub fn set_down(&mut self, ifname: &str) -> Result<()> {
        self.set("set down", ifname, |m| {
            m.header.flags = LinkFlags::empty();
            m.header.change_mask = LinkFlags::Up;
        })
    }

    /// Sets the MTU of `ifname`.
    pub fn set_mtu(&mut self, ifname: &str, mtu: u32) -> Result<()> {
        self.set("set mtu", ifname, |m| {
            m.attributes.push(LinkAttribute::Mtu(mtu))
        })
    }

    /// Sets the hardware address of `ifname`.
    pub fn set_mac(&mut self, ifname: &str, mac: [u8; 6]) -> Result<()> {
        self.set("set mac", ifname, |m| {
            m.attributes.push(LinkAttribute::Address(mac.to_vec()))
        })
    }

    /// Attaches `ifname` to the bridge `bridge`.
    pub fn set_master(&mut self, ifname: &str, bridge: &str) -> Result<()> {
        let master = self.index(bridge)?;
        self.set("attach to bridge", ifname, |m| {
            m.attributes.push(LinkAttribute::Controller(master))
        })
    }

    /// Detaches `ifname` from its bridge.
    pub fn clear_master(&mut self, ifname: &str) -> Result<()> {
        self.set("detach from bridge", ifname, |m| {
            m.attributes.push(LinkAttribute::Controller(0))
        })
    }

    /// Adds the IPv4 address `addr/prefix_len` to `ifname` (use 198.18.0.0/15 in tests).
    pub fn add_ipv4(&mut self, ifname: &str, addr: Ipv4Addr, prefix_len: u8) -> Result<()> {
        if prefix_len > 32 {
            return Err(IoError::Netlink(format!(
                "bad IPv4 prefix length {prefix_len} (0..=32)"
            )));
        }
        let index = self.index(ifname)?;
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix_len;
        msg.header.index = index;
        msg.attributes
            .push(AddressAttribute::Local(IpAddr::V4(addr)));
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(addr)));
        if prefix_len < 31 {
            let host_mask = u32::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
            let bcast = Ipv4Addr::from(u32::from(addr) | host_mask);
            msg.attributes.push(AddressAttribute::Broadcast(bcast));
        }
        self.change(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map_err(|f| match f {
            Failure::Errno(libc::EEXIST) => IoError::Netlink(format!(
                "add address {addr}/{prefix_len} to `{ifname}`: already assigned"
            )),
            f => typed("add address", ifname, f),
        })
    }

    /// The IPv4 addresses (with prefix lengths) of `ifname`.
    pub fn ipv4_addrs(&mut self, ifname: &str) -> Result<Vec<(Ipv4Addr, u8)>> {
        let index = self.index(ifname)?;
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let replies = self
            .request(RouteNetlinkMessage::GetAddress(msg), NLM_F_DUMP)
            .map_err(|f| typed("list addresses", ifname, f))?;
        let mut out = Vec::new();
        for reply in replies {
            let RouteNetlinkMessage::NewAddress(a) = reply else {
                continue;
            };
            if a.header.index != index {
                continue;
            }
            let local = a.attributes.iter().find_map(|attr| match attr {
                AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            let address = a.attributes.iter().find_map(|attr| match attr {
                AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            if let Some(ip) = local.or(address) {
                out.push((ip, a.header.prefix_len));
            }
        }
        Ok(out)
    }

    /// Adds the IPv4 route `dst/prefix_len via gateway dev ifname onlink` to the main table
    /// (the gateway needs no address of ours on that link: with a permanent neighbour entry,
    /// see [`Netlink::add_neighbour_v4`], it is a static next hop).
    pub fn add_route_v4(
        &mut self,
        dst: Ipv4Addr,
        prefix_len: u8,
        gateway: Ipv4Addr,
        ifname: &str,
    ) -> Result<()> {
        if prefix_len > 32 {
            return Err(IoError::Netlink(format!(
                "bad IPv4 prefix length {prefix_len} (0..=32)"
            )));
        }
        let index = self.index(ifname)?;
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.destination_prefix_length = prefix_len;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Static;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.header.flags = RouteFlags::Onlink;
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        msg.attributes.push(RouteAttribute::Oif(index));
        self.change(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map_err(|f| {
            typed(
                &format!("add route {dst}/{prefix_len} via {gateway}"),
                ifname,
                f,
            )
        })
    }

    /// Adds a permanent IPv4 neighbour entry (`ip neigh add IP lladdr MAC dev IF nud
    /// permanent`): the kernel then never sends ARP for `ip`.
    pub fn add_neighbour_v4(&mut self, ifname: &str, ip: Ipv4Addr, mac: [u8; 6]) -> Result<()> {
        let index = self.index(ifname)?;
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.ifindex = index;
        msg.header.state = NeighbourState::Permanent;
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        self.change(
            RouteNetlinkMessage::NewNeighbour(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map_err(|f| typed(&format!("add neighbour {ip}"), ifname, f))
    }

    /// Deletes `ifname` (for a veth, both ends go).
    pub fn delete(&mut self, ifname: &str) -> Result<()> {
        let index = self.index(ifname)?;
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.change(RouteNetlinkMessage::DelLink(msg), 0)
            .map_err(|f| typed("delete", ifname, f))
    }

    /// What the kernel reports about `ifname`; `None` when there is no such interface here.
    pub fn link(&mut self, ifname: &str) -> Result<Option<LinkInfo>> {
        check_name(ifname)?;
        let mut msg = LinkMessage::default();
        msg.attributes
            .push(LinkAttribute::IfName(ifname.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), NLM_F_ACK) {
            Ok(replies) => Ok(replies.into_iter().find_map(parse_link)),
            Err(Failure::Errno(libc::ENODEV)) => Ok(None),
            Err(f) => Err(typed("get link", ifname, f)),
        }
    }

    /// All interfaces of this handle's namespace.
    pub fn links(&mut self) -> Result<Vec<LinkInfo>> {
        let replies = self
            .request(
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                NLM_F_DUMP,
            )
            .map_err(|f| typed("list links", "*", f))?;
        Ok(replies.into_iter().filter_map(parse_link).collect())
    }
}

fn parse_link(msg: RouteNetlinkMessage) -> Option<LinkInfo> {
    let RouteNetlinkMessage::NewLink(m) = msg else {
        return None;
    };
    let mut info = LinkInfo {
        name: String::new(),
        index: m.header.index,
        mac: [0; 6],
        mtu: 0,
        up: m.header.flags.contains(LinkFlags::Up),
        kind: None,
        lower_up: m.header.flags.contains(LinkFlags::LowerUp),
        running: m.header.flags.contains(LinkFlags::Running),
        master: None,
        xdp: None,
    };
    for attr in m.attributes {
        match attr {
            LinkAttribute::IfName(n) => info.name = n,
            LinkAttribute::Address(a) if a.len() == 6 => info.mac.copy_from_slice(&a),
            LinkAttribute::Mtu(mtu) => info.mtu = mtu,
            LinkAttribute::Controller(i) if i != 0 => info.master = Some(i),
            LinkAttribute::Xdp(xdp) => info.xdp = parse_xdp(&xdp),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let NlLinkInfo::Kind(k) = i {
                        info.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    Some(info)
}

/// The attached XDP program of an `IFLA_XDP` attribute, if any: (id, mode).
fn parse_xdp(nlas: &[LinkXdp]) -> Option<(u32, &'static str)> {
    let mode = nlas.iter().find_map(|n| match n {
        LinkXdp::Attached(XdpAttached::None) => Some(None),
        LinkXdp::Attached(XdpAttached::Driver) => Some(Some("drv")),
        LinkXdp::Attached(XdpAttached::SocketBuffer) => Some(Some("skb")),
        LinkXdp::Attached(XdpAttached::Hardware) => Some(Some("hw")),
        LinkXdp::Attached(XdpAttached::Multiple) => Some(Some("multi")),
        LinkXdp::Attached(XdpAttached::Other(_)) => Some(Some("other")),
        _ => None,
    })??;
    let id = nlas
        .iter()
        .find_map(|n| match n {
            LinkXdp::ProgId(id) => Some(*id),
            _ => None,
        })
        .unwrap_or(0);
    Some((id, mode))
}

/// A veth pair in the namespace where it was created, deleted on drop (best effort; deleting one
/// end removes both). Both ends are up.
#[derive(Debug)]
pub struct VethPair {
    /// First end.
    pub a: String,
    /// Second end.
    pub b: String,
    nl: Netlink,
}

impl VethPair {
    /// Creates `a` <-> `b` in the calling thread's namespace and sets both ends up.
    pub fn create(a: &str, b: &str) -> Result<VethPair> {
        let mut nl = Netlink::open()?;
        nl.create_veth(a, b)?;
        // From here on, an error drops the pair, which deletes it.
        let mut pair = VethPair {
            a: a.to_string(),
            b: b.to_string(),
            nl,
        };
        pair.nl.set_up(a)?;
        pair.nl.set_up(b)?;
        Ok(pair)
    }

    /// Creates `a` <-> `b` inside `ns` (both up); dropping the pair deletes it there.
    pub fn create_in(ns: &NetNs, a: &str, b: &str) -> Result<VethPair> {
        ns.run(|| VethPair::create(a, b))?
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        // Already gone (deleted by hand, moved, or its namespace died) is fine.
        let _ = self.nl.delete(&self.a);
    }
}

/// Turns segmentation offloads (TSO, GSO) and TX checksum offload of `ifname`, in the calling
/// thread's network namespace, on or off (what `ethtool -K IF tso off gso off tx off` does).
/// A host whose packets cross a user-space NF on AF_PACKET sockets needs them off: with them
/// on, its kernel hands the NF TCP super-frames of up to 64 KiB with unfinished checksums.
/// Uses the ethtool ioctl.
pub fn set_offloads(ifname: &str, on: bool) -> Result<()> {
    crate::sys::set_offloads(ifname, on)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_like_the_kernel() {
        for good in ["a", "veth0", "fifteen-chars-x", "br-0.1_x"] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "a\tb",
            "a\0b",
            "sixteen-chars-xx",
        ] {
            assert!(
                matches!(check_name(bad), Err(IoError::InvalidInterfaceName(ref n)) if n == bad),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn kernel_errnos_become_typed_errors() {
        assert!(
            matches!(typed("op", "x", Failure::Errno(libc::ENODEV)), IoError::UnknownInterface(n) if n == "x")
        );
        assert!(
            matches!(typed("op", "x", Failure::Errno(libc::EEXIST)), IoError::InterfaceExists(n) if n == "x")
        );
        assert!(matches!(
            typed("op", "x", Failure::Errno(libc::EPERM)),
            IoError::PermissionDenied { .. }
        ));
        match typed("set mtu", "x", Failure::Errno(libc::EINVAL)) {
            IoError::Netlink(m) => assert!(
                m.contains("set mtu `x`") && m.contains("Invalid argument"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn replies_parse_into_link_info() {
        let mut m = LinkMessage::default();
        m.header.index = 7;
        m.header.flags = LinkFlags::Up | LinkFlags::LowerUp | LinkFlags::Running;
        m.attributes = vec![
            LinkAttribute::IfName("v0".into()),
            LinkAttribute::Address(vec![2, 0, 0, 0, 0, 9]),
            LinkAttribute::Mtu(1500),
            LinkAttribute::Controller(3),
            LinkAttribute::LinkInfo(vec![NlLinkInfo::Kind(InfoKind::Veth)]),
        ];
        let info = parse_link(RouteNetlinkMessage::NewLink(m)).unwrap();
        assert_eq!(
            info,
            LinkInfo {
                name: "v0".into(),
                index: 7,
                mac: [2, 0, 0, 0, 0, 9],
                mtu: 1500,
                up: true,
                kind: Some("veth".into()),
                lower_up: true,
                running: true,
                master: Some(3),
                xdp: None,
            }
        );
        assert!(parse_link(RouteNetlinkMessage::DelLink(LinkMessage::default())).is_none());
    }
}
