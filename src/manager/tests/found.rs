//! Arrays found while the daemon runs, through the core's decisions the
//! daemon uses: rebuilds resumed at their checkpoints (several members at
//! once, through the executor), and level changes.

use super::fake::*;
use crate::manager::decide::{level_change, LevelChange};
use crate::manager::resume::{plan, Readded, Resume};
use crate::md::{ArrayState, DevState, MAX_SECTOR};
use crate::metadata::{Consistency, DevT, Handler};

/// A newly found array waiting for its re-add jobs (as the daemon's
/// `Resuming`), the core's account of them.
pub struct Resuming {
    pub array: SimArray,
    pub resume: Resume,
}

impl Kernel {
    /// A rebuilding member taken out and put back with `recovery_start`.
    pub fn readd(&mut self, a: usize, d: DevT, pos: u64) -> Result<(), i32> {
        let m = self.arrays[a].members.iter_mut().find(|m| m.dev == d).ok_or(19)?;
        m.recovery_start = pos;
        Ok(())
    }
}

impl Sim {
    /// Kernel array `k` appears in /proc/mdstat (as `Daemon::manage` then
    /// `start_resume`): monitored at once, or once its rebuilding members
    /// are back at their checkpoints. The fake's job token for a re-add is
    /// the member's index.
    pub fn found(&mut self, k: usize) {
        let a = SimArray::open(&self.kernel, k);
        let mut r = Resume::default();
        let readonly = self.kernel.arrays[k].array_state == ArrayState::Readonly;
        for &(member, pos) in &plan(&a.mon.ctx, &self.md, readonly).readd {
            let dev = a.mon.ctx.slots[member].dev;
            self.jobs.push(Job { array: k, dev, kind: JobKind::Readd { member, pos } });
            r.submitted(member, pos, member as u32);
        }
        if r.is_empty() {
            self.arrays.push(a);
        } else {
            self.resuming.push(Resuming { array: a, resume: r });
        }
    }

    /// A re-add job ended (as `Daemon::readd_done`): the kernel's result,
    /// and whether the device is still in the array, go to the core.
    pub fn readd_done(&mut self, job: Job) {
        let JobKind::Readd { member, pos } = job.kind else { return };
        let result = match self.kernel.readd(job.array, job.dev, pos) {
            Ok(()) => Readded::Back,
            Err(_) => {
                let left = self.kernel.arrays[job.array].members.iter().all(|m| m.dev != job.dev);
                Readded::Failed { left }
            }
        };
        for r in self.resuming.iter_mut().filter(|r| r.array.k == job.array) {
            r.resume.done(member as u32, result);
        }
    }

    /// Arrays whose re-adds all ended are monitored (as
    /// `Daemon::finish_resumes`), with what the core made of the results.
    pub fn finish_resumes(&mut self) {
        let mut i = 0;
        while i < self.resuming.len() {
            if !self.resuming[i].resume.finished() {
                i += 1;
                continue;
            }
            let Resuming { mut array, resume } = self.resuming.remove(i);
            let o = resume.finish(&mut array.mon.ctx);
            for &m in &o.gone {
                array.mon.ctx.slots.remove(m);
                array.mon.prev_dev.remove(m);
                array.leave.remove(m);
            }
            array.check_degraded |= o.check_degraded();
            self.arrays.push(array);
        }
    }

    /// /proc/mdstat lists kernel array `k` at `level` (as `Daemon::manage`):
    /// dropped (recorded clean) or monitored afresh.
    pub fn mdstat_level(&mut self, k: usize, level: &str) {
        let Some(i) = self.arrays.iter().position(|a| a.k == k) else { return };
        match level_change(level, self.arrays[i].mon.ctx.level) {
            LevelChange::Keep => {}
            LevelChange::Reopen => {
                self.arrays.remove(i);
                self.kernel.arrays[k].level = crate::manager::decide::parse_level(level).unwrap_or(0);
                self.found(k);
            }
            LevelChange::Drop => {
                let mut a = self.arrays.remove(i);
                self.md.set_array_state(&mut a.mon.ctx, Consistency::Clean);
                self.released.push(a.mon.ctx.inst);
            }
        }
    }
}

/// RAID10 volume 0 on disks 0-3, members 1 and 2 rebuilding (mdadm
/// started both at 0), checkpoints in the metadata for both.
fn raid10_two_rebuilding() -> Sim {
    let mut k = Kernel::default();
    k.array(0, &[dev(0), dev(1), dev(2), dev(3)]);
    k.arrays[0].level = 10;
    // mdadm starts a member array of a container read-only.
    k.arrays[0].array_state = ArrayState::Readonly;
    for m in &mut k.arrays[0].members[1..3] {
        m.state = DevState(0);
        m.recovery_start = 0;
    }
    let md = FakeMd { checkpoints: vec![((0, 1), 4096), ((0, 2), 8192)], ..FakeMd::default() };
    // Nothing monitored yet: the array is about to be found.
    let mut s = Sim::new(Kernel::default(), md);
    s.kernel = k;
    s
}

#[test]
fn several_rebuilding_members_resume_at_their_checkpoints_before_monitoring() {
    let mut s = raid10_two_rebuilding();
    s.found(0);
    assert!(s.arrays.is_empty(), "not monitored while members are being put back");
    assert_eq!(s.jobs.len(), 2, "one re-add per rebuilding member");
    // The second ends first.
    s.finish_job(1);
    s.duties();
    assert!(s.arrays.is_empty());
    s.finish_job(0);
    s.duties();
    assert_eq!(s.arrays.len(), 1);
    let at: Vec<_> = s.arrays[0].mon.ctx.slots.iter().map(|m| m.recovery_start).collect();
    assert_eq!(at, vec![MAX_SECTOR, 4096, 8192, MAX_SECTOR]);
    let kernel: Vec<_> = s.kernel.arrays[0].members.iter().map(|m| m.recovery_start).collect();
    assert_eq!(kernel, at, "md was told the same");
}

#[test]
fn a_member_that_left_while_being_put_back_is_dropped_and_its_slot_asks_for_a_spare() {
    let mut s = raid10_two_rebuilding();
    s.found(0);
    // Member 1 left the kernel array meanwhile: its re-add fails.
    s.kernel.arrays[0].members.retain(|m| m.dev != dev(1));
    s.finish_job(0);
    s.finish_job(0);
    s.finish_resumes();
    let a = &s.arrays[0];
    let at: Vec<_> = a.mon.ctx.slots.iter().map(|m| (m.slot, m.recovery_start)).collect();
    assert_eq!(at, vec![(0, MAX_SECTOR), (2, 8192), (3, MAX_SECTOR)]);
    assert!(a.check_degraded);
}

#[test]
fn raid0_is_recorded_clean_and_dropped_another_level_is_monitored_afresh() {
    let mut k = Kernel::default();
    k.array(0, &[dev(0), dev(1)]);
    k.array(1, &[dev(2), dev(3)]);
    let mut s = Sim::new(k, FakeMd::default());
    s.monitor_pass();
    s.mdstat_level(0, "raid5");
    assert!(s.released.is_empty(), "same level: kept");
    s.mdstat_level(0, "raid0");
    assert_eq!(s.released, vec![0]);
    assert_eq!(s.md.states.last(), Some(&(0, Consistency::Clean)), "recorded clean as it goes");
    s.mdstat_level(1, "raid6");
    assert_eq!(s.arrays.len(), 1);
    assert_eq!((s.arrays[0].mon.ctx.inst, s.arrays[0].mon.ctx.level), (1, 6), "monitored afresh at its new level");
}

#[test]
fn an_array_found_writable_is_monitored_at_once_its_rebuilds_left_to_md() {
    // Found after md made it writable (mdmon restarted): re-adding now
    // would restart a rebuild md is running.
    let mut s = raid10_two_rebuilding();
    s.kernel.arrays[0].array_state = ArrayState::Active;
    s.found(0);
    assert!(s.jobs.is_empty(), "no re-add");
    assert_eq!(s.arrays.len(), 1);
    let at: Vec<_> = s.arrays[0].mon.ctx.slots.iter().map(|m| m.recovery_start).collect();
    assert_eq!(at, vec![MAX_SECTOR, 0, 0, MAX_SECTOR]);
}
