//! Length guards: a view is only made over a buffer that holds what its
//! header claims; truncated buffers, sizes that overflow and offsets past
//! the end give `None` or an error, never a panic or a read past the end.

use super::*;
use crate::ddf::{MAX_COPY_SECTORS, MAX_SECTION};
use crate::wire::{set_be16, set_be32};

/// A table section of `len` bytes claiming `max` entries.
fn table_section(len: usize, max: u16) -> Vec<u8> {
    let mut b = vec![0xFFu8; len];
    set_be16(&mut b, table::MAX, max);
    set_be16(&mut b, table::USED, 0);
    b
}

#[test]
fn a_table_holds_the_entries_it_claims_or_is_refused() {
    assert!(PhysTable::new_checked(&[0u8; table::LEN - 1][..]).is_none(), "shorter than its header");
    let fits = table::LEN + 3 * table::ENTRY;
    assert!(PhysTable::new_checked(table_section(fits, 3)).is_some());
    assert!(PhysTable::new_checked(table_section(fits - 1, 3)).is_none(), "last entry cut");
    assert!(VirtTable::new_checked(table_section(fits, 4)).is_none(), "one entry more than the buffer");
    assert!(VirtTable::new_checked(table_section(1024, u16::MAX)).is_none(), "max_vdes 0xFFFF in two sectors");
    let t = PhysTable::new_checked(table_section(1024, 3)).unwrap();
    assert_eq!(t.max(), 3, "room for 15; the header says 3");
    assert_eq!(t.entries().count(), 3);
    assert!(t.entry(2).is_some() && t.entry(3).is_none() && t.entry(usize::MAX).is_none());
}

#[test]
fn table_changes_stay_inside_the_table() {
    let mut t = PhysTable::new_checked(table_section(1024, 3)).unwrap();
    let before = t.to_vec();
    t.move_entry(0, 3);
    t.move_entry(usize::MAX, 0);
    assert!(t.entry_mut(3).is_none());
    let mut e = [0u8; table::ENTRY];
    PhysEntry::new_checked(&mut e[..]).unwrap().set_refnum(0x0A0B_0C0D);
    let e = PhysEntry::new_checked(&e[..]).unwrap();
    assert!(!t.set_entry(3, &e), "past max_pdes");
    assert_eq!(t.to_vec(), before, "nothing changed past the table");
    assert!(t.set_entry(2, &e));
    t.move_entry(2, 0);
    assert_eq!((t.entry(0).unwrap().refnum(), t.entry(2).unwrap().refnum()), (0x0A0B_0C0D, 0x0A0B_0C0D));
    t.set_used(0x0102);
    assert_eq!(&t[table::USED..table::USED + 2], &[1, 2], "big-endian");
    assert_eq!(t.used(), 0x0102);
}

#[test]
fn an_entry_update_is_exactly_one_header_and_one_entry() {
    let n = EntryUpdate::<&[u8]>::LEN;
    assert_eq!(n, table::LEN + table::ENTRY);
    for len in [0, 4, n - 1, n + 1, 2 * n] {
        assert!(EntryUpdate::new_checked(&vec![0u8; len][..]).is_none(), "{len} bytes");
    }
    let mut b = vec![0u8; n];
    set_be16(&mut b, table::USED, 0x0203);
    b[table::LEN + virt::STATE] = 0x12;
    let u = EntryUpdate::new_checked(&b[..]).unwrap();
    assert_eq!(u.index(), 0x0203);
    assert_eq!(u.virt().unwrap().state(), 0x12);
    assert_eq!(u.phys().unwrap().as_bytes(), &b[table::LEN..]);
}

/// A header with mdadm's layout: 256 member positions, 7-sector records,
/// `parts` of them plus the spare slot.
fn good_header(parts: u16) -> [u8; SECTOR] {
    let mut h = [0u8; SECTOR];
    set_be16(&mut h, header::MPPE, 256);
    set_be16(&mut h, header::CONFIG_RECORD_LEN, 7);
    set_be16(&mut h, header::MAX_PARTITIONS, parts);
    let conf_len = 7 * (u32::from(parts) + 1);
    let sections = [
        (header::CONTROLLER_SECTION, 1, 1),
        (header::PHYS_SECTION, 2, 2),
        (header::VIRT_SECTION, 4, 2),
        (header::CONFIG_SECTION, 6, conf_len),
        (header::DATA_SECTION, 6 + conf_len, 1),
    ];
    for (at, o, l) in sections {
        set_be32(&mut h, at, o);
        set_be32(&mut h, at + 4, l);
    }
    h
}

fn layout(h: &[u8; SECTOR]) -> Result<Layout, &'static str> {
    Layout::new_checked(&Header::of(h))
}

#[test]
fn a_good_layout_gives_its_sections_and_records() {
    let l = layout(&good_header(4)).unwrap();
    assert_eq!((l.record_bytes(), l.mppe(), l.partitions()), (7 * SECTOR, 256, 4));
    assert_eq!(l.config(), Section { offset: 6, len: 35 });
    assert_eq!(l.data(), Section { offset: 41, len: 1 });
    assert_eq!(l.phys().lba(100), Some(102));
    assert_eq!(l.phys().bytes(), Some(2 * SECTOR));
    assert_eq!(Section { offset: 1, len: 1 }.lba(u64::MAX), None, "sector number overflows");
    assert!(Header::new_checked(&[0u8; SECTOR - 1][..]).is_none());
}

#[test]
fn header_setters_write_their_fields_big_endian() {
    let mut h = [0u8; SECTOR];
    let mut v = Header::of_mut(&mut h);
    v.set_seq(0x0102_0304);
    v.set_timestamp(0x0506_0708);
    v.set_openflag(0xFF);
    v.set_kind(header::TYPE_SECONDARY);
    v.set_lbas(1, 2, u64::MAX);
    assert_eq!(&h[header::SEQ..header::SEQ + 4], &[1, 2, 3, 4]);
    let r = Header::of(&h);
    assert_eq!((r.seq(), r.timestamp(), r.openflag(), r.kind()), (0x0102_0304, 0x0506_0708, 0xFF, 2));
    assert_eq!((r.primary_lba(), r.secondary_lba(), r.workspace_lba()), (1, 2, u64::MAX));
    assert_eq!(h[header::PRIMARY_LBA + 7], 1, "big-endian");
    let touched = [header::SEQ..header::OPENFLAG + 1, header::PRIMARY_LBA..header::TYPE + 1];
    let rest = |i: usize| {
        !touched.iter().any(|t| t.contains(&i)) && !(header::WORKSPACE_LBA..header::WORKSPACE_LBA + 8).contains(&i)
    };
    assert!((0..SECTOR).filter(|&i| rest(i)).all(|i| h[i] == 0), "nothing else written");
}

#[test]
fn a_layout_that_does_not_hold_is_refused_not_a_panic() {
    type Patch = fn(&mut [u8; SECTOR]);
    let cases: [(&str, Patch); 12] = [
        ("section length", |h| set_be32(h, header::DATA_SECTION + 4, 0)),
        ("section length", |h| set_be32(h, header::DATA_SECTION + 4, MAX_SECTION + 1)),
        ("section offset", |h| set_be32(h, header::CONTROLLER_SECTION, 0)),
        ("section offset", |h| set_be32(h, header::DATA_SECTION, u32::MAX)),
        ("section offset", |h| set_be32(h, header::DATA_SECTION, MAX_COPY_SECTORS)),
        ("overlapping sections", |h| set_be32(h, header::VIRT_SECTION, 3)),
        ("configuration record length", |h| set_be16(h, header::CONFIG_RECORD_LEN, 0)),
        ("configuration record length", |h| set_be16(h, header::MPPE, u16::MAX)),
        ("configuration records exceed their section", |h| set_be16(h, header::MAX_PARTITIONS, 5)),
        ("configuration records exceed their section", |h| set_be16(h, header::MAX_PARTITIONS, u16::MAX)),
        ("physical disk section length", |h| set_be32(h, header::PHYS_SECTION + 4, 1)),
        ("virtual disk section length", |h| set_be32(h, header::VIRT_SECTION + 4, 1)),
    ];
    for (i, (why, patch)) in cases.into_iter().enumerate() {
        let mut h = good_header(4);
        patch(&mut h);
        assert_eq!(layout(&h), Err(why), "case {i}");
    }
    let mut h = good_header(4);
    set_be16(&mut h, header::CONFIG_RECORD_LEN, u16::MAX);
    assert!(layout(&h).is_err(), "record length times partitions past the section");
}

#[test]
fn records_with_impossible_member_counts_are_refused() {
    assert!(VdConfig::new_checked(&[0u8; 4096][..], usize::MAX).is_none(), "mppe overflows");
    assert!(VdConfig::new_checked(&[0u8; 4096][..], 4096).is_none(), "mppe past the record");
    assert!(VdConfig::new_checked(&[0u8; conf::PHYS_REFNUM - 1][..], 0).is_none(), "fixed part cut");
    let r = VdConfig::new_checked(&[0u8; 4096][..], 2).unwrap();
    assert_eq!((r.phys_refnum(2), r.lba(usize::MAX)), (None, None));
}

#[test]
fn member_positions_copy_between_records() {
    let len = VdConfig::<&[u8]>::len_for(3).unwrap();
    let mut a = vec![0u8; len];
    let mut b = vec![0xFFu8; len];
    {
        let mut a = VdConfig::new_checked(&mut a[..], 3).unwrap();
        a.set_phys_refnum(1, 7);
        a.set_lba(1, 9);
    }
    let mut bv = VdConfig::new_checked(&mut b[..], 3).unwrap();
    bv.copy_members_from(&VdConfig::new_checked(&a[..], 3).unwrap());
    assert_eq!(&b[conf::PHYS_REFNUM..], &a[conf::PHYS_REFNUM..], "both arrays, as bytes");
    assert!(b[..conf::PHYS_REFNUM].iter().all(|&c| c == 0xFF), "the fixed part is kept");
}

#[test]
fn a_spare_record_claiming_every_entry_lists_only_those_inside() {
    let mut r = [0u8; spare::ENTRIES + spare::ENTRY + GUID_LEN - 1];
    set_be16(&mut r, spare::POPULATED, u16::MAX);
    assert_eq!(Spare::new_checked(&r[..]).unwrap().vd_guids().count(), 1, "the second GUID is cut");
}

#[test]
fn controller_and_disk_data_need_a_sector() {
    assert!(Controller::new_checked(&[0u8; SECTOR - 1][..]).is_none());
    let mut b = vec![0u8; 2 * SECTOR];
    set_be32(&mut b, 0, magic::CONTROLLER);
    let c = Controller::new_checked(&b[..]).unwrap();
    assert_eq!((c.magic(), c.record().len(), c.len()), (magic::CONTROLLER, SECTOR, 2 * SECTOR));
    let mut s = [0u8; SECTOR];
    set_be32(&mut s, disk_data::REFNUM, 0x0102_0304);
    s[disk_data::GUID] = 9;
    let d = DiskData::of(&s);
    assert_eq!((d.refnum(), d.guid()[0], d.guid().len()), (0x0102_0304, 9, GUID_LEN));
    assert_eq!(magic_of(&[1, 2, 3]), None);
    assert_eq!(magic_of(&[0xDE, 0x11, 0xDE, 0x11]), Some(magic::HEADER));
}
