//! [`PcapPort`]: capture a port's frames into a pcap file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use byteorder_slice::LittleEndian;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader};
use pcap_file::{DataLink, Endianness, TsResolution};

use super::valid;
use crate::batch::Batch;
use crate::error::{IoError, Result};
use crate::port::{Driver, Port, PortStats};

/// Largest number of bytes stored per frame (tcpdump's default snap length); longer frames
/// are stored truncated with their original length.
pub const SNAPLEN: u32 = 262_144;
/// Write buffer of a capture file.
const BUF_BYTES: usize = 1 << 16;

/// What a capture file holds so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PcapStats {
    /// Frames written.
    pub frames: u64,
    /// Bytes of frame data written (after truncation to the snap length).
    pub bytes: u64,
    /// Frames not written because writing failed (disk full, file gone); after the first
    /// failure the file is not written any more.
    pub lost: u64,
    /// The first write error, if any.
    pub error: Option<String>,
}

#[derive(Debug)]
struct Sink {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    stats: PcapStats,
}

impl Sink {
    fn fail(&mut self, e: &dyn std::fmt::Display) {
        self.out = None;
        self.stats.error.get_or_insert_with(|| e.to_string());
    }

    fn write(&mut self, ts: Duration, frame: &[u8]) {
        let Some(out) = self.out.as_mut() else {
            self.stats.lost += 1;
            return;
        };
        let incl = frame.len().min(SNAPLEN as usize);
        let orig = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let pkt = PcapPacket::new(ts, orig, &frame[..incl]);
        match pkt.write_to::<_, LittleEndian>(out, TsResolution::NanoSecond, SNAPLEN) {
            Ok(_) => {
                self.stats.frames += 1;
                self.stats.bytes += incl as u64;
            }
            Err(e) => {
                self.stats.lost += 1;
                self.fail(&e);
            }
        }
    }
}

/// A pcap capture file (Ethernet link type, nanosecond timestamps), shared by the ports that
/// write to it: cloning the handle shares the file. The file is flushed when a port writing to
/// it goes idle, on [`PcapFile::flush`], and when the last handle is dropped.
///
/// Writing takes a lock once per batch, not per frame. A write error does not fail the port:
/// the capture stops, the error is kept in [`PcapStats::error`] and the frames not written are
/// counted in [`PcapStats::lost`].
#[derive(Debug, Clone)]
pub struct PcapFile {
    sink: Arc<Mutex<Sink>>,
}

impl PcapFile {
    /// Creates (or truncates) `path` and writes the pcap file header.
    ///
    /// Errors: [`IoError::Pcap`] when the file cannot be created or written.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let err = |reason: String| IoError::Pcap {
            path: path.display().to_string(),
            reason,
        };
        let file = File::create(&path).map_err(|e| err(e.to_string()))?;
        let mut out = BufWriter::with_capacity(BUF_BYTES, file);
        let header = PcapHeader {
            snaplen: SNAPLEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::NanoSecond,
            endianness: Endianness::Little,
            ..PcapHeader::default()
        };
        header.write_to(&mut out).map_err(|e| err(e.to_string()))?;
        out.flush().map_err(|e| err(e.to_string()))?;
        Ok(Self {
            sink: Arc::new(Mutex::new(Sink {
                path,
                out: Some(out),
                stats: PcapStats::default(),
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Sink> {
        // A panic while holding the lock cannot leave the sink inconsistent (counters and a
        // buffered writer), so a poisoned lock is used as is.
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `frames` with one timestamp (the wall clock now).
    fn write_all<'a>(&self, frames: impl Iterator<Item = &'a [u8]>) -> u64 {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut sink = self.lock();
        let mut n = 0;
        for f in frames {
            sink.write(ts, f);
            n += 1;
        }
        n
    }

    /// Writes buffered frames to the file.
    ///
    /// Errors: [`IoError::Pcap`] (also kept in [`PcapStats::error`]; the capture stops).
    pub fn flush(&self) -> Result<()> {
        let mut sink = self.lock();
        let Some(out) = sink.out.as_mut() else {
            return Ok(());
        };
        if let Err(e) = out.flush() {
            let reason = e.to_string();
            sink.fail(&reason);
            return Err(IoError::Pcap {
                path: sink.path.display().to_string(),
                reason,
            });
        }
        Ok(())
    }

    /// What the file holds so far.
    pub fn stats(&self) -> PcapStats {
        self.lock().stats.clone()
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        self.lock().path.clone()
    }
}

/// A [`Port`] that writes every frame it receives and every frame handed to it for sending to
/// a [`PcapFile`], then passes the call on to the port it wraps.
///
/// Sent frames are written as handed to the port, before it sends them: a frame that the port
/// then drops (counted in its [`PortStats::tx_dropped`]) is in the capture too, so the file
/// holds `rx_frames + tx_frames + tx_dropped` frames of the wrapped port (frames whose index
/// names no frame are neither sent nor written). The wrapped port's counters are returned as
/// they are. Capture is opt-in: ports that are not wrapped pay nothing.
///
/// ```
/// use scc_io::middleware::{PcapPort, read_pcap};
/// use scc_io::{Batch, Port};
///
/// let dir = std::env::temp_dir().join(format!("scc-pcap-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("a.pcap");
/// let (a, mut b) = scc_io::mem::pair("a", "b", 8, 256).unwrap();
/// let mut a = PcapPort::create(a, &path).unwrap();
/// let mut out = Batch::new(2, 256).unwrap();
/// out.push(&[7; 60]).unwrap();
/// assert_eq!(a.send_batch(&out).unwrap(), 1);
/// drop(a); // flushes
/// let frames = read_pcap(&path).unwrap();
/// assert_eq!(frames.len(), 1);
/// assert_eq!(frames[0].data, vec![7; 60]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct PcapPort<P> {
    inner: P,
    file: PcapFile,
    rx: u64,
    tx: u64,
    /// Frames written since the last flush.
    dirty: bool,
}

impl<P: Port> PcapPort<P> {
    /// Wraps `inner`, writing to `file` (which other ports may share).
    pub fn new(inner: P, file: PcapFile) -> Self {
        Self {
            inner,
            file,
            rx: 0,
            tx: 0,
            dirty: false,
        }
    }

    /// Wraps `inner`, writing to a new file at `path` (see [`PcapFile::create`]).
    pub fn create(inner: P, path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::new(inner, PcapFile::create(path)?))
    }

    /// Frames this port wrote to the file: (received, handed to send).
    pub fn captured(&self) -> (u64, u64) {
        (self.rx, self.tx)
    }

    /// The capture file.
    pub fn file(&self) -> &PcapFile {
        &self.file
    }

    /// The wrapped port.
    pub fn get_mut(&mut self) -> &mut P {
        &mut self.inner
    }

    /// Flushes the file and returns the wrapped port.
    pub fn into_inner(self) -> P {
        let _ = self.file.flush();
        self.inner
    }

    fn flush_if_dirty(&mut self) {
        if self.dirty {
            self.dirty = false;
            // A failure is recorded in the file's stats; the port keeps working.
            let _ = self.file.flush();
        }
    }
}

impl<P: Port> Port for PcapPort<P> {
    fn recv_batch(&mut self, batch: &mut Batch) -> Result<usize> {
        let start = batch.len();
        let n = self.inner.recv_batch(batch)?;
        if n == 0 {
            self.flush_if_dirty();
            return Ok(0);
        }
        let end = (start + n).min(batch.len());
        self.rx += self.file.write_all((start..end).map(|i| batch.frame(i)));
        self.dirty = true;
        Ok(n)
    }

    fn send_frames(&mut self, batch: &Batch, indices: &[u16]) -> Result<usize> {
        self.tx += self.file.write_all(valid(batch, indices));
        self.dirty = true;
        self.inner.send_frames(batch, indices)
    }

    fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.flush_if_dirty();
        self.inner.wait_readable(timeout)
    }

    fn stats(&mut self) -> PortStats {
        self.inner.stats()
    }

    fn driver(&self) -> Driver {
        self.inner.driver()
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn readable_fd(&self) -> Option<std::os::fd::RawFd> {
        self.inner.readable_fd()
    }

    fn rx_ready(&self) -> bool {
        self.inner.rx_ready()
    }

    fn prepare_wait(&mut self) {
        self.flush_if_dirty();
        self.inner.prepare_wait();
    }
}

/// One frame read back from a pcap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedFrame {
    /// Capture time since the Unix epoch.
    pub timestamp: Duration,
    /// Length of the frame on the wire (more than `data.len()` when it was truncated).
    pub orig_len: u32,
    /// The stored bytes.
    pub data: Vec<u8>,
}

fn pcap_err(path: &Path, e: impl std::fmt::Display) -> IoError {
    IoError::Pcap {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Opens `path` and reads its pcap header.
fn open_reader(path: &Path) -> Result<PcapReader<io::BufReader<File>>> {
    let file = File::open(path).map_err(|e| pcap_err(path, e))?;
    PcapReader::new(io::BufReader::new(file)).map_err(|e| pcap_err(path, e))
}

/// Reads every frame of the pcap file at `path` (any endianness and timestamp resolution).
///
/// Errors: [`IoError::Pcap`] when the file cannot be opened or is not a valid pcap file.
pub fn read_pcap(path: impl AsRef<Path>) -> Result<Vec<CapturedFrame>> {
    let path = path.as_ref();
    let mut reader = open_reader(path)?;
    let mut frames = Vec::new();
    while let Some(p) = reader.next_packet() {
        let p = p.map_err(|e| pcap_err(path, e))?;
        frames.push(CapturedFrame {
            timestamp: p.timestamp,
            orig_len: p.orig_len,
            data: p.data.into_owned(),
        });
    }
    Ok(frames)
}

/// Counts the frames of the pcap file at `path` without keeping them.
///
/// Errors: [`IoError::Pcap`] when the file cannot be opened or is not a valid pcap file.
pub fn count_pcap(path: impl AsRef<Path>) -> Result<u64> {
    let path = path.as_ref();
    let mut reader = open_reader(path)?;
    let mut n = 0;
    while let Some(p) = reader.next_raw_packet() {
        p.map_err(|e| pcap_err(path, e))?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem;
    use crate::port::ALL_INDICES;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("scc-io-pcap-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Every frame received and handed to send is in the file, byte for byte, in order, and the
    /// file's count equals the two ports' own counters (rx of one, tx + tx_dropped of the other).
    #[test]
    fn captures_rx_and_tx_and_counts_match_the_port_counters() {
        let dir = tmp("count");
        let (a, b) = mem::pair("a", "b", 4, 256).unwrap();
        let file = PcapFile::create(dir.join("both.pcap")).unwrap();
        let mut a = PcapPort::new(a, file.clone());
        let mut b = PcapPort::new(b, file.clone());
        let mut out = Batch::new(6, 256).unwrap();
        for v in 0..6u8 {
            out.push(&vec![v; 60 + v as usize]).unwrap();
        }
        // 6 handed, 4 fit the ring, 2 dropped by the port (still captured as handed).
        assert_eq!(a.send_frames(&out, &ALL_INDICES[..6]).unwrap(), 4);
        let mut inb = Batch::new(8, 256).unwrap();
        assert_eq!(b.recv_batch(&mut inb).unwrap(), 4);
        assert_eq!(b.recv_batch(&mut inb).unwrap(), 0);
        let (sa, sb) = (a.stats(), b.stats());
        drop((a, b));
        let frames = read_pcap(dir.join("both.pcap")).unwrap();
        assert_eq!(
            frames.len() as u64,
            sa.tx_frames + sa.tx_dropped + sb.rx_frames
        );
        assert_eq!(file.stats().frames, frames.len() as u64);
        assert_eq!(
            count_pcap(dir.join("both.pcap")).unwrap(),
            frames.len() as u64
        );
        let lens: Vec<usize> = frames.iter().map(|f| f.data.len()).collect();
        assert_eq!(lens, vec![60, 61, 62, 63, 64, 65, 60, 61, 62, 63]);
        assert!(frames.iter().all(|f| f.orig_len as usize == f.data.len()));
        assert_eq!(frames[9].data, vec![3u8; 63]);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        assert!(frames[0].timestamp <= now && now - frames[0].timestamp < Duration::from_secs(60));
        assert!(frames.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Indices that name no frame are neither sent nor captured.
    #[test]
    fn out_of_range_indices_are_not_captured() {
        let dir = tmp("idx");
        let (a, _b) = mem::pair("a", "b", 4, 256).unwrap();
        let mut a = PcapPort::create(a, dir.join("a.pcap")).unwrap();
        let mut out = Batch::new(2, 256).unwrap();
        out.push(&[1; 60]).unwrap();
        assert_eq!(a.send_frames(&out, &[0, 5, 9]).unwrap(), 1);
        assert_eq!(a.captured(), (0, 1));
        drop(a);
        assert_eq!(read_pcap(dir.join("a.pcap")).unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A file that cannot be created is a typed error; a garbage file does not parse.
    #[test]
    fn bad_paths_and_bad_files_are_errors() {
        let dir = tmp("bad");
        assert!(matches!(
            PcapFile::create(dir.join("no/such/dir/x.pcap")),
            Err(IoError::Pcap { .. })
        ));
        std::fs::write(dir.join("junk.pcap"), b"not a pcap file at all").unwrap();
        assert!(matches!(
            read_pcap(dir.join("junk.pcap")),
            Err(IoError::Pcap { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// tcpdump reads the file and counts the same frames (skipped where tcpdump is missing).
    #[test]
    fn tcpdump_reads_the_capture() {
        let dir = tmp("tcpdump");
        let path = dir.join("t.pcap");
        let (a, _b) = mem::pair("a", "b", 8, 256).unwrap();
        let mut a = PcapPort::create(a, &path).unwrap();
        let mut out = Batch::new(3, 256).unwrap();
        for _ in 0..3 {
            out.push(&[0xff; 60]).unwrap();
        }
        a.send_batch(&out).unwrap();
        drop(a);
        match std::process::Command::new("tcpdump")
            .args(["-Z", "root", "-nn", "-r"])
            .arg(&path)
            .output()
        {
            Ok(o) => {
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                // One line per frame; hex dumps of unknown payloads are indented.
                let text = String::from_utf8_lossy(&o.stdout);
                let lines = text
                    .lines()
                    .filter(|l| !l.starts_with(char::is_whitespace))
                    .count();
                assert_eq!(lines, 3, "{text}");
            }
            Err(e) => {
                crate::skip::skipped("tcpdump_reads_the_capture", &format!("no tcpdump ({e})"))
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
