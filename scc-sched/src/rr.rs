//! The RR quantum: `/proc/sys/kernel/sched_rr_timeslice_ms`, set for a run and restored after.

use std::fs;

use crate::error::{Error, Result};

/// The sysctl file.
pub const RR_TIMESLICE_PATH: &str = "/proc/sys/kernel/sched_rr_timeslice_ms";

/// Reads the current RR quantum in ms.
pub fn rr_timeslice_ms() -> Result<i64> {
    let s = fs::read_to_string(RR_TIMESLICE_PATH).map_err(|e| Error::Io {
        what: RR_TIMESLICE_PATH.into(),
        source: e,
    })?;
    s.trim().parse().map_err(|_| Error::Io {
        what: RR_TIMESLICE_PATH.into(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{s:?}")),
    })
}

fn write(ms: i64) -> Result<()> {
    fs::write(RR_TIMESLICE_PATH, format!("{ms}\n")).map_err(|e| {
        Error::from_file(
            format!("write {ms} to {RR_TIMESLICE_PATH}"),
            "CAP_SYS_ADMIN",
            e,
        )
    })
}

/// A guard holding `sched_rr_timeslice_ms` at a value; the previous value is written back when
/// it is dropped (or by [`RrTimeslice::restore`]). The setting is host-wide: it applies to every
/// `SCHED_RR` task, so hold it only for the run of a chain.
#[derive(Debug)]
#[must_use = "the previous RR time slice is restored when the guard is dropped"]
pub struct RrTimeslice {
    previous: i64,
    current: i64,
    restored: bool,
}

impl RrTimeslice {
    /// Sets the RR quantum to `ms` (>= 1; the kernel rounds to whole jiffies) and returns a guard.
    pub fn set(ms: i64) -> Result<RrTimeslice> {
        if ms < 1 {
            return Err(Error::RrTimesliceOutOfRange(ms));
        }
        let previous = rr_timeslice_ms()?;
        write(ms)?;
        let current = rr_timeslice_ms()?;
        Ok(RrTimeslice {
            previous,
            current,
            restored: false,
        })
    }

    /// The value before [`RrTimeslice::set`].
    pub fn previous_ms(&self) -> i64 {
        self.previous
    }

    /// The value the kernel reports now (after its rounding to jiffies).
    pub fn current_ms(&self) -> i64 {
        self.current
    }

    /// Writes the previous value back now, reporting errors (drop does it silently).
    pub fn restore(mut self) -> Result<()> {
        self.restored = true;
        write(self.previous)
    }
}

impl Drop for RrTimeslice {
    fn drop(&mut self) {
        if !self.restored {
            let _ = write(self.previous);
        }
    }
}
