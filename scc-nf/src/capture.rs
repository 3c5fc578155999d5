//! Capturing an NF's ports into pcap files (`--pcap FILE` / `--pcap-dir DIR`): a port is wrapped
//! in scc-io's [`PcapPort`] only when capturing, so capture costs nothing when it is off.

use std::path::PathBuf;

use scc_io::middleware::{PcapFile, PcapPort};
use scc_io::{Port, PortConfig, open_port};

use crate::config::NfConfig;
use crate::error::{NfError, Result};

/// Where an NF's ports are captured; off by default.
pub(crate) enum Capture {
    /// No capture: ports are opened unwrapped.
    Off,
    /// Every port into one shared file.
    File(PcapFile),
    /// One file per port in this folder (`DIR/<interface>.pcap`).
    Dir(PathBuf),
}

impl Capture {
    /// The capture `cfg` asks for (`pcap` or `pcap_dir`, not both); creates the file or folder.
    pub(crate) fn new(cfg: &NfConfig) -> Result<Self> {
        if let Some(f) = &cfg.pcap {
            if cfg.pcap_dir.is_some() {
                return Err(NfError::Config(
                    "give either --pcap FILE or --pcap-dir DIR, not both".into(),
                ));
            }
            return Ok(Capture::File(PcapFile::create(f)?));
        }
        match &cfg.pcap_dir {
            None => Ok(Capture::Off),
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|source| NfError::File {
                    path: d.clone(),
                    source,
                })?;
                Ok(Capture::Dir(PathBuf::from(d)))
            }
        }
    }

    /// Opens a port, wrapped in a [`PcapPort`] when capturing (unwrapped, and so at no cost,
    /// otherwise).
    pub(crate) fn open(&self, pc: &PortConfig) -> Result<Box<dyn Port>> {
        let port = open_port(pc)?;
        let file = match self {
            Capture::Off => return Ok(port),
            Capture::File(f) => f.clone(),
            Capture::Dir(d) => PcapFile::create(d.join(format!("{}.pcap", pc.ifname)))?,
        };
        CAPTURES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(file.clone());
        Ok(Box::new(PcapPort::new(port, file)))
    }
}

/// The capture files of this process, checked for write errors when the NF stops.
static CAPTURES: std::sync::Mutex<Vec<PcapFile>> = std::sync::Mutex::new(Vec::new());

/// Says on stderr which capture files are incomplete (a write failed: disk full, file gone).
pub(crate) fn warn_about_captures() {
    for f in CAPTURES.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let _ = f.flush();
        let st = f.stats();
        if let Some(e) = st.error {
            eprintln!(
                "scc-nf: warning: capture {} is incomplete: {} frames not written ({e})",
                f.path().display(),
                st.lost
            );
        }
    }
}
