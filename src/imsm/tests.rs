//! Tests of the IMSM codec and handler on synthetic metadata (built the way
//! mdadm lays it out) and on fixtures captured from Debian's mdadm.

use super::load::disk_record;
use super::*;
use crate::metadata::DiskInfo;
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

    /// Apply a metadata write the way the shell does (through the write
    /// planner, with its image sharing and phases).
    pub fn write_all(&mut self, md: &mut dyn Metadata) {
        let n = md.begin_write();
        // The size the daemon allocates: every test write goes through it.
        let len = md.render_len();
        let mut io = MemWrite { md: &*md, disks: self, bufs: vec![vec![0u8; len]; 2] };
        crate::manager::plan::write_all(n, 2, &mut io);
        md.end_write();
    }
}

/// The planner's I/O over [`MemDisks`].
struct MemWrite<'a> {
    md: &'a dyn Metadata,
    disks: &'a mut MemDisks,
    bufs: Vec<Vec<u8>>,
}

impl crate::manager::plan::WriteIo for MemWrite<'_> {
    fn target(&self, i: usize) -> Option<usize> {
        let dev = self.md.disk_dev(i)?;
        self.disks.disks.iter().position(|d| d.0.dev == dev)
    }
    fn render(&mut self, i: usize, disk: usize, buf: usize) -> Regions {
        self.md.render(i, self.disks.disks[disk].0.geom, &mut self.bufs[buf])
    }
    fn same(&self, a: usize, b: usize, regions: &Regions) -> bool {
        regions.iter().all(|r| self.bufs[a][r.start..r.start + r.len] == self.bufs[b][r.start..r.start + r.len])
    }
    fn write(&mut self, writes: &[crate::manager::plan::PlannedWrite], results: &mut [Result<(), i32>]) {
        for (w, res) in writes.iter().zip(results.iter_mut()) {
            let r = w.region;
            let off = (r.offset - (DISK_BYTES - TAIL as u64)) as usize;
            self.disks.disks[w.disk].1[off..off + r.len].copy_from_slice(&self.bufs[w.buf][r.start..r.start + r.len]);
            *res = Ok(());
        }
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

pub(crate) fn spare_disk(minor: u32, mib: u64) -> crate::metadata::NewDisk {
    let mut serial = [0u8; 16];
    let s = format!("/dev/loop{minor}");
    serial[..s.len()].copy_from_slice(s.as_bytes());
    crate::metadata::NewDisk {
        dev: DevT { major: 7, minor },
        serial,
        geom: DiskGeom { size_bytes: mib << 20, sector_size: 512 },
        scsi_id: 0,
        random: 0,
    }
}

/// A field of a fixture's `mdadm --examine` (of disk 0), as printed.
pub(crate) fn examine_field(name: &str, field: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/imsm");
    let text = std::fs::read_to_string(format!("{dir}/{name}.examine.txt")).unwrap();
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(field).map(|r| r.trim_start_matches([' ', ':']).trim().to_string()))
        .unwrap_or_default()
}

mod bounds;
mod families;
mod load;
mod rebuild;
mod state;
