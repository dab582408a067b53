//! The DDF metadata updates that cross the control socket: what mdadm
//! sends to create or kill a volume (VIRT, then VD_CONF records) and the
//! PHYS record of a disk joining or leaving the container.

use super::super::view::{self, EntryUpdate, VdConfig, SECTOR};
use super::super::{ConfRecord, Ddf, VdConf, MAX_BVDS};
use super::{pd_state, vd_state};
use crate::metadata::UpdateDone;
use crate::sys::AlignedBuf;

impl Ddf {
    /// The updates mdadm sends (a VIRT record, then the VD_CONF records, to
    /// create a volume; a VIRT record marked Deleted to kill one) and the
    /// PHYS record mdmon's own container handling uses. Lengths must be
    /// exact; anything that does not fit the metadata is refused unchanged.
    pub(super) fn apply_update(&mut self, payload: &[u8], active: &[u32]) -> Result<UpdateDone, &'static str> {
        use core::fmt::Write;
        let mut done = UpdateDone::new();
        if payload.len() < 4 {
            return Err("empty update");
        }
        match view::magic_of(payload).ok_or("empty update")? {
            view::magic::PHYS => {
                let Some(u) = EntryUpdate::new_checked(payload) else { return Err("PHYS update of the wrong length") };
                let ent = u.index();
                if ent >= self.phys.max() {
                    return Err("PHYS update for an entry out of range");
                }
                let Some(entry) = u.phys() else { return Err("PHYS update of the wrong length") };
                if entry.state() & pd_state::MISSING != 0 {
                    let st = self.pd_state(ent);
                    self.set_pd_state(ent, st | pd_state::MISSING);
                    self.members.retain(|m| m.pdnum != Some(ent));
                    let _ = write!(done, "physical disk {ent} removed");
                } else {
                    let slot = self.phys.entry(ent).ok_or("PHYS update for an entry out of range")?;
                    if slot.in_use() {
                        return Err("PHYS update for an entry in use");
                    }
                    if !self.phys.set_entry(ent, &entry) {
                        return Err("PHYS update for an entry out of range");
                    }
                    let used = self.phys.used().saturating_add(1);
                    self.phys.set_used(used);
                    let _ = write!(done, "physical disk {ent} added");
                }
                self.touch(None);
            }
            view::magic::VIRT => {
                let u = EntryUpdate::new_checked(payload);
                let Some(entry) = u.as_ref().and_then(|u| u.virt()) else {
                    return Err("VIRT update of the wrong length");
                };
                let guid = entry.guid();
                let existing = self.virt_entries().position(|v| v.guid() == guid);
                if entry.state() == vd_state::DELETED {
                    // Deleted: kill the VD with this GUID.
                    let v = existing.ok_or("no volume with that GUID")?;
                    if active.contains(&(v as u32)) {
                        return Err("the volume is active");
                    }
                    let c = self.conf_of(v as u32).ok_or("the volume has no configuration")?;
                    self.confs.remove(c);
                    for m in self.members.iter_mut() {
                        m.vlist.retain(|x| usize::from(*x) != c);
                        for x in m.vlist.iter_mut().filter(|x| usize::from(**x) > c) {
                            *x -= 1;
                        }
                    }
                    if let Some(mut e) = self.virt_entry_mut(v) {
                        e.clear_guid();
                    }
                    let _ = write!(done, "volume {v} deleted");
                } else {
                    if existing.is_some() {
                        return Err("a volume with that GUID exists");
                    }
                    let v = self.virt_entries().position(|x| !x.in_use()).ok_or("no free virtual disk entry")?;
                    if !self.virt.set_entry(v, &entry) {
                        return Err("no free virtual disk entry");
                    }
                    let n = self.virt.used().saturating_add(1);
                    self.virt.set_used(n);
                    let _ = write!(done, "volume {v} added");
                }
                self.touch(None);
            }
            conf_magic if conf_magic == view::magic::VD_CONF => {
                let rec_len = self.head().config_record_bytes();
                let mppe = self.mppe();
                // The fixed part of the first record; every record is as long
                // as one of this container's (the load made that long enough
                // for its member arrays).
                let Some(head) = VdConfig::new_checked(payload, 0) else { return Err("VD_CONF update too short") };
                let nsec = usize::from(head.sec_elmnt_count()).max(1);
                if Some(payload.len()) != rec_len.checked_mul(nsec) || nsec > MAX_BVDS {
                    return Err("VD_CONF update of the wrong length");
                }
                let records = || payload.chunks_exact(rec_len).filter_map(|r| VdConfig::new_checked(r, mppe));
                let guid = head.guid();
                match self.confs.iter().position(|c| c.guid() == guid) {
                    Some(c) => {
                        // Known VD: only the member positions change.
                        for r in self.confs[c].records.iter_mut() {
                            let seq = r.sec_elmnt_seq();
                            if let Some(u) = records().find(|u| u.sec_elmnt_seq() == seq) {
                                r.copy_members_from(&u);
                            }
                        }
                        let _ = write!(done, "volume configuration updated");
                    }
                    None => {
                        let v = self
                            .virt_entries()
                            .position(|x| x.guid() == guid)
                            .ok_or("VD_CONF for a volume not yet added")?;
                        if self.confs.is_full() {
                            return Err("too many volumes for this build");
                        }
                        let records = records()
                            .filter_map(|r| ConfRecord::new_checked(AlignedBuf::copy_of(&r, SECTOR), mppe))
                            .collect();
                        self.confs.push(VdConf { records, vcnum: Some(v) });
                        let _ = write!(done, "volume {v} configured");
                    }
                }
                self.members_changed();
            }
            view::magic::SPARE => return Err("spare assignment updates are not supported (as with mdadm)"),
            _ => return Err("unknown DDF update"),
        }
        Ok(done)
    }
}
