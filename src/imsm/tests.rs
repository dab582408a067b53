//! Tests of the IMSM codec and handler on synthetic metadata (built the way
//! mdadm lays it out) and on fixtures captured from Debian's mdadm.

use super::load::disk_record;
use super::*;
use crate::metadata::SlotInfo;
use crate::wire::set_le16;
use view::{dev as devf, disk as diskf, map as mapf, ord_to_idx};

/// Build an MPB for one volume over `n` disks, as mdadm's create would.
pub(crate) fn build_mpb(level: u8, n: usize, state: u8, family: u32, gen: u32) -> Vec<u8> {
    let mut m = vec![0u8; header::LEN];
    m[..24].copy_from_slice(view::SIGNATURE);
    m[24..30].copy_from_slice(b"1.3.00");
    set_le32(&mut m, header::FAMILY_NUM, family);
    set_le32(&mut m, header::ORIG_FAMILY_NUM, family);
    set_le32(&mut m, header::GENERATION_NUM, gen);
    set_le32(&mut m, header::ATTRIBUTES, 0x8000_0000 | 0x2);
    m[header::NUM_DISKS] = n as u8;
    m[header::NUM_RAID_DEVS] = 1;
    for i in 0..n {
        let mut r = [0u8; 48];
        let s = format!("/dev/loop{i}");
        r[..s.len()].copy_from_slice(s.as_bytes());
        set_le32(&mut r, diskf::TOTAL_BLOCKS_LO, 131072);
        set_le32(&mut r, diskf::STATUS, diskf::CONFIGURED);
        m.extend_from_slice(&r);
    }
    let mut d = vec![0u8; devf::LEN + mapf::LEN + 4 * n];
    d[..4].copy_from_slice(b"vol0");
    set_le32(&mut d, devf::SIZE_LOW, 32768);
    set_le32(&mut d, devf::STATUS, 0x0c);
    let mo = devf::LEN;
    set_le32(&mut d, mo + mapf::BLOCKS_PER_MEMBER_LO, 32768 / 2 * 2 + 2048);
    let bps: u16 = 128;
    let data = match level {
        1 | 10 => n / 2,
        5 => n - 1,
        _ => n,
    } as u32;
    set_le32(
        &mut d,
        mo + mapf::NUM_DATA_STRIPES_LO,
        32768 / data / u32::from(bps) / if matches!(level, 1 | 10) { 2 } else { 1 },
    );
    set_le16(&mut d, mo + mapf::BLOCKS_PER_STRIP, bps);
    d[mo + mapf::MAP_STATE] = state;
    d[mo + mapf::RAID_LEVEL] = if level == 10 { 1 } else { level };
    d[mo + mapf::NUM_MEMBERS] = n as u8;
    d[mo + mapf::NUM_DOMAINS] = if matches!(level, 1 | 10) { 2 } else { 1 };
    d[mo + mapf::FAILED_DISK_NUM] = 0xff;
    d[mo + 19] = 1;
    for i in 0..n {
        set_le32(&mut d, mo + mapf::ORD_TBL + 4 * i, i as u32);
    }
    m.extend_from_slice(&d);
    let size = m.len() as u32;
    set_le32(&mut m, header::MPB_SIZE, size);
    let sum = checksum(&m, m.len());
    set_le32(&mut m, header::CHECK_SUM, sum);
    m
}

/// In-memory disks holding only their last `TAIL` bytes.
pub(crate) struct MemDisks {
    pub disks: Vec<(DiskInfo, Vec<u8>)>,
}

pub(crate) const TAIL: usize = 8192;
pub(crate) const DISK_BYTES: u64 = 64 << 20;

impl MemDisks {
    /// Disks `/dev/loop0..n` each carrying `mpb` written as mdadm would.
    pub fn with(mpbs: &[Vec<u8>]) -> MemDisks {
        let disks = mpbs
            .iter()
            .enumerate()
            .map(|(i, mpb)| {
                let mut serial = [0u8; 16];
                let s = format!("/dev/loop{i}");
                serial[..s.len()].copy_from_slice(s.as_bytes());
                let info = DiskInfo {
                    dev: DevT { major: 7, minor: i as u32 },
                    serial,
                    geom: DiskGeom { size_bytes: DISK_BYTES, sector_size: 512 },
                };
                let mut tail = vec![0u8; TAIL];
                write_mpb(&mut tail, mpb);
                (info, tail)
            })
            .collect();
        MemDisks { disks }
    }

    /// The MPB bytes found at the end of disk `i`.
    pub fn mpb(&self, i: usize) -> Vec<u8> {
        let t = &self.disks[i].1;
        let anchor = &t[TAIL - 1024..TAIL - 512];
        let size = le32(anchor, header::MPB_SIZE) as usize;
        let k = size.div_ceil(512);
        let mut out = anchor.to_vec();
        if k > 1 {
            out.extend_from_slice(&t[TAIL - (k + 1) * 512..TAIL - 1024]);
        }
        out.truncate(size);
        out
    }

    /// Apply a metadata write the way the shell does.
    pub fn write_all(&mut self, md: &mut dyn Metadata) {
        let n = md.begin_write();
        let mut buf = vec![0u8; 70000];
        for i in 0..n {
            let Some(dev) = md.disk_dev(i) else { continue };
            let Some(d) = self.disks.iter_mut().find(|d| d.0.dev == dev) else {
                continue;
            };
            let regions = md.render(i, d.0.geom, &mut buf);
            for r in regions {
                let off = (r.offset - (DISK_BYTES - TAIL as u64)) as usize;
                d.1[off..off + r.len].copy_from_slice(&buf[r.start..r.start + r.len]);
            }
        }
        md.end_write();
    }
}

fn write_mpb(tail: &mut [u8], mpb: &[u8]) {
    let k = mpb.len().div_ceil(512);
    let anchor_end = mpb.len().min(512);
    tail[TAIL - 1024..TAIL - 1024 + anchor_end].copy_from_slice(&mpb[..anchor_end]);
    if k > 1 {
        let ext = &mpb[512..];
        let start = TAIL - (k + 1) * 512;
        tail[start..start + ext.len()].copy_from_slice(ext);
    }
}

impl DiskSource for MemDisks {
    fn count(&self) -> usize {
        self.disks.len()
    }
    fn info(&self, i: usize) -> DiskInfo {
        self.disks[i].0
    }
    fn read(&mut self, i: usize, offset: u64, buf: &mut [u8]) -> Result<(), i32> {
        let base = DISK_BYTES - TAIL as u64;
        if offset < base {
            return Err(5);
        }
        let o = (offset - base) as usize;
        buf.copy_from_slice(&self.disks[i].1[o..o + buf.len()]);
        Ok(())
    }
}

pub(crate) fn ctx_for(im: &Imsm, inst: u32, level: i32, n: u32) -> ArrayCtx {
    let mut slots = ArrayVec::new();
    for s in 0..n {
        // The device the metadata names for the slot (the fixtures' disk i is minor i).
        let minor = im.volume(inst as usize).map(|v| ord_to_idx(v.map0().ord(s as usize))).unwrap_or(s);
        slots.push(SlotInfo {
            slot: s,
            dev: DevT { major: 7, minor },
            recovery_start: MAX_SECTOR,
            state: DevState(DevState::INSYNC),
        });
    }
    ArrayCtx::new(inst, level, if level == 10 { 0x102 } else { 0 }, n, 16384, slots)
}

pub(crate) fn load(d: &mut MemDisks) -> (Box<Imsm>, Vec<LoadNote>) {
    let mut notes = Vec::new();
    let im = Imsm::load(d, &mut notes).expect("loads");
    (im, notes)
}

#[test]
fn checksum_excludes_its_own_field() {
    let m = build_mpb(1, 2, map_state::NORMAL, 0x1234, 5);
    let stored = le32(&m, header::CHECK_SUM);
    assert_eq!(checksum(&m, m.len()), stored);
    let mut m2 = m.clone();
    set_le32(&mut m2, header::CHECK_SUM, 0xdead_beef);
    assert_eq!(checksum(&m2, m2.len()), stored);
}

#[test]
fn loads_two_good_copies() {
    let m = build_mpb(1, 2, map_state::NORMAL, 0x1234, 5);
    let mut d = MemDisks::with(&[m.clone(), m]);
    let (im, notes) = load(&mut d);
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(im.members().len(), 2);
    assert_eq!(im.members()[0].index, 0);
    assert_eq!(im.members()[1].index, 1);
    assert_eq!(im.num_volumes(), 1);
    assert_eq!(im.generation(), 5);
    assert_eq!(im.volume(0).unwrap().map0().level(), 1);
}

#[test]
fn corrupt_copy_is_rejected_and_rewritten_from_the_good_one() {
    let m = build_mpb(1, 2, map_state::NORMAL, 0x1234, 5);
    let mut bad = m.clone();
    bad[header::LEN + 20] ^= 0xff; // flip a byte in the disk table
    let mut d = MemDisks::with(&[m.clone(), bad]);
    let (mut im, notes) = load(&mut d);
    assert_eq!(notes.len(), 1);
    assert!(matches!(notes[0], LoadNote::Rejected { why: CopyError::BadChecksum { .. }, .. }));
    assert_eq!(im.members().len(), 2, "the disk is still a member by serial");
    let mut a = ctx_for(&im, 0, 1, 2);
    im.set_array_state(&mut a, Consistency::Dirty);
    d.write_all(im.as_mut());
    assert_eq!(d.mpb(0), d.mpb(1), "both disks now carry the same metadata");
    let again = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    assert_eq!(again.generation(), 6);
}

#[test]
fn newer_generation_wins() {
    let old = build_mpb(1, 2, map_state::NORMAL, 0x1234, 5);
    let mut new = build_mpb(1, 2, map_state::NORMAL, 0x1234, 9);
    new[header::LEN + 2 * 48 + 90] = 1; // dirty in the newer copy
    let sum = checksum(&new, new.len());
    set_le32(&mut new, header::CHECK_SUM, sum);
    let mut d = MemDisks::with(&[old, new]);
    let (im, notes) = load(&mut d);
    assert_eq!(im.generation(), 9);
    assert_eq!(im.volume_dirty(0), Some(true));
    assert!(notes.iter().any(|n| matches!(n, LoadNote::Stale { gen: 5, .. })));
}

#[test]
fn no_usable_copy_is_an_error() {
    let mut junk = vec![0u8; 512];
    junk[..4].copy_from_slice(b"junk");
    let mut d = MemDisks::with(&[junk.clone(), junk]);
    let mut notes = Vec::new();
    assert_eq!(Imsm::load(&mut d, &mut notes).err(), Some(LoadError::NoUsableCopy));
    assert_eq!(notes.len(), 2);
}

#[test]
fn impossible_sizes_are_rejected() {
    let mut m = build_mpb(1, 2, map_state::NORMAL, 1, 1);
    set_le32(&mut m, header::MPB_SIZE, 100);
    let mut d = MemDisks::with(&[m]);
    let mut notes = Vec::new();
    assert!(Imsm::load(&mut d, &mut notes).is_err());
    assert!(matches!(notes[0], LoadNote::Rejected { why: CopyError::BadSize(100), .. }));
    // A table claiming more volumes than fit.
    let mut m = build_mpb(1, 2, map_state::NORMAL, 1, 1);
    m[header::NUM_RAID_DEVS] = 3;
    let sum = checksum(&m, m.len());
    set_le32(&mut m, header::CHECK_SUM, sum);
    let mut d = MemDisks::with(&[m]);
    let mut notes = Vec::new();
    assert!(Imsm::load(&mut d, &mut notes).is_err());
    assert!(matches!(notes[0], LoadNote::Rejected { why: CopyError::Malformed(_), .. }));
}

#[test]
fn dirty_then_clean_round_trip_bumps_generation() {
    let m = build_mpb(1, 2, map_state::NORMAL, 0x77, 3);
    let mut d = MemDisks::with(&[m.clone(), m]);
    let (mut im, _) = load(&mut d);
    let mut a = ctx_for(&im, 0, 1, 2);
    assert!(!im.set_array_state(&mut a, Consistency::Dirty));
    assert!(im.updates_pending());
    d.write_all(im.as_mut());
    assert!(!im.updates_pending());
    let on_disk = Imsm::from_mpb(&d.mpb(1)).unwrap();
    assert_eq!(on_disk.volume_dirty(0), Some(true));
    assert_eq!(on_disk.generation(), 4);
    // Marking dirty again changes nothing.
    im.set_array_state(&mut a, Consistency::Dirty);
    assert!(!im.updates_pending());
    im.set_array_state(&mut a, Consistency::Clean);
    d.write_all(im.as_mut());
    let on_disk = Imsm::from_mpb(&d.mpb(0)).unwrap();
    assert_eq!(on_disk.volume_dirty(0), Some(false));
    assert_eq!(on_disk.generation(), 5);
    // The rest of the MPB is unchanged apart from generation and checksum.
    let orig = build_mpb(1, 2, map_state::NORMAL, 0x77, 5);
    assert_eq!(&d.mpb(0)[header::FAMILY_NUM..], &orig[header::FAMILY_NUM..]);
}

#[test]
fn starting_uninitialized_volume_begins_init_migration_and_checkpoints() {
    let m = build_mpb(5, 3, map_state::UNINITIALIZED, 0x99, 1);
    let mut d = MemDisks::with(&[m.clone(), m.clone(), m]);
    let (mut im, _) = load(&mut d);
    let mut a = ctx_for(&im, 0, 5, 3);
    a.resync_start = 0;
    // Starting read-only with an incomplete resync: must go active (dirty).
    assert!(!im.set_array_state(&mut a, Consistency::Starting));
    let v = im.volume(0).unwrap();
    assert!(v.migrating());
    assert_eq!(v.migr_type(), MigrType::Init);
    assert_eq!(v.map0().map_state(), map_state::NORMAL);
    assert_eq!(v.map1().unwrap().map_state(), map_state::UNINITIALIZED);
    // RAID5 with 3 disks, chunk 128: a unit is 3 * 128 = 384 sectors.
    assert_eq!(im.blocks_per_migr_unit(0), 384);
    a.curr_action = SyncAction::Resync;
    a.prev_action = SyncAction::Resync;
    a.last_checkpoint = 1000;
    im.set_array_state(&mut a, Consistency::Dirty);
    assert_eq!(im.volume(0).unwrap().curr_migr_unit(), 2);
    d.write_all(im.as_mut());
    let on_disk = Imsm::from_mpb(&d.mpb(2)).unwrap();
    assert_eq!(on_disk.volume(0).unwrap().curr_migr_unit(), 2);
    // Resync finished: the migration ends and the volume is normal.
    a.resync_start = MAX_SECTOR;
    a.curr_action = SyncAction::Idle;
    im.set_array_state(&mut a, Consistency::Clean);
    let v = im.volume(0).unwrap();
    assert!(!v.migrating());
    assert_eq!(v.map0().map_state(), map_state::NORMAL);
    assert_eq!(v.dirty(), 0);
    assert_eq!(a.last_checkpoint, 0);
    assert_eq!(v.len(), devf::LEN + mapf::LEN + 12, "map 1 is gone");
}

#[test]
fn migration_units_match_the_reference_table() {
    for (level, n, init, rebuild) in
        [(1u8, 2usize, 512u64, 512u64), (10, 4, 256, 512), (5, 3, 384, 128), (5, 4, 512, 128)]
    {
        let m = build_mpb(level, n, map_state::NORMAL, 1, 1);
        let mut im = Imsm::from_mpb(&m).unwrap();
        im.migrate(0, map_state::NORMAL, MigrType::Init);
        assert_eq!(im.blocks_per_migr_unit(0), init, "init {level}/{n}");
        im.end_migration(0, map_state::NORMAL);
        im.migrate(0, map_state::NORMAL, MigrType::Rebuild);
        assert_eq!(im.blocks_per_migr_unit(0), rebuild, "rebuild {level}/{n}");
    }
}

#[test]
fn failure_is_recorded_in_map_and_disk_table() {
    let m = build_mpb(1, 2, map_state::NORMAL, 0x5, 1);
    let mut d = MemDisks::with(&[m.clone(), m]);
    let (mut im, _) = load(&mut d);
    let mut a = ctx_for(&im, 0, 1, 2);
    im.set_disk(&mut a, 1, DevState(DevState::FAULTY | DevState::BLOCKED));
    assert!(im.updates_pending());
    let v = im.volume(0).unwrap();
    assert_eq!(v.map0().map_state(), map_state::DEGRADED);
    assert_eq!(v.map0().ord(1), 1 | ORD_REBUILD);
    assert_eq!(v.map0().failed_disk_num(), 1);
    d.write_all(im.as_mut());
    // The failed disk is not written; the survivor records the failure.
    let survivor = d.mpb(0);
    let rec = &survivor[header::LEN + 48..header::LEN + 96];
    assert_eq!(&rec[..12], b"/dev/loop1:0");
    assert_ne!(le32(rec, diskf::STATUS) & diskf::FAILED, 0);
    assert_ne!(d.mpb(1), survivor);
    // Recording the same failure again changes nothing.
    im.set_disk(&mut a, 1, DevState(DevState::FAULTY));
    assert!(!im.updates_pending());
}

#[test]
fn raid10_pair_loss_fails_the_volume() {
    let m = build_mpb(10, 4, map_state::NORMAL, 0x5, 1);
    let mut im = Imsm::from_mpb(&m).unwrap();
    for i in 0..4 {
        let mut r = [0u8; 48];
        r.copy_from_slice(disk_record(&m, i));
        im.members.push(Member {
            dev: DevT { major: 7, minor: i as u32 },
            serial: [0; 16],
            geom: DiskGeom { size_bytes: DISK_BYTES, sector_size: 512 },
            index: i as i32,
            record: r,
            current: true,
        });
    }
    let mut a = ctx_for(&im, 0, 10, 4);
    im.set_disk(&mut a, 0, DevState(DevState::FAULTY));
    assert_eq!(im.volume(0).unwrap().map0().map_state(), map_state::DEGRADED);
    im.set_disk(&mut a, 2, DevState(DevState::FAULTY));
    assert_eq!(im.volume(0).unwrap().map0().map_state(), map_state::DEGRADED, "one disk of each pair");
    im.set_disk(&mut a, 1, DevState(DevState::FAULTY));
    assert_eq!(im.volume(0).unwrap().map0().map_state(), map_state::FAILED);
}

#[test]
fn open_new_refuses_unknown_volume() {
    let m = build_mpb(1, 2, map_state::NORMAL, 0x5, 1);
    let mut im = Imsm::from_mpb(&m).unwrap();
    assert!(im.open_new(0).is_ok());
    assert_eq!(im.open_new(1), Err(OpenError::NoSuchVolume));
}

/// Disks rebuilt from a fixture captured in the VM (the last 8 KiB of each).
pub(crate) fn fixture(name: &str) -> MemDisks {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/imsm");
    let meta = std::fs::read_to_string(format!("{dir}/{name}.meta")).expect("meta");
    let get = |k: &str| meta.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(str::to_string);
    let size: u64 = get("disk_size").unwrap().parse().unwrap();
    assert_eq!(size, DISK_BYTES, "fixtures use 64 MiB disks");
    let n: usize = get("ndisks").unwrap().parse().unwrap();
    let disks = (0..n)
        .map(|i| {
            let tail = std::fs::read(format!("{dir}/{name}.disk{i}.bin")).expect("disk tail");
            assert_eq!(tail.len(), TAIL);
            let s = get(&format!("disk{i}_serial")).unwrap();
            let mut serial = [0u8; 16];
            serial[..s.len()].copy_from_slice(s.as_bytes());
            let info = DiskInfo {
                dev: DevT { major: 7, minor: i as u32 },
                serial,
                geom: DiskGeom { size_bytes: size, sector_size: 512 },
            };
            (info, tail)
        })
        .collect();
    MemDisks { disks }
}

fn examine_field(name: &str, field: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/imsm");
    let text = std::fs::read_to_string(format!("{dir}/{name}.examine.txt")).unwrap();
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(field).map(|r| r.trim_start_matches([' ', ':']).trim().to_string()))
        .unwrap_or_default()
}

const FIXTURES: [&str; 8] = [
    "raid1-clean",
    "raid1-dirty",
    "raid5-3disk-init",
    "raid5-3disk-initdone",
    "raid10-4disk-clean",
    "raid0-2disk",
    "two-volumes",
    "staggered-volumes",
];

#[test]
fn fixtures_load_without_complaint() {
    for name in FIXTURES {
        let mut d = fixture(name);
        let mut notes = Vec::new();
        let im = Imsm::load(&mut d, &mut notes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(notes.is_empty(), "{name}: {notes:?}");
        let gen = u32::from_str_radix(&examine_field(name, "Generation"), 16).unwrap();
        assert_eq!(im.generation(), gen, "{name}");
        assert!(im.members().iter().all(|m| m.index >= 0), "{name}: every disk is a member");
        let dirty = examine_field(name, "Dirty State") == "dirty";
        assert_eq!(im.volume_dirty(0), Some(dirty), "{name}");
    }
}

#[test]
fn rewriting_a_fixture_changes_only_generation_and_checksum() {
    for name in FIXTURES {
        let mut d = fixture(name);
        let orig = d.mpb(0);
        let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
        im.pending = 1;
        d.write_all(im.as_mut());
        for i in 0..d.disks.len() {
            let now = d.mpb(i);
            assert_eq!(now.len(), orig.len(), "{name}");
            let mut expect = orig.clone();
            set_le32(&mut expect, header::GENERATION_NUM, le32(&orig, header::GENERATION_NUM) + 1);
            set_le32(&mut expect, header::CHECK_SUM, 0);
            let sum = checksum(&expect, expect.len());
            set_le32(&mut expect, header::CHECK_SUM, sum);
            assert_eq!(now, expect, "{name} disk {i}");
            // The migration record sector is cleared.
            assert!(d.disks[i].1[TAIL - 512..].iter().all(|&b| b == 0));
        }
    }
}

#[test]
fn fixture_mid_init_checkpoint_converts_to_sectors() {
    let mut d = fixture("raid5-3disk-init");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let v = im.volume(0).unwrap();
    assert_eq!(v.migr_type(), MigrType::Init);
    assert_eq!(v.curr_migr_unit(), 8);
    // mdadm --examine prints "Checkpoint : 8 (768)": 768 sectors per unit.
    assert_eq!(im.blocks_per_migr_unit(0), 768);
    // The kernel reports more progress: the checkpoint follows, rounded down.
    let mut a = ctx_for(&im, 0, 5, 3);
    a.component_size = 34816;
    a.resync_start = 8 * 768;
    a.prev_action = SyncAction::Resync;
    a.curr_action = SyncAction::Resync;
    a.last_checkpoint = 10 * 768 + 5;
    im.set_array_state(&mut a, Consistency::Dirty);
    assert_eq!(im.volume(0).unwrap().curr_migr_unit(), 10);
    assert!(im.volume(0).unwrap().migrating());
}

#[test]
fn fixture_dirty_volume_starts_dirty_and_clean_one_read_auto() {
    let mut d = fixture("raid1-dirty");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let mut a = ctx_for(&im, 0, 1, 2);
    a.component_size = 34816;
    // mdadm sets resync_start to 0 for a dirty volume at assembly.
    a.resync_start = 0;
    assert!(!im.set_array_state(&mut a, Consistency::Starting));
    let v = im.volume(0).unwrap();
    assert_eq!(v.migr_type(), MigrType::Repair, "a dirty stop is repaired");
    let mut d = fixture("raid1-clean");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let mut a = ctx_for(&im, 0, 1, 2);
    assert!(im.set_array_state(&mut a, Consistency::Starting));
    assert!(!im.updates_pending());
}

#[test]
fn two_volumes_are_independent() {
    let mut d = fixture("two-volumes");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    assert_eq!(im.num_volumes(), 2);
    assert_eq!(im.volume(1).unwrap().map0().level(), 0);
    let mut a = ctx_for(&im, 0, 1, 2);
    im.set_array_state(&mut a, Consistency::Dirty);
    assert_eq!(im.volume_dirty(0), Some(true));
    assert_eq!(im.volume_dirty(1), Some(false));
    d.write_all(im.as_mut());
    let back = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    assert_eq!(back.volume_dirty(0), Some(true));
    assert_eq!(back.volume(1).unwrap().volume(), im.volume(1).unwrap().volume());
}

#[test]
fn failed_disk_replaced_by_spare_rebuilds_and_completes() {
    let mut d = fixture("raid1-clean");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let mut a = ctx_for(&im, 0, 1, 2);
    a.component_size = 34816;
    let family = im.family_num();
    // Slot 1 fails and the kernel drops it.
    im.set_disk(&mut a, 1, DevState(DevState::FAULTY | DevState::BLOCKED));
    assert_eq!(im.volume(0).unwrap().map0().map_state(), map_state::DEGRADED);
    a.slots.retain(|s| s.slot != 1);
    let failed_dev = DevT { major: 7, minor: 1 };
    // Without a spare there is nothing to rebuild onto.
    let mut picks = ArrayVec::new();
    im.choose_spares(&a, &mut picks);
    assert!(picks.is_empty());
    // A spare joins the container.
    let mut serial = [0u8; 16];
    serial[..10].copy_from_slice(b"/dev/loop2");
    let spare = crate::metadata::NewDisk {
        dev: DevT { major: 7, minor: 2 },
        serial,
        geom: DiskGeom { size_bytes: DISK_BYTES, sector_size: 512 },
        random: 0,
    };
    assert!(im.add_disk(spare));
    assert!(!im.add_disk(spare), "added once");
    im.choose_spares(&a, &mut picks);
    assert_eq!(picks.len(), 1);
    assert_eq!(picks[0].slot, 1);
    assert_eq!(picks[0].dev, spare.dev);
    assert_ne!(picks[0].dev, failed_dev);
    im.record_rebuild(&a, &picks, 0x1000);
    let v = im.volume(0).unwrap();
    assert_eq!(v.migr_type(), MigrType::Rebuild);
    assert!(im.is_rebuilding(0));
    let new_idx = ord_to_idx(v.map0().ord(1));
    assert_eq!(v.map1().unwrap().ord(1), new_idx | ORD_REBUILD);
    assert_eq!(im.family_num(), family.wrapping_add(0x1000));
    // The failed disk's record is gone from the table: two disks remain.
    assert_eq!(im.table.len(), 2);
    assert_eq!(im.blocks_per_migr_unit(0), 512);
    // Progress is checkpointed in units; never ahead of the kernel.
    a.slots.push(SlotInfo { slot: 1, dev: spare.dev, recovery_start: 0, state: DevState(0) });
    a.prev_action = SyncAction::Recover;
    a.curr_action = SyncAction::Recover;
    a.last_checkpoint = 5000;
    im.set_array_state(&mut a, Consistency::Dirty);
    assert_eq!(im.volume(0).unwrap().curr_migr_unit(), 9);
    d.disks.push((DiskInfo { dev: spare.dev, serial, geom: spare.geom }, vec![0u8; TAIL]));
    d.write_all(im.as_mut());
    let back = Imsm::from_mpb(&d.mpb(2)).unwrap();
    assert_eq!(back.volume(0).unwrap().curr_migr_unit(), 9);
    // Slot 1 held /dev/loop0 (disk 0): the failed disk is no longer written.
    assert_eq!(d.mpb(1), d.mpb(2), "the new member carries the container's metadata");
    assert_ne!(d.mpb(0), d.mpb(1));
    // Recovery ends with the member in sync: the migration ends.
    a.slots[1].recovery_start = MAX_SECTOR;
    a.slots[1].state = DevState(DevState::INSYNC);
    a.curr_action = SyncAction::Idle;
    for s in [0, 1] {
        im.set_disk(&mut a, s, DevState(DevState::INSYNC));
    }
    let v = im.volume(0).unwrap();
    assert!(!v.migrating());
    assert_eq!(v.map0().map_state(), map_state::NORMAL);
    assert_eq!(v.map0().failed_disk_num(), 0xff);
    assert_eq!(v.map0().ord(1), new_idx);
}

#[test]
fn interrupted_rebuild_keeps_the_recovery_position() {
    let mut d = fixture("raid1-clean");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let mut a = ctx_for(&im, 0, 1, 2);
    a.component_size = 34816;
    im.set_disk(&mut a, 0, DevState(DevState::FAULTY));
    a.slots.retain(|s| s.slot != 0);
    let mut serial = [0u8; 16];
    serial[..10].copy_from_slice(b"/dev/loop5");
    let dev = DevT { major: 7, minor: 5 };
    im.add_disk(crate::metadata::NewDisk {
        dev,
        serial,
        geom: DiskGeom { size_bytes: DISK_BYTES, sector_size: 512 },
        random: 0,
    });
    let mut picks = ArrayVec::new();
    im.choose_spares(&a, &mut picks);
    im.record_rebuild(&a, &picks, 7);
    a.slots.insert(0, SlotInfo { slot: 0, dev, recovery_start: 0, state: DevState(0) });
    a.prev_action = SyncAction::Recover;
    // The kernel stops recovery at 12000 sectors (recover -> idle, not in sync).
    a.slots[0].recovery_start = 12000;
    a.curr_action = SyncAction::Idle;
    im.set_disk(&mut a, 0, DevState(0));
    im.set_disk(&mut a, 1, DevState(DevState::INSYNC));
    assert!(im.is_rebuilding(0), "still rebuilding");
    assert_eq!(a.last_checkpoint, 12000);
    // The array stops: the checkpoint is stored, rounded down to units.
    im.set_array_state(&mut a, Consistency::Clean);
    assert_eq!(im.volume(0).unwrap().curr_migr_unit(), 12000 / 512);
    // On restart the checkpoint is where the rebuild resumes, for that slot only.
    assert_eq!(im.resume_position(&a, 0), Some(12000 / 512 * 512));
    assert_eq!(im.resume_position(&a, 1), None, "slot 1 is in sync");
    // A different device in the slot than the metadata names: start from zero.
    let mut other = a.clone();
    other.slots[0].dev = DevT { major: 7, minor: 9 };
    assert_eq!(im.resume_position(&other, 0), None);
    // A disk whose own copy was stale is not trusted either.
    im.members.iter_mut().find(|m| m.dev == dev).unwrap().current = false;
    assert_eq!(im.resume_position(&a, 0), None);
}

/// A RAID1 fixture with slot 1 failed, removed, and a spare rebuilding it.
fn rebuilding_raid1() -> (Box<Imsm>, ArrayCtx, DevT) {
    let mut d = fixture("raid1-clean");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let mut a = ctx_for(&im, 0, 1, 2);
    a.component_size = 34816;
    im.set_disk(&mut a, 1, DevState(DevState::FAULTY));
    a.slots.retain(|s| s.slot != 1);
    let mut serial = [0u8; 16];
    serial[..10].copy_from_slice(b"/dev/loop7");
    let dev = DevT { major: 7, minor: 7 };
    im.add_disk(crate::metadata::NewDisk {
        dev,
        serial,
        geom: DiskGeom { size_bytes: DISK_BYTES, sector_size: 512 },
        random: 0,
    });
    let mut picks = ArrayVec::new();
    im.choose_spares(&a, &mut picks);
    im.record_rebuild(&a, &picks, 1);
    a.slots.push(SlotInfo { slot: 1, dev, recovery_start: 0, state: DevState(0) });
    a.prev_action = SyncAction::Recover;
    a.curr_action = SyncAction::Recover;
    (im, a, dev)
}

#[test]
fn rebuild_target_failing_ends_the_migration_degraded() {
    let (mut im, mut a, _) = rebuilding_raid1();
    assert!(im.is_rebuilding(0));
    im.set_disk(&mut a, 1, DevState(DevState::FAULTY));
    let v = im.volume(0).unwrap();
    assert!(!v.migrating(), "the rebuild is over");
    assert_eq!(v.map0().map_state(), map_state::DEGRADED);
    assert_eq!(a.last_checkpoint, 0);
    // No new rebuild while the failed target is still in the array.
    let mut picks = ArrayVec::new();
    a.slots[1].state = DevState(DevState::FAULTY);
    im.choose_spares(&a, &mut picks);
    assert!(picks.is_empty());
}

#[test]
fn survivor_failing_during_rebuild_is_recorded_in_both_maps() {
    let (mut im, mut a, _) = rebuilding_raid1();
    im.set_disk(&mut a, 0, DevState(DevState::FAULTY));
    let v = im.volume(0).unwrap();
    let idx = ord_to_idx(v.map0().ord(0));
    assert_ne!(v.map0().ord(0) & ORD_REBUILD, 0);
    assert_ne!(v.map1().unwrap().ord(0) & ORD_REBUILD, 0);
    assert_ne!(le32(&im.table[idx as usize], diskf::STATUS) & diskf::FAILED, 0);
    // As upstream: map 0 (the target) counts only slot 0 as bad, so it says degraded.
    assert_eq!(v.map0().map_state(), map_state::DEGRADED);
}

#[test]
fn no_second_rebuild_while_one_runs() {
    let (im, mut a, _) = rebuilding_raid1();
    a.slots.retain(|s| s.slot != 1);
    let mut picks = ArrayVec::new();
    im.choose_spares(&a, &mut picks);
    assert!(picks.is_empty());
}

#[test]
fn rebuild_progress_converts_sectors_to_units_rounding_down() {
    let (mut im, mut a, _) = rebuilding_raid1();
    let bpu = im.blocks_per_migr_unit(0);
    assert_eq!(bpu, 512);
    for (sectors, unit) in [(0u64, 0u64), (511, 0), (512, 1), (1023, 1), (34815, 67)] {
        a.last_checkpoint = sectors;
        im.set_array_state(&mut a, Consistency::Dirty);
        assert_eq!(im.volume(0).unwrap().curr_migr_unit(), unit, "{sectors} sectors");
        assert!(unit * bpu <= sectors, "the checkpoint is never ahead of the kernel");
    }
}

#[test]
fn volume_updates_respect_active_arrays_and_names() {
    let mut d = fixture("two-volumes");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let mut name = [0u8; 16];
    name[..7].copy_from_slice(b"renamed");
    assert!(im.rename_volume(1, &name, &[1]).is_err(), "an active volume keeps its name");
    im.rename_volume(1, &name, &[0]).unwrap();
    assert_eq!(crate::wire::cstr_field(im.volume(1).unwrap().volume()), b"renamed");
    assert!(im.rename_volume(0, &name, &[]).is_err(), "names are unique");
    // mdadm keeps at most 15 characters.
    let long = *b"abcdefghijklmnop";
    im.rename_volume(0, &long, &[]).unwrap();
    assert_eq!(crate::wire::cstr_field(im.volume(0).unwrap().volume()), b"abcdefghijklmno");
    assert!(im.kill_volume(1, &[0, 1]).is_err(), "an active volume cannot be deleted");
    assert!(im.kill_volume(0, &[1]).is_err(), "nor one below an active volume");
    im.kill_volume(1, &[0]).unwrap();
    assert_eq!(im.num_volumes(), 1);
    assert!(im.kill_volume(0, &[]).is_err(), "the last volume stays");
}

#[test]
fn create_volume_takes_spares_in_and_checks_sequence() {
    let mut d = fixture("two-volumes");
    let two = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let dev1: Vec<u8> = {
        let v = two.volume(1).unwrap();
        v.as_bytes().to_vec()
    };
    // mdadm sends the members' serials in slot order.
    let serials: Vec<Serial> = {
        let v = two.volume(1).unwrap();
        let m0 = v.map0();
        (0..usize::from(m0.num_members()))
            .map(|s| two.members().iter().find(|m| m.index as u32 == ord_to_idx(m0.ord(s))).unwrap().serial)
            .collect()
    };
    // Over raid1-clean's larger volume it would overlap on the same disks.
    let mut d = fixture("raid1-clean");
    let mut big = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    assert_eq!(big.create_volume(1, &dev1, &serials), Err("overlaps a volume on the same disks"));
    // With the second volume deleted, it can be created again.
    let mut d = fixture("two-volumes");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    im.kill_volume(1, &[0]).unwrap();
    assert!(im.create_volume(2, &dev1, &serials).is_err(), "out of sequence");
    let mut missing = serials.clone();
    missing[0][..10].copy_from_slice(b"/dev/loop9");
    assert!(im.create_volume(1, &dev1, &missing).is_err(), "a member is absent");
    im.create_volume(1, &dev1, &serials).unwrap();
    assert_eq!(im.num_volumes(), 2);
    assert!(im.updates_pending());
    // The re-created metadata renders as mdadm wrote it (but generation and checksum).
    d.write_all(im.as_mut());
    let orig = fixture("two-volumes").mpb(0);
    assert_eq!(&d.mpb(0)[header::NUM_DISKS..], &orig[header::NUM_DISKS..]);
    assert!(im.create_volume(1, &dev1, &serials).is_err(), "already exists");
}

fn spare_disk(minor: u32, mib: u64) -> crate::metadata::NewDisk {
    let mut serial = [0u8; 16];
    let s = format!("/dev/loop{minor}");
    serial[..s.len()].copy_from_slice(s.as_bytes());
    crate::metadata::NewDisk {
        dev: DevT { major: 7, minor },
        serial,
        geom: DiskGeom { size_bytes: mib << 20, sector_size: 512 },
        random: 0,
    }
}

/// staggered-volumes: vol0 (offset 0) on loop0+loop1, vol1 (offset 40960) on
/// loop1+loop2. A failed vol0 disk is replaced by the free space of loop2.
#[test]
fn free_space_on_a_disk_of_another_volume_is_used_for_a_rebuild() {
    let mut d = fixture("staggered-volumes");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    assert_eq!(im.num_volumes(), 2);
    assert_eq!(im.volume(1).unwrap().map0().pba_of_lba0(), 40960);
    let mut a = ctx_for(&im, 0, 1, 2);
    a.component_size = 34816 / 2;
    let slot0 = a.slots[0];
    assert_eq!(slot0.dev, DevT { major: 7, minor: 0 });
    im.set_disk(&mut a, 0, DevState(DevState::FAULTY | DevState::BLOCKED));
    a.slots.retain(|s| s.slot != 0);
    let mut picks = ArrayVec::new();
    im.choose_spares(&a, &mut picks);
    assert_eq!(picks.len(), 1);
    assert_eq!((picks[0].slot, picks[0].dev, picks[0].data_offset), (0, DevT { major: 7, minor: 2 }, 0));
    im.record_rebuild(&a, &picks, 7);
    // loop0 is in no volume any more and leaves the table; vol1's ords follow.
    assert_eq!(im.table.len(), 2);
    let v0 = im.volume(0).unwrap();
    let idx2 = im.members().iter().find(|m| m.dev.minor == 2).unwrap().index as u32;
    assert_eq!(ord_to_idx(v0.map0().ord(0)), idx2);
    assert_eq!(v0.map1().unwrap().ord(0), idx2 | ORD_REBUILD);
    let v1 = im.volume(1).unwrap();
    assert!((0..2).any(|s| ord_to_idx(v1.map0().ord(s)) == idx2), "loop2 is still in vol1");
    assert!((0..2).all(|s| (ord_to_idx(v1.map0().ord(s)) as usize) < im.table.len()));
}

/// A pure spare must have room for every volume at its offset; one that
/// would only hold vol0 is passed over.
#[test]
fn spare_without_room_for_every_volume_is_not_used() {
    let mut d = fixture("staggered-volumes");
    let mut im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    // vol0 loses loop0; loop2 leaves the container, so only pure spares
    // can replace it.
    let mut a = ctx_for(&im, 0, 1, 2);
    a.component_size = 34816 / 2;
    im.set_disk(&mut a, 0, DevState(DevState::FAULTY | DevState::BLOCKED));
    a.slots.retain(|s| s.slot != 0);
    // Drop loop2 from the container so only pure spares remain.
    im.remove_disk(DevT { major: 7, minor: 2 });
    // 30 MiB holds vol0 (0..34816) but not vol1 (40960..75776).
    assert!(im.add_disk(spare_disk(5, 30)));
    let mut picks = ArrayVec::new();
    im.choose_spares(&a, &mut picks);
    assert!(picks.is_empty(), "{picks:?}");
    assert!(im.add_disk(spare_disk(6, 64)));
    im.choose_spares(&a, &mut picks);
    assert_eq!(picks.len(), 1);
    assert_eq!(picks[0].dev.minor, 6);
}
mod bounds;
mod families;
