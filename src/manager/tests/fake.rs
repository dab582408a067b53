//! Doubles for the manager core's tests.

use crate::manager::core::{hold_recover, Finish, Manager};
use crate::manager::failures::Why;
use crate::manager::spares::Hold;
pub use crate::manager::Leave;
use crate::manager::{decide, ArrayView};
use crate::md::{ArrayState, DevState, SyncAction, MAX_SECTOR};
use crate::metadata::{self, ArrayCtx, Consistency, DevT, Handler, NewMember, OpenError, SlotInfo, MAX_SLOTS};
use crate::monitor::{read_and_act, ArrayMon, DevInput, Inputs};
use arrayvec::ArrayVec;

pub fn dev(minor: u32) -> DevT {
    DevT { major: 7, minor }
}

/// Extent size on a spare, in sectors (each array claims one, in order).
pub const EXTENT: u64 = 16384;

/// A format double: spares hand out extents in the order arrays claim
/// them (as DDF allocates a spare's space), failed disks are recorded,
/// resume checkpoints are given.
#[derive(Default)]
pub struct FakeMd {
    /// Spare disks and the volumes (inst) that claimed an extent on each, in order.
    pub spares: Vec<(DevT, Vec<u32>)>,
    /// Extents per spare.
    pub room: usize,
    /// Disks recorded failed.
    pub failed: Vec<DevT>,
    /// (inst, slot) -> checkpoint.
    pub checkpoints: Vec<((u32, u32), u64)>,
    /// Members reported in sync after a recovery: (inst, slot).
    pub in_sync: Vec<(u32, u32)>,
    /// `set_array_state` calls: (inst, consistency).
    pub states: Vec<(u32, Consistency)>,
    pub log: Vec<String>,
}

impl FakeMd {
    pub fn with_spares(spares: &[DevT], room: usize) -> FakeMd {
        FakeMd { spares: spares.iter().map(|&d| (d, Vec::new())).collect(), room, ..FakeMd::default() }
    }
}

impl Handler for FakeMd {
    fn open_new(&mut self, _inst: u32) -> Result<(), OpenError> {
        Ok(())
    }
    fn set_array_state(&mut self, a: &mut ArrayCtx, c: Consistency) -> bool {
        self.states.push((a.inst, c));
        c != Consistency::Dirty
    }
    fn set_disk(&mut self, a: &mut ArrayCtx, slot: u32, state: DevState) {
        if state.has(DevState::INSYNC) && !state.has(DevState::FAULTY) && !self.in_sync.contains(&(a.inst, slot)) {
            self.in_sync.push((a.inst, slot));
        }
        if state.has(DevState::FAULTY) {
            self.log.push(format!("fail inst {} slot {slot}", a.inst));
            if let Some(s) = a.slots.iter().find(|s| s.slot == slot) {
                if !self.failed.contains(&s.dev) {
                    self.failed.push(s.dev);
                }
            }
        }
    }
}

impl metadata::Manager for FakeMd {
    fn add_disk(&mut self, _d: crate::metadata::NewDisk) -> bool {
        false
    }
    fn remove_disk(&mut self, _dev: DevT) {}
    fn choose_spares(&self, a: &ArrayCtx, out: &mut ArrayVec<NewMember, MAX_SLOTS>) {
        let mut used: Vec<DevT> = Vec::new();
        for slot in 0..a.raid_disks {
            if a.slots.iter().any(|s| s.slot == slot) {
                continue;
            }
            let pick = self.spares.iter().find(|(d, claims)| {
                claims.len() < self.room && !claims.contains(&a.inst) && !used.contains(d) && !self.failed.contains(d)
            });
            if let Some((d, claims)) = pick {
                used.push(*d);
                out.push(NewMember {
                    slot,
                    dev: *d,
                    data_offset: claims.len() as u64 * EXTENT,
                    component_size: EXTENT,
                });
            }
        }
    }
    fn record_rebuild(&mut self, a: &ArrayCtx, added: &[NewMember], _random: u32) {
        for n in added {
            if let Some((_, claims)) = self.spares.iter_mut().find(|(d, _)| *d == n.dev) {
                claims.push(a.inst);
            }
        }
    }
    fn resume_position(&self, a: &ArrayCtx, slot: u32) -> Option<u64> {
        self.checkpoints.iter().find(|(k, _)| *k == (a.inst, slot)).map(|(_, p)| *p)
    }
    fn process_update(&mut self, _p: &[u8], _active: &[u32]) -> Result<crate::metadata::UpdateDone, &'static str> {
        Err("no updates")
    }
    fn disk_failed(&self, d: DevT) -> bool {
        self.failed.contains(&d)
    }
}

/// One member of a fake md array.
#[derive(Clone, Debug)]
pub struct KMember {
    pub dev: DevT,
    pub slot: Option<u32>,
    pub state: DevState,
    pub offset: u64,
    /// `recovery_start` (sectors; `MAX_SECTOR` in sync).
    pub recovery_start: u64,
}

/// A fake md array: what sysfs would show, changed by the rules below.
#[derive(Clone, Debug)]
pub struct KArray {
    pub inst: u32,
    pub level: i32,
    pub raid_disks: u32,
    pub array_state: ArrayState,
    pub sync_action: SyncAction,
    pub members: Vec<KMember>,
}

/// The fake kernel: md arrays as data; writes follow md's rules.
#[derive(Default)]
pub struct Kernel {
    pub arrays: Vec<KArray>,
    /// Removals md refuses (array, dev), once each.
    pub refuse: Vec<(usize, DevT)>,
    /// Disks md refuses to add (a write of the add job fails), once each.
    pub refuse_add: Vec<DevT>,
}

impl Kernel {
    pub fn array(&mut self, inst: u32, disks: &[DevT]) -> usize {
        let members = disks
            .iter()
            .enumerate()
            .map(|(i, &d)| KMember {
                dev: d,
                slot: Some(i as u32),
                state: DevState(DevState::INSYNC),
                offset: 0,
                recovery_start: MAX_SECTOR,
            })
            .collect();
        self.arrays.push(KArray {
            inst,
            level: 5,
            raid_disks: disks.len() as u32,
            array_state: ArrayState::Clean,
            sync_action: SyncAction::Idle,
            members,
        });
        self.arrays.len() - 1
    }
    fn member(&mut self, a: usize, d: DevT) -> Option<&mut KMember> {
        self.arrays[a].members.iter_mut().find(|m| m.dev == d)
    }
    /// md fails a member on an I/O error (or `faulty` written to `state`).
    pub fn fail(&mut self, a: usize, d: DevT) {
        if let Some(m) = self.member(a, d) {
            m.state = DevState(DevState::FAULTY);
        }
    }
    /// `remove` to a member's state: only a failed member goes; md may refuse.
    pub fn remove(&mut self, a: usize, d: DevT) -> Result<(), i32> {
        if let Some(k) = self.refuse.iter().position(|r| *r == (a, d)) {
            self.refuse.remove(k);
            return Err(16);
        }
        let arr = &mut self.arrays[a];
        match arr.members.iter().position(|m| m.dev == d) {
            Some(i) if arr.members[i].state.has(DevState::FAULTY) => {
                arr.members.remove(i);
                Ok(())
            }
            _ => Err(16),
        }
    }
    /// `new_dev`, `offset`, `size`, `slot`: a spare joins a slot
    /// (recovering); a refused one is not left in the array.
    pub fn add(&mut self, a: usize, n: &NewMember) -> Result<(), i32> {
        if let Some(k) = self.refuse_add.iter().position(|d| *d == n.dev) {
            self.refuse_add.remove(k);
            return Err(22);
        }
        self.arrays[a].members.push(KMember {
            dev: n.dev,
            slot: Some(n.slot),
            state: DevState(0),
            offset: n.data_offset,
            recovery_start: 0,
        });
        Ok(())
    }

    /// A recovery runs to its end: every member is in sync, the sync
    /// action idle.
    pub fn finish_recovery(&mut self, a: usize) {
        for m in self.arrays[a].members.iter_mut().filter(|m| !m.state.has(DevState::FAULTY)) {
            m.state = DevState(DevState::INSYNC);
        }
        self.arrays[a].sync_action = SyncAction::Idle;
    }
}

/// A job of the fake executor (the daemon's helper thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Index into `Sim::arrays`.
    pub array: usize,
    pub dev: DevT,
    pub kind: JobKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// `remove` to a member's state.
    Remove,
    /// `new_dev`, `offset`, `size`, `slot` for a spare.
    Add(NewMember),
    /// `recover` to the array's sync_action.
    Recover,
    /// Take member `member` of a newly found array out and put it back with
    /// `recovery_start = pos` (`array` is the kernel array's index).
    Readd { member: usize, pos: u64 },
}

/// Where a spare activation stands (as the daemon's `Activation`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Activation {
    None,
    /// Picks and their results.
    Adding(Vec<(NewMember, Option<bool>)>),
    Recovering,
}

/// The daemon's state of one array, reduced to what the core uses.
pub struct SimArray {
    pub k: usize,
    pub mon: ArrayMon,
    pub leave: Vec<Leave>,
    pub check_degraded: bool,
    pub failed_at: Option<u64>,
    pub activation: Activation,
}

impl SimArray {
    /// Start monitoring kernel array `k` as it is now.
    pub fn open(kernel: &Kernel, k: usize) -> SimArray {
        let ka = &kernel.arrays[k];
        let slots = ka
            .members
            .iter()
            .filter_map(|m| {
                m.slot.map(|s| SlotInfo { slot: s, dev: m.dev, recovery_start: m.recovery_start, state: m.state })
            })
            .collect();
        let ctx = ArrayCtx::new(ka.inst, ka.level, 0, ka.raid_disks, EXTENT, slots);
        let n = ctx.slots.len();
        let mut mon = ArrayMon::new(ctx);
        mon.prev_state = ArrayState::Clean;
        mon.curr_state = ArrayState::Clean;
        SimArray {
            k,
            mon,
            leave: vec![Leave::No; n],
            check_degraded: false,
            failed_at: None,
            activation: Activation::None,
        }
    }
}

/// The daemon's loop over the fake kernel, through the manager core the
/// daemon uses ([`Manager`]): the core's duties are executed on the fake
/// kernel, sleeping writes go to a fake executor whose jobs finish when a
/// test says, and results go back to the core.
pub struct Sim {
    pub kernel: Kernel,
    pub md: FakeMd,
    pub arrays: Vec<SimArray>,
    /// Executor jobs in flight, in submission order.
    pub jobs: Vec<Job>,
    pub core: Manager,
    pub now: u64,
    /// Fan-out writes made: (array, dev, why).
    pub fanned: Vec<(usize, DevT, Why)>,
    /// Spare activations: (inst, dev, data_offset).
    pub added: Vec<(u32, DevT, u64)>,
    /// Removals md refused.
    pub refused: usize,
    /// SIGTERM came.
    pub exiting: bool,
    /// Disks whose metadata write failed (as the daemon's `meta_failed`).
    pub meta_failed: Vec<DevT>,
    /// Arrays (inst) released, in order.
    pub released: Vec<u32>,
    /// Spare orders the core held, and why.
    pub holds: Vec<Hold>,
    /// Newly found arrays whose rebuilds are being resumed.
    pub resuming: Vec<super::found::Resuming>,
}

impl Sim {
    pub fn new(kernel: Kernel, md: FakeMd) -> Sim {
        let arrays = (0..kernel.arrays.len()).map(|k| SimArray::open(&kernel, k)).collect();
        Sim {
            kernel,
            md,
            arrays,
            jobs: Vec::new(),
            core: Manager::default(),
            now: 0,
            fanned: Vec::new(),
            added: Vec::new(),
            refused: 0,
            exiting: false,
            meta_failed: Vec::new(),
            released: Vec::new(),
            holds: Vec::new(),
            resuming: Vec::new(),
        }
    }

    /// The monitor's pass over every array (as `Daemon::monitor_pass`).
    pub fn monitor_pass(&mut self) {
        let mut i = 0;
        while i < self.arrays.len() {
            let a = &mut self.arrays[i];
            let ka = &self.kernel.arrays[a.k];
            let devs = a
                .mon
                .ctx
                .slots
                .iter()
                .zip(a.leave.iter())
                .map(|(s, l)| match (l, ka.members.iter().find(|m| m.dev == s.dev)) {
                    (Leave::No, Some(m)) => DevInput { state: m.state, recovery_start: None },
                    _ => DevInput { state: DevState(0), recovery_start: None },
                })
                .collect();
            let inp = Inputs {
                array_state: ka.array_state,
                sync_action: ka.sync_action,
                resync_start: Some(MAX_SECTOR),
                sync_completed: 0,
                blocked: false,
                reshape_finished: false,
                devs,
            };
            let act = read_and_act(&mut a.mon, &inp, &mut self.md);
            for &i in &act.remove {
                if a.leave[usize::from(i)] == Leave::No {
                    a.leave[usize::from(i)] = Leave::Wanted;
                }
            }
            if a.leave.iter().any(|&l| l != Leave::No) {
                self.core.lost_member(&mut a.failed_at);
            }
            if a.activation == Activation::Recovering {
                hold_recover(&mut a.mon.ctx, false);
            }
            a.check_degraded |= act.check_degraded;
            if decide::release(&act, self.exiting, a.activation != Activation::None) {
                // A stopped array is cleared (the shell writes `clear`).
                if act.next_state == Some(ArrayState::Clear) {
                    self.kernel.arrays[a.k].array_state = ArrayState::Clear;
                }
                self.released.push(a.mon.ctx.inst);
                self.arrays.remove(i);
                continue;
            }
            if let Some(s) = act.next_state {
                self.kernel.arrays[a.k].array_state = s;
            }
            i += 1;
        }
    }

    fn views<'a>(arrays: &'a [SimArray], kernel: &Kernel) -> Vec<ArrayView<'a>> {
        arrays
            .iter()
            .map(|a| {
                let ka = &kernel.arrays[a.k];
                ArrayView {
                    ctx: &a.mon.ctx,
                    leaving: a.leave.iter().copied().collect(),
                    check_degraded: a.check_degraded,
                    failed_at: a.failed_at,
                    sync_idle: a.check_degraded && ka.sync_action == SyncAction::Idle,
                    activating: a.activation != Activation::None,
                }
            })
            .collect()
    }

    /// The manager's duties (as `Daemon::manager_duties`), without
    /// completing any job: finished activations are recorded, then the
    /// core's pass is executed.
    pub fn duties(&mut self) {
        self.finish_activations();
        self.finish_resumes();
        let meta_failed = core::mem::take(&mut self.meta_failed);
        let views = Sim::views(&self.arrays, &self.kernel);
        let d = self.core.duties(&views, &meta_failed, &self.md, self.exiting);
        drop(views);
        for f in &d.fail {
            let (k, dv) = (self.arrays[f.array].k, self.arrays[f.array].mon.ctx.slots[f.member].dev);
            self.kernel.fail(k, dv);
            self.fanned.push((f.array, dv, f.why));
        }
        for &(ai, i) in &d.remove {
            let a = &mut self.arrays[usize::from(ai)];
            a.leave[usize::from(i)] = Leave::InFlight;
            let dev = a.mon.ctx.slots[usize::from(i)].dev;
            self.jobs.push(Job { array: usize::from(ai), dev, kind: JobKind::Remove });
        }
        for &ai in &d.served {
            self.arrays[ai].check_degraded = false;
            self.arrays[ai].failed_at = None;
        }
        self.holds.extend(d.hold);
        if let Some(act) = d.activate {
            // `frozen` is the executor's first job of an activation (it
            // runs jobs in order): done at once here.
            let k = self.arrays[act.array].k;
            self.kernel.arrays[k].sync_action = SyncAction::Frozen;
            for n in &act.picks {
                self.jobs.push(Job { array: act.array, dev: n.dev, kind: JobKind::Add(*n) });
            }
            self.arrays[act.array].activation = Activation::Adding(act.picks.iter().map(|&n| (n, None)).collect());
        }
    }

    /// Activations whose picks all have a result (as
    /// `Daemon::finish_activations`).
    fn finish_activations(&mut self) {
        for ai in 0..self.arrays.len() {
            let a = &mut self.arrays[ai];
            let Activation::Adding(picks) = &a.activation else { continue };
            if picks.iter().any(|p| p.1.is_none()) {
                continue;
            }
            let mut added = Vec::new();
            for (n, ok) in picks.clone() {
                if ok != Some(true) {
                    continue;
                }
                let info = SlotInfo { slot: n.slot, dev: n.dev, recovery_start: 0, state: DevState(0) };
                let pos = a.mon.ctx.slots.iter().position(|s| s.slot > n.slot).unwrap_or(a.mon.ctx.slots.len());
                a.mon.ctx.slots.insert(pos, info);
                a.mon.prev_dev.insert(pos.min(a.mon.prev_dev.len()), info.state);
                a.leave.insert(pos, Leave::No);
                self.added.push((a.mon.ctx.inst, n.dev, n.data_offset));
                added.push(n);
            }
            a.activation = Activation::None;
            match self.core.activated(&mut self.md, &a.mon.ctx, &added, 0) {
                Finish::Recover => {
                    hold_recover(&mut a.mon.ctx, true);
                    a.activation = Activation::Recovering;
                    self.jobs.push(Job { array: ai, dev: DevT::default(), kind: JobKind::Recover });
                }
                Finish::Idle => self.kernel.arrays[a.k].sync_action = SyncAction::Idle,
            }
        }
    }

    /// The executor finishes job `j` (of those in flight); the result goes
    /// back as the daemon's `collect_done` hands it.
    pub fn finish_job(&mut self, j: usize) {
        let job = self.jobs.remove(j);
        if let JobKind::Readd { .. } = job.kind {
            return self.readd_done(job);
        }
        let a = &mut self.arrays[job.array];
        match job.kind {
            JobKind::Remove => {
                let i = a.mon.ctx.slots.iter().position(|s| s.dev == job.dev).unwrap();
                let r = self.kernel.remove(a.k, job.dev);
                self.core.removal_done(self.now, r.is_ok());
                match r {
                    Ok(()) => {
                        a.mon.ctx.slots.remove(i);
                        a.mon.prev_dev.remove(i);
                        a.leave.remove(i);
                        a.check_degraded = true;
                    }
                    Err(_) => {
                        a.leave[i] = Leave::Wanted;
                        self.refused += 1;
                    }
                }
            }
            JobKind::Add(n) => {
                let ok = self.kernel.add(a.k, &n).is_ok();
                if let Activation::Adding(picks) = &mut a.activation {
                    if let Some(p) = picks.iter_mut().find(|p| p.0 == n) {
                        p.1 = Some(ok);
                    }
                }
            }
            JobKind::Readd { .. } => {}
            JobKind::Recover => {
                self.kernel.arrays[a.k].sync_action = SyncAction::Recover;
                a.activation = Activation::None;
            }
        }
    }

    /// Loop iterations until nothing is in flight. Each iteration the
    /// executor may finish one job: `pick` chooses which (an index into
    /// the jobs in flight), or none yet.
    pub fn run(&mut self, mut pick: impl FnMut(&[Job]) -> Option<usize>) {
        for _ in 0..40 {
            self.monitor_pass();
            self.duties();
            if self.jobs.is_empty() {
                self.monitor_pass();
                self.duties();
                if self.jobs.is_empty() {
                    return;
                }
            }
            if let Some(j) = pick(&self.jobs) {
                self.finish_job(j);
            }
            self.now += 10;
        }
        panic!("the simulation did not settle: jobs {:?}", self.jobs);
    }

    /// The extents spare `d` gave, as (inst, offset), in claim order.
    pub fn extents(&self, d: DevT) -> Vec<(u32, u64)> {
        self.added.iter().filter(|a| a.1 == d).map(|a| (a.0, a.2)).collect()
    }
}
