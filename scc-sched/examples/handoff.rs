//! Which hand-off mechanism for the `chain-order` plan: the cost of passing the core from one
//! process to the next, N processes pinned to one core, round after round.
//!
//! `cargo run --release -p scc-sched --example handoff [-- MEMBERS ROUNDS]` (default 8, 20000)
//!
//! Mechanisms, each with the same ring of processes pinned to the last online core (never core
//! 0):
//! - `futex`: [`scc_sched::handoff`], a token in a shared file; each member sleeps in
//!   `FUTEX_WAIT` on its own word and is woken by the previous one (one wake per hand-off).
//! - `eventfd`: one eventfd per member; the holder writes the next member's, each member blocks
//!   in `read` on its own.
//! - `fifo-yield` (root only): every member SCHED_FIFO priority 1, spinning on the shared
//!   holder word with `sched_yield` until its turn (equal-priority FIFO yields go round in
//!   order). The idle test shows why it is not chosen: waiting members never sleep.
//!
//! Per mechanism it prints the time per hand-off (wall time of the rounds / hand-offs) and, with
//! the holder asleep for 200 ms, how much CPU the waiting members burn (an idle chain must not
//! spin).

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use scc_sched::handoff::Handoff;
use scc_sched::{Policy, SchedSpec};

const IDLE_SLEEP: Duration = Duration::from_millis(200);

/// The small unsafe part: eventfds (create, read, write).
mod efd {
    use std::os::fd::RawFd;

    pub fn create() -> RawFd {
        // SAFETY: eventfd takes two integers and returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, 0) };
        assert!(fd >= 0, "eventfd: {}", std::io::Error::last_os_error());
        fd
    }

    pub fn wait(fd: RawFd) {
        let mut v = 0u64;
        // SAFETY: reads 8 bytes into a local u64 that outlives the call.
        unsafe { libc::read(fd, (&raw mut v).cast(), 8) };
    }

    pub fn signal(fd: RawFd) {
        let v = 1u64;
        // SAFETY: writes 8 bytes from a local u64 that outlives the call.
        unsafe { libc::write(fd, (&raw const v).cast(), 8) };
    }
}

fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One member: `child MECH FILE INDEX ROUNDS [EFD...]`. Member 0 times the rounds and prints
/// the ns per hand-off; after the rounds it holds the token asleep for IDLE_SLEEP and then
/// passes once more so every member can exit.
fn child(args: &[String]) {
    let mech = args[0].as_str();
    let file = PathBuf::from(&args[1]);
    let index: usize = args[2].parse().unwrap();
    let rounds: u64 = args[3].parse().unwrap();
    let efds: Vec<RawFd> = args[4..].iter().map(|a| a.parse().unwrap()).collect();
    let h = Handoff::open(&file, index).unwrap();
    let n = h.members();
    while (0..n).any(|i| h.pid(i).is_none()) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let wait = |h: &Handoff| match mech {
        "futex" => while !h.wait_turn(Duration::from_secs(5)).unwrap() {},
        "eventfd" => efd::wait(efds[index]),
        _ => {
            while h.holder() != index {
                std::thread::yield_now();
            }
        }
    };
    let pass = |h: &Handoff| match mech {
        "futex" => h.pass(),
        "eventfd" => {
            h.pass_without_wake();
            efd::signal(efds[(index + 1) % n]);
        }
        _ => h.pass_without_wake(),
    };
    let mut t0 = Instant::now();
    for r in 0..=rounds {
        wait(&h);
        if index == 0 && r == 0 {
            t0 = Instant::now();
        }
        if index == 0 && r == rounds {
            let per = t0.elapsed().as_nanos() as f64 / (rounds * n as u64) as f64;
            println!("{per:.0}");
            // The idle phase: hold the token asleep; the parent measures the others' CPU.
            std::thread::sleep(IDLE_SLEEP);
        }
        pass(&h);
    }
    // Let the last member(s) finish their final wait.
    if index != 0 {
        return;
    }
    wait(&h);
}

fn spawn(mech: &str, file: &Path, i: usize, rounds: u64, efds: &[RawFd]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child", mech])
        .arg(file)
        .args([i.to_string(), rounds.to_string()])
        .args(efds.iter().map(|f| f.to_string()))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn measure(mech: &str, members: usize, rounds: u64, core: usize) -> Option<(f64, f64)> {
    let file = std::env::temp_dir().join(format!("scc-handoff-bench-{}", std::process::id()));
    let _owner = Handoff::create(&file, members).unwrap();
    let efds: Vec<RawFd> = if mech == "eventfd" {
        (0..members).map(|_| efd::create()).collect()
    } else {
        Vec::new()
    };
    if mech == "eventfd" {
        efd::signal(efds[0]);
    }
    let kids: Vec<Child> = (0..members)
        .map(|i| spawn(mech, &file, i, rounds, &efds))
        .collect();
    let mut ok = true;
    for k in &kids {
        scc_sched::set_affinity(k.id() as i32, &[core]).unwrap();
        if mech == "fifo-yield"
            && let Err(e) = scc_sched::apply(
                k.id() as i32,
                &SchedSpec::new(Policy::Fifo { priority: 1 }).with_affinity(vec![core]),
            )
        {
            eprintln!("fifo-yield: {e}");
            ok = false;
        }
    }
    // Sample the waiting members' CPU while member 0 sleeps holding the token: the idle phase
    // starts when member 0 has printed; approximate by polling its stdout after the rounds.
    let mut kids = kids;
    let mut first = kids.remove(0);
    let mut line = String::new();
    {
        use std::io::BufRead;
        let out = first.stdout.take().unwrap();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
    }
    let before: u64 = kids.iter().map(|k| cpu_ns(k.id())).sum();
    let t = Instant::now();
    std::thread::sleep(IDLE_SLEEP * 3 / 4);
    let idle_cpu = (kids.iter().map(|k| cpu_ns(k.id())).sum::<u64>() - before) as f64
        / t.elapsed().as_nanos() as f64;
    first.wait().unwrap();
    for mut k in kids {
        k.wait().unwrap();
    }
    for fd in efds {
        // SAFETY: closes descriptors this process created and no longer uses.
        unsafe { libc::close(fd) };
    }
    let _ = std::fs::remove_file(&file);
    let per: f64 = line.trim().parse().ok()?;
    ok.then_some((per, idle_cpu))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("child") {
        return child(&args[1..]);
    }
    let members: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(8);
    let rounds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let core = scc_sched::online_cpus()
        .ok()
        .and_then(|c| c.last().copied())
        .unwrap_or(0);
    if core == 0 {
        eprintln!("only core 0 online: fifo-yield is skipped (no real-time on core 0)");
    }
    println!("{members} members pinned to core {core}, {rounds} rounds");
    println!(
        "{:<11} {:>14} {:>22}",
        "mechanism", "ns/hand-off", "idle CPU of waiters"
    );
    for mech in ["futex", "eventfd", "fifo-yield"] {
        if mech == "fifo-yield" && core == 0 {
            continue;
        }
        match measure(mech, members, rounds, core) {
            Some((per, idle)) => println!("{mech:<11} {per:>14.0} {:>21.1}%", idle * 100.0),
            None => println!("{mech:<11} {:>14} (needs CAP_SYS_NICE)", "-"),
        }
    }
}
