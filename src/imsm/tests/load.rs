//! Loading IMSM copies: checksums, generations, impossible sizes, and the
//! fixtures captured from Debian's mdadm.

use super::*;
use crate::metadata::roles::*;

#[test]
fn checksum_excludes_its_own_field() {
    let m = build_mpb(1, 2, map_state::NORMAL, 0x1234, 5);
    let stored = le32(&m, header::CHECK_SUM);
    assert_eq!(checksum(&m, m.len()), stored);
    let mut m2 = m.clone();
    set_le32(&mut m2, header::CHECK_SUM, 0xdead_beef);
    assert_eq!(checksum(&m2, m2.len()), stored);
}

#[test]
fn loads_two_good_copies() {
    let m = build_mpb(1, 2, map_state::NORMAL, 0x1234, 5);
    let mut d = MemDisks::with(&[m.clone(), m]);
    let (im, notes) = load(&mut d);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(im.members().len(), 2);
    assert_eq!(im.members()[0].index, 0);
    assert_eq!(im.members()[1].index, 1);
    assert_eq!(im.num_volumes(), 1);
    assert_eq!(im.generation(), 5);
    assert_eq!(im.volume(0).unwrap().map0().level(), 1);
}

#[test]
fn corrupt_copy_is_rejected_and_rewritten_from_the_good_one() {
    let m = build_mpb(1, 2, map_state::NORMAL, 0x1234, 5);
    let mut bad = m.clone();
    bad[header::LEN + 20] ^= 0xff; // flip a byte in the disk table
    let mut d = MemDisks::with(&[m.clone(), bad]);
    let (mut im, notes) = load(&mut d);
    assert_eq!(notes.len(), 1);
    assert!(matches!(notes[0], LoadNote::Rejected { why: CopyError::BadChecksum { .. }, .. }));
    assert_eq!(im.members().len(), 2, "the disk is still a member by serial");
    let mut a = ctx_for(&im, 0, 1, 2);
    im.set_array_state(&mut a, Consistency::Dirty);
    d.write_all(im.as_mut());
    assert_eq!(d.mpb(0), d.mpb(1), "both disks now carry the same metadata");
    let again = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    assert_eq!(again.generation(), 6);
}

#[test]
fn newer_generation_wins() {
    let old = build_mpb(1, 2, map_state::NORMAL, 0x1234, 5);
    let mut new = build_mpb(1, 2, map_state::NORMAL, 0x1234, 9);
    new[header::LEN + 2 * 48 + 90] = 1; // dirty in the newer copy
    let sum = checksum(&new, new.len());
    set_le32(&mut new, header::CHECK_SUM, sum);
    let mut d = MemDisks::with(&[old, new]);
    let (im, notes) = load(&mut d);
    assert_eq!(im.generation(), 9);
    assert_eq!(im.volume_dirty(0), Some(true));
    assert!(notes.iter().any(|n| matches!(n, LoadNote::Stale { gen: 5, .. })));
}

#[test]
fn no_usable_copy_is_an_error() {
    let mut junk = vec![0u8; 512];
    junk[..4].copy_from_slice(b"junk");
    let mut d = MemDisks::with(&[junk.clone(), junk]);
    let mut notes = Vec::new();
    assert_eq!(Imsm::load(&mut d, &mut notes).err(), Some(LoadError::NoUsableCopy));
    assert_eq!(notes.len(), 2);
}

#[test]
fn impossible_sizes_are_rejected() {
    let mut m = build_mpb(1, 2, map_state::NORMAL, 1, 1);
    set_le32(&mut m, header::MPB_SIZE, 100);
    let mut d = MemDisks::with(&[m]);
    let mut notes = Vec::new();
    assert!(Imsm::load(&mut d, &mut notes).is_err());
    assert!(matches!(notes[0], LoadNote::Rejected { why: CopyError::BadSize(100), .. }));
    // A table claiming more volumes than fit.
    let mut m = build_mpb(1, 2, map_state::NORMAL, 1, 1);
    m[header::NUM_RAID_DEVS] = 3;
    let sum = checksum(&m, m.len());
    set_le32(&mut m, header::CHECK_SUM, sum);
    let mut d = MemDisks::with(&[m]);
    let mut notes = Vec::new();
    assert!(Imsm::load(&mut d, &mut notes).is_err());
    assert!(matches!(notes[0], LoadNote::Rejected { why: CopyError::Malformed(_), .. }));
}

const FIXTURES: [&str; 8] = [
    "raid1-clean",
    "raid1-dirty",
    "raid5-3disk-init",
    "raid5-3disk-initdone",
    "raid10-4disk-clean",
    "raid0-2disk",
    "two-volumes",
    "staggered-volumes",
];

#[test]
fn fixtures_load_without_complaint() {
    for name in FIXTURES {
        let mut d = fixture(name);
        let mut notes = Vec::new();
        let im = Imsm::load(&mut d, &mut notes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(notes.is_empty(), "{name}: {notes:?}");
        let gen = u32::from_str_radix(&examine_field(name, "Generation"), 16).unwrap();
        assert_eq!(im.generation(), gen, "{name}");
        assert!(im.members().iter().all(|m| m.index >= 0), "{name}: every disk is a member");
        let dirty = examine_field(name, "Dirty State") == "dirty";
        assert_eq!(im.volume_dirty(0), Some(dirty), "{name}");
    }
}

#[test]
fn rewriting_a_fixture_changes_only_generation_and_checksum() {
    for name in FIXTURES {
        let mut d = fixture(name);
        let orig = d.mpb(0);
        let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
        im.pending = 1;
        d.write_all(im.as_mut());
        for i in 0..d.disks.len() {
            let now = d.mpb(i);
            assert_eq!(now.len(), orig.len(), "{name}");
            let mut expect = orig.clone();
            set_le32(&mut expect, header::GENERATION_NUM, le32(&orig, header::GENERATION_NUM) + 1);
            set_le32(&mut expect, header::CHECK_SUM, 0);
            let sum = checksum(&expect, expect.len());
            set_le32(&mut expect, header::CHECK_SUM, sum);
            assert_eq!(now, expect, "{name} disk {i}");
            // The migration record sector is cleared.
            assert!(d.disks[i].1[TAIL - 512..].iter().all(|&b| b == 0));
        }
    }
}

#[test]
fn fixture_mid_init_checkpoint_converts_to_sectors() {
    let mut d = fixture("raid5-3disk-init");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let v = im.volume(0).unwrap();
    assert_eq!(v.migr_type(), MigrType::Init);
    assert_eq!(v.curr_migr_unit(), 8);
    // mdadm --examine prints "Checkpoint : 8 (768)": 768 sectors per unit.
    assert_eq!(im.blocks_per_migr_unit(0), 768);
    // The kernel reports more progress: the checkpoint follows, rounded down.
    let mut a = ctx_for(&im, 0, 5, 3);
    a.component_size = 34816;
    a.resync_start = 8 * 768;
    a.prev_action = SyncAction::Resync;
    a.curr_action = SyncAction::Resync;
    a.last_checkpoint = 10 * 768 + 5;
    im.set_array_state(&mut a, Consistency::Dirty);
    assert_eq!(im.volume(0).unwrap().curr_migr_unit(), 10);
    assert!(im.volume(0).unwrap().migrating());
}

#[test]
fn fixture_dirty_volume_starts_dirty_and_clean_one_read_auto() {
    let mut d = fixture("raid1-dirty");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let mut a = ctx_for(&im, 0, 1, 2);
    a.component_size = 34816;
    // mdadm sets resync_start to 0 for a dirty volume at assembly.
    a.resync_start = 0;
    assert!(!im.set_array_state(&mut a, Consistency::Starting));
    let v = im.volume(0).unwrap();
    assert_eq!(v.migr_type(), MigrType::Repair, "a dirty stop is repaired");
    let mut d = fixture("raid1-clean");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let mut a = ctx_for(&im, 0, 1, 2);
    assert!(im.set_array_state(&mut a, Consistency::Starting));
    assert!(!im.updates_pending());
}
