//! A degraded RAID1 assembled without one member, rebuilt onto a spare: the
//! new "rebuild family" must list only its own disks. mdadm's assembly of
//! disks from two such families (upstream test 09imsm-assemble) accepts a
//! family only if every disk in its table belongs to it, so a missing member
//! left in the table would make the family lose.

use super::*;
use crate::imsm::load::{self, status};
use crate::metadata::roles::*;
use crate::metadata::{NewDisk, NewMember};

fn serial_of(rec: &[u8]) -> &[u8] {
    crate::wire::cstr_field(&rec[diskf::SERIAL])
}

fn spare(minor: u32) -> NewDisk {
    let mut serial = [0u8; 16];
    let s = format!("/dev/loop{minor}");
    serial[..s.len()].copy_from_slice(s.as_bytes());
    NewDisk {
        dev: DevT { major: 7, minor },
        serial,
        geom: DiskGeom { size_bytes: DISK_BYTES, sector_size: 512 },
        scsi_id: 0,
        random: 0,
    }
}

/// RAID1 over loop0 and loop1 with only loop0 present; slot 1 missing.
fn half_raid1() -> (Box<Imsm>, ArrayCtx, MemDisks, u32) {
    let mpb = build_mpb(1, 2, map_state::NORMAL, 0x1b4c_5139, 0x15);
    let mut d = MemDisks::with(&[mpb]);
    let (im, _) = load(&mut d);
    let mut a = ctx_for(&im, 0, 1, 2);
    a.slots.retain(|s| s.slot == 0);
    a.component_size = 16384;
    let family = im.family_num();
    (im, a, d, family)
}

fn rebuild_onto_loop3(im: &mut Imsm, a: &ArrayCtx) -> ArrayVec<NewMember, MAX_SLOTS> {
    assert!(im.add_disk(spare(3)));
    let mut picks = ArrayVec::new();
    im.choose_spares(a, &mut picks);
    assert_eq!(picks.len(), 1, "the missing slot gets the spare");
    assert_eq!((picks[0].slot, picks[0].dev.minor), (1, 3));
    im.record_rebuild(a, &picks, 0x1000);
    picks
}

fn assert_own_disks_only(im: &Imsm, family: u32) {
    let serials: Vec<&[u8]> = im.table.iter().map(|r| serial_of(r)).collect();
    assert_eq!(serials, [&b"/dev/loop0"[..], b"/dev/loop3"], "the missing member left the table");
    assert_eq!(im.family_num(), family.wrapping_add(0x1000), "a new rebuild family");
    assert_eq!(le32(&im.header, header::ORIG_FAMILY_NUM), family);
    let v = im.volume(0).unwrap();
    let idx: Vec<u32> = (0..2).map(|s| ord_to_idx(v.map0().ord(s))).collect();
    assert_eq!(idx, [0, 1]);
}

#[test]
fn missing_member_marked_at_start_then_rebuilt_leaves_the_table() {
    let (mut im, mut a, mut d, family) = half_raid1();
    // The monitor's first pass: the absent disk is recorded failed and missing.
    im.set_array_state(&mut a, Consistency::Starting);
    let v = im.volume(0).unwrap();
    assert_eq!(v.map0().failed_disk_num(), 1);
    assert_ne!(status(&im.table[1]) & diskf::FAILED, 0);
    assert_eq!(serial_of(&im.table[1]), b"dev/loop1:0");
    rebuild_onto_loop3(&mut im, &a);
    assert_own_disks_only(&im, family);
    // Both members' copies say so.
    let sp = spare(3);
    d.disks.push((DiskInfo { dev: sp.dev, serial: sp.serial, geom: sp.geom }, vec![0u8; TAIL]));
    d.write_all(im.as_mut());
    for i in 0..2 {
        let mpb = d.mpb(i);
        assert_eq!(mpb[header::NUM_DISKS], 2);
        assert_eq!(load::find_serial(&mpb, &spare(1).serial), None, "disk {i} lists loop1");
    }
}

#[test]
fn missing_member_rebuilt_before_the_first_pass_leaves_the_table() {
    // Our manager may choose the spare before the monitor's first pass.
    let (mut im, mut a, _d, family) = half_raid1();
    rebuild_onto_loop3(&mut im, &a);
    im.set_array_state(&mut a, Consistency::Starting);
    assert_own_disks_only(&im, family);
}
