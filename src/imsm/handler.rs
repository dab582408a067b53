//! The metadata handler: what mdmon's monitor asks of IMSM.

use super::load::status;
use super::view::{self, header, map_state, ord_to_idx, MigrType, ORD_REBUILD};
use super::*;
use crate::wire::{le32, set_le32};

impl Metadata for Imsm {
    fn name(&self) -> &'static str {
        "imsm"
    }
}

impl crate::metadata::Handler for Imsm {
    fn open_new(&mut self, inst: u32) -> Result<(), OpenError> {
        if (inst as usize) < self.devs.len() {
            Ok(())
        } else {
            Err(OpenError::NoSuchVolume)
        }
    }

    fn set_array_state(&mut self, a: &mut ArrayCtx, consistent: Consistency) -> bool {
        let inst = a.inst as usize;
        if inst >= self.devs.len() {
            return consistent != Consistency::Dirty;
        }
        let mut consistent = consistent;
        if self.is_gen_migration(inst) {
            // Reshape is driven by mdadm (it sends the checkpoints); while md
            // reshapes, or if it stopped short, only dirty/clean is ours.
            // An array starting mid-reshape goes active (as upstream).
            if a.curr_action == SyncAction::Reshape || a.last_checkpoint < a.component_size {
                let c = if consistent == Consistency::Starting { Consistency::Dirty } else { consistent };
                return self.mark_dirty_clean(inst, c);
            }
            // md finished: the new size, then every member's state, which
            // ends the migration, then the next volume's reshape.
            let (used, per_dev) = {
                let v = self.devs[inst].view();
                (v.map0().data_members(), v.map0().per_dev_array_size())
            };
            if used > 0 {
                a.custom_array_size = super::reshape::round_size_to_mb(per_dev.saturating_mul(u64::from(used)), used);
                a.check_reshape = true;
            }
            let slots: ArrayVec<(u32, DevState), MAX_SLOTS> = a.slots.iter().map(|s| (s.slot, s.state)).collect();
            for (slot, state) in slots {
                self.set_disk(a, slot, state);
            }
            self.progress_container_reshape();
        }
        if consistent == Consistency::Starting {
            self.handle_missing(inst);
        }
        let failed = self.count_failed(inst, Some(0));
        let state = self.check_degraded(inst, failed, 0);
        if consistent == Consistency::Starting {
            let d = self.devs[inst].view();
            consistent = if !a.resync_complete() || state != map_state::NORMAL || d.migrating() {
                Consistency::Dirty
            } else {
                Consistency::Clean
            };
        }
        if a.resync_complete() {
            if self.is_resyncing(inst) {
                self.end_migration(inst, state);
                self.pending += 1;
                a.last_checkpoint = 0;
            }
        } else if !self.is_resyncing(inst) && failed == 0 && !self.any_gen_migration() {
            let uninit = self.devs[inst].view().map0().map_state() == map_state::UNINITIALIZED;
            let t = if uninit { MigrType::Init } else { MigrType::Repair };
            self.migrate(inst, map_state::NORMAL, t);
            self.pending += 1;
        }
        if a.prev_action != SyncAction::Idle {
            let bpu = self.blocks_per_migr_unit(inst);
            if bpu != 0 {
                let unit = a.last_checkpoint / bpu;
                let d = self.devs[inst].view();
                if d.curr_migr_unit() != unit {
                    self.devs[inst].view_mut().set_curr_migr_unit(unit);
                    self.pending += 1;
                }
            }
        }
        self.mark_dirty_clean(inst, consistent)
    }

    fn set_disk(&mut self, a: &mut ArrayCtx, slot: u32, state: DevState) {
        let inst = a.inst as usize;
        if inst >= self.devs.len() {
            return;
        }
        let d = self.devs[inst].view();
        let mx = d.map_x();
        if slot as usize >= usize::from(mx.num_members()) {
            return;
        }
        let ord = mx.ord(slot as usize);
        let idx = ord_to_idx(ord);
        let present = self.present(idx).is_some();
        let mut rebuild_done = false;
        if state.has(DevState::FAULTY) && present && self.mark_failure(inst, idx) {
            self.pending += 1;
        }
        if state.has(DevState::INSYNC)
            && !state.has(DevState::FAULTY)
            && ord & ORD_REBUILD != 0
            && self.is_rebuilding(inst)
        {
            self.devs[inst].view_mut().map_mut(1).set_ord(slot as usize, idx);
            rebuild_done = true;
            self.pending += 1;
        }
        let failed = self.count_failed(inst, Some(0));
        let st = self.check_degraded(inst, failed, 0);
        // A rebuild is unfinished while any member still has a recovery position.
        let unfinished = |im: &mut Imsm, a: &mut ArrayCtx| -> bool {
            if let Some(s) = a.slots.iter().find(|s| s.recovery_start != MAX_SECTOR) {
                if a.last_checkpoint < s.recovery_start {
                    a.last_checkpoint = s.recovery_start;
                    im.pending += 1;
                }
                true
            } else {
                false
            }
        };
        let m0_state = self.devs[inst].view().map0().map_state();
        let migrating = self.devs[inst].view().migrating();
        match st {
            map_state::NORMAL => {
                if self.is_rebuilding(inst) {
                    if unfinished(self, a) {
                        return;
                    }
                    self.end_migration(inst, map_state::NORMAL);
                    self.devs[inst].view_mut().map_mut(0).set_failed_disk_num(0xff);
                    self.pending += 1;
                    a.last_checkpoint = 0;
                } else if self.is_gen_migration(inst) {
                    if a.last_checkpoint >= a.component_size {
                        self.end_migration(inst, map_state::NORMAL);
                    } else {
                        self.devs[inst].view_mut().map_mut(0).set_map_state(map_state::NORMAL);
                    }
                    self.devs[inst].view_mut().map_mut(0).set_failed_disk_num(0xff);
                    self.pending += 1;
                }
            }
            map_state::DEGRADED => {
                if m0_state != map_state::DEGRADED && !migrating {
                    self.devs[inst].view_mut().map_mut(0).set_map_state(map_state::DEGRADED);
                    self.pending += 1;
                    a.last_checkpoint = 0;
                } else if self.is_rebuilding(inst) {
                    if state.has(DevState::FAULTY) {
                        let fdn = self.devs[inst].view().map0().failed_disk_num();
                        if slot == u32::from(fdn) {
                            self.end_migration(inst, map_state::DEGRADED);
                            a.last_checkpoint = 0;
                        } else {
                            self.devs[inst].view_mut().map_mut(0).set_map_state(map_state::DEGRADED);
                        }
                        self.pending += 1;
                    }
                    if !rebuild_done || unfinished(self, a) {
                        return;
                    }
                    self.end_migration(inst, map_state::DEGRADED);
                    a.last_checkpoint = 0;
                    let dv = self.devs[inst].view();
                    let m0 = dv.map0();
                    let last = (0..usize::from(m0.num_members())).rev().find(|&s| m0.ord(s) & ORD_REBUILD != 0);
                    if let Some(s) = last {
                        self.devs[inst].view_mut().map_mut(0).set_failed_disk_num(s as u8);
                    }
                    self.pending += 1;
                } else if self.is_gen_migration(inst) {
                    self.devs[inst].view_mut().map_mut(0).set_map_state(map_state::DEGRADED);
                    self.pending += 1;
                } else if migrating && self.devs[inst].view().migr_type() == MigrType::Init {
                    self.devs[inst].view_mut().map_mut(0).set_map_state(map_state::DEGRADED);
                    self.pending += 1;
                }
            }
            map_state::FAILED => {
                if self.is_gen_migration(inst) {
                    self.devs[inst].view_mut().map_mut(0).set_map_state(map_state::FAILED);
                    self.pending += 1;
                } else if m0_state != map_state::FAILED {
                    self.end_migration(inst, map_state::FAILED);
                    self.pending += 1;
                    a.last_checkpoint = 0;
                }
            }
            _ => {}
        }
    }

    fn bad_block_log(&mut self) -> Option<&mut dyn crate::metadata::BadBlockLog> {
        Some(self)
    }
}

impl crate::metadata::Manager for Imsm {
    fn add_disk(&mut self, disk: crate::metadata::NewDisk) -> bool {
        self.add_spare(disk)
    }

    fn remove_disk(&mut self, dev: DevT) {
        self.drop_disk(dev)
    }

    fn choose_spares(&self, a: &ArrayCtx, out: &mut ArrayVec<crate::metadata::NewMember, MAX_SLOTS>) {
        self.pick_spares(a, out)
    }

    fn record_rebuild(&mut self, a: &ArrayCtx, added: &[crate::metadata::NewMember], random: u32) {
        self.start_rebuild(a, added, random);
        // A rebuilt member starts with no known bad blocks.
        for n in added {
            if let Some(idx) = self.members.iter().find(|m| m.dev == n.dev).map(|m| m.index) {
                if idx >= 0 {
                    self.bbm_clear_disk(idx as u32);
                }
            }
        }
    }

    fn resume_position(&self, a: &ArrayCtx, slot: u32) -> Option<u64> {
        self.checkpoint_for(a, slot)
    }

    fn max_update_len(&self) -> usize {
        super::UPDATE_MAX
    }

    fn process_update(&mut self, payload: &[u8], active: &[u32]) -> Result<crate::metadata::UpdateDone, &'static str> {
        use super::update::{decode, Update};
        use core::fmt::Write;
        let mut done = crate::metadata::UpdateDone::new();
        let u = decode(payload).map_err(|e| e.reason())?;
        match u {
            Update::CreateArray { dev_idx, dev, serials } => {
                self.create_volume(dev_idx, dev, &serials)?;
                let _ = write!(done, "volume {dev_idx} created");
            }
            Update::KillArray { dev_idx } => {
                self.kill_volume(dev_idx, active)?;
                let _ = write!(done, "volume {dev_idx} deleted");
            }
            Update::RenameArray { name, dev_idx } => {
                self.rename_volume(dev_idx, &name, active)?;
                let _ = write!(done, "volume {dev_idx} renamed");
            }
            Update::RwhPolicy { new_policy, dev_idx } => {
                self.set_rwh_policy(dev_idx, new_policy as u8)?;
                let _ = write!(done, "volume {dev_idx}: write-hole policy {new_policy}");
            }
            Update::SizeChange { subdev, new_size } => {
                self.change_size(subdev, new_size)?;
                let _ = write!(done, "volume {subdev}: size {new_size} sectors");
            }
            Update::GeneralMigrationCheckpoint { curr_migr_unit } => {
                self.migration_checkpoint(curr_migr_unit)?;
                let _ = write!(done, "reshape checkpoint {curr_migr_unit}");
            }
            Update::Takeover { subarray, direction } => {
                self.takeover(subarray, direction)?;
                let to = if direction == super::takeover::R0_TO_R10 { "RAID10" } else { "RAID0" };
                let _ = write!(done, "volume {subarray}: taken over to {to}");
            }
            Update::ReshapeContainerDisks { old_raid_disks, new_raid_disks, new_disks } => {
                self.reshape_container_disks(old_raid_disks, new_raid_disks, &new_disks)?;
                let _ = write!(done, "container reshape from {old_raid_disks} to {new_raid_disks} disks recorded");
            }
            Update::ReshapeMigration { subdev, new_level, new_chunksize, new_disk, .. } => {
                self.reshape_migration(subdev, new_level, new_chunksize, new_disk)?;
                let _ =
                    write!(done, "volume {subdev}: migration to level {new_level}, chunk {new_chunksize} KiB recorded");
            }
        }
        Ok(done)
    }
}

impl crate::metadata::Writer for Imsm {
    fn updates_pending(&self) -> bool {
        self.pending != 0
    }

    fn begin_write(&mut self) -> usize {
        let gen = le32(&self.header, header::GENERATION_NUM).wrapping_add(1);
        set_le32(&mut self.header, header::GENERATION_NUM, gen);
        if le32(&self.header, header::ORIG_FAMILY_NUM) == 0 {
            let f = self.family_num();
            set_le32(&mut self.header, header::ORIG_FAMILY_NUM, f);
        }
        self.pending = 0;
        self.build_image();
        self.members.len()
    }

    fn disk_dev(&self, i: usize) -> Option<DevT> {
        let m = self.members.get(i)?;
        match m.index {
            -1 => Some(m.dev),
            idx if idx >= 0 && status(&self.table[idx as usize]) & view::disk::FAILED == 0 => Some(m.dev),
            _ => None,
        }
    }

    fn render(&self, i: usize, geom: DiskGeom, buf: &mut [u8]) -> Regions {
        let mut out = Regions::new();
        let Some(m) = self.members.get(i) else {
            return out;
        };
        // The image is in the container's sector units: never write it to a
        // disk of another sector size (such a disk is not adopted).
        if geom.sector_size != self.sector_size {
            return out;
        }
        let ss = geom.sector_size as usize;
        let d = geom.size_bytes;
        let mut spare = [0u8; header::LEN + view::disk::LEN];
        let mpb: &[u8] = if m.index == -1 {
            let n = self.spare_image(m, &mut spare);
            &spare[..n]
        } else {
            &self.image
        };
        // On disk the tail is: extended sectors (MPB sectors 1..k), the
        // anchor (MPB sector 0), the migration record. They are contiguous,
        // so one write covers them: a torn write leaves a checksum mismatch
        // (the anchor's checksum covers the extended sectors), exactly as
        // writing them one after another would.
        if ss == 0 || mpb.is_empty() {
            return out;
        }
        let k = mpb.len().div_ceil(ss);
        let ext = (k - 1) * ss;
        // A disk too small to hold the tail gets no write.
        let Some(offset) = d.checked_sub((k as u64 + 1) * ss as u64) else { return out };
        if buf.len() < (k + 1) * ss {
            return out;
        }
        let first = ss.min(mpb.len());
        buf[..(k + 1) * ss].fill(0);
        buf[..mpb.len() - first].copy_from_slice(&mpb[first..]);
        buf[ext..ext + first].copy_from_slice(&mpb[..first]);
        // The migration record belongs to mdadm during a reshape; otherwise
        // it is cleared along with the anchor.
        let len = if self.any_gen_migration() { k * ss } else { (k + 1) * ss };
        out.push(Region { offset, start: 0, len });
        out
    }

    /// The largest image in whole sectors, and the migration record.
    fn render_len(&self) -> usize {
        let ss = self.sector_size.max(512) as usize;
        (super::IMAGE_MAX.div_ceil(ss) + 1) * ss
    }

    /// A disk that took the write holds the current copy (its rebuild
    /// checkpoint can be trusted); one whose write failed does not.
    fn written(&mut self, i: usize, ok: bool) {
        if let Some(m) = self.members.get_mut(i) {
            m.current = ok;
        }
    }

    fn end_write(&mut self) {}

    fn generation(&self) -> u32 {
        le32(&self.header, header::GENERATION_NUM)
    }

    fn volume_dirty(&self, inst: u32) -> Option<bool> {
        self.devs.get(inst as usize).map(|d| d.view().dirty() & 1 != 0)
    }
}

impl Imsm {
    pub(super) fn mark_dirty_clean(&mut self, inst: usize, consistent: Consistency) -> bool {
        let clean = consistent != Consistency::Dirty;
        let d = self.devs[inst].view();
        let is_dirty = d.dirty() & 1 != 0;
        if is_dirty == clean {
            let v = if clean {
                0
            } else if matches!(d.rwh_policy(), 1 | 3) {
                3
            } else {
                1
            };
            self.devs[inst].view_mut().set_dirty(v);
            self.pending += 1;
        }
        clean
    }
}
