//! Building NFs from their configuration in the calling thread's network namespace: resolving
//! the interfaces (MAC, MTU, addresses), building the pipelines, opening the ports. A separate
//! NF ([`prepare_nf`]) or a fused chain of NFs ([`prepare_fused`]); both are re-exported by
//! [`crate::cli`], which runs them.

use std::net::Ipv4Addr;
use std::time::Duration;

use scc_io::link::Netlink;
use scc_io::{Driver, IoError, PortConfig};

use crate::capture::Capture;

use crate::chain::{FusedChain, FusedNf, FusedOptions};
use crate::config::{Env, NfConfig, Preset, build_pipeline};
use crate::error::{NfError, Result};
use crate::nf::{Nf, NfOptions};
use crate::wire::MacAddr;

/// What an interface looks like to the NF.
fn interface(nl: &mut Netlink, name: &str) -> Result<(MacAddr, u32, Vec<Ipv4Addr>)> {
    let info = nl
        .link(name)?
        .ok_or_else(|| NfError::Io(IoError::UnknownInterface(name.to_string())))?;
    let addrs = nl
        .ipv4_addrs(name)
        .map(|v| v.into_iter().map(|a| a.0).collect())
        .unwrap_or_default();
    Ok((MacAddr(info.mac), info.mtu, addrs))
}

/// The NF's kind name for the counters (`router`, `firewall`, `forward` or `custom`).
fn kind_of(cfg: &NfConfig) -> String {
    if cfg.element.is_empty() {
        cfg.preset.map_or("custom", Preset::name).to_string()
    } else {
        "custom".to_string()
    }
}

/// The NF's environment (source MAC, MTU, own addresses) from its configuration and, where
/// they exist, its interfaces. With `need_ifaces`, `rx` and `tx` must exist (a separate NF);
/// without, an interface that does not exist is skipped (an NF inside a fused chain), and the
/// NF then needs `src_mac`; its MTU defaults to `default_mtu`.
fn resolve_env(
    cfg: &NfConfig,
    nl: &mut Netlink,
    need_ifaces: bool,
    default_mtu: u32,
) -> Result<Env> {
    let rx = cfg.rx.clone();
    let tx = cfg.tx.clone().or_else(|| rx.clone());
    let mut found = |name: &Option<String>| -> Result<Option<(MacAddr, u32, Vec<Ipv4Addr>)>> {
        match name {
            None => Ok(None),
            Some(n) => match interface(nl, n) {
                Ok(i) => Ok(Some(i)),
                Err(NfError::Io(IoError::UnknownInterface(_))) if !need_ifaces => Ok(None),
                Err(e) => Err(e),
            },
        }
    };
    let rx_info = found(&rx)?;
    let tx_info = found(&tx)?;
    let mut addrs = cfg.addrs.clone();
    if addrs.is_empty() {
        for a in rx_info
            .iter()
            .chain(tx_info.iter())
            .flat_map(|i| i.2.iter().copied())
        {
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
    }
    let src_mac = match (cfg.src_mac, &tx_info) {
        (Some(m), _) => m,
        (None, Some(i)) => i.0,
        (None, None) => {
            return Err(NfError::Config(format!(
                "NF `{}`: no src_mac and no {} interface to take it from: an NF fused into a chain without an interface of its own needs src_mac",
                cfg.name.clone().unwrap_or_else(|| kind_of(cfg)),
                tx.as_deref().unwrap_or("tx")
            )));
        }
    };
    let mtu = tx_info.as_ref().map_or(default_mtu, |i| i.1);
    Ok(Env {
        src_mac,
        gw_mac: cfg.gw_mac,
        addrs,
        mtu: cfg
            .mtu
            .unwrap_or_else(|| u16::try_from(mtu).unwrap_or(u16::MAX).max(68)),
        icmp_rate: cfg.icmp_rate.unwrap_or(100),
    })
}

fn check_batch(batch: usize) -> Result<usize> {
    if batch == 0 || batch > scc_io::MAX_BATCH {
        return Err(NfError::Io(IoError::BadBatchSize(batch)));
    }
    Ok(batch)
}

fn port_config(ifname: &str, driver: Driver, batch: usize, cfg: &NfConfig) -> PortConfig {
    let mut pc = PortConfig::new(ifname, driver, batch);
    pc.rx_queue_frames = cfg.rx_queue_frames;
    pc
}

/// Builds an NF from `cfg` in the calling thread's network namespace: resolves the interfaces
/// (MAC, MTU, addresses), builds the pipeline and opens the ports.
pub fn prepare_nf(cfg: &NfConfig) -> Result<Nf> {
    let rx = cfg
        .rx
        .clone()
        .ok_or_else(|| NfError::Config("no input interface: give --rx IF".into()))?;
    let tx = cfg.tx.clone().unwrap_or_else(|| rx.clone());
    let batch = check_batch(cfg.batch.unwrap_or(32))?;
    cfg.element_specs()?; // fail on a missing NF before touching interfaces
    let mut nl = Netlink::open()?;
    let env = resolve_env(cfg, &mut nl, true, 1500)?;
    let pipeline = build_pipeline(cfg, &env)?;
    let driver = cfg.io.unwrap_or(Driver::Mmsg);
    let capture = Capture::new(cfg)?;
    let mut ports = vec![capture.open(&port_config(&rx, driver, batch, cfg))?];
    let map = if tx == rx {
        vec![0, 0]
    } else {
        ports.push(capture.open(&port_config(&tx, driver, batch, cfg))?);
        vec![0, 1]
    };
    let kind = kind_of(cfg);
    Nf::new(
        pipeline,
        ports,
        map,
        NfOptions {
            name: cfg.name.clone().unwrap_or_else(|| kind.clone()),
            kind,
            batch,
            frame_size: scc_io::DEFAULT_FRAME_SIZE,
            poll: cfg.poll.unwrap_or_default(),
            spin: Duration::from_micros(cfg.spin_us.unwrap_or(200)),
            stats_file: cfg.stats_file.clone(),
        },
    )
}

/// Builds a fused chain of the NFs `cfgs` (in chain order) in the calling thread's network
/// namespace: the entry port on the first NF's `rx`, the exit port on the last NF's `tx` (else
/// its `rx`). I/O driver, batch, poll mode and receive queue come from the first NF's
/// configuration. NFs whose interfaces do not exist need `src_mac`; their MTU defaults to the
/// exit interface's.
pub fn prepare_fused(cfgs: &[NfConfig]) -> Result<FusedChain> {
    let (Some(first), Some(last)) = (cfgs.first(), cfgs.last()) else {
        return Err(NfError::Config(
            "a fused chain needs at least one NF".into(),
        ));
    };
    let entry_if = first
        .rx
        .clone()
        .ok_or_else(|| NfError::Config("no input interface: give --rx IF".into()))?;
    let exit_if = last
        .tx
        .clone()
        .or_else(|| last.rx.clone())
        .ok_or_else(|| NfError::Config("no output interface: give --tx IF".into()))?;
    let batch = check_batch(first.batch.unwrap_or(32))?;
    for c in cfgs {
        c.element_specs()?;
    }
    let mut nl = Netlink::open()?;
    let (_, exit_mtu, _) = interface(&mut nl, &exit_if)?;
    interface(&mut nl, &entry_if)?;
    let mut nfs = Vec::with_capacity(cfgs.len());
    let mut names = std::collections::BTreeSet::new();
    for cfg in cfgs {
        let env = resolve_env(cfg, &mut nl, false, exit_mtu)?;
        let kind = kind_of(cfg);
        let name = cfg.name.clone().unwrap_or_else(|| kind.clone());
        if !names.insert(name.clone()) {
            return Err(NfError::Config(format!(
                "two NFs of the chain are named `{name}`: give each a distinct name"
            )));
        }
        let pipeline =
            build_pipeline(cfg, &env).map_err(|e| NfError::Config(format!("NF `{name}`: {e}")))?;
        nfs.push(FusedNf {
            pipeline,
            name,
            kind,
            stats_file: cfg.stats_file.clone(),
        });
    }
    let driver = first.io.unwrap_or(Driver::Mmsg);
    // The chain's two kernel ports are captured as its first and last NF ask.
    let entry = Capture::new(first)?.open(&port_config(&entry_if, driver, batch, first))?;
    let exit = Capture::new(last)?.open(&port_config(&exit_if, driver, batch, first))?;
    FusedChain::new(
        nfs,
        entry,
        exit,
        FusedOptions {
            batch,
            frame_size: scc_io::DEFAULT_FRAME_SIZE,
            poll: first.poll.unwrap_or_default(),
            spin: Duration::from_micros(first.spin_us.unwrap_or(200)),
        },
    )
}
