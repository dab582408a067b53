//! Spare disks on DDF: a disk joining the container, the choice of spares
//! for a degraded virtual disk, their place in its records, and every
//! disk's VD list and type that follow.

use super::super::view::{self, DiskData};
use super::super::{Ddf, Member};
use super::{pd_state, pd_type, vd_state, DDF_EPOCH, TRANSITION};
use crate::md::DevState;
use crate::metadata::{ArrayCtx, NewDisk, NewMember, MAX_SLOTS};
use arrayvec::ArrayVec;

impl Ddf {
    fn pd_type(&self, pd: usize) -> u16 {
        self.phys_entry(pd).map_or(0, |e| e.kind())
    }

    fn set_pd_type(&mut self, pd: usize, v: u16) {
        if let Some(mut e) = self.phys_entry_mut(pd) {
            e.set_kind(v);
        }
    }

    fn refnum_of(m: &Member) -> u32 {
        m.data().refnum()
    }

    /// Where disk `m` has room for `size` sectors: the first gap between
    /// the extents its VDs use, below its usable size (as mdadm's search).
    fn find_space(&self, m: &Member, size: u64) -> Option<u64> {
        let pd = m.pdnum?;
        if self.pd_state(pd) & (pd_state::ONLINE | pd_state::FAILED | pd_state::MISSING) != pd_state::ONLINE {
            return None;
        }
        let refnum = Self::refnum_of(m);
        let mut used: ArrayVec<(u64, u64), { super::super::MAX_VDS * super::super::MAX_BVDS }> = ArrayVec::new();
        for vc in &self.confs {
            for r in &vc.records {
                if let Some(start) = r.position_of(refnum).and_then(|p| r.lba(p)) {
                    let _ = used.try_push((start, r.blocks()));
                }
            }
        }
        used.sort_unstable();
        let end = self.phys_entry(pd).map_or(0, |e| e.config_size());
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
    fn dedicated_to(&self, m: &Member, guid: &[u8]) -> bool {
        let Some(sp) = &m.spare else { return false };
        sp.dedicated() && sp.vd_guids().any(|g| g == guid)
    }

    /// Whether disk `m` may hold a rebuilt member of any VD (a global
    /// spare, a non-dedicated spare, or any working disk with room).
    fn global_candidate(&self, m: &Member) -> bool {
        let Some(pd) = m.pdnum else { return false };
        let t = self.pd_type(pd);
        if t & pd_type::SPARE != 0 {
            return m.spare.as_ref().is_some_and(|sp| !sp.dedicated());
        }
        t & pd_type::GLOBAL_SPARE != 0 || self.pd_state(pd) & pd_state::FAILED == 0
    }

    /// Recompute which VDs disk `mi` backs, and its type (mdadm's vlist update).
    fn update_vlist(&mut self, mi: usize) {
        let Some(pd) = self.members[mi].pdnum else { return };
        let refnum = Self::refnum_of(&self.members[mi]);
        let mut vlist: ArrayVec<u8, { super::super::MAX_PARTITIONS }> = ArrayVec::new();
        let mut in_degraded = false;
        for c in 0..self.confs.len() {
            let vc = &self.confs[c];
            if !vc.records.iter().any(|r| r.position_of(refnum).is_some()) {
                continue;
            }
            let vcnum = vc.vcnum;
            let st = self.pd_state(pd);
            if st & pd_state::FAILED != 0 {
                self.set_pd_state(pd, st & !TRANSITION);
            }
            let _ = vlist.try_push(c as u8);
            if let Some(v) = vcnum {
                let s = self.virt_entry(v).map_or(0, |e| e.state()) & vd_state::MASK;
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
    pub(super) fn members_changed(&mut self) {
        for pd in 0..self.phys.max() {
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
        let max = self.phys.max();
        let mut to = 0;
        for from in 0..max {
            let Some(e) = self.phys_entry(from) else { break };
            if e.refnum() == 0xFFFF_FFFF {
                continue;
            }
            let st = self.pd_state(from);
            let present = self.members.iter().any(|m| m.pdnum == Some(from));
            if st & pd_state::FAILED != 0 && st & TRANSITION != 0 && !present {
                continue;
            }
            if from != to {
                self.phys.move_entry(from, to);
                for m in self.members.iter_mut().filter(|m| m.pdnum == Some(from)) {
                    m.pdnum = Some(to);
                }
            }
            to += 1;
        }
        self.phys.set_used(to as u16);
        for pd in to..max {
            if let Some(mut e) = self.phys_entry_mut(pd) {
                e.clear_guid();
            }
        }
    }

    /// A disk joined the container: it gets a new physical disk entry (a
    /// global spare, Online) and its own disk data, with a GUID and a
    /// reference number made as mdadm makes them, and its metadata copies
    /// at the same distances from its end as the first member's.
    pub(super) fn add_spare_disk(&mut self, disk: NewDisk) -> bool {
        const MIB32: u64 = 32 * 1024 * 2;
        if self.members.iter().any(|m| m.dev == disk.dev) || self.members.is_full() {
            return false;
        }
        let sectors = disk.geom.size_bytes / view::SECTOR as u64;
        if sectors <= MIB32 {
            return false;
        }
        let Some(n) = self.phys_entries().position(|e| !e.in_use()) else {
            return false;
        };
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
        let (y, mo, d) = civil_date(u64::from(self.now) + DDF_EPOCH);
        let mut date = heapless::String::<8>::new();
        let _ = core::fmt::write(&mut date, format_args!("{y:04}{mo:02}{d:02}"));
        let guid = view::disk_data::made_guid(date.as_bytes(), next().to_ne_bytes());
        let refnum = loop {
            let r = next() as u32;
            if r != 0 && r != 0xFFFF_FFFF && self.phys_entries().all(|e| e.refnum() != r) {
                break r;
            }
        };
        if let Some(mut dd) = DiskData::new_checked(&mut data[..]) {
            dd.set_magic();
            dd.set_guid(&guid);
            dd.set_refnum(refnum);
            dd.set_forced();
            dd.set_vendor(b"Linux");
        }
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
        let Some(mut e) = self.phys_entry_mut(n) else { return false };
        e.set_guid(&guid);
        e.set_refnum(refnum);
        e.set_kind(0x01 | pd_type::GLOBAL_SPARE);
        e.set_state(pd_state::ONLINE);
        e.set_config_size(cfs);
        e.set_path(b" Information: nil");
        let used = self.phys.used().saturating_add(1);
        self.phys.set_used(used);
        self.members.push(Box::new(Member {
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
        }));
        self.touch(None);
        true
    }

    pub(super) fn spares_for(&self, a: &ArrayCtx, out: &mut ArrayVec<NewMember, MAX_SLOTS>) {
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
            let taken = |m: &Member| a.slots.iter().any(|s| s.dev == m.dev) || out.iter().any(|p| p.dev == m.dev);
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
    pub(super) fn place_rebuilt(&mut self, a: &ArrayCtx, added: &[NewMember]) {
        let Some(c) = self.conf_of(a.inst) else { return };
        let Some(first) = self.record(c, 0) else { return };
        let prim = usize::from(first.prim_elmnt_count()).max(1);
        let svd = first.sec_elmnt_count() > 1;
        for n in added {
            let (bvd, pos) = (n.slot as usize / prim, n.slot as usize % prim);
            let k = if svd {
                self.confs[c].records.iter().position(|r| usize::from(r.sec_elmnt_seq()) == bvd)
            } else {
                Some(0)
            };
            let Some(k) = k else { continue };
            let Some(m) = self.members.iter().find(|m| m.dev == n.dev) else { continue };
            let Some(pd) = m.pdnum else { continue };
            if pos >= self.mppe() {
                continue;
            }
            let Some(refnum) = self.phys_entry(pd).map(|e| e.refnum()) else { continue };
            if let Some(r) = self.record_mut(c, k) {
                r.set_phys_refnum(pos, refnum);
                r.set_lba(pos, n.data_offset);
            }
        }
        self.members_changed();
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
