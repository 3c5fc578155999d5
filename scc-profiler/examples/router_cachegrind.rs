//! The simulated fallback on a real NF: scc-nf's `router` preset over in-memory ports,
//! run under valgrind's cachegrind for two packet counts; the difference gives the router's
//! **user-space** data references per packet (D1 hits, LL hits, LL misses), which the model
//! turns into `L_D1`, `L_D3` and `L_DM` (labelled simulated).
//!
//! `cargo run --release -p scc-profiler --example router_cachegrind -- [LATENCY_TABLE]`
//! (LATENCY_TABLE: `paper` (default) or a file saved by `scc sysbench --save`).

use std::net::Ipv4Addr;
use std::time::Duration;

use scc_io::mem::pair;
use scc_io::{Batch, Port};
use scc_nf::config::{Env, NfConfig, PollMode, Preset, build_pipeline};
use scc_nf::nf::{Nf, NfOptions};
use scc_nf::wire::MacAddr;
use scc_nf::wire::build::UdpFrame;
use scc_profiler::cachegrind;
use scc_profiler::model::model_nf;
use scc_profiler::sysbench::load_latency_table;

const BATCH: usize = 32;

/// Forwards `batches` batches of 32 64-byte frames through the router; returns frames out.
fn forward(batches: usize) -> u64 {
    let (mut gen_tx, fwd_in) = pair("gen", "fwd-in", 256, 2048).expect("mem pair");
    let (fwd_out, mut sink) = pair("fwd-out", "sink", 256, 2048).expect("mem pair");
    let cfg = NfConfig {
        preset: Some(Preset::Router),
        routes: vec!["198.18.0.0/15".into()],
        ..Default::default()
    };
    let env = Env {
        src_mac: MacAddr([0x02, 0, 0, 0, 0, 0xaa]),
        gw_mac: Some(MacAddr([0x02, 0, 0, 0, 0, 0x22])),
        addrs: vec![Ipv4Addr::new(198, 18, 0, 254)],
        mtu: 1500,
        icmp_rate: 1000,
    };
    let pipeline = build_pipeline(&cfg, &env).expect("router pipeline");
    let ports: Vec<Box<dyn Port>> = vec![Box::new(fwd_in), Box::new(fwd_out)];
    let opts = NfOptions {
        name: "router".into(),
        kind: "router".into(),
        batch: BATCH,
        frame_size: 2048,
        poll: PollMode::Busy,
        spin: Duration::from_micros(0),
        stats_file: None,
    };
    let mut nf = Nf::new(pipeline, ports, vec![0, 1], opts).expect("nf");
    let mut input = Batch::with_capacity(BATCH).expect("batch");
    for i in 0..BATCH {
        let spec = UdpFrame {
            src_mac: MacAddr([0x02, 0, 0, 0, 0, 0x11]),
            dst_mac: MacAddr([0x02, 0, 0, 0, 0, 0xaa]),
            src_ip: Ipv4Addr::new(198, 18, 0, 1),
            dst_ip: Ipv4Addr::new(198, 19, 0, i as u8 + 1),
            src_port: 4000,
            dst_port: 5000,
            ttl: 64,
            ident: i as u16,
            dont_frag: false,
            udp_checksum: true,
        };
        let mut b = vec![0u8; 64];
        let n = spec.write(&mut b, &[0xab; 22]).expect("frame");
        input.push(&b[..n]).expect("push");
    }
    let mut drain = Batch::with_capacity(BATCH).expect("batch");
    let mut out = 0;
    for _ in 0..batches {
        gen_tx.send_batch(&input).expect("send");
        nf.poll_once().expect("poll");
        drain.clear();
        out += sink.recv_batch(&mut drain).expect("recv") as u64;
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let batches: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let out = forward(batches);
        assert_eq!(out, (batches * BATCH) as u64, "every frame forwarded");
        return Ok(());
    }
    let table = load_latency_table(args.first().map(String::as_str).unwrap_or("paper"))?;
    let version = cachegrind::detect().map_err(|e| format!("cannot simulate: {e}"))?;
    let exe = std::env::current_exe()?;
    let topo = scc_profiler::sysbench::topology();
    // Simulate the LL as this host's L3, not valgrind's CPUID guess.
    let ll = topo
        .l3_bytes
        .map(|s| cachegrind::ll_config(s, topo.line_bytes.unwrap_or(64)));
    let dir = std::env::temp_dir();
    let (b1, b2) = (100usize, 1100usize);
    let s1 = cachegrind::run(&exe, &["--child".into(), b1.to_string()], ll, &dir)?;
    let s2 = cachegrind::run(&exe, &["--child".into(), b2.to_string()], ll, &dir)?;
    let packets = ((b2 - b1) * BATCH) as u64;
    let d = s2.minus(&s1);
    let counts = d.nf_counts("router (simulated)", packets);
    let m = model_nf(&counts, &table);
    println!("{version}, LL {ll:?}: {packets} packets through scc-nf's router over mem ports");
    println!(
        "per packet: {:.0} instructions, {:.1} data refs, {:.2} D1 misses, {:.3} LL misses (user space only)",
        d.instructions as f64 / packets as f64,
        d.d_refs as f64 / packets as f64,
        d.d1_misses as f64 / packets as f64,
        d.lld_misses as f64 / packets as f64
    );
    let f = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or("n/a".into());
    println!(
        "model ({}): partial sum {:.1} ns/packet (missing {}); L_D1 {} ns, L_D3 {} ns, L_DM {} ns; simulated = {}",
        table.source,
        m.known_sum_ns(),
        m.missing_terms.join(" "),
        f(m.terms.d1),
        f(m.terms.d3),
        f(m.terms.dm),
        m.simulated
    );
    for (t, why) in &m.unavailable {
        println!("  {t}: {why}");
    }
    Ok(())
}
