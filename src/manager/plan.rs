//! The metadata write planner: which disk receives which image, from which
//! buffer, in which phase. It does no I/O itself; the shell renders and
//! writes through [`WriteIo`], so the plan can be tested without disks.
//!
//! Every disk is written together; identical images share one buffer of a
//! small pool (a batch ends when the pool is full). A format that needs
//! several writes per disk (DDF: sections, then the header that describes
//! them) gets them in phases: every disk's first write, then every disk's
//! second, and so on; a disk whose write failed gets none of the later ones.

use crate::metadata::{Region, Regions, MAX_DISKS};
use arrayvec::ArrayVec;

/// One write of a phase: `region` of buffer `buf` to shell disk `disk`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedWrite {
    pub disk: usize,
    pub buf: usize,
    pub region: Region,
}

/// The I/O the planner needs; the shell implements it over its disks, its
/// render buffers and AIO.
pub trait WriteIo {
    /// The shell's disk that metadata disk `i` of this write goes to, or
    /// `None` if it is not to be written (unknown to the shell).
    fn target(&self, i: usize) -> Option<usize>;
    /// Render metadata disk `i` (for shell disk `disk`) into buffer `buf`;
    /// the writes in order, empty if it does not fit.
    fn render(&mut self, i: usize, disk: usize, buf: usize) -> Regions;
    /// Whether buffers `a` and `b` hold the same bytes in `regions`.
    fn same(&self, a: usize, b: usize, regions: &Regions) -> bool;
    /// Perform one phase's writes together; one result each, in order
    /// (`Err` holds the errno).
    fn write(&mut self, writes: &[PlannedWrite], results: &mut [Result<(), i32>]);
}

/// What a whole write achieved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// At least one disk received every write: the change survives a
    /// restart (the loader takes the newest copy).
    pub any_ok: bool,
    /// Shell disks with a failed write (each once).
    pub failed: ArrayVec<usize, MAX_DISKS>,
    /// Per metadata disk written: whether it received every write (for the
    /// format, [`crate::metadata::Writer::written`]).
    pub written: ArrayVec<(usize, bool), MAX_DISKS>,
}

impl Outcome {
    /// The disks to fail in md for their failed write: none when no disk
    /// took the write (that says nothing against one disk).
    pub fn to_fail(&self) -> &[usize] {
        if self.any_ok {
            &self.failed
        } else {
            &[]
        }
    }
}

/// Write metadata disks `0..n` with a pool of `bufs` render buffers.
pub fn write_all(n: usize, bufs: usize, io: &mut dyn WriteIo) -> Outcome {
    let mut out = Outcome::default();
    let bufs = bufs.max(1);
    let mut i = 0;
    while i < n {
        // Fill the buffer pool with distinct images, then write a batch:
        // (buffer, shell disk, regions, metadata disk).
        let mut batch: ArrayVec<(usize, usize, Regions, usize), MAX_DISKS> = ArrayVec::new();
        // The regions each filled buffer holds.
        let mut images: ArrayVec<Regions, MAX_DISKS> = ArrayVec::new();
        while i < n && images.len() < bufs && !batch.is_full() {
            let Some(d) = io.target(i) else {
                i += 1;
                continue;
            };
            let slot = images.len();
            let regions = io.render(i, d, slot);
            let md_disk = i;
            i += 1;
            if regions.is_empty() {
                continue;
            }
            match (0..images.len()).find(|&j| images[j] == regions && io.same(j, slot, &regions)) {
                Some(j) => batch.push((j, d, regions, md_disk)),
                None => {
                    images.push(regions.clone());
                    batch.push((slot, d, regions, md_disk));
                }
            }
        }
        let phases = batch.iter().map(|b| b.2.len()).max().unwrap_or(0);
        let mut failed = [false; MAX_DISKS];
        for ph in 0..phases {
            let mut writes: ArrayVec<PlannedWrite, MAX_DISKS> = ArrayVec::new();
            let mut who: ArrayVec<usize, MAX_DISKS> = ArrayVec::new();
            for (k, (b, d, regions, _)) in batch.iter().enumerate() {
                let Some(r) = regions.get(ph) else { continue };
                if failed[k] {
                    continue;
                }
                writes.push(PlannedWrite { disk: *d, buf: *b, region: *r });
                who.push(k);
            }
            let mut results = [Ok(()); MAX_DISKS];
            io.write(&writes, &mut results[..writes.len()]);
            for (w, res) in results[..writes.len()].iter().enumerate() {
                if res.is_err() {
                    let k = who[w];
                    failed[k] = true;
                    let d = batch[k].1;
                    if !out.failed.contains(&d) {
                        let _ = out.failed.try_push(d);
                    }
                }
            }
        }
        out.any_ok |= failed[..batch.len()].iter().any(|f| !f);
        for (k, b) in batch.iter().enumerate() {
            let _ = out.written.try_push((b.3, !failed[k]));
        }
    }
    out
}

#[cfg(test)]
mod tests;
