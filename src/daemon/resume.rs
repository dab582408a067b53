//! Resuming rebuilds at their checkpoints when an array is found: the core
//! ([`crate::manager::resume`]) says which rebuilding members are taken out
//! and put back with `recovery_start`; the helper thread does it, and each
//! result goes back to the core, which says what the array's tracking
//! becomes.

use super::array::{Array, Member};
use super::manager::member_job;
use super::sysfs::path;
use super::Daemon;
use crate::manager::resume::{self, Readded, Resume};
use crate::metadata::{SlotInfo, MAX_SLOTS};
use crate::sys::worker::{Done, Job, Op, Step};
use crate::{error, info, warn};
use arrayvec::ArrayVec;

impl Daemon {
    /// Before a newly found array is made writable, make the kernel resume
    /// each rebuilding member at the checkpoint the metadata holds. Taking
    /// a member out and putting it back can sleep in the kernel (and waits
    /// for md to delete the old dev-* directory), so the helper thread does
    /// it; meanwhile the array waits in `resuming`, unmonitored. Returns
    /// the array if nothing needs doing.
    pub(super) fn start_resume(&mut self, mut a: Box<Array>) -> Option<Box<Array>> {
        if self.resuming.is_full() {
            return Some(a);
        }
        let mut buf = [0u8; crate::sys::ATTR_BUF];
        let state = a.array_state.read(&mut buf).map(crate::md::ArrayState::parse);
        let readonly = state == Ok(crate::md::ArrayState::Readonly);
        let plan = resume::plan(&a.mon.ctx, self.md.as_ref(), readonly);
        for &(member, at, pos) in &plan.already {
            if at < crate::md::MAX_SECTOR {
                let (slot, kname) = (a.mon.ctx.slots[member].slot, &a.members[member].kname);
                info!(
                    "{}: {}: rebuild of slot {slot} ({kname}) resumes at sector {at} (checkpoint {pos}, set by mdadm)",
                    self.devnm, a.devnm
                );
            }
        }
        let mut r = Resume::default();
        for &(i, pos) in &plan.readd {
            let s = &a.mon.ctx.slots[i];
            let kname = &a.members[i].kname;
            let token = self.token();
            let Some(job) = readd_job(&a.devnm, kname, s, pos, token) else {
                warn!("{}: {}: cannot read the geometry of {kname}; its rebuild restarts", self.devnm, a.devnm);
                continue;
            };
            if !self.worker.submit(job) {
                warn!("{}: {}: helper busy; the rebuild of {kname} restarts", self.devnm, a.devnm);
                continue;
            }
            r.submitted(i, pos, token);
        }
        if r.is_empty() {
            return Some(a);
        }
        a.check_degraded = false;
        self.resuming.push(Box::new(Resuming { array: a, resume: r, opened: ArrayVec::new() }));
        None
    }

    /// Note a finished re-add job; false if `done` is not one.
    pub(super) fn readd_done(&mut self, done: Done) -> bool {
        for r in self.resuming.iter_mut() {
            let Some((member, _)) = r.resume.job(done.token) else { continue };
            let a = &r.array;
            let (slot, kname) = (a.mon.ctx.slots[member].slot, &a.members[member].kname);
            let why = match done.result {
                Ok(()) => match Member::open(&a.devnm, kname) {
                    Ok(m) => {
                        let _ = r.opened.try_push((member, m));
                        r.resume.done(done.token, Readded::Back);
                        return true;
                    }
                    Err(_) => "opening its attributes",
                },
                Err((step, e)) => {
                    warn!("{}: {}: re-adding {kname}: step {step} failed: {e}", self.devnm, a.devnm);
                    READD_STEPS[usize::from(step).min(READD_STEPS.len() - 1)]
                }
            };
            warn!("{}: {}: cannot resume slot {slot} ({kname}) at the checkpoint: {why}", self.devnm, a.devnm);
            let dir = path(format_args!("/sys/block/{}/md/dev-{kname}", a.devnm));
            let left = rustix::fs::stat(dir.as_str()).is_err();
            r.resume.done(done.token, Readded::Failed { left });
            return true;
        }
        false
    }

    /// Arrays whose re-adds have all finished start being monitored.
    pub(super) fn finish_resumes(&mut self) {
        let mut k = 0;
        while k < self.resuming.len() {
            if !self.resuming[k].resume.finished() {
                k += 1;
                continue;
            }
            let Resuming { mut array, resume, mut opened } = *self.resuming.remove(k);
            let outcome = resume.finish(&mut array.mon.ctx);
            for &(member, pos) in &outcome.resumed {
                if let Some(j) = opened.iter().position(|(i, _)| *i == member) {
                    array.members[member] = opened.remove(j).1;
                }
                let (slot, kname) = (array.mon.ctx.slots[member].slot, &array.members[member].kname);
                info!(
                    "{}: {}: rebuild of slot {slot} ({kname}) resumes at sector {pos} from the checkpoint",
                    self.devnm, array.devnm
                );
            }
            // Those that left the array half-way: their slots ask for a spare.
            for &i in &outcome.gone {
                array.drop_member(i);
            }
            array.check_degraded |= outcome.check_degraded();
            info!("{}: monitoring {} (volume {})", self.devnm, array.devnm, array.mon.ctx.inst);
            array.prime_bad_blocks(self.md.as_mut(), None, &mut self.bb);
            self.new_arrays = true;
            if self.arrays.try_push(array).is_err() {
                error!("{}: too many arrays; one is not monitored", self.devnm);
            }
            // It may have been stopped meanwhile.
            self.rescan = true;
        }
    }
}

/// An array whose rebuilding members are being put back at their checkpoint.
pub(super) struct Resuming {
    pub array: Box<Array>,
    /// The core's account of the re-adds.
    resume: Resume,
    /// Members put back, their attributes opened anew (member index).
    opened: ArrayVec<(usize, Member), MAX_SLOTS>,
}

/// What each step of a re-add job does (for messages).
const READD_STEPS: [&str; 9] = [
    "marking it faulty",
    "unblocking it",
    "removing it",
    "waiting for the kernel to delete it",
    "adding it back",
    "setting its offset",
    "setting its size",
    "setting recovery_start",
    "setting its slot",
];

/// The helper-thread job that takes member `kname` out of its slot and puts
/// it back with `recovery_start = pos` (offset and size as they were).
fn readd_job(devnm: &str, kname: &str, s: &SlotInfo, pos: u64, token: u32) -> Option<Job> {
    let dev_path = |name: &str| path(format_args!("/sys/block/{devnm}/md/dev-{kname}/{name}"));
    let mut buf = [0u8; 64];
    let mut read =
        |name: &str| super::sysfs::read_text(dev_path(name).as_str(), &mut buf).ok().and_then(crate::md::parse_u64);
    let offset = read("offset")?;
    let size = read("size")?;
    let mut job = member_job(token, devnm, kname)?;
    // A write retried while md answers EBUSY (see `Op::WriteBusy`): on Linux
    // 6.12 taking the first rebuilding member out queues md's spare work,
    // and the next member's `remove` or `slot` met it running.
    let busy = Op::WriteBusy { ms: 2000 };
    for step in [
        Step::new(Op::Write, true, "state", format_args!("faulty")),
        Step::new(Op::Write, true, "state", format_args!("-blocked")),
        Step::new(busy, true, "state", format_args!("remove")),
        Step::new(Op::WaitGone { ms: 3000 }, true, "", format_args!("")),
        Step::new(Op::Write, false, "new_dev", format_args!("{}:{}", s.dev.major, s.dev.minor)),
        Step::new(Op::Write, true, "offset", format_args!("{offset}")),
        Step::new(Op::Write, true, "size", format_args!("{size}")),
        Step::new(Op::Write, true, "recovery_start", format_args!("{pos}")),
        Step::new(busy, true, "slot", format_args!("{}", s.slot)),
    ] {
        job.steps.push(step);
    }
    Some(job)
}
