//! Pacing arithmetic (pure): frame `k` of a run at `rate` pps is due at `k / rate` seconds after
//! the start. The generator asks how many frames are due at a given elapsed time and how long
//! until the next one.

/// A send schedule at a constant rate. `rate_pps == 0` means unpaced: everything is due at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacer {
    rate_pps: f64,
    /// Nanoseconds between two frames (`1e9 / rate`), 0 when unpaced.
    gap_ns: f64,
}

impl Pacer {
    /// A schedule at `rate_pps` frames per second; 0 (or a non-finite or negative value) is
    /// unpaced.
    pub fn new(rate_pps: f64) -> Self {
        if rate_pps.is_finite() && rate_pps > 0.0 {
            Self {
                rate_pps,
                gap_ns: 1e9 / rate_pps,
            }
        } else {
            Self {
                rate_pps: 0.0,
                gap_ns: 0.0,
            }
        }
    }

    /// The rate (0 when unpaced).
    pub fn rate_pps(&self) -> f64 {
        self.rate_pps
    }

    /// True when every frame is due at once.
    pub fn unpaced(&self) -> bool {
        self.rate_pps == 0.0
    }

    /// How many frames (counted from the start, frame 0 due at 0 ns) are due `elapsed_ns` after
    /// the start. `u64::MAX` when unpaced.
    pub fn due_total(&self, elapsed_ns: u64) -> u64 {
        if self.unpaced() {
            return u64::MAX;
        }
        let n = (elapsed_ns as f64 / self.gap_ns).floor();
        if n >= u64::MAX as f64 {
            u64::MAX
        } else {
            n as u64 + 1
        }
    }

    /// How many frames to send now: due by `elapsed_ns`, minus the `sent` already handed to the
    /// port, capped at `max` (a batch).
    pub fn due_now(&self, elapsed_ns: u64, sent: u64, max: usize) -> usize {
        let d = self.due_total(elapsed_ns).saturating_sub(sent);
        d.min(max as u64) as usize
    }

    /// When (ns after the start) frame `k` is due. 0 when unpaced.
    pub fn due_at(&self, k: u64) -> u64 {
        let t = (k as f64 * self.gap_ns).ceil();
        if t >= u64::MAX as f64 {
            u64::MAX
        } else {
            t as u64
        }
    }

    /// Frames a run of `duration_ns` contains: those due strictly before its end
    /// (`ceil(duration * rate)`). `u64::MAX` when unpaced.
    pub fn frames_in(&self, duration_ns: u64) -> u64 {
        if self.unpaced() {
            return u64::MAX;
        }
        let n = (duration_ns as f64 / self.gap_ns).ceil();
        if n >= u64::MAX as f64 {
            u64::MAX
        } else {
            n as u64
        }
    }

    /// The nominal length of a run of `count` frames: `count / rate` in ns (0 when unpaced).
    pub fn span_of(&self, count: u64) -> u64 {
        self.due_at(count)
    }
}

/// How the generator waits for the next due frame: sleep when the gap is longer than
/// `spin_ns`, else spin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Nothing to wait for.
    None,
    /// Busy-wait (the gap is short).
    Spin,
    /// Sleep until this many ns after the start, then spin the rest.
    SleepUntil(u64),
}

/// Decides how to wait from `now` (ns after start) until `next_due` (ns after start).
pub fn wait_plan(now: u64, next_due: u64, spin_ns: u64) -> Wait {
    if next_due <= now {
        Wait::None
    } else if next_due - now <= spin_ns {
        Wait::Spin
    } else {
        Wait::SleepUntil(next_due - spin_ns)
    }
}
