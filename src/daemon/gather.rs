//! Gathering the bytes of metadata writes: a format that renders split
//! (DDF) leaves most of each disk's image in a buffer every disk shares
//! and in 0xFF; a write then gathers its bytes from the disk's own render
//! buffer, the shared buffer and one 0xFF buffer (vectored AIO writes).

use super::Disk;
use crate::manager::plan::PlannedWrite;
use crate::metadata::{Layout, Region, Src};
use crate::sys::{self, AlignedBuf};
use arrayvec::ArrayVec;
use rustix::fd::AsFd;
use rustix::io::Errno;

/// The 0xFF buffer split images write their unused parts from (as many
/// times as needed).
const FILL_BUF: usize = 4096;
/// Buffers gathered into the writes of one submission (on the stack, 16
/// bytes each): a write that needs more goes in pieces. A disk's DDF
/// sections as mdadm lays them out need about 60 (most of them the 0xFF
/// buffer again), so two disks go in one submission.
const IOV_POOL: usize = 256;

/// The buffers of a split render (see `Daemon::split`).
pub(super) struct Split {
    /// The bytes every disk of the write shares.
    pub(super) shared: AlignedBuf,
    fill: AlignedBuf,
    /// Where each render buffer's image comes from.
    pub(super) layouts: [Layout; super::WRITE_BUFS],
}

impl Split {
    pub(super) fn new(shared_len: usize) -> Split {
        let mut fill = AlignedBuf::new(FILL_BUF);
        fill.as_mut_slice().fill(0xFF);
        Split { shared: AlignedBuf::new(shared_len.div_ceil(4096) * 4096), fill, layouts: Default::default() }
    }
}

/// Append to `out` the buffers holding bytes `r.start..r.start + r.len` of
/// an image: `own` (the render buffer) itself, or as `layout` splits it
/// over `own`, the shared buffer and 0xFF. False when the layout does not
/// cover the range or a piece lies outside its buffer (nothing is written
/// then).
pub(super) fn gather<'a>(
    own: &'a [u8],
    split: Option<(&'a Split, &'a Layout)>,
    r: &Region,
    out: &mut impl FnMut(&'a [u8]) -> bool,
) -> bool {
    let Some((sp, layout)) = split else {
        return own.get(r.start..r.start + r.len).is_some_and(&mut *out);
    };
    let (start, end) = (r.start, r.start + r.len);
    let mut pos = 0;
    for e in layout {
        let (lo, hi) = (pos, pos + e.len as usize);
        pos = hi;
        if hi <= start || lo >= end {
            continue;
        }
        let (a, b) = (start.max(lo) - lo, end.min(hi) - lo);
        let piece = match e.src {
            Src::Own(o) => own.get(o as usize + a..o as usize + b),
            Src::Shared(o) => sp.shared.as_slice().get(o as usize + a..o as usize + b),
            Src::Fill => {
                let mut left = b - a;
                while left > 0 {
                    let n = left.min(FILL_BUF);
                    if !out(&sp.fill.as_slice()[..n]) {
                        return false;
                    }
                    left -= n;
                }
                continue;
            }
        };
        match piece {
            Some(p) if out(p) => {}
            _ => return false,
        }
    }
    pos >= end
}

/// Submit `planned` in rounds of at most `IOV_POOL` buffers (a
/// write needing more goes in consecutive pieces); `results[k]` fails
/// when any piece of `planned[k]` failed.
pub(super) fn submit(
    aio: &mut sys::aio::Aio,
    disks: &[Disk],
    wbufs: &[AlignedBuf],
    split: Option<&Split>,
    planned: &[PlannedWrite],
    results: &mut [Result<(), Errno>],
) {
    let mut k = 0;
    // Buffers of the planned write `k` already submitted (a long one).
    let mut skip = 0;
    while k < planned.len() {
        let mut pool: ArrayVec<std::io::IoSlice<'_>, IOV_POOL> = ArrayVec::new();
        // (planned index, first buffer in pool, count, disk offset)
        let mut parts: ArrayVec<(usize, usize, usize, u64), IOV_POOL> = ArrayVec::new();
        while k < planned.len() && !pool.is_full() {
            let w = &planned[k];
            let layout = split.map(|s| (s, &s.layouts[w.buf]));
            let first = pool.len();
            let mut offset = w.region.offset;
            let mut seen = 0;
            let mut full = false;
            let ok = gather(wbufs[w.buf].as_slice(), layout, &w.region, &mut |b| {
                seen += 1;
                if seen <= skip {
                    offset += b.len() as u64;
                    return true;
                }
                if pool.try_push(std::io::IoSlice::new(b)).is_err() {
                    full = true;
                }
                !full
            });
            if !ok && !full {
                results[k] = Err(Errno::INVAL);
                pool.truncate(first);
                k += 1;
                skip = 0;
                continue;
            }
            parts.push((k, first, pool.len() - first, offset));
            if full {
                skip = seen - 1;
                break;
            }
            k += 1;
            skip = 0;
        }
        let writes: ArrayVec<sys::aio::Write<'_>, IOV_POOL> = parts
            .iter()
            .map(|&(j, first, n, offset)| sys::aio::Write {
                fd: disks[planned[j].disk].fd.as_fd(),
                bufs: &pool[first..first + n],
                offset,
            })
            .collect();
        let mut res = [Ok(()); IOV_POOL];
        aio.write_all(&writes, &mut res[..writes.len()]);
        for (&(j, ..), r) in parts.iter().zip(res) {
            if r.is_err() && results[j].is_ok() {
                results[j] = r;
            }
        }
    }
}

#[cfg(test)]
#[path = "gather_tests.rs"]
mod tests;
