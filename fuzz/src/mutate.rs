//! The stable fuzz loop: seeded mutations of a corpus (bit flips, byte sets, inserts,
//! deletes, duplicated ranges, splices with another corpus entry, truncation), each input run
//! through a target with panics caught and counted.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use scc_nf::lpm::XorShift;

use crate::Verdict;

/// The outcome of [`run_loop`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Inputs run.
    pub inputs: u64,
    /// Units the target checked (frames for `frames`, lookups for `lpm`, ...).
    pub units: u64,
    /// Inputs that panicked.
    pub panics: u64,
    /// Inputs that broke an identity or a reference comparison.
    pub violations: u64,
    /// The first failing input and its message, if any.
    pub first_failure: Option<(Vec<u8>, String)>,
}

/// Reads every file of a corpus folder (sorted by name); a missing folder gives none.
pub fn read_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    paths
        .into_iter()
        .filter(|p| p.is_file())
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

fn below(rng: &mut XorShift, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (rng.next() % n as u64) as usize
    }
}

/// One mutation of `input` (in place), with `other` as the splice partner.
pub fn mutate(rng: &mut XorShift, input: &mut Vec<u8>, other: &[u8], max_len: usize) {
    let rounds = 1 + below(rng, 4);
    for _ in 0..rounds {
        let len = input.len();
        match below(rng, 8) {
            0 if len > 0 => {
                let i = below(rng, len);
                input[i] ^= 1 << below(rng, 8);
            }
            1 if len > 0 => {
                let i = below(rng, len);
                const INTERESTING: [u8; 8] = [0, 1, 0x7f, 0x80, 0xff, 20, 64, 255 - 14];
                input[i] = if rng.next() & 1 == 0 {
                    INTERESTING[below(rng, INTERESTING.len())]
                } else {
                    rng.next() as u8
                };
            }
            2 => {
                let i = below(rng, len + 1);
                let n = 1 + below(rng, 16);
                for _ in 0..n {
                    input.insert(i, rng.next() as u8);
                }
            }
            3 if len > 0 => {
                let i = below(rng, len);
                let n = 1 + below(rng, (len - i).min(32));
                input.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = below(rng, len);
                let n = 1 + below(rng, (len - i).min(64));
                let copy = input[i..i + n].to_vec();
                let at = below(rng, len + 1);
                input.splice(at..at, copy);
            }
            5 if !other.is_empty() => {
                let cut = below(rng, len + 1);
                let from = below(rng, other.len());
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            6 if len > 0 => input.truncate(below(rng, len)),
            _ => {
                let n = 1 + below(rng, 64);
                input.extend((0..n).map(|_| rng.next() as u8));
            }
        }
    }
    input.truncate(max_len);
}

/// Runs `target` on mutations of `corpus` until `units` units were checked or `max_inputs`
/// inputs were run, whichever comes first (the corpus entries themselves run first).
/// Deterministic for a given `seed`.
pub fn run_loop(
    target: fn(&[u8]) -> Verdict,
    corpus: &[Vec<u8>],
    seed: u64,
    units: u64,
    max_inputs: u64,
    max_len: usize,
) -> LoopStats {
    let mut rng = XorShift(seed | 1);
    let mut s = LoopStats::default();
    let empty = [Vec::new()];
    let corpus = if corpus.is_empty() {
        &empty[..]
    } else {
        corpus
    };
    let mut input = Vec::with_capacity(max_len);
    while s.units < units && s.inputs < max_inputs {
        input.clear();
        let k = s.inputs as usize;
        if k < corpus.len() {
            input.extend_from_slice(&corpus[k]);
        } else {
            input.extend_from_slice(&corpus[below(&mut rng, corpus.len())]);
            let other = &corpus[below(&mut rng, corpus.len())];
            mutate(&mut rng, &mut input, other, max_len);
        }
        s.inputs += 1;
        match catch_unwind(AssertUnwindSafe(|| target(&input))) {
            Ok(Ok(n)) => s.units += n.max(1),
            Ok(Err(msg)) => {
                s.violations += 1;
                s.first_failure.get_or_insert_with(|| (input.clone(), msg));
            }
            Err(p) => {
                s.panics += 1;
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                s.first_failure
                    .get_or_insert_with(|| (input.clone(), format!("panic: {msg}")));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_is_deterministic_and_bounded() {
        let run = |seed| {
            let mut rng = XorShift(seed);
            let mut v = b"hello world".to_vec();
            for _ in 0..100 {
                mutate(&mut rng, &mut v, b"other", 64);
                assert!(v.len() <= 64);
            }
            v
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn loop_counts_panics_and_violations() {
        fn picky(d: &[u8]) -> Verdict {
            match d.first() {
                Some(0xff) => panic!("boom"),
                Some(0xfe) => Err("bad".into()),
                _ => Ok(1),
            }
        }
        let s = run_loop(picky, &[vec![0xff], vec![0xfe], vec![1]], 1, 1000, 3, 16);
        assert_eq!((s.inputs, s.panics, s.violations, s.units), (3, 1, 1, 1));
        assert!(s.first_failure.unwrap().1.contains("boom"));
    }
}
