//! Keeping a chain's cores out of deep idle for a run.
//!
//! Waking an idle core costs ~28 us on our VMs (more than a forwarding hop); on bare metal deep
//! C-states do the same. Two remedies:
//! * [`KeepAwakeMode::DmaLatency`]: hold `/dev/cpu_dma_latency` open with the value 0 (PM QoS: the
//!   cpuidle governor then only polls). Host-wide, needs root, and only works with a cpuidle
//!   driver (`/sys/devices/system/cpu/cpuidle/current_driver` not `none`).
//! * [`KeepAwakeMode::Spinner`]: one `SCHED_IDLE` thread per chain core, pinned there, spinning.
//!   The core never idles, and any NF that wakes preempts the spinner at once (an idle-policy
//!   task is always preempted by a fair or RT one). Costs the core's spare cycles.
//!
//! Both are released when the [`KeepAwake`] guard is dropped.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use crate::cpus::check_cores_online;
use crate::error::{Error, Result};
use crate::sys::{self, SchedAttr};

/// The device.
const DMA_LATENCY: &str = "/dev/cpu_dma_latency";

/// How to keep cores awake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepAwakeMode {
    /// `DmaLatency` where it works (writable device and a cpuidle driver), else `Spinner`.
    Auto,
    /// `/dev/cpu_dma_latency` held at 0.
    DmaLatency,
    /// `SCHED_IDLE` spinner threads pinned to the chain's cores.
    Spinner,
}

/// Whether PM QoS through `/dev/cpu_dma_latency` can take effect on this host.
pub fn dma_latency_effective() -> bool {
    let driver = std::fs::read_to_string("/sys/devices/system/cpu/cpuidle/current_driver")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    !driver.is_empty()
        && driver != "none"
        && OpenOptions::new().write(true).open(DMA_LATENCY).is_ok()
}

struct Spinner {
    core: usize,
    tid: i32,
    handle: Option<JoinHandle<()>>,
}

/// The guard: while it lives the chain's cores are kept awake. Drop releases.
#[must_use = "the cores are released when the guard is dropped"]
pub struct KeepAwake {
    mode: KeepAwakeMode,
    dma: Option<File>,
    spinners: Vec<Spinner>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for KeepAwake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeepAwake")
            .field("mode", &self.mode)
            .field(
                "spinners",
                &self
                    .spinners
                    .iter()
                    .map(|s| (s.core, s.tid))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KeepAwake {
    /// Starts keeping `cores` awake with `mode` (`Auto` picks per host).
    pub fn start(mode: KeepAwakeMode, cores: &[usize]) -> Result<KeepAwake> {
        let mode = match mode {
            KeepAwakeMode::Auto if dma_latency_effective() => KeepAwakeMode::DmaLatency,
            KeepAwakeMode::Auto => KeepAwakeMode::Spinner,
            m => m,
        };
        let mut me = KeepAwake {
            mode,
            dma: None,
            spinners: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
        };
        match mode {
            KeepAwakeMode::DmaLatency => me.dma = Some(open_dma_zero()?),
            _ => me.start_spinners(cores)?,
        }
        Ok(me)
    }

    /// The mode in use (never `Auto`).
    pub fn mode(&self) -> KeepAwakeMode {
        self.mode
    }

    /// Thread ids of the spinners (e.g. to put them into a [`crate::CoreReservation`]).
    pub fn spinner_tids(&self) -> Vec<i32> {
        self.spinners.iter().map(|s| s.tid).collect()
    }

    /// Stops the spinners / closes the device now.
    pub fn release(self) {}

    fn start_spinners(&mut self, cores: &[usize]) -> Result<()> {
        if cores.is_empty() {
            return Err(Error::NoCores("keep_awake spinners".into()));
        }
        check_cores_online(cores)?;
        for &core in cores {
            let (tx, rx) = mpsc::channel::<std::result::Result<i32, String>>();
            let stop = Arc::clone(&self.stop);
            let handle = std::thread::Builder::new()
                .name(format!("scc-awake-{core}"))
                .spawn(move || spin(core, stop, tx))
                .map_err(|e| Error::Io {
                    what: "spawn keep_awake spinner".into(),
                    source: e,
                })?;
            match rx.recv() {
                Ok(Ok(tid)) => self.spinners.push(Spinner {
                    core,
                    tid,
                    handle: Some(handle),
                }),
                Ok(Err(msg)) => {
                    let _ = handle.join();
                    return Err(Error::Io {
                        what: format!("keep_awake spinner on core {core}"),
                        source: std::io::Error::other(msg),
                    });
                }
                Err(_) => {
                    let _ = handle.join();
                    return Err(Error::Io {
                        what: format!("keep_awake spinner on core {core}"),
                        source: std::io::Error::other("spinner thread died"),
                    });
                }
            }
        }
        Ok(())
    }
}

fn spin(core: usize, stop: Arc<AtomicBool>, tx: mpsc::Sender<std::result::Result<i32, String>>) {
    let setup = || -> std::io::Result<i32> {
        sys::sched_setaffinity(0, &[core])?;
        let a = SchedAttr {
            sched_policy: sys::SCHED_IDLE,
            ..SchedAttr::default()
        };
        sys::sched_setattr(0, &a)?;
        Ok(sys::gettid())
    };
    match setup() {
        Ok(tid) => {
            if tx.send(Ok(tid)).is_err() {
                return;
            }
        }
        Err(e) => {
            let _ = tx.send(Err(e.to_string()));
            return;
        }
    }
    while !stop.load(Ordering::Relaxed) {
        std::hint::spin_loop();
    }
}

fn open_dma_zero() -> Result<File> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(DMA_LATENCY)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Unsupported {
                feature: DMA_LATENCY.into(),
                reason: "the device does not exist on this host".into(),
            },
            _ => Error::from_file(format!("open {DMA_LATENCY}"), "CAP_SYS_ADMIN", e),
        })?;
    f.write_all(&0i32.to_ne_bytes()).map_err(|e| Error::Io {
        what: format!("write 0 to {DMA_LATENCY}"),
        source: e,
    })?;
    Ok(f)
}

/// The current host-wide PM QoS CPU latency limit in microseconds (2000000000 = none), if the
/// device is readable.
pub fn current_dma_latency_us() -> Option<i32> {
    use std::io::Read;
    let mut b = [0u8; 4];
    File::open(DMA_LATENCY).ok()?.read_exact(&mut b).ok()?;
    Some(i32::from_ne_bytes(b))
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for s in &mut self.spinners {
            if let Some(h) = s.handle.take() {
                let _ = h.join();
            }
        }
        // Closing the file drops our PM QoS request.
        self.dma.take();
    }
}
