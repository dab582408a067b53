//! The monitor's requests on the DDF fixtures.

use super::*;
use crate::md::{DevState, MAX_SECTOR};
use crate::metadata::roles::*;
use crate::metadata::{ArrayCtx, Consistency, SlotInfo, Writer};

fn ctx(ddf: &Ddf, inst: u32, level: i32, n: u32) -> ArrayCtx {
    let c = ddf.conf_of(inst).unwrap();
    let mut slots = ArrayVec::new();
    for s in 0..n {
        // The disk the configuration names for slot s.
        let (k, p) = ddf.slot_position(c, s).unwrap();
        let refnum = ddf.confs[c].records[k].phys_refnum(p).unwrap();
        let dev = ddf.members.iter().find(|m| m.data().refnum() == refnum).unwrap().dev;
        slots.push(SlotInfo { slot: s, dev, recovery_start: MAX_SECTOR, state: DevState(DevState::INSYNC) });
    }
    ArrayCtx::new(inst, level, 0, n, 32768, slots)
}

/// Write every member the way the shell does and load the result.
fn write_and_reload(ddf: &mut Ddf, d: &mut Disks) -> Box<Ddf> {
    let n = ddf.begin_write();
    let mut buf = vec![0u8; ddf.render_len()];
    for i in 0..n {
        let dev = ddf.disk_dev(i).unwrap();
        let disk = d.0.iter().position(|s| s.info.dev == dev).unwrap();
        let geom = d.0[disk].info.geom;
        for r in Writer::render(ddf, i, geom, &mut buf) {
            d.bytes_mut(disk, r.offset, r.len).copy_from_slice(&buf[r.start..r.start + r.len]);
        }
    }
    ddf.end_write();
    let (out, notes) = load(d);
    assert!(notes.is_empty(), "{notes:?}");
    out
}

#[test]
fn dirty_then_clean_advances_the_sequence_once_per_write() {
    let mut d = fixture("ddf-r1-r5-clean");
    let (mut ddf, _) = load(&mut d);
    ddf.set_clock(DDF_EPOCH + 1000);
    let seq0 = ddf.generation();
    let mut a = ctx(&ddf, 1, 5, 3);
    assert!(!ddf.set_array_state(&mut a, Consistency::Dirty));
    assert!(ddf.updates_pending());
    assert_eq!(ddf.volume_dirty(1), Some(true));
    assert_eq!(ddf.volume_dirty(0), Some(false));
    // A second change before the write does not advance it again.
    let mut b = ctx(&ddf, 0, 1, 2);
    ddf.set_array_state(&mut b, Consistency::Dirty);
    assert_eq!(ddf.generation(), seq0 + 1);
    let mut ddf = write_and_reload(&mut ddf, &mut d);
    assert_eq!(ddf.generation(), seq0 + 1);
    assert_eq!((ddf.volume_dirty(0), ddf.volume_dirty(1)), (Some(true), Some(true)));
    let mut a = ctx(&ddf, 1, 5, 3);
    assert!(ddf.set_array_state(&mut a, Consistency::Clean));
    // Unchanged: nothing to write.
    let pending = ddf.updates_pending();
    let ddf2 = write_and_reload(&mut ddf, &mut d);
    assert!(pending);
    assert_eq!(ddf2.volume_dirty(1), Some(false));
    assert_eq!(ddf2.generation(), seq0 + 2);
    let mut a = ctx(&ddf2, 1, 5, 3);
    let mut ddf2 = ddf2;
    ddf2.set_array_state(&mut a, Consistency::Clean);
    assert!(!ddf2.updates_pending(), "already clean: no write");
}

#[test]
fn an_incomplete_resync_starts_active_and_records_the_init_state() {
    let mut d = fixture("ddf-r1-r5-clean");
    let (mut ddf, _) = load(&mut d);
    let mut a = ctx(&ddf, 1, 5, 3);
    a.resync_start = 0;
    assert!(!ddf.set_array_state(&mut a, Consistency::Starting), "must go active to resync");
    let e = ddf.virt_entries().nth(1).unwrap();
    assert_eq!(e.init_state() & 3, 0, "not initialised");
    a.resync_start = 1000;
    ddf.set_array_state(&mut a, Consistency::Dirty);
    assert_eq!(ddf.virt_entries().nth(1).unwrap().init_state() & 3, 1, "partly (no position kept)");
    a.resync_start = MAX_SECTOR;
    assert!(ddf.set_array_state(&mut a, Consistency::Starting));
    assert_eq!(ddf.virt_entries().nth(1).unwrap().init_state() & 3, 2);
    assert_eq!(ddf.resume_position(&a, 0), None, "DDF keeps no rebuild position");
}

#[test]
fn a_failed_disk_degrades_every_volume_on_it() {
    let mut d = fixture("ddf-r1-r5-clean");
    let (mut ddf, _) = load(&mut d);
    ddf.set_clock(DDF_EPOCH + 5000);
    let seqnum = |ddf: &Ddf, c: usize| ddf.confs[c].records[0].seqnum();
    let (c1, c5) = (ddf.conf_of(0).unwrap(), ddf.conf_of(1).unwrap());
    let (s1, s5) = (seqnum(&ddf, c1), seqnum(&ddf, c5));
    let mut r1 = ctx(&ddf, 0, 1, 2);
    let mut r5 = ctx(&ddf, 1, 5, 3);
    // Slot 0 of the RAID1 fails; the monitor reports it in both arrays.
    let dev = r1.slots[0].dev;
    let slot5 = r5.slots.iter().find(|s| s.dev == dev).unwrap().slot;
    ddf.set_disk(&mut r1, 0, DevState(DevState::FAULTY));
    ddf.set_disk(&mut r5, slot5, DevState(DevState::FAULTY));
    let state = |ddf: &Ddf, v: usize| ddf.virt_entries().nth(v).unwrap().state() & vd_state::MASK;
    assert_eq!((state(&ddf, 0), state(&ddf, 1)), (vd_state::DEGRADED, vd_state::DEGRADED));
    assert_eq!(seqnum(&ddf, c1), s1 + 1);
    assert!(seqnum(&ddf, c5) > s5);
    assert_eq!(ddf.confs[c1].records[0].timestamp(), 5000);
    let ddf = write_and_reload(&mut ddf, &mut d);
    let pd = ddf.members.iter().find(|m| m.dev == dev).unwrap().pdnum.unwrap();
    assert_ne!(ddf.pd_state(pd) & pd_state::FAILED, 0);
    assert_eq!((state(&ddf, 0), state(&ddf, 1)), (vd_state::DEGRADED, vd_state::DEGRADED));
    // A second disk of the RAID5 fails: the RAID5 fails, the RAID1 (on
    // disks 0 and 1) fails only if that disk was its other member.
    let mut ddf = ddf;
    let mut r5 = ctx(&ddf, 1, 5, 3);
    let other = *r5.slots.iter().find(|s| s.dev != dev).unwrap();
    ddf.set_disk(&mut r5, other.slot, DevState(DevState::FAULTY));
    assert_eq!(state(&ddf, 1), vd_state::FAILED);
}

#[test]
fn a_disk_recorded_failed_is_reported_for_every_array() {
    let mut d = fixture("ddf-r1-r5-clean");
    let (mut ddf, _) = load(&mut d);
    let mut r1 = ctx(&ddf, 0, 1, 2);
    let (dev, other) = (r1.slots[0].dev, r1.slots[1].dev);
    assert!(!ddf.disk_failed(dev) && !ddf.disk_failed(other), "all disks start Online");
    ddf.set_disk(&mut r1, 0, DevState(DevState::FAULTY));
    // A volume then started on it (e.g. created meanwhile) loses it.
    assert!(ddf.disk_failed(dev));
    assert!(!ddf.disk_failed(other));
    assert!(!ddf.disk_failed(DevT { major: 1, minor: 99 }), "unknown disk");
}

#[test]
fn a_member_missing_at_start_is_recorded_failed_and_missing() {
    let mut d = fixture("ddf-r1-r5-clean");
    // Disk 2 (only in the RAID5) is gone.
    d.0.remove(2);
    let (mut ddf, _) = load(&mut d);
    let c5 = ddf.conf_of(1).unwrap();
    let mut a = ctx_missing(&ddf, 1, 3);
    ddf.set_array_state(&mut a, Consistency::Starting);
    assert!(a.check_degraded);
    let state = ddf.virt_entries().nth(1).unwrap().state() & vd_state::MASK;
    assert_eq!(state, vd_state::DEGRADED);
    let refs: Vec<u32> = (0..3).map(|p| ddf.confs[c5].records[0].phys_refnum(p).unwrap()).collect();
    assert!(refs.contains(&0), "the missing member's refnum is cleared: {refs:x?}");
    let failed_missing = ddf
        .phys_entries()
        .filter(|e| e.in_use())
        .filter(|e| e.state() & (pd_state::FAILED | pd_state::MISSING) == pd_state::FAILED | pd_state::MISSING)
        .count();
    assert_eq!(failed_missing, 1);
    // The RAID1 has both its disks.
    let mut b = ctx(&ddf, 0, 1, 2);
    ddf.set_array_state(&mut b, Consistency::Starting);
    assert!(!b.check_degraded);
}

/// A context for a VD some of whose disks are absent (only present slots tracked).
fn ctx_missing(ddf: &Ddf, inst: u32, n: u32) -> ArrayCtx {
    let c = ddf.conf_of(inst).unwrap();
    let mut a = ctx_shell(inst, n);
    for s in 0..n {
        let (k, p) = ddf.slot_position(c, s).unwrap();
        let refnum = ddf.confs[c].records[k].phys_refnum(p).unwrap();
        if let Some(m) = ddf.members.iter().find(|m| m.data().refnum() == refnum) {
            a.slots.push(SlotInfo {
                slot: s,
                dev: m.dev,
                recovery_start: MAX_SECTOR,
                state: DevState(DevState::INSYNC),
            });
        }
    }
    a
}

fn ctx_shell(inst: u32, n: u32) -> ArrayCtx {
    ArrayCtx::new(inst, 5, 0, n, 32768, ArrayVec::new())
}

#[test]
fn updates_are_refused_without_change_and_unknown_volumes_not_opened() {
    let mut d = fixture("ddf-r1-r5-clean");
    let (mut ddf, _) = load(&mut d);
    assert!(ddf.open_new(0).is_ok() && ddf.open_new(1).is_ok());
    assert!(ddf.open_new(2).is_err() && ddf.open_new(60000).is_err());
    assert!(ddf.process_update(&[0xEE, 0xEE, 0xEE, 0xEE, 0, 0], &[]).is_err());
    assert!(!ddf.updates_pending());
}
