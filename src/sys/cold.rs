//! Keeping the daemon's cold code out of its memory lock. `mlockall` locks
//! every page of the binary, about a third of which runs only on the way
//! to an abort: std's backtrace printer (gimli, addr2line, the demangler,
//! miniz) and the unwinder under it (libunwind and the unwind tables,
//! `.eh_frame_hdr`, `.eh_frame`, `.gcc_except_table`). A panic aborts (the
//! release profile), printing a backtrace only when `RUST_BACKTRACE` asks
//! for one, so none of that code runs while the daemon works. The linker
//! script `link/cold.ld` (the daemon binary only, see build.rs) gathers
//! that code into the section `.text.mdmon_cold`; after locking, the
//! daemon unlocks the whole pages of these sections, found in its own
//! section headers (`/proc/self/exe`). A binary linked without the script
//! still has its unwind tables unlocked. So are the relocations
//! (`.rela.dyn`), which the static-PIE start-up code applies once, before
//! `main`.

use arrayvec::ArrayVec;
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};

/// The sections left unlocked.
pub const COLD: [&[u8]; 5] = [b".text.mdmon_cold", b".eh_frame_hdr", b".eh_frame", b".gcc_except_table", b".rela.dyn"];

const PAGE: u64 = 4096;
/// Section headers read at most (the daemon has about 30).
const MAX_SECTIONS: usize = 64;
/// Bytes of section names read at most (the daemon's are about 300).
const MAX_NAMES: usize = 1024;
/// `SHF_ALLOC`: the section is in memory.
const SHF_ALLOC: u64 = 2;

/// Address ranges (link-time addresses, whole pages) to unlock.
pub type Ranges = ArrayVec<(u64, u64), 8>;

/// The ELF64 file header's fields used here (little-endian).
mod ehdr {
    pub const LEN: usize = 64;
    /// `e_ident`: magic, 64-bit class, little-endian data.
    pub const IDENT: core::ops::Range<usize> = 0..6;
    pub const IDENT_LE64: &[u8] = b"\x7fELF\x02\x01";
    pub const ENTRY: usize = 24;
    pub const SHOFF: usize = 40;
    pub const SHENTSIZE: usize = 58;
    pub const SHNUM: usize = 60;
    pub const SHSTRNDX: usize = 62;
}

/// An ELF64 section header's fields used here (little-endian).
mod shdr {
    pub const LEN: usize = 64;
    pub const NAME: usize = 0;
    pub const FLAGS: usize = 8;
    pub const ADDR: usize = 16;
    pub const OFFSET: usize = 24;
    pub const SIZE: usize = 32;
}
use crate::wire::{le16, le32, le64};

/// The parts of an ELF64 little-endian file header used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub entry: u64,
    pub shoff: u64,
    pub shnum: usize,
    pub shstrndx: usize,
}

/// Parse a file header; `None` if it is short or not ELF64 little-endian
/// with 64-byte section headers.
pub fn header(b: &[u8]) -> Option<Header> {
    let b = b.get(..ehdr::LEN)?;
    if &b[ehdr::IDENT] != ehdr::IDENT_LE64 || usize::from(le16(b, ehdr::SHENTSIZE)) != shdr::LEN {
        return None;
    }
    Some(Header {
        entry: le64(b, ehdr::ENTRY),
        shoff: le64(b, ehdr::SHOFF),
        shnum: usize::from(le16(b, ehdr::SHNUM)),
        shstrndx: usize::from(le16(b, ehdr::SHSTRNDX)),
    })
}

/// A view of one section header, checked to hold all of it.
struct Section<'a>(&'a [u8]);

impl<'a> Section<'a> {
    /// Section header `i` of the table `shdrs`, if the table holds it.
    fn nth(shdrs: &'a [u8], i: usize) -> Option<Section<'a>> {
        let at = i.checked_mul(shdr::LEN)?;
        shdrs.get(at..at.checked_add(shdr::LEN)?).map(Section)
    }
    fn name(&self) -> u32 {
        le32(self.0, shdr::NAME)
    }
    fn flags(&self) -> u64 {
        le64(self.0, shdr::FLAGS)
    }
    fn addr(&self) -> u64 {
        le64(self.0, shdr::ADDR)
    }
    fn offset(&self) -> u64 {
        le64(self.0, shdr::OFFSET)
    }
    fn size(&self) -> u64 {
        le64(self.0, shdr::SIZE)
    }
}

/// The NUL-terminated name at `off` in the names section.
fn name_at(names: &[u8], off: u32) -> &[u8] {
    let n = names.get(off as usize..).unwrap_or(&[]);
    &n[..n.iter().position(|&c| c == 0).unwrap_or(0)]
}

/// The whole pages of the cold sections: runs of cold sections next to
/// each other in memory (no other section between them; padding only)
/// make one range, shrunk to the pages that hold nothing else. `shdrs`
/// holds the section headers, `names` the section-name table.
pub fn cold_ranges(shdrs: &[u8], names: &[u8]) -> Ranges {
    // Sections in memory: (start, end, cold).
    let mut secs: ArrayVec<(u64, u64, bool), MAX_SECTIONS> = ArrayVec::new();
    for i in 0..(shdrs.len() / shdr::LEN).min(MAX_SECTIONS) {
        let Some(sec) = Section::nth(shdrs, i) else { break };
        let Some(end) = sec.addr().checked_add(sec.size()) else { return Ranges::new() };
        if sec.flags() & SHF_ALLOC != 0 && sec.size() > 0 {
            secs.push((sec.addr(), end, COLD.contains(&name_at(names, sec.name()))));
        }
    }
    secs.sort_unstable_by_key(|s| s.0);
    let mut out = Ranges::new();
    let mut run: Option<(u64, u64)> = None;
    // The end of every section so far: a cold run must not overlap one.
    let mut reach = 0u64;
    for &(start, end, cold) in secs.iter() {
        if !cold {
            if let Some((a, b)) = run.take() {
                push_pages(&mut out, a, b.min(start));
            }
        } else {
            run = match run {
                Some((a, b)) => Some((a, b.max(end))),
                None => Some((start.max(reach), end)),
            };
        }
        reach = reach.max(end);
    }
    if let Some((a, b)) = run {
        push_pages(&mut out, a, b);
    }
    out
}

fn push_pages(out: &mut Ranges, start: u64, end: u64) {
    let Some(a) = start.checked_add(PAGE - 1).map(|a| a / PAGE * PAGE) else { return };
    let b = end / PAGE * PAGE;
    if a < b {
        let _ = out.try_push((a, b));
    }
}

/// The file header and cold pages of the binary open at `fd`; `None`
/// when it cannot be read or is not the expected ELF. On the stack: 5 KiB.
fn read_sections(fd: &OwnedFd) -> Option<(Header, Ranges)> {
    let mut eh = [0u8; ehdr::LEN];
    super::pread_exact(fd, &mut eh, 0).ok()?;
    let h = header(&eh)?;
    if h.shnum == 0 || h.shnum > MAX_SECTIONS || h.shstrndx >= h.shnum {
        return None;
    }
    let mut shdrs = [0u8; MAX_SECTIONS * shdr::LEN];
    let shdrs = &mut shdrs[..h.shnum * shdr::LEN];
    super::pread_exact(fd, shdrs, h.shoff).ok()?;
    let strtab = Section::nth(shdrs, h.shstrndx)?;
    let mut names = [0u8; MAX_NAMES];
    let names = &mut names[..usize::try_from(strtab.size()).ok()?.min(MAX_NAMES)];
    super::pread_exact(fd, names, strtab.offset()).ok()?;
    Some((h, cold_ranges(shdrs, names)))
}

/// The cold pages of the running binary, as addresses in memory (read
/// before locking; empty when they cannot be found).
pub fn find() -> ArrayVec<(usize, usize), 8> {
    let mut out = ArrayVec::new();
    let Ok(fd) = rustix::fs::open("/proc/self/exe", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) else {
        return out;
    };
    let Some((h, ranges)) = read_sections(&fd) else { return out };
    // SAFETY: getauxval only reads the auxiliary vector the kernel passed.
    let entry = unsafe { libc::getauxval(libc::AT_ENTRY) } as u64;
    // Where the binary was loaded (position independent): the entry point
    // in memory less its link-time address.
    let Some(bias) = entry.checked_sub(h.entry).filter(|b| entry != 0 && b % PAGE == 0) else {
        return out;
    };
    for (a, b) in ranges {
        if let (Some(a), Some(b)) = (a.checked_add(bias), b.checked_add(bias)) {
            if let (Ok(a), Ok(b)) = (usize::try_from(a), usize::try_from(b)) {
                out.push((a, b));
            }
        }
    }
    out
}

/// Unlock `ranges` (from [`find`]); the bytes unlocked.
pub fn unlock(ranges: &[(usize, usize)]) -> usize {
    let mut n = 0;
    for &(a, b) in ranges {
        // SAFETY: munlock changes no memory and no mapping, only whether
        // these pages (of the binary's own read-only mappings, page
        // aligned) are kept resident.
        if unsafe { rustix::mm::munlock(a as *mut core::ffi::c_void, b - a) }.is_ok() {
            n += b - a;
        }
    }
    n
}

#[cfg(test)]
#[path = "cold_tests.rs"]
mod tests;
