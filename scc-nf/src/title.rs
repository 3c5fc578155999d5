//! The NF's process name: `scc-nf:<name>` in `/proc/PID/comm` (what `ps`, `top` and `pgrep`
//! show), so operators find each NF of a chain by its name. The launcher also starts NFs with
//! this `argv[0]` (`ps -f`, `pgrep -f`).

/// Bytes of a process name the kernel keeps (`TASK_COMM_LEN` - 1).
pub const COMM_LEN: usize = 15;

/// The process name of NF `name`: `scc-nf:<name>`.
///
/// ```
/// assert_eq!(scc_nf::title::process_name("r1"), "scc-nf:r1");
/// ```
pub fn process_name(name: &str) -> String {
    format!("scc-nf:{name}")
}

/// The first [`COMM_LEN`] bytes of `name` that end on a character boundary, NUL-terminated.
fn comm_bytes(name: &str) -> [u8; COMM_LEN + 1] {
    let mut out = [0u8; COMM_LEN + 1];
    let mut end = name.len().min(COMM_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let bytes = &name.as_bytes()[..end];
    // An interior NUL would end the name early: take what precedes it.
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    out[..end].copy_from_slice(&bytes[..end]);
    out
}

/// Sets the calling thread's name (`PR_SET_NAME`; for the main thread, the process's
/// `/proc/PID/comm`) to `name`, truncated to [`COMM_LEN`] bytes. Threads started later inherit it.
pub fn set_current_name(name: &str) -> std::io::Result<()> {
    let buf = comm_bytes(name);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes from the pointer;
    // `buf` is 16 bytes, ends with NUL and outlives the call.
    let r = unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr() as libc::c_ulong, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_is_truncated_on_a_character_boundary() {
        assert_eq!(&comm_bytes("scc-nf:r1")[..10], b"scc-nf:r1\0");
        let long = comm_bytes("scc-nf:a-very-long-name");
        assert_eq!(&long[..15], b"scc-nf:a-very-l");
        assert_eq!(long[15], 0);
        // 'é' is 2 bytes: cutting at 15 would split it.
        let b = comm_bytes("scc-nf:abcdefgé");
        assert_eq!(&b[..14], "scc-nf:abcdefg".as_bytes());
        assert_eq!(b[14], 0);
        assert_eq!(&comm_bytes("a\0b")[..2], b"a\0");
    }

    #[test]
    fn the_thread_name_is_set() {
        // On a thread of its own, so the test harness's names stay.
        std::thread::spawn(|| {
            set_current_name("scc-nf:title-test").unwrap();
            let tid = unsafe_free_gettid();
            let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).unwrap();
            assert_eq!(comm.trim_end(), "scc-nf:title-te");
        })
        .join()
        .unwrap();
    }

    /// The thread id from `/proc/thread-self` (no system call wrapper needed).
    fn unsafe_free_gettid() -> String {
        std::fs::read_link("/proc/thread-self")
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }
}
