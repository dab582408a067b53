//! Spares: disks joining and leaving the container, choosing a disk for a
//! missing slot, and recording the rebuild migration.

use super::load::status;
use super::view::{self, map_state, ord_to_idx, MigrType, ORD_REBUILD};
use super::*;
use crate::metadata::{NewDisk, NewMember};
use crate::wire::{le32, set_le32};

/// Sectors of the MPB area at the end of every disk.
const MPB_SECTORS: u64 = 2210;
/// Sectors a configured disk reserves beyond the MPB (migration areas).
const RESERVED_SECTORS: u64 = 8192;
/// The dirty-stripe journal area a spare needs at least.
const DIRTY_STRIPE_SECTORS: u64 = 2048;

fn total_blocks(record: &[u8; view::disk::LEN]) -> u64 {
    u64::from(le32(record, view::disk::TOTAL_BLOCKS_LO)) | u64::from(le32(record, view::disk::TOTAL_BLOCKS_HI)) << 32
}

impl Imsm {
    /// Record a disk that joined the container as a spare.
    pub(super) fn add_spare(&mut self, disk: NewDisk) -> bool {
        if self.members.iter().any(|m| m.dev == disk.dev) || disk.geom.sector_size != self.sector_size {
            return false;
        }
        let mut record = [0u8; view::disk::LEN];
        record[..16].copy_from_slice(&disk.serial);
        let sectors = disk.geom.size_bytes / 512;
        set_le32(&mut record, view::disk::TOTAL_BLOCKS_LO, sectors as u32);
        set_le32(&mut record, view::disk::TOTAL_BLOCKS_HI, (sectors >> 32) as u32);
        set_le32(&mut record, view::disk::STATUS, view::disk::SPARE);
        set_le32(&mut record, view::disk::SCSI_ID, disk.scsi_id);
        let m = Member { dev: disk.dev, serial: disk.serial, geom: disk.geom, index: -1, record, current: true };
        if self.members.try_push(m).is_err() {
            return false;
        }
        self.pending += 1;
        true
    }

    /// Where the rebuild of the member in `slot` may resume, from the
    /// checkpoint; `None` (start from zero) unless the metadata vouches for it.
    pub(super) fn checkpoint_for(&self, a: &ArrayCtx, slot: u32) -> Option<u64> {
        let inst = a.inst as usize;
        if inst >= self.devs.len() || !self.is_rebuilding(inst) {
            return None;
        }
        let d = self.devs[inst].view();
        let m1 = d.map1()?;
        let slot_u = slot as usize;
        if slot_u >= usize::from(m1.num_members()) || slot_u >= usize::from(d.map0().num_members()) {
            return None;
        }
        let ord1 = m1.ord(slot_u);
        let idx = ord_to_idx(d.map0().ord(slot_u));
        if ord1 & ORD_REBUILD == 0 || ord_to_idx(ord1) != idx {
            return None;
        }
        // The kernel's device in that slot must be the disk the metadata names,
        // and its own copy of the metadata must be the current one.
        let dev = a.slots.iter().find(|s| s.slot == slot)?.dev;
        let m = self.members.iter().find(|m| m.dev == dev)?;
        if m.index != idx as i32 || !m.current || status(&self.table[idx as usize]) & view::disk::FAILED != 0 {
            return None;
        }
        let pos = d.curr_migr_unit().checked_mul(self.blocks_per_migr_unit(inst))?;
        (pos > 0 && pos < a.component_size).then_some(pos)
    }

    /// Forget a disk that left the container.
    pub(super) fn drop_disk(&mut self, dev: DevT) {
        if let Some(p) = self.members.iter().position(|m| m.dev == dev) {
            // A configured disk stays in the table (as missing); a spare or
            // failed disk simply disappears.
            self.members.remove(p);
        }
    }

    /// Disks to rebuild the untracked slots of `a` onto (none if the array
    /// must not rebuild now).
    pub(super) fn pick_spares(&self, a: &ArrayCtx, out: &mut ArrayVec<NewMember, MAX_SLOTS>) {
        let inst = a.inst as usize;
        if inst >= self.devs.len() {
            return;
        }
        // Wait for failed members to be removed first.
        if a.slots.iter().any(|s| s.state.has(crate::md::DevState::FAULTY)) {
            return;
        }
        if self.any_gen_migration() || self.is_rebuilding(inst) || a.level == 4 {
            return;
        }
        let failed = a.raid_disks.saturating_sub(a.slots.len() as u32);
        if failed == 0 || self.check_degraded(inst, failed, 0) != map_state::DEGRADED {
            return;
        }
        let d = self.devs[inst].view();
        let m0 = d.map0();
        if m0.map_state() == map_state::UNINITIALIZED {
            return;
        }
        // Another volume that has failed keeps its failed disks until they
        // leave the container; rebuilding now would hide them.
        if (0..self.devs.len()).any(|o| o != inst && !self.rebuild_allowed_beside(o, failed)) {
            return;
        }
        let mx = d.map_x();
        let ss = self.members.iter().find(|m| m.index >= 0).map(|m| m.geom.sector_size).unwrap_or(512);
        for slot in 0..a.raid_disks {
            if a.slots.iter().any(|s| s.slot == slot) {
                continue;
            }
            let cur = ord_to_idx(mx.ord(slot as usize));
            let usable = |m: &&Member| {
                !a.slots.iter().any(|s| s.dev == m.dev)
                    && !out.iter().any(|n| n.dev == m.dev)
                    && m.geom.sector_size == ss
                    && status(&m.record) & view::disk::FAILED == 0
            };
            // The slot's own disk if it is present and healthy; else a disk
            // already in another volume with room at this volume's offset;
            // else a pure spare with room for every volume.
            let readd = self.members.iter().filter(usable).find(|m| {
                m.index >= 0 && m.index as u32 == cur && status(&self.table[cur as usize]) & view::disk::FAILED == 0
            });
            let candidate = |pure: bool| {
                self.members
                    .iter()
                    .filter(usable)
                    .filter(|m| if pure { m.index == -1 } else { m.index >= 0 && m0.slot_of(m.index as u32).is_none() })
                    .find(|m| self.has_room_for_all(m))
            };
            let Some(m) = readd.or_else(|| candidate(false)).or_else(|| candidate(true)) else { continue };
            let _ = out.try_push(NewMember {
                slot,
                dev: m.dev,
                data_offset: m0.pba_of_lba0(),
                component_size: a.component_size,
            });
        }
    }

    /// Whether volume `other` lets a rebuild start elsewhere with `failed`
    /// slots missing: not while it has failed and still holds a failed disk.
    fn rebuild_allowed_beside(&self, other: usize, failed: u32) -> bool {
        if self.check_degraded(other, failed, 0) != map_state::FAILED {
            return true;
        }
        let d = self.devs[other].view();
        let mx = d.map_x();
        !(0..usize::from(d.map0().num_members()))
            .any(|s| self.present_record(ord_to_idx(mx.ord(s))).is_some_and(|r| status(r) & view::disk::FAILED != 0))
    }

    /// The extents the volumes on disk `m` occupy (start, size in sectors),
    /// sorted, then the metadata area at the end of the disk (size 0).
    /// `minimal` reserves only what a spare must keep (upstream trims the
    /// reservation so a spare can join any volume).
    fn used_extents(&self, m: &Member, minimal: bool) -> ArrayVec<(u64, u64), { MAX_VOLUMES + 1 }> {
        let mut ext: ArrayVec<(u64, u64), { MAX_VOLUMES + 1 }> = ArrayVec::new();
        if m.index >= 0 {
            for d in &self.devs {
                let v = d.view();
                let m0 = v.map0();
                if (0..usize::from(m0.num_members())).any(|s| ord_to_idx(m0.ord(s)) == m.index as u32) {
                    ext.push((m0.pba_of_lba0(), m0.per_dev_array_size()));
                }
            }
        }
        ext.sort_unstable();
        let total = total_blocks(&m.record);
        let mut reserve =
            if m.index == -1 || minimal { self.min_reserved_sectors() } else { MPB_SECTORS + RESERVED_SECTORS };
        if let Some(&(start, size)) = ext.last() {
            // Older metadata lets the reserved area shrink to what is left
            // after the last volume (rounded down to 1 KiB, never below the MPB).
            let mut rest = total.saturating_sub(start + size) & !1;
            rest = rest.max((self.image.len() as u64).div_ceil(512).max(1));
            reserve = reserve.min(rest);
        }
        ext.push((total.saturating_sub(reserve), 0));
        ext
    }

    /// The reservation a spare needs: the metadata and the dirty-stripe
    /// region, or less if the smallest configured disk reserves less.
    fn min_reserved_sectors(&self) -> u64 {
        let want = MPB_SECTORS + DIRTY_STRIPE_SECTORS;
        let smallest = self.members.iter().filter(|m| m.index >= 0).min_by_key(|m| total_blocks(&m.record));
        let Some(m) = smallest else { return MPB_SECTORS + RESERVED_SECTORS };
        let ext = self.used_extents(m, false);
        let end = ext.last().map(|e| e.0).unwrap_or(0);
        want.min(total_blocks(&m.record).saturating_sub(end))
    }

    /// Whether disk `m` has free space at exactly the offset and size of
    /// every volume it is not yet a member of.
    fn has_room_for_all(&self, m: &Member) -> bool {
        let ext = self.used_extents(m, true);
        self.devs.iter().all(|d| {
            let v = d.view();
            let m0 = v.map0();
            if m.index >= 0 && (0..usize::from(m0.num_members())).any(|s| ord_to_idx(m0.ord(s)) == m.index as u32) {
                return true;
            }
            let start = m0.pba_of_lba0();
            let end = start.saturating_add(m0.per_dev_array_size()); // exclusive
            let mut pos = 0;
            for &(s, size) in &ext {
                if start >= pos && end <= s {
                    return true;
                }
                pos = s + size;
            }
            false
        })
    }

    /// Record the rebuild of `added` into volume `a.inst` (upstream's
    /// activate-spare update), and retire disks no volume uses any more.
    pub(super) fn start_rebuild(&mut self, a: &ArrayCtx, added: &[NewMember], random: u32) {
        let inst = a.inst as usize;
        if inst >= self.devs.len() || added.is_empty() {
            return;
        }
        let mut victims: ArrayVec<u32, MAX_SLOTS> = ArrayVec::new();
        for (k, n) in added.iter().enumerate() {
            let Some(mi) = self.members.iter().position(|m| m.dev == n.dev) else { continue };
            let slot = n.slot as usize;
            let victim = ord_to_idx(self.devs[inst].view().map_x().ord(slot));
            // Other slots whose disk is absent or failed.
            let d = self.devs[inst].view();
            let mx = d.map_x();
            let failed = (0..usize::from(mx.num_members()))
                .filter(|&s| s != slot)
                .filter(|&s| {
                    let idx = ord_to_idx(mx.ord(s));
                    self.present_record(idx).map(|r| status(r) & view::disk::FAILED != 0).unwrap_or(true)
                })
                .count() as u32;
            if self.members[mi].index < 0 {
                let idx = self.table.len() as i32;
                let mut rec = self.members[mi].record;
                let st = (status(&rec) | view::disk::CONFIGURED) & !view::disk::SPARE;
                set_le32(&mut rec, view::disk::STATUS, st);
                if self.table.try_push(rec).is_err() {
                    continue;
                }
                self.members[mi].index = idx;
                self.members[mi].record = rec;
            }
            let new_idx = self.members[mi].index as u32;
            let to_state = self.check_degraded(inst, failed, 0);
            if k == 0 {
                self.devs[inst].view_mut().map_mut(0).set_map_state(map_state::DEGRADED);
                self.migrate(inst, to_state, MigrType::Rebuild);
            } else {
                self.devs[inst].view_mut().map_mut(0).set_map_state(to_state);
            }
            let mut dv = self.devs[inst].view_mut();
            dv.map_mut(0).set_ord(slot, new_idx);
            dv.map_mut(1).set_ord(slot, new_idx | ORD_REBUILD);
            if le32(&self.header, header::ORIG_FAMILY_NUM) == 0 {
                let f = self.family_num();
                set_le32(&mut self.header, header::ORIG_FAMILY_NUM, f);
            }
            let f = self.family_num().wrapping_add(random);
            set_le32(&mut self.header, header::FAMILY_NUM, f);
            if victim != new_idx {
                let _ = victims.try_push(victim);
            }
        }
        // Delete victims no volume refers to any more, highest first so the
        // remaining indices stay valid.
        victims.sort_unstable_by(|a, b| b.cmp(a));
        for v in victims {
            if !self.idx_in_use(v) {
                self.delete_disk(v);
            }
        }
        self.pending += 1;
    }

    /// Whether any volume's map 0 refers to disk `idx`.
    fn idx_in_use(&self, idx: u32) -> bool {
        self.devs.iter().any(|d| {
            let v = d.view();
            let m0 = v.map0();
            (0..usize::from(m0.num_members())).any(|s| ord_to_idx(m0.ord(s)) == idx)
        })
    }

    /// Remove disk `idx` from the table and renumber everything above it.
    fn delete_disk(&mut self, idx: u32) {
        if idx as usize >= self.table.len() {
            return;
        }
        self.table.remove(idx as usize);
        for m in self.members.iter_mut() {
            if m.index == idx as i32 {
                m.index = -2;
            } else if m.index > idx as i32 {
                m.index -= 1;
            }
        }
        for d in self.devs.iter_mut() {
            let maps = if d.view().migrating() { 2 } else { 1 };
            for which in 0..maps {
                let n = usize::from(if which == 0 {
                    d.view().map0().num_members()
                } else {
                    d.view().map_x().num_members()
                });
                for s in 0..n {
                    let ord = if which == 0 { d.view().map0().ord(s) } else { d.view().map_x().ord(s) };
                    if ord_to_idx(ord) > idx {
                        d.view_mut().map_mut(which).set_ord(s, ord - 1);
                    }
                }
            }
        }
        // Bad-block entries name disks by index too.
        self.bbm_disk_deleted(idx);
    }
}
