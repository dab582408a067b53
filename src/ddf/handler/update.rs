//! The DDF metadata updates that cross the control socket: what mdadm
//! sends to create or kill a volume (VIRT, then VD_CONF records) and the
//! PHYS record of a disk joining or leaving the container.

use super::super::view::{self, table, PhysEntry, VdConfig, VirtEntry};
use super::super::Ddf;
use super::{pd_state, vd_state};
use crate::metadata::UpdateDone;
use crate::wire::{be16, be32, set_be16};

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
        let entry_update = table::LEN + table::ENTRY;
        match be32(payload, 0) {
            view::magic::PHYS => {
                if payload.len() != entry_update {
                    return Err("PHYS update of the wrong length");
                }
                let ent = usize::from(be16(payload, table::USED));
                if ent >= usize::from(be16(&self.phys, table::MAX)) {
                    return Err("PHYS update for an entry out of range");
                }
                let e = &payload[table::LEN..];
                let Some(entry) = PhysEntry::new_checked(e) else { return Err("PHYS update of the wrong length") };
                if entry.state() & pd_state::MISSING != 0 {
                    let st = self.pd_state(ent);
                    self.set_pd_state(ent, st | pd_state::MISSING);
                    self.members.retain(|m| m.pdnum != Some(ent));
                    let _ = write!(done, "physical disk {ent} removed");
                } else {
                    let r = view::entry_range(ent).ok_or("PHYS update for an entry out of range")?;
                    let slot = self.phys.get_mut(r).ok_or("PHYS update for an entry out of range")?;
                    if PhysEntry::new_checked(&*slot).is_none_or(|s| s.in_use()) {
                        return Err("PHYS update for an entry in use");
                    }
                    slot.copy_from_slice(e);
                    let used = be16(&self.phys, table::USED).saturating_add(1);
                    set_be16(&mut self.phys, table::USED, used);
                    let _ = write!(done, "physical disk {ent} added");
                }
                self.touch(None);
            }
            view::magic::VIRT => {
                if payload.len() != entry_update {
                    return Err("VIRT update of the wrong length");
                }
                let e = &payload[table::LEN..];
                let Some(entry) = VirtEntry::new_checked(e) else { return Err("VIRT update of the wrong length") };
                let guid = entry.guid();
                let existing =
                    self.virt_entries().position(|v| VirtEntry::new_checked(v).is_some_and(|v| v.guid() == guid));
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
                    let v = self
                        .virt_entries()
                        .position(|x| VirtEntry::new_checked(x).is_some_and(|x| !x.in_use()))
                        .ok_or("no free virtual disk entry")?;
                    let r = view::entry_range(v).ok_or("no free virtual disk entry")?;
                    self.virt.get_mut(r).ok_or("no free virtual disk entry")?.copy_from_slice(e);
                    let n = be16(&self.virt, table::USED).saturating_add(1);
                    set_be16(&mut self.virt, table::USED, n);
                    let _ = write!(done, "volume {v} added");
                }
                self.touch(None);
            }
            conf_magic if conf_magic == view::magic::VD_CONF => {
                let rec_len = usize::from(be16(&self.header, view::header::CONFIG_RECORD_LEN)) * view::SECTOR;
                // The fixed part of the first record, and where the member
                // arrays of a record of this container end.
                let (Some(head), Some(arrays)) =
                    (VdConfig::new_checked(payload, 0), VdConfig::<&[u8]>::arrays(self.mppe()))
                else {
                    return Err("VD_CONF update too short");
                };
                if rec_len < arrays.end {
                    return Err("VD_CONF update too short");
                }
                let nsec = usize::from(head.sec_elmnt_count()).max(1);
                if payload.len() != rec_len * nsec || nsec > crate::ddf::MAX_BVDS {
                    return Err("VD_CONF update of the wrong length");
                }
                let guid = head.guid();
                let seq_of = |r: &[u8]| VdConfig::new_checked(r, 0).map(|v| v.sec_elmnt_seq());
                match self.confs.iter().position(|c| c.guid() == guid) {
                    Some(c) => {
                        // Known VD: only the member positions change.
                        for r in self.confs[c].records.iter_mut() {
                            let Some(seq) = seq_of(r) else { continue };
                            let Some(u) = payload.chunks_exact(rec_len).find(|u| seq_of(u) == Some(seq)) else {
                                continue;
                            };
                            r[arrays.clone()].copy_from_slice(&u[arrays.clone()]);
                        }
                        let _ = write!(done, "volume configuration updated");
                    }
                    None => {
                        let v = self
                            .virt_entries()
                            .position(|x| VirtEntry::new_checked(x).is_some_and(|x| x.guid() == guid))
                            .ok_or("VD_CONF for a volume not yet added")?;
                        if self.confs.is_full() {
                            return Err("too many volumes for this build");
                        }
                        let records = payload.chunks_exact(rec_len).map(|r| r.into()).collect();
                        self.confs.push(crate::ddf::VdConf { records, vcnum: Some(v) });
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
