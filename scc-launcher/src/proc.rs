//! Process helpers shared by the launcher's modules: finding programs, describing how a child
//! ended, whether a process still runs (a pure parser of `/proc/PID/stat`).

use std::path::PathBuf;
use std::process::ExitStatus;

use crate::sys;

/// Looks `prog` up in `PATH`.
pub fn find_in_path(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// Describes an exit status: `exited with status N` or `killed by SIGX (n)`.
pub fn describe_status(st: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("was killed by {}", sys::signal_name(s)),
        _ => "ended".into(),
    }
}

/// True while `pid` exists and is not a zombie.
pub fn process_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| stat_says_running(&s))
}

/// Whether a `/proc/PID/stat` line describes a live process: its state (the first field after
/// the parenthesised command, which may itself contain spaces and `)`) is neither `Z` (zombie)
/// nor `X` (dead).
pub fn stat_says_running(stat: &str) -> bool {
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|st| st != "Z" && st != "X")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_state_after_the_command_name() {
        assert!(stat_says_running("42 (scc-nf) S 1 42 42 0 -1"));
        assert!(stat_says_running("42 (a) b) R 1 42"));
        assert!(!stat_says_running("42 (scc-nf) Z 1 42 42"));
        assert!(!stat_says_running("42 (x) X 1"));
        assert!(!stat_says_running(""));
        assert!(!stat_says_running("42 (truncated"));
    }

    #[test]
    fn this_process_runs() {
        assert!(process_running(std::process::id()));
    }
}
