//! Forwards frames between two veth ends with a chosen scc-io backend and batch size, then
//! prints every port's counters.
//!
//! ```text
//! cargo run --release --example veth_forward -- --driver mmsg --batch 32 [--frames 100000] [--size 64]
//! ```
//!
//! Runs as an ordinary user: the program re-executes itself in a fresh user + network namespace
//! of its own and builds this topology there (it vanishes when the program exits):
//!
//! ```text
//! generator --[gen0 = fwd0]--> forwarder (--driver, --batch) --[fwd1 = sink0]--> sink
//! ```
//!
//! The generator sends a burst of `--frames` frames as fast as it can; the forwarder (its own
//! thread) receives on `fwd0` and sends on `fwd1`; the sink counts what arrives and checks the
//! order. At the end, the program checks that every frame is accounted for: received by the sink
//! or counted as dropped by a port or by the kernel.

use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use scc_io::link::VethPair;
use scc_io::{Batch, Driver, PortConfig, PortStats, open_port, wait_running};

const ENV_INSIDE: &str = "SCC_VETH_FORWARD_NETNS";

struct Args {
    driver: Driver,
    batch: usize,
    frames: u64,
    size: usize,
}

fn usage() -> String {
    "usage: veth_forward [--driver packet|mmsg|ring] [--batch N] [--frames N] [--size BYTES]".into()
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        driver: Driver::Mmsg,
        batch: 32,
        frames: 100_000,
        size: 64,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || {
            it.next()
                .ok_or_else(|| format!("{k} needs a value\n{}", usage()))
        };
        match k.as_str() {
            "--driver" => a.driver = val()?.parse().map_err(|e| format!("{e}"))?,
            "--batch" => a.batch = val()?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--frames" => a.frames = val()?.parse().map_err(|e| format!("--frames: {e}"))?,
            "--size" => a.size = val()?.parse().map_err(|e| format!("--size: {e}"))?,
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument `{other}`\n{}", usage())),
        }
    }
    if a.driver == Driver::Mem {
        return Err(
            "--driver mem has no interface to forward between; use packet, mmsg or ring".into(),
        );
    }
    if !(60..=1514).contains(&a.size) {
        return Err("--size must be 60..=1514 bytes".into());
    }
    Ok(a)
}

/// Re-runs this program inside a fresh user + network namespace; returns only inside it.
fn enter_private_netns() -> Option<ExitCode> {
    if std::env::var_os(ENV_INSIDE).is_some() {
        return None;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("veth_forward: cannot find my own executable: {e}");
            return Some(ExitCode::FAILURE);
        }
    };
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args_os().skip(1)).env(ENV_INSIDE, "1");
    scc_io::netns::command_in_new_user_netns(&mut cmd);
    Some(match cmd.status() {
        Ok(st) if st.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!(
                "veth_forward: cannot start in a new user + network namespace: {e}\n\
                 (are unprivileged user namespaces disabled? see kernel.unprivileged_userns_clone)"
            );
            ExitCode::FAILURE
        }
    })
}

fn frame(seq: u64, size: usize) -> Vec<u8> {
    let mut f = vec![0u8; size];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[14..22].copy_from_slice(&seq.to_be_bytes());
    f
}

fn print_stats(who: &str, s: &PortStats) {
    println!(
        "  {who:<26} rx {:>8} ({:>9} B)  tx {:>8} ({:>9} B)  syscalls rx {:>7} tx {:>7}  empty polls {:>7}  kernel drops {:>6}  tx dropped {:>6}  tx retries {:>4}",
        s.rx_frames,
        s.rx_bytes,
        s.tx_frames,
        s.tx_bytes,
        s.rx_syscalls,
        s.tx_syscalls,
        s.empty_polls,
        s.kernel_drops,
        s.tx_dropped,
        s.tx_retries
    );
}

fn run(a: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    for k in ["all", "default"] {
        // Keep IPv6 from sending its own frames on the links (best effort).
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{k}/disable_ipv6"), "1");
    }
    let _p1 = VethPair::create("gen0", "fwd0")?;
    let _p2 = VethPair::create("fwd1", "sink0")?;
    for i in ["gen0", "fwd0", "fwd1", "sink0"] {
        if !wait_running(i, Duration::from_secs(5))? {
            return Err(format!("{i} did not come up").into());
        }
    }
    let mut gen_port = open_port(&PortConfig::new("gen0", Driver::Mmsg, 64))?;
    let mut sink = open_port(&PortConfig::new("sink0", Driver::Mmsg, 256))?;
    let mut fwd_in = open_port(&PortConfig::new("fwd0", a.driver, a.batch))?;
    let mut fwd_out = open_port(&PortConfig::new("fwd1", a.driver, a.batch))?;
    println!(
        "veth_forward: {} frames of {} bytes, forwarder driver `{}` batch {} (pid {} in its own user+net namespace)",
        a.frames,
        a.size,
        a.driver,
        a.batch,
        std::process::id()
    );

    // The forwarder: receive a batch, send it on, sleep in poll when idle.
    let stop = Arc::new(AtomicBool::new(false));
    let stop_fwd = stop.clone();
    let batch = a.batch;
    let forwarder = thread::spawn(
        move || -> scc_io::Result<(PortStats, PortStats, Duration)> {
            let mut b = Batch::new(batch, 2048)?;
            let mut busy = Duration::ZERO;
            while !stop_fwd.load(Ordering::Relaxed) {
                b.clear();
                let t = Instant::now();
                if fwd_in.recv_batch(&mut b)? == 0 {
                    fwd_in.wait_readable(Some(Duration::from_millis(10)))?;
                    continue;
                }
                match fwd_out.send_batch(&b) {
                    // Oversize frames are counted in tx_dropped; keep forwarding.
                    Ok(_) | Err(scc_io::IoError::FrameTooLarge { .. }) => {}
                    Err(e) => return Err(e),
                }
                busy += t.elapsed();
            }
            Ok((fwd_in.stats(), fwd_out.stats(), busy))
        },
    );

    // The sink: count, check order, stop after a quiet period once the generator is done.
    let gen_done = Arc::new(AtomicBool::new(false));
    let gen_done_sink = gen_done.clone();
    let sink_thread = thread::spawn(move || -> scc_io::Result<(PortStats, u64)> {
        let mut b = Batch::new(256, 2048)?;
        let mut last_seq: Option<u64> = None;
        let mut out_of_order = 0u64;
        let mut quiet_since = Instant::now();
        loop {
            b.clear();
            let n = sink.recv_batch(&mut b)?;
            for f in b.iter() {
                let seq = f
                    .get(14..22)
                    .and_then(|s| s.try_into().ok())
                    .map_or(0, u64::from_be_bytes);
                if last_seq.is_some_and(|l| seq <= l) {
                    out_of_order += 1;
                }
                last_seq = Some(seq);
            }
            if n > 0 {
                quiet_since = Instant::now();
            } else if gen_done_sink.load(Ordering::Relaxed)
                && quiet_since.elapsed() > Duration::from_millis(300)
            {
                break;
            } else {
                sink.wait_readable(Some(Duration::from_millis(10)))?;
            }
        }
        Ok((sink.stats(), out_of_order))
    });

    // The generator: a burst as fast as the link takes it.
    let t0 = Instant::now();
    let mut out = Batch::new(64, 2048)?;
    let mut seq = 0u64;
    while seq < a.frames {
        out.clear();
        while !out.is_full() && seq < a.frames {
            out.push(&frame(seq, a.size))?;
            seq += 1;
        }
        gen_port.send_batch(&out)?;
    }
    let gen_time = t0.elapsed();
    gen_done.store(true, Ordering::Relaxed);
    let (sink_stats, out_of_order) = sink_thread.join().map_err(|_| "sink thread panicked")??;
    stop.store(true, Ordering::Relaxed);
    let (in_stats, out_stats, busy) = forwarder.join().map_err(|_| "forwarder panicked")??;
    let gen_stats = gen_port.stats();

    println!("counters:");
    print_stats("generator gen0 (mmsg)", &gen_stats);
    print_stats(&format!("forwarder in  fwd0 ({})", a.driver), &in_stats);
    print_stats(&format!("forwarder out fwd1 ({})", a.driver), &out_stats);
    print_stats("sink sink0 (mmsg)", &sink_stats);
    let fwd = out_stats.tx_frames;
    println!(
        "generator: {:.0} frames/s; forwarder: {fwd} frames forwarded, {:.0} frames/s while busy, {:.2} syscalls/frame; sink: {} frames, {} out of order",
        gen_stats.tx_frames as f64 / gen_time.as_secs_f64(),
        fwd as f64 / busy.as_secs_f64().max(1e-9),
        (in_stats.syscalls() + out_stats.syscalls()) as f64 / fwd.max(1) as f64,
        sink_stats.rx_frames,
        out_of_order
    );

    // Conservation at each hop.
    let checks = [
        (
            "generator sent = forwarder received + forwarder-in kernel drops",
            gen_stats.tx_frames,
            in_stats.rx_frames + in_stats.kernel_drops,
        ),
        (
            "forwarder received = forwarded + forwarder tx dropped",
            in_stats.rx_frames,
            out_stats.tx_frames + out_stats.tx_dropped,
        ),
        (
            "forwarded = sink received + sink kernel drops",
            out_stats.tx_frames,
            sink_stats.rx_frames + sink_stats.kernel_drops,
        ),
        (
            "generator asked = generator sent + generator tx dropped",
            a.frames,
            gen_stats.tx_frames + gen_stats.tx_dropped,
        ),
    ];
    let mut ok = true;
    for (what, l, r) in checks {
        let good = l == r;
        ok &= good;
        println!(
            "  [{}] {what}: {l} = {r}",
            if good { "ok" } else { "MISMATCH" }
        );
    }
    println!(
        "{}",
        if ok && out_of_order == 0 {
            "every frame is accounted for, and frames arrived in order"
        } else {
            "ACCOUNTING PROBLEM (see above)"
        }
    );
    Ok(ok && out_of_order == 0)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(code) = enter_private_netns() {
        return code;
    }
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("veth_forward: {e}");
            ExitCode::FAILURE
        }
    }
}
