//! Tests of `scc_launcher::traffic`: probe wire format, pacing arithmetic, sequence accounting,
//! latency summaries, and generator -> sink runs over in-memory ports (and over a veth pair in
//! a sandboxed namespace once the kernel backends are there). No timed assertions.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use scc_io::link::{Netlink, VethPair};
use scc_io::netns::NetNs;
use scc_io::{Batch, Driver, Port, PortConfig};
use scc_launcher::traffic::pace::{Pacer, Wait, wait_plan};
use scc_launcher::traffic::probe::{MIN_PROBE_FRAME, ProbeFactory, stamp};
use scc_launcher::traffic::seq::SeqTracker;
use scc_launcher::traffic::*;
use scc_nf::wire::ipv4;

fn factory(cfg: &ProbeConfig) -> ProbeFactory {
    ProbeFactory::new(cfg, 0x1234).unwrap()
}

fn frame(f: &ProbeFactory, k: u64, seq: u64, ts: u64) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let n = f.write(k, seq, &mut buf).unwrap();
    buf.truncate(n);
    stamp(&mut buf, ts);
    buf
}

#[test]
fn probe_round_trip_over_flows_and_sizes() {
    let cfg = ProbeConfig {
        flows: 5,
        spread: FlowSpread::Both,
        frame_size: FrameSizes::imix(),
        ..ProbeConfig::default()
    };
    let f = factory(&cfg);
    assert_eq!(f.max_len(), 1514);
    for k in 0..40u64 {
        let seq = k + (1 << 40);
        let bytes = frame(&f, k, seq, 123_456_789 + k);
        assert_eq!(bytes.len(), f.len_of(k));
        let p = Probe::parse(&bytes).unwrap();
        assert_eq!(p.stream, 0x1234);
        assert_eq!(p.seq, seq);
        assert_eq!(p.ts_ns, 123_456_789 + k);
        let flow = (k % 5) as u32;
        assert_eq!(p.src_ip, Ipv4Addr::from(u32::from(cfg.src_ip) + flow));
        assert_eq!(p.src_port, cfg.src_port + flow as u16);
        assert_eq!(p.dst_ip, cfg.dst_ip);
        assert_eq!(p.dst_port, cfg.dst_port);
        assert_eq!(p.ttl, 64);
        assert_eq!(p.len, bytes.len());
        assert_eq!(&bytes[0..6], &cfg.dst_mac.0);
        assert_eq!(&bytes[6..12], &cfg.src_mac.0);
    }
    // The 48-bit sequence number wraps rather than spilling into other fields.
    let p = Probe::parse(&frame(&f, 0, (1 << 48) + 7, 1)).unwrap();
    assert_eq!(p.seq, 7);
}

#[test]
fn smallest_probe_is_62_bytes_and_fits_64() {
    assert_eq!(MIN_PROBE_FRAME, 62);
    for size in [62, 64] {
        let cfg = ProbeConfig {
            frame_size: FrameSizes::Fixed(size),
            ..ProbeConfig::default()
        };
        let b = frame(&factory(&cfg), 3, 3, 99);
        assert_eq!(b.len(), size);
        assert_eq!(Probe::parse(&b).unwrap().seq, 3);
    }
}

#[test]
fn malformed_probes_are_rejected_without_panic() {
    let f = factory(&ProbeConfig::default());
    let good = frame(&f, 0, 42, 7);
    // Every truncation.
    for n in 0..good.len() {
        assert!(Probe::parse(&good[..n]).is_err(), "truncated to {n}");
    }
    let mutate = |i: usize, v: u8| {
        let mut b = good.clone();
        b[i] = v;
        Probe::parse(&b)
    };
    assert_eq!(mutate(12, 0x86), Err(ProbeError::NotIpv4)); // EtherType
    assert_eq!(mutate(14, 0x65), Err(ProbeError::NotIpv4)); // version 6
    assert_eq!(mutate(14, 0x44), Err(ProbeError::BadIpHeader)); // IHL 4
    assert_eq!(mutate(16, 0xff), Err(ProbeError::BadIpHeader)); // total length > frame
    assert_eq!(mutate(22, 63), Err(ProbeError::BadIpChecksum)); // TTL without checksum update
    assert_eq!(mutate(42, b'X'), Err(ProbeError::BadMagic));
    // Protocol and fragment changes with a fixed checksum.
    let fix = |mut b: Vec<u8>| {
        ipv4::Packet::new_unchecked(&mut b[14..34]).fill_checksum();
        Probe::parse(&b)
    };
    let mut b = good.clone();
    b[23] = 6;
    assert_eq!(fix(b), Err(ProbeError::NotUdp));
    let mut b = good.clone();
    b[20] = 0x20; // more fragments
    assert_eq!(fix(b), Err(ProbeError::NotUdp));
    let mut b = good.clone();
    b[38..40].copy_from_slice(&9u16.to_be_bytes()); // UDP length too short for a probe
    assert_eq!(Probe::parse(&b), Err(ProbeError::Truncated));
    // Pseudo-random garbage, also behind a valid-looking Ethernet + IPv4 start.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for round in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 200) as usize;
        let mut b: Vec<u8> = (0..len).map(|i| (x >> (i % 56)) as u8).collect();
        if round % 2 == 0 && len > 15 {
            b[12] = 0x08;
            b[13] = 0x00;
            b[14] = 0x45;
        }
        let _ = Probe::parse(&b);
    }
}

#[test]
fn probe_config_validation_names_the_field() {
    let bad = |c: ProbeConfig| match c.validate() {
        Err(TrafficError::Config { field, .. }) => field,
        other => panic!("expected a config error, got {other:?}"),
    };
    let d = ProbeConfig::default;
    assert_eq!(
        bad(ProbeConfig {
            dst_ip: Ipv4Addr::new(10, 0, 0, 1),
            ..d()
        }),
        "dst_ip"
    );
    assert_eq!(
        bad(ProbeConfig {
            src_ip: Ipv4Addr::new(198, 20, 0, 1),
            ..d()
        }),
        "src_ip"
    );
    assert_eq!(
        bad(ProbeConfig {
            src_ip: Ipv4Addr::new(198, 19, 255, 250),
            flows: 10,
            spread: FlowSpread::Addrs,
            ..d()
        }),
        "flows"
    );
    assert_eq!(
        bad(ProbeConfig {
            src_port: 65530,
            flows: 10,
            ..d()
        }),
        "flows"
    );
    assert_eq!(bad(ProbeConfig { flows: 0, ..d() }), "flows");
    assert_eq!(
        bad(ProbeConfig {
            frame_size: FrameSizes::Fixed(61),
            ..d()
        }),
        "frame_size"
    );
    assert_eq!(
        bad(ProbeConfig {
            frame_size: FrameSizes::Mix(vec![]),
            ..d()
        }),
        "frame_size"
    );
    assert!(
        ProbeConfig {
            src_ip: Ipv4Addr::new(198, 19, 255, 250),
            flows: 5,
            spread: FlowSpread::Addrs,
            ..d()
        }
        .validate()
        .is_ok()
    );
    assert!("02:00:00:00:00:0g".parse::<MacAddr>().is_err());
    assert!("02:00:00:00:00".parse::<MacAddr>().is_err());
    assert_eq!(
        "02:5c:c0:00:00:01".parse::<MacAddr>().unwrap().to_string(),
        "02:5c:c0:00:00:01"
    );
}

#[test]
fn size_mix_interleaves_in_proportion() {
    let c = FrameSizes::imix().cycle();
    assert_eq!(c.len(), 12);
    assert_eq!(c.iter().filter(|&&s| s == 64).count(), 7);
    assert_eq!(c.iter().filter(|&&s| s == 594).count(), 4);
    assert_eq!(c.iter().filter(|&&s| s == 1514).count(), 1);
    // Interleaved: no run of more than 2 equal sizes.
    assert!(c.windows(3).all(|w| !(w[0] == w[1] && w[1] == w[2])));
    // Deserialises from a number or a list.
    let f: FrameSizes = serde_json::from_str("64").unwrap();
    assert_eq!(f, FrameSizes::Fixed(64));
    let m: FrameSizes =
        serde_json::from_str(r#"[{"size":64,"weight":3},{"size":1514,"weight":1}]"#).unwrap();
    assert_eq!(m.cycle().len(), 4);
}

#[test]
fn pacing_arithmetic() {
    let p = Pacer::new(1000.0); // one frame per ms
    assert_eq!(p.due_total(0), 1);
    assert_eq!(p.due_total(999_999), 1);
    assert_eq!(p.due_total(1_000_000), 2);
    assert_eq!(p.due_total(10_500_000), 11);
    assert_eq!(p.due_now(10_500_000, 4, 32), 7);
    assert_eq!(p.due_now(10_500_000, 4, 3), 3);
    assert_eq!(p.due_now(10_500_000, 20, 32), 0);
    assert_eq!(p.due_at(0), 0);
    assert_eq!(p.due_at(7), 7_000_000);
    assert_eq!(p.frames_in(1_000_000_000), 1000);
    assert_eq!(p.frames_in(2_500_000), 3);
    assert_eq!(p.span_of(1000), 1_000_000_000);
    let q = Pacer::new(3.0);
    assert_eq!(q.due_at(1), 333_333_334);
    assert_eq!(q.due_total(333_333_333), 1);
    assert_eq!(q.due_total(333_333_334), 2);
    for bad in [0.0, -5.0, f64::NAN, f64::INFINITY] {
        let u = Pacer::new(bad);
        assert!(u.unpaced());
        assert_eq!(u.due_now(0, 1_000_000, 64), 64);
        assert_eq!(u.frames_in(1), u64::MAX);
    }
    assert_eq!(wait_plan(100, 50, 10), Wait::None);
    assert_eq!(wait_plan(100, 105, 10), Wait::Spin);
    assert_eq!(wait_plan(100, 1000, 50), Wait::SleepUntil(950));
}

#[test]
fn sequence_accounting_on_a_script() {
    let mut t = SeqTracker::new();
    for s in [0, 1, 2, 5, 3, 3, 4, 6, 6, 9, 8] {
        t.record(s);
    }
    let c = t.counts();
    assert_eq!(c.unique, 9); // 0..=6, 8, 9
    assert_eq!(c.duplicates, 2); // 3 and 6 again
    assert_eq!(c.reordered, 3); // 3 after 5, 4 after 5, 8 after 9
    assert_eq!(c.max_reorder_distance, 2); // 3 arrived 2 behind 5
    assert_eq!(c.next_expected, 10);
    assert_eq!(c.lost(10), 1); // 7 never came
    assert_eq!(c.lost(5), 0);
    // A frame older than the window is reordered (and too late to check for duplicates).
    let mut t = SeqTracker::new();
    t.record(SeqTracker::WINDOW + 10);
    t.record(5);
    t.record(SeqTracker::WINDOW + 9);
    t.record(SeqTracker::WINDOW + 9);
    let c = t.counts();
    assert_eq!(
        (c.unique, c.reordered, c.too_late, c.duplicates),
        (3, 2, 1, 1)
    );
    // Window positions reused after a jump do not look like duplicates.
    let mut t = SeqTracker::new();
    t.record(1);
    t.record(1 + SeqTracker::WINDOW);
    t.record(1 + 2 * SeqTracker::WINDOW - 1);
    t.record(1 + SeqTracker::WINDOW + 1);
    let c = t.counts();
    assert_eq!((c.unique, c.duplicates, c.reordered), (4, 0, 1));
}

#[test]
fn latency_summary_is_none_when_empty_and_ordered_otherwise() {
    let mut r = LatencyRecorder::new().unwrap();
    assert!(r.summary().is_none());
    for v in 1..=10_000u64 {
        r.record(1_000_000, 1_000_000 + v * 10);
    }
    r.record(10, 5);
    assert_eq!(r.future, 1);
    let s = r.summary().unwrap();
    assert_eq!(s.count, 10_000);
    assert!(s.p1 <= s.p25 && s.p25 <= s.p50 && s.p50 <= s.p75 && s.p75 <= s.p99 && s.p99 <= s.max);
    assert!((s.p50 - 50.0).abs() < 0.1, "p50 {}", s.p50);
    assert!((s.max - 100.0).abs() < 0.1, "max {}", s.max);
    assert!((s.mean - 50.0).abs() < 0.1, "mean {}", s.mean);
}

fn check_report(r: &TrafficReport, n: u64) {
    assert_eq!(r.sent, n);
    assert_eq!(r.generator.attempted, n);
    assert_eq!(r.received, n);
    assert_eq!(r.lost, 0);
    assert_eq!(r.duplicates, 0);
    assert_eq!(r.reordered, 0);
    assert_eq!(r.sink.probes, n);
    assert_eq!(r.sink.foreign, 0);
    let l = r.latency_us.expect("latency");
    assert_eq!(l.count, n);
    assert!(l.min > 0.0);
    assert!(l.p1 <= l.p25 && l.p25 <= l.p50 && l.p50 <= l.p75 && l.p75 <= l.p99 && l.p99 <= l.max);
    assert_eq!(r.histogram().map(|h| h.len()), Some(n));
}

#[test]
fn generator_to_sink_over_mem_ports_counts_exactly() {
    for poll in [PollMode::Sleep, PollMode::Busy, PollMode::Adaptive] {
        let (mut a, mut b) = scc_io::mem::pair("gen", "sink", 4096, 2048).unwrap();
        let mut cfg = TrafficConfig::default();
        cfg.generator.rate_pps = 20_000.0;
        cfg.generator.count = Some(2000);
        cfg.generator.duration_s = None;
        cfg.generator.probe.flows = 4;
        cfg.generator.probe.frame_size = FrameSizes::imix();
        cfg.sink.poll = poll;
        let r = run_loopback(&cfg, &mut a, &mut b, &AtomicBool::new(false)).unwrap();
        check_report(&r, 2000);
        assert_eq!(r.offered_pps, 20_000.0);
        assert!(r.achieved_pps > 0.0);
        assert_eq!(r.sink.poll, poll);
        // JSON contract keys.
        let v = serde_json::to_value(&r).unwrap();
        for k in [
            "offered_pps",
            "achieved_pps",
            "sent",
            "received",
            "lost",
            "latency_us",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        for k in ["p1", "p25", "p50", "p75", "p99", "max"] {
            assert!(v["latency_us"][k].is_number(), "missing latency_us.{k}");
        }
    }
}

#[test]
fn duration_mode_offers_rate_times_duration() {
    let (mut a, mut b) = scc_io::mem::pair("gen", "sink", 4096, 2048).unwrap();
    let mut cfg = TrafficConfig::default();
    cfg.generator.rate_pps = 10_000.0;
    cfg.generator.duration_s = Some(0.2);
    let r = run_loopback(&cfg, &mut a, &mut b, &AtomicBool::new(false)).unwrap();
    // The schedule holds rate x duration frames; a generator starved of CPU may give up some.
    // Each is received (counted by the sink), dropped on transmit (counted by the port) or
    // never offered (counted by the generator).
    assert_eq!(
        r.received + r.generator.tx_dropped + r.generator.unsent,
        2000
    );
    assert_eq!(r.sink.seq.next_expected, r.generator.attempted);
    check_report(&r, r.generator.attempted);
    assert!(r.generator.elapsed_s >= 0.2);
}

#[test]
fn unpaced_run_and_open_closures() {
    let (a, b) = scc_io::mem::pair("gen", "sink", 8192, 2048).unwrap();
    let mut cfg = TrafficConfig::default();
    cfg.generator.rate_pps = 0.0;
    cfg.generator.count = Some(5000);
    cfg.generator.duration_s = None;
    cfg.generator.batch = 64;
    let r = run_with(
        &cfg,
        move || Ok(Box::new(a) as Box<dyn Port>),
        move || Ok(Box::new(b) as Box<dyn Port>),
        &AtomicBool::new(false),
    )
    .unwrap();
    check_report(&r, 5000);
    assert!(r.generator.send_calls >= 5000 / 64);
}

#[test]
fn stop_flag_ends_an_unbounded_run() {
    let (mut a, mut b) = scc_io::mem::pair("gen", "sink", 4096, 2048).unwrap();
    let mut cfg = TrafficConfig::default();
    cfg.generator.rate_pps = 5_000.0;
    cfg.generator.duration_s = None;
    cfg.generator.count = None;
    let stop = AtomicBool::new(false);
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            stop.store(true, Ordering::Relaxed);
        });
        run_loopback(&cfg, &mut a, &mut b, &stop).unwrap()
    });
    assert!(r.generator.stopped);
    assert!(r.sent > 0);
    assert_eq!(r.received, r.sent);
    assert_eq!(r.lost, 0);
}

#[test]
fn sink_counts_non_probes_foreign_streams_and_broken_checksums() {
    let (mut a, mut b) = scc_io::mem::pair("x", "sink", 64, 2048).unwrap();
    let f = factory(&ProbeConfig::default());
    let other = ProbeFactory::new(&ProbeConfig::default(), 0x9999).unwrap();
    let mut out = Batch::new(16, 2048).unwrap();
    out.push(&[0xffu8; 60]).unwrap(); // not IPv4
    let mut broken = frame(&f, 0, 100, 1);
    broken[22] -= 1; // TTL decremented without a checksum update
    out.push(&broken).unwrap();
    out.push(&frame(&other, 0, 0, 1)).unwrap(); // another stream
    let now = scc_launcher::traffic::clock::now_ns();
    for s in [0u64, 2, 1, 2] {
        out.push(&frame(&f, s, s, now)).unwrap();
    }
    assert_eq!(a.send_batch(&out).unwrap(), 7);
    let mut sink = Sink::new(&SinkConfig {
        stream: Some(0x1234),
        ..SinkConfig::default()
    })
    .unwrap();
    let ctl = RunControl::new();
    ctl.generator_done(4);
    let r = sink.run(&mut b, &AtomicBool::new(false), &ctl).unwrap();
    assert_eq!(r.rx_frames, 7);
    assert_eq!(r.non_probe, 1);
    assert_eq!(r.bad_checksum, 1);
    assert_eq!(r.foreign, 1);
    assert_eq!(r.probes, 4);
    assert_eq!(r.received, 3);
    assert_eq!(r.reordered, 1);
    assert_eq!(r.duplicates, 1);
    assert_eq!(r.seq.lost(4), 1);
    assert!(!r.timed_out);
}

#[test]
fn sink_timeout_without_traffic_reports_no_latency() {
    let (_a, mut b) = scc_io::mem::pair("x", "sink", 64, 2048).unwrap();
    let mut sink = Sink::new(&SinkConfig {
        timeout_s: Some(0.05),
        ..SinkConfig::default()
    })
    .unwrap();
    let r = sink
        .run(&mut b, &AtomicBool::new(false), &RunControl::new())
        .unwrap();
    assert!(r.timed_out);
    assert_eq!(r.received, 0);
    assert!(r.latency_us.is_none());
    assert!(r.stream.is_none());
}

#[test]
fn config_errors_name_the_field() {
    let field = |c: TrafficConfig| match c.validate() {
        Err(TrafficError::Config { field, .. }) => field,
        other => panic!("expected a config error, got {other:?}"),
    };
    let mut c = TrafficConfig::default();
    c.generator.rate_pps = -1.0;
    assert_eq!(field(c), "rate_pps");
    let mut c = TrafficConfig::default();
    c.generator.batch = 0;
    assert_eq!(field(c), "batch");
    let mut c = TrafficConfig::default();
    c.generator.duration_s = Some(f64::NAN);
    assert_eq!(field(c), "duration_s");
    let mut c = TrafficConfig::default();
    c.sink.frame_size = 10;
    assert_eq!(field(c), "frame_size");
    // Unknown keys are errors; defaults fill the rest.
    assert!(serde_json::from_str::<TrafficConfig>(r#"{"generator":{"rate":5}}"#).is_err());
    let c: TrafficConfig = serde_json::from_str(
        r#"{"generator":{"rate_pps":5,"probe":{"frame_size":128}},"sink":{"poll":"busy"}}"#,
    )
    .unwrap();
    assert_eq!(c.generator.rate_pps, 5.0);
    assert_eq!(c.generator.probe.frame_size, FrameSizes::Fixed(128));
    assert_eq!(c.sink.poll, PollMode::Busy);
}

scc_io::sandbox_test!(
    /// A real run over a veth pair in a private namespace, with each generator driver (the sink
    /// on mmsg): every frame sent arrives, latencies are ordered. Modest rate, ~1 s in all.
    fn generator_to_sink_over_a_veth_pair() {
        let _pair = VethPair::create("tg0", "ts0").unwrap();
        let stop = AtomicBool::new(false);
        for (i, driver) in [Driver::Packet, Driver::Mmsg, Driver::Ring]
            .into_iter()
            .enumerate()
        {
            let mut cfg = TrafficConfig::default();
            cfg.generator.rate_pps = 10_000.0;
            cfg.generator.duration_s = Some(0.3);
            cfg.generator.stream = Some(100 + i as u16);
            cfg.sink.drain_ms = 500;
            let gen_pc = PortConfig::new("tg0", driver, 32);
            let sink_pc = PortConfig::new("ts0", Driver::Mmsg, 64);
            let wait = Duration::from_secs(2);
            let r = run_with(
                &cfg,
                || open_port_in(None, &gen_pc, wait),
                || open_port_in(None, &sink_pc, wait),
                &stop,
            )
            .unwrap();
            println!("{driver}: {}", r.to_text());
            // Every frame of the schedule is received (sink), dropped on transmit (port) or
            // never offered (generator): three parties' own counts.
            assert_eq!(
                r.received + r.generator.tx_dropped + r.generator.unsent,
                3000,
                "{driver}"
            );
            assert!(r.sent > 0, "{driver}");
            assert_eq!(
                r.sent + r.generator.tx_dropped,
                r.generator.attempted,
                "{driver}"
            );
            assert_eq!(r.received, r.sent, "{driver}");
            assert_eq!(r.lost, 0, "{driver}");
            assert_eq!(r.duplicates, 0, "{driver}");
            assert_eq!(r.sink.foreign, 0, "{driver}");
            let l = r.latency_us.expect("latency");
            assert_eq!(l.count, r.received);
            assert!(l.min > 0.0);
            assert!(l.p1 <= l.p25 && l.p25 <= l.p50 && l.p50 <= l.p75);
            assert!(l.p75 <= l.p99 && l.p99 <= l.max);
        }
    }
);

scc_io::sandbox_test!(
    /// Generator and sink each in a network namespace of their own (as the launcher places
    /// them at the chain's ends), the veth pair between them: ports opened through
    /// `open_port_in(Some(ns))`; every frame arrives.
    fn generator_and_sink_in_separate_namespaces() {
        let gen_ns = NetNs::new().unwrap();
        let sink_ns = NetNs::new().unwrap();
        let mut nl = Netlink::open_in(&gen_ns).unwrap();
        nl.create_veth_peer_in("tg1", "ts1", &sink_ns).unwrap();
        nl.set_up("tg1").unwrap();
        Netlink::open_in(&sink_ns).unwrap().set_up("ts1").unwrap();
        // Neither end is visible in the test's own namespace.
        assert!(Netlink::open().unwrap().link("tg1").unwrap().is_none());
        let mut cfg = TrafficConfig::default();
        cfg.generator.rate_pps = 5_000.0;
        cfg.generator.count = Some(1000);
        cfg.generator.duration_s = None;
        cfg.generator.probe.flows = 8;
        cfg.sink.drain_ms = 500;
        cfg.sink.poll = PollMode::Adaptive;
        let gen_pc = PortConfig::new("tg1", Driver::Mmsg, 32);
        let sink_pc = PortConfig::new("ts1", Driver::Packet, 32);
        let wait = Duration::from_secs(2);
        let r = run_with(
            &cfg,
            || open_port_in(Some(&gen_ns), &gen_pc, wait),
            || open_port_in(Some(&sink_ns), &sink_pc, wait),
            &AtomicBool::new(false),
        )
        .unwrap();
        println!("{}", r.to_text());
        assert_eq!(r.generator.attempted, 1000);
        assert_eq!(r.sent + r.generator.tx_dropped, 1000);
        assert_eq!(r.received, r.sent);
        assert_eq!(r.lost, 0);
        assert!(
            r.latency_us
                .is_some_and(|l| l.count == r.received && l.min > 0.0)
        );
        // The calling thread is back in its own namespace, where tg1 does not exist.
        assert!(matches!(
            open_port_in(None, &gen_pc, Duration::ZERO),
            Err(TrafficError::Io(_))
        ));
    }
);
