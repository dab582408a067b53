//! The split render (sections and records from the model, headers and
//! disk data of its own, 0xFF from the shell) against the whole-image
//! render, byte for byte.

use super::*;
use crate::metadata::roles::*;
use crate::metadata::{Layout, NewDisk, Src, Writer};

/// The bytes `start..start + len` of a split image.
fn split_bytes(layout: &Layout, own: &[u8], shared: &[u8], start: usize, len: usize) -> Vec<u8> {
    let mut image = Vec::new();
    for e in layout {
        let n = e.len as usize;
        match e.src {
            Src::Own(o) => image.extend_from_slice(&own[o as usize..o as usize + n]),
            Src::Shared(o) => image.extend_from_slice(&shared[o as usize..o as usize + n]),
            Src::Fill => image.extend(std::iter::repeat_n(0xFF, n)),
        }
    }
    image[start..start + len].to_vec()
}

/// Every member's split render writes what the whole render writes, its
/// shared bytes taken from the model's parts once they are sealed in
/// place; every extent and shared part is whole sectors, and every part
/// sector aligned (O_DIRECT writes them as they are).
fn assert_split_matches_whole(ddf: &mut Ddf, what: &str) {
    let mut whole = vec![0u8; ddf.render_len()];
    let mut own = vec![0x5Au8; ddf.split_own_len()];
    ddf.seal_shared();
    let ddf = &*ddf;
    let mut shared = Vec::new();
    let mut k = 0;
    while let Some(p) = Writer::shared_part(ddf, k) {
        assert!(
            p.len().is_multiple_of(SECTOR) && (p.as_ptr() as usize).is_multiple_of(SECTOR),
            "{what}: shared part {k}"
        );
        shared.extend_from_slice(p);
        k += 1;
    }
    // The controller, physical and virtual disk tables, then each VD's
    // records and each spare assignment record: the model's own bytes.
    let records: Vec<&[u8]> = ddf.confs.iter().flat_map(|c| c.records.iter().map(|r| &r[..])).collect();
    let spares: Vec<&[u8]> = ddf.members.iter().filter_map(|m| m.spare.as_deref()).collect();
    assert_eq!(k, 3 + records.len() + spares.len(), "{what}: the parts");
    for (j, r) in records.iter().chain(&spares).enumerate() {
        assert!(std::ptr::eq(Writer::shared_part(ddf, 3 + j).unwrap(), *r), "{what}: part {} is the model's", 3 + j);
    }
    assert_eq!(ddf.split_own_len(), 4 * SECTOR, "{what}: only headers and disk data are rendered");
    assert_eq!(shared.len(), Writer::shared_len(ddf), "{what}");
    let mut layout = Layout::new();
    for i in 0..ddf.members.len() {
        for now in [None, Some(12345)] {
            let want = ddf.render(i, now, &mut whole);
            let got = ddf.render_split(i, now, &mut own, &mut layout);
            assert!(!want.is_empty(), "{what}: disk {i}");
            assert_eq!(got, want, "{what}: disk {i}: the same regions");
            let total: usize = layout.iter().map(|e| e.len as usize).sum();
            assert_eq!(total, ddf.render_len(), "{what}: disk {i}: the layout covers the image");
            for e in &layout {
                let o = match e.src {
                    Src::Own(o) | Src::Shared(o) => o as usize,
                    Src::Fill => 0,
                };
                assert!(e.len as usize % SECTOR == 0 && o % SECTOR == 0, "{what}: disk {i}: {e:?}");
            }
            for r in &got {
                let bytes = split_bytes(&layout, &own, &shared, r.start, r.len);
                assert!(bytes == whole[r.start..r.start + r.len], "{what}: disk {i}: region at {:#x}", r.offset);
            }
        }
    }
}

#[test]
fn split_render_matches_the_whole_render_on_the_fixtures() {
    for name in FIXTURES {
        let mut d = fixture(name);
        let (mut ddf, _) = load(&mut d);
        assert_split_matches_whole(&mut ddf, name);
        // Far smaller than a whole image: mdadm's copy is 618 sectors.
        assert!(ddf.split_own_len() + ddf.split_shared_len() < ddf.render_len() / 2, "{name}");
    }
}

#[test]
fn split_render_matches_after_changes() {
    let mut d = fixture("ddf-r1-r5-clean");
    let (mut ddf, _) = load(&mut d);
    ddf.set_clock(1_796_083_200);
    let size = d.0[0].info.geom.size_bytes;
    let geom = DiskGeom { size_bytes: size, sector_size: 512 };
    assert!(ddf.add_disk(NewDisk {
        dev: DevT { major: 7, minor: 9 },
        serial: [0; 16],
        geom,
        scsi_id: 0,
        random: 0x1234_5678_9abc_def1
    }));
    // The model's physical disk table changed: its CRC is stale until the
    // write seals it in place.
    assert!(!view::crc_ok(&ddf.phys), "a stale CRC in the model");
    assert_split_matches_whole(&mut ddf, "a disk added");
    assert!(view::crc_ok(&ddf.phys) && view::crc_ok(&ddf.virt) && view::crc_ok(&ddf.controller));
    // A spare assignment record, and a VD listed twice on one disk (its
    // record written twice from the model).
    let rec_len = ddf.confs[0].records[0].len();
    let mut spare = vec![0xFFu8; rec_len];
    spare[..4].copy_from_slice(&view::magic::SPARE.to_be_bytes());
    spare[100] = 7;
    let spare = crate::sys::AlignedBuf::copy_of(&spare, SECTOR);
    ddf.members[2].spare = Some(view::spare::Spare::new_checked(spare).expect("a whole record"));
    let c = ddf.members[0].vlist[0];
    ddf.members[0].vlist.push(c);
    assert_split_matches_whole(&mut ddf, "a spare record and a repeated VD");
    // Through the trait, as the shell calls it.
    let mut own = vec![0u8; Writer::own_len(&*ddf)];
    let mut layout = Layout::new();
    assert!(!Writer::render_split(&*ddf, 0, geom, &mut own, &mut layout).is_empty());
    // A buffer without room for the data section is refused, not overrun.
    let mut small = vec![0u8; 3 * SECTOR];
    assert!(ddf.render_split(0, None, &mut small, &mut layout).is_empty());
}
