//! Level takeover between RAID0 and RAID10 (update 7), as mdadm's `--grow
//! --level` asks for it. md changes the level itself; the metadata must say
//! the same before it does. RAID0 → RAID10 doubles every member's index and
//! puts a missing, failed mirror beside each; RAID10 → RAID0 drops the
//! failed half, whose disks become spares.

use super::load::status;
use super::view::{self, map_state};
use super::*;
use crate::wire::set_le32;

/// Direction values on the wire.
pub const R10_TO_R0: u32 = 0;
pub const R0_TO_R10: u32 = 1;

impl Imsm {
    /// Apply a takeover of volume `subarray` in `direction`.
    pub(super) fn takeover(&mut self, subarray: u32, direction: u32) -> Result<(), apply::Refusal> {
        let inst = subarray as usize;
        if inst >= self.devs.len() {
            return Err("no such volume");
        }
        // Indexes are renumbered container-wide: with a second volume its
        // map would no longer match (mdadm refuses that case too).
        if self.devs.len() != 1 {
            return Err("takeover needs a container with one volume");
        }
        if self.devs[inst].view().migrating() {
            return Err("the volume is migrating");
        }
        match direction {
            R0_TO_R10 => self.raid0_to_raid10(inst)?,
            R10_TO_R0 => self.raid10_to_raid0(inst)?,
            _ => return Err("takeover direction"),
        }
        self.update_version_info();
        self.pending += 1;
        Ok(())
    }

    fn raid0_to_raid10(&mut self, inst: usize) -> Result<(), apply::Refusal> {
        let (n, size) = {
            let d = self.devs[inst].view();
            let m0 = d.map0();
            if m0.level() != 0 {
                return Err("not a RAID0 volume");
            }
            (usize::from(m0.num_members()), d.size())
        };
        if n == 0 || 2 * n > MAX_SLOTS || 2 * n > MAX_DISKS {
            return Err("member count");
        }
        // Every table entry must be a member of this volume, in slot order
        // by index, for the doubled indexes to stay consistent.
        if self.table.len() != n {
            return Err("the disk table holds disks outside the volume");
        }
        // The missing halves are modelled on the first disk's record.
        let template = self.table[0];
        let mut table: ArrayVec<[u8; view::disk::LEN], MAX_DISKS> = ArrayVec::new();
        for i in 0..n {
            table.push(self.table[i]);
            let mut rec = template;
            let mut name = heapless::String::<16>::new();
            let _ = core::fmt::write(&mut name, format_args!(" MISSING_{}", 2 * i + 1));
            rec[view::disk::SERIAL].fill(0);
            rec[..name.len()].copy_from_slice(name.as_bytes());
            table.push(rec);
        }
        self.table = table;
        for m in self.members.iter_mut().filter(|m| m.index >= 0) {
            m.index *= 2;
        }
        {
            let mut d = self.devs[inst].view_mut();
            let mut m0 = d.map_mut(0);
            m0.set_map_state(map_state::DEGRADED);
            // Stored as 1 (legacy RAID10) when two disks become four, as
            // both mdadm 4.2 and current mdadm do; as 10 otherwise (current
            // mdadm's rule).
            m0.set_raw_level(if n == 2 { 1 } else { 10 });
            m0.set_num_domains(2);
            m0.set_num_members((2 * n) as u8);
            m0.update_num_data_stripes(size);
            for s in 0..2 * n {
                m0.set_ord(s, s as u32);
            }
        }
        // Each missing mirror is failed and then marked missing, as mdadm
        // marks absent disks.
        for i in 0..n {
            let idx = (2 * i + 1) as u32;
            self.mark_failure(inst, idx);
            let rec = &mut self.table[idx as usize];
            if le32(rec, view::disk::SCSI_ID) != 0xffff_ffff {
                set_le32(rec, view::disk::SCSI_ID, 0xffff_ffff);
                rec.copy_within(1..16, 0);
                rec[15] = 0;
            }
        }
        Ok(())
    }

    fn raid10_to_raid0(&mut self, inst: usize) -> Result<(), apply::Refusal> {
        let (n, size) = {
            let d = self.devs[inst].view();
            let m0 = d.map0();
            if m0.level() != 10 {
                return Err("not a RAID10 volume");
            }
            (u32::from(m0.num_members()), d.size())
        };
        if self.count_failed(inst, Some(0)) != n / 2 {
            return Err("half of the members must have failed");
        }
        // The failed half must still be in the container: its disks become
        // spares and leave the table, so the survivors take indexes 0..n/2.
        let failed_present = self
            .members
            .iter()
            .filter(|m| m.index >= 0 && status(&self.table[m.index as usize]) & view::disk::FAILED != 0)
            .count();
        if self.table.len() != n as usize || failed_present != (n / 2) as usize {
            return Err("the failed members are not all in the container");
        }
        // The failed present disks become spares; the indexes above each
        // close up.
        loop {
            let failed = self
                .members
                .iter()
                .position(|m| m.index >= 0 && status(&self.table[m.index as usize]) & view::disk::FAILED != 0);
            let Some(mi) = failed else { break };
            let idx = self.members[mi].index;
            self.table.remove(idx as usize);
            self.bbm_disk_deleted(idx as u32);
            for m in self.members.iter_mut().filter(|m| m.index > idx) {
                m.index -= 1;
            }
            let m = &mut self.members[mi];
            m.index = -1;
            m.record[view::disk::SERIAL].copy_from_slice(&m.serial);
            set_le32(&mut m.record, view::disk::STATUS, view::disk::SPARE);
        }
        let mut d = self.devs[inst].view_mut();
        let mut m0 = d.map_mut(0);
        m0.set_num_members((n / 2) as u8);
        m0.set_map_state(map_state::NORMAL);
        m0.set_raw_level(0);
        m0.set_num_domains(1);
        m0.update_num_data_stripes(size);
        m0.set_failed_disk_num(0xff);
        let present: ArrayVec<u32, MAX_DISKS> =
            self.members.iter().filter(|m| m.index >= 0).map(|m| m.index as u32).collect();
        for idx in present {
            if (idx as usize) < (n / 2) as usize {
                d.map_mut(0).set_ord(idx as usize, idx);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ctx_for, fixture, load, MemDisks};
    use super::super::update::kind;
    use super::*;
    use crate::md::DevState;
    use crate::metadata::roles::*;
    use view::{ord_to_idx, ORD_REBUILD};

    fn payload(subarray: u32, direction: u32) -> Vec<u8> {
        [kind::TAKEOVER, subarray, direction].iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// Write the model to the in-memory disks and load it back, as the next
    /// mdmon (or mdadm) would see it.
    fn reload(d: &mut MemDisks, im: &mut Imsm) -> Box<Imsm> {
        d.write_all(im);
        load(d).0
    }

    fn serial(rec: &[u8]) -> &[u8] {
        crate::wire::cstr_field(&rec[view::disk::SERIAL])
    }

    #[test]
    fn raid0_to_raid10_adds_a_missing_mirror_beside_each_member() {
        let mut d = fixture("raid0-2disk");
        let (mut im, _) = load(&mut d);
        let old_table = im.table.clone();
        let (size, nds0, bps) = {
            let v = im.volume(0).unwrap();
            (v.size(), v.map0().num_data_stripes(), u64::from(v.map0().blocks_per_strip()))
        };
        im.process_update(&payload(0, R0_TO_R10), &[]).expect("applied");
        let im = reload(&mut d, &mut im);
        let v = im.volume(0).unwrap();
        let m0 = v.map0();
        assert_eq!((m0.level(), m0.raw_level(), m0.num_members(), m0.num_domains()), (10, 1, 4, 2));
        assert_eq!(m0.map_state(), map_state::DEGRADED);
        assert_eq!(v.size(), size, "the volume keeps its size");
        assert_eq!(m0.num_data_stripes(), size / 2 / 2 / bps);
        assert_eq!(m0.num_data_stripes(), nds0 / 2);
        // Present disks at even slots, failed mirrors at odd ones.
        let ords: Vec<u32> = (0..4).map(|s| m0.ord(s)).collect();
        assert_eq!(ords, vec![0, 1 | ORD_REBUILD, 2, 3 | ORD_REBUILD]);
        assert_eq!(m0.failed_disk_num(), 1);
        assert_eq!(im.table.len(), 4);
        assert_eq!(im.table[0], old_table[0]);
        assert_eq!(im.table[2], old_table[1]);
        for (idx, name) in [(1usize, &b"MISSING_1:0"[..]), (3, b"MISSING_3:0")] {
            let r = &im.table[idx];
            assert_eq!(serial(r), name);
            assert_ne!(status(r) & view::disk::FAILED, 0);
            assert_eq!(le32(r, view::disk::SCSI_ID), 0xffff_ffff);
        }
        let mut idx: Vec<i32> = im.members().iter().map(|m| m.index).collect();
        idx.sort();
        assert_eq!(idx, vec![0, 2]);
        assert_eq!(im.count_failed(0, Some(0)), 2);
    }

    #[test]
    fn raid10_to_raid0_turns_the_failed_half_into_spares() {
        let mut d = fixture("raid10-4disk-clean");
        let (mut im, _) = load(&mut d);
        // Refused while every member is in sync.
        assert!(im.process_update(&payload(0, R10_TO_R0), &[]).is_err());
        assert_eq!(im.pending, 0, "a refused takeover changes nothing");
        // mdadm fails one disk of each mirror first (slots 1 and 3).
        let mut a = ctx_for(&im, 0, 10, 4);
        for slot in [1, 3] {
            im.set_disk(&mut a, slot, DevState(DevState::FAULTY));
        }
        let failed: Vec<u32> = [1usize, 3].iter().map(|&s| ord_to_idx(im.volume(0).unwrap().map0().ord(s))).collect();
        let keep: Vec<Serial> = [0usize, 2]
            .iter()
            .map(|&s| {
                let idx = ord_to_idx(im.volume(0).unwrap().map0().ord(s));
                im.members().iter().find(|m| m.index == idx as i32).unwrap().serial
            })
            .collect();
        // The running mdmon still holds the failed disks (md removed them
        // from the array, not from the container).
        im.process_update(&payload(0, R10_TO_R0), &[]).expect("applied");
        let im = reload(&mut d, &mut im);
        let v = im.volume(0).unwrap();
        let m0 = v.map0();
        assert_eq!((m0.level(), m0.num_members(), m0.num_domains()), (0, 2, 1));
        assert_eq!(m0.map_state(), map_state::NORMAL);
        assert_eq!(m0.failed_disk_num(), 0xff);
        assert_eq!((m0.ord(0), m0.ord(1)), (0, 1));
        assert_eq!(im.table.len(), 2);
        // The survivors keep their order; the failed disks are spares with
        // their own serials again.
        for (i, s) in keep.iter().enumerate() {
            assert_eq!(serial(&im.table[i]), crate::wire::cstr_field(s));
        }
        let spares: Vec<_> = im.members().iter().filter(|m| m.index == -1).collect();
        assert_eq!(spares.len(), 2, "failed idx {failed:?} become spares");
        assert!(spares.iter().all(|m| status(&m.record) == view::disk::SPARE));
    }

    #[test]
    fn refused_takeovers_change_nothing() {
        for (name, dir) in [("raid1-clean", R0_TO_R10), ("raid0-2disk", R10_TO_R0), ("two-volumes", R0_TO_R10)] {
            let mut d = fixture(name);
            let (mut im, _) = load(&mut d);
            let before = (im.table.clone(), im.volume(0).unwrap().as_bytes().to_vec());
            assert!(im.process_update(&payload(0, dir), &[]).is_err(), "{name}");
            assert_eq!((im.table.clone(), im.volume(0).unwrap().as_bytes().to_vec()), before, "{name}");
            assert_eq!(im.pending, 0);
        }
        let mut d = fixture("raid0-2disk");
        let (mut im, _) = load(&mut d);
        assert!(im.process_update(&payload(3, R0_TO_R10), &[]).is_err(), "no such volume");
    }
}
