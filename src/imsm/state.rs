//! IMSM state logic: the predicates and transitions of volumes and disks
//! (failed-slot counting, degraded evaluation, migrations, failures).

use super::load::status;
use super::view::{self, map_size, map_state, ord_to_idx, MigrType, ORD_REBUILD};
use super::*;
use crate::wire::{le32, set_le32};

impl Imsm {
    pub(super) fn present(&self, idx: u32) -> Option<&Member> {
        self.members.iter().find(|m| m.index >= 0 && m.index as u32 == idx)
    }

    /// The record of disk `idx` if that disk is present.
    pub(super) fn present_record(&self, idx: u32) -> Option<&[u8; 48]> {
        self.present(idx).map(|_| &self.table[idx as usize])
    }

    pub(super) fn slot_bad(&self, ord: u32) -> bool {
        match self.present_record(ord_to_idx(ord)) {
            None => true,
            Some(r) => status(r) & view::disk::FAILED != 0 || ord & ORD_REBUILD != 0,
        }
    }

    /// Count failed slots, looking at map 0, map 1, or both (`None` = MAP_X).
    pub(super) fn count_failed(&self, inst: usize, which: Option<usize>) -> u32 {
        let d = self.devs[inst].view();
        let m0 = d.map0();
        let m1 = d.map1();
        let n0 = usize::from(m0.num_members());
        let n1 = m1.as_ref().map(|m| usize::from(m.num_members())).unwrap_or(0);
        let mut failed = 0;
        for i in 0..n0.max(n1) {
            let mut idx1 = None;
            if let Some(m1) = m1.as_ref().filter(|_| which != Some(0) && i < n1) {
                let ord = m1.ord(i);
                idx1 = Some(ord_to_idx(ord));
                if self.slot_bad(ord) {
                    failed += 1;
                }
            }
            if which != Some(1) && i < n0 {
                let ord = m0.ord(i);
                if Some(ord_to_idx(ord)) != idx1 && self.slot_bad(ord) {
                    failed += 1;
                }
            }
        }
        failed
    }

    /// The map state `failed` bad slots imply for map `which` of volume `inst`.
    pub(super) fn check_degraded(&self, inst: usize, failed: u32, which: usize) -> u8 {
        let d = self.devs[inst].view();
        let m = if which == 1 { d.map1().unwrap_or_else(|| d.map0()) } else { d.map0() };
        if failed == 0 {
            return if m.map_state() == map_state::UNINITIALIZED {
                map_state::UNINITIALIZED
            } else {
                map_state::NORMAL
            };
        }
        let n = u32::from(m.num_members());
        match m.level() {
            0 => map_state::FAILED,
            1 => {
                if failed < n {
                    map_state::DEGRADED
                } else {
                    map_state::FAILED
                }
            }
            5 => {
                if failed < 2 {
                    map_state::DEGRADED
                } else {
                    map_state::FAILED
                }
            }
            10 => {
                let mx = d.map_x();
                let n = usize::from(mx.num_members());
                let mut s = 0;
                while s + 1 < n {
                    if self.slot_bad(mx.ord(s)) && self.slot_bad(mx.ord(s + 1)) {
                        return map_state::FAILED;
                    }
                    s += 2;
                }
                map_state::DEGRADED
            }
            _ => m.map_state(),
        }
    }

    pub(super) fn is_resyncing(&self, inst: usize) -> bool {
        let d = self.devs[inst].view();
        if !d.migrating() {
            return false;
        }
        match d.migr_type() {
            MigrType::Init | MigrType::Repair => true,
            MigrType::GenMigr => false,
            _ => d.map1().map(|m| m.map_state() == map_state::NORMAL).unwrap_or(false),
        }
    }

    pub(super) fn is_rebuilding(&self, inst: usize) -> bool {
        let d = self.devs[inst].view();
        d.migrating()
            && d.migr_type() == MigrType::Rebuild
            && d.map1().map(|m| m.map_state() == map_state::DEGRADED).unwrap_or(false)
    }

    pub(super) fn is_gen_migration(&self, inst: usize) -> bool {
        let d = self.devs[inst].view();
        d.migrating() && d.migr_type() == MigrType::GenMigr
    }

    pub(super) fn any_gen_migration(&self) -> bool {
        (0..self.devs.len()).any(|i| self.is_gen_migration(i))
    }

    /// Enter a migration: map 1 becomes a copy of map 0, map 0 gets `to_state`.
    pub(super) fn migrate(&mut self, inst: usize, to_state: u8, t: MigrType) {
        let dev = &mut self.devs[inst];
        let mut d = dev.view_mut();
        d.set_migr_state(1);
        d.set_migr_type(t);
        d.set_curr_migr_unit(0);
        let n0 = usize::from(d.map0().num_members());
        let len = map_size(n0);
        let o0 = view::dev::LEN;
        dev.buf.copy_within(o0..o0 + len, o0 + len);
        let mut d = dev.view_mut();
        if t == MigrType::GenMigr {
            for s in 0..n0 {
                let o = d.map0().ord(s);
                d.map_mut(0).set_ord(s, ord_to_idx(o));
            }
        }
        d.map_mut(0).set_map_state(to_state);
    }

    /// Leave a migration, ending in `state` (re-evaluated when unexpected).
    pub(super) fn end_migration(&mut self, inst: usize, mut state: u8) {
        let d = self.devs[inst].view();
        let prev_state = d.map_x().map_state();
        if state != d.map0().map_state() && d.migr_type() != MigrType::GenMigr && prev_state != map_state::UNINITIALIZED
        {
            // Carry the REBUILD flags of the source map into the target by disk idx.
            let px: ArrayVec<u32, MAX_SLOTS> = {
                let mx = d.map_x();
                (0..usize::from(mx.num_members())).map(|s| mx.ord(s)).collect()
            };
            let dm = &mut self.devs[inst];
            for ord in px {
                let slot = dm.view().map0().slot_of(ord_to_idx(ord));
                if let Some(s) = slot {
                    let cur = dm.view().map0().ord(s);
                    dm.view_mut().map_mut(0).set_ord(s, cur | ord);
                }
            }
            let failed = self.count_failed(inst, Some(0));
            state = self.check_degraded(inst, failed, 0);
        }
        let mut d = self.devs[inst].view_mut();
        d.set_migr_state(0);
        d.set_migr_type(MigrType::Init);
        d.set_curr_migr_unit(0);
        d.map_mut(0).set_map_state(state);
    }

    /// Per-member sectors in one migration unit of volume `inst` (0 when not migrating).
    pub fn blocks_per_migr_unit(&self, inst: usize) -> u64 {
        let d = self.devs[inst].view();
        let Some(m1) = d.map1() else { return 0 };
        let m0 = d.map0();
        match d.migr_type() {
            MigrType::Init | MigrType::Verify | MigrType::Repair => {
                let bps0 = u32::from(m0.blocks_per_strip()).max(1);
                let bps1 = u32::from(m1.blocks_per_strip()).max(1);
                let spu = (bps1 / bps0).max(1);
                let mc = if matches!(m0.level(), 5 | 10) { bps0 } else { 256 };
                let dm = m0.data_members().max(1);
                let bpu = spu * mc * dm;
                let stripe = bps0 * dm;
                let segment = bpu / stripe;
                let rel = bpu - segment * stripe;
                let pdepth = match m0.level() {
                    1 | 10 => bps0 * u32::from(m0.num_domains()),
                    5 => bps0 * u32::from(m0.num_members()),
                    _ => bps0,
                };
                let c = bps1;
                let strip = rel / c;
                let n1 = u32::from(m1.num_members()).max(1);
                let bmap = match m1.level() {
                    1 | 10 => ((strip * u32::from(m1.num_domains()) + 1) / n1) * c + rel % c,
                    5 => (strip / (n1 - 1).max(1)) * c + rel % c,
                    _ => 0,
                };
                u64::from(bmap + pdepth * segment)
            }
            MigrType::Rebuild => {
                let spu = if matches!(m0.level(), 1 | 10) {
                    u32::from(m1.num_domains())
                } else {
                    // The resync value of strips per unit.
                    (u32::from(m1.blocks_per_strip()) / u32::from(m0.blocks_per_strip()).max(1)).max(1)
                };
                let mc = match m1.level() {
                    1 | 10 => {
                        let dom = u32::from(m1.num_domains()).max(1);
                        if u32::from(m1.num_members()) % dom == 0 {
                            256
                        } else {
                            u32::from(m1.blocks_per_strip())
                        }
                    }
                    5 => u32::from(m1.blocks_per_strip()).max(128),
                    _ => 256,
                };
                u64::from(spu * mc)
            }
            MigrType::GenMigr | MigrType::StateChange | MigrType::Unknown(_) => 0,
        }
    }

    /// Record the disk `idx` failed in volume `inst`; true if anything changed.
    pub(super) fn mark_failure(&mut self, inst: usize, idx: u32) -> bool {
        let d = self.devs[inst].view();
        let Some(slot) = d.map0().slot_of(idx) else {
            return false;
        };
        let rec = self.table[idx as usize];
        if status(&rec) & view::disk::FAILED != 0 && d.map0().ord(slot) & ORD_REBUILD != 0 {
            return false;
        }
        let rebuilding = self.is_rebuilding(inst);
        // Retire the serial: append ":0", keeping it within 15 characters.
        let rec = &mut self.table[idx as usize];
        let mut s: ArrayVec<u8, 18> = ArrayVec::new();
        s.try_extend_from_slice(crate::wire::cstr_field(&rec[..16])).ok();
        s.try_extend_from_slice(b":0").ok();
        let keep = &s[s.len().saturating_sub(15)..];
        let mut serial = [0u8; 16];
        serial[..keep.len()].copy_from_slice(keep);
        rec[..16].copy_from_slice(&serial);
        let st = status(rec) | view::disk::FAILED;
        set_le32(rec, view::disk::STATUS, st);
        let dm = &mut self.devs[inst];
        dm.view_mut().map_mut(0).set_ord(slot, idx | ORD_REBUILD);
        if dm.view().migrating() {
            if let Some(s1) = dm.view().map1().and_then(|m| m.slot_of(idx)) {
                dm.view_mut().map_mut(1).set_ord(s1, idx | ORD_REBUILD);
            }
        }
        let fdn = dm.view().map0().failed_disk_num();
        if fdn == 0xff || (!rebuilding && usize::from(fdn) > slot) {
            dm.view_mut().map_mut(0).set_failed_disk_num(slot as u8);
        }
        if let Some(m) = self.members.iter_mut().find(|m| m.index == idx as i32) {
            m.record = self.table[idx as usize];
        }
        // A failed disk's bad blocks no longer matter (as mdadm).
        self.bbm_clear_disk(idx);
        true
    }

    /// Indices of table disks with no present device.
    pub(super) fn missing_disks(&self) -> ArrayVec<u32, MAX_DISKS> {
        (0..self.table.len() as u32).filter(|&i| self.present(i).is_none()).collect()
    }

    /// On first activation: settle the state of volumes with missing disks.
    pub(super) fn handle_missing(&mut self, inst: usize) {
        let missing = self.missing_disks();
        if missing.is_empty() {
            return;
        }
        if !self.is_gen_migration(inst) && self.count_failed(inst, Some(0)) > 0 {
            let d = self.devs[inst].view();
            let m0 = d.map0();
            let mut rebuilt = true;
            for s in 0..usize::from(m0.num_members()) {
                if m0.ord(s) & ORD_REBUILD != 0 {
                    if let Some(m1) = d.map1() {
                        if s < usize::from(m1.num_members()) && m1.ord(s) & ORD_REBUILD != 0 {
                            rebuilt = false;
                        }
                    }
                }
            }
            if rebuilt {
                let failed = self.count_failed(inst, Some(0));
                let st = self.check_degraded(inst, failed, 0);
                self.end_migration(inst, st);
            }
        }
        for idx in missing {
            if self.mark_failure(inst, idx) {
                let rec = &mut self.table[idx as usize];
                if le32(rec, view::disk::SCSI_ID) != 0xffff_ffff {
                    set_le32(rec, view::disk::SCSI_ID, 0xffff_ffff);
                    rec.copy_within(1..16, 0);
                    rec[15] = 0;
                }
            }
        }
        self.pending += 1;
    }
}
