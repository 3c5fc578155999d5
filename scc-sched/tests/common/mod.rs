//! Test helpers: child processes killed by PID on drop, root detection, the helper re-exec.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process killed (by its PID) and reaped when dropped, also when a test fails.
pub struct Kid(pub Child);

impl Kid {
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sleep 30`: one thread, bounded in time even if the test harness dies.
pub fn sleeper() -> Kid {
    Kid(Command::new("sleep")
        .arg("30")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sleep"))
}

/// Re-runs this test binary's ignored `helper` test in `mode`; waits for its ready line.
pub fn spawn_helper(mode: &str, uid: Option<u32>) -> (Kid, String) {
    use std::os::unix::process::CommandExt;
    let mut exe = std::env::current_exe().expect("current_exe");
    if uid.is_some() {
        // The build directory may not be reachable for an unprivileged uid (e.g. under /root):
        // run a world-readable copy from the temp dir, unlinked right after the spawn.
        use std::os::unix::fs::PermissionsExt;
        let copy =
            std::env::temp_dir().join(format!("scc-sched-helper-{}-{mode}", std::process::id()));
        std::fs::copy(&exe, &copy).expect("copy test binary");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        exe = copy;
    }
    let mut c = Command::new(&exe);
    c.args([
        "--ignored",
        "--exact",
        "helper",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("SCC_SCHED_HELPER", mode)
    .stdin(Stdio::null())
    .stdout(Stdio::piped());
    if let Some(u) = uid {
        c.uid(u).gid(u);
    }
    // ETXTBSY: another test thread may be forking while the copy was open for writing.
    let mut tries = 0;
    let mut child = loop {
        match c.spawn() {
            Err(e) if e.raw_os_error() == Some(libc_etxtbsy()) && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            r => break r.expect("spawn helper"),
        }
    };
    if uid.is_some() {
        // Unlinking a running executable is fine on Linux.
        let _ = std::fs::remove_file(&exe);
    }
    let out = child.stdout.take().expect("stdout");
    let kid = Kid(child);
    let mut lines = BufReader::new(out).lines();
    let mut seen = String::new();
    for l in lines.by_ref() {
        let l = l.expect("read helper");
        seen.push_str(&l);
        seen.push('\n');
        if let Some(i) = l.find("HELPER:") {
            return (kid, l[i + 7..].to_string());
        }
    }
    panic!("helper {mode} ended without a HELPER line; output:\n{seen}");
}

/// The body of the ignored `helper` test (`SCC_SCHED_HELPER` selects the mode).
pub fn helper_body() {
    let Ok(mode) = std::env::var("SCC_SCHED_HELPER") else {
        return;
    };
    match mode.as_str() {
        "threads" => {
            // Three extra threads, all sleeping; the whole process lives at most 30 s.
            let hs: Vec<_> = (0..3)
                .map(|_| std::thread::spawn(|| std::thread::sleep(Duration::from_secs(30))))
                .collect();
            println!("HELPER:ready");
            std::thread::sleep(Duration::from_secs(30));
            drop(hs);
        }
        "eperm" => {
            // Runs unprivileged: lowering nice and real-time must fail with CAP_SYS_NICE.
            let me = std::process::id() as i32;
            let nice = scc_sched::apply(
                me,
                &scc_sched::SchedSpec::new(scc_sched::Policy::Batch { nice: -5 }),
            );
            let last = *scc_sched::online_cpus().unwrap().last().unwrap();
            let fifo = scc_sched::apply(
                me,
                &scc_sched::SchedSpec::new(scc_sched::Policy::Fifo { priority: 5 })
                    .with_affinity(vec![last]),
            );
            let describe = |r: &scc_sched::Result<scc_sched::Applied>| match r {
                Err(scc_sched::Error::PermissionDenied { capability, .. }) => {
                    format!("EPERM:{capability}")
                }
                Err(e) => format!("other:{e}"),
                Ok(_) => "ok".to_string(),
            };
            let cpuset = scc_sched::CoreReservation::create(&scc_sched::ReservationOptions::new(
                "eperm",
                vec![last],
            ));
            let cs = match cpuset {
                Err(scc_sched::Error::PermissionDenied { capability, .. }) => {
                    format!("EPERM:{capability}")
                }
                Err(e) => format!("other:{e}"),
                Ok(_) => "ok".to_string(),
            };
            println!("HELPER:{} {} {}", describe(&nice), describe(&fifo), cs);
        }
        m => panic!("unknown helper mode {m}"),
    }
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        .unwrap_or(false)
}

/// Prints why a test is skipped and returns true when not root.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        false
    } else {
        scc_io::skip::skipped(test, "needs root (CAP_SYS_NICE / CAP_SYS_ADMIN)");
        true
    }
}

pub fn last_core() -> usize {
    *scc_sched::online_cpus().unwrap().last().unwrap()
}

/// Sum of run time (ns) from /proc/<pid>/task/<tid>/schedstat.
pub fn run_ns(pid: i32, tid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// ETXTBSY on Linux.
fn libc_etxtbsy() -> i32 {
    26
}
