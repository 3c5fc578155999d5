//! The element model: pure, batch-in/batch-out processing steps (FastClick style).
//!
//! An element receives a whole [`Batch`] plus a selection (`sel`: the indices of the frames that
//! are at this element) and writes one [`Verdict`] per selected frame into a caller-provided
//! array: "go to output k" or "drop for reason r". Elements own no I/O and allocate nothing per
//! frame; the [`crate::graph::Pipeline`] that composes them owns the verdict, selection and
//! annotation arrays (sized once for the largest batch), counts the drops by reason and moves the
//! frames along the graph's edges.

use scc_io::Batch;

use crate::wire::MacAddr;

/// Largest number of outputs of one element.
pub const MAX_OUTPUTS: usize = 16;

/// What happens to one frame after an element: an output index or a drop with a reason index
/// (both small integers; a reason index names one of the element's [`Element::drop_reason`]s).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Verdict(u8);

impl Verdict {
    const DROP: u8 = 0x80;
    /// The element kept the frame (a copy): neither an output nor a drop (see
    /// [`Verdict::held`]).
    const HELD: u8 = 0xff;

    /// Send the frame to output `k` (0..[`MAX_OUTPUTS`]).
    #[inline]
    pub const fn out(k: u8) -> Self {
        Verdict(k & 0x7f)
    }

    /// Drop the frame for reason `r` (an index into the element's reasons, below 127).
    #[inline]
    pub const fn drop(r: u8) -> Self {
        let r = r & 0x7f;
        Verdict(Self::DROP | if r == 0x7f { 0x7e } else { r })
    }

    /// The element copied the frame and keeps it (e.g. `ArpQuerier` until the next hop is
    /// resolved): the pipeline neither sends nor counts it as a drop; the element reports it in
    /// [`Element::held`] and sends it later through [`Element::originate`].
    #[inline]
    pub const fn held() -> Self {
        Verdict(Self::HELD)
    }

    /// True for [`Verdict::held`].
    #[inline]
    pub const fn is_held(self) -> bool {
        self.0 == Self::HELD
    }

    /// The output index, or `None` for a drop.
    #[inline]
    pub const fn output(self) -> Option<u8> {
        if self.0 & Self::DROP == 0 {
            Some(self.0)
        } else {
            None
        }
    }

    /// The encoded byte (for fast comparisons of whole verdict arrays).
    #[inline]
    pub(crate) const fn raw(self) -> u8 {
        self.0
    }

    /// The drop reason index, or `None` when the frame goes to an output or is held.
    #[inline]
    pub const fn reason(self) -> Option<u8> {
        if self.0 & Self::DROP != 0 && self.0 != Self::HELD {
            Some(self.0 & 0x7f)
        } else {
            None
        }
    }
}

/// Per-frame annotations carried along the graph (Click's packet annotations).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Anno {
    /// Output port chosen by routing (an index into the NF's ports; see
    /// [`crate::graph::Target::Routed`]).
    pub out_port: u8,
    /// Destination MAC chosen by routing (the route's gateway), when set.
    pub dst_mac: Option<MacAddr>,
    /// The NF port the frame came in by (Click's `Paint` annotation), set by the pipeline.
    pub in_port: u8,
    /// The frame is an error message this NF made: `FixIpSrc` sets its IPv4 source to the
    /// address of the port it leaves by (Click's FIX_IP_SRC annotation).
    pub fix_src: bool,
    /// The route's next hop is resolved by ARP: entry `neigh - 1` of the `ArpQuerier`'s
    /// neighbour table (see [`crate::neigh`]); 0 when the route names a MAC.
    pub neigh: u16,
}

/// Frames an NF sends of its own accord, outside the batch it received: ARP requests
/// ([`Outbox::push_new`], counted as originated) and frames an element kept and now releases
/// ([`Outbox::push_held`]). Filled by [`Element::originate`] through
/// [`crate::graph::Pipeline::originate`]; the NF sends each port's list like a batch's.
#[derive(Debug)]
pub struct Outbox {
    batch: Batch,
    ports: Vec<Vec<u16>>,
    originated: u64,
}

impl Outbox {
    /// An outbox for `n_ports` ports holding up to `capacity` frames of up to `frame_size`
    /// bytes per round.
    pub fn new(
        n_ports: usize,
        capacity: usize,
        frame_size: usize,
    ) -> Result<Self, scc_io::IoError> {
        Ok(Self {
            batch: Batch::new(capacity, frame_size)?,
            ports: (0..n_ports).map(|_| Vec::with_capacity(capacity)).collect(),
            originated: 0,
        })
    }

    /// Empties the lists (the count of originated frames stays).
    pub fn clear(&mut self) {
        self.batch.clear();
        for p in &mut self.ports {
            p.clear();
        }
    }

    fn push(&mut self, port: u8, frame: &[u8]) -> bool {
        let i = self.batch.len();
        if usize::from(port) >= self.ports.len() || self.batch.push(frame).is_err() {
            return false;
        }
        self.ports[usize::from(port)].push(i as u16);
        true
    }

    /// Adds a frame the NF made (counted in [`Outbox::originated`]); false when full.
    pub fn push_new(&mut self, port: u8, frame: &[u8]) -> bool {
        let ok = self.push(port, frame);
        self.originated += u64::from(ok);
        ok
    }

    /// Adds a frame the NF received earlier and kept; false when full.
    pub fn push_held(&mut self, port: u8, frame: &[u8]) -> bool {
        self.push(port, frame)
    }

    /// True when no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// The frames.
    pub fn batch(&self) -> &Batch {
        &self.batch
    }

    /// Indices into [`Outbox::batch`] of the frames for port `p`.
    pub fn port_frames(&self, p: usize) -> &[u16] {
        self.ports.get(p).map_or(&[], |v| v.as_slice())
    }

    /// Frames made by the NF so far (all rounds).
    pub fn originated(&self) -> u64 {
        self.originated
    }
}

/// What an element sees besides the frames.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Monotonic time in nanoseconds (for rate limits), read once per batch.
    pub now_ns: u64,
    /// Annotations, indexed by frame index in the batch.
    pub anno: &'a mut [Anno],
}

/// A processing step. See the module documentation.
pub trait Element: Send {
    /// The element's class name (as in NF configuration files), e.g. `"CheckIpHeader"`.
    fn class(&self) -> &'static str;

    /// Number of outputs (at least 1, at most [`MAX_OUTPUTS`]).
    fn n_outputs(&self) -> usize {
        1
    }

    /// Names of the outputs, for configuration errors and documentation.
    fn output_names(&self) -> &'static [&'static str] {
        &["out"]
    }

    /// Number of distinct drop reasons.
    fn n_drop_reasons(&self) -> usize;

    /// Name of drop reason `r` (stable, snake_case; used as the key in counters).
    fn drop_reason(&self, r: u8) -> &str;

    /// Processes the frames `sel` of `batch` (indices, in arrival order), writing a verdict for
    /// `sel[k]` into `out[k]`. `out.len() == sel.len()`.
    fn process(&mut self, cx: &mut Ctx<'_>, batch: &mut Batch, sel: &[u16], out: &mut [Verdict]);

    /// Reports event counters that are not drops (e.g. ICMP errors sent, ARP replies).
    fn events(&self, _report: &mut dyn FnMut(&str, u64)) {}

    /// True when the element sends frames of its own accord ([`Element::originate`]); asked
    /// once, when the element joins a pipeline.
    fn originates(&self) -> bool {
        false
    }

    /// Adds the frames due now (requests, released frames) to `out`; frames it gives up on are
    /// counted in `drops` (indexed by the element's drop reasons). Called after every batch and
    /// while the NF is idle (at least every 100 ms), for elements that [`Element::originates`].
    fn originate(&mut self, _now_ns: u64, _out: &mut Outbox, _drops: &mut [u64]) {}

    /// Frames the element keeps now ([`Verdict::held`], not yet sent or dropped).
    fn held(&self) -> u64 {
        0
    }
}
