//! Policies, the per-task scheduling spec and the state read back from the kernel (pure types).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sys;

/// Lowest (most favoured) nice value.
pub const NICE_MIN: i32 = -20;
/// Highest nice value.
pub const NICE_MAX: i32 = 19;
/// Lowest real-time priority.
pub const RT_PRIORITY_MIN: u32 = 1;
/// Highest real-time priority.
pub const RT_PRIORITY_MAX: u32 = 99;
/// Shortest custom EEVDF slice the kernel accepts (it clamps to this).
pub const SLICE_MIN: Duration = Duration::from_micros(100);
/// Longest custom EEVDF slice the kernel accepts (it clamps to this).
pub const SLICE_MAX: Duration = Duration::from_millis(100);

/// A scheduling policy with its parameter (paper Table 6).
///
/// Serialized as `{"policy": "batch", "nice": -19}`, `{"policy": "fifo", "priority": 50}`,
/// `{"policy": "idle"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "lowercase", deny_unknown_fields)]
pub enum Policy {
    /// `SCHED_OTHER` (CFS before 6.6, EEVDF since) with a nice value in -20..=19.
    Other {
        /// Nice value; lower is a larger share (weight).
        #[serde(default)]
        nice: i32,
    },
    /// `SCHED_BATCH`: fair, but never preempts others on wakeup; the paper's "batch CFS".
    Batch {
        /// Nice value; lower is a larger share (weight).
        #[serde(default)]
        nice: i32,
    },
    /// `SCHED_FIFO` with a static priority 1..=99: runs until it blocks or yields.
    Fifo {
        /// Real-time priority, 99 highest.
        priority: u32,
    },
    /// `SCHED_RR` with a static priority 1..=99: FIFO with a quantum
    /// (`/proc/sys/kernel/sched_rr_timeslice_ms`, see [`crate::RrTimeslice`]).
    Rr {
        /// Real-time priority, 99 highest.
        priority: u32,
    },
    /// `SCHED_IDLE`: runs only when nothing else wants the core.
    Idle,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::Other { nice: 0 }
    }
}

impl Policy {
    /// Builds a policy from a chain file's fields (`policy`, `nice`, `priority`), the way the
    /// launcher's `[schedule]` section spells them. Errors name the field: an unknown policy
    /// name, `nice` given for fifo/rr, `priority` missing for fifo/rr or given for other/batch,
    /// values out of range.
    pub fn from_fields(policy: &str, nice: Option<i32>, priority: Option<u32>) -> Result<Policy> {
        let p = match policy {
            "other" | "normal" | "default" => Policy::Other {
                nice: nice.unwrap_or(0),
            },
            "batch" => Policy::Batch {
                nice: nice.unwrap_or(0),
            },
            "fifo" | "rr" => {
                if nice.is_some() {
                    return Err(Error::Field {
                        field: "nice",
                        reason: format!("{policy} has no nice value; use priority = 1..99"),
                    });
                }
                let Some(priority) = priority else {
                    return Err(Error::Field {
                        field: "priority",
                        reason: format!("{policy} needs priority = 1..99"),
                    });
                };
                if policy == "fifo" {
                    Policy::Fifo { priority }
                } else {
                    Policy::Rr { priority }
                }
            }
            "idle" => {
                if nice.is_some() {
                    return Err(Error::Field {
                        field: "nice",
                        reason: "idle has no nice value".into(),
                    });
                }
                Policy::Idle
            }
            other => {
                return Err(Error::Field {
                    field: "policy",
                    reason: format!(
                        "unknown policy {other:?}: expected other, batch, fifo, rr or idle"
                    ),
                });
            }
        };
        if priority.is_some() && !p.is_realtime() {
            return Err(Error::Field {
                field: "priority",
                reason: format!("{policy} has no priority; use nice = -20..19"),
            });
        }
        p.validate().map_err(|e| Error::Field {
            field: if p.is_realtime() { "priority" } else { "nice" },
            reason: e.to_string(),
        })?;
        Ok(p)
    }

    /// The policy's short name (`other`, `batch`, `fifo`, `rr`, `idle`).
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The policy without its parameter.
    pub fn kind(&self) -> PolicyKind {
        match self {
            Policy::Other { .. } => PolicyKind::Other,
            Policy::Batch { .. } => PolicyKind::Batch,
            Policy::Fifo { .. } => PolicyKind::Fifo,
            Policy::Rr { .. } => PolicyKind::Rr,
            Policy::Idle => PolicyKind::Idle,
        }
    }

    /// True for `fifo` and `rr`.
    pub fn is_realtime(&self) -> bool {
        matches!(self, Policy::Fifo { .. } | Policy::Rr { .. })
    }

    /// True for `other` and `batch`, the policies that have a nice value and an EEVDF slice.
    pub fn is_fair(&self) -> bool {
        matches!(self, Policy::Other { .. } | Policy::Batch { .. })
    }

    /// Checks the parameter range: nice -20..=19, priority 1..=99.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Policy::Other { nice } | Policy::Batch { nice } => {
                if !(NICE_MIN..=NICE_MAX).contains(&nice) {
                    return Err(Error::NiceOutOfRange(nice));
                }
            }
            Policy::Fifo { priority } | Policy::Rr { priority } => {
                if !(RT_PRIORITY_MIN..=RT_PRIORITY_MAX).contains(&priority) {
                    return Err(Error::PriorityOutOfRange {
                        policy: self.name(),
                        priority,
                    });
                }
            }
            Policy::Idle => {}
        }
        Ok(())
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Other { nice } | Policy::Batch { nice } => {
                write!(f, "{} nice {nice}", self.name())
            }
            Policy::Fifo { priority } | Policy::Rr { priority } => {
                write!(f, "{} priority {priority}", self.name())
            }
            Policy::Idle => f.write_str("idle"),
        }
    }
}

/// A policy as the kernel reports it, without parameter (includes policies scc never sets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    /// `SCHED_OTHER`.
    Other,
    /// `SCHED_BATCH`.
    Batch,
    /// `SCHED_FIFO`.
    Fifo,
    /// `SCHED_RR`.
    Rr,
    /// `SCHED_IDLE`.
    Idle,
    /// `SCHED_DEADLINE` (read only).
    Deadline,
    /// `SCHED_EXT` (read only).
    Ext,
    /// A policy number this crate does not know.
    Unknown(u32),
}

impl PolicyKind {
    /// Short name.
    pub fn name(&self) -> &'static str {
        match self {
            PolicyKind::Other => "other",
            PolicyKind::Batch => "batch",
            PolicyKind::Fifo => "fifo",
            PolicyKind::Rr => "rr",
            PolicyKind::Idle => "idle",
            PolicyKind::Deadline => "deadline",
            PolicyKind::Ext => "ext",
            PolicyKind::Unknown(_) => "unknown",
        }
    }

    /// The kernel's `SCHED_*` number.
    pub fn to_raw(self) -> u32 {
        match self {
            PolicyKind::Other => sys::SCHED_OTHER,
            PolicyKind::Batch => sys::SCHED_BATCH,
            PolicyKind::Fifo => sys::SCHED_FIFO,
            PolicyKind::Rr => sys::SCHED_RR,
            PolicyKind::Idle => sys::SCHED_IDLE,
            PolicyKind::Deadline => sys::SCHED_DEADLINE,
            PolicyKind::Ext => sys::SCHED_EXT,
            PolicyKind::Unknown(n) => n,
        }
    }

    /// From the kernel's `SCHED_*` number (the `SCHED_RESET_ON_FORK` bit is ignored).
    pub fn from_raw(raw: u32) -> PolicyKind {
        match raw & !0x4000_0000 {
            sys::SCHED_OTHER => PolicyKind::Other,
            sys::SCHED_BATCH => PolicyKind::Batch,
            sys::SCHED_FIFO => PolicyKind::Fifo,
            sys::SCHED_RR => PolicyKind::Rr,
            sys::SCHED_IDLE => PolicyKind::Idle,
            sys::SCHED_DEADLINE => PolicyKind::Deadline,
            sys::SCHED_EXT => PolicyKind::Ext,
            n => PolicyKind::Unknown(n),
        }
    }

    /// True for `other`, `batch` (and `ext`, which falls back to fair): they carry nice and slice.
    pub fn is_fair(&self) -> bool {
        matches!(
            self,
            PolicyKind::Other | PolicyKind::Batch | PolicyKind::Ext
        )
    }
}

/// What to apply to a process and all its threads.
///
/// Serialized as `{"policy": "batch", "nice": -19, "slice_us": 3000, "affinity": [1]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SchedSpec {
    /// Policy and its parameter.
    #[serde(flatten)]
    pub policy: Policy,
    /// EEVDF custom slice (kernel >= 6.12, `other`/`batch` only, 0.1..=100 ms): the modern form
    /// of "a longer quantum". `None` leaves the task's slice as it is.
    #[serde(
        default,
        rename = "slice_us",
        with = "opt_us",
        skip_serializing_if = "Option::is_none"
    )]
    pub slice: Option<Duration>,
    /// Cores the task may run on. `None` leaves the affinity as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Vec<usize>>,
}

impl SchedSpec {
    /// A spec with only a policy.
    pub fn new(policy: Policy) -> Self {
        SchedSpec {
            policy,
            slice: None,
            affinity: None,
        }
    }

    /// Builder: sets the EEVDF slice.
    pub fn with_slice(mut self, slice: Duration) -> Self {
        self.slice = Some(slice);
        self
    }

    /// Builder: sets the affinity.
    pub fn with_affinity(mut self, cores: impl Into<Vec<usize>>) -> Self {
        self.affinity = Some(cores.into());
        self
    }

    /// Checks everything that can be checked without the kernel: parameter ranges, slice range
    /// and policy, a non-empty affinity.
    pub fn validate(&self) -> Result<()> {
        self.policy.validate()?;
        if let Some(slice) = self.slice {
            if !self.policy.is_fair() {
                return Err(Error::SliceNeedsFairPolicy(self.policy.name()));
            }
            check_slice(slice)?;
        }
        if let Some(a) = &self.affinity
            && a.is_empty()
        {
            return Err(Error::NoCores("affinity".into()));
        }
        Ok(())
    }
}

/// Checks a custom EEVDF slice against the kernel's range ([`SLICE_MIN`]..=[`SLICE_MAX`]),
/// whatever the policy ([`SchedSpec::validate`] also checks that the policy is fair).
pub fn check_slice(slice: Duration) -> Result<()> {
    if (SLICE_MIN..=SLICE_MAX).contains(&slice) {
        Ok(())
    } else {
        Err(Error::SliceOutOfRange(slice))
    }
}

/// One thread's scheduling state as read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedState {
    /// Thread id.
    pub tid: i32,
    /// Policy.
    pub kind: PolicyKind,
    /// Nice value (meaningful for fair policies and idle).
    pub nice: i32,
    /// Real-time priority (0 for non real-time policies).
    pub priority: u32,
    /// The EEVDF slice the kernel reports (`sched_getattr` runtime, i.e. `se.slice`) for fair
    /// policies on kernels >= 6.12; `None` elsewhere.
    #[serde(with = "opt_us", rename = "slice_us")]
    pub slice: Option<Duration>,
    /// Cores the thread may run on.
    pub affinity: Vec<usize>,
}

impl SchedState {
    /// The state as a settable [`Policy`], if it is one scc can set.
    pub fn policy(&self) -> Option<Policy> {
        match self.kind {
            PolicyKind::Other => Some(Policy::Other { nice: self.nice }),
            PolicyKind::Batch => Some(Policy::Batch { nice: self.nice }),
            PolicyKind::Fifo => Some(Policy::Fifo {
                priority: self.priority,
            }),
            PolicyKind::Rr => Some(Policy::Rr {
                priority: self.priority,
            }),
            PolicyKind::Idle => Some(Policy::Idle),
            _ => None,
        }
    }
}

/// Serde helper: `Option<Duration>` as whole microseconds.
pub(crate) mod opt_us {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_some(&(d.as_micros() as u64)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_ranges() {
        assert!(Policy::Other { nice: -20 }.validate().is_ok());
        assert!(Policy::Batch { nice: 19 }.validate().is_ok());
        assert!(matches!(
            Policy::Batch { nice: 20 }.validate(),
            Err(Error::NiceOutOfRange(20))
        ));
        assert!(matches!(
            Policy::Other { nice: -21 }.validate(),
            Err(Error::NiceOutOfRange(-21))
        ));
        assert!(matches!(
            Policy::Fifo { priority: 0 }.validate(),
            Err(Error::PriorityOutOfRange {
                policy: "fifo",
                priority: 0
            })
        ));
        assert!(matches!(
            Policy::Rr { priority: 100 }.validate(),
            Err(Error::PriorityOutOfRange {
                policy: "rr",
                priority: 100
            })
        ));
        assert!(Policy::Rr { priority: 99 }.validate().is_ok());
        assert!(Policy::Idle.validate().is_ok());
    }

    #[test]
    fn validate_slice() {
        let s = SchedSpec::new(Policy::Batch { nice: 0 }).with_slice(Duration::from_millis(3));
        assert!(s.validate().is_ok());
        let s = SchedSpec::new(Policy::Fifo { priority: 1 }).with_slice(Duration::from_millis(3));
        assert!(matches!(
            s.validate(),
            Err(Error::SliceNeedsFairPolicy("fifo"))
        ));
        let s = SchedSpec::new(Policy::Other { nice: 0 }).with_slice(Duration::from_micros(99));
        assert!(matches!(s.validate(), Err(Error::SliceOutOfRange(_))));
        let s = SchedSpec::new(Policy::Other { nice: 0 }).with_slice(Duration::from_millis(101));
        assert!(matches!(s.validate(), Err(Error::SliceOutOfRange(_))));
        let s = SchedSpec::new(Policy::Other { nice: 0 }).with_affinity(vec![]);
        assert!(matches!(s.validate(), Err(Error::NoCores(_))));
    }

    #[test]
    fn raw_roundtrip() {
        for k in [
            PolicyKind::Other,
            PolicyKind::Batch,
            PolicyKind::Fifo,
            PolicyKind::Rr,
            PolicyKind::Idle,
            PolicyKind::Deadline,
            PolicyKind::Ext,
            PolicyKind::Unknown(42),
        ] {
            assert_eq!(PolicyKind::from_raw(k.to_raw()), k);
        }
        // SCHED_RESET_ON_FORK is masked off.
        assert_eq!(PolicyKind::from_raw(0x4000_0001), PolicyKind::Fifo);
    }

    #[test]
    fn from_fields() {
        assert_eq!(
            Policy::from_fields("batch", Some(-19), None).unwrap(),
            Policy::Batch { nice: -19 }
        );
        assert_eq!(
            Policy::from_fields("other", None, None).unwrap(),
            Policy::Other { nice: 0 }
        );
        assert_eq!(
            Policy::from_fields("rr", None, Some(5)).unwrap(),
            Policy::Rr { priority: 5 }
        );
        assert_eq!(
            Policy::from_fields("idle", None, None).unwrap(),
            Policy::Idle
        );
        let field = |r: Result<Policy>| match r {
            Err(Error::Field { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(Policy::from_fields("fifio", None, None)), "policy");
        assert_eq!(field(Policy::from_fields("fifo", None, None)), "priority");
        assert_eq!(field(Policy::from_fields("fifo", Some(1), Some(3))), "nice");
        assert_eq!(
            field(Policy::from_fields("batch", None, Some(3))),
            "priority"
        );
        assert_eq!(field(Policy::from_fields("batch", Some(-30), None)), "nice");
        assert_eq!(
            field(Policy::from_fields("rr", None, Some(100))),
            "priority"
        );
        assert!(
            Policy::from_fields("fifio", None, None)
                .unwrap_err()
                .to_string()
                .contains("fifo")
        );
    }

    #[test]
    fn display() {
        assert_eq!(Policy::Batch { nice: -19 }.to_string(), "batch nice -19");
        assert_eq!(Policy::Rr { priority: 5 }.to_string(), "rr priority 5");
        assert_eq!(Policy::Idle.to_string(), "idle");
    }
}
