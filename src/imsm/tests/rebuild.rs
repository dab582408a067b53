//! Rebuilds onto spares, their progress and interruption, volume updates,
//! and the choice of spares.

use super::*;
use crate::metadata::roles::*;

#[test]
fn failed_disk_replaced_by_spare_rebuilds_and_completes() {
    let mut d = fixture("raid1-clean");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let mut a = ctx_for(&im, 0, 1, 2);
    a.component_size = 34816;
    let family = im.family_num();
    // Slot 1 fails and the kernel drops it.
    im.set_disk(&mut a, 1, DevState(DevState::FAULTY | DevState::BLOCKED));
    assert_eq!(im.volume(0).unwrap().map0().map_state(), map_state::DEGRADED);
    a.slots.retain(|s| s.slot != 1);
    let failed_dev = DevT { major: 7, minor: 1 };
    // Without a spare there is nothing to rebuild onto.
    let mut picks = ArrayVec::new();
    im.choose_spares(&a, &mut picks);
    assert!(picks.is_empty());
    // A spare joins the container.
    let mut serial = [0u8; 16];
    serial[..10].copy_from_slice(b"/dev/loop2");
    let spare = crate::metadata::NewDisk {
        dev: DevT { major: 7, minor: 2 },
        serial,
        geom: DiskGeom { size_bytes: DISK_BYTES, sector_size: 512 },
        scsi_id: 0x0000_0200,
        random: 0,
    };
    assert!(im.add_disk(spare));
    assert!(!im.add_disk(spare), "added once");
    im.choose_spares(&a, &mut picks);
    assert_eq!(picks.len(), 1);
    assert_eq!(picks[0].slot, 1);
    assert_eq!(picks[0].dev, spare.dev);
    assert_ne!(picks[0].dev, failed_dev);
    im.record_rebuild(&a, &picks, 0x1000);
    let v = im.volume(0).unwrap();
    assert_eq!(v.migr_type(), MigrType::Rebuild);
    assert!(im.is_rebuilding(0));
    let new_idx = ord_to_idx(v.map0().ord(1));
    assert_eq!(v.map1().unwrap().ord(1), new_idx | ORD_REBUILD);
    assert_eq!(im.family_num(), family.wrapping_add(0x1000));
    // The failed disk's record is gone from the table: two disks remain.
    assert_eq!(im.table.len(), 2);
    assert_eq!(im.blocks_per_migr_unit(0), 512);
    // Progress is checkpointed in units; never ahead of the kernel.
    a.slots.push(SlotInfo { slot: 1, dev: spare.dev, recovery_start: 0, state: DevState(0) });
    a.prev_action = SyncAction::Recover;
    a.curr_action = SyncAction::Recover;
    a.last_checkpoint = 5000;
    im.set_array_state(&mut a, Consistency::Dirty);
    assert_eq!(im.volume(0).unwrap().curr_migr_unit(), 9);
    d.disks.push((DiskInfo { dev: spare.dev, serial, geom: spare.geom }, vec![0u8; TAIL]));
    d.write_all(im.as_mut());
    let back = Imsm::from_mpb(&d.mpb(2)).unwrap();
    assert_eq!(back.volume(0).unwrap().curr_migr_unit(), 9);
    // The spare's record carries its SCSI address, as mdadm records it.
    let rec = back.table.iter().find(|r| r[..10] == serial[..10]).expect("spare in the table");
    assert_eq!(le32(rec, view::disk::SCSI_ID), 0x0000_0200);
    // Slot 1 held /dev/loop0 (disk 0): the failed disk is no longer written.
    assert_eq!(d.mpb(1), d.mpb(2), "the new member carries the container's metadata");
    assert_ne!(d.mpb(0), d.mpb(1));
    // Recovery ends with the member in sync: the migration ends.
    a.slots[1].recovery_start = MAX_SECTOR;
    a.slots[1].state = DevState(DevState::INSYNC);
    a.curr_action = SyncAction::Idle;
    for s in [0, 1] {
        im.set_disk(&mut a, s, DevState(DevState::INSYNC));
    }
    let v = im.volume(0).unwrap();
    assert!(!v.migrating());
    assert_eq!(v.map0().map_state(), map_state::NORMAL);
    assert_eq!(v.map0().failed_disk_num(), 0xff);
    assert_eq!(v.map0().ord(1), new_idx);
}

#[test]
fn interrupted_rebuild_keeps_the_recovery_position() {
    let mut d = fixture("raid1-clean");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let mut a = ctx_for(&im, 0, 1, 2);
    a.component_size = 34816;
    im.set_disk(&mut a, 0, DevState(DevState::FAULTY));
    a.slots.retain(|s| s.slot != 0);
    let mut serial = [0u8; 16];
    serial[..10].copy_from_slice(b"/dev/loop5");
    let dev = DevT { major: 7, minor: 5 };
    im.add_disk(crate::metadata::NewDisk {
        dev,
        serial,
        geom: DiskGeom { size_bytes: DISK_BYTES, sector_size: 512 },
        scsi_id: 0,
        random: 0,
    });
    let mut picks = ArrayVec::new();
    im.choose_spares(&a, &mut picks);
    im.record_rebuild(&a, &picks, 7);
    a.slots.insert(0, SlotInfo { slot: 0, dev, recovery_start: 0, state: DevState(0) });
    a.prev_action = SyncAction::Recover;
    // The kernel stops recovery at 12000 sectors (recover -> idle, not in sync).
    a.slots[0].recovery_start = 12000;
    a.curr_action = SyncAction::Idle;
    im.set_disk(&mut a, 0, DevState(0));
    im.set_disk(&mut a, 1, DevState(DevState::INSYNC));
    assert!(im.is_rebuilding(0), "still rebuilding");
    assert_eq!(a.last_checkpoint, 12000);
    // The array stops: the checkpoint is stored, rounded down to units.
    im.set_array_state(&mut a, Consistency::Clean);
    assert_eq!(im.volume(0).unwrap().curr_migr_unit(), 12000 / 512);
    // On restart the checkpoint is where the rebuild resumes, for that slot only.
    assert_eq!(im.resume_position(&a, 0), Some(12000 / 512 * 512));
    assert_eq!(im.resume_position(&a, 1), None, "slot 1 is in sync");
    // A different device in the slot than the metadata names: start from zero.
    let mut other = a.clone();
    other.slots[0].dev = DevT { major: 7, minor: 9 };
    assert_eq!(im.resume_position(&other, 0), None);
    // A disk whose own copy was stale is not trusted either.
    im.members.iter_mut().find(|m| m.dev == dev).unwrap().current = false;
    assert_eq!(im.resume_position(&a, 0), None);
    // Its write reported back: a disk that took it holds the current copy
    // again; one whose write failed does not.
    let i = im.members.iter().position(|m| m.dev == dev).unwrap();
    im.begin_write();
    im.written(i, true);
    im.end_write();
    assert_eq!(im.resume_position(&a, 0), Some(12000 / 512 * 512));
    im.begin_write();
    im.written(i, false);
    im.end_write();
    assert_eq!(im.resume_position(&a, 0), None, "its write failed");
}

/// A RAID1 fixture with slot 1 failed, removed, and a spare rebuilding it.
fn rebuilding_raid1() -> (Box<Imsm>, ArrayCtx, DevT) {
    let mut d = fixture("raid1-clean");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let mut a = ctx_for(&im, 0, 1, 2);
    a.component_size = 34816;
    im.set_disk(&mut a, 1, DevState(DevState::FAULTY));
    a.slots.retain(|s| s.slot != 1);
    let mut serial = [0u8; 16];
    serial[..10].copy_from_slice(b"/dev/loop7");
    let dev = DevT { major: 7, minor: 7 };
    im.add_disk(crate::metadata::NewDisk {
        dev,
        serial,
        geom: DiskGeom { size_bytes: DISK_BYTES, sector_size: 512 },
        scsi_id: 0,
        random: 0,
    });
    let mut picks = ArrayVec::new();
    im.choose_spares(&a, &mut picks);
    im.record_rebuild(&a, &picks, 1);
    a.slots.push(SlotInfo { slot: 1, dev, recovery_start: 0, state: DevState(0) });
    a.prev_action = SyncAction::Recover;
    a.curr_action = SyncAction::Recover;
    (im, a, dev)
}

#[test]
fn rebuild_target_failing_ends_the_migration_degraded() {
    let (mut im, mut a, _) = rebuilding_raid1();
    assert!(im.is_rebuilding(0));
    im.set_disk(&mut a, 1, DevState(DevState::FAULTY));
    let v = im.volume(0).unwrap();
    assert!(!v.migrating(), "the rebuild is over");
    assert_eq!(v.map0().map_state(), map_state::DEGRADED);
    assert_eq!(a.last_checkpoint, 0);
    // No new rebuild while the failed target is still in the array.
    let mut picks = ArrayVec::new();
    a.slots[1].state = DevState(DevState::FAULTY);
    im.choose_spares(&a, &mut picks);
    assert!(picks.is_empty());
}

#[test]
fn survivor_failing_during_rebuild_is_recorded_in_both_maps() {
    let (mut im, mut a, _) = rebuilding_raid1();
    im.set_disk(&mut a, 0, DevState(DevState::FAULTY));
    let v = im.volume(0).unwrap();
    let idx = ord_to_idx(v.map0().ord(0));
    assert_ne!(v.map0().ord(0) & ORD_REBUILD, 0);
    assert_ne!(v.map1().unwrap().ord(0) & ORD_REBUILD, 0);
    assert_ne!(le32(&im.table[idx as usize], diskf::STATUS) & diskf::FAILED, 0);
    // As upstream: map 0 (the target) counts only slot 0 as bad, so it says degraded.
    assert_eq!(v.map0().map_state(), map_state::DEGRADED);
}

#[test]
fn no_second_rebuild_while_one_runs() {
    let (im, mut a, _) = rebuilding_raid1();
    a.slots.retain(|s| s.slot != 1);
    let mut picks = ArrayVec::new();
    im.choose_spares(&a, &mut picks);
    assert!(picks.is_empty());
}

#[test]
fn rebuild_progress_converts_sectors_to_units_rounding_down() {
    let (mut im, mut a, _) = rebuilding_raid1();
    let bpu = im.blocks_per_migr_unit(0);
    assert_eq!(bpu, 512);
    for (sectors, unit) in [(0u64, 0u64), (511, 0), (512, 1), (1023, 1), (34815, 67)] {
        a.last_checkpoint = sectors;
        im.set_array_state(&mut a, Consistency::Dirty);
        assert_eq!(im.volume(0).unwrap().curr_migr_unit(), unit, "{sectors} sectors");
        assert!(unit * bpu <= sectors, "the checkpoint is never ahead of the kernel");
    }
}

#[test]
fn volume_updates_respect_active_arrays_and_names() {
    let mut d = fixture("two-volumes");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let mut name = [0u8; 16];
    name[..7].copy_from_slice(b"renamed");
    assert!(im.rename_volume(1, &name, &[1]).is_err(), "an active volume keeps its name");
    im.rename_volume(1, &name, &[0]).unwrap();
    assert_eq!(crate::wire::cstr_field(im.volume(1).unwrap().volume()), b"renamed");
    assert!(im.rename_volume(0, &name, &[]).is_err(), "names are unique");
    // mdadm keeps at most 15 characters.
    let long = *b"abcdefghijklmnop";
    im.rename_volume(0, &long, &[]).unwrap();
    assert_eq!(crate::wire::cstr_field(im.volume(0).unwrap().volume()), b"abcdefghijklmno");
    assert!(im.kill_volume(1, &[0, 1]).is_err(), "an active volume cannot be deleted");
    assert!(im.kill_volume(0, &[1]).is_err(), "nor one below an active volume");
    im.kill_volume(1, &[0]).unwrap();
    assert_eq!(im.num_volumes(), 1);
    assert!(im.kill_volume(0, &[]).is_err(), "the last volume stays");
}

#[test]
fn create_volume_takes_spares_in_and_checks_sequence() {
    let mut d = fixture("two-volumes");
    let two = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let dev1: Vec<u8> = {
        let v = two.volume(1).unwrap();
        v.as_bytes().to_vec()
    };
    // mdadm sends the members' serials in slot order.
    let serials: Vec<Serial> = {
        let v = two.volume(1).unwrap();
        let m0 = v.map0();
        (0..usize::from(m0.num_members()))
            .map(|s| two.members().iter().find(|m| m.index as u32 == ord_to_idx(m0.ord(s))).unwrap().serial)
            .collect()
    };
    // Over raid1-clean's larger volume it would overlap on the same disks.
    let mut d = fixture("raid1-clean");
    let mut big = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    assert_eq!(big.create_volume(1, &dev1, &serials), Err("overlaps a volume on the same disks"));
    // With the second volume deleted, it can be created again.
    let mut d = fixture("two-volumes");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    im.kill_volume(1, &[0]).unwrap();
    assert!(im.create_volume(2, &dev1, &serials).is_err(), "out of sequence");
    let mut missing = serials.clone();
    missing[0][..10].copy_from_slice(b"/dev/loop9");
    assert!(im.create_volume(1, &dev1, &missing).is_err(), "a member is absent");
    im.create_volume(1, &dev1, &serials).unwrap();
    assert_eq!(im.num_volumes(), 2);
    assert!(im.updates_pending());
    // The re-created metadata renders as mdadm wrote it (but generation and checksum).
    d.write_all(im.as_mut());
    let orig = fixture("two-volumes").mpb(0);
    assert_eq!(&d.mpb(0)[header::NUM_DISKS..], &orig[header::NUM_DISKS..]);
    assert!(im.create_volume(1, &dev1, &serials).is_err(), "already exists");
}

/// staggered-volumes: vol0 (offset 0) on loop0+loop1, vol1 (offset 40960) on
/// loop1+loop2. A failed vol0 disk is replaced by the free space of loop2.
#[test]
fn free_space_on_a_disk_of_another_volume_is_used_for_a_rebuild() {
    let mut d = fixture("staggered-volumes");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    assert_eq!(im.num_volumes(), 2);
    assert_eq!(im.volume(1).unwrap().map0().pba_of_lba0(), 40960);
    let mut a = ctx_for(&im, 0, 1, 2);
    a.component_size = 34816 / 2;
    let slot0 = a.slots[0];
    assert_eq!(slot0.dev, DevT { major: 7, minor: 0 });
    im.set_disk(&mut a, 0, DevState(DevState::FAULTY | DevState::BLOCKED));
    a.slots.retain(|s| s.slot != 0);
    let mut picks = ArrayVec::new();
    im.choose_spares(&a, &mut picks);
    assert_eq!(picks.len(), 1);
    assert_eq!((picks[0].slot, picks[0].dev, picks[0].data_offset), (0, DevT { major: 7, minor: 2 }, 0));
    im.record_rebuild(&a, &picks, 7);
    // loop0 is in no volume any more and leaves the table; vol1's ords follow.
    assert_eq!(im.table.len(), 2);
    let v0 = im.volume(0).unwrap();
    let idx2 = im.members().iter().find(|m| m.dev.minor == 2).unwrap().index as u32;
    assert_eq!(ord_to_idx(v0.map0().ord(0)), idx2);
    assert_eq!(v0.map1().unwrap().ord(0), idx2 | ORD_REBUILD);
    let v1 = im.volume(1).unwrap();
    assert!((0..2).any(|s| ord_to_idx(v1.map0().ord(s)) == idx2), "loop2 is still in vol1");
    assert!((0..2).all(|s| (ord_to_idx(v1.map0().ord(s)) as usize) < im.table.len()));
}

/// A pure spare must have room for every volume at its offset; one that
/// would only hold vol0 is passed over.
#[test]
fn spare_without_room_for_every_volume_is_not_used() {
    let mut d = fixture("staggered-volumes");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    // vol0 loses loop0; loop2 leaves the container, so only pure spares
    // can replace it.
    let mut a = ctx_for(&im, 0, 1, 2);
    a.component_size = 34816 / 2;
    im.set_disk(&mut a, 0, DevState(DevState::FAULTY | DevState::BLOCKED));
    a.slots.retain(|s| s.slot != 0);
    // Drop loop2 from the container so only pure spares remain.
    im.remove_disk(DevT { major: 7, minor: 2 });
    // 30 MiB holds vol0 (0..34816) but not vol1 (40960..75776).
    assert!(im.add_disk(spare_disk(5, 30)));
    let mut picks = ArrayVec::new();
    im.choose_spares(&a, &mut picks);
    assert!(picks.is_empty(), "{picks:?}");
    assert!(im.add_disk(spare_disk(6, 64)));
    im.choose_spares(&a, &mut picks);
    assert_eq!(picks.len(), 1);
    assert_eq!(picks[0].dev.minor, 6);
}
