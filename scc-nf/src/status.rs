//! The NF's status channel (`scc-nf ... --status-fd N`): an inherited file descriptor (a pipe
//! from the launcher) carrying one JSON object per line:
//!
//! ```text
//! {"event":"ready","name":"r1","pid":4242}              ports open: frames are read from now on
//! {"event":"counters","name":"r1","rx":10,"tx":10,...}   every second while running
//! {"event":"final","name":"r1","rx":60000,...}           once, when the NF stops
//! ```
//!
//! `counters` and `final` carry [`NfCounters`] (the same fields as the JSON object on stdout,
//! which stays as it is for users). The launcher uses `ready` instead of guessing readiness and
//! `final` as the NF's result. Each line is written with one `write(2)` of less than
//! `PIPE_BUF` bytes, so lines never interleave; a launcher that went away (EPIPE) is ignored.
//!
//! ```
//! use scc_nf::status::Status;
//! let line = serde_json::to_string(&Status::Ready { name: "r1".into(), pid: 7 }).unwrap();
//! assert_eq!(line, r#"{"event":"ready","name":"r1","pid":7}"#);
//! assert_eq!(Status::parse(&line), Some(Status::Ready { name: "r1".into(), pid: 7 }));
//! ```

use std::fs::File;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use crate::nf::NfCounters;

/// One line of the status channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Status {
    /// The NF has opened its ports and is about to read frames.
    Ready {
        /// The NF's name.
        name: String,
        /// Its process id.
        pid: u32,
    },
    /// The counters so far (every second while the NF runs).
    Counters(NfCounters),
    /// The final counters (once, when the NF stops, also after an I/O failure).
    Final(NfCounters),
}

impl Status {
    /// Parses one line (`None` for anything that is not a status line).
    pub fn parse(line: &str) -> Option<Status> {
        serde_json::from_str(line.trim()).ok()
    }
}

/// The writing end of the status channel.
#[derive(Debug)]
pub struct StatusChannel {
    out: File,
    buf: Vec<u8>,
}

impl StatusChannel {
    /// Opens the inherited descriptor `fd` (through `/proc/self/fd/N`, so no raw descriptor is
    /// taken over: a descriptor that is not open fails here with the OS error).
    pub fn open_fd(fd: i32) -> io::Result<StatusChannel> {
        if fd < 0 {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        let out = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{fd}"))?;
        Ok(Self::new(out))
    }

    /// A channel writing to `out` (e.g. a file, in tests).
    pub fn new(out: File) -> StatusChannel {
        StatusChannel {
            out,
            buf: Vec::with_capacity(1024),
        }
    }

    /// Writes one status line (one `write(2)`). A closed reading end (`EPIPE`) is not an error:
    /// the NF keeps running when the launcher stops listening.
    pub fn send(&mut self, s: &Status) -> io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, s).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        match self.out.write_all(&self.buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            r => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_carry_the_stdout_counters() {
        let c = NfCounters {
            name: "r1".into(),
            nf: "router".into(),
            rx: 3,
            tx: 2,
            drops: [("no_route".to_string(), 1)].into(),
            ..NfCounters::default()
        };
        for s in [
            Status::Ready {
                name: "r1".into(),
                pid: 1,
            },
            Status::Counters(c.clone()),
            Status::Final(c.clone()),
        ] {
            let line = serde_json::to_string(&s).unwrap();
            assert_eq!(Status::parse(&line), Some(s));
        }
        // A `final` line is the stdout object plus the event tag.
        let line = serde_json::to_value(Status::Final(c.clone())).unwrap();
        let mut stdout = serde_json::to_value(&c).unwrap();
        stdout
            .as_object_mut()
            .unwrap()
            .insert("event".into(), "final".into());
        assert_eq!(line, stdout);
        assert_eq!(Status::parse("not json"), None);
        assert_eq!(Status::parse(r#"{"event":"other"}"#), None);
    }

    #[test]
    fn a_channel_writes_one_line_per_status() {
        let dir = std::env::temp_dir().join(format!("scc-nf-status-{}", std::process::id()));
        let f = File::create(&dir).unwrap();
        let mut ch = StatusChannel::new(f);
        ch.send(&Status::Ready {
            name: "a".into(),
            pid: 2,
        })
        .unwrap();
        ch.send(&Status::Final(NfCounters::default())).unwrap();
        let text = std::fs::read_to_string(&dir).unwrap();
        let _ = std::fs::remove_file(&dir);
        let lines: Vec<Status> = text.lines().filter_map(Status::parse).collect();
        assert_eq!(lines.len(), 2);
        assert!(matches!(lines[1], Status::Final(_)));
        assert!(StatusChannel::open_fd(-1).is_err());
    }
}
