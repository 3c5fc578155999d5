//! Chain-order hand-off: processes that share a core run one after another in a fixed order,
//! passing a token through a small shared-memory file with futex wake-ups (the `chain-order`
//! plan of issue 12; the paper's §7 "enforce the correct execution order of the chain into a
//! scheduler").
//!
//! The file holds a header (who holds the token, a heartbeat, a work counter) and one slot per
//! member (a futex word, the member's PID). Member `i` waits in `FUTEX_WAIT` on its own slot
//! until the holder passes the token to it ([`Handoff::pass`]: store the new holder, bump the
//! next slot's word, `FUTEX_WAKE` one waiter); exactly one process is woken per hand-off, so a
//! hand-off costs one wake-up and one context switch on the shared core. Waits are bounded
//! ([`Handoff::wait_turn`] takes a timeout) so a member can watch its stop flag and notice a
//! holder that has stopped making progress ([`Handoff::progress`]: the heartbeat does not move).
//!
//! Why a futex token (measured by `examples/handoff.rs`, see the scc-sched README): it is the
//! cheapest hand-off that sleeps; an `eventfd` per member costs a `write` and a `read` more per
//! hand-off, and SCHED_FIFO + `sched_yield` needs CAP_SYS_NICE, a real-time policy on the core
//! and keeps every waiting member runnable, so an idle chain would spin.
//!
//! ```
//! use scc_sched::handoff::Handoff;
//! use std::time::Duration;
//! let path = std::env::temp_dir().join(format!("handoff-doc-{}", std::process::id()));
//! let _owner = Handoff::create(&path, 2).unwrap();
//! let a = Handoff::open(&path, 0).unwrap();
//! let b = Handoff::open(&path, 1).unwrap();
//! assert!(a.wait_turn(Duration::ZERO).unwrap());   // member 0 starts with the token
//! assert!(!b.wait_turn(Duration::from_millis(1)).unwrap());
//! a.pass();
//! assert!(b.wait_turn(Duration::ZERO).unwrap());
//! assert_eq!(b.holder(), 1);
//! std::fs::remove_file(&path).unwrap();
//! ```

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Largest number of members of one hand-off ring.
pub const MAX_MEMBERS: usize = 256;

const MAGIC: u32 = 0x5343_4331; // "SCC1"

/// Errors of creating or opening a hand-off file.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// The file could not be created, opened, sized or mapped.
    #[error("hand-off file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The file is not a hand-off file of this version, or is too short.
    #[error("hand-off file {0}: not a hand-off file (bad magic or size)")]
    Format(PathBuf),
    /// A member count of 0 or above [`MAX_MEMBERS`], or a member index out of range.
    #[error("hand-off file {path}: member {index} of {members} (1..={MAX_MEMBERS} members)")]
    BadMember {
        /// The file.
        path: PathBuf,
        /// The index asked for.
        index: usize,
        /// Members in the file.
        members: usize,
    },
}

#[repr(C)]
struct Header {
    magic: AtomicU32,
    members: AtomicU32,
    /// The member that holds the token.
    holder: AtomicU32,
    _pad: AtomicU32,
    /// Bumped by every hand-off and by a holder that waits for input: progress.
    beat: AtomicU64,
    /// Frames processed by all members (for the first member's idle test).
    work: AtomicU64,
    _pad2: [AtomicU64; 5],
}

#[repr(C)]
struct Slot {
    /// The futex word: bumped each time the token is passed to this member.
    seq: AtomicU32,
    /// The member's PID (set by [`Handoff::open`]).
    pid: AtomicU32,
    /// Turns this member has had.
    turns: AtomicU64,
    _pad: [AtomicU64; 6],
}

const HEADER: usize = size_of::<Header>();
const SLOT: usize = size_of::<Slot>();

fn file_len(members: usize) -> usize {
    HEADER + members * SLOT
}

/// A mapping of a hand-off file: the creator's view ([`Handoff::create`], who watches) or one
/// member's ([`Handoff::open`], who waits and passes).
#[derive(Debug)]
pub struct Handoff {
    map: sys::Mapping,
    members: usize,
    index: usize,
    path: PathBuf,
}

impl Handoff {
    /// Creates (or overwrites) the hand-off file for `members` members, member 0 holding the
    /// token. The returned handle watches ([`Handoff::holder`], [`Handoff::progress`]); its
    /// own index is 0.
    pub fn create(path: &Path, members: usize) -> Result<Handoff, HandoffError> {
        if members == 0 || members > MAX_MEMBERS {
            return Err(HandoffError::BadMember {
                path: path.to_path_buf(),
                index: 0,
                members,
            });
        }
        let err = |source| HandoffError::File {
            path: path.to_path_buf(),
            source,
        };
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(err)?;
        f.set_len(file_len(members) as u64).map_err(err)?;
        let map = sys::Mapping::new(f.as_raw_fd(), file_len(members)).map_err(err)?;
        let h = Handoff {
            map,
            members,
            index: 0,
            path: path.to_path_buf(),
        };
        let hd = h.header();
        hd.members.store(members as u32, Ordering::Relaxed);
        hd.holder.store(0, Ordering::Relaxed);
        h.slot(0).seq.store(1, Ordering::Relaxed);
        hd.magic.store(MAGIC, Ordering::Release);
        Ok(h)
    }

    /// Opens the hand-off file as member `index` and records this process's PID in its slot.
    pub fn open(path: &Path, index: usize) -> Result<Handoff, HandoffError> {
        let err = |source| HandoffError::File {
            path: path.to_path_buf(),
            source,
        };
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(err)?;
        let len = f.metadata().map_err(err)?.len() as usize;
        if len < HEADER {
            return Err(HandoffError::Format(path.to_path_buf()));
        }
        let map = sys::Mapping::new(f.as_raw_fd(), len).map_err(err)?;
        let mut h = Handoff {
            map,
            members: 0,
            index,
            path: path.to_path_buf(),
        };
        let hd = h.header();
        let members = hd.members.load(Ordering::Relaxed) as usize;
        if hd.magic.load(Ordering::Acquire) != MAGIC
            || members == 0
            || members > MAX_MEMBERS
            || len < file_len(members)
        {
            return Err(HandoffError::Format(path.to_path_buf()));
        }
        if index >= members {
            return Err(HandoffError::BadMember {
                path: path.to_path_buf(),
                index,
                members,
            });
        }
        h.members = members;
        h.slot(index)
            .pid
            .store(std::process::id(), Ordering::Relaxed);
        Ok(h)
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping is at least HEADER bytes (checked by create/open), page-aligned,
        // and `Header` is `repr(C)` of atomics, valid for any bit pattern; other processes
        // access it only through the same atomics.
        unsafe { &*(self.map.ptr() as *const Header) }
    }

    fn slot(&self, i: usize) -> &Slot {
        let i = i.min(self.members.max(1) - 1);
        // SAFETY: `i < members` and the mapping holds `HEADER + members * SLOT` bytes (checked
        // by create/open); the offset is 8-byte aligned; `Slot` is `repr(C)` of atomics.
        unsafe { &*(self.map.ptr().add(HEADER + i * SLOT) as *const Slot) }
    }

    /// Number of members.
    pub fn members(&self) -> usize {
        self.members
    }

    /// This handle's member index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The member holding the token now.
    pub fn holder(&self) -> usize {
        self.header().holder.load(Ordering::SeqCst) as usize
    }

    /// The PID member `i` recorded, if it has opened the file.
    pub fn pid(&self, i: usize) -> Option<u32> {
        (i < self.members)
            .then(|| self.slot(i).pid.load(Ordering::Relaxed))
            .filter(|&p| p != 0)
    }

    /// Turns member `i` has had.
    pub fn turns(&self, i: usize) -> u64 {
        self.slot(i).turns.load(Ordering::Relaxed)
    }

    /// A counter that moves whenever the chain makes progress (a hand-off, or the holder
    /// waking from a wait for input). Unchanged over a long time: the holder is stalled.
    pub fn progress(&self) -> u64 {
        self.header().beat.load(Ordering::SeqCst)
    }

    /// Records progress without passing the token (a holder waiting for input).
    pub fn heartbeat(&self) {
        self.header().beat.fetch_add(1, Ordering::SeqCst);
    }

    /// Adds `frames` to the chain's work counter.
    pub fn add_work(&self, frames: u64) {
        if frames > 0 {
            self.header().work.fetch_add(frames, Ordering::Relaxed);
        }
    }

    /// The chain's work counter (frames processed by all members so far).
    pub fn work(&self) -> u64 {
        self.header().work.load(Ordering::Relaxed)
    }

    /// Waits until this member holds the token, at most `timeout` (zero: just check). Returns
    /// whether it does; false after the timeout or a signal.
    pub fn wait_turn(&self, timeout: Duration) -> io::Result<bool> {
        let slot = self.slot(self.index);
        let seen = slot.seq.load(Ordering::SeqCst);
        if self.holder() == self.index {
            return Ok(true);
        }
        if timeout.is_zero() {
            return Ok(false);
        }
        match sys::futex_wait(&slot.seq, seen, timeout) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EAGAIN) | Some(libc::EINTR) | Some(libc::ETIMEDOUT)
                ) => {}
            Err(e) => return Err(e),
        }
        Ok(self.holder() == self.index)
    }

    /// Passes the token to the next member (`index + 1`, wrapping) and wakes it. Only the
    /// holder may call this.
    pub fn pass(&self) {
        self.pass_to((self.index + 1) % self.members.max(1));
    }

    /// Passes the token to member `next` and wakes it.
    pub fn pass_to(&self, next: usize) {
        let slot = self.hand_over(next);
        sys::futex_wake(slot);
    }

    /// Passes the token to the next member without a wake-up system call, for members that
    /// poll [`Handoff::holder`] instead of sleeping (the SCHED_FIFO + `sched_yield` mechanism
    /// that `examples/handoff.rs` compares against).
    pub fn pass_without_wake(&self) {
        self.hand_over((self.index + 1) % self.members.max(1));
    }

    /// Records the hand-over to `next`; returns `next`'s futex word.
    fn hand_over(&self, next: usize) -> &AtomicU32 {
        let next = next.min(self.members.max(1) - 1);
        let hd = self.header();
        self.slot(self.index).turns.fetch_add(1, Ordering::Relaxed);
        hd.holder.store(next as u32, Ordering::SeqCst);
        hd.beat.fetch_add(1, Ordering::SeqCst);
        let slot = self.slot(next);
        slot.seq.fetch_add(1, Ordering::SeqCst);
        &slot.seq
    }
}

/// The unsafe wrappers: a shared file mapping and the two futex operations.
mod sys {
    use std::io;
    use std::os::fd::RawFd;
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    /// A `MAP_SHARED` read-write mapping, unmapped on drop.
    #[derive(Debug)]
    pub(super) struct Mapping {
        ptr: *mut u8,
        len: usize,
    }

    // SAFETY: the mapping is plain shared memory accessed only through atomics; the pointer is
    // valid for the mapping's lifetime wherever the owner moves.
    unsafe impl Send for Mapping {}
    // SAFETY: see `Send`: all access goes through atomics.
    unsafe impl Sync for Mapping {}

    impl Mapping {
        pub(super) fn new(fd: RawFd, len: usize) -> io::Result<Mapping> {
            // SAFETY: a fresh mapping chosen by the kernel (null hint) of `len` bytes of an open
            // file descriptor; no existing memory is affected.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            Ok(Mapping { ptr: p.cast(), len })
        }

        pub(super) fn ptr(&self) -> *mut u8 {
            self.ptr
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: `ptr`/`len` are exactly what mmap returned; references handed out borrow
            // `self`, so none outlives the mapping.
            unsafe { libc::munmap(self.ptr.cast(), self.len) };
        }
    }

    /// `FUTEX_WAIT` (shared) on `word` while it holds `expected`, at most `timeout`.
    pub(super) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) -> io::Result<()> {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
        };
        // SAFETY: `word` is a valid, aligned u32 for the call's duration; `ts` lives on the
        // stack for the call; FUTEX_WAIT only reads both.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                &ts as *const libc::timespec,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// `FUTEX_WAKE` (shared) of one waiter on `word`.
    pub(super) fn futex_wake(word: &AtomicU32) {
        // SAFETY: `word` is a valid, aligned u32; FUTEX_WAKE does not access user memory
        // beyond hashing the address.
        unsafe {
            libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("scc-handoff-{name}-{}", std::process::id()))
    }

    #[test]
    fn token_goes_round_in_order_across_threads() {
        let path = tmp("ring");
        let owner = Handoff::create(&path, 3).unwrap();
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let hs: Vec<_> = (0..3)
            .map(|i| {
                let path = path.clone();
                let order = order.clone();
                std::thread::spawn(move || {
                    let h = Handoff::open(&path, i).unwrap();
                    for _ in 0..50 {
                        while !h.wait_turn(Duration::from_millis(100)).unwrap() {}
                        order.lock().unwrap().push(i);
                        h.add_work(1);
                        h.pass();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let order = order.lock().unwrap();
        assert_eq!(order.len(), 150);
        for (k, &i) in order.iter().enumerate() {
            assert_eq!(i, k % 3, "turn {k}");
        }
        assert_eq!(owner.work(), 150);
        assert_eq!(owner.holder(), 0);
        assert_eq!(owner.turns(2), 50);
        assert_eq!(owner.pid(1), Some(std::process::id()));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn waits_are_bounded_and_progress_shows_a_stall() {
        let path = tmp("stall");
        let owner = Handoff::create(&path, 2).unwrap();
        let b = Handoff::open(&path, 1).unwrap();
        let p0 = owner.progress();
        let t = Instant::now();
        assert!(!b.wait_turn(Duration::from_millis(30)).unwrap());
        assert!(
            t.elapsed() >= Duration::from_millis(25),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(owner.progress(), p0, "nobody passed: no progress");
        assert_eq!(owner.holder(), 0);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn bad_files_and_members_are_refused() {
        let path = tmp("bad");
        assert!(matches!(
            Handoff::create(&path, 0),
            Err(HandoffError::BadMember { .. })
        ));
        std::fs::write(&path, b"not a hand-off file at all, too short?").unwrap();
        assert!(matches!(
            Handoff::open(&path, 0),
            Err(HandoffError::Format(_))
        ));
        let _h = Handoff::create(&path, 2).unwrap();
        assert!(matches!(
            Handoff::open(&path, 2),
            Err(HandoffError::BadMember { index: 2, .. })
        ));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            Handoff::open(&path, 0),
            Err(HandoffError::File { .. })
        ));
    }
}
