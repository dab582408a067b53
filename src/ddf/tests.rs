//! Tests of the DDF codec on fixtures captured from Debian's mdadm 4.2 and
//! its C mdmon (`tests/vm/capture-ddf-fixtures.sh`), and on copies of them
//! corrupted in the ways a disk can be.

use super::*;
use crate::imsm::{DiskInfo, DiskSource};
use crate::metadata::DiskGeom;
use crate::wire::be32;
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
fn dirty_fixture_records_the_raid5_inconsistent() {
    let inconsistent = |name: &str| -> Vec<bool> {
        let mut d = fixture(name);
        let (ddf, _) = load(&mut d);
        ddf.volumes().map(|v| ddf.virt_entries().nth(v).unwrap()[view::virt::STATE] & 0x10 != 0).collect()
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

mod handler {
    use super::*;
    use crate::md::{DevState, MAX_SECTOR};
    use crate::metadata::{ArrayCtx, Consistency, Metadata, SlotInfo};

    fn ctx(ddf: &Ddf, inst: u32, level: i32, n: u32) -> ArrayCtx {
        let c = ddf.conf_of(inst).unwrap();
        let mut slots = ArrayVec::new();
        for s in 0..n {
            // The disk the configuration names for slot s.
            let (k, p) = ddf.slot_position(c, s).unwrap();
            let refnum = be32(&ddf.confs[c].records[k], view::conf::PHYS_REFNUM + 4 * p);
            let dev = ddf.members.iter().find(|m| be32(&m.disk_data, view::disk_data::REFNUM) == refnum).unwrap().dev;
            slots.push(SlotInfo { slot: s, dev, recovery_start: MAX_SECTOR, state: DevState(DevState::INSYNC) });
        }
        ArrayCtx::new(inst, level, 0, n, 32768, slots)
    }

    /// Write every member the way the shell does and load the result.
    fn write_and_reload(ddf: &mut Ddf, d: &mut Disks) -> Box<Ddf> {
        let n = ddf.begin_write();
        let mut buf = vec![0u8; ddf.render_len()];
        for i in 0..n {
            let dev = ddf.disk_dev(i).unwrap();
            let disk = d.0.iter().position(|s| s.info.dev == dev).unwrap();
            let geom = d.0[disk].info.geom;
            for r in Metadata::render(ddf, i, geom, &mut buf) {
                d.bytes_mut(disk, r.offset, r.len).copy_from_slice(&buf[r.start..r.start + r.len]);
            }
        }
        ddf.end_write();
        let (out, notes) = load(d);
        assert!(notes.is_empty(), "{notes:?}");
        out
    }

    #[test]
    fn dirty_then_clean_advances_the_sequence_once_per_write() {
        let mut d = fixture("ddf-r1-r5-clean");
        let (mut ddf, _) = load(&mut d);
        ddf.set_clock(DDF_EPOCH + 1000);
        let seq0 = ddf.generation();
        let mut a = ctx(&ddf, 1, 5, 3);
        assert!(!ddf.set_array_state(&mut a, Consistency::Dirty));
        assert!(ddf.updates_pending());
        assert_eq!(ddf.volume_dirty(1), Some(true));
        assert_eq!(ddf.volume_dirty(0), Some(false));
        // A second change before the write does not advance it again.
        let mut b = ctx(&ddf, 0, 1, 2);
        ddf.set_array_state(&mut b, Consistency::Dirty);
        assert_eq!(ddf.generation(), seq0 + 1);
        let mut ddf = write_and_reload(&mut ddf, &mut d);
        assert_eq!(ddf.generation(), seq0 + 1);
        assert_eq!((ddf.volume_dirty(0), ddf.volume_dirty(1)), (Some(true), Some(true)));
        let mut a = ctx(&ddf, 1, 5, 3);
        assert!(ddf.set_array_state(&mut a, Consistency::Clean));
        // Unchanged: nothing to write.
        let pending = ddf.updates_pending();
        let ddf2 = write_and_reload(&mut ddf, &mut d);
        assert!(pending);
        assert_eq!(ddf2.volume_dirty(1), Some(false));
        assert_eq!(ddf2.generation(), seq0 + 2);
        let mut a = ctx(&ddf2, 1, 5, 3);
        let mut ddf2 = ddf2;
        ddf2.set_array_state(&mut a, Consistency::Clean);
        assert!(!ddf2.updates_pending(), "already clean: no write");
    }

    #[test]
    fn an_incomplete_resync_starts_active_and_records_the_init_state() {
        let mut d = fixture("ddf-r1-r5-clean");
        let (mut ddf, _) = load(&mut d);
        let mut a = ctx(&ddf, 1, 5, 3);
        a.resync_start = 0;
        assert!(!ddf.set_array_state(&mut a, Consistency::Starting), "must go active to resync");
        let e = ddf.virt_entries().nth(1).unwrap();
        assert_eq!(e[view::virt::INIT_STATE] & 3, 0, "not initialised");
        a.resync_start = 1000;
        ddf.set_array_state(&mut a, Consistency::Dirty);
        assert_eq!(ddf.virt_entries().nth(1).unwrap()[view::virt::INIT_STATE] & 3, 1, "partly (no position kept)");
        a.resync_start = MAX_SECTOR;
        assert!(ddf.set_array_state(&mut a, Consistency::Starting));
        assert_eq!(ddf.virt_entries().nth(1).unwrap()[view::virt::INIT_STATE] & 3, 2);
        assert_eq!(ddf.resume_position(&a, 0), None, "DDF keeps no rebuild position");
    }

    #[test]
    fn a_failed_disk_degrades_every_volume_on_it() {
        let mut d = fixture("ddf-r1-r5-clean");
        let (mut ddf, _) = load(&mut d);
        ddf.set_clock(DDF_EPOCH + 5000);
        let seqnum = |ddf: &Ddf, c: usize| be32(&ddf.confs[c].records[0], view::conf::SEQNUM);
        let (c1, c5) = (ddf.conf_of(0).unwrap(), ddf.conf_of(1).unwrap());
        let (s1, s5) = (seqnum(&ddf, c1), seqnum(&ddf, c5));
        let mut r1 = ctx(&ddf, 0, 1, 2);
        let mut r5 = ctx(&ddf, 1, 5, 3);
        // Slot 0 of the RAID1 fails; the monitor reports it in both arrays.
        let dev = r1.slots[0].dev;
        let slot5 = r5.slots.iter().find(|s| s.dev == dev).unwrap().slot;
        ddf.set_disk(&mut r1, 0, DevState(DevState::FAULTY));
        ddf.set_disk(&mut r5, slot5, DevState(DevState::FAULTY));
        let state = |ddf: &Ddf, v: usize| ddf.virt_entries().nth(v).unwrap()[view::virt::STATE] & vd_state::MASK;
        assert_eq!((state(&ddf, 0), state(&ddf, 1)), (vd_state::DEGRADED, vd_state::DEGRADED));
        assert_eq!(seqnum(&ddf, c1), s1 + 1);
        assert!(seqnum(&ddf, c5) > s5);
        assert_eq!(be32(&ddf.confs[c1].records[0], view::conf::TIMESTAMP), 5000);
        let ddf = write_and_reload(&mut ddf, &mut d);
        let pd = ddf.members.iter().find(|m| m.dev == dev).unwrap().pdnum.unwrap();
        assert_ne!(ddf.pd_state(pd) & pd_state::FAILED, 0);
        assert_eq!((state(&ddf, 0), state(&ddf, 1)), (vd_state::DEGRADED, vd_state::DEGRADED));
        // A second disk of the RAID5 fails: the RAID5 fails, the RAID1 (on
        // disks 0 and 1) fails only if that disk was its other member.
        let mut ddf = ddf;
        let mut r5 = ctx(&ddf, 1, 5, 3);
        let other = r5.slots.iter().find(|s| s.dev != dev).unwrap().clone();
        ddf.set_disk(&mut r5, other.slot, DevState(DevState::FAULTY));
        assert_eq!(state(&ddf, 1), vd_state::FAILED);
    }

    #[test]
    fn a_disk_recorded_failed_is_reported_for_every_array() {
        let mut d = fixture("ddf-r1-r5-clean");
        let (mut ddf, _) = load(&mut d);
        let mut r1 = ctx(&ddf, 0, 1, 2);
        let (dev, other) = (r1.slots[0].dev, r1.slots[1].dev);
        assert!(!ddf.disk_failed(dev) && !ddf.disk_failed(other), "all disks start Online");
        ddf.set_disk(&mut r1, 0, DevState(DevState::FAULTY));
        // A volume then started on it (e.g. created meanwhile) loses it.
        assert!(ddf.disk_failed(dev));
        assert!(!ddf.disk_failed(other));
        assert!(!ddf.disk_failed(DevT { major: 1, minor: 99 }), "unknown disk");
    }

    #[test]
    fn a_member_missing_at_start_is_recorded_failed_and_missing() {
        let mut d = fixture("ddf-r1-r5-clean");
        // Disk 2 (only in the RAID5) is gone.
        d.0.remove(2);
        let (mut ddf, _) = load(&mut d);
        let c5 = ddf.conf_of(1).unwrap();
        let mut a = ctx_missing(&ddf, 1, 3);
        ddf.set_array_state(&mut a, Consistency::Starting);
        assert!(a.check_degraded);
        let state = ddf.virt_entries().nth(1).unwrap()[view::virt::STATE] & vd_state::MASK;
        assert_eq!(state, vd_state::DEGRADED);
        let refs: Vec<u32> = (0..3).map(|p| be32(&ddf.confs[c5].records[0], view::conf::PHYS_REFNUM + 4 * p)).collect();
        assert!(refs.contains(&0), "the missing member's refnum is cleared: {refs:x?}");
        let failed_missing = ddf
            .phys_entries()
            .filter(|e| !view::is_all_ff(&e[..GUID_LEN]))
            .filter(|e| {
                be16(e, view::phys::STATE) & (pd_state::FAILED | pd_state::MISSING)
                    == pd_state::FAILED | pd_state::MISSING
            })
            .count();
        assert_eq!(failed_missing, 1);
        // The RAID1 has both its disks.
        let mut b = ctx(&ddf, 0, 1, 2);
        ddf.set_array_state(&mut b, Consistency::Starting);
        assert!(!b.check_degraded);
    }

    /// A context for a VD some of whose disks are absent (only present slots tracked).
    fn ctx_missing(ddf: &Ddf, inst: u32, n: u32) -> ArrayCtx {
        let c = ddf.conf_of(inst).unwrap();
        let mut a = ctx_shell(inst, n);
        for s in 0..n {
            let (k, p) = ddf.slot_position(c, s).unwrap();
            let refnum = be32(&ddf.confs[c].records[k], view::conf::PHYS_REFNUM + 4 * p);
            if let Some(m) = ddf.members.iter().find(|m| be32(&m.disk_data, view::disk_data::REFNUM) == refnum) {
                a.slots.push(SlotInfo {
                    slot: s,
                    dev: m.dev,
                    recovery_start: MAX_SECTOR,
                    state: DevState(DevState::INSYNC),
                });
            }
        }
        a
    }

    fn ctx_shell(inst: u32, n: u32) -> ArrayCtx {
        ArrayCtx::new(inst, 5, 0, n, 32768, ArrayVec::new())
    }

    #[test]
    fn updates_are_refused_without_change_and_unknown_volumes_not_opened() {
        let mut d = fixture("ddf-r1-r5-clean");
        let (mut ddf, _) = load(&mut d);
        assert!(ddf.open_new(0).is_ok() && ddf.open_new(1).is_ok());
        assert!(ddf.open_new(2).is_err() && ddf.open_new(60000).is_err());
        assert!(ddf.process_update(&[0xEE, 0xEE, 0xEE, 0xEE, 0, 0], &[]).is_err());
        assert!(!ddf.updates_pending());
    }
}

mod updates {
    use super::*;
    use crate::metadata::Metadata;

    fn virt_update(entry: &[u8]) -> Vec<u8> {
        let mut u = vec![0xFFu8; 128];
        u[..4].copy_from_slice(&view::magic::VIRT.to_be_bytes());
        u[64..128].copy_from_slice(entry);
        u
    }

    /// mdadm creating volume 1 again after it was killed: its VIRT entry,
    /// then its configuration record.
    #[test]
    fn kill_then_create_a_volume_through_updates() {
        let mut d = fixture("ddf-r1-r5-clean");
        let (mut ddf, _) = load(&mut d);
        let entry = ddf.virt_entries().nth(1).unwrap().to_vec();
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

mod add {
    use super::*;
    use crate::metadata::{Metadata, NewDisk};

    #[test]
    fn a_new_disk_becomes_a_global_spare_with_its_own_copies() {
        let mut d = fixture("ddf-r1-r5-clean");
        let (mut ddf, _) = load(&mut d);
        ddf.set_clock(1_796_083_200); // 2026-12-01
        let size = d.0[0].info.geom.size_bytes;
        let dev = DevT { major: 7, minor: 9 };
        let geom = DiskGeom { size_bytes: size, sector_size: 512 };
        let used = be16(&ddf.phys, view::table::USED);
        assert!(ddf.add_disk(NewDisk { dev, serial: [0; 16], geom, random: 0x1234_5678_9abc_def1 }));
        assert!(!ddf.add_disk(NewDisk { dev, serial: [0; 16], geom, random: 7 }), "added once");
        let tiny = NewDisk {
            dev: DevT { major: 7, minor: 10 },
            serial: [0; 16],
            geom: DiskGeom { size_bytes: 16 << 20, sector_size: 512 },
            random: 7,
        };
        assert!(!ddf.add_disk(tiny), "too small for DDF");
        assert_eq!(be16(&ddf.phys, view::table::USED), used + 1);
        let m = ddf.members.last().unwrap().clone();
        let first = ddf.members[0].clone();
        assert_eq!(
            (m.primary_lba, m.secondary_lba, m.workspace_lba),
            (first.primary_lba, first.secondary_lba, first.workspace_lba)
        );
        assert_eq!(&m.disk_data[view::disk_data::GUID..view::disk_data::GUID + 16], b"Linux-MD20261201");
        let pd = m.pdnum.unwrap();
        let e = ddf.phys_entries().nth(pd).unwrap();
        assert_eq!(&e[..GUID_LEN], &m.disk_data[view::disk_data::GUID..view::disk_data::GUID + GUID_LEN]);
        assert_eq!(be16(e, view::phys::TYPE), 0x01 | 0x04, "forced GUID, global spare");
        assert_eq!(be16(e, view::phys::STATE), pd_state::ONLINE);
        let refnum = be32(e, view::phys::REFNUM);
        assert_eq!(ddf.phys_entries().filter(|x| be32(x, view::phys::REFNUM) == refnum).count(), 1, "unique refnum");
        // Written to the new disk too, and loaded back with it.
        let mut copies = Vec::new();
        let mut buf = vec![0u8; ddf.render_len()];
        let n = ddf.begin_write();
        for i in 0..n {
            let dev_i = ddf.disk_dev(i).unwrap();
            let regions = Metadata::render(&*ddf, i, geom, &mut buf);
            let regs: Vec<(u64, Vec<u8>)> =
                regions.iter().map(|r| (r.offset, buf[r.start..r.start + r.len].to_vec())).collect();
            copies.push((dev_i, regs));
        }
        let disks = Disks(
            copies
                .into_iter()
                .map(|(dev, regions)| SparseDisk { info: DiskInfo { dev, serial: [0; 16], geom }, regions })
                .collect(),
        );
        let mut disks = disks;
        let (again, notes) = load(&mut disks);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(again.members.len(), 4);
        assert!(again.members.iter().all(|m| m.pdnum.is_some()));
    }
}
mod bounds;
