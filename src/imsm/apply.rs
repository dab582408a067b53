//! Applying the metadata updates mdadm sends over the control socket
//! (creating, deleting and renaming volumes, write-hole policy, size
//! change, reshape checkpoints). Each refuses, changing nothing, when the
//! update does not fit the metadata as it stands.

use super::load::serial_eq;
use super::view::{self, ord_to_idx, Dev, MigrType};
use super::*;
use crate::wire::{le32, set_le32};

/// Why an update was not applied.
pub type Refusal = &'static str;

impl Imsm {
    /// Add volume `dev_idx` described by `dev` over the disks with `serials`.
    pub(super) fn create_volume(&mut self, dev_idx: u32, dev: &[u8], serials: &[Serial]) -> Result<(), Refusal> {
        if (dev_idx as usize) < self.devs.len() {
            return Err("the volume already exists");
        }
        if dev_idx as usize != self.devs.len() {
            return Err("out of sequence");
        }
        if self.devs.is_full() {
            return Err("no room for another volume");
        }
        let len = Dev::<&[u8]>::check_len(dev).ok_or("malformed volume record")?;
        let new = Dev::new_unchecked(dev);
        let nm = new.map0();
        if usize::from(nm.num_members()) != serials.len() || serials.len() > MAX_SLOTS {
            return Err("member count does not match the serials");
        }
        // Every member must be present now.
        let mut members: ArrayVec<usize, MAX_SLOTS> = ArrayVec::new();
        for s in serials {
            let m = self
                .members
                .iter()
                .position(|m| serial_eq(&m.serial, s) && m.index >= -1)
                .ok_or("a member disk is not present")?;
            members.push(m);
        }
        // Sizes that overflow or reach past a member disk.
        let sectors = members.iter().map(|&m| self.members[m].geom.size_bytes / 512);
        super::bounds::check_map(&nm, sectors)?;
        // A volume overlapping another on a shared disk (a race with a spare activation).
        let (ns, ne) = (nm.pba_of_lba0(), nm.pba_of_lba0().saturating_add(nm.per_dev_array_size()));
        for (i, d) in self.devs.iter().enumerate() {
            let v = d.view();
            let m0 = v.map0();
            let (s, e) = (m0.pba_of_lba0(), m0.pba_of_lba0().saturating_add(m0.per_dev_array_size()));
            let overlap = (ns >= s && ns <= e) || (s >= ns && s <= ne);
            if overlap && self.shares_disk(i, &members) {
                return Err("overlaps a volume on the same disks");
            }
        }
        // Spares become members.
        let mut idx: ArrayVec<u32, MAX_SLOTS> = ArrayVec::new();
        for &mi in &members {
            if self.members[mi].index == -1 && !self.join_as_member(mi) {
                return Err("no room in the disk table");
            }
            idx.push(self.members[mi].index as u32);
        }
        let mut buf = DevBuf { buf: [0; DEV_MAX] };
        buf.buf[..len].copy_from_slice(&dev[..len]);
        for (slot, &i) in idx.iter().enumerate() {
            buf.view_mut().map_mut(0).set_ord(slot, i);
        }
        self.devs.push(buf);
        self.update_version_info();
        self.pending += 1;
        Ok(())
    }

    /// Whether volume `inst` uses any of the present disks `members`.
    fn shares_disk(&self, inst: usize, members: &[usize]) -> bool {
        let v = self.devs[inst].view();
        let m0 = v.map0();
        (0..usize::from(m0.num_members())).any(|s| {
            let idx = ord_to_idx(m0.ord(s)) as i32;
            members.iter().any(|&mi| self.members[mi].index == idx)
        })
    }

    /// Set the signature version and attribute bits the volumes need (as
    /// mdadm does after creating a volume).
    pub(super) fn update_version_info(&mut self) {
        let mut attrs = le32(&self.header, header::ATTRIBUTES);
        let mut version: &[u8] = b"1.3.00";
        for d in &self.devs {
            let v = d.view();
            let m = v.map0();
            if v.size() >> 32 != 0 {
                attrs |= 0x2000_0000;
            }
            if self.devs.len() > 1 || attrs != 0x8000_0000 {
                version = b"1.3.00";
                attrs |= match m.level() {
                    0 => 0x01,
                    1 => 0x02,
                    10 => 0x04,
                    5 => 0x10,
                    _ => 0,
                };
            } else {
                version = if m.num_members() >= 5 {
                    b"1.2.04"
                } else if v.status() == 0x400 {
                    b"1.2.06"
                } else if m.level() == 5 {
                    b"1.2.02"
                } else if m.num_members() >= 3 {
                    b"1.2.01"
                } else if m.level() == 1 {
                    b"1.1.00"
                } else {
                    b"1.0.00"
                };
            }
        }
        set_le32(&mut self.header, header::ATTRIBUTES, attrs);
        let sig = &mut self.header[24..32];
        sig.fill(0);
        sig[..version.len()].copy_from_slice(version);
    }

    /// Delete volume `victim` unless a monitored array would be affected.
    pub(super) fn kill_volume(&mut self, victim: u32, active: &[u32]) -> Result<(), Refusal> {
        if active.iter().any(|&i| i >= victim) {
            return Err("an active volume would be affected");
        }
        if victim as usize >= self.devs.len() {
            return Err("no such volume");
        }
        if self.devs.len() == 1 {
            return Err("the last volume");
        }
        self.devs.remove(victim as usize);
        self.pending += 1;
        Ok(())
    }

    /// Rename volume `target` (not while it is monitored).
    pub(super) fn rename_volume(&mut self, target: u32, name: &[u8; 16], active: &[u32]) -> Result<(), Refusal> {
        if active.contains(&target) {
            return Err("the volume is active");
        }
        if target as usize >= self.devs.len() {
            return Err("no such volume");
        }
        // mdadm keeps at most 15 characters, without surrounding blanks.
        let raw = crate::wire::cstr_field(&name[..15]);
        let start = raw.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(raw.len());
        let end = raw.iter().rposition(|c| !c.is_ascii_whitespace()).map(|p| p + 1).unwrap_or(start);
        let trimmed = &raw[start..end.max(start)];
        if trimmed.is_empty() {
            return Err("empty name");
        }
        if self.devs.iter().any(|d| crate::wire::cstr_field(d.view().volume()) == trimmed) {
            return Err("name already exists");
        }
        let mut v = [0u8; 16];
        v[..trimmed.len()].copy_from_slice(trimmed);
        self.devs[target as usize].view_mut().set_volume(&v);
        self.pending += 1;
        Ok(())
    }

    /// Set the write-hole policy of volume `target`.
    pub(super) fn set_rwh_policy(&mut self, target: u32, policy: u8) -> Result<(), Refusal> {
        let d = self.devs.get_mut(target as usize).ok_or("no such volume")?;
        if d.buf[view::dev::RWH_POLICY] != policy {
            d.buf[view::dev::RWH_POLICY] = policy;
            self.pending += 1;
        }
        Ok(())
    }

    /// Grow or shrink volume `subdev` to `new_size` sectors.
    pub(super) fn change_size(&mut self, subdev: u32, new_size: u64) -> Result<(), Refusal> {
        if subdev > 1 || subdev as usize >= self.devs.len() {
            return Err("no such volume");
        }
        let d = &mut self.devs[subdev as usize];
        let (used, domains, bps) = {
            let v = d.view();
            let m0 = v.map0();
            (u64::from(m0.data_members()), u64::from(m0.num_domains()).max(1), u64::from(m0.blocks_per_strip()).max(1))
        };
        if used == 0 || new_size == 0 {
            return Err("bad size");
        }
        let array_blocks = (new_size / used >> 11 << 11) * used;
        let bpm = new_size / used + 2048;
        let nds = new_size / used / domains / bps;
        let mut v = d.clone();
        {
            let mut m = v.view_mut();
            let mut m0 = m.map_mut(0);
            m0.set_blocks_per_member(bpm);
            m0.set_num_data_stripes(nds);
        }
        self.check_dev(&v.view())?;
        let d = &mut self.devs[subdev as usize];
        let b = &mut d.buf;
        set_le32(b, view::dev::SIZE_LOW, array_blocks as u32);
        set_le32(b, view::dev::SIZE_HIGH, (array_blocks >> 32) as u32);
        let mo = view::dev::LEN;
        set_le32(b, mo + view::map::BLOCKS_PER_MEMBER_LO, bpm as u32);
        set_le32(b, mo + view::map::BLOCKS_PER_MEMBER_HI, (bpm >> 32) as u32);
        set_le32(b, mo + view::map::NUM_DATA_STRIPES_LO, nds as u32);
        set_le32(b, mo + view::map::NUM_DATA_STRIPES_HI, (nds >> 32) as u32);
        self.pending += 1;
        Ok(())
    }

    /// Record mdadm's reshape progress in every volume under general migration.
    pub(super) fn migration_checkpoint(&mut self, unit: u64) -> Result<(), Refusal> {
        let mut any = false;
        for d in self.devs.iter_mut() {
            let v = d.view();
            if v.migrating() && v.migr_type() == MigrType::GenMigr {
                d.view_mut().set_curr_migr_unit(unit);
                any = true;
            }
        }
        if !any {
            return Err("no volume is reshaping");
        }
        self.pending += 1;
        Ok(())
    }
}
