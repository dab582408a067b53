//! 4K-native disks: the conversion of MPB fields between 4096- and 512-byte
//! units, on synthetic metadata and on fixtures captured in the VM from
//! Debian's mdadm 4.2 on loop devices with 4096-byte sectors.

use super::super::tests::{build_mpb, ctx_for, examine_field as examine};
use super::super::view::{dev as devf, disk as diskf, map as mapf, map_state, MigrType};
use super::super::*;
use super::*;
use crate::md::SyncAction;
use crate::metadata::roles::*;
use crate::metadata::{DiskInfo, NewDisk};
use crate::wire::set_le16;

const DISK_BYTES: u64 = 64 << 20;
/// The fixtures hold each disk's last 32 KiB.
const TAIL: usize = 32768;
const SS: usize = 4096;

/// Disks of 4096-byte sectors holding only their last [`TAIL`] bytes.
struct Disks4k {
    disks: Vec<(DiskInfo, Vec<u8>)>,
}

impl DiskSource for Disks4k {
    fn count(&self) -> usize {
        self.disks.len()
    }
    fn info(&self, i: usize) -> DiskInfo {
        self.disks[i].0
    }
    fn read(&mut self, i: usize, offset: u64, buf: &mut [u8]) -> Result<(), i32> {
        // O_DIRECT: whole sectors only.
        let ss = u64::from(self.disks[i].0.geom.sector_size);
        assert_eq!(offset % ss, 0, "unaligned read");
        assert_eq!(buf.len() as u64 % ss, 0, "partial-sector read");
        let o = offset.checked_sub(DISK_BYTES - TAIL as u64).ok_or(5)? as usize;
        buf.copy_from_slice(&self.disks[i].1[o..o + buf.len()]);
        Ok(())
    }
}

impl Disks4k {
    fn fixture(name: &str) -> Disks4k {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/imsm");
        let meta = std::fs::read_to_string(format!("{dir}/{name}.meta")).expect("meta");
        let get = |k: &str| meta.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(str::to_string);
        assert_eq!(get("disk_size").unwrap().parse::<u64>().unwrap(), DISK_BYTES);
        assert_eq!(get("sector_size").unwrap(), "4096");
        let n: usize = get("ndisks").unwrap().parse().unwrap();
        let disks = (0..n)
            .map(|i| {
                let tail = std::fs::read(format!("{dir}/{name}.disk{i}.bin")).expect("disk tail");
                assert_eq!(tail.len(), TAIL);
                let s = get(&format!("disk{i}_serial")).unwrap();
                let mut serial = [0u8; 16];
                serial[..s.len()].copy_from_slice(s.as_bytes());
                let geom = DiskGeom { size_bytes: DISK_BYTES, sector_size: SS as u32 };
                (DiskInfo { dev: DevT { major: 7, minor: i as u32 }, serial, geom }, tail)
            })
            .collect();
        Disks4k { disks }
    }

    /// The raw MPB (in 4K units) at the end of disk `i`.
    fn mpb(&self, i: usize) -> Vec<u8> {
        let t = &self.disks[i].1;
        let anchor = &t[TAIL - 2 * SS..TAIL - SS];
        let size = le32(anchor, header::MPB_SIZE) as usize;
        let k = size.div_ceil(SS);
        let mut out = anchor.to_vec();
        if k > 1 {
            out.extend_from_slice(&t[TAIL - (k + 1) * SS..TAIL - 2 * SS]);
        }
        out.truncate(size);
        out
    }

    /// Apply a metadata write the way the shell does, checking alignment.
    fn write_all(&mut self, md: &mut dyn Metadata) {
        let n = md.begin_write();
        // The size the daemon allocates: every test write goes through it.
        let mut buf = vec![0u8; md.render_len()];
        for i in 0..n {
            let Some(dev) = md.disk_dev(i) else { continue };
            let Some(d) = self.disks.iter_mut().find(|d| d.0.dev == dev) else { continue };
            for r in md.render(i, d.0.geom, &mut buf) {
                assert_eq!(r.offset % SS as u64, 0, "unaligned write");
                assert_eq!(r.len % SS, 0, "partial-sector write");
                let off = (r.offset - (DISK_BYTES - TAIL as u64)) as usize;
                d.1[off..off + r.len].copy_from_slice(&buf[r.start..r.start + r.len]);
            }
        }
        md.end_write();
    }
}

/// The leading number of an examine field ("8192 (32.00 MiB ...)" -> 8192).
fn examine_num(name: &str, field: &str) -> u64 {
    examine(name, field).split_whitespace().next().unwrap().parse().unwrap()
}

const FIXTURES: [&str; 3] = ["4k-raid1-clean", "4k-raid1-dirty", "4k-raid5-init"];

#[test]
fn fixtures_load_in_512_byte_units() {
    for name in FIXTURES {
        let mut d = Disks4k::fixture(name);
        let mut notes = Vec::new();
        let im = Imsm::load(&mut d, &mut notes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(notes.is_empty(), "{name}: {notes:?}");
        assert_eq!(im.sector_size(), 4096);
        assert_eq!(examine(name, "Sector Size"), "4096", "{name}");
        let v = im.volume(0).unwrap();
        // --examine prints sizes in the disk's sectors.
        assert_eq!(v.size(), 8 * examine_num(name, "Array Size"), "{name}");
        assert_eq!(v.map0().blocks_per_member(), 8 * examine_num(name, "Per Dev Size"), "{name}");
        assert_eq!(u64::from(v.map0().blocks_per_strip()) * 512, examine_num(name, "Chunk Size") * 1024, "{name}");
        assert_eq!(im.volume_dirty(0), Some(examine(name, "Dirty State") == "dirty"), "{name}");
        for m in im.members() {
            assert!(m.index >= 0, "{name}: every disk is a member");
            // 64 MiB: 131072 512-byte sectors.
            let total = u64::from(le32(&m.record, diskf::TOTAL_BLOCKS_LO));
            assert_eq!(total, 131072, "{name}");
        }
    }
}

#[test]
fn rewriting_a_fixture_changes_only_generation_and_checksum() {
    for name in FIXTURES {
        let mut d = Disks4k::fixture(name);
        let orig = d.mpb(0);
        let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
        im.pending = 1;
        d.write_all(im.as_mut());
        for i in 0..d.disks.len() {
            let now = d.mpb(i);
            let mut expect = orig.clone();
            set_le32(&mut expect, header::GENERATION_NUM, le32(&orig, header::GENERATION_NUM) + 1);
            set_le32(&mut expect, header::CHECK_SUM, 0);
            let sum = checksum(&expect, expect.len());
            set_le32(&mut expect, header::CHECK_SUM, sum);
            assert_eq!(now, expect, "{name} disk {i}");
            // The anchor is the second-to-last 4K sector, the migration
            // record (the last one) is cleared.
            assert!(d.disks[i].1[TAIL - SS..].iter().all(|&b| b == 0), "{name}");
        }
    }
}

#[test]
fn checkpoint_is_stored_in_disk_units_and_resumes_no_further() {
    let name = "4k-raid5-init";
    let mut d = Disks4k::fixture(name);
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    // "Checkpoint : 16 (768)": mdadm shows the unit scaled as the other fields.
    let shown: Vec<u64> =
        examine(name, "Checkpoint").split(|c: char| !c.is_ascii_digit()).filter_map(|s| s.parse().ok()).collect();
    let v = im.volume(0).unwrap();
    assert_eq!(v.migr_type(), MigrType::Init);
    assert_eq!(v.curr_migr_unit(), shown[0]);
    assert_eq!(im.blocks_per_migr_unit(0), shown[1]);
    let raw = Dev::new_unchecked(&d.mpb(0)[header::LEN + 3 * diskf::LEN..]).curr_migr_unit();
    assert_eq!(raw * 8, shown[0], "on disk in 4K units");
    // md reports progress: the checkpoint follows in memory ...
    let mut a = ctx_for(&im, 0, 5, 3);
    a.component_size = im.volume(0).unwrap().map0().per_dev_array_size();
    a.resync_start = shown[0] * shown[1];
    a.prev_action = SyncAction::Resync;
    a.curr_action = SyncAction::Resync;
    a.last_checkpoint = 21 * 768 + 5;
    im.set_array_state(&mut a, Consistency::Dirty);
    assert_eq!(im.volume(0).unwrap().curr_migr_unit(), 21);
    d.write_all(im.as_mut());
    // ... and on disk in 4K units, rounded down: a reload resumes at or
    // before md's position, never past it.
    let raw = Dev::new_unchecked(&d.mpb(0)[header::LEN + 3 * diskf::LEN..]).curr_migr_unit();
    assert_eq!(raw, 21 / 8);
    let back = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let unit = back.volume(0).unwrap().curr_migr_unit();
    assert_eq!(unit, 16);
    assert!(unit * back.blocks_per_migr_unit(0) <= a.last_checkpoint);
}

/// An MPB in 4K units: one RAID1 volume over two disks, with a bad-block log.
fn mpb_4k() -> Vec<u8> {
    let mut m = build_mpb(1, 2, map_state::NORMAL, 0x77, 3);
    // 4K units: disks of 16384 sectors, a volume of 4096, map at 8, strip 16.
    for i in 0..2 {
        set_le32(&mut m, header::LEN + diskf::LEN * i + diskf::TOTAL_BLOCKS_LO, 16384);
    }
    let d = header::LEN + 2 * diskf::LEN;
    set_le32(&mut m, d + devf::SIZE_LOW, 4096);
    set_le32(&mut m, d + devf::CURR_MIGR_UNIT_LO, 3);
    set_le32(&mut m, d + devf::LEN + mapf::PBA_OF_LBA0_LO, 8);
    set_le32(&mut m, d + devf::LEN + mapf::BLOCKS_PER_MEMBER_LO, 4352);
    set_le16(&mut m, d + devf::LEN + mapf::BLOCKS_PER_STRIP, 16);
    // Two entries: 1 sector at 5 on disk 0, 32 sectors at 2^44 on disk 1.
    let mut bbm = vec![0u8; 24];
    set_le32(&mut bbm, 0, 0xABAD_B10C);
    set_le32(&mut bbm, 4, 2);
    bbm[8] = 0;
    bbm[9] = 0;
    bbm[10] = 5;
    bbm[16] = 31;
    bbm[17] = 1;
    set_le32(&mut bbm, 20, 1 << 28);
    m.extend_from_slice(&bbm);
    set_le32(&mut m, header::BBM_LOG_SIZE, 24);
    let n = m.len() as u32;
    set_le32(&mut m, header::MPB_SIZE, n);
    m
}

#[test]
fn from_4k_scales_every_sector_field_and_to_4k_undoes_it() {
    let raw = mpb_4k();
    let mut m = raw.clone();
    from_4k(&mut m).unwrap();
    let im = Imsm::from_mpb(&m).unwrap();
    assert_eq!(le32(&im.table[1], diskf::TOTAL_BLOCKS_LO), 16384 * 8);
    let v = im.volume(0).unwrap();
    assert_eq!(v.size(), 4096 * 8);
    assert_eq!(v.curr_migr_unit(), 3 * 8);
    assert_eq!(v.map0().pba_of_lba0(), 64);
    assert_eq!(v.map0().blocks_per_member(), 4352 * 8);
    assert_eq!(v.map0().blocks_per_strip(), 128);
    // The stripe count is not a sector count.
    assert_eq!(v.map0().num_data_stripes(), Dev::new_unchecked(&raw[header::LEN + 96..]).map0().num_data_stripes());
    assert_eq!(im.bbm_len(), 2);
    assert_eq!(im.bbm_entry(0).range, crate::badblocks::BadRange { start: 40, len: 8 });
    assert_eq!(im.bbm_entry(1).range, crate::badblocks::BadRange { start: 1 << 47, len: 256 });
    assert_eq!(im.bbm_entry(1).disk, 1);
    to_4k(&mut m);
    assert_eq!(m, raw);
}

#[test]
fn values_that_do_not_fit_once_scaled_reject_the_copy() {
    let d = header::LEN + 2 * diskf::LEN;
    type Spoil = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: [(&str, Spoil); 4] = [
        ("strip", Box::new(move |m| set_le16(m, d + devf::LEN + mapf::BLOCKS_PER_STRIP, 8192))),
        ("size", Box::new(move |m| set_le32(m, d + devf::SIZE_HIGH, 0x2000_0000))),
        (
            "bbm start",
            Box::new(|m| {
                let o = m.len() - 24 + 8;
                set_le32(m, o + 4, 1 << 29)
            }),
        ),
        (
            "bbm length",
            Box::new(|m| {
                let o = m.len() - 24 + 8;
                m[o] = 32
            }),
        ),
    ];
    for (what, f) in cases {
        let mut m = mpb_4k();
        f(&mut m);
        assert!(matches!(from_4k(&mut m), Err(CopyError::Malformed(_))), "{what}");
    }
    // The largest values that fit are accepted.
    let mut m = mpb_4k();
    set_le16(&mut m, d + devf::LEN + mapf::BLOCKS_PER_STRIP, 8191);
    set_le32(&mut m, d + devf::SIZE_HIGH, 0x1FFF_FFFF);
    assert!(from_4k(&mut m).is_ok());
}

#[test]
fn a_range_not_on_4k_boundaries_is_covered_when_written() {
    let mut m = mpb_4k();
    from_4k(&mut m).unwrap();
    // 512-byte sectors 13..=22 (10 sectors) touch 4K sectors 1 and 2.
    let o = m.len() - 24 + 8;
    m[o] = 9;
    m[o + 2..o + 4].copy_from_slice(&13u16.to_le_bytes());
    to_4k(&mut m);
    assert_eq!((m[o], m[o + 2]), (1, 1), "two 4K sectors from 1");
    // A full entry of 256 sectors starting mid-sector stays within 32.
    let mut m = mpb_4k();
    from_4k(&mut m).unwrap();
    m[o] = 255;
    m[o + 2] = 3;
    to_4k(&mut m);
    assert_eq!((m[o], m[o + 2]), (31, 0));
}

#[test]
fn a_member_of_another_sector_size_is_not_used() {
    let mut d = Disks4k::fixture("4k-raid1-clean");
    d.disks[1].0.geom.sector_size = 512;
    let mut notes = Vec::new();
    let im = Imsm::load(&mut d, &mut notes).unwrap();
    assert!(notes.contains(&LoadNote::SectorSize { dev: DevT { major: 7, minor: 1 }, size: 512 }), "{notes:?}");
    assert_eq!(im.members().len(), 1);
    // Nor is a spare of another size; one of the same size is.
    let mut im = im;
    let serial = *b"/dev/loop9\0\0\0\0\0\0";
    let geom = DiskGeom { size_bytes: DISK_BYTES, sector_size: 512 };
    assert!(!im.add_disk(NewDisk { dev: DevT { major: 7, minor: 9 }, serial, geom, scsi_id: 0, random: 0 }));
    let geom = DiskGeom { size_bytes: DISK_BYTES, sector_size: 4096 };
    assert!(im.add_disk(NewDisk { dev: DevT { major: 7, minor: 9 }, serial, geom, scsi_id: 0, random: 0 }));
}

#[test]
fn a_spare_on_a_4k_disk_records_its_size_in_4k_sectors() {
    let mut d = Disks4k::fixture("4k-raid1-clean");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let serial = *b"/dev/loop2\0\0\0\0\0\0";
    let geom = DiskGeom { size_bytes: DISK_BYTES, sector_size: 4096 };
    let info = DiskInfo { dev: DevT { major: 7, minor: 2 }, serial, geom };
    assert!(im.add_disk(NewDisk { dev: info.dev, serial, geom, scsi_id: 0, random: 0 }));
    d.disks.push((info, vec![0u8; TAIL]));
    d.write_all(im.as_mut());
    let spare = d.mpb(2);
    assert_eq!(spare[header::NUM_RAID_DEVS], 0);
    assert_eq!(le32(&spare, header::LEN + diskf::TOTAL_BLOCKS_LO), (DISK_BYTES / 4096) as u32);
    assert_eq!(checksum(&spare, spare.len()), le32(&spare, header::CHECK_SUM));
    // Read back, the spare is known again, in 512-byte units.
    let back = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let m = back.members().iter().find(|m| m.dev.minor == 2).unwrap();
    assert_eq!(m.index, -1);
    assert_eq!(le32(&m.record, diskf::TOTAL_BLOCKS_LO), (DISK_BYTES / 512) as u32);
}
