//! cargo-fuzz target: frames into the router (fused and generic), firewall and forwarder.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = scc_fuzz::frames(data) {
        panic!("{e}");
    }
});
