//! The neighbour table's entries: state, timers, queued frames, and what one entry sends when
//! its timers run ([`tick`]). Pure logic over the pipeline's clock; no I/O.

use std::net::Ipv4Addr;

use super::{NeighConfig, Neighbour};
use crate::element::Outbox;
use crate::wire::MacAddr;
use crate::wire::build::{ARP_FRAME_LEN, arp_request};
use crate::wire::ethernet;

/// Initial capacity of a preallocated queue slot (a standard frame; a longer one grows its
/// slot once).
const SLOT_BYTES: usize = 2048;

/// Frames kept for one neighbour: a ring of buffers, reused.
#[derive(Debug, Clone)]
pub(super) struct FrameQueue {
    slots: Vec<Vec<u8>>,
    head: usize,
    len: usize,
}

impl FrameQueue {
    /// A queue of `capacity` frames; `prealloc`: the buffers are allocated now (else at their
    /// first use, then kept).
    pub(super) fn new(capacity: usize, prealloc: bool) -> Self {
        let slot = || {
            if prealloc {
                Vec::with_capacity(SLOT_BYTES)
            } else {
                Vec::new()
            }
        };
        Self {
            slots: (0..capacity).map(|_| slot()).collect(),
            head: 0,
            len: 0,
        }
    }

    /// Copies `frame` in; false when full.
    pub(super) fn push(&mut self, frame: &[u8]) -> bool {
        let cap = self.slots.len();
        if self.len >= cap {
            return false;
        }
        let slot = &mut self.slots[(self.head + self.len) % cap];
        slot.clear();
        slot.extend_from_slice(frame);
        self.len += 1;
        true
    }

    fn front_mut(&mut self) -> Option<&mut Vec<u8>> {
        if self.len == 0 {
            return None;
        }
        self.slots.get_mut(self.head)
    }

    fn pop(&mut self) {
        if self.len > 0 {
            self.head = (self.head + 1) % self.slots.len();
            self.len -= 1;
        }
    }

    /// Frames waiting.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Empties the queue; the number of frames it held.
    pub(super) fn clear(&mut self) -> usize {
        let n = self.len;
        self.len = 0;
        self.head = 0;
        n
    }
}

/// One neighbour's state.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) at: Neighbour,
    pub(super) mac: Option<MacAddr>,
    /// When the MAC was last confirmed (ns, the pipeline's clock).
    confirmed_ns: u64,
    /// When the last request was sent, if one is outstanding.
    last_probe_ns: Option<u64>,
    /// Requests sent since the last answer.
    probes: u32,
    /// A frame used the entry while it was stale or unresolved: a request is wanted.
    pub(super) wanted: bool,
    /// When a frame last used the entry (to pick one to reuse in a full table).
    pub(super) used_ns: u64,
    pub(super) queue: FrameQueue,
}

/// What an entry is, at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Reachable(MacAddr),
    Stale(MacAddr),
    Unresolved,
}

/// The element's counters, shared by the entries.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Counts {
    pub(super) requests: u64,
    pub(super) learned: u64,
    pub(super) released: u64,
    pub(super) held: u64,
}

impl Entry {
    pub(super) fn new(at: Neighbour, queue: FrameQueue) -> Self {
        Self {
            at,
            mac: None,
            confirmed_ns: 0,
            last_probe_ns: None,
            probes: 0,
            wanted: false,
            used_ns: 0,
            queue,
        }
    }

    /// Forgets everything and names another neighbour (the queue's buffers stay).
    pub(super) fn reuse(&mut self, at: Neighbour) {
        self.queue.clear();
        let queue = std::mem::replace(&mut self.queue, FrameQueue::new(0, false));
        *self = Self::new(at, queue);
    }

    pub(super) fn state(&self, now: u64, cfg: &NeighConfig) -> State {
        let Some(mac) = self.mac else {
            return State::Unresolved;
        };
        let age = now.saturating_sub(self.confirmed_ns);
        let reachable = cfg.reachable.as_nanos() as u64;
        let grace = cfg.retransmit.as_nanos() as u64 * u64::from(cfg.probes.max(1));
        if age < reachable {
            State::Reachable(mac)
        } else if age < reachable.saturating_add(grace) {
            State::Stale(mac)
        } else {
            State::Unresolved
        }
    }

    /// The neighbour answered (or asked for our address) with `mac`.
    pub(super) fn confirm(&mut self, mac: MacAddr, now: u64) {
        self.mac = Some(mac);
        self.confirmed_ns = now;
        self.last_probe_ns = None;
        self.probes = 0;
        self.wanted = false;
    }

    fn probe_due(&self, now: u64, cfg: &NeighConfig) -> bool {
        self.last_probe_ns
            .is_none_or(|t| now.saturating_sub(t) >= cfg.retransmit.as_nanos() as u64)
    }

    /// Sends a request "who has this neighbour? tell `src`"; false when the outbox is full.
    fn probe(
        &mut self,
        src: (Option<Ipv4Addr>, MacAddr),
        now: u64,
        out: &mut Outbox,
        c: &mut Counts,
    ) -> bool {
        let mut buf = [0u8; ARP_FRAME_LEN];
        let Ok(len) = arp_request(
            &mut buf,
            src.1,
            src.0.unwrap_or(Ipv4Addr::UNSPECIFIED),
            self.at.ip,
        ) else {
            return true;
        };
        if !out.push_new(self.at.port, &buf[..len]) {
            return false;
        }
        self.last_probe_ns = Some(now);
        self.probes += 1;
        self.wanted = false;
        c.requests += 1;
        true
    }
}

/// Runs entry `e`'s timers at `now`: releases its queue once resolved, sends the requests that
/// are due (from `src`, the address and MAC of the neighbour's port), gives up on the queue
/// after `cfg.probes` unanswered requests (`unresolved` counts those frames). Returns false
/// when the outbox is full (the caller stops; the rest waits for the next call).
pub(super) fn tick(
    e: &mut Entry,
    now: u64,
    cfg: &NeighConfig,
    src: (Option<Ipv4Addr>, MacAddr),
    out: &mut Outbox,
    c: &mut Counts,
    unresolved: &mut u64,
) -> bool {
    match e.state(now, cfg) {
        State::Reachable(mac) | State::Stale(mac) => {
            // Release what waited for this neighbour, oldest first.
            while let Some(f) = e.queue.front_mut() {
                if f.len() >= ethernet::HEADER_LEN {
                    ethernet::Frame::new_unchecked(&mut f[..]).set_dst_addr(mac);
                }
                if !out.push_held(e.at.port, f) {
                    return false;
                }
                e.queue.pop();
                c.held -= 1;
                c.released += 1;
            }
            let stale = matches!(e.state(now, cfg), State::Stale(_));
            !(stale && e.wanted && e.probe_due(now, cfg)) || e.probe(src, now, out, c)
        }
        State::Unresolved => {
            e.mac = None;
            if (!e.wanted && e.queue.len() == 0) || !e.probe_due(now, cfg) {
                return true;
            }
            if e.probes >= cfg.probes {
                // No answer to `probes` requests: give up on what waits.
                let n = e.queue.clear() as u64;
                c.held -= n;
                *unresolved += n;
                e.probes = 0;
                e.last_probe_ns = None;
                e.wanted = false;
                return true;
            }
            e.probe(src, now, out, c)
        }
    }
}
