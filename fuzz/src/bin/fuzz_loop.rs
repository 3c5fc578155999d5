//! The stable fuzz loop: mutates each target's seed corpus with a seeded PRNG and runs the
//! targets, counting panics and identity violations.
//!
//! ```text
//! fuzz_loop [--target NAME|all] [--units N] [--inputs N] [--seed S] [--corpus DIR]
//!           [--artifacts DIR] [--max-len BYTES]
//! ```
//! `--units` bounds the checked units per target (frames for `frames`, lookups for `lpm`,
//! inputs for the text targets); `--inputs` bounds the inputs per target. The first failing
//! input of a target is written to `ARTIFACTS/<target>-<seed>.bin` (replay it with
//! `--corpus` pointing at a folder holding it). Exits 1 on any panic or violation.

use std::path::PathBuf;
use std::time::Instant;

use scc_fuzz::mutate::{read_corpus, run_loop};

fn main() {
    let mut target = "all".to_string();
    let mut units = 1_000_000u64;
    let mut inputs = u64::MAX;
    let mut seed = 1u64;
    let mut max_len = 4096usize;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut corpus = root.join("corpus");
    let mut artifacts = root.join("artifacts");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next().unwrap_or_else(|| {
                eprintln!("fuzz_loop: {a} needs a value");
                std::process::exit(2)
            })
        };
        let num = |s: String| -> u64 {
            s.replace('_', "").parse().unwrap_or_else(|_| {
                eprintln!("fuzz_loop: not a number: {s}");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--target" => target = val(),
            "--units" => units = num(val()),
            "--inputs" => inputs = num(val()),
            "--seed" => seed = num(val()),
            "--max-len" => max_len = num(val()) as usize,
            "--corpus" => corpus = PathBuf::from(val()),
            "--artifacts" => artifacts = PathBuf::from(val()),
            "-h" | "--help" => {
                println!(
                    "usage: fuzz_loop [--target NAME|all] [--units N] [--inputs N] [--seed S] [--corpus DIR] [--artifacts DIR] [--max-len BYTES]"
                );
                println!("targets: {}", scc_fuzz::TARGETS.map(|t| t.0).join(", "));
                return;
            }
            o => {
                eprintln!("fuzz_loop: unknown argument {o} (see --help)");
                std::process::exit(2);
            }
        }
    }
    let chosen: Vec<_> = scc_fuzz::TARGETS
        .iter()
        .filter(|(n, _)| target == "all" || *n == target)
        .collect();
    if chosen.is_empty() {
        eprintln!("fuzz_loop: unknown target {target}");
        std::process::exit(2);
    }
    // Panics are counted and reported once per target, not printed per input.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = 0;
    for (name, f) in chosen {
        let seeds = read_corpus(&corpus.join(name));
        let t0 = Instant::now();
        let s = run_loop(*f, &seeds, seed, units, inputs, max_len);
        let unit = if *name == "frames" {
            "frames"
        } else if *name == "lpm" {
            "lookups"
        } else {
            "units"
        };
        println!(
            "fuzz: {name}: {} {unit} in {} inputs ({} seeds, seed {seed}), {} panics, {} violations, {:.1} s",
            s.units,
            s.inputs,
            seeds.len(),
            s.panics,
            s.violations,
            t0.elapsed().as_secs_f64()
        );
        if let Some((input, msg)) = &s.first_failure {
            failed += 1;
            let _ = std::fs::create_dir_all(&artifacts);
            let path = artifacts.join(format!("{name}-{seed}.bin"));
            let saved = std::fs::write(&path, input).is_ok();
            println!(
                "fuzz: {name}: FAILED: {msg} (input {} bytes{})",
                input.len(),
                if saved {
                    format!(", saved to {}", path.display())
                } else {
                    String::new()
                }
            );
        }
    }
    if failed > 0 {
        std::process::exit(1);
    }
}
