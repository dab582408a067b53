//! Rebuilds resumed at their checkpoints when an array is found, sans I/O.
//!
//! mdadm resumes a single rebuilding member at the checkpoint; with several
//! it starts them all from zero. The kernel takes a new `recovery_start`
//! only for a device that is not in a slot, so each rebuilding member the
//! metadata holds a checkpoint for is taken out and put back (a re-add,
//! done by the executor: it can sleep on the array's suspend lock). The
//! array is monitored once every re-add has ended; this module decides
//! which members are re-added and what their results mean.

use crate::metadata::{self, ArrayCtx, MAX_SLOTS};
use arrayvec::ArrayVec;

/// Which members of a newly found array to re-add.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// (member, checkpoint): re-add with `recovery_start` = checkpoint.
    pub readd: ArrayVec<(usize, u64), MAX_SLOTS>,
    /// (member, md's `recovery_start`, checkpoint): md already resumes it
    /// at or past the checkpoint (mdadm set it): nothing to do.
    pub already: ArrayVec<(usize, u64, u64), MAX_SLOTS>,
}

/// The plan for array `ctx`: only while it is still read-only (before md
/// starts any rebuild), for every member the metadata holds a checkpoint
/// for.
pub fn plan(ctx: &ArrayCtx, md: &dyn metadata::Manager, readonly: bool) -> Plan {
    let mut p = Plan::default();
    if !readonly {
        return p;
    }
    for (i, s) in ctx.slots.iter().enumerate() {
        let Some(pos) = md.resume_position(ctx, s.slot) else { continue };
        if s.recovery_start >= pos {
            p.already.push((i, s.recovery_start, pos));
        } else {
            p.readd.push((i, pos));
        }
    }
    p
}

/// How one re-add ended, as the shell saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readded {
    /// Back in its slot with the new `recovery_start`, its attributes open.
    Back,
    /// A step failed (or its attributes could not be opened); `left`: the
    /// device is no longer in the array.
    Failed { left: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Readd {
    member: usize,
    pos: u64,
    token: u32,
    result: Option<Readded>,
}

/// One array's re-adds in flight.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    jobs: ArrayVec<Readd, MAX_SLOTS>,
}

/// What the array's tracking becomes once every re-add has ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// (member, checkpoint): resumed there (`recovery_start` is set in the
    /// context by [`Resume::finish`]).
    pub resumed: ArrayVec<(usize, u64), MAX_SLOTS>,
    /// (member, checkpoint): not resumed, still in the array (its rebuild
    /// goes on from where md has it).
    pub kept: ArrayVec<(usize, u64), MAX_SLOTS>,
    /// Members that left the array half-way, highest index first (drop
    /// them in this order); their slots ask for a spare.
    pub gone: ArrayVec<usize, MAX_SLOTS>,
}

impl Outcome {
    /// The array asks for spares (a member left).
    pub fn check_degraded(&self) -> bool {
        !self.gone.is_empty()
    }
}

impl Resume {
    /// The re-add of `member` to `pos` went to the executor as `token`.
    pub fn submitted(&mut self, member: usize, pos: u64, token: u32) {
        let _ = self.jobs.try_push(Readd { member, pos, token, result: None });
    }

    /// No re-add went to the executor: monitor the array at once.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The job `token` ended; false if it is not one of these.
    pub fn done(&mut self, token: u32, r: Readded) -> bool {
        match self.jobs.iter_mut().find(|j| j.token == token && j.result.is_none()) {
            Some(j) => {
                j.result = Some(r);
                true
            }
            None => false,
        }
    }

    /// The member and checkpoint of job `token`.
    pub fn job(&self, token: u32) -> Option<(usize, u64)> {
        self.jobs.iter().find(|j| j.token == token).map(|j| (j.member, j.pos))
    }

    /// Every re-add has ended.
    pub fn finished(&self) -> bool {
        self.jobs.iter().all(|j| j.result.is_some())
    }

    /// Once [`Self::finished`]: resumed members get their checkpoint as
    /// `recovery_start` in `ctx`; the outcome says which are kept as they
    /// are and which left (to be dropped by the shell, in that order).
    pub fn finish(&self, ctx: &mut ArrayCtx) -> Outcome {
        let mut o = Outcome::default();
        for j in &self.jobs {
            match j.result {
                Some(Readded::Back) => {
                    if let Some(s) = ctx.slots.get_mut(j.member) {
                        s.recovery_start = j.pos;
                    }
                    o.resumed.push((j.member, j.pos));
                }
                Some(Readded::Failed { left: true }) => o.gone.push(j.member),
                Some(Readded::Failed { left: false }) | None => o.kept.push((j.member, j.pos)),
            }
        }
        o.gone.sort_unstable_by(|x, y| y.cmp(x));
        o
    }
}
