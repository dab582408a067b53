//! Gathering split images: the bytes gathered, and the writes submitted in
//! rounds when one needs more buffers than a submission holds, land as the
//! whole image would.

use super::*;
use crate::metadata::{DevT, DiskGeom, Extent};
use std::fs::{File, OpenOptions};
use std::io::Read;

/// Shared parts of `n` sectors in all (one sector, a third, the rest, as
/// a model holds them: sector aligned), bytes `0x80 + k` in sector `k` of
/// the parts laid end to end.
fn shared_parts(n: usize) -> Vec<AlignedBuf> {
    let sizes = [1, n / 3, n - 1 - n / 3];
    let mut k = 0u8;
    sizes
        .iter()
        .map(|&s| {
            let mut b = AlignedBuf::aligned(s * 512, 512);
            for sec in b.as_mut_slice().chunks_mut(512) {
                sec.fill(0x80u8.wrapping_add(k));
                k = k.wrapping_add(1);
            }
            b
        })
        .collect()
}

/// A split image: own bytes `0x10 + k` per sector, shared parts as
/// `shared_parts` makes them, and `layout` alternating own, shared and
/// 0xFF stretches (`n` of each).
fn split_image(n: usize) -> (AlignedBuf, Split, Vec<AlignedBuf>, Vec<u8>) {
    let mut own = AlignedBuf::new(n * 512);
    for (k, s) in own.as_mut_slice().chunks_mut(512).enumerate() {
        s.fill(0x10u8.wrapping_add(k as u8));
    }
    let mut sp = Split::new();
    let parts = shared_parts(n);
    let flat: Vec<u8> = parts.iter().flat_map(|p| p.as_slice().iter().copied()).collect();
    let mut whole = Vec::new();
    for k in 0..n {
        // Own sector k, shared sector n-1-k, then 0xFF: one sector, or
        // 400 KiB every tenth.
        let fill = if k % 10 == 0 { 400 * 1024 } else { 512 };
        let o = (k * 512) as u32;
        let sh = ((n - 1 - k) * 512) as u32;
        for e in [
            Extent { len: 512, src: Src::Own(o) },
            Extent { len: 512, src: Src::Shared(sh) },
            Extent { len: fill, src: Src::Fill },
        ] {
            sp.layouts[0].push(e);
        }
        whole.extend_from_slice(&own.as_slice()[o as usize..o as usize + 512]);
        whole.extend_from_slice(&flat[sh as usize..sh as usize + 512]);
        whole.extend(std::iter::repeat_n(0xFF, fill as usize));
    }
    (own, sp, parts, whole)
}

fn slices(parts: &[AlignedBuf]) -> Vec<&[u8]> {
    parts.iter().map(|p| p.as_slice()).collect()
}

#[test]
fn gather_yields_the_image_bytes_of_any_range() {
    let (own, sp, parts, whole) = split_image(12);
    let shared = slices(&parts);
    for (start, len) in [(0, whole.len()), (512, 1024), (700, 41_000), (whole.len() - 512, 512)] {
        let mut got = Vec::new();
        let r = Region { offset: 0, start, len };
        let ok = gather(own.as_slice(), Some((&sp, &sp.layouts[0])), &shared, &r, &mut |b| {
            got.extend_from_slice(b);
            true
        });
        assert!(ok);
        assert!(got == whole[start..start + len], "{start}+{len}");
    }
    // A range past the layout is refused.
    let r = Region { offset: 0, start: whole.len() - 512, len: 1024 };
    assert!(!gather(own.as_slice(), Some((&sp, &sp.layouts[0])), &shared, &r, &mut |_| true));
    // Without a split, the render buffer itself.
    let mut got = Vec::new();
    assert!(gather(own.as_slice(), None, &[], &Region { offset: 0, start: 512, len: 1024 }, &mut |b| {
        got.extend_from_slice(b);
        true
    }));
    assert_eq!(got, own.as_slice()[512..1536]);
}

#[test]
fn a_shared_stretch_spanning_parts_is_gathered_from_each_part_in_place() {
    // One shared extent over all the parts (DDF's sections lie next to
    // each other, so their extents join): one buffer per part, each the
    // part's own bytes (written from the model, not copied).
    let parts = shared_parts(9);
    let shared = slices(&parts);
    let mut sp = Split::new();
    sp.layouts[0].push(Extent { len: 512, src: Src::Fill });
    sp.layouts[0].push(Extent { len: 7 * 512, src: Src::Shared(512) });
    let r = Region { offset: 0, start: 256, len: 8 * 512 - 256 };
    let mut got: Vec<&[u8]> = Vec::new();
    assert!(gather(&[], Some((&sp, &sp.layouts[0])), &shared, &r, &mut |b| {
        got.push(b);
        true
    }));
    assert_eq!(got.len(), 3, "the 0xFF tail, then the two parts the stretch touches");
    assert_eq!(got[0], &[0xFF; 256][..]);
    assert!(std::ptr::eq(got[1], parts[1].as_slice()), "the second part whole, in place");
    assert!(std::ptr::eq(got[2], &parts[2].as_slice()[..4 * 512]), "the third part's start, in place");
    // A stretch past the parts' end is refused.
    sp.layouts[0][1].len = 9 * 512;
    let r = Region { offset: 0, start: 512, len: 9 * 512 };
    assert!(!gather(&[], Some((&sp, &sp.layouts[0])), &shared, &r, &mut |_| true));
}

fn scratch(name: &str) -> (std::path::PathBuf, File) {
    let p = std::env::temp_dir().join(format!("mdmon-gather-{}-{name}", std::process::id()));
    let f = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&p).expect("scratch");
    (p, f)
}

#[test]
fn writes_needing_more_buffers_than_a_round_land_whole() {
    // 60 triples of buffers and 0xFF runs in hundreds of pieces per
    // write: more than a round holds, so each write goes in pieces over
    // several rounds.
    let (own, sp, parts, whole) = split_image(60);
    let shared = slices(&parts);
    let (pa, fa) = scratch("a");
    let (pb, fb) = scratch("b");
    let disk = |f: File, minor| Disk {
        dev: DevT { major: 7, minor },
        kname: heapless::String::new(),
        fd: f.into(),
        geom: DiskGeom { size_bytes: 1 << 30, sector_size: 512 },
        serial: [0; 16],
    };
    let disks = [disk(fa, 0), disk(fb, 1)];
    let region = |offset| Region { offset, start: 512, len: whole.len() - 512 };
    let planned =
        [PlannedWrite { disk: 0, buf: 0, region: region(4096) }, PlannedWrite { disk: 1, buf: 0, region: region(0) }];
    let mut aio = sys::aio::Aio::new().expect("io_setup");
    let mut results = [Ok(()); 2];
    submit(&mut aio, &disks, std::slice::from_ref(&own), Some(&sp), &shared, &planned, &mut results);
    assert_eq!(results, [Ok(()), Ok(())]);
    for (p, at) in [(pa, 4096), (pb, 0)] {
        let mut v = Vec::new();
        File::open(&p).unwrap().read_to_end(&mut v).unwrap();
        std::fs::remove_file(&p).unwrap();
        assert_eq!(v.len(), at + whole.len() - 512);
        assert!(v[at..] == whole[512..], "written at {at}");
    }
}
