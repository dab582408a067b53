//! Failure fan-out: a disk that failed in one array is failed in every
//! array that uses it (md fails a member only in the array whose I/O
//! failed); so is a member on a disk the metadata records failed, or on a
//! disk whose metadata write failed while others took it.

use super::{ArrayView, MAX_ARRAYS};
use crate::md::DevState;
use crate::metadata::{self, DevT, MAX_SLOTS};
use arrayvec::ArrayVec;

/// Why a member is to be failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// Its metadata write failed.
    MetadataWrite,
    /// Its disk failed in another array.
    FailedElsewhere,
    /// The metadata records its disk failed.
    RecordedFailed,
}

/// One member to fail: write `faulty` to its `state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fail {
    pub array: usize,
    pub member: usize,
    pub why: Why,
}

/// Most members one fan-out may fail.
pub const MAX_FAILS: usize = MAX_ARRAYS * MAX_SLOTS;

/// The members to fail now. `meta_failed`: disks whose metadata write
/// failed (taken by the caller: reported once).
pub fn fan_out(
    arrays: &[ArrayView<'_>],
    meta_failed: &[DevT],
    md: &dyn metadata::Manager,
) -> ArrayVec<Fail, MAX_FAILS> {
    let mut failed: ArrayVec<DevT, MAX_SLOTS> = ArrayVec::new();
    for a in arrays {
        for (i, s) in a.ctx.slots.iter().enumerate() {
            if a.member_failed(i) && !failed.contains(&s.dev) {
                let _ = failed.try_push(s.dev);
            }
        }
    }
    let mut out = ArrayVec::new();
    for (ai, a) in arrays.iter().enumerate() {
        for (i, s) in a.ctx.slots.iter().enumerate() {
            if a.member_leaving(i) || s.state.has(DevState::FAULTY) {
                continue;
            }
            let why = if meta_failed.contains(&s.dev) {
                Why::MetadataWrite
            } else if failed.contains(&s.dev) {
                Why::FailedElsewhere
            } else if md.disk_failed(s.dev) {
                Why::RecordedFailed
            } else {
                continue;
            };
            let _ = out.try_push(Fail { array: ai, member: i, why });
        }
    }
    out
}
