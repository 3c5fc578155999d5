//! The `bpf()` system call, reduced to what the AF_XDP backend needs: an XSKMAP, the
//! five-instruction XDP program that redirects to it, one map update and a BPF link.
//!
//! No clang, libbpf or ELF: the program is assembled here (libbpf's old default AF_XDP
//! program, ../shared/FACTS.md). The only `unsafe` code is the `bpf()` call itself, on
//! `repr(C)` attribute structs that mirror `union bpf_attr` of `<linux/bpf.h>`; the kernel
//! accepts a shorter attribute (it treats missing trailing fields as zero).
//!
//! A [`BpfFd`] closes its descriptor on drop. The XDP program is attached through a BPF *link*
//! (`BPF_LINK_CREATE`): the kernel detaches it when the last descriptor of the link is closed,
//! so it is gone on drop, on error paths and after a crash of the process alike.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;

const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `enum bpf_attach_type` `BPF_XDP`.
const BPF_XDP: u32 = 37;
/// `BPF_FUNC_redirect_map`.
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
/// `XDP_PASS`, the fallback action when the map has no socket for the queue.
const XDP_PASS: i32 = 2;
/// `XDP_FLAGS_SKB_MODE`: generic XDP, in the kernel's receive path (any driver).
pub(crate) const XDP_FLAGS_SKB_MODE: u32 = 2;
/// `XDP_FLAGS_DRV_MODE`: native XDP, in the driver.
pub(crate) const XDP_FLAGS_DRV_MODE: u32 = 4;

/// An owned BPF object descriptor (map, program or link).
#[derive(Debug)]
pub(crate) struct BpfFd(OwnedFd);

impl BpfFd {
    pub(crate) fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` points to a fully initialised `repr(C)` attribute struct of
    // `size_of::<T>()` bytes that lives for the call; every pointer inside it (instructions,
    // license, key, value) points to memory that outlives the call too. The kernel copies the
    // attribute in (and, for some commands, results out) within those bounds.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            (attr as *mut T).cast::<libc::c_void>(),
            size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn fd_of(r: libc::c_long) -> io::Result<BpfFd> {
    let fd = RawFd::try_from(r).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the bpf() commands used here return a new descriptor that nothing else owns.
    Ok(BpfFd(unsafe { OwnedFd::from_raw_fd(fd) }))
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

/// Creates an XSKMAP with `entries` slots (one per RX queue index).
pub(crate) fn create_xskmap(entries: u32) -> io::Result<BpfFd> {
    let mut attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_XSKMAP,
        key_size: 4,
        value_size: 4,
        max_entries: entries,
        map_name: name(b"scc_xsks"),
        ..Default::default()
    };
    fd_of(bpf(BPF_MAP_CREATE, &mut attr)?)
}

#[repr(C)]
#[derive(Default)]
struct MapUpdateAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// Puts socket `xsk` into `map` at `queue`.
pub(crate) fn xskmap_set(map: &BpfFd, queue: u32, xsk: RawFd) -> io::Result<()> {
    let key = queue;
    let value = u32::try_from(xsk).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    let mut attr = MapUpdateAttr {
        map_fd: map.raw() as u32,
        key: &key as *const u32 as u64,
        value: &value as *const u32 as u64,
        ..Default::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high nibble.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// The redirect program for `map_fd`:
/// `r2 = ctx->rx_queue_index; r1 = map; r3 = XDP_PASS; return bpf_redirect_map(r1, r2, r3)`.
pub(crate) fn redirect_program(map_fd: RawFd) -> [Insn; 6] {
    const LDXW: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
    const LDDW: u8 = 0x18; // BPF_LD | BPF_IMM | BPF_DW
    const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
    const CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
    const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT
    const PSEUDO_MAP_FD: u8 = 1;
    /// `offsetof(struct xdp_md, rx_queue_index)`.
    const RX_QUEUE_INDEX: i16 = 16;
    [
        insn(LDXW, 2, 1, RX_QUEUE_INDEX, 0),
        insn(LDDW, 1, PSEUDO_MAP_FD, 0, map_fd),
        insn(0, 0, 0, 0, 0), // second half of the 64-bit immediate
        insn(MOV64_K, 3, 0, 0, XDP_PASS),
        insn(CALL, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
        insn(EXIT, 0, 0, 0, 0),
    ]
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// Loads the redirect program for `map`. On a verifier rejection the error carries the
/// verifier's log.
pub(crate) fn load_redirect_program(map: &BpfFd) -> io::Result<BpfFd> {
    let prog = redirect_program(map.raw());
    let license = c"GPL";
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name(b"scc_xsk_redir"),
        expected_attach_type: BPF_XDP,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(r) => fd_of(r),
        Err(e)
            if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::EACCES) =>
        {
            // Once more with the verifier's log, to say why.
            let mut log = vec![0u8; 4096];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            match bpf(BPF_PROG_LOAD, &mut attr) {
                Ok(r) => fd_of(r),
                Err(e2) => {
                    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                    let text = String::from_utf8_lossy(&log[..end]).replace('\n', "; ");
                    Err(io::Error::new(e2.kind(), format!("{e2}: verifier: {text}")))
                }
            }
        }
        Err(e) => Err(e),
    }
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// Attaches `prog` to interface `ifindex` as XDP with `flags` ([`XDP_FLAGS_SKB_MODE`] or
/// [`XDP_FLAGS_DRV_MODE`]) through a BPF link: detached when the returned descriptor (and any
/// copy of it) is closed.
pub(crate) fn attach_xdp_link(prog: &BpfFd, ifindex: u32, flags: u32) -> io::Result<BpfFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.raw() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags,
    };
    fd_of(bpf(BPF_LINK_CREATE, &mut attr)?)
}

fn name(s: &[u8]) -> [u8; 16] {
    let mut n = [0u8; 16];
    let k = s.len().min(15);
    n[..k].copy_from_slice(&s[..k]);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The program is FACTS.md's recipe, bit for bit (as the kernel's `bpf_insn` encodes it).
    #[test]
    fn redirect_program_encoding() {
        let p = redirect_program(7);
        let bytes: Vec<[u8; 8]> = p
            .iter()
            .map(|i| {
                let mut b = [0u8; 8];
                b[0] = i.code;
                b[1] = i.regs;
                b[2..4].copy_from_slice(&i.off.to_ne_bytes());
                b[4..8].copy_from_slice(&i.imm.to_ne_bytes());
                b
            })
            .collect();
        assert_eq!(size_of::<Insn>(), 8);
        assert_eq!(bytes[0], [0x61, 0x12, 16, 0, 0, 0, 0, 0]); // ldxw r2, [r1+16]
        assert_eq!(bytes[1], [0x18, 0x11, 0, 0, 7, 0, 0, 0]); // lddw r1, map fd 7
        assert_eq!(bytes[2], [0; 8]);
        assert_eq!(bytes[3], [0xb7, 0x03, 0, 0, 2, 0, 0, 0]); // mov64 r3, XDP_PASS
        assert_eq!(bytes[4], [0x85, 0x00, 0, 0, 51, 0, 0, 0]); // call bpf_redirect_map
        assert_eq!(bytes[5], [0x95, 0, 0, 0, 0, 0, 0, 0]); // exit
    }

    #[test]
    fn attribute_layouts_match_the_kernel() {
        assert_eq!(size_of::<MapCreateAttr>(), 44);
        assert_eq!(size_of::<MapUpdateAttr>(), 32);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(size_of::<LinkCreateAttr>(), 16);
        assert_eq!(name(b"a-very-long-name-indeed")[15], 0);
    }
}
