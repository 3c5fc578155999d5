//! cargo-fuzz target: see `scc_fuzz::rules`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = scc_fuzz::rules(data) {
        panic!("{e}");
    }
});
