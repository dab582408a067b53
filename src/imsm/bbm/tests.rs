use super::super::tests::{build_mpb, ctx_for, load, MemDisks};
use super::*;
use crate::badblocks::{reconcile, Outcome};
use crate::metadata::roles::*;
use view::map_state;

fn r(start: u64, len: u32) -> BadRange {
    BadRange { start, len }
}

fn raid1() -> (MemDisks, Box<Imsm>, ArrayCtx) {
    let m = build_mpb(1, 2, map_state::NORMAL, 0x5, 1);
    let mut d = MemDisks::with(&[m.clone(), m]);
    let (im, _) = load(&mut d);
    let a = ctx_for(&im, 0, 1, 2);
    (d, im, a)
}

fn logged(im: &Imsm, a: &ArrayCtx, slot: u32) -> Vec<BadRange> {
    let mut l = BbList::new();
    assert!(im.logged(a, slot, &mut l));
    l.to_vec()
}

#[test]
fn recorded_range_is_written_and_reloaded() {
    let (mut d, mut im, a) = raid1();
    assert_eq!(im.bbm_len(), 0);
    assert!(im.record(&a, 1, r(16384, 64)));
    assert!(im.updates_pending());
    d.write_all(im.as_mut());
    let mpb = d.mpb(0);
    assert_eq!(le32(&mpb, header::BBM_LOG_SIZE), 16);
    assert_ne!(le32(&mpb, header::ATTRIBUTES) & 0x0800_0000, 0, "BBM attribute set");
    let tail = &mpb[mpb.len() - 16..];
    assert_eq!(le32(tail, 0), 0xABAD_B10C);
    assert_eq!(le32(tail, 4), 1);
    assert_eq!(tail[8], 63, "sector count - 1");
    assert_eq!(tail[9], 1, "disk index");
    assert_eq!(u16::from_le_bytes([tail[10], tail[11]]), 16384);
    let (im2, notes) = load(&mut d);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(logged(&im2, &a, 1), vec![r(16384, 64)]);
    assert!(logged(&im2, &a, 0).is_empty());
}

#[test]
fn clearing_the_last_range_drops_the_log() {
    let (mut d, mut im, a) = raid1();
    assert!(im.record(&a, 0, r(100, 8)));
    d.write_all(im.as_mut());
    im.clear(&a, 0, r(100, 8));
    assert!(im.updates_pending());
    d.write_all(im.as_mut());
    let mpb = d.mpb(0);
    assert_eq!(le32(&mpb, header::BBM_LOG_SIZE), 0);
    assert_eq!(le32(&mpb, header::ATTRIBUTES) & 0x0800_0000, 0);
    // Clearing what is not there changes nothing.
    im.clear(&a, 0, r(100, 8));
    assert!(!im.updates_pending());
}

#[test]
fn long_and_high_ranges_take_several_48_bit_entries() {
    let (mut d, mut im, a) = raid1();
    let start = (1u64 << 40) + 7;
    assert!(im.record(&a, 0, r(start, 600)));
    assert_eq!(im.bbm_len(), 3);
    assert_eq!(im.bbm_entry(0).range, r(start, 256));
    assert_eq!(im.bbm_entry(2).range, r(start + 512, 88));
    d.write_all(im.as_mut());
    let (im2, _) = load(&mut d);
    assert_eq!(im2.bbm_entry(1).range, r(start + 256, 256));
    // Beyond 48 bits cannot be expressed.
    assert!(!im.record(&a, 0, r(1 << 48, 1)));
}

#[test]
fn log_holds_254_entries_then_refuses() {
    let (_d, mut im, a) = raid1();
    for i in 0..254u64 {
        assert!(im.record(&a, 0, r(1000 + 10 * i, 1)), "entry {i}");
    }
    assert!(!im.record(&a, 0, r(9000, 1)));
    assert_eq!(im.bbm_len(), 254);
    // A range that replaces logged entries still fits.
    assert!(im.record(&a, 0, r(1000, 12)));
    assert_eq!(im.bbm_len(), 253);
}

#[test]
fn reconcile_against_the_imsm_log() {
    let (_d, mut im, a) = raid1();
    let mut s = BbList::new();
    let k = [r(16384, 64)];
    assert_eq!(reconcile(im.as_mut(), &a, 1, Some(&k), &k, &mut s), Outcome::Recorded { changed: true });
    assert_eq!(reconcile(im.as_mut(), &a, 1, Some(&k), &[], &mut s), Outcome::Recorded { changed: false });
    assert_eq!(reconcile(im.as_mut(), &a, 1, Some(&[]), &[], &mut s), Outcome::Recorded { changed: true });
    assert_eq!(im.bbm_len(), 0);
    // A slot beyond the volume has no disk: nothing can be recorded.
    assert_eq!(reconcile(im.as_mut(), &a, 2, Some(&k), &k, &mut s), Outcome::Unrecordable);
}

#[test]
fn a_failed_disk_loses_its_ranges() {
    let (_d, mut im, mut a) = raid1();
    assert!(im.record(&a, 0, r(100, 8)));
    assert!(im.record(&a, 1, r(200, 8)));
    im.set_disk(&mut a, 1, DevState(DevState::FAULTY | DevState::BLOCKED));
    assert_eq!(im.bbm_len(), 1);
    assert_eq!(im.bbm_entry(0), Entry { disk: 0, range: r(100, 8) });
}

#[test]
fn deleting_a_disk_renumbers_the_entries_above_it() {
    let (_d, mut im, a) = raid1();
    assert!(im.record(&a, 0, r(100, 8)));
    assert!(im.record(&a, 1, r(200, 8)));
    im.bbm_disk_deleted(0);
    assert_eq!(im.bbm_len(), 1);
    assert_eq!(im.bbm_entry(0), Entry { disk: 0, range: r(200, 8) });
}

#[test]
fn only_ranges_touching_the_volume_are_listed() {
    let (_d, mut im, a) = raid1();
    let vol = im.volume(0).unwrap();
    let end = vol.map0().pba_of_lba0() + vol.map0().per_dev_array_size();
    assert!(im.record(&a, 0, r(end - 4, 8)));
    assert!(im.record(&a, 0, r(end + 100, 8)));
    assert_eq!(logged(&im, &a, 0), vec![r(end - 4, 8)]);
}
