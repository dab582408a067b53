//! What mdmon's monitor asks of DDF: dirty/clean and initialisation state
//! of a virtual disk, member failures and the virtual disk state that
//! follows, and writing the metadata back to every member.
//!
//! DDF records no resync or rebuild position (only "not / partly / fully
//! initialised"), so nothing is resumed from a checkpoint: an interrupted
//! resync or rebuild starts again from zero, as with mdadm.
//!
//! Spare activation (new disks, the choice of spares and their place in the
//! records) is in `spare.rs`; the updates mdadm sends, in `update.rs`. Every
//! record is read and written through the typed views of `super::view`.

use super::view::{self, Header, PhysEntry, VirtEntry};
use super::{ConfRecord, Ddf};
use crate::md::DevState;
use crate::metadata::{
    ArrayCtx, Consistency, DevT, DiskGeom, Layout, Metadata, NewDisk, NewMember, OpenError, Regions, UpdateDone,
    MAX_SLOTS,
};
use arrayvec::ArrayVec;

mod spare;
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
    pub const DELETED: u8 = 2;
    pub const FAILED: u8 = 4;
    pub const PART_OPTIMAL: u8 = 5;
    pub const MASK: u8 = 0x07;
    pub const INCONSISTENT: u8 = 0x10;
}

/// Virtual disk initialisation states (low two bits of `init_state`).
mod vd_init {
    pub const NONE: u8 = 0;
    /// Partly initialised (DDF records no position).
    pub const PARTLY: u8 = 1;
    pub const FULL: u8 = 2;
    pub const MASK: u8 = 0x03;
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
        usize::from(self.head().mppe())
    }

    /// Record `k` of configuration `c`.
    fn record(&self, c: usize, k: usize) -> Option<&ConfRecord> {
        self.confs.get(c)?.records.get(k)
    }

    /// Record `k` of configuration `c`, to change.
    fn record_mut(&mut self, c: usize, k: usize) -> Option<&mut ConfRecord> {
        self.confs.get_mut(c)?.records.get_mut(k)
    }

    /// The configuration (index into `confs`) of VD number `inst`.
    pub(crate) fn conf_of(&self, inst: u32) -> Option<usize> {
        self.confs.iter().position(|c| c.vcnum == Some(inst as usize))
    }

    /// Virtual disk entry `v` (`None` past the table).
    pub(super) fn virt_entry(&self, v: usize) -> Option<VirtEntry<&[u8]>> {
        self.virt.entry(v)
    }

    pub(super) fn virt_entry_mut(&mut self, v: usize) -> Option<VirtEntry<&mut [u8]>> {
        self.virt.entry_mut(v)
    }

    /// Physical disk entry `pd` (`None` past the table).
    pub(super) fn phys_entry(&self, pd: usize) -> Option<PhysEntry<&[u8]>> {
        self.phys.entry(pd)
    }

    fn phys_entry_mut(&mut self, pd: usize) -> Option<PhysEntry<&mut [u8]>> {
        self.phys.entry_mut(pd)
    }

    pub(super) fn pd_state(&self, pd: usize) -> u16 {
        self.phys_entry(pd).map_or(0, |e| e.state())
    }

    fn set_pd_state(&mut self, pd: usize, v: u16) {
        if let Some(mut e) = self.phys_entry_mut(pd) {
            e.set_state(v);
        }
    }

    /// The physical disk entry with `refnum`.
    fn find_phys(&self, refnum: u32) -> Option<usize> {
        if refnum == 0xFFFF_FFFF {
            return None;
        }
        self.phys_entries().position(|e| e.in_use() && e.refnum() == refnum)
    }

    /// The position in `r` of its `n`-th member (unused positions skipped).
    fn index_in_bvd(r: &ConfRecord, n: usize) -> Option<usize> {
        let count = usize::from(r.prim_elmnt_count());
        (0..r.mppe()).filter(|&p| r.phys_refnum(p).is_some_and(|x| x != 0xFFFF_FFFF)).take(count).nth(n)
    }

    /// The record (BVD) and position of md slot `n` of configuration `c`.
    pub(crate) fn slot_position(&self, c: usize, n: u32) -> Option<(usize, usize)> {
        let vc = self.confs.get(c)?;
        let first = vc.records.first()?;
        let prim = usize::from(first.prim_elmnt_count()).max(1);
        let (k, within) = if first.sec_elmnt_count() <= 1 {
            (0, n as usize)
        } else {
            let bvd = n as usize / prim;
            let k = vc.records.iter().position(|r| usize::from(r.sec_elmnt_seq()) == bvd)?;
            (k, n as usize % prim)
        };
        Some((k, Self::index_in_bvd(vc.records.get(k)?, within)?))
    }

    /// The state one BVD's members give it.
    fn bvd_state(&self, r: &ConfRecord) -> u8 {
        let n = usize::from(r.prim_elmnt_count());
        let mut working = 0;
        let mut avail: ArrayVec<bool, MAX_SLOTS> = ArrayVec::new();
        for i in 0..n.min(MAX_SLOTS) {
            let ok = Self::index_in_bvd(r, i)
                .and_then(|p| r.phys_refnum(p))
                .and_then(|x| self.find_phys(x))
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
        match r.prl() {
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
        let Some(first) = self.record(c, 0) else { return vd_state::FAILED };
        let srl = first.srl();
        let mut state = self.bvd_state(first);
        for r in self.confs[c].records.iter().skip(1) {
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
        let now = self.now;
        if let Some(r) = record.and_then(|(c, k)| self.record_mut(c, k)) {
            r.set_timestamp(now);
            let s = r.seqnum().wrapping_add(1);
            r.set_seqnum(s);
        }
        if !self.pending {
            self.pending = true;
            let s = self.head().seq().wrapping_add(1);
            Header::of_mut(&mut self.header).set_seq(s);
        }
    }

    /// Store VD `inst`'s state (low bits) if it changed; true if it did.
    fn store_vd_state(&mut self, inst: u32, c: usize) -> bool {
        let state = self.svd_state(c);
        let Some(mut e) = self.virt_entry_mut(inst as usize) else { return false };
        let old = e.state();
        let new = (old & !vd_state::MASK) | state;
        e.set_state(new);
        new != old
    }

    /// On first activation: members whose disk is not in the container are
    /// recorded failed and missing, and the VD state follows.
    fn handle_missing(&mut self, a: &mut ArrayCtx, c: usize) {
        for n in 0..a.raid_disks.min(MAX_SLOTS as u32) {
            let Some((k, p)) = self.slot_position(c, n) else { break };
            let Some(refnum) = self.record(c, k).and_then(|r| r.phys_refnum(p)) else {
                continue;
            };
            let present = self.members.iter().any(|m| m.data().refnum() == refnum);
            if present {
                continue;
            }
            if let Some(pd) = self.find_phys(refnum) {
                let st = self.pd_state(pd);
                if st & pd_state::ONLINE != 0 {
                    self.set_pd_state(pd, (st & !pd_state::ONLINE) | pd_state::FAILED | pd_state::MISSING);
                    if let Some(r) = self.record_mut(c, k) {
                        r.set_phys_refnum(p, 0);
                    }
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
        self.virt_entry(inst as usize).is_some_and(|e| e.state() & vd_state::INCONSISTENT != 0)
    }
}

impl Metadata for Ddf {
    fn name(&self) -> &'static str {
        "ddf"
    }
}

impl crate::metadata::Handler for Ddf {
    fn set_clock(&mut self, unix_secs: u64) {
        self.now = unix_secs.saturating_sub(DDF_EPOCH) as u32;
    }

    fn open_new(&mut self, inst: u32) -> Result<(), OpenError> {
        if inst as usize >= self.virt.max()
            || self.volumes().all(|v| v != inst as usize)
            || self.conf_of(inst).is_none()
        {
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
        let Some(e) = self.virt_entry(a.inst as usize) else { return clean };
        let (old, old_init) = (e.state(), e.init_state());
        let new = if clean { old & !vd_state::INCONSISTENT } else { old | vd_state::INCONSISTENT };
        let init = if a.resync_complete() {
            vd_init::FULL
        } else if a.resync_start == 0 {
            vd_init::NONE
        } else {
            vd_init::PARTLY
        };
        let new_init = (old_init & !vd_init::MASK) | init;
        if new != old || new_init != old_init {
            if let Some(mut e) = self.virt_entry_mut(a.inst as usize) {
                e.set_state(new);
                e.set_init_state(new_init);
            }
            self.touch(None);
        }
        clean
    }

    fn set_disk(&mut self, a: &mut ArrayCtx, slot: u32, state: DevState) {
        let Some(c) = self.conf_of(a.inst) else { return };
        let Some((k, p)) = self.slot_position(c, slot) else { return };
        let Some(dev) = a.slots.iter().find(|s| s.slot == slot).map(|s| s.dev) else { return };
        let Some(pdnum) = self.members.iter().find(|m| m.dev == dev).and_then(|m| m.pdnum) else { return };
        let Some(refnum) = self.record(c, k).and_then(|r| r.phys_refnum(p)) else { return };
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
        // A disk md holds in a position whose record names another disk
        // keeps its entry as it is (a spare gets the position in the
        // records first, in `record_rebuild`).
        if self.store_vd_state(a.inst, c) {
            changed = true;
        }
        if changed {
            self.touch(Some((c, k)));
        }
    }
}

impl crate::metadata::Manager for Ddf {
    /// As mdadm checks a volume it starts monitoring: its disk's entry must
    /// be Online, neither Failed nor Missing.
    fn disk_failed(&self, dev: DevT) -> bool {
        let Some(pd) = self.members.iter().find(|m| m.dev == dev).and_then(|m| m.pdnum) else { return false };
        self.pd_state(pd) & (pd_state::ONLINE | pd_state::FAILED | pd_state::MISSING) != pd_state::ONLINE
    }

    /// A disk joined the container: it gets a new physical disk entry (a
    /// global spare, Online) and its own disk data, with a GUID and a
    /// reference number made as mdadm makes them, and its metadata copies
    /// at the same distances from its end as the first member's.
    fn add_disk(&mut self, disk: NewDisk) -> bool {
        self.add_spare_disk(disk)
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
        self.spares_for(a, out)
    }

    /// The new members take their positions in the VD's records, and every
    /// disk's VD list and type follow (mdadm's configuration update).
    fn record_rebuild(&mut self, a: &ArrayCtx, added: &[NewMember], _random: u32) {
        self.place_rebuilt(a, added)
    }

    /// DDF keeps no rebuild position: never a checkpoint to resume from.
    fn resume_position(&self, _a: &ArrayCtx, _slot: u32) -> Option<u64> {
        None
    }

    /// A VD_CONF update carries one configuration record per BVD; the
    /// PHYS and VIRT updates are one table entry.
    fn max_update_len(&self) -> usize {
        let rec_len = self.head().config_record_bytes();
        (rec_len * crate::ddf::MAX_BVDS).max(view::EntryUpdate::<&[u8]>::LEN)
    }

    fn process_update(&mut self, payload: &[u8], active: &[u32]) -> Result<UpdateDone, &'static str> {
        self.apply_update(payload, active)
    }
}

impl crate::metadata::Writer for Ddf {
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

    fn own_len(&self) -> usize {
        self.split_own_len()
    }

    fn shared_len(&self) -> usize {
        self.split_shared_len()
    }

    fn seal_shared(&mut self) {
        Ddf::seal_shared(self)
    }

    fn shared_part(&self, k: usize) -> Option<&[u8]> {
        self.split_shared_part(k)
    }

    fn render_split(&self, i: usize, _geom: DiskGeom, buf: &mut [u8], layout: &mut Layout) -> Regions {
        Ddf::render_split(self, i, Some(self.now), buf, layout)
    }

    fn end_write(&mut self) {}

    fn generation(&self) -> u32 {
        self.head().seq()
    }

    fn volume_dirty(&self, inst: u32) -> Option<bool> {
        self.conf_of(inst).map(|_| self.inconsistent(inst))
    }
}
