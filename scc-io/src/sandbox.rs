//! Test support (cargo feature `test-util`, enabled by the dev-dependencies of the crates
//! whose tests use it): [`sandboxed`] / [`sandbox_test!`](crate::sandbox_test) run one test in
//! a child copy of the test binary placed in a fresh user + network namespace, so OS-side tests
//! need no root. Re-exported as `scc_io::netns::{sandboxed, ...}`.

use std::io::{self, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{IoError, Result};
use crate::netns::{command_in_new_netns, command_in_new_user_netns, have_sys_admin};

/// Environment variable that marks a sandboxed child: its value is the libtest path of the one
/// test the child runs.
pub const SANDBOX_ENV: &str = "SCC_SANDBOX";

/// Environment variable bounding a sandboxed child's run time, in seconds (default 120).
pub const SANDBOX_TIMEOUT_ENV: &str = "SCC_SANDBOX_TIMEOUT";

const DEFAULT_SANDBOX_TIMEOUT: Duration = Duration::from_secs(120);

/// True inside a sandboxed child (the environment names a test).
pub fn in_sandbox() -> bool {
    std::env::var_os(SANDBOX_ENV).is_some()
}

/// The libtest path of a test from its `module_path!()` and function name: the crate segment is
/// dropped (`netns::sub::case` + `f` gives `sub::case::f`). Used by [`sandbox_test!`](crate::sandbox_test).
pub fn test_path(module_path: &str, fn_name: &str) -> String {
    match module_path.split_once("::") {
        Some((_, rest)) => format!("{rest}::{fn_name}"),
        None => fn_name.to_string(),
    }
}

/// A command that re-runs the current test binary for the one test `test_path` inside a fresh
/// user + network namespace (`SANDBOX_ENV` set). Callers may add environment variables before
/// running it; [`sandboxed`] uses it.
pub fn sandbox_command(test_path: &str) -> Result<Command> {
    let mut cmd = sandbox_base_command(test_path)?;
    command_in_new_user_netns(&mut cmd);
    Ok(cmd)
}

fn sandbox_base_command(test_path: &str) -> Result<Command> {
    let exe = std::env::current_exe().map_err(|e| IoError::from_io("current_exe", e))?;
    let mut cmd = Command::new(exe);
    // `--include-ignored`: the parent already decided to run this test (it may be `#[ignore]`d
    // and run through `--ignored`); the child must not filter it out again.
    cmd.args([
        test_path,
        "--exact",
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(SANDBOX_ENV, test_path)
    .env("RUST_BACKTRACE", "1")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    Ok(cmd)
}

/// What a sandboxed child did.
#[derive(Debug)]
pub struct SandboxOutput {
    /// Exit status (`None` when it was killed after the timeout).
    pub status: Option<ExitStatus>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// True when it ran in a plain network namespace because user namespaces were refused
    /// (root only).
    pub fallback_netns_only: bool,
}

impl SandboxOutput {
    /// True when the child exited successfully after running exactly one test that passed.
    pub fn passed(&self) -> bool {
        self.status.is_some_and(|s| s.success())
            && self.stdout.contains("test result: ok. 1 passed")
    }
}

/// Spawns `cmd` (from [`sandbox_command`]) and collects its output, killing it after the
/// sandbox timeout.
pub fn run_sandbox_command(cmd: &mut Command) -> Result<SandboxOutput> {
    let child = cmd
        .spawn()
        .map_err(|e| IoError::from_io("spawn sandboxed test", e))?;
    collect(child, false)
}

fn collect(mut child: std::process::Child, fallback: bool) -> Result<SandboxOutput> {
    let timeout = std::env::var(SANDBOX_TIMEOUT_ENV)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_SANDBOX_TIMEOUT);
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() > timeout => {
                // Our own child, by its handle.
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(IoError::from_io("wait sandboxed test", e)),
        }
    };
    let join = |h: Option<std::thread::JoinHandle<String>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    Ok(SandboxOutput {
        status,
        stdout: join(out),
        stderr: join(err),
        fallback_netns_only: fallback,
    })
}

fn reader(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `test_path` in a sandboxed child and returns what it did. Tries a user + network
/// namespace first; when the kernel refuses user namespaces and the process has
/// `CAP_SYS_ADMIN`, falls back to a plain network namespace.
pub fn run_sandboxed(test_path: &str) -> Result<SandboxOutput> {
    let mut cmd = sandbox_command(test_path)?;
    match cmd.spawn() {
        Ok(child) => collect(child, false),
        Err(e) if have_sys_admin() => {
            let mut cmd = sandbox_base_command(test_path)?;
            command_in_new_netns(&mut cmd);
            let child = cmd.spawn().map_err(|e2| IoError::Sys {
                call: "spawn sandboxed test",
                source: io::Error::new(
                    e2.kind(),
                    format!("user namespace: {e}; plain network namespace: {e2}"),
                ),
            })?;
            collect(child, true)
        }
        Err(e) => Err(IoError::Sys {
            call: "spawn sandboxed test in a new user + network namespace",
            source: io::Error::new(
                e.kind(),
                format!(
                    "{e} (are unprivileged user namespaces allowed? see sysctls \
                     user.max_user_namespaces, kernel.unprivileged_userns_clone, \
                     kernel.apparmor_restrict_unprivileged_userns)"
                ),
            ),
        }),
    }
}

/// Test support: runs `body` in a child copy of the current test binary placed in a fresh user +
/// network namespace (loopback up).
///
/// In the parent it spawns `current_exe() <test-path> --exact --include-ignored --nocapture
/// --test-threads=1` with
/// `SCC_SANDBOX=<test-path>` through [`command_in_new_user_netns`], forwards its output and
/// panics (quoting that output) if the child failed, timed out or did not run exactly one test;
/// in the child (the variable names this test) it just runs `body`. `test_path` is the libtest
/// name (module path without the crate, then the fn name); [`sandbox_test!`](crate::sandbox_test)
/// computes it.
pub fn sandboxed(test_path: &str, body: impl FnOnce()) {
    if std::env::var_os(SANDBOX_ENV).is_some_and(|v| v == test_path) {
        body();
        return;
    }
    let out = match run_sandboxed(test_path) {
        Ok(out) => out,
        Err(e) => panic!("cannot start the sandbox for `{test_path}`: {e}"),
    };
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    // The child's skip lines, past this harness's capture too (see `crate::skip`).
    for l in out.stdout.lines().chain(out.stderr.lines()) {
        if let Some((test, reason)) = crate::skip::parse(l) {
            crate::skip::skipped(test, reason);
        }
    }
    if !out.passed() {
        let why = match out.status {
            None => "timed out (raise SCC_SANDBOX_TIMEOUT) and was killed".to_string(),
            Some(s) if s.success() => {
                "exited successfully but did not run exactly one passing test (wrong test path?)"
                    .to_string()
            }
            Some(s) => format!("failed ({s})"),
        };
        panic!(
            "sandboxed test `{test_path}` {why}\n---- child stdout ----\n{}\n---- child stderr ----\n{}",
            out.stdout, out.stderr
        );
    }
}

/// Defines a `#[test]` whose body runs in a fresh user + network namespace through
/// [`netns::sandboxed`](crate::netns::sandboxed).
///
/// ```no_run
/// scc_io::sandbox_test!(
///     /// Doc comments and attributes such as `#[ignore]` are kept.
///     fn lo_is_up() {
///         let mut nl = scc_io::link::Netlink::open().unwrap();
///         assert!(nl.link("lo").unwrap().unwrap().up);
///     }
/// );
/// ```
#[macro_export]
macro_rules! sandbox_test {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            $crate::netns::sandboxed(
                &$crate::netns::test_path(::core::module_path!(), ::core::stringify!($name)),
                || $body,
            );
        }
    };
}
