//! Context-switch latency: two forked children pinned to one core ping-pong over pipes
//! (lmbench `lat_ctx` style; the pipe's own cost is measured and subtracted). All system
//! calls go through the `sysbench::sys` wrappers; decoding the children's result message and
//! turning timings into a [`CtxSwitch`] are pure and unit-tested.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::sys;
use crate::error::CtxSwitchError;
use crate::model::Policy;

/// The last CPU this process may use (the benchmark pins both children there).
pub fn last_core() -> Option<usize> {
    sys::allowed_cpus().into_iter().max()
}

/// One context-switch measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CtxSwitch {
    /// The policy of both processes.
    pub policy: Policy,
    /// The core both were pinned to.
    pub cpu: usize,
    /// Half a ping-pong round trip (one switch plus one pipe write and read), ns.
    pub raw_ns: f64,
    /// One pipe write + read without switching, ns.
    pub pipe_overhead_ns: f64,
    /// `raw_ns - pipe_overhead_ns`: the context switch itself (lmbench's figure), ns.
    pub ns: f64,
}

/// Status byte of the result message: the child could not pin itself or set the policy.
const CHILD_FAIL_POLICY: u8 = 2;
/// Status byte of the result message: a pipe read or write failed.
const CHILD_FAIL_IO: u8 = 3;
/// Chunks per context-switch measurement; the fastest chunk counts.
const CHUNKS: u64 = 10;
/// The result message child A sends the parent: status byte, then three native-endian
/// u64: the fastest pipe-only chunk (ns), the fastest ping-pong chunk (ns), round trips
/// per chunk.
const MSG_LEN: usize = 25;

/// The timings child A measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timings {
    pipe_chunk_ns: u64,
    pingpong_chunk_ns: u64,
    per_chunk: u64,
}

/// Encodes child A's result message.
fn encode(status: u8, t: Timings) -> [u8; MSG_LEN] {
    let mut msg = [0u8; MSG_LEN];
    msg[0] = status;
    msg[1..9].copy_from_slice(&t.pipe_chunk_ns.to_ne_bytes());
    msg[9..17].copy_from_slice(&t.pingpong_chunk_ns.to_ne_bytes());
    msg[17..25].copy_from_slice(&t.per_chunk.to_ne_bytes());
    msg
}

/// Decodes child A's result message.
fn decode(msg: &[u8; MSG_LEN], policy: Policy, cpu: usize) -> Result<Timings, CtxSwitchError> {
    match msg[0] {
        0 => {}
        CHILD_FAIL_POLICY => return Err(CtxSwitchError::PolicyNotPermitted { policy, cpu }),
        _ => return Err(CtxSwitchError::ChildIo),
    }
    let u = |r: std::ops::Range<usize>| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&msg[r]);
        u64::from_ne_bytes(b)
    };
    Ok(Timings {
        pipe_chunk_ns: u(1..9),
        pingpong_chunk_ns: u(9..17),
        per_chunk: u(17..25).max(1),
    })
}

/// Turns the fastest chunks into the measurement: half a round trip minus the pipe cost.
fn from_timings(t: Timings, policy: Policy, cpu: usize) -> Result<CtxSwitch, CtxSwitchError> {
    let n = t.per_chunk.max(1) as f64;
    let pipe_overhead_ns = t.pipe_chunk_ns as f64 / n;
    let raw_ns = t.pingpong_chunk_ns as f64 / n / 2.0;
    if raw_ns <= pipe_overhead_ns {
        return Err(CtxSwitchError::TooNoisy {
            pipe_ns: pipe_overhead_ns,
            half_round_trip_ns: raw_ns,
        });
    }
    Ok(CtxSwitch {
        policy,
        cpu,
        raw_ns,
        pipe_overhead_ns,
        ns: raw_ns - pipe_overhead_ns,
    })
}

/// Child B: echoes every token from `b_r` back on `a_w`. Never returns.
fn child_echo(cpu: usize, kpol: i32, rt: bool, b_r: i32, a_w: i32, tokens: u64) -> ! {
    bound(rt);
    if sys::pin(cpu).is_err() || sys::set_policy(kpol).is_err() {
        sys::exit(CHILD_FAIL_POLICY as i32);
    }
    let mut tok = [0u8; 1];
    for _ in 0..tokens {
        if !sys::read_exact(b_r, &mut tok) || !sys::write_all(a_w, &tok) {
            sys::exit(CHILD_FAIL_IO as i32);
        }
    }
    sys::exit(0);
}

/// Child A: times the pipe alone, then the ping-pong with B, and reports on `res_w`.
/// Never returns.
fn child_measure(cpu: usize, kpol: i32, rt: bool, fds: [i32; 3], per: u64) -> ! {
    let [a_r, b_w, res_w] = fds;
    bound(rt);
    if sys::pin(cpu).is_err() || sys::set_policy(kpol).is_err() {
        fail_child(res_w, CHILD_FAIL_POLICY);
    }
    let Ok((s_r, s_w)) = sys::pipe() else {
        fail_child(res_w, CHILD_FAIL_IO);
    };
    let mut tok = [7u8; 1];
    // CHUNKS chunks each; the fastest chunk of each kind is kept (preemptions by other load
    // only ever add time).
    let mut best = |w: i32, r: i32| -> u64 {
        let mut best = u64::MAX;
        for _ in 0..CHUNKS {
            let t0 = sys::now_ns();
            for _ in 0..per {
                if !sys::write_all(w, &tok) || !sys::read_exact(r, &mut tok) {
                    fail_child(res_w, CHILD_FAIL_IO);
                }
            }
            best = best.min(sys::now_ns() - t0);
        }
        best
    };
    let pipe_chunk_ns = best(s_w, s_r);
    let pingpong_chunk_ns = best(b_w, a_r);
    let t = Timings {
        pipe_chunk_ns,
        pingpong_chunk_ns,
        per_chunk: per,
    };
    sys::write_all(res_w, &encode(0, t));
    sys::exit(0);
}

/// Child A's failure path: reports `status` to the parent and exits.
fn fail_child(res_w: i32, status: u8) -> ! {
    let t = Timings {
        pipe_chunk_ns: 0,
        pingpong_chunk_ns: 0,
        per_chunk: 0,
    };
    sys::write_all(res_w, &encode(status, t));
    sys::exit(0);
}

/// Real-time children may not run more than 2 s of CPU without blocking, nor live > 10 s.
fn bound(rt: bool) {
    if rt {
        sys::bound(2_000_000, 10);
    } else {
        sys::bound(u64::MAX, 10);
    }
}

/// Measures the context-switch latency between two processes pinned to `cpu` under
/// `policy`, with `round_trips` ping-pongs in 10 chunks; the fastest chunk of the pipe-only
/// loop and of the ping-pong are kept (other load only adds time). FIFO/RR need
/// CAP_SYS_NICE; `cpu` 0 is refused for them.
pub fn context_switch(
    policy: Policy,
    cpu: usize,
    round_trips: usize,
) -> Result<CtxSwitch, CtxSwitchError> {
    let rt = matches!(policy, Policy::Fifo | Policy::Rr);
    if rt && cpu == 0 {
        return Err(CtxSwitchError::RealtimeOnCore0);
    }
    let kpol = policy.to_kernel();
    let pipe = || {
        sys::pipe().map_err(|source| CtxSwitchError::Os {
            what: "pipe",
            source,
        })
    };
    let close_all = |fds: &[i32]| fds.iter().for_each(|f| sys::close(*f));
    let (a_r, a_w) = pipe()?; // B -> A
    let (b_r, b_w) = match pipe() {
        Ok(p) => p, // A -> B
        Err(e) => {
            close_all(&[a_r, a_w]);
            return Err(e);
        }
    };
    let (res_r, res_w) = match pipe() {
        Ok(p) => p, // A -> parent
        Err(e) => {
            close_all(&[a_r, a_w, b_r, b_w]);
            return Err(e);
        }
    };
    let per = (round_trips.max(1) as u64 / CHUNKS).max(1);
    let fork_err = |source| CtxSwitchError::Os {
        what: "fork",
        source,
    };

    let pid_b = match sys::fork() {
        Ok(0) => {
            close_all(&[a_r, b_w, res_r, res_w]);
            child_echo(cpu, kpol, rt, b_r, a_w, per * CHUNKS);
        }
        Ok(pid) => pid,
        Err(e) => {
            close_all(&[a_r, a_w, b_r, b_w, res_r, res_w]);
            return Err(fork_err(e));
        }
    };
    let pid_a = match sys::fork() {
        Ok(0) => {
            close_all(&[a_w, b_r, res_r]);
            child_measure(cpu, kpol, rt, [a_r, b_w, res_w], per);
        }
        Ok(pid) => pid,
        Err(e) => {
            close_all(&[a_r, a_w, b_r, b_w, res_r, res_w]);
            sys::wait_child(pid_b, Duration::from_millis(1));
            return Err(fork_err(e));
        }
    };
    // Parent: keep only the result pipe's read end.
    close_all(&[a_r, a_w, b_r, b_w, res_w]);
    let mut msg = [0u8; MSG_LEN];
    let got = sys::read_exact(res_r, &mut msg);
    sys::close(res_r);
    let timeout = Duration::from_secs(12);
    let ok_a = sys::wait_child(pid_a, timeout);
    let _ok_b = sys::wait_child(pid_b, timeout);
    if !got || !ok_a {
        return Err(CtxSwitchError::ChildFailed);
    }
    from_timings(decode(&msg, policy, cpu)?, policy, cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_message_roundtrip_and_statuses() {
        let t = Timings {
            pipe_chunk_ns: 1_000_000,
            pingpong_chunk_ns: 9_000_000,
            per_chunk: 1000,
        };
        assert_eq!(decode(&encode(0, t), Policy::Other, 1).unwrap(), t);
        assert!(matches!(
            decode(&encode(CHILD_FAIL_POLICY, t), Policy::Fifo, 1),
            Err(CtxSwitchError::PolicyNotPermitted {
                policy: Policy::Fifo,
                cpu: 1
            })
        ));
        assert!(matches!(
            decode(&encode(CHILD_FAIL_IO, t), Policy::Other, 1),
            Err(CtxSwitchError::ChildIo)
        ));
        // A zero round-trip count cannot divide by zero.
        let z = Timings { per_chunk: 0, ..t };
        assert_eq!(
            decode(&encode(0, z), Policy::Other, 1).unwrap().per_chunk,
            1
        );
    }

    #[test]
    fn timings_give_half_round_trip_minus_pipe() {
        let t = Timings {
            pipe_chunk_ns: 1_000_000,
            pingpong_chunk_ns: 9_000_000,
            per_chunk: 1000,
        };
        let c = from_timings(t, Policy::Batch, 1).unwrap();
        assert_eq!(c.pipe_overhead_ns, 1000.0);
        assert_eq!(c.raw_ns, 4500.0);
        assert_eq!(c.ns, 3500.0);
        let noisy = Timings {
            pingpong_chunk_ns: 1_500_000,
            ..t
        };
        let e = from_timings(noisy, Policy::Batch, 1).unwrap_err();
        assert!(matches!(e, CtxSwitchError::TooNoisy { .. }));
        assert!(e.to_string().contains("too noisy"), "{e}");
    }

    #[test]
    fn realtime_on_core_zero_is_refused_before_forking() {
        for p in [Policy::Fifo, Policy::Rr] {
            assert!(matches!(
                context_switch(p, 0, 10),
                Err(CtxSwitchError::RealtimeOnCore0)
            ));
        }
    }
}
