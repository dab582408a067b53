//! What mdmon's monitor asks of DDF: dirty/clean and initialisation state
//! of a virtual disk, member failures and the virtual disk state that
//! follows, and writing the metadata back to every member.
//!
//! DDF records no resync or rebuild position (only "not / partly / fully
//! initialised"), so nothing is resumed from a checkpoint: an interrupted
//! resync or rebuild starts again from zero, as with mdadm.

use super::view::{self, conf, phys, table, virt, GUID_LEN};
use super::Ddf;
use crate::md::DevState;
use crate::metadata::{
    ArrayCtx, Consistency, DevT, DiskGeom, Metadata, NewDisk, NewMember, OpenError, Regions, UpdateDone, MAX_SLOTS,
};
use crate::wire::{be16, be32, set_be16, set_be32};
use arrayvec::ArrayVec;

mod update;

/// Physical disk state bits.
pub mod pd_state {
    pub const ONLINE: u16 = 0x01;
    pub const FAILED: u16 = 0x02;
    pub const REBUILDING: u16 = 0x04;
    pub const MISSING: u16 = 0x40;
}

/// Physical disk type bits.
pub mod pd_type {
    pub const ACTIVE_IN_VD: u16 = 0x02;
    pub const GLOBAL_SPARE: u16 = 0x04;
    pub const SPARE: u16 = 0x08;
}

/// Physical disk state bit mdadm uses to find failed disks no VD uses.
const TRANSITION: u16 = 0x08;

/// Virtual disk states (low three bits) and the Inconsistent flag.
pub mod vd_state {
    pub const OPTIMAL: u8 = 0;
    pub const DEGRADED: u8 = 1;
    pub const FAILED: u8 = 4;
    pub const PART_OPTIMAL: u8 = 5;
    pub const MASK: u8 = 0x07;
    pub const INCONSISTENT: u8 = 0x10;
}

/// Primary RAID levels.
mod prl {
    pub const RAID0: u8 = 0x00;
    pub const RAID1: u8 = 0x01;
    pub const RAID4: u8 = 0x04;
    pub const RAID5: u8 = 0x05;
    pub const RAID6: u8 = 0x06;
    pub const RAID1E: u8 = 0x11;
    pub const JBOD: u8 = 0x0F;
    pub const CONCAT: u8 = 0x1F;
}

/// Secondary RAID level "mirrored".
const SRL_MIRRORED: u8 = 0x01;

/// Seconds between the Unix epoch and DDF's (1980-01-01).
pub const DDF_EPOCH: u64 = 315_532_800;

impl Ddf {
    fn mppe(&self) -> usize {
        usize::from(be16(&self.header, view::header::MPPE))
    }

    /// The configuration (index into `confs`) of VD number `inst`.
    pub(crate) fn conf_of(&self, inst: u32) -> Option<usize> {
        self.confs.iter().position(|c| c.vcnum == Some(inst as usize))
    }

    fn virt_off(inst: u32) -> usize {
        table::LEN + inst as usize * table::ENTRY
    }

    fn phys_off(pd: usize) -> usize {
        table::LEN + pd * table::ENTRY
    }

    pub(super) fn pd_state(&self, pd: usize) -> u16 {
        be16(&self.phys, Self::phys_off(pd) + phys::STATE)
    }

    fn set_pd_state(&mut self, pd: usize, v: u16) {
        set_be16(&mut self.phys, Self::phys_off(pd) + phys::STATE, v);
    }

    /// The physical disk entry with `refnum`.
    fn find_phys(&self, refnum: u32) -> Option<usize> {
        if refnum == 0xFFFF_FFFF {
            return None;
        }
        self.phys_entries().position(|e| !view::is_all_ff(&e[..GUID_LEN]) && be32(e, phys::REFNUM) == refnum)
    }

    /// The position in `rec` of its `n`-th member (unused positions skipped).
    fn index_in_bvd(&self, rec: &[u8], n: usize) -> Option<usize> {
        let count = usize::from(be16(rec, conf::PRIM_ELMNT_COUNT));
        (0..self.mppe()).filter(|&p| be32(rec, conf::PHYS_REFNUM + 4 * p) != 0xFFFF_FFFF).take(count).nth(n)
    }

    /// The record (BVD) and position of md slot `n` of configuration `c`.
    pub(crate) fn slot_position(&self, c: usize, n: u32) -> Option<(usize, usize)> {
        let vc = &self.confs[c];
        let first = &vc.records[0];
        let prim = usize::from(be16(first, conf::PRIM_ELMNT_COUNT)).max(1);
        let (k, within) = if first[conf::SEC_ELMNT_COUNT] <= 1 {
            (0, n as usize)
        } else {
            let bvd = n as usize / prim;
            let k = vc.records.iter().position(|r| usize::from(r[conf::SEC_ELMNT_SEQ]) == bvd)?;
            (k, n as usize % prim)
        };
        Some((k, self.index_in_bvd(&vc.records[k], within)?))
    }

    /// The state one BVD's members give it.
    fn bvd_state(&self, rec: &[u8]) -> u8 {
        let n = usize::from(be16(rec, conf::PRIM_ELMNT_COUNT));
        let mut working = 0;
        let mut avail: ArrayVec<bool, MAX_SLOTS> = ArrayVec::new();
        for i in 0..n.min(MAX_SLOTS) {
            let ok = self
                .index_in_bvd(rec, i)
                .and_then(|p| self.find_phys(be32(rec, conf::PHYS_REFNUM + 4 * p)))
                .map(|pd| {
                    self.pd_state(pd) & (pd_state::ONLINE | pd_state::FAILED | pd_state::REBUILDING) == pd_state::ONLINE
                })
                .unwrap_or(false);
            working += usize::from(ok);
            avail.push(ok);
        }
        if working == n {
            return vd_state::OPTIMAL;
        }
        match rec[conf::PRL] {
            prl::RAID0 | prl::CONCAT | prl::JBOD => vd_state::FAILED,
            prl::RAID1 if working == 0 => vd_state::FAILED,
            prl::RAID1 if working >= 2 => vd_state::PART_OPTIMAL,
            // RAID1E (md raid10 in one BVD): every pair of neighbours must keep one copy.
            prl::RAID1E if (0..n).step_by(2).any(|i| !avail[i] && !avail.get(i + 1).copied().unwrap_or(false)) => {
                vd_state::FAILED
            }
            prl::RAID4 | prl::RAID5 if working + 1 < n => vd_state::FAILED,
            prl::RAID6 if working + 2 < n => vd_state::FAILED,
            prl::RAID6 if working + 1 == n => vd_state::PART_OPTIMAL,
            _ => vd_state::DEGRADED,
        }
    }

    /// The state of a whole VD (its BVDs folded by the secondary level).
    fn svd_state(&self, c: usize) -> u8 {
        let vc = &self.confs[c];
        let srl = vc.records[0][conf::SRL];
        let mut state = self.bvd_state(&vc.records[0]);
        for r in vc.records.iter().skip(1) {
            let other = self.bvd_state(r);
            state = match (state, other) {
                (vd_state::OPTIMAL, vd_state::OPTIMAL) => vd_state::OPTIMAL,
                (s, o) if srl == SRL_MIRRORED => {
                    if s == vd_state::OPTIMAL || o == vd_state::OPTIMAL {
                        vd_state::PART_OPTIMAL
                    } else if s == vd_state::FAILED && o == vd_state::FAILED {
                        vd_state::FAILED
                    } else {
                        vd_state::DEGRADED
                    }
                }
                (s, o) if s == vd_state::FAILED || o == vd_state::FAILED => vd_state::FAILED,
                (s, o) if s == vd_state::DEGRADED || o == vd_state::DEGRADED => vd_state::DEGRADED,
                _ => vd_state::PART_OPTIMAL,
            };
        }
        state
    }

    /// Something changed: the header's sequence number advances once per
    /// write; a changed configuration record gets a new seqnum and time.
    fn touch(&mut self, record: Option<(usize, usize)>) {
        if let Some((c, k)) = record {
            let r = &mut self.confs[c].records[k];
            set_be32(r, conf::TIMESTAMP, self.now);
            let s = be32(r, conf::SEQNUM).wrapping_add(1);
            set_be32(r, conf::SEQNUM, s);
        }
        if !self.pending {
            self.pending = true;
            let s = be32(&self.header, view::header::SEQ).wrapping_add(1);
            set_be32(&mut self.header, view::header::SEQ, s);
        }
    }

    /// Store VD `inst`'s state (low bits) if it changed; true if it did.
    fn store_vd_state(&mut self, inst: u32, c: usize) -> bool {
        let state = self.svd_state(c);
        let o = Self::virt_off(inst) + virt::STATE;
        let old = self.virt[o];
        let new = (old & !vd_state::MASK) | state;
        self.virt[o] = new;
        new != old
    }

    /// On first activation: members whose disk is not in the container are
    /// recorded failed and missing, and the VD state follows.
    fn handle_missing(&mut self, a: &mut ArrayCtx, c: usize) {
        for n in 0..a.raid_disks.min(MAX_SLOTS as u32) {
            let Some((k, p)) = self.slot_position(c, n) else { break };
            let refnum = be32(&self.confs[c].records[k], conf::PHYS_REFNUM + 4 * p);
            let present = self.members.iter().any(|m| be32(&m.disk_data, view::disk_data::REFNUM) == refnum);
            if present {
                continue;
            }
            if let Some(pd) = self.find_phys(refnum) {
                let st = self.pd_state(pd);
                if st & pd_state::ONLINE != 0 {
                    self.set_pd_state(pd, (st & !pd_state::ONLINE) | pd_state::FAILED | pd_state::MISSING);
                    set_be32(&mut self.confs[c].records[k], conf::PHYS_REFNUM + 4 * p, 0);
                    self.touch(Some((c, k)));
                }
            }
            if self.store_vd_state(a.inst, c) {
                a.check_degraded = true;
                self.touch(Some((c, k)));
            }
        }
    }

    /// Whether VD `inst` is recorded Inconsistent.
    fn inconsistent(&self, inst: u32) -> bool {
        self.virt[Self::virt_off(inst) + virt::STATE] & vd_state::INCONSISTENT != 0
    }
}

impl Ddf {
    fn pd_type(&self, pd: usize) -> u16 {
        be16(&self.phys, Self::phys_off(pd) + phys::TYPE)
    }

    fn set_pd_type(&mut self, pd: usize, v: u16) {
        set_be16(&mut self.phys, Self::phys_off(pd) + phys::TYPE, v);
    }

    fn refnum_of(m: &super::Member) -> u32 {
        be32(&m.disk_data, view::disk_data::REFNUM)
    }

    /// Start of the LBA offsets in a configuration record.
    fn lba_base(&self) -> usize {
        conf::PHYS_REFNUM + 4 * self.mppe()
    }

    /// The position of `refnum` in record `rec`, if it is a member there.
    fn position_of(&self, rec: &[u8], refnum: u32) -> Option<usize> {
        (0..self.mppe()).find(|&p| be32(rec, conf::PHYS_REFNUM + 4 * p) == refnum)
    }

    /// Where disk `m` has room for `size` sectors: the first gap between
    /// the extents its VDs use, below its usable size (as mdadm's search).
    fn find_space(&self, m: &super::Member, size: u64) -> Option<u64> {
        let pd = m.pdnum?;
        if self.pd_state(pd) & (pd_state::ONLINE | pd_state::FAILED | pd_state::MISSING) != pd_state::ONLINE {
            return None;
        }
        let refnum = Self::refnum_of(m);
        let mut used: ArrayVec<(u64, u64), { super::MAX_VDS * super::MAX_BVDS }> = ArrayVec::new();
        for vc in &self.confs {
            for r in &vc.records {
                if let Some(p) = self.position_of(r, refnum) {
                    let start = crate::wire::be64(r, self.lba_base() + 8 * p);
                    let _ = used.try_push((start, crate::wire::be64(r, conf::BLOCKS)));
                }
            }
        }
        used.sort_unstable();
        let end = crate::wire::be64(&self.phys, Self::phys_off(pd) + phys::CONFIG_SIZE);
        let mut pos = 0u64;
        for &(start, len) in used.iter().chain(core::iter::once(&(end, 0))) {
            if start >= pos && start - pos >= size {
                return Some(pos);
            }
            pos = pos.max(start.saturating_add(len));
        }
        None
    }

    /// Whether disk `m` is a spare dedicated to the VD with `guid`.
    fn dedicated_to(&self, m: &super::Member, guid: &[u8]) -> bool {
        let Some(sp) = m.spare.as_deref() else { return false };
        if sp[0x13] & 0x01 == 0 {
            return false;
        }
        let n = usize::from(be16(sp, 0x14));
        (0..n).any(|j| sp.get(0x20 + 32 * j..0x20 + 32 * j + GUID_LEN) == Some(guid))
    }

    /// Whether disk `m` may hold a rebuilt member of any VD (a global
    /// spare, a non-dedicated spare, or any working disk with room).
    fn global_candidate(&self, m: &super::Member) -> bool {
        let Some(pd) = m.pdnum else { return false };
        let t = self.pd_type(pd);
        if t & pd_type::SPARE != 0 {
            return m.spare.as_deref().is_some_and(|sp| sp[0x13] & 0x01 == 0);
        }
        t & pd_type::GLOBAL_SPARE != 0 || self.pd_state(pd) & pd_state::FAILED == 0
    }

    /// Recompute which VDs disk `mi` backs, and its type (mdadm's vlist update).
    fn update_vlist(&mut self, mi: usize) {
        let Some(pd) = self.members[mi].pdnum else { return };
        let refnum = Self::refnum_of(&self.members[mi]);
        let mut vlist: ArrayVec<u8, { super::MAX_PARTITIONS }> = ArrayVec::new();
        let mut in_degraded = false;
        for c in 0..self.confs.len() {
            let vc = &self.confs[c];
            if !vc.records.iter().any(|r| self.position_of(r, refnum).is_some()) {
                continue;
            }
            let vcnum = vc.vcnum;
            let st = self.pd_state(pd);
            if st & pd_state::FAILED != 0 {
                self.set_pd_state(pd, st & !TRANSITION);
            }
            let _ = vlist.try_push(c as u8);
            if let Some(v) = vcnum {
                let s = self.virt[table::LEN + v * table::ENTRY + virt::STATE] & vd_state::MASK;
                in_degraded |= s == vd_state::DEGRADED || s == vd_state::PART_OPTIMAL;
            }
        }
        let mut t = self.pd_type(pd);
        if !vlist.is_empty() {
            t &= !pd_type::GLOBAL_SPARE;
            if t & pd_type::ACTIVE_IN_VD == 0 {
                t |= pd_type::ACTIVE_IN_VD;
                if in_degraded {
                    let st = self.pd_state(pd);
                    self.set_pd_state(pd, st | pd_state::REBUILDING);
                }
            }
        }
        let has_spare = self.members[mi].spare.is_some();
        if has_spare {
            t = (t & !pd_type::GLOBAL_SPARE) | pd_type::SPARE;
        }
        if vlist.is_empty() && !has_spare {
            t = (t | pd_type::GLOBAL_SPARE) & !(pd_type::SPARE | pd_type::ACTIVE_IN_VD);
        }
        self.set_pd_type(pd, t);
        self.members[mi].vlist = vlist;
    }

    /// After VD members changed (a new volume, a spare taking a slot): every
    /// disk's VD list and type follow, and failed disks no VD references
    /// any more leave the table (marked Transition first, the mark cleared
    /// on those still referenced, as mdadm does).
    fn members_changed(&mut self) {
        let max = usize::from(be16(&self.phys, table::MAX));
        for pd in 0..max {
            let st = self.pd_state(pd);
            if st & pd_state::FAILED != 0 {
                self.set_pd_state(pd, st | TRANSITION);
            }
        }
        for mi in 0..self.members.len() {
            self.update_vlist(mi);
        }
        self.remove_failed();
        self.touch(None);
    }

    /// Drop failed disks no VD uses any more and that are not present
    /// from the physical disk table, closing up the entries (as mdadm).
    fn remove_failed(&mut self) {
        let max = usize::from(be16(&self.phys, table::MAX));
        let mut to = 0;
        for from in 0..max {
            let e = Self::phys_off(from);
            if be32(&self.phys, e + phys::REFNUM) == 0xFFFF_FFFF {
                continue;
            }
            let st = self.pd_state(from);
            let present = self.members.iter().any(|m| m.pdnum == Some(from));
            if st & pd_state::FAILED != 0 && st & TRANSITION != 0 && !present {
                continue;
            }
            if from != to {
                self.phys.copy_within(e..e + table::ENTRY, Self::phys_off(to));
                for m in self.members.iter_mut().filter(|m| m.pdnum == Some(from)) {
                    m.pdnum = Some(to);
                }
            }
            to += 1;
        }
        set_be16(&mut self.phys, table::USED, to as u16);
        for pd in to..max {
            let e = Self::phys_off(pd);
            self.phys[e..e + GUID_LEN].fill(0xFF);
        }
    }
}

impl Metadata for Ddf {
    fn name(&self) -> &'static str {
        "ddf"
    }

    fn set_clock(&mut self, unix_secs: u64) {
        self.now = unix_secs.saturating_sub(DDF_EPOCH) as u32;
    }

    fn open_new(&mut self, inst: u32) -> Result<(), OpenError> {
        let max = usize::from(be16(&self.virt, table::MAX));
        if inst as usize >= max || self.volumes().all(|v| v != inst as usize) || self.conf_of(inst).is_none() {
            return Err(OpenError::NoSuchVolume);
        }
        Ok(())
    }

    fn set_array_state(&mut self, a: &mut ArrayCtx, consistent: Consistency) -> bool {
        let Some(c) = self.conf_of(a.inst) else { return consistent != Consistency::Dirty };
        let mut clean = consistent != Consistency::Dirty;
        if consistent == Consistency::Starting {
            self.handle_missing(a, c);
            clean = a.resync_complete();
        }
        let o = Self::virt_off(a.inst);
        let old = self.virt[o + virt::STATE];
        let new = if clean { old & !vd_state::INCONSISTENT } else { old | vd_state::INCONSISTENT };
        let old_init = self.virt[o + virt::INIT_STATE];
        // Not, partly (position not recorded) or fully initialised.
        let init = if a.resync_complete() {
            2
        } else if a.resync_start == 0 {
            0
        } else {
            1
        };
        let new_init = (old_init & !0x03) | init;
        if new != old || new_init != old_init {
            self.virt[o + virt::STATE] = new;
            self.virt[o + virt::INIT_STATE] = new_init;
            self.touch(None);
        }
        clean
    }

    /// As mdadm checks a volume it starts monitoring: its disk's entry must
    /// be Online, neither Failed nor Missing.
    fn disk_failed(&self, dev: DevT) -> bool {
        let Some(pd) = self.members.iter().find(|m| m.dev == dev).and_then(|m| m.pdnum) else { return false };
        self.pd_state(pd) & (pd_state::ONLINE | pd_state::FAILED | pd_state::MISSING) != pd_state::ONLINE
    }

    fn set_disk(&mut self, a: &mut ArrayCtx, slot: u32, state: DevState) {
        let Some(c) = self.conf_of(a.inst) else { return };
        let Some((k, p)) = self.slot_position(c, slot) else { return };
        let Some(dev) = a.slots.iter().find(|s| s.slot == slot).map(|s| s.dev) else { return };
        let Some(pdnum) = self.members.iter().find(|m| m.dev == dev).and_then(|m| m.pdnum) else { return };
        let refnum = be32(&self.confs[c].records[k], conf::PHYS_REFNUM + 4 * p);
        let mut changed = false;
        if self.find_phys(refnum) == Some(pdnum) {
            let old = self.pd_state(pdnum);
            let mut st = old;
            if state.has(DevState::FAULTY) {
                st |= pd_state::FAILED;
            }
            if state.has(DevState::INSYNC) {
                st = (st | pd_state::ONLINE) & !pd_state::REBUILDING;
            }
            if st != old {
                self.set_pd_state(pdnum, st);
                changed = true;
            }
        }
        // A disk not (yet) in this position would be a rebuilt spare; spare
        // activation is not part of this build's DDF support.
        if self.store_vd_state(a.inst, c) {
            changed = true;
        }
        if changed {
            self.touch(Some((c, k)));
        }
    }

    /// A disk joined the container: it gets a new physical disk entry (a
    /// global spare, Online) and its own disk data, with a GUID and a
    /// reference number made as mdadm makes them, and its metadata copies
    /// at the same distances from its end as the first member's.
    fn add_disk(&mut self, disk: NewDisk) -> bool {
        const MIB32: u64 = 32 * 1024 * 2;
        if self.members.iter().any(|m| m.dev == disk.dev) || self.members.is_full() {
            return false;
        }
        let sectors = disk.geom.size_bytes / view::SECTOR as u64;
        if sectors <= MIB32 {
            return false;
        }
        let Some(n) = self.phys_entries().position(|e| view::is_all_ff(&e[..GUID_LEN])) else { return false };
        // xorshift over the shell's random bits: the GUID's tail, then a
        // reference number no other disk has.
        let mut x = disk.random | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut data = [0xFFu8; view::SECTOR];
        set_be32(&mut data, 0, super::view::magic::DISK_DATA);
        let mut guid = [0u8; GUID_LEN];
        guid[..8].copy_from_slice(b"Linux-MD");
        let (y, mo, d) = civil_date(u64::from(self.now) + DDF_EPOCH);
        let mut date = heapless::String::<8>::new();
        let _ = core::fmt::write(&mut date, format_args!("{y:04}{mo:02}{d:02}"));
        guid[8..16].copy_from_slice(date.as_bytes());
        guid[16..].copy_from_slice(&next().to_ne_bytes());
        let refnum = loop {
            let r = next() as u32;
            if r != 0 && r != 0xFFFF_FFFF && self.phys_entries().all(|e| be32(e, phys::REFNUM) != r) {
                break r;
            }
        };
        data[view::disk_data::GUID..view::disk_data::GUID + GUID_LEN].copy_from_slice(&guid);
        set_be32(&mut data, view::disk_data::REFNUM, refnum);
        data[0x24] = 1; // forced_ref
        data[0x25] = 1; // forced_guid
        data[0x26..0x46].fill(b' ');
        data[0x26..0x2B].copy_from_slice(b"Linux");
        // The LBAs: the first member's distance from the end, else mdadm's defaults.
        let lba = |old: Option<(u64, u64)>, default: u64| match old {
            Some((osz, olba)) if olba < osz && sectors > osz - olba => sectors - (osz - olba),
            _ => sectors - default,
        };
        let first = self.members.first().map(|m| (m.sectors, m.primary_lba, m.secondary_lba, m.workspace_lba));
        let workspace_lba = lba(first.map(|f| (f.0, f.3)), MIB32);
        let primary_lba = lba(first.map(|f| (f.0, f.1)), MIB32 / 2);
        let secondary_lba = match first {
            Some(f) if f.2 == u64::MAX => u64::MAX,
            _ => lba(first.map(|f| (f.0, f.2)), MIB32),
        };
        // Usable sectors: below every copy, and below the workspace unless
        // that would reserve an implausible amount.
        let mut cfs = (sectors - MIB32).min(primary_lba);
        if secondary_lba != u64::MAX {
            cfs = cfs.min(secondary_lba);
        }
        if workspace_lba < cfs {
            let wsp = cfs - workspace_lba;
            if !(wsp > 1024 * 1024 * 2 && wsp > sectors / 16) {
                cfs = workspace_lba;
            }
        }
        let o = Self::phys_off(n);
        let e = &mut self.phys[o..o + table::ENTRY];
        e[..GUID_LEN].copy_from_slice(&guid);
        set_be32(e, phys::REFNUM, refnum);
        set_be16(e, phys::TYPE, 0x01 | pd_type::GLOBAL_SPARE);
        set_be16(e, phys::STATE, pd_state::ONLINE);
        crate::wire::set_be64(e, phys::CONFIG_SIZE, cfs);
        e[0x28..0x39].copy_from_slice(b" Information: nil");
        e[0x39] = 0;
        e[0x3A..0x40].fill(0xFF);
        let used = be16(&self.phys, table::USED).saturating_add(1);
        set_be16(&mut self.phys, table::USED, used);
        self.members.push(super::Member {
            dev: disk.dev,
            sectors,
            primary_lba,
            secondary_lba,
            workspace_lba,
            timestamp: self.now,
            disk_data: data,
            spare: None,
            vlist: ArrayVec::new(),
            pdnum: Some(n),
        });
        self.touch(None);
        true
    }

    fn remove_disk(&mut self, dev: DevT) {
        let Some(i) = self.members.iter().position(|m| m.dev == dev) else { return };
        let m = self.members.remove(i);
        if let Some(pd) = m.pdnum {
            let st = self.pd_state(pd);
            self.set_pd_state(pd, st | pd_state::MISSING);
            self.touch(None);
        }
    }

    fn choose_spares(&self, a: &ArrayCtx, out: &mut ArrayVec<NewMember, MAX_SLOTS>) {
        let Some(c) = self.conf_of(a.inst) else { return };
        let n = a.raid_disks as usize;
        let working = a.slots.iter().filter(|s| !s.state.has(DevState::FAULTY)).count();
        if working >= n || a.slots.iter().any(|s| s.state.has(DevState::FAULTY)) {
            return;
        }
        let has = |slot: usize| a.slots.iter().any(|s| s.slot as usize == slot);
        let enough = match a.level {
            1 => working > 0,
            4 | 5 => working + 1 >= n,
            6 => working + 2 >= n,
            // Near copies: every group of copies keeps one.
            10 => {
                let nc = (a.layout & 0xff).max(1) as usize;
                (0..n).step_by(nc).all(|g| (g..(g + nc).min(n)).any(has))
            }
            _ => false,
        };
        if !enough {
            return;
        }
        let guid = self.confs[c].guid();
        for slot in (0..n.min(MAX_SLOTS)).filter(|&s| !has(s)) {
            let taken =
                |m: &super::Member| a.slots.iter().any(|s| s.dev == m.dev) || out.iter().any(|p| p.dev == m.dev);
            // Spares dedicated to this VD first, then any other candidate;
            // disks in the reverse of the container's order, as mdadm walks
            // its disk list (a spare added last is tried first).
            let pick = [true, false].into_iter().find_map(|dedicated| {
                self.members.iter().rev().find_map(|m| {
                    let eligible = if dedicated { self.dedicated_to(m, guid) } else { self.global_candidate(m) };
                    if !eligible || taken(m) {
                        return None;
                    }
                    self.find_space(m, a.component_size).map(|pos| (m.dev, pos))
                })
            });
            if let Some((dev, data_offset)) = pick {
                let _ =
                    out.try_push(NewMember { slot: slot as u32, dev, data_offset, component_size: a.component_size });
            }
        }
    }

    /// The new members take their positions in the VD's records, and every
    /// disk's VD list and type follow (mdadm's configuration update).
    fn record_rebuild(&mut self, a: &ArrayCtx, added: &[NewMember], _random: u32) {
        let Some(c) = self.conf_of(a.inst) else { return };
        let prim = usize::from(be16(&self.confs[c].records[0], conf::PRIM_ELMNT_COUNT)).max(1);
        let svd = self.confs[c].records[0][conf::SEC_ELMNT_COUNT] > 1;
        let lba = self.lba_base();
        for n in added {
            let (bvd, pos) = (n.slot as usize / prim, n.slot as usize % prim);
            let k = if svd {
                self.confs[c].records.iter().position(|r| usize::from(r[conf::SEC_ELMNT_SEQ]) == bvd)
            } else {
                Some(0)
            };
            let Some(k) = k else { continue };
            let Some(m) = self.members.iter().find(|m| m.dev == n.dev) else { continue };
            let Some(pd) = m.pdnum else { continue };
            if pos >= self.mppe() {
                continue;
            }
            let refnum = be32(&self.phys, Self::phys_off(pd) + phys::REFNUM);
            let r = &mut self.confs[c].records[k];
            set_be32(r, conf::PHYS_REFNUM + 4 * pos, refnum);
            crate::wire::set_be64(r, lba + 8 * pos, n.data_offset);
        }
        self.members_changed();
    }

    /// DDF keeps no rebuild position: never a checkpoint to resume from.
    fn resume_position(&self, _a: &ArrayCtx, _slot: u32) -> Option<u64> {
        None
    }

    fn process_update(&mut self, payload: &[u8], active: &[u32]) -> Result<UpdateDone, &'static str> {
        self.apply_update(payload, active)
    }

    fn updates_pending(&self) -> bool {
        self.pending
    }

    fn begin_write(&mut self) -> usize {
        self.pending = false;
        self.members.len()
    }

    fn disk_dev(&self, i: usize) -> Option<DevT> {
        self.members.get(i).map(|m| m.dev)
    }

    fn render_len(&self) -> usize {
        Ddf::render_len(self)
    }

    fn render(&self, i: usize, _geom: DiskGeom, buf: &mut [u8]) -> Regions {
        Ddf::render(self, i, Some(self.now), buf)
    }

    fn end_write(&mut self) {}

    fn generation(&self) -> u32 {
        be32(&self.header, view::header::SEQ)
    }

    fn volume_dirty(&self, inst: u32) -> Option<bool> {
        self.conf_of(inst).map(|_| self.inconsistent(inst))
    }
}

/// The UTC calendar date (year, month, day) of Unix time `secs`.
fn civil_date(secs: u64) -> (u64, u64, u64) {
    // Days to civil date (Howard Hinnant's algorithm), for days since 1970.
    let z = secs / 86_400 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_date(0), (1970, 1, 1));
        assert_eq!(super::civil_date(951_782_400), (2000, 2, 29));
        assert_eq!(super::civil_date(1_796_083_200), (2026, 12, 1));
    }
}
