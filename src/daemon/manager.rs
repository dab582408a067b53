//! The manager's duties, done in the loop between monitor passes: the
//! helper thread's results handed back, the core's manager pass executed
//! (failing members, removals through the helper thread, spare activation:
//! see `activate`), members a reshape added tracked and `array_size`
//! grown, disks joining or leaving the container followed. The decisions
//! come from [`crate::manager`]; this file reads sysfs for them and
//! executes what they return.

use super::array::{Member, Removal};
use super::start::disk_serial;
use super::sysfs::{md_devs, path};
use super::{Daemon, Disk};
use crate::metadata::{DiskGeom, NewDisk, MAX_SLOTS};
use crate::sys::{self, worker::Job};
use crate::{error, info, warn};
use arrayvec::ArrayVec;
use core::fmt::Write;

impl Daemon {
    /// Take the helper thread's results and hand each to what waits for it
    /// (a removal, a re-add, a spare activation, a size write).
    pub(super) fn collect_done(&mut self) {
        while let Some(done) = self.worker.next_done() {
            if self.readd_done(done) || self.activation_done(done) {
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
                self.core.removal_done(super::now_ms(), done.result.is_ok());
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
                    }
                }
            }
        }
    }

    /// The core's manager pass, executed: failing members (a disk failed in
    /// one array is failed in every array using it, and so is a member on a
    /// disk the metadata records failed or whose metadata write failed),
    /// handing removals to the helper thread, spare activation.
    pub(super) fn run_duties(&mut self) {
        use crate::manager::failures::Why;
        let meta_failed = core::mem::take(&mut self.meta_failed);
        let views: ArrayVec<_, { super::MAX_ARRAYS }> = self.arrays.iter().map(|a| a.view()).collect();
        let duties = self.core.duties(&views, &meta_failed, self.md.as_ref(), self.sigterm);
        drop(views);
        for f in &duties.fail {
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
        for &(ai, i) in &duties.remove {
            let token = self.next_token.wrapping_add(1);
            let a = &mut self.arrays[usize::from(ai)];
            let m = &mut a.members[usize::from(i)];
            let Some(job) = member_job(token, &a.devnm, &m.kname) else { continue };
            if self.worker.submit(job.write(true, "state", "remove")) {
                self.next_token = token;
                m.removal = Removal::InFlight(token);
            }
        }
        for &ai in &duties.served {
            let a = &mut self.arrays[ai];
            a.check_degraded = false;
            a.failed_at = None;
        }
        if let Some(act) = duties.activate {
            self.start_activation(act);
        }
    }

    /// After a reshape started or ended: track the members mdadm added (md
    /// gave them slots) and grow `array_size` to what the metadata now says.
    /// The size write can wait on md's reconfiguration lock: the helper
    /// thread does it.
    pub(super) fn handle_reshapes(&mut self) {
        // Not while spares are being added: their slots are not ours yet.
        for a in self.arrays.iter_mut().filter(|a| a.check_reshape && !a.activation.pending()) {
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
                None if !self.format.needs_serial() => [0u8; 16],
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
}

/// A job on the attributes of array `devnm` and of its member `kname`.
pub(super) fn member_job(token: u32, devnm: &str, kname: &str) -> Option<Job> {
    Job::new(token, format_args!("/sys/block/{devnm}/md"), format_args!("dev-{kname}"))
}
