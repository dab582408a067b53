//! Online capacity expansion (update 5, `mdadm --grow` of the container's
//! disk count). mdadm drives the reshape itself and sends the checkpoints
//! (update 8); mdmon records the general migration, keeps it while md
//! reshapes, and ends it when md reports the reshape finished, then starts
//! the next volume's. A reshape md runs while the metadata still describes
//! the old layout would be assembled wrongly after a restart, so this must
//! be recorded before md starts.

use super::load::status;
use super::view::{self, map_size, MigrType};
use super::*;
use crate::wire::set_le32;

/// The device glibc's `makedev` packed into 32 bits, as mdadm sends it.
pub fn devt_from_int(v: u32) -> DevT {
    DevT { major: (v >> 8) & 0xfff, minor: (v & 0xff) | ((v >> 12) & 0xf_ff00) }
}

/// Round a volume size down to whole MiB per data member, as mdadm does.
pub fn round_size_to_mb(size: u64, data_members: u32) -> u64 {
    let d = u64::from(data_members.max(1));
    (size / d >> 11 << 11) * d
}

impl Imsm {
    /// The size map 0 of volume `inst` gives it (OLCE: the members' data).
    fn grown_size(&self, inst: usize) -> u64 {
        let v = self.devs[inst].view();
        let m0 = v.map0();
        let used = m0.data_members();
        if used == 0 {
            return v.size();
        }
        round_size_to_mb(m0.per_dev_array_size().saturating_mul(u64::from(used)), used)
    }

    fn set_size(&mut self, inst: usize, size: u64) {
        let b = &mut self.devs[inst].buf;
        set_le32(b, view::dev::SIZE_LOW, size as u32);
        set_le32(b, view::dev::SIZE_HIGH, (size >> 32) as u32);
    }

    /// Put volume `inst` into general migration to `new` members: map 1 is
    /// the current map, map 0 the same with the added slots (`i` → disk `i`).
    fn start_gen_migration(&mut self, inst: usize, new: usize) {
        let old_map: ArrayVec<u8, { view::map::LEN + 4 * MAX_SLOTS }> = {
            let v = self.devs[inst].view();
            let o = v.map_offset(0);
            v.as_bytes()[o..o + map_size(usize::from(v.map0().num_members()))].iter().copied().collect()
        };
        let old = usize::from(old_map[view::map::NUM_MEMBERS]);
        let dev = &mut self.devs[inst];
        let o0 = view::dev::LEN;
        dev.buf[o0 + view::map::NUM_MEMBERS] = new as u8;
        {
            let mut d = dev.view_mut();
            for s in old..new {
                d.map_mut(0).set_ord(s, s as u32);
            }
        }
        let o1 = o0 + map_size(new);
        dev.buf[o1..o1 + old_map.len()].copy_from_slice(&old_map);
        let mut d = dev.view_mut();
        d.set_migr_state(1);
        d.set_migr_type(MigrType::GenMigr);
        d.set_curr_migr_unit(0);
        let size = self.grown_size(inst);
        self.set_size(inst, size);
    }

    /// Apply update 5: the spares `new_disks` join as members `old..new`,
    /// and the first volume enters general migration to `new` members.
    pub(super) fn reshape_container_disks(
        &mut self,
        old: u32,
        new: u32,
        new_disks: &[u32],
    ) -> Result<(), apply::Refusal> {
        let (old, new) = (old as usize, new as usize);
        if new <= old || new_disks.len() != new - old || new > MAX_SLOTS {
            return Err("disk counts");
        }
        if self.devs.is_empty() {
            return Err("no volume");
        }
        if self.devs.iter().any(|d| d.view().migrating()) {
            return Err("a volume is migrating");
        }
        if self.devs.iter().any(|d| usize::from(d.view().map0().num_members()) != old) {
            return Err("a volume does not have the old disk count");
        }
        // Every added disk must be a present spare, taking the next index.
        if self.table.len() != old {
            return Err("the disk table does not match the old disk count");
        }
        let mut joining: ArrayVec<usize, MAX_SLOTS> = ArrayVec::new();
        for &v in new_disks {
            let dev = devt_from_int(v);
            let m = self.members.iter().position(|m| m.dev == dev).ok_or("an added disk is not in the container")?;
            if self.members[m].index != -1 || joining.contains(&m) {
                return Err("an added disk is not a spare");
            }
            joining.push(m);
        }
        if self.table.len() + joining.len() > MAX_DISKS {
            return Err("no room in the disk table");
        }
        for &m in &joining {
            self.join_as_member(m);
        }
        // One volume at a time; the others follow when it is done.
        self.start_gen_migration(0, new);
        self.pending += 1;
        Ok(())
    }

    /// Apply update 6: volume `subdev` migrates to `new_level` (RAID0 →
    /// RAID5 takes a spare as the new last member) and/or to
    /// `new_chunksize` KiB; negative values mean no change.
    pub(super) fn reshape_migration(
        &mut self,
        subdev: u32,
        new_level: i32,
        new_chunksize: i32,
        new_disk: i32,
    ) -> Result<(), apply::Refusal> {
        let inst = subdev as usize;
        if subdev > 1 || inst >= self.devs.len() {
            return Err("no such volume");
        }
        if self.devs[inst].view().migrating() {
            return Err("the volume is migrating");
        }
        let (n, level, state, size) = {
            let v = self.devs[inst].view();
            let m0 = v.map0();
            (usize::from(m0.num_members()), m0.level(), m0.map_state(), v.size())
        };
        if !matches!(new_level, -1 | 0 | 5) && new_level != i32::from(level) {
            return Err("unsupported level migration");
        }
        if new_chunksize > 0 && (new_chunksize > 0x7fff / 2 || !(new_chunksize as u32).is_power_of_two()) {
            return Err("chunk size");
        }
        let to_raid5 = new_level == 5 && level == 0;
        // RAID0 -> RAID5: the disk that becomes the last member, a present
        // spare taking the next index (mdadm leaves the choice to mdmon).
        let mut joining = None;
        if to_raid5 {
            if n + 1 > MAX_SLOTS || self.table.len() != n || self.devs.len() != 1 {
                return Err("no room for another member");
            }
            let m = if new_disk >= 0 {
                let dev = devt_from_int(new_disk as u32);
                self.members.iter().position(|m| m.dev == dev && m.index == -1)
            } else {
                self.spare_for_grow(inst)
            };
            joining = Some(m.ok_or("no spare for the new member")?);
        }
        let mut to_state = state;
        if to_raid5 {
            to_state = view::map_state::NORMAL;
            let mut d = self.devs[inst].view_mut();
            let mut m0 = d.map_mut(0);
            m0.set_num_members((n + 1) as u8);
            m0.set_ord(n, n as u32);
        }
        self.migrate(inst, to_state, MigrType::GenMigr);
        {
            let mut d = self.devs[inst].view_mut();
            if new_level >= 0 {
                d.map_mut(0).set_raw_level(new_level as u8);
            }
            if to_raid5 {
                // Map 1 is the RAID0 as it was.
                d.map_mut(1).set_num_members(n as u8);
                d.map_mut(0).set_ord(n, n as u32);
            }
            if new_chunksize > 0 {
                d.map_mut(0).set_blocks_per_strip((new_chunksize * 2) as u16);
                d.map_mut(0).update_num_data_stripes(size);
            }
            let bpm = d.map0().per_dev_array_size().saturating_add(2048);
            d.map_mut(0).set_blocks_per_member(bpm);
        }
        if let Some(m) = joining {
            self.join_as_member(m);
        }
        let grown = self.grown_size(inst);
        self.set_size(inst, grown);
        self.pending += 1;
        Ok(())
    }

    /// A present spare large enough to become a member of volume `inst`.
    fn spare_for_grow(&self, inst: usize) -> Option<usize> {
        let v = self.devs[inst].view();
        let need = v.map0().pba_of_lba0().saturating_add(v.map0().blocks_per_member());
        self.members.iter().position(|m| {
            m.index == -1 && {
                let total = u64::from(le32(&m.record, view::disk::TOTAL_BLOCKS_LO))
                    | u64::from(le32(&m.record, view::disk::TOTAL_BLOCKS_HI)) << 32;
                total >= need
            }
        })
    }

    /// Spare `m` becomes a configured member with the next disk index;
    /// false (nothing changed) if the disk table is full.
    pub(super) fn join_as_member(&mut self, m: usize) -> bool {
        let mut rec = self.members[m].record;
        let st = (status(&rec) | view::disk::CONFIGURED) & !view::disk::SPARE;
        set_le32(&mut rec, view::disk::STATUS, st);
        if self.table.try_push(rec).is_err() {
            return false;
        }
        self.members[m].index = self.table.len() as i32 - 1;
        self.members[m].record = rec;
        true
    }

    /// After a volume's reshape: the first volume whose member count differs
    /// from the first one's enters general migration (upstream's container
    /// reshape progress).
    pub(super) fn progress_container_reshape(&mut self) {
        if self.devs.iter().any(|d| d.view().migrating()) {
            return;
        }
        let Some(first) = self.devs.first().map(|d| usize::from(d.view().map0().num_members())) else {
            return;
        };
        if let Some(inst) =
            (1..self.devs.len()).find(|&i| usize::from(self.devs[i].view().map0().num_members()) != first)
        {
            self.start_gen_migration(inst, first);
            self.pending += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx_for, fixture, load, MemDisks};
    use super::super::update::kind;
    use super::*;
    use crate::md::{DevState, SyncAction};
    use crate::metadata::roles::*;
    use crate::metadata::{Consistency, NewDisk};

    /// glibc's makedev for small numbers, truncated to 32 bits.
    fn makedev(major: u32, minor: u32) -> u32 {
        (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12)
    }

    fn payload(old: u32, new: u32, disks: &[u32]) -> Vec<u8> {
        let mut w = vec![kind::RESHAPE_CONTAINER_DISKS, old, new];
        w.extend_from_slice(disks);
        w.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// A RAID5 over three disks plus a fourth added to the container.
    fn raid5_with_spare() -> (MemDisks, Box<Imsm>, DevT) {
        let mut d = fixture("raid5-3disk-initdone");
        let (mut im, _) = load(&mut d);
        let dev = DevT { major: 7, minor: 9 };
        let mut serial = [0u8; 16];
        serial[..10].copy_from_slice(b"/dev/loop9");
        let geom = crate::metadata::DiskGeom { size_bytes: super::super::tests::DISK_BYTES, sector_size: 512 };
        assert!(im.add_disk(NewDisk { dev, serial, geom, scsi_id: 0, random: 0 }));
        (d, im, dev)
    }

    #[test]
    fn devt_numbers_decode_as_glibc_packs_them() {
        for (maj, min) in [(7u32, 0u32), (7, 3), (8, 16), (259, 1), (9, 300), (253, 70000)] {
            assert_eq!(devt_from_int(makedev(maj, min)), DevT { major: maj, minor: min });
        }
    }

    #[test]
    fn container_reshape_records_a_general_migration_then_ends_it() {
        let (_d, mut im, spare) = raid5_with_spare();
        let (size0, per_dev) = {
            let v = im.volume(0).unwrap();
            (v.size(), v.map0().per_dev_array_size())
        };
        let p = payload(3, 4, &[makedev(spare.major, spare.minor)]);
        im.process_update(&p, &[0]).expect("applied");
        let v = im.volume(0).unwrap();
        assert!(v.migrating());
        assert_eq!(v.migr_type(), MigrType::GenMigr);
        assert_eq!(v.curr_migr_unit(), 0);
        assert_eq!(v.map0().num_members(), 4);
        assert_eq!(v.map0().ord(3), 3, "the new disk takes slot 3 with index 3");
        let m1 = v.map1().unwrap();
        assert_eq!(m1.num_members(), 3, "map 1 keeps the old layout");
        assert_eq!((0..3).map(|s| m1.ord(s)).collect::<Vec<_>>(), (0..3).map(|s| v.map0().ord(s)).collect::<Vec<_>>());
        // Three data members instead of two, whole MiB each.
        assert_eq!(v.size(), round_size_to_mb(per_dev * 3, 3));
        assert!(v.size() > size0);
        let m = im.members().iter().find(|m| m.dev == spare).unwrap();
        assert_eq!(m.index, 3);
        assert_eq!(status(&m.record) & (view::disk::SPARE | view::disk::CONFIGURED), view::disk::CONFIGURED);

        // While md reshapes, only dirty/clean changes.
        let mut a = ctx_for(&im, 0, 5, 4);
        a.curr_action = SyncAction::Reshape;
        a.last_checkpoint = 1000;
        im.set_array_state(&mut a, Consistency::Dirty);
        assert!(im.volume(0).unwrap().migrating());
        // Interrupted short of the end: the migration stays for a restart.
        a.curr_action = SyncAction::Idle;
        a.prev_action = SyncAction::Reshape;
        im.set_array_state(&mut a, Consistency::Clean);
        assert!(im.volume(0).unwrap().migrating());
        assert!(!a.check_reshape);
        // Finished: the migration ends, the manager is asked to grow the array.
        a.last_checkpoint = a.component_size;
        for s in a.slots.iter_mut() {
            s.state = DevState(DevState::INSYNC);
        }
        im.set_array_state(&mut a, Consistency::Clean);
        let v = im.volume(0).unwrap();
        assert!(!v.migrating(), "migration ended");
        assert_eq!(v.map0().num_members(), 4);
        assert_eq!(v.map0().map_state(), view::map_state::NORMAL);
        assert!(a.check_reshape);
        assert_eq!(a.custom_array_size, v.size());
    }

    #[test]
    fn container_reshape_refusals_change_nothing() {
        let (_d, mut im, spare) = raid5_with_spare();
        let good = makedev(spare.major, spare.minor);
        let member = makedev(7, 0);
        let cases: [(&str, Vec<u8>); 4] = [
            ("a member is not a spare", payload(3, 4, &[member])),
            ("an unknown disk", payload(3, 4, &[makedev(7, 42)])),
            ("the wrong old count", payload(2, 3, &[good])),
            ("the same disk twice", payload(3, 5, &[good, good])),
        ];
        for (what, p) in cases {
            let before = im.volume(0).unwrap().as_bytes().to_vec();
            assert!(im.process_update(&p, &[0]).is_err(), "{what}");
            assert_eq!(im.volume(0).unwrap().as_bytes(), &before[..], "{what}");
            assert_eq!(im.members().iter().find(|m| m.dev == spare).unwrap().index, -1, "{what}");
        }
    }

    fn migration_payload(subdev: u32, level: i32, chunk: i32, disk: i32) -> Vec<u8> {
        [kind::RESHAPE_MIGRATION as i32, 3, 3, subdev as i32, level, -1, chunk, disk]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }

    #[test]
    fn chunk_migration_halves_the_strip_and_keeps_the_size() {
        let mut d = fixture("raid5-3disk-initdone");
        let (mut im, _) = load(&mut d);
        let (size, nds, bps) = {
            let v = im.volume(0).unwrap();
            (v.size(), v.map0().num_data_stripes(), v.map0().blocks_per_strip())
        };
        assert_eq!(bps, 256, "fixture: 128 KiB chunks");
        im.process_update(&migration_payload(0, -1, 64, -1), &[0]).expect("applied");
        let mut im = {
            d.write_all(im.as_mut());
            load(&mut d).0
        };
        let v = im.volume(0).unwrap();
        assert!(v.migrating() && v.migr_type() == MigrType::GenMigr);
        let (m0, m1) = (v.map0(), v.map1().unwrap());
        assert_eq!((m0.blocks_per_strip(), m0.num_data_stripes()), (128, nds * 2));
        assert_eq!((m1.blocks_per_strip(), m1.num_data_stripes()), (256, nds));
        assert_eq!(m0.blocks_per_member(), m0.per_dev_array_size() + 2048);
        assert_eq!(v.size(), size);
        // A second migration while this one runs is refused.
        assert!(im.process_update(&migration_payload(0, -1, 32, -1), &[0]).is_err());
        assert!(im.process_update(&migration_payload(0, 6, -1, -1), &[0]).is_err());
    }

    #[test]
    fn raid0_to_raid5_takes_a_spare_as_the_new_member() {
        let mut d = fixture("raid0-2disk");
        let (mut im, _) = load(&mut d);
        // No spare yet: refused.
        assert!(im.process_update(&migration_payload(0, 5, -1, -1), &[]).is_err());
        assert!(!im.volume(0).unwrap().migrating());
        let dev = DevT { major: 7, minor: 9 };
        let mut serial = [0u8; 16];
        serial[..10].copy_from_slice(b"/dev/loop9");
        let geom = crate::metadata::DiskGeom { size_bytes: super::super::tests::DISK_BYTES, sector_size: 512 };
        assert!(im.add_disk(NewDisk { dev, serial, geom, scsi_id: 0, random: 0 }));
        im.process_update(&migration_payload(0, 5, -1, -1), &[]).expect("applied");
        let v = im.volume(0).unwrap();
        let (m0, m1) = (v.map0(), v.map1().unwrap());
        assert_eq!((m0.level(), m0.num_members(), m0.ord(2)), (5, 3, 2));
        assert_eq!(m0.map_state(), view::map_state::NORMAL);
        assert_eq!((m1.level(), m1.num_members()), (0, 2));
        assert_eq!(im.members().iter().find(|m| m.dev == dev).unwrap().index, 2);
        assert_eq!(im.table.len(), 3);
    }
}
