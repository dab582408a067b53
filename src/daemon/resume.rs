//! Resuming rebuilds at their checkpoints when an array is found: each
//! rebuilding member the metadata holds a checkpoint for is taken out and
//! put back with `recovery_start` by the helper thread (see
//! [`crate::manager::decide::resume_plan`] for which, and why).

use super::array::Member;
use super::manager::member_job;
use super::sysfs::path;
use super::Daemon;
use crate::manager::decide::Resume;
use crate::metadata::{SlotInfo, MAX_SLOTS};
use crate::sys::worker::{Done, Job, Op, Step};
use crate::{error, info, warn};
use arrayvec::ArrayVec;

impl Daemon {
    /// Before a newly found array is made writable, make the kernel resume
    /// each rebuilding member at the checkpoint the metadata holds (mdadm
    /// resumes only a single rebuilding member; with several it starts all
    /// from zero). The kernel takes a new `recovery_start` only for a device
    /// not in a slot, so the member is taken out and put back. That can
    /// sleep in the kernel (and waits for md to delete the old dev-*
    /// directory), so the helper thread does it; meanwhile the array waits
    /// in `resuming`, unmonitored. Returns the array if nothing needs doing.
    pub(super) fn start_resume(&mut self, mut a: Box<super::array::Array>) -> Option<Box<super::array::Array>> {
        let mut buf = [0u8; crate::sys::ATTR_BUF];
        let state = a.array_state.read(&mut buf).map(crate::md::ArrayState::parse);
        if state != Ok(crate::md::ArrayState::Readonly) || self.resuming.is_full() {
            return Some(a);
        }
        let mut jobs = ArrayVec::new();
        for r in crate::manager::decide::resume_plan(&a.mon.ctx, self.md.as_ref()) {
            let (i, pos) = match r {
                Resume::Readd { member, pos } => (member, pos),
                Resume::AlreadyAt { member, at, pos } => {
                    // mdadm already started it there (it does for a single
                    // rebuilding member).
                    if at < crate::md::MAX_SECTOR {
                        let (slot, kname) = (a.mon.ctx.slots[member].slot, &a.members[member].kname);
                        info!(
                            "{}: {}: rebuild of slot {slot} ({kname}) resumes at sector {at} (checkpoint {pos}, set by mdadm)",
                            self.devnm, a.devnm
                        );
                    }
                    continue;
                }
            };
            let s = &a.mon.ctx.slots[i];
            let kname = &a.members[i].kname;
            let Some(job) = readd_job(&a.devnm, kname, s, pos, self.next_token.wrapping_add(1)) else {
                warn!("{}: {}: cannot read the geometry of {kname}; its rebuild restarts", self.devnm, a.devnm);
                continue;
            };
            if !self.worker.submit(job) {
                warn!("{}: {}: helper busy; the rebuild of {kname} restarts", self.devnm, a.devnm);
                continue;
            }
            self.next_token = self.next_token.wrapping_add(1);
            jobs.push(Readd { member: i, token: self.next_token, pos, result: None });
        }
        if jobs.is_empty() {
            return Some(a);
        }
        a.check_degraded = false;
        self.resuming.push(Box::new(Resuming { array: a, jobs }));
        None
    }

    /// Note a finished re-add job; false if `token` is not one.
    pub(super) fn readd_done(&mut self, done: Done) -> bool {
        for r in self.resuming.iter_mut() {
            if let Some(j) = r.jobs.iter_mut().find(|j| j.token == done.token) {
                j.result = Some(done.result);
                return true;
            }
        }
        false
    }

    /// Arrays whose re-adds have all finished start being monitored.
    pub(super) fn finish_resumes(&mut self) {
        let mut k = 0;
        while k < self.resuming.len() {
            if self.resuming[k].jobs.iter().any(|j| j.result.is_none()) {
                k += 1;
                continue;
            }
            let Resuming { mut array, jobs } = *self.resuming.remove(k);
            let a = &mut array;
            let mut gone: ArrayVec<usize, MAX_SLOTS> = ArrayVec::new();
            for j in &jobs {
                let s = a.mon.ctx.slots[j.member];
                let kname = a.members[j.member].kname.clone();
                let opened = match j.result {
                    Some(Ok(())) => Member::open(&a.devnm, &kname).map_err(|_| "opening its attributes"),
                    Some(Err((step, e))) => {
                        warn!("{}: {}: re-adding {kname}: step {step} failed: {e}", self.devnm, a.devnm);
                        Err(READD_STEPS[usize::from(step).min(READD_STEPS.len() - 1)])
                    }
                    None => Err("not done"),
                };
                match opened {
                    Ok(m) => {
                        info!(
                            "{}: {}: rebuild of slot {} ({}) resumes at sector {} from the checkpoint",
                            self.devnm, a.devnm, s.slot, kname, j.pos
                        );
                        a.members[j.member] = m;
                        a.mon.ctx.slots[j.member].recovery_start = j.pos;
                    }
                    Err(why) => {
                        warn!(
                            "{}: {}: cannot resume slot {} ({}) at the checkpoint: {why}",
                            self.devnm, a.devnm, s.slot, kname
                        );
                        let dir = path(format_args!("/sys/block/{}/md/dev-{kname}", a.devnm));
                        if rustix::fs::stat(dir.as_str()).is_err() {
                            // It left the array half-way: a spare (or it) is added back.
                            gone.push(j.member);
                        }
                    }
                }
            }
            gone.sort_unstable_by(|x, y| y.cmp(x));
            for i in gone {
                array.drop_member(i);
                array.check_degraded = true;
            }
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
    pub array: Box<super::array::Array>,
    jobs: ArrayVec<Readd, MAX_SLOTS>,
}

struct Readd {
    /// Index in `array.members`.
    member: usize,
    token: u32,
    pos: u64,
    result: Option<Result<(), (u8, rustix::io::Errno)>>,
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
