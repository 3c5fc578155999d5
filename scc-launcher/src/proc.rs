//! Process helpers shared by the launcher's modules: finding programs.

use std::path::PathBuf;

/// Looks `prog` up in `PATH`.
pub fn find_in_path(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}
