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

    /// Send the frame to output `k` (0..[`MAX_OUTPUTS`]).
    #[inline]
    pub const fn out(k: u8) -> Self {
        Verdict(k & 0x7f)
    }

    /// Drop the frame for reason `r` (an index into the element's reasons).
    #[inline]
    pub const fn drop(r: u8) -> Self {
        Verdict(Self::DROP | (r & 0x7f))
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

    /// The drop reason index, or `None` when the frame goes to an output.
    #[inline]
    pub const fn reason(self) -> Option<u8> {
        if self.0 & Self::DROP != 0 {
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
}
