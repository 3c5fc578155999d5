//! Loss, reordering and duplicate accounting from sequence numbers (pure).
//!
//! A sliding window of [`SeqTracker::WINDOW`] sequence numbers below the highest one seen, held
//! in a pre-allocated bitmap (like IPsec anti-replay): a number above the highest is new (a gap
//! means frames are missing *so far*); one inside the window is a duplicate when its bit is set,
//! else a reordered (late) frame; one below the window is counted as reordered and as
//! `too_late` (it cannot be told apart from a duplicate any more).

use serde::{Deserialize, Serialize};

/// Counters of a [`SeqTracker`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqCounts {
    /// Distinct sequence numbers received.
    pub unique: u64,
    /// Frames that arrived after a higher sequence number (RFC 4737 reordered).
    pub reordered: u64,
    /// Frames whose sequence number had been received before.
    pub duplicates: u64,
    /// Reordered frames older than the window (duplicates among them are not detectable).
    pub too_late: u64,
    /// Largest distance (in sequence numbers) by which a reordered frame was late.
    pub max_reorder_distance: u64,
    /// Highest sequence number seen plus one (0 when nothing arrived).
    pub next_expected: u64,
}

impl SeqCounts {
    /// Frames lost out of `sent`: those never received (0 when more arrived than were sent).
    pub fn lost(&self, sent: u64) -> u64 {
        sent.saturating_sub(self.unique)
    }
}

/// Sequence number bookkeeping for one stream. No allocation after [`SeqTracker::new`].
#[derive(Debug, Clone)]
pub struct SeqTracker {
    bits: Box<[u64]>,
    counts: SeqCounts,
}

impl Default for SeqTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl SeqTracker {
    /// Sequence numbers tracked below the highest one (a power of two).
    pub const WINDOW: u64 = 1 << 16;

    /// An empty tracker (the stream starts at sequence number 0).
    pub fn new() -> Self {
        Self {
            bits: vec![0u64; (Self::WINDOW / 64) as usize].into_boxed_slice(),
            counts: SeqCounts::default(),
        }
    }

    fn bit(&self, seq: u64) -> (usize, u64) {
        let i = seq % Self::WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    fn clear(&mut self, seq: u64) {
        let (w, m) = self.bit(seq);
        self.bits[w] &= !m;
    }

    /// Accounts for one received sequence number.
    pub fn record(&mut self, seq: u64) {
        let c = &mut self.counts;
        if seq >= c.next_expected {
            // New highest: forget the window positions we skip over (they now stand for the
            // numbers in (next_expected..=seq]).
            let skip = seq - c.next_expected;
            if skip >= Self::WINDOW {
                self.bits.fill(0);
            } else {
                let from = c.next_expected;
                for s in from..seq {
                    self.clear(s);
                }
            }
            self.clear(seq);
            let (w, m) = self.bit(seq);
            self.bits[w] |= m;
            let c = &mut self.counts;
            c.next_expected = seq + 1;
            c.unique += 1;
            return;
        }
        let distance = c.next_expected - 1 - seq;
        if distance >= Self::WINDOW {
            c.reordered += 1;
            c.too_late += 1;
            c.unique += 1;
            c.max_reorder_distance = c.max_reorder_distance.max(distance);
            return;
        }
        let (w, m) = self.bit(seq);
        if self.bits[w] & m != 0 {
            self.counts.duplicates += 1;
        } else {
            self.bits[w] |= m;
            let c = &mut self.counts;
            c.reordered += 1;
            c.unique += 1;
            c.max_reorder_distance = c.max_reorder_distance.max(distance);
        }
    }

    /// The counters so far.
    pub fn counts(&self) -> SeqCounts {
        self.counts
    }
}
