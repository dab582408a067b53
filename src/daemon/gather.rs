//! Gathering the bytes of metadata writes: a format that renders split
//! (DDF) leaves most of each disk's image in parts every disk shares (the
//! model's own buffers, sealed in place) and in 0xFF; a write then gathers
//! its bytes from the disk's own render buffer, the shared parts and one
//! 0xFF buffer (vectored AIO writes, which complete before the model can
//! change again).

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
/// The shared parts of the current write, from the model (DDF: the
/// controller, physical and virtual disk tables and every configuration
/// record).
pub(super) type SharedParts<'a> = ArrayVec<&'a [u8], { crate::metadata::MAX_SHARED_PARTS }>;

/// The buffers of a split render (see `Daemon::split`).
pub(super) struct Split {
    fill: AlignedBuf,
    /// Where each render buffer's image comes from.
    pub(super) layouts: [Layout; super::WRITE_BUFS],
}

impl Split {
    pub(super) fn new() -> Split {
        let mut fill = AlignedBuf::new(FILL_BUF);
        fill.as_mut_slice().fill(0xFF);
        Split { fill, layouts: Default::default() }
    }
}

/// Hand `out` bytes `lo..hi` of the shared parts laid end to end, one
/// buffer per part the range touches; false when the parts end first.
fn shared_pieces<'a>(parts: &[&'a [u8]], lo: usize, hi: usize, out: &mut impl FnMut(&'a [u8]) -> bool) -> bool {
    let mut base = 0usize;
    let mut pos = lo;
    for &p in parts {
        let Some(end) = base.checked_add(p.len()) else { return false };
        if pos < hi && pos >= base && pos < end {
            let stop = hi.min(end);
            if !out(&p[pos - base..stop - base]) {
                return false;
            }
            pos = stop;
        }
        base = end;
    }
    pos >= hi
}

/// Append to `out` the buffers holding bytes `r.start..r.start + r.len` of
/// an image: `own` (the render buffer) itself, or as `layout` splits it
/// over `own`, the `shared` parts and 0xFF. False when the layout does not
/// cover the range or a piece lies outside its buffer (nothing is written
/// then).
pub(super) fn gather<'a>(
    own: &'a [u8],
    split: Option<(&'a Split, &'a Layout)>,
    shared: &[&'a [u8]],
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
            Src::Shared(o) => {
                if !shared_pieces(shared, o as usize + a, o as usize + b, out) {
                    return false;
                }
                continue;
            }
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
    shared: &[&[u8]],
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
            let ok = gather(wbufs[w.buf].as_slice(), layout, shared, &w.region, &mut |b| {
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
