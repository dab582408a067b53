//! Array state on IMSM: dirty/clean, initialisation, failures, and
//! independent volumes.

use super::*;
use crate::metadata::roles::*;

#[test]
fn dirty_then_clean_round_trip_bumps_generation() {
    let m = build_mpb(1, 2, map_state::NORMAL, 0x77, 3);
    let mut d = MemDisks::with(&[m.clone(), m]);
    let (mut im, _) = load(&mut d);
    let mut a = ctx_for(&im, 0, 1, 2);
    assert!(!im.set_array_state(&mut a, Consistency::Dirty));
    assert!(im.updates_pending());
    d.write_all(im.as_mut());
    assert!(!im.updates_pending());
    let on_disk = Imsm::from_mpb(&d.mpb(1)).unwrap();
    assert_eq!(on_disk.volume_dirty(0), Some(true));
    assert_eq!(on_disk.generation(), 4);
    // Marking dirty again changes nothing.
    im.set_array_state(&mut a, Consistency::Dirty);
    assert!(!im.updates_pending());
    im.set_array_state(&mut a, Consistency::Clean);
    d.write_all(im.as_mut());
    let on_disk = Imsm::from_mpb(&d.mpb(0)).unwrap();
    assert_eq!(on_disk.volume_dirty(0), Some(false));
    assert_eq!(on_disk.generation(), 5);
    // The rest of the MPB is unchanged apart from generation and checksum.
    let orig = build_mpb(1, 2, map_state::NORMAL, 0x77, 5);
    assert_eq!(&d.mpb(0)[header::FAMILY_NUM..], &orig[header::FAMILY_NUM..]);
}

#[test]
fn starting_uninitialized_volume_begins_init_migration_and_checkpoints() {
    let m = build_mpb(5, 3, map_state::UNINITIALIZED, 0x99, 1);
    let mut d = MemDisks::with(&[m.clone(), m.clone(), m]);
    let (mut im, _) = load(&mut d);
    let mut a = ctx_for(&im, 0, 5, 3);
    a.resync_start = 0;
    // Starting read-only with an incomplete resync: must go active (dirty).
    assert!(!im.set_array_state(&mut a, Consistency::Starting));
    let v = im.volume(0).unwrap();
    assert!(v.migrating());
    assert_eq!(v.migr_type(), MigrType::Init);
    assert_eq!(v.map0().map_state(), map_state::NORMAL);
    assert_eq!(v.map1().unwrap().map_state(), map_state::UNINITIALIZED);
    // RAID5 with 3 disks, chunk 128: a unit is 3 * 128 = 384 sectors.
    assert_eq!(im.blocks_per_migr_unit(0), 384);
    a.curr_action = SyncAction::Resync;
    a.prev_action = SyncAction::Resync;
    a.last_checkpoint = 1000;
    im.set_array_state(&mut a, Consistency::Dirty);
    assert_eq!(im.volume(0).unwrap().curr_migr_unit(), 2);
    d.write_all(im.as_mut());
    let on_disk = Imsm::from_mpb(&d.mpb(2)).unwrap();
    assert_eq!(on_disk.volume(0).unwrap().curr_migr_unit(), 2);
    // Resync finished: the migration ends and the volume is normal.
    a.resync_start = MAX_SECTOR;
    a.curr_action = SyncAction::Idle;
    im.set_array_state(&mut a, Consistency::Clean);
    let v = im.volume(0).unwrap();
    assert!(!v.migrating());
    assert_eq!(v.map0().map_state(), map_state::NORMAL);
    assert_eq!(v.dirty(), 0);
    assert_eq!(a.last_checkpoint, 0);
    assert_eq!(v.len(), devf::LEN + mapf::LEN + 12, "map 1 is gone");
}

#[test]
fn migration_units_match_the_reference_table() {
    for (level, n, init, rebuild) in
        [(1u8, 2usize, 512u64, 512u64), (10, 4, 256, 512), (5, 3, 384, 128), (5, 4, 512, 128)]
    {
        let m = build_mpb(level, n, map_state::NORMAL, 1, 1);
        let mut im = Imsm::from_mpb(&m).unwrap();
        im.migrate(0, map_state::NORMAL, MigrType::Init);
        assert_eq!(im.blocks_per_migr_unit(0), init, "init {level}/{n}");
        im.end_migration(0, map_state::NORMAL);
        im.migrate(0, map_state::NORMAL, MigrType::Rebuild);
        assert_eq!(im.blocks_per_migr_unit(0), rebuild, "rebuild {level}/{n}");
    }
}

#[test]
fn failure_is_recorded_in_map_and_disk_table() {
    let m = build_mpb(1, 2, map_state::NORMAL, 0x5, 1);
    let mut d = MemDisks::with(&[m.clone(), m]);
    let (mut im, _) = load(&mut d);
    let mut a = ctx_for(&im, 0, 1, 2);
    im.set_disk(&mut a, 1, DevState(DevState::FAULTY | DevState::BLOCKED));
    assert!(im.updates_pending());
    let v = im.volume(0).unwrap();
    assert_eq!(v.map0().map_state(), map_state::DEGRADED);
    assert_eq!(v.map0().ord(1), 1 | ORD_REBUILD);
    assert_eq!(v.map0().failed_disk_num(), 1);
    d.write_all(im.as_mut());
    // The failed disk is not written; the survivor records the failure.
    let survivor = d.mpb(0);
    let rec = &survivor[header::LEN + 48..header::LEN + 96];
    assert_eq!(&rec[..12], b"/dev/loop1:0");
    assert_ne!(le32(rec, diskf::STATUS) & diskf::FAILED, 0);
    assert_ne!(d.mpb(1), survivor);
    // Recording the same failure again changes nothing.
    im.set_disk(&mut a, 1, DevState(DevState::FAULTY));
    assert!(!im.updates_pending());
}

#[test]
fn raid10_pair_loss_fails_the_volume() {
    let m = build_mpb(10, 4, map_state::NORMAL, 0x5, 1);
    let mut im = Imsm::from_mpb(&m).unwrap();
    for i in 0..4 {
        let mut r = [0u8; 48];
        r.copy_from_slice(disk_record(&m, i));
        im.members.push(Member {
            dev: DevT { major: 7, minor: i as u32 },
            serial: [0; 16],
            geom: DiskGeom { size_bytes: DISK_BYTES, sector_size: 512 },
            index: i as i32,
            record: r,
            current: true,
        });
    }
    let mut a = ctx_for(&im, 0, 10, 4);
    im.set_disk(&mut a, 0, DevState(DevState::FAULTY));
    assert_eq!(im.volume(0).unwrap().map0().map_state(), map_state::DEGRADED);
    im.set_disk(&mut a, 2, DevState(DevState::FAULTY));
    assert_eq!(im.volume(0).unwrap().map0().map_state(), map_state::DEGRADED, "one disk of each pair");
    im.set_disk(&mut a, 1, DevState(DevState::FAULTY));
    assert_eq!(im.volume(0).unwrap().map0().map_state(), map_state::FAILED);
}

#[test]
fn open_new_refuses_unknown_volume() {
    let m = build_mpb(1, 2, map_state::NORMAL, 0x5, 1);
    let mut im = Imsm::from_mpb(&m).unwrap();
    assert!(im.open_new(0).is_ok());
    assert_eq!(im.open_new(1), Err(OpenError::NoSuchVolume));
}

#[test]
fn two_volumes_are_independent() {
    let mut d = fixture("two-volumes");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    assert_eq!(im.num_volumes(), 2);
    assert_eq!(im.volume(1).unwrap().map0().level(), 0);
    let mut a = ctx_for(&im, 0, 1, 2);
    im.set_array_state(&mut a, Consistency::Dirty);
    assert_eq!(im.volume_dirty(0), Some(true));
    assert_eq!(im.volume_dirty(1), Some(false));
    d.write_all(im.as_mut());
    let back = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    assert_eq!(back.volume_dirty(0), Some(true));
    assert_eq!(back.volume(1).unwrap().volume(), im.volume(1).unwrap().volume());
}
