//! Doubles for the manager core's tests.

use crate::manager::failures::{self, Why};
use crate::manager::{decide, spares, timers::Timers, ArrayView};
use crate::md::{ArrayState, DevState, SyncAction, MAX_SECTOR};
use crate::metadata::{
    ArrayCtx, Consistency, DevT, DiskGeom, Metadata, NewMember, OpenError, Regions, SlotInfo, MAX_SLOTS,
};
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
    pub log: Vec<String>,
}

impl FakeMd {
    pub fn with_spares(spares: &[DevT], room: usize) -> FakeMd {
        FakeMd { spares: spares.iter().map(|&d| (d, Vec::new())).collect(), room, ..FakeMd::default() }
    }
}

impl Metadata for FakeMd {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn open_new(&mut self, _inst: u32) -> Result<(), OpenError> {
        Ok(())
    }
    fn set_array_state(&mut self, _a: &mut ArrayCtx, c: Consistency) -> bool {
        c != Consistency::Dirty
    }
    fn set_disk(&mut self, a: &mut ArrayCtx, slot: u32, state: DevState) {
        if state.has(DevState::FAULTY) {
            self.log.push(format!("fail inst {} slot {slot}", a.inst));
            if let Some(s) = a.slots.iter().find(|s| s.slot == slot) {
                if !self.failed.contains(&s.dev) {
                    self.failed.push(s.dev);
                }
            }
        }
    }
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
    fn updates_pending(&self) -> bool {
        false
    }
    fn render_len(&self) -> usize {
        0
    }
    fn begin_write(&mut self) -> usize {
        0
    }
    fn disk_dev(&self, _i: usize) -> Option<DevT> {
        None
    }
    fn render(&self, _i: usize, _g: DiskGeom, _b: &mut [u8]) -> Regions {
        Regions::new()
    }
    fn end_write(&mut self) {}
    fn generation(&self) -> u32 {
        0
    }
    fn volume_dirty(&self, _inst: u32) -> Option<bool> {
        None
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
}

/// A fake md array: what sysfs would show, changed by the rules below.
#[derive(Clone, Debug)]
pub struct KArray {
    pub inst: u32,
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
}

impl Kernel {
    pub fn array(&mut self, inst: u32, disks: &[DevT]) -> usize {
        let members = disks
            .iter()
            .enumerate()
            .map(|(i, &d)| KMember { dev: d, slot: Some(i as u32), state: DevState(DevState::INSYNC), offset: 0 })
            .collect();
        self.arrays.push(KArray {
            inst,
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
    /// `new_dev`, `offset`, `slot`: a spare joins a slot (recovering).
    pub fn add(&mut self, a: usize, n: &NewMember) {
        self.arrays[a].members.push(KMember {
            dev: n.dev,
            slot: Some(n.slot),
            state: DevState(0),
            offset: n.data_offset,
        });
    }
}

/// Where a failed member is on its way out (as the daemon's `Removal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leave {
    No,
    Wanted,
    InFlight,
}

/// The daemon's state of one array, reduced to what the core uses.
pub struct SimArray {
    pub k: usize,
    pub mon: ArrayMon,
    pub leave: Vec<Leave>,
    pub check_degraded: bool,
    pub failed_at: Option<u64>,
}

/// The daemon's loop over the fake kernel, through the core's decisions.
pub struct Sim {
    pub kernel: Kernel,
    pub md: FakeMd,
    pub arrays: Vec<SimArray>,
    /// Removal jobs in flight: (array, member dev).
    pub jobs: Vec<(usize, DevT)>,
    pub seq: u64,
    pub timers: Timers,
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
}

impl Sim {
    pub fn new(kernel: Kernel, md: FakeMd) -> Sim {
        let arrays = (0..kernel.arrays.len())
            .map(|k| {
                let ka = &kernel.arrays[k];
                let slots = ka
                    .members
                    .iter()
                    .filter_map(|m| {
                        m.slot.map(|s| SlotInfo { slot: s, dev: m.dev, recovery_start: MAX_SECTOR, state: m.state })
                    })
                    .collect();
                let ctx = ArrayCtx::new(ka.inst, 5, 0, ka.raid_disks, EXTENT, slots);
                let n = ctx.slots.len();
                let mut mon = ArrayMon::new(ctx);
                mon.prev_state = ArrayState::Clean;
                mon.curr_state = ArrayState::Clean;
                SimArray { k, mon, leave: vec![Leave::No; n], check_degraded: false, failed_at: None }
            })
            .collect();
        Sim {
            kernel,
            md,
            arrays,
            jobs: Vec::new(),
            seq: 0,
            timers: Timers::default(),
            now: 0,
            fanned: Vec::new(),
            added: Vec::new(),
            refused: 0,
            exiting: false,
            meta_failed: Vec::new(),
            released: Vec::new(),
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
                    if a.failed_at.is_none() {
                        self.seq += 1;
                        a.failed_at = Some(self.seq);
                    }
                }
            }
            a.check_degraded |= act.check_degraded;
            if decide::release(&act, self.exiting) {
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

    fn views(&self) -> Vec<ArrayView<'_>> {
        self.arrays
            .iter()
            .map(|a| ArrayView {
                ctx: &a.mon.ctx,
                leaving: a.leave.iter().map(|&l| l != Leave::No).collect(),
                check_degraded: a.check_degraded,
                failed_at: a.failed_at,
            })
            .collect()
    }

    /// The manager's duties (as `Daemon::manager_duties`), without
    /// completing any job.
    pub fn duties(&mut self) {
        self.timers.handle_timeout(self.now);
        let meta_failed = core::mem::take(&mut self.meta_failed);
        let fails = failures::fan_out(&self.views(), &meta_failed, &self.md);
        for f in fails {
            let (k, d) = (self.arrays[f.array].k, self.arrays[f.array].mon.ctx.slots[f.member].dev);
            self.kernel.fail(k, d);
            self.fanned.push((f.array, d, f.why));
        }
        for (ai, a) in self.arrays.iter_mut().enumerate() {
            for (i, l) in a.leave.iter_mut().enumerate() {
                if *l == Leave::Wanted {
                    *l = Leave::InFlight;
                    self.jobs.push((ai, a.mon.ctx.slots[i].dev));
                }
            }
        }
        let Ok(order) = spares::order(&self.views(), self.exiting) else { return };
        for ai in order {
            let a = &mut self.arrays[ai];
            a.check_degraded = false;
            a.failed_at = None;
            let mut picks = ArrayVec::new();
            self.md.choose_spares(&a.mon.ctx, &mut picks);
            for n in &picks {
                self.kernel.add(a.k, n);
                let info = SlotInfo { slot: n.slot, dev: n.dev, recovery_start: 0, state: DevState(0) };
                let pos = a.mon.ctx.slots.iter().position(|s| s.slot > n.slot).unwrap_or(a.mon.ctx.slots.len());
                a.mon.ctx.slots.insert(pos, info);
                a.mon.prev_dev.insert(pos.min(a.mon.prev_dev.len()), info.state);
                a.leave.insert(pos, Leave::No);
                self.added.push((a.mon.ctx.inst, n.dev, n.data_offset));
            }
            if !picks.is_empty() {
                self.md.record_rebuild(&a.mon.ctx, &picks, 0);
            }
        }
    }

    /// The helper thread finishes removal job `j` (of those in flight).
    pub fn finish_job(&mut self, j: usize) {
        let (ai, d) = self.jobs.remove(j);
        let a = &mut self.arrays[ai];
        let i = a.mon.ctx.slots.iter().position(|s| s.dev == d).unwrap();
        match self.kernel.remove(a.k, d) {
            Ok(()) => {
                a.mon.ctx.slots.remove(i);
                a.mon.prev_dev.remove(i);
                a.leave.remove(i);
                a.check_degraded = true;
            }
            Err(_) => {
                a.leave[i] = Leave::Wanted;
                self.refused += 1;
                self.timers.removal_refused(self.now);
            }
        }
    }

    /// Loop iterations until nothing is in flight. Each iteration the
    /// helper may finish one job: `pick` chooses which (an index into the
    /// jobs in flight), or none yet.
    pub fn run(&mut self, mut pick: impl FnMut(&[(usize, DevT)]) -> Option<usize>) {
        for _ in 0..20 {
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
