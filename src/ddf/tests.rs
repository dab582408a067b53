//! Tests of the DDF codec on fixtures captured from Debian's mdadm 4.2 and
//! its C mdmon (`tests/vm/capture-ddf-fixtures.sh`), and on copies of them
//! corrupted in the ways a disk can be.

use super::*;
use crate::metadata::DiskGeom;
use crate::metadata::{DiskInfo, DiskSource};
use view::section;

/// A disk holding only the regions a fixture recorded; other reads fail.
struct SparseDisk {
    info: DiskInfo,
    regions: Vec<(u64, Vec<u8>)>,
}

struct Disks(Vec<SparseDisk>);

impl DiskSource for Disks {
    fn count(&self) -> usize {
        self.0.len()
    }
    fn info(&self, i: usize) -> DiskInfo {
        self.0[i].info
    }
    fn read(&mut self, i: usize, offset: u64, buf: &mut [u8]) -> Result<(), i32> {
        let end = offset + buf.len() as u64;
        for (o, data) in &self.0[i].regions {
            if offset >= *o && end <= o + data.len() as u64 {
                let s = (offset - o) as usize;
                buf.copy_from_slice(&data[s..s + buf.len()]);
                return Ok(());
            }
        }
        Err(5)
    }
}

impl Disks {
    fn bytes_mut(&mut self, disk: usize, offset: u64, len: usize) -> &mut [u8] {
        for (o, data) in self.0[disk].regions.iter_mut() {
            if offset >= *o && offset + len as u64 <= *o + data.len() as u64 {
                let s = (offset - *o) as usize;
                return &mut data[s..s + len];
            }
        }
        panic!("no region holds {offset}+{len}");
    }
    fn bytes(&mut self, disk: usize, offset: u64, len: usize) -> Vec<u8> {
        self.bytes_mut(disk, offset, len).to_vec()
    }
}

/// Decode a `.rle` fixture (format in tests/vm/tools/ddf_regions.py).
fn read_rle(path: &str) -> Vec<(u64, Vec<u8>)> {
    crate::harness::read_rle(&std::fs::read(path).expect("fixture"))
}

fn fixture(name: &str) -> Disks {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ddf");
    let meta = std::fs::read_to_string(format!("{dir}/{name}.meta")).expect("meta");
    let get = |k: &str| meta.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(str::to_string);
    let size: u64 = get("disk_size").unwrap().parse().unwrap();
    let n: usize = get("ndisks").unwrap().parse().unwrap();
    Disks(
        (0..n)
            .map(|i| SparseDisk {
                info: DiskInfo {
                    dev: DevT { major: 7, minor: i as u32 },
                    serial: [0; 16],
                    geom: DiskGeom { size_bytes: size, sector_size: 512 },
                },
                regions: read_rle(&format!("{dir}/{name}.disk{i}.rle")),
            })
            .collect(),
    )
}

const FIXTURES: [&str; 2] = ["ddf-r1-r5-clean", "ddf-r5-dirty"];

fn load(d: &mut Disks) -> (Box<Ddf>, Vec<LoadNote>) {
    let mut notes = Vec::new();
    let ddf = Ddf::load(d, &mut notes).expect("loads");
    (ddf, notes)
}

/// Render every member and compare each region with what is on its disk.
fn assert_renders_as_on_disk(ddf: &Ddf, d: &mut Disks, what: &str) {
    let mut buf = vec![0u8; ddf.render_len()];
    for (i, m) in ddf.members.iter().enumerate() {
        let disk = d.0.iter().position(|s| s.info.dev == m.dev).unwrap();
        for r in ddf.render(i, None, &mut buf) {
            let got = &buf[r.start..r.start + r.len];
            let want = d.bytes(disk, r.offset, r.len);
            if got != &want[..] {
                let at = got.iter().zip(&want).position(|(a, b)| a != b).unwrap();
                panic!("{what}: disk {disk} region at {:#x} differs at byte {at:#x}", r.offset);
            }
        }
    }
}

#[test]
fn fixtures_load_cleanly_and_render_byte_exact() {
    for name in FIXTURES {
        let mut d = fixture(name);
        let (ddf, notes) = load(&mut d);
        assert!(notes.is_empty(), "{name}: {notes:?}");
        assert_eq!(ddf.members.len(), 3, "{name}");
        assert_eq!(ddf.volumes().count(), 2, "{name}");
        assert_eq!(ddf.confs.len(), 2, "{name}");
        assert!(ddf.members.iter().all(|m| m.pdnum.is_some()), "{name}: every disk has its phys entry");
        assert!(ddf.confs.iter().all(|c| c.vcnum.is_some()), "{name}: every config has its virtual entry");
        // The RAID1 is on disks 0 and 1, the RAID5 on all three.
        let vls: Vec<usize> = ddf.members.iter().map(|m| m.vlist.len()).collect();
        assert_eq!(vls, vec![2, 2, 1], "{name}");
        assert_renders_as_on_disk(&ddf, &mut d, name);
    }
}

#[test]
fn update_buffer_is_sized_by_the_config_record() {
    use crate::metadata::roles::*;
    let mut d = fixture(FIXTURES[0]);
    let (ddf, _) = load(&mut d);
    // mdadm's records are 7 sectors: a VD_CONF of MAX_BVDS records.
    assert_eq!(ddf.max_update_len(), 7 * 512 * MAX_BVDS);
}

#[test]
fn dirty_fixture_records_the_raid5_inconsistent() {
    let inconsistent = |name: &str| -> Vec<bool> {
        let mut d = fixture(name);
        let (ddf, _) = load(&mut d);
        ddf.volumes().map(|v| ddf.virt_entries().nth(v).unwrap().state() & 0x10 != 0).collect()
    };
    assert_eq!(inconsistent("ddf-r1-r5-clean"), vec![false, false]);
    assert_eq!(inconsistent("ddf-r5-dirty"), vec![false, true]);
}

fn header_lbas(d: &mut Disks, disk: usize) -> (u64, u64) {
    let size = d.0[disk].info.geom.size_bytes;
    let a = d.bytes(disk, size - 512, 512);
    (crate::wire::be64(&a, hdr::PRIMARY_LBA), crate::wire::be64(&a, hdr::SECONDARY_LBA))
}

#[test]
fn a_corrupt_primary_header_is_rejected_and_rewritten() {
    let mut d = fixture("ddf-r1-r5-clean");
    let (p, _) = header_lbas(&mut d, 0);
    let original = d.bytes(0, p * 512, 512);
    d.bytes_mut(0, p * 512 + 0x40, 1)[0] ^= 0x55;
    let (ddf, notes) = load(&mut d);
    assert!(
        notes.contains(&LoadNote::Rejected {
            dev: DevT { major: 7, minor: 0 },
            what: "primary header",
            why: CopyError::NoHeader
        }),
        "{notes:?}"
    );
    assert_eq!(ddf.members.len(), 3, "the disk is used through its secondary copy");
    // The next write puts the original header back.
    let mut buf = vec![0u8; ddf.render_len()];
    let r = ddf.render(0, None, &mut buf);
    let primary = r.iter().find(|r| r.offset == p * 512).unwrap();
    assert_eq!(&buf[primary.start..primary.start + 512], &original[..]);
}

#[test]
fn a_corrupt_global_section_is_taken_from_another_copy() {
    let mut d = fixture("ddf-r1-r5-clean");
    let (clean, _) = load(&mut d);
    // Break the physical disk section of every primary copy.
    for disk in 0..3 {
        let (p, _) = header_lbas(&mut d, disk);
        let h = d.bytes(disk, p * 512, 512);
        let (off, _) = section(&h, hdr::PHYS_SECTION);
        d.bytes_mut(disk, (p + u64::from(off)) * 512 + 200, 1)[0] ^= 0xFF;
    }
    let (ddf, notes) = load(&mut d);
    assert!(
        notes.iter().any(|n| matches!(n, LoadNote::Rejected { why: CopyError::BadSection("physical disk"), .. })),
        "{notes:?}"
    );
    assert_eq!(ddf.phys, clean.phys, "the intact secondary copy is used");
}

#[test]
fn a_disk_without_a_valid_anchor_is_left_out() {
    let mut d = fixture("ddf-r1-r5-clean");
    let size = d.0[1].info.geom.size_bytes;
    d.bytes_mut(1, size - 512 + 8, 1)[0] ^= 1;
    let (ddf, notes) = load(&mut d);
    assert!(notes.contains(&LoadNote::Rejected {
        dev: DevT { major: 7, minor: 1 },
        what: "metadata",
        why: CopyError::NoAnchor
    }));
    assert_eq!(ddf.members.len(), 2);
    assert_eq!(ddf.confs.len(), 2, "both VDs are still known from the other disks");
}

#[test]
fn a_corrupt_config_record_is_ignored_and_the_vd_kept() {
    let mut d = fixture("ddf-r1-r5-clean");
    let (p, _) = header_lbas(&mut d, 0);
    let h = d.bytes(0, p * 512, 512);
    let (off, _) = section(&h, hdr::CONFIG_SECTION);
    d.bytes_mut(0, (p + u64::from(off)) * 512 + 0x48, 1)[0] ^= 0x80;
    let (ddf, notes) = load(&mut d);
    assert!(notes.contains(&LoadNote::BadConfigRecord { dev: DevT { major: 7, minor: 0 }, index: 0 }), "{notes:?}");
    assert_eq!(ddf.confs.len(), 2);
}

#[test]
fn disks_of_two_containers_are_refused() {
    let mut d = fixture("ddf-r1-r5-clean");
    // Disk 2 claims another container in all three of its headers.
    let size = d.0[2].info.geom.size_bytes;
    let (p, s) = header_lbas(&mut d, 2);
    for off in [size - 512, p * 512, s * 512] {
        let h = d.bytes_mut(2, off, 512);
        h[hdr::GUID] ^= 1;
        view::seal(h);
    }
    let mut notes = Vec::new();
    assert_eq!(Ddf::load(&mut d, &mut notes).err(), Some(LoadError::MixedContainers));
}

/// Random bytes changed in the fixture's regions, then the CRCs re-sealed as
/// the fuzz target does, so the loader gets past them to the code behind:
/// a refusal says why, and a loaded container goes through the monitor's
/// sequence with every render inside its buffer and disk (the harness's
/// checks). Without the re-sealing the same changes leave fewer copies whole.
#[test]
fn garbage_disks_resealed_reach_the_loader() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ddf");
    let d = crate::harness::fixture(dir, "ddf-r1-r5-clean");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let (mut whole_sealed, mut whole_unsealed, mut loaded) = (0, 0, 0);
    let whole = |notes: &[LoadNote]| !notes.iter().any(|n| matches!(n, LoadNote::Rejected { .. }));
    for round in 0..200 {
        let mut dd = d.clone();
        for _ in 0..(1 + round % 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let disk = (x % dd.0.len() as u64) as usize;
            let k = (x >> 8) as usize % dd.0[disk].regions.len();
            let data = &mut dd.0[disk].regions[k].1;
            let at = (x >> 16) as usize % data.len();
            data[at] = (x >> 40) as u8;
        }
        let mut notes = Vec::new();
        if Ddf::load(&mut dd.clone(), &mut notes).is_ok() && whole(&notes) {
            whole_unsealed += 1;
        }
        dd.reseal_ddf();
        let mut notes = Vec::new();
        match Ddf::load(&mut dd, &mut notes) {
            Ok(mut ddf) => {
                loaded += 1;
                if whole(&notes) {
                    whole_sealed += 1;
                }
                let arrays = crate::harness::ddf_arrays(&mut ddf);
                crate::harness::exercise(ddf.as_mut(), &mut dd, arrays);
            }
            Err(LoadError::NoUsableCopy) => assert!(!notes.is_empty(), "refused without a reason"),
            Err(LoadError::MixedContainers) => {}
        }
    }
    assert!(loaded > 0, "no round loaded");
    assert!(whole_sealed > whole_unsealed, "whole copies: {whole_sealed} re-sealed, {whole_unsealed} not");
}

mod updates {
    use super::*;
    use crate::metadata::roles::*;

    fn virt_update(entry: &[u8]) -> Vec<u8> {
        let mut u = vec![0xFFu8; view::EntryUpdate::<&[u8]>::LEN];
        u[..4].copy_from_slice(&view::magic::VIRT.to_be_bytes());
        u[view::table::LEN..].copy_from_slice(entry);
        u
    }

    /// mdadm creating volume 1 again after it was killed: its VIRT entry,
    /// then its configuration record.
    #[test]
    fn kill_then_create_a_volume_through_updates() {
        let mut d = fixture("ddf-r1-r5-clean");
        let (mut ddf, _) = load(&mut d);
        let entry = ddf.virt_entries().nth(1).unwrap().as_bytes().to_vec();
        let c = ddf.conf_of(1).unwrap();
        let rec = ddf.confs[c].records[0].to_vec();
        let seq = ddf.generation();
        // Monitored: refused.
        let mut kill = entry.clone();
        kill[view::virt::STATE] = 0x02;
        assert!(ddf.process_update(&virt_update(&kill), &[1]).is_err());
        assert_eq!(ddf.volumes().count(), 2);
        ddf.process_update(&virt_update(&kill), &[0]).expect("killed");
        assert_eq!(ddf.volumes().collect::<Vec<_>>(), vec![0]);
        assert_eq!(ddf.confs.len(), 1);
        assert!(ddf.members.iter().all(|m| m.vlist.iter().all(|&x| usize::from(x) < ddf.confs.len())));
        assert_eq!(ddf.generation(), seq + 1);
        assert!(ddf.open_new(1).is_err());
        // The configuration before the VIRT entry is refused; then both in order.
        assert!(ddf.process_update(&rec, &[0]).is_err());
        ddf.process_update(&virt_update(&entry), &[0]).expect("VD added");
        assert!(ddf.process_update(&virt_update(&entry), &[0]).is_err(), "added once");
        ddf.process_update(&rec, &[0]).expect("configured");
        assert!(ddf.open_new(1).is_ok());
        assert_eq!(ddf.members.iter().map(|m| m.vlist.len()).collect::<Vec<_>>(), vec![2, 2, 1]);
        // Written and loaded again it is the same container as before.
        let n = ddf.begin_write();
        let mut buf = vec![0u8; ddf.render_len()];
        for i in 0..n {
            let disk = d.0.iter().position(|s| s.info.dev == ddf.members[i].dev).unwrap();
            for r in ddf.render(i, None, &mut buf) {
                d.bytes_mut(disk, r.offset, r.len).copy_from_slice(&buf[r.start..r.start + r.len]);
            }
        }
        let (again, notes) = load(&mut d);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(again.volumes().count(), 2);
        assert!(again.confs.iter().all(|c| c.vcnum.is_some()));
    }

    #[test]
    fn malformed_updates_are_refused_without_change() {
        let mut d = fixture("ddf-r1-r5-clean");
        let (mut ddf, _) = load(&mut d);
        let rec = ddf.confs[0].records[0].to_vec();
        let before = (ddf.phys.clone(), ddf.virt.clone());
        for (what, u) in [
            ("empty", vec![]),
            ("short VIRT", virt_update(&[0u8; 64])[..100].to_vec()),
            ("long PHYS", {
                let mut u = vec![0u8; 200];
                u[..4].copy_from_slice(&view::magic::PHYS.to_be_bytes());
                u
            }),
            ("VD_CONF cut", rec[..rec.len() - 1].to_vec()),
            ("unknown magic", vec![1, 2, 3, 4, 5, 6, 7, 8]),
        ] {
            assert!(ddf.process_update(&u, &[]).is_err(), "{what}");
        }
        assert!(!ddf.updates_pending());
        assert_eq!((ddf.phys.clone(), ddf.virt.clone()), before);
    }
}

mod add;
mod bounds;
mod handler;
mod split;
