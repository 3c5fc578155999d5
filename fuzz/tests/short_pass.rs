//! The short bounded fuzz pass CI runs (`cargo test -p scc-fuzz`): every seed of the corpus,
//! then seeded mutations of it, through every target; 0 panics and 0 identity violations.
//! The long run (>= 10^7 frames) is `fuzz_loop` in release mode (see fuzz/README.md).

use std::path::Path;

use scc_fuzz::mutate::{read_corpus, run_loop};

fn pass(name: &str, units: u64, inputs: u64) {
    let f = scc_fuzz::target(name).unwrap();
    let corpus = read_corpus(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(name),
    );
    assert!(!corpus.is_empty(), "no seed corpus for {name}");
    let s = run_loop(f, &corpus, 0x5cc, units, inputs, 4096);
    println!("{name}: {s:?}");
    assert!(s.inputs > corpus.len() as u64, "{name}: only the seeds ran");
    assert_eq!(
        (s.panics, s.violations),
        (0, 0),
        "{name}: first failure {:?}",
        s.first_failure
    );
}

#[test]
fn frames_short_pass() {
    pass("frames", 200_000, u64::MAX);
}

#[test]
fn chain_short_pass() {
    pass("chain", u64::MAX, 3_000);
}

#[test]
fn routes_short_pass() {
    pass("routes", u64::MAX, 5_000);
}

#[test]
fn rules_short_pass() {
    pass("rules", u64::MAX, 5_000);
}

#[test]
fn lpm_short_pass() {
    pass("lpm", u64::MAX, 300);
}

/// Every frame seed passes on its own and together they hold enough frames to fill batches.
#[test]
fn frame_seeds_forward_and_drop() {
    let corpus = read_corpus(&Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/frames"));
    let n: u64 = corpus
        .iter()
        .map(|c| scc_fuzz::frames(c).expect("seed passes"))
        .sum();
    assert!(n >= 60, "{n} frames in the seeds");
}
