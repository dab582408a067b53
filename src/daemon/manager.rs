//! The manager's duties, done inline in the loop between monitor passes:
//! removing failed members (through the helper thread, since `remove` can
//! sleep), failing a disk in every array that uses it, following disks that
//! join or leave the container, and putting spares into degraded arrays.
//! The decisions (who is failed where, which array gets spares when, where
//! rebuilds resume, when `array_size` grows) come from [`crate::manager`];
//! this file reads sysfs for them and executes what they return.

use super::array::{Member, Removal};
use super::start::disk_serial;
use super::sysfs::{md_devs, path};
use super::{Daemon, Disk};
use crate::manager::decide::Resume;
use crate::md::{DevState, SyncAction};
use crate::metadata::{DiskGeom, NewDisk, NewMember, SlotInfo, MAX_SLOTS};
use crate::sys::{
    self,
    worker::{Done, Job, Op, Step},
};
use crate::{error, info, warn};
use arrayvec::ArrayVec;
use core::fmt::Write;

impl Daemon {
    /// Hand failed members to the helper thread for removal.
    pub(super) fn submit_removals(&mut self) {
        for a in self.arrays.iter_mut() {
            for m in a.members.iter_mut().filter(|m| m.removal == Removal::Wanted) {
                self.next_token = self.next_token.wrapping_add(1);
                let Some(job) = member_job(self.next_token, &a.devnm, &m.kname) else { continue };
                if self.worker.submit(job.write(true, "state", "remove")) {
                    m.removal = Removal::InFlight(self.next_token);
                }
            }
        }
    }

    /// Collect finished removals. Returns whether a refused one must be retried.
    pub(super) fn finish_removals(&mut self) -> bool {
        let mut retry = false;
        while let Some(done) = self.worker.next_done() {
            if self.readd_done(done) {
                continue;
            }
            if let Some(a) = self.arrays.iter_mut().find(|a| a.size_job == Some(done.token)) {
                a.size_job = None;
                match done.result {
                    Ok(()) => info!("{}: {} grown to {} sectors", self.devnm, a.devnm, a.mon.ctx.custom_array_size),
                    Err((_, e)) => warn!("{}: growing {} failed ({e})", self.devnm, a.devnm),
                }
                continue;
            }
            for a in self.arrays.iter_mut() {
                let Some(i) = a.members.iter().position(|m| m.removal == Removal::InFlight(done.token)) else {
                    continue;
                };
                match done.result {
                    Ok(()) => {
                        info!("{}: {} removed from {}", self.devnm, a.members[i].kname, a.devnm);
                        a.drop_member(i);
                        a.check_degraded = true;
                    }
                    Err((_, e)) => {
                        warn!(
                            "{}: removing {} from {} failed ({e}); will retry",
                            self.devnm, a.members[i].kname, a.devnm
                        );
                        a.members[i].removal = Removal::Wanted;
                        retry = true;
                    }
                }
            }
        }
        retry
    }

    /// After a reshape started or ended: track the members mdadm added (md
    /// gave them slots) and grow `array_size` to what the metadata now says.
    /// The size write can wait on md's reconfiguration lock: the helper
    /// thread does it.
    pub(super) fn handle_reshapes(&mut self) {
        for a in self.arrays.iter_mut().filter(|a| a.check_reshape) {
            a.check_reshape = false;
            if let Some(n) = super::sysfs::read_num(path(format_args!("/sys/block/{}/md/raid_disks", a.devnm)).as_str())
            {
                a.mon.ctx.raid_disks = n as u32;
            }
            let Ok(devs) = md_devs(&a.devnm) else { continue };
            for d in devs.iter() {
                let (Some(slot), Some(dev)) = (d.slot, d.dev) else { continue };
                if a.mon.ctx.slots.iter().any(|s| s.slot == slot) || slot as usize >= MAX_SLOTS {
                    continue;
                }
                let Ok(m) = Member::open(&a.devnm, &d.kname) else { continue };
                info!("{}: {} joined {} in slot {slot}", self.devnm, d.kname, a.devnm);
                let info = m.slot_info(slot, dev);
                if let Some(i) = a.add_member(m, info) {
                    a.prime_bad_blocks(self.md.as_mut(), Some(i), &mut self.bb);
                }
            }
            let want = a.mon.ctx.custom_array_size;
            let now = super::sysfs::read_num(path(format_args!("/sys/block/{}/md/array_size", a.devnm)).as_str());
            // array_size is in KiB; the metadata size in sectors.
            if let Some(kib) = crate::manager::decide::grow_to(want, now, a.size_job.is_some()) {
                self.next_token = self.next_token.wrapping_add(1);
                let mut v = heapless::String::<32>::new();
                let _ = write!(v, "{kib}");
                let job = Job::new(self.next_token, format_args!("/sys/block/{}/md", a.devnm), format_args!(""));
                if job.is_some_and(|j| self.worker.submit(j.write(false, "array_size", v.as_str()))) {
                    a.size_job = Some(self.next_token);
                } else {
                    a.check_reshape = true; // queue full: next pass
                }
            }
        }
    }

    /// A disk that failed in one array is failed in every array using it,
    /// and a member on a disk the metadata records failed is failed (an
    /// array started, e.g. created by mdadm, while a failure was recorded),
    /// and so is a member on a disk whose metadata write failed.
    pub(super) fn propagate_failures(&mut self) {
        use crate::manager::failures::{fan_out, Why};
        let meta_failed = core::mem::take(&mut self.meta_failed);
        let views: ArrayVec<_, { super::MAX_ARRAYS }> = self.arrays.iter().map(|a| a.view()).collect();
        let fails = fan_out(&views, &meta_failed, self.md.as_ref());
        drop(views);
        for f in fails {
            let a = &self.arrays[f.array];
            let m = &a.members[f.member];
            match f.why {
                Why::MetadataWrite => {
                    error!("{}: failing {} in {}: its metadata write failed", self.devnm, m.kname, a.devnm)
                }
                Why::FailedElsewhere => info!("{}: failing {} in {} too", self.devnm, m.kname, a.devnm),
                Why::RecordedFailed => {
                    info!("{}: failing {} in {}: its disk is recorded failed", self.devnm, m.kname, a.devnm)
                }
            }
            let _ = m.state.write("faulty");
        }
    }

    /// Follow disks joining and leaving the container.
    pub(super) fn manage_container(&mut self) {
        let Ok(devs) = md_devs(&self.devnm) else { return };
        // Gone disks.
        let mut i = 0;
        while i < self.disks.len() {
            if devs.iter().any(|d| d.dev == Some(self.disks[i].dev)) {
                i += 1;
                continue;
            }
            let d = self.disks.remove(i);
            info!("{}: {} left the container", self.devnm, d.kname);
            self.md.remove_disk(d.dev);
        }
        // New disks.
        for d in devs.iter() {
            let Some(dev) = d.dev else { continue };
            if self.disks.iter().any(|k| k.dev == dev) || self.disks.is_full() {
                continue;
            }
            let fd = match sys::open_block(dev.major, dev.minor, &d.kname, true) {
                Ok(fd) => fd,
                Err(e) => {
                    warn!("{}: cannot open new disk {}: {e}", self.devnm, d.kname);
                    continue;
                }
            };
            let Ok(size_bytes) = sys::block_size_bytes(&fd) else { continue };
            let sector_size = sys::logical_sector_size(&fd).unwrap_or(512);
            let serial = match disk_serial(&d.kname, dev.major, dev.minor) {
                Some(s) => s,
                None if self.format == super::start::Format::Ddf => [0u8; 16],
                None => {
                    warn!("{}: no serial for new disk {}", self.devnm, d.kname);
                    continue;
                }
            };
            let geom = DiskGeom { size_bytes, sector_size };
            let mut r = [0u8; 8];
            let _ = rustix::rand::getrandom(&mut r, rustix::rand::GetRandomFlags::empty());
            let scsi_id = super::sysfs::disk_scsi_id(dev).unwrap_or(0);
            if self.md.add_disk(NewDisk { dev, serial, geom, scsi_id, random: u64::from_ne_bytes(r) }) {
                info!("{}: {} added as a spare", self.devnm, d.kname);
                for a in self.arrays.iter_mut() {
                    a.check_degraded = true;
                }
            }
            let _ = self.disks.try_push(Disk { dev, kname: d.kname.clone(), fd, geom, serial });
        }
        // Spare records reach the new disks now.
        self.sync_metadata();
    }

    /// Put spares into arrays that asked for them (upstream's
    /// `manage_member` spare activation).
    pub(super) fn activate_spares(&mut self) {
        let views: ArrayVec<_, { super::MAX_ARRAYS }> = self.arrays.iter().map(|a| a.view()).collect();
        let order = crate::manager::spares::order(&views, self.sigterm);
        drop(views);
        let Ok(order) = order else { return };
        for ai in order {
            let a = &mut self.arrays[ai];
            if a.frozen() {
                continue;
            }
            a.check_degraded = false;
            a.failed_at = None;
            let mut picks: ArrayVec<NewMember, MAX_SLOTS> = ArrayVec::new();
            self.md.choose_spares(&a.mon.ctx, &mut picks);
            if picks.is_empty() {
                continue;
            }
            let devnm = a.devnm.clone();
            let _ = a.sync_action.write("frozen");
            let mut added: ArrayVec<NewMember, MAX_SLOTS> = ArrayVec::new();
            for n in &picks {
                let Some(disk) = self.disks.iter().find(|d| d.dev == n.dev) else { continue };
                match add_to_array(&devnm, &disk.kname, n) {
                    Ok(m) => {
                        let info = SlotInfo { slot: n.slot, dev: n.dev, recovery_start: 0, state: DevState(0) };
                        if let Some(i) = self.arrays[ai].add_member(m, info) {
                            // As mdadm for a disk it adds: the new member's
                            // bad blocks (none: a rebuilt disk's log entries
                            // are cleared) are ours to record.
                            self.arrays[ai].prime_bad_blocks(self.md.as_mut(), Some(i), &mut self.bb);
                        }
                        let _ = added.try_push(*n);
                        info!("{}: rebuilding slot {} of {} onto {}", self.devnm, n.slot, devnm, disk.kname);
                    }
                    Err(why) => error!("{}: cannot add {} to {}: {why}", self.devnm, disk.kname, devnm),
                }
            }
            let a = &mut self.arrays[ai];
            if added.is_empty() {
                let _ = a.sync_action.write("idle");
                continue;
            }
            let mut r = [0u8; 4];
            let _ = rustix::rand::getrandom(&mut r, rustix::rand::GetRandomFlags::empty());
            self.md.record_rebuild(&a.mon.ctx, &added, u32::from_ne_bytes(r));
            // The metadata names the new members before recovery starts.
            self.sync_metadata();
            let a = &mut self.arrays[ai];
            match a.sync_action.write("recover") {
                Ok(()) => a.mon.ctx.prev_action = SyncAction::Recover,
                Err(e) => warn!("{}: starting recovery of {} failed: {e}", self.devnm, a.devnm),
            }
        }
    }
}

/// Add disk `kname` to array `devnm` in slot `n.slot`, to be recovered from
/// the start (as upstream's `sysfs_add_disk` without resume).
fn add_to_array(devnm: &str, kname: &str, n: &NewMember) -> Result<Member, &'static str> {
    let attr = |name: &str, value: core::fmt::Arguments<'_>| -> Result<(), &'static str> {
        let mut v = heapless::String::<32>::new();
        let _ = v.write_fmt(value);
        sys::write_file(path(format_args!("/sys/block/{devnm}/md/{name}")).as_str(), v.as_str())
            .map_err(|_| name_err(name))
    };
    attr("new_dev", format_args!("{}:{}", n.dev.major, n.dev.minor))?;
    let dev_attr = |name: &str, value: core::fmt::Arguments<'_>| -> Result<(), &'static str> {
        let mut v = heapless::String::<32>::new();
        let _ = v.write_fmt(value);
        sys::write_file(path(format_args!("/sys/block/{devnm}/md/dev-{kname}/{name}")).as_str(), v.as_str())
            .map_err(|_| name_err(name))
    };
    let undo = || {
        let _ = sys::write_file(path(format_args!("/sys/block/{devnm}/md/dev-{kname}/state")).as_str(), "remove");
    };
    let r = dev_attr("offset", format_args!("{}", n.data_offset))
        .and_then(|_| dev_attr("size", format_args!("{}", n.component_size.div_ceil(2))))
        .and_then(|_| dev_attr("slot", format_args!("{}", n.slot)));
    if let Err(e) = r {
        undo();
        return Err(e);
    }
    Member::open(devnm, kname).map_err(|_| {
        undo();
        "opening its attributes"
    })
}

fn name_err(name: &str) -> &'static str {
    match name {
        "new_dev" => "writing new_dev",
        "offset" => "writing offset",
        "size" => "writing size",
        "slot" => "writing slot",
        _ => "writing an attribute",
    }
}

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
    fn readd_done(&mut self, done: Done) -> bool {
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

/// A job on the attributes of array `devnm` and of its member `kname`.
fn member_job(token: u32, devnm: &str, kname: &str) -> Option<Job> {
    Job::new(token, format_args!("/sys/block/{devnm}/md"), format_args!("dev-{kname}"))
}

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
