//! CPU lists (`0-3,6`), the host's online cores and thread listing under `/proc`.

use std::fs;

use crate::error::{Error, Result};

/// Parses a kernel CPU list such as `0-3,6,8-9` into sorted, de-duplicated core numbers.
/// An empty or whitespace string is the empty list.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>> {
    let bad = |part: &str| Error::Plan(format!("bad CPU list {s:?} at {part:?}"));
    let mut out = Vec::new();
    for part in s.trim().split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let a: usize = a.trim().parse().map_err(|_| bad(part))?;
                let b: usize = b.trim().parse().map_err(|_| bad(part))?;
                if a > b || b - a > 65_536 {
                    return Err(bad(part));
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad(part))?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Formats cores as a kernel CPU list (`0-3,6`); input need not be sorted.
pub fn format_cpu_list(cores: &[usize]) -> String {
    let mut c = cores.to_vec();
    c.sort_unstable();
    c.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let start = c[i];
        let mut end = start;
        while i + 1 < c.len() && c[i + 1] == end + 1 {
            i += 1;
            end = c[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// The host's online cores (`/sys/devices/system/cpu/online`).
pub fn online_cpus() -> Result<Vec<usize>> {
    let path = "/sys/devices/system/cpu/online";
    let s = fs::read_to_string(path).map_err(|e| Error::Io {
        what: path.into(),
        source: e,
    })?;
    parse_cpu_list(&s)
}

/// Checks that every core is online; returns the online list.
pub fn check_cores_online(cores: &[usize]) -> Result<Vec<usize>> {
    let online = online_cpus()?;
    for &c in cores {
        if !online.contains(&c) {
            return Err(Error::CoreNotOnline { core: c, online });
        }
    }
    Ok(online)
}

/// The thread ids of a process (`/proc/<pid>/task`), sorted; `NoSuchProcess` if it is gone.
pub fn threads(pid: i32) -> Result<Vec<i32>> {
    if pid <= 0 {
        return Err(Error::NoSuchProcess { pid });
    }
    let dir = format!("/proc/{pid}/task");
    let rd = fs::read_dir(&dir).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ESRCH) => Error::NoSuchProcess { pid },
        _ => Error::Io {
            what: dir.clone(),
            source: e,
        },
    })?;
    let mut tids: Vec<i32> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    tids.sort_unstable();
    if tids.is_empty() {
        return Err(Error::NoSuchProcess { pid });
    }
    Ok(tids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format() {
        assert_eq!(parse_cpu_list("0-1\n").unwrap(), vec![0, 1]);
        assert_eq!(
            parse_cpu_list("0-3,6,8-9").unwrap(),
            vec![0, 1, 2, 3, 6, 8, 9]
        );
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<usize>::new());
        assert_eq!(parse_cpu_list("3,1,1").unwrap(), vec![1, 3]);
        assert!(parse_cpu_list("2-1").is_err());
        assert!(parse_cpu_list("a").is_err());
        assert!(parse_cpu_list("0-99999999").is_err());
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 6, 8, 9]), "0-3,6,8-9");
        assert_eq!(format_cpu_list(&[5]), "5");
        assert_eq!(format_cpu_list(&[]), "");
        assert_eq!(format_cpu_list(&[3, 1, 2]), "1-3");
        for s in ["0", "0-7", "1,3,5-6"] {
            assert_eq!(format_cpu_list(&parse_cpu_list(s).unwrap()), s);
        }
    }

    #[test]
    fn own_threads_and_online() {
        let me = std::process::id() as i32;
        assert!(threads(me).unwrap().contains(&me));
        assert!(matches!(threads(0), Err(Error::NoSuchProcess { pid: 0 })));
        assert!(!online_cpus().unwrap().is_empty());
        assert!(matches!(
            check_cores_online(&[100_000]),
            Err(Error::CoreNotOnline { core: 100_000, .. })
        ));
    }
}
