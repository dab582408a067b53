//! Headers that keep valid CRCs but describe a layout that does not fit:
//! the loader refuses that copy (and uses another), and nothing rendered
//! lies outside its buffer or its disk.

use super::*;

/// Change the primary header of every disk (resealed, so only the layout
/// check can refuse it).
fn patch_primaries(d: &mut Disks, f: impl Fn(&mut [u8])) {
    for disk in 0..d.0.len() {
        let (p, _) = header_lbas(d, disk);
        let h = d.bytes_mut(disk, p * 512, 512);
        f(h);
        view::seal(h);
    }
}

/// Render every member; every region lies inside the buffer and the disk.
fn assert_renders_inside(ddf: &Ddf, d: &Disks) {
    let len = ddf.render_len();
    assert!(len <= 2 * MAX_COPY_SECTORS as usize * SECTOR + SECTOR, "render_len {len}");
    let mut buf = vec![0u8; len];
    for (i, m) in ddf.members.iter().enumerate() {
        let size = d.0.iter().find(|s| s.info.dev == m.dev).unwrap().info.geom.size_bytes;
        let regions = ddf.render(i, Some(1), &mut buf);
        assert!(!regions.is_empty());
        for r in regions {
            assert!(r.start + r.len <= buf.len(), "region {r:?} beyond the buffer");
            assert!(r.offset + r.len as u64 <= size, "region {r:?} beyond the disk ({size})");
        }
    }
}

fn refused_global(notes: &[LoadNote]) -> bool {
    notes.iter().any(|n| matches!(n, LoadNote::Rejected { what: "global sections", why: CopyError::Malformed(_), .. }))
}

#[test]
fn more_partitions_than_the_config_section_holds_refuse_the_copy() {
    let mut d = fixture("ddf-r1-r5-clean");
    patch_primaries(&mut d, |h| crate::wire::set_be16(h, hdr::MAX_PARTITIONS, 0xFFFF));
    let (ddf, notes) = load(&mut d);
    assert!(refused_global(&notes), "{notes:?}");
    assert_eq!(ddf.members.len(), 3, "the secondary copies are used");
    assert_renders_inside(&ddf, &d);
}

#[test]
fn a_config_record_length_past_the_section_refuses_the_copy() {
    let mut d = fixture("ddf-r1-r5-clean");
    patch_primaries(&mut d, |h| crate::wire::set_be16(h, hdr::CONFIG_RECORD_LEN, 0x7FFF));
    let (ddf, notes) = load(&mut d);
    assert!(refused_global(&notes), "{notes:?}");
    assert_renders_inside(&ddf, &d);
}

#[test]
fn an_empty_disk_data_section_refuses_the_copy() {
    let mut d = fixture("ddf-r1-r5-clean");
    patch_primaries(&mut d, |h| crate::wire::set_be32(h, hdr::DATA_SECTION + 4, 0));
    let (ddf, notes) = load(&mut d);
    assert!(refused_global(&notes), "{notes:?}");
    assert_renders_inside(&ddf, &d);
}

#[test]
fn a_huge_section_offset_refuses_the_copy_and_render_len_stays_bounded() {
    let mut d = fixture("ddf-r1-r5-clean");
    patch_primaries(&mut d, |h| crate::wire::set_be32(h, hdr::DATA_SECTION, 0x7FFF_0000));
    let (ddf, notes) = load(&mut d);
    assert!(refused_global(&notes), "{notes:?}");
    assert_renders_inside(&ddf, &d);
}

#[test]
fn overlapping_sections_refuse_the_copy() {
    let mut d = fixture("ddf-r1-r5-clean");
    patch_primaries(&mut d, |h| {
        let (o, _) = section(h, hdr::PHYS_SECTION);
        crate::wire::set_be32(h, hdr::VIRT_SECTION, o);
    });
    let (_, notes) = load(&mut d);
    assert!(refused_global(&notes), "{notes:?}");
}

#[test]
fn a_copy_past_the_end_of_the_disk_is_not_written() {
    let mut d = fixture("ddf-r1-r5-clean");
    // Disk 0's anchor and primary name a secondary copy beyond the disk.
    let size = d.0[0].info.geom.size_bytes;
    let (p, _) = header_lbas(&mut d, 0);
    for off in [size - 512, p * 512] {
        let h = d.bytes_mut(0, off, 512);
        crate::wire::set_be64(h, hdr::SECONDARY_LBA, size / 512 + 100);
        view::seal(h);
    }
    let (ddf, notes) = load(&mut d);
    assert!(
        notes.iter().any(|n| matches!(
            n,
            LoadNote::CopyNotWritten { dev: DevT { major: 7, minor: 0 }, which: "secondary", .. }
        )),
        "{notes:?}"
    );
    assert_eq!(ddf.members.len(), 3);
    assert_eq!(ddf.members[0].secondary_lba, u64::MAX);
    assert_renders_inside(&ddf, &d);
}

#[test]
fn a_copy_running_into_the_anchor_is_not_written() {
    let mut d = fixture("ddf-r1-r5-clean");
    let size = d.0[0].info.geom.size_bytes;
    let (p, _) = header_lbas(&mut d, 0);
    for off in [size - 512, p * 512] {
        let h = d.bytes_mut(0, off, 512);
        crate::wire::set_be64(h, hdr::SECONDARY_LBA, size / 512 - 10);
        view::seal(h);
    }
    let (ddf, _) = load(&mut d);
    assert_eq!(ddf.members[0].secondary_lba, u64::MAX);
    assert_renders_inside(&ddf, &d);
}

#[test]
fn a_table_claiming_more_entries_than_its_section_refuses_the_copy() {
    for (s, max) in [(hdr::PHYS_SECTION, 0xFFFF), (hdr::VIRT_SECTION, 0x0400)] {
        let mut d = fixture("ddf-r1-r5-clean");
        for disk in 0..d.0.len() {
            let (p, _) = header_lbas(&mut d, disk);
            let h = d.bytes(disk, p * 512, 512);
            let (off, len) = section(&h, s);
            let t = d.bytes_mut(disk, (p + u64::from(off)) * 512, len as usize * 512);
            crate::wire::set_be16(t, view::table::MAX, max);
            view::seal(t);
        }
        let (ddf, notes) = load(&mut d);
        let why = CopyError::Malformed("table entries exceed their section");
        assert!(notes.iter().any(|n| matches!(n, LoadNote::Rejected { why: w, .. } if *w == why)), "{notes:?}");
        assert_eq!(ddf.members.len(), 3, "the secondary copies are used");
        assert!(ddf.phys_entries().count() < 0x400 && ddf.virt_entries().count() < 0x400);
        assert_renders_inside(&ddf, &d);
    }
}

#[test]
fn a_section_offset_that_overflows_refuses_the_copy() {
    let mut d = fixture("ddf-r1-r5-clean");
    patch_primaries(&mut d, |h| crate::wire::set_be32(h, hdr::CONFIG_SECTION, u32::MAX));
    let (ddf, notes) = load(&mut d);
    assert!(refused_global(&notes), "{notes:?}");
    assert_renders_inside(&ddf, &d);
}

#[test]
fn a_disk_whose_own_header_places_its_data_past_the_disk_is_left_out() {
    let mut d = fixture("ddf-r1-r5-clean");
    // Disk 1's own headers (both copies) put its disk data far past its end.
    let (p, s) = header_lbas(&mut d, 1);
    for lba in [p, s] {
        let h = d.bytes_mut(1, lba * 512, 512);
        crate::wire::set_be32(h, hdr::DATA_SECTION, u32::MAX - 1);
        view::seal(h);
    }
    let (ddf, notes) = load(&mut d);
    assert!(
        notes
            .iter()
            .any(|n| matches!(n, LoadNote::Rejected { dev: DevT { major: 7, minor: 1 }, what: "local sections", .. })),
        "{notes:?}"
    );
    assert_eq!(ddf.members.len(), 2);
    assert_renders_inside(&ddf, &d);
}
