//! The one format for a test that cannot run on this host, so CI can count skips:
//! `SKIPPED: <test>: <reason>` on its own line.
//!
//! [`skipped`] writes the line straight to the process's standard error, past the test
//! harness's output capture, so it shows in `cargo test` output without `--nocapture` (and a
//! sandboxed child's line is forwarded the same way by `scc_io::sandbox::sandboxed`, feature
//! `test-util`).
//! `.ci/run` greps these lines and prints how many tests skipped and why.
//!
//! ```
//! if std::env::var_os("SCC_EXAMPLE_NEEDS_THIS").is_none() {
//!     scc_io::skip::skipped("doc_example", "SCC_EXAMPLE_NEEDS_THIS is not set");
//! }
//! assert_eq!(
//!     scc_io::skip::line("t", "needs root"),
//!     "SKIPPED: t: needs root"
//! );
//! assert_eq!(scc_io::skip::parse("SKIPPED: t: needs root"), Some(("t", "needs root")));
//! ```

use std::io::Write;

/// The prefix every skip line starts with.
pub const PREFIX: &str = "SKIPPED: ";

/// The skip line for `test` and `reason` (without the newline).
pub fn line(test: &str, reason: &str) -> String {
    // One line, whatever the reason holds.
    let reason = reason.replace('\n', " ");
    format!("{PREFIX}{test}: {reason}")
}

/// `(test, reason)` of a skip line, if `l` is one.
pub fn parse(l: &str) -> Option<(&str, &str)> {
    l.strip_prefix(PREFIX)?.split_once(": ")
}

/// Reports that `test` was skipped because of `reason` (a missing host feature): writes
/// [`line()`] to standard error, bypassing the test harness's capture.
pub fn skipped(test: &str, reason: &str) {
    let mut l = line(test, reason);
    l.push('\n');
    let _ = std::io::stderr().lock().write_all(l.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_roundtrip_and_stay_single() {
        let l = line("a::b", "no cpuset\nhierarchy");
        assert_eq!(l, "SKIPPED: a::b: no cpuset hierarchy");
        assert_eq!(parse(&l), Some(("a::b", "no cpuset hierarchy")));
        assert_eq!(parse("skipped: x"), None);
    }
}
