//! The typed views: fields where the layout puts them, big-endian, and
//! nothing read or written past a record.

use super::*;
use crate::wire::{be64, set_be16};

#[test]
fn spare_record_lists_only_the_guids_inside_it() {
    assert!(Spare::new_checked(&[0u8; spare::ENTRIES - 1][..]).is_none());
    let mut r = [0u8; 0x80];
    r[spare::TYPE] = spare::DEDICATED;
    // Four entries claimed, room for three (the third one's GUID fits).
    set_be16(&mut r, spare::POPULATED, 4);
    for j in 0..3 {
        r[spare::ENTRIES + spare::ENTRY * j] = j as u8 + 1;
    }
    let s = Spare::new_checked(&r[..]).unwrap();
    assert!(s.dedicated());
    let firsts: Vec<u8> = s.vd_guids().map(|g| g[0]).collect();
    assert_eq!(firsts, [1, 2, 3]);
    r[spare::TYPE] = 0;
    assert!(!Spare::new_checked(&r[..]).unwrap().dedicated());
}

#[test]
fn phys_entry_fields_and_bounds() {
    assert_eq!(entry_range(0), Some(table::LEN..table::LEN + table::ENTRY));
    assert_eq!(entry_range(usize::MAX), None);
    assert!(PhysEntry::new_checked(&[0u8; table::ENTRY - 1][..]).is_none());
    let mut b = [0u8; table::ENTRY];
    let mut e = PhysEntry::new_checked(&mut b[..]).unwrap();
    e.clear_guid();
    assert!(!e.in_use());
    e.set_guid(&[7; GUID_LEN]);
    e.set_refnum(0x0102_0304);
    e.set_kind(0x05);
    e.set_state(0x01);
    e.set_config_size(1 << 40);
    e.set_path(b"a path longer than the eighteen bytes");
    assert!(e.in_use());
    assert_eq!((e.refnum(), e.kind(), e.state(), e.config_size()), (0x0102_0304, 0x05, 0x01, 1 << 40));
    assert_eq!(&b[phys::REFNUM..phys::REFNUM + 4], &[1, 2, 3, 4], "big-endian");
    assert_eq!(&b[phys::PATH], b"a path longer than");
    assert!(b[phys::PAD].iter().all(|&c| c == 0xFF));
}

#[test]
fn virt_entry_fields() {
    assert!(VirtEntry::new_checked(&[0u8; table::ENTRY - 1][..]).is_none());
    let mut b = [0u8; table::ENTRY];
    let mut e = VirtEntry::new_checked(&mut b[..]).unwrap();
    assert!(e.in_use());
    e.set_state(0x11);
    e.set_init_state(0x02);
    e.clear_guid();
    assert!(!e.in_use());
    assert_eq!((e.state(), e.init_state()), (0x11, 0x02));
    assert_eq!((b[virt::STATE], b[virt::INIT_STATE]), (0x11, 0x02));
}

#[test]
fn disk_data_fields() {
    assert!(DiskData::new_checked(&[0u8; SECTOR - 1][..]).is_none());
    let mut b = [0xFFu8; SECTOR];
    let mut d = DiskData::new_checked(&mut b[..]).unwrap();
    d.set_magic();
    d.set_guid(&[3; GUID_LEN]);
    d.set_refnum(0xA1B2_C3D4);
    d.set_forced();
    d.set_vendor(b"Linux");
    assert_eq!(d.refnum(), 0xA1B2_C3D4);
    assert_eq!(be32(&b, 0), magic::DISK_DATA);
    assert_eq!(&b[disk_data::GUID..disk_data::GUID + GUID_LEN], &[3; GUID_LEN]);
    assert_eq!((b[disk_data::FORCED_REF], b[disk_data::FORCED_GUID]), (1, 1));
    assert_eq!(&b[disk_data::VENDOR], b"Linux                           ");
    assert_eq!(b[disk_data::VENDOR.end], 0xFF, "nothing past the vendor field");
}

#[test]
fn vd_config_arrays_follow_mppe() {
    let mppe = 4;
    let len = VdConfig::<&[u8]>::len_for(mppe).unwrap();
    assert_eq!(len, conf::PHYS_REFNUM + 48);
    assert_eq!(VdConfig::<&[u8]>::arrays(mppe), Some(conf::PHYS_REFNUM..len));
    assert_eq!(VdConfig::<&[u8]>::len_for(usize::MAX), None);
    assert!(VdConfig::new_checked(&vec![0u8; len - 1][..], mppe).is_none());
    let mut b = vec![0u8; len];
    let mut r = VdConfig::new_checked(&mut b[..], mppe).unwrap();
    r.set_phys_refnum(1, 0x1111_2222);
    r.set_lba(1, 0x3333_4444_5555);
    r.set_phys_refnum(4, 9); // past mppe: nothing
    r.set_lba(4, 9);
    r.set_seqnum(5);
    assert_eq!(
        (r.phys_refnum(1), r.lba(1), r.phys_refnum(4), r.lba(4)),
        (Some(0x1111_2222), Some(0x3333_4444_5555), None, None)
    );
    assert_eq!((r.position_of(0x1111_2222), r.seqnum()), (Some(1), 5));
    assert_eq!(&b[conf::PHYS_REFNUM + 4..conf::PHYS_REFNUM + 8], &[0x11, 0x11, 0x22, 0x22]);
    assert_eq!(be64(&b, conf::PHYS_REFNUM + 16 + 8), 0x3333_4444_5555, "LBAs after the refnums");
    assert!(b[conf::PHYS_REFNUM + 16 + 32..].iter().all(|&c| c == 0), "nothing written past the arrays");
}

mod guards;
