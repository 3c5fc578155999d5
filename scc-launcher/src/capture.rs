//! `scc run FILE --capture DIR`: one pcap file per NF port.
//!
//! Each NF gets `--pcap-dir DIR` (the `scc-nf` flag): its ports are wrapped in
//! [`scc_io::middleware::PcapPort`], which writes `DIR/<interface>.pcap` (`<nf>-rx.pcap`,
//! `<nf>-tx.pcap`: interface names are unique in a chain). Without `--capture` nothing is
//! wrapped. After the run, [`CaptureReport::read`] lists the files with their frame counts.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::plan::NfProc;

/// One capture file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaptureFile {
    /// The NF.
    pub nf: String,
    /// The NF's interface (port) the file captures.
    pub interface: String,
    /// The file.
    pub path: PathBuf,
    /// Frames in the file (`None` when it could not be read, e.g. the NF never started).
    pub frames: Option<u64>,
}

/// The capture files of a run (`capture` in `scc run --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaptureReport {
    /// The folder.
    pub dir: PathBuf,
    /// One file per NF port.
    pub files: Vec<CaptureFile>,
}

/// Creates `dir` (absolute from here on) and adds `--pcap-dir DIR` to every NF's command line.
/// The files are created here, by the launcher: an NF runs with only the capabilities of its
/// I/O backend ([`crate::privilege`]), so as root it could not create files in a folder of
/// another user (no `CAP_DAC_OVERRIDE`), but may write the files it owns.
///
/// Errors: the folder or a file cannot be created.
pub fn prepare(dir: &Path, nfs: &mut [NfProc]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let dir = std::path::absolute(dir)?;
    for nf in nfs {
        if nf.kind != crate::chain::NfKind::Kernel {
            for port in [&nf.rx, &nf.tx] {
                std::fs::File::create(file_of(&dir, port))?;
            }
        }
        nf.argv.push("--pcap-dir".into());
        nf.argv.push(dir.display().to_string());
    }
    Ok(dir)
}

/// The file that captures interface `ifname` in `dir`.
pub fn file_of(dir: &Path, ifname: &str) -> PathBuf {
    dir.join(format!("{ifname}.pcap"))
}

impl CaptureReport {
    /// Reads back the files of `nfs` in `dir` (after the NFs have stopped and flushed them).
    pub fn read(dir: &Path, nfs: &[NfProc]) -> Self {
        let mut files = Vec::new();
        for nf in nfs {
            let mut ports = vec![nf.rx.clone()];
            if nf.tx != nf.rx {
                ports.push(nf.tx.clone());
            }
            for interface in ports {
                let path = file_of(dir, &interface);
                files.push(CaptureFile {
                    nf: nf.name.clone(),
                    frames: scc_io::middleware::count_pcap(&path).ok(),
                    interface,
                    path,
                });
            }
        }
        Self {
            dir: dir.to_path_buf(),
            files,
        }
    }

    /// One line per file.
    pub fn to_text(&self) -> String {
        let mut s = format!("capture in {}:\n", self.dir.display());
        for f in &self.files {
            let n = f
                .frames
                .map_or_else(|| "unreadable".to_string(), |n| format!("{n} frames"));
            s.push_str(&format!(
                "  {} {}: {} ({})\n",
                f.nf,
                f.interface,
                f.path.display(),
                n
            ));
        }
        s
    }
}
