//! The chain's network: namespaces, bridges, veth pairs and the userspace switch, created in
//! the plan's order (each completed step recorded for the teardown).

use std::time::{Duration, Instant};

use scc_io::link::Netlink;
use scc_io::netns::NetNs;

use super::{DeployError, Deployment, io_err, ns_at};
use crate::plan::Step;

impl Deployment {
    /// Creates namespaces, bridges and links (everything but the NFs), announcing the
    /// interfaces' MACs to the bridge so it never floods.
    pub fn create_network(&mut self) -> Result<(), DeployError> {
        let steps = self.plan.steps();
        let Self {
            plan,
            ns: nss,
            done,
            log,
            ovs,
            ..
        } = self;
        for step in steps {
            match step {
                Step::CreateNs(i) => {
                    let ns = NetNs::new().map_err(io_err(format!(
                        "creating namespace `{}`",
                        plan.namespaces[i].label()
                    )))?;
                    // No IGMP reports for link-local groups (a bridge joins 224.0.0.106 and
                    // would flood reports into every NF): only the generator's frames flow.
                    let _ = ns.run(|| {
                        std::fs::write("/proc/sys/net/ipv4/igmp_link_local_mcast_reports", b"0")
                    });
                    if let Ok(ino) = ns.inode() {
                        (log)(&format!("netns {} net:[{ino}]", plan.namespaces[i].label()));
                    }
                    nss[i] = Some(ns);
                }
                Step::CreateBridge(i) => {
                    let b = plan.bridges[i].clone();
                    let ns = ns_at(nss, b.ns)?;
                    let mut nl = Netlink::open_in(ns).map_err(io_err("netlink"))?;
                    nl.create_bridge(&b.name)
                        .map_err(io_err(format!("creating bridge `{}`", b.name)))?;
                    done.push(step);
                    let _ = ns.run(|| disable_ipv6(&b.name));
                    nl.set_up(&b.name)
                        .map_err(io_err(format!("bringing `{}` up", b.name)))?;
                    (log)(&format!("bridge {}", b.name));
                    continue;
                }
                Step::CreateVeth(i) => {
                    let v = plan.veths[i].clone();
                    let a_ns = ns_at(nss, v.a.ns)?;
                    let b_ns = ns_at(nss, v.b.ns)?;
                    let mut nla = Netlink::open_in(a_ns).map_err(io_err("netlink"))?;
                    let what = format!("creating veth `{}` <-> `{}`", v.a.name, v.b.name);
                    if v.a.ns == v.b.ns {
                        nla.create_veth(&v.a.name, &v.b.name)
                            .map_err(io_err(what))?;
                    } else {
                        nla.create_veth_peer_in(&v.a.name, &v.b.name, b_ns)
                            .map_err(io_err(what))?;
                    }
                    done.push(step);
                    let mut nlb = Netlink::open_in(b_ns).map_err(io_err("netlink"))?;
                    for (nl, ns, end) in [(&mut nla, a_ns, &v.a), (&mut nlb, b_ns, &v.b)] {
                        let _ = ns.run(|| disable_ipv6(&end.name));
                        nl.set_mac(&end.name, end.mac)
                            .map_err(io_err(format!("setting the MAC of `{}`", end.name)))?;
                        if let Some(m) = &end.master {
                            nl.set_master(&end.name, m)
                                .map_err(io_err(format!("adding `{}` to `{m}`", end.name)))?;
                        }
                        nl.set_up(&end.name)
                            .map_err(io_err(format!("bringing `{}` up", end.name)))?;
                    }
                    (log)(&format!("veth {} {}", v.a.name, v.b.name));
                    continue;
                }
                Step::StartSwitch => {
                    let Some(o) = plan.ovs.clone() else { continue };
                    let ns = ns_at(nss, o.ns)?;
                    let ovs_err = DeployError::Switch;
                    let tools = crate::ovs::OvsTools::find().map_err(ovs_err)?;
                    let sw = crate::ovs::OvsSwitch::start(tools, ns, plan.switch_core)
                        .map_err(ovs_err)?;
                    let pid = sw.vswitchd_pid().unwrap_or(0);
                    *ovs = Some(sw);
                    done.push(step);
                    if let Some(sw) = ovs.as_ref() {
                        sw.add_bridge(&o.bridge, &o.ports).map_err(ovs_err)?;
                        // ovs-vsctl succeeds even when ovs-vswitchd could not make the
                        // datapath: its bridge port (a tap) is the proof that it did.
                        let exists = Netlink::open_in(ns)
                            .and_then(|mut nl| nl.link(&o.bridge))
                            .map_err(io_err("netlink"))?
                            .is_some();
                        if !exists {
                            return Err(ovs_err(crate::ovs::OvsError::Failed(format!(
                                "ovs-vswitchd did not create bridge `{}` ({})",
                                o.bridge,
                                sw.log_tail()
                            ))));
                        }
                    }
                    (log)(&format!(
                        "ovs {} pid {pid} core {}",
                        o.bridge,
                        plan.switch_core.map_or("-".into(), |c| c.to_string())
                    ));
                    if let Some(sw) = ovs.as_ref() {
                        (log)(&format!(
                            "ovsdb-server pid {} dir {}",
                            sw.ovsdb_pid().unwrap_or(0),
                            sw.dir().display()
                        ));
                    }
                    continue;
                }
                Step::SpawnNf(_) => continue,
            }
            done.push(step);
        }
        self.configure_hosts()?;
        self.announce()
    }

    /// Sends one frame from each bridged interface so the bridge learns every port before
    /// traffic (an NF's receive port never sends, so it would otherwise be flooded to every
    /// port). The frame is addressed to the sender itself (source = destination = its MAC,
    /// local experimental EtherType 0x88b5): the bridge learns the source, finds the destination
    /// on the ingress port and drops it, so no NF ever sees it. Called after the links are up
    /// and again once the NFs are ready (in case a port was not yet forwarding).
    pub fn announce(&mut self) -> Result<(), DeployError> {
        if self.plan.announce.is_empty() {
            return Ok(());
        }
        self.wait_carrier(Duration::from_secs(5))?;
        for (ns, ifname, mac) in self.plan.announce.clone() {
            let ns = self.ns_ref(ns)?;
            let r = ns.run(|| -> scc_io::Result<()> {
                let cfg = scc_io::PortConfig::new(ifname.clone(), scc_io::Driver::Packet, 1);
                let mut port = scc_io::open_port(&cfg)?;
                let mut batch = scc_io::Batch::new(1, scc_io::DEFAULT_FRAME_SIZE)?;
                let mut frame = [0u8; 60];
                frame[..6].copy_from_slice(&mac);
                frame[6..12].copy_from_slice(&mac);
                frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
                batch.push(&frame)?;
                port.send_batch(&batch)?;
                Ok(())
            });
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) | Err(e) => {
                    return Err(DeployError::Io {
                        what: format!("announcing `{ifname}` to the bridge"),
                        source: e,
                    });
                }
            }
        }
        Ok(())
    }

    /// PID of the userspace switch (`ovs-vswitchd`), if the chain has one.
    pub fn switch_pid(&self) -> Option<u32> {
        self.ovs
            .as_ref()
            .and_then(crate::ovs::OvsSwitch::vswitchd_pid)
    }

    /// Waits until every interface of the plan has carrier (`IFF_LOWER_UP`).
    fn wait_carrier(&mut self, timeout: Duration) -> Result<(), DeployError> {
        let start = Instant::now();
        for (id, names) in self.plan.interfaces() {
            let ns = self.ns_ref(id)?;
            let mut nl = Netlink::open_in(ns).map_err(io_err("netlink"))?;
            for name in names {
                loop {
                    let l = nl
                        .link(&name)
                        .map_err(io_err(format!("reading `{name}`")))?;
                    if l.is_some_and(|l| l.lower_up) {
                        break;
                    }
                    if start.elapsed() > timeout {
                        return Err(DeployError::Io {
                            what: format!("waiting for carrier on `{name}`"),
                            source: scc_io::IoError::Netlink(format!(
                                "no carrier after {} s",
                                timeout.as_secs()
                            )),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        Ok(())
    }
}

/// Writes `1` to `/proc/sys/net/ipv6/conf/IF/disable_ipv6` (best effort) so the kernel sends
/// no router solicitations or DAD frames into the chain. Call on a thread inside the namespace.
fn disable_ipv6(ifname: &str) -> std::io::Result<()> {
    std::fs::write(
        format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6"),
        b"1",
    )
}
