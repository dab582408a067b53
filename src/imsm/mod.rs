//! Intel Matrix Storage Manager (IMSM) metadata: loading and reconciling the
//! copies on every member disk, the handler decisions mdmon makes
//! (dirty/clean, resync checkpoints, failures), and rendering the MPB that
//! goes back to every member.

pub mod view;

use crate::md::{DevState, SyncAction, MAX_SECTOR};
use crate::metadata::{
    ArrayCtx, Consistency, DevT, DiskGeom, Metadata, OpenError, Region, Regions, MAX_DISKS,
    MAX_SLOTS,
};
use crate::wire::{le32, set_le32};
use arrayvec::ArrayVec;
use core::fmt;
use view::{checksum, header, map_size, map_state, ord_to_idx, Dev, MigrType, ORD_REBUILD};

/// Most volumes a container may hold (the OROM allows 2 per array).
pub const MAX_VOLUMES: usize = 4;
/// Largest volume record: header plus two maps of [`MAX_SLOTS`] members.
pub const DEV_MAX: usize = view::dev::LEN + 2 * (view::map::LEN + 4 * MAX_SLOTS);
/// Largest bad-block log (254 entries).
pub const BBM_MAX: usize = 8 + 8 * 254;
/// Largest MPB we accept.
pub const MPB_MAX: usize = 16 * 1024;

/// A disk serial as IMSM stores it: up to 16 bytes, NUL padded.
pub type Serial = [u8; 16];

/// What the shell knows of one container member before its metadata is read.
#[derive(Clone, Copy, Debug)]
pub struct DiskInfo {
    pub dev: DevT,
    pub serial: Serial,
    pub geom: DiskGeom,
}

/// Reading the member disks at start-up (blocking is fine there).
pub trait DiskSource {
    /// Number of member disks.
    fn count(&self) -> usize;
    /// What the shell knows of disk `i`.
    fn info(&self, i: usize) -> DiskInfo;
    /// Read `buf.len()` bytes at byte `offset` of disk `i`.
    fn read(&mut self, i: usize, offset: u64, buf: &mut [u8]) -> Result<(), i32>;
}

/// Why a copy of the metadata was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyError {
    /// The disk could not be read (errno).
    Io(i32),
    /// No IMSM signature.
    NoSignature,
    /// `mpb_size` is impossible (too small, too large for our buffers or the disk).
    BadSize(u32),
    /// The checksum does not match.
    BadChecksum { stored: u32, computed: u32 },
    /// The tables do not fit the size the header claims, or exceed our limits.
    Malformed(&'static str),
    /// 4K-sector disks are not supported yet.
    SectorSize(u32),
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::Io(e) => write!(f, "read error (errno {e})"),
            CopyError::NoSignature => write!(f, "no IMSM signature"),
            CopyError::BadSize(s) => write!(f, "impossible mpb_size {s}"),
            CopyError::BadChecksum { stored, computed } => {
                write!(
                    f,
                    "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )
            }
            CopyError::Malformed(why) => write!(f, "malformed metadata: {why}"),
            CopyError::SectorSize(s) => write!(f, "unsupported sector size {s}"),
        }
    }
}

/// Why the container could not be loaded at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// No disk holds a usable copy describing volumes.
    NoUsableCopy,
    /// Too many disks or volumes for our fixed tables.
    TooLarge,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NoUsableCopy => write!(f, "no member disk holds usable IMSM metadata"),
            LoadError::TooLarge => write!(f, "container larger than this build supports"),
        }
    }
}

/// Something noteworthy found while loading, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadNote {
    /// Disk `dev`'s copy was rejected; its metadata will be rewritten from the good copies.
    Rejected { dev: DevT, why: CopyError },
    /// Disk `dev` holds an older generation (`gen`) than the chosen one.
    Stale { dev: DevT, gen: u32 },
    /// Disk `dev` belongs to another family and is not used.
    Foreign { dev: DevT, family: u32 },
    /// Disk `dev` is not in the metadata and holds no spare record: ignored.
    Unknown { dev: DevT },
}

/// One present disk of the container.
#[derive(Clone, Copy, Debug)]
pub struct Member {
    pub dev: DevT,
    /// Serial as read from the device (not the possibly altered record).
    pub serial: Serial,
    pub geom: DiskGeom,
    /// Index in the disk table; -1 a spare; -2 failed or unknown (never written).
    pub index: i32,
    /// The disk's record (for spares, their own; else a copy of the table entry).
    pub record: [u8; view::disk::LEN],
}

/// One volume record in a fixed buffer.
#[derive(Clone)]
struct DevBuf {
    buf: [u8; DEV_MAX],
}

impl DevBuf {
    fn view(&self) -> Dev<&[u8]> {
        Dev::new_unchecked(&self.buf[..])
    }
    fn view_mut(&mut self) -> Dev<&mut [u8]> {
        Dev::new_unchecked(&mut self.buf[..])
    }
}

/// The in-memory IMSM metadata of one container.
pub struct Imsm {
    /// The header as loaded; its fields persist across writes.
    header: [u8; header::LEN],
    /// The disk table, indexed by disk idx (present and missing disks).
    table: ArrayVec<[u8; view::disk::LEN], MAX_DISKS>,
    devs: ArrayVec<DevBuf, MAX_VOLUMES>,
    bbm: ArrayVec<u8, BBM_MAX>,
    members: ArrayVec<Member, MAX_DISKS>,
    pending: u32,
    /// The MPB frozen by `begin_write`.
    image: ArrayVec<u8, MPB_MAX>,
    /// A random value for spare-MPB family numbers.
    random: u32,
}

/// Parse and verify one copy of the MPB from the end of a disk.
fn read_copy(src: &mut dyn DiskSource, i: usize, out: &mut Vec<u8>) -> Result<(), CopyError> {
    let info = src.info(i);
    let ss = info.geom.sector_size;
    if ss != 512 {
        return Err(CopyError::SectorSize(ss));
    }
    let ss = ss as u64;
    let d = info.geom.size_bytes;
    if d < 2 * ss {
        return Err(CopyError::BadSize(0));
    }
    let mut anchor = vec![0u8; ss as usize];
    src.read(i, d - 2 * ss, &mut anchor)
        .map_err(CopyError::Io)?;
    if &anchor[..24] != view::SIGNATURE {
        return Err(CopyError::NoSignature);
    }
    let size = le32(&anchor, header::MPB_SIZE);
    let min = header::LEN as u32;
    if size < min || size as usize > MPB_MAX {
        return Err(CopyError::BadSize(size));
    }
    let k = (u64::from(size)).div_ceil(ss);
    if (k + 1) * ss > d {
        return Err(CopyError::BadSize(size));
    }
    out.clear();
    out.resize((k * ss) as usize, 0);
    out[..ss as usize].copy_from_slice(&anchor);
    if k > 1 {
        src.read(i, d - (k + 1) * ss, &mut out[ss as usize..])
            .map_err(CopyError::Io)?;
    }
    let computed = checksum(out, size as usize);
    let stored = le32(out, header::CHECK_SUM);
    if computed != stored {
        return Err(CopyError::BadChecksum { stored, computed });
    }
    out.truncate(size as usize);
    validate_tables(out)?;
    Ok(())
}

/// Check that the disk table, volume records and bbm log fit in the MPB.
fn validate_tables(mpb: &[u8]) -> Result<(), CopyError> {
    let num_disks = usize::from(mpb[header::NUM_DISKS]);
    let num_devs = usize::from(mpb[header::NUM_RAID_DEVS]);
    if num_disks > MAX_DISKS {
        return Err(CopyError::Malformed("more disks than supported"));
    }
    if num_devs > MAX_VOLUMES {
        return Err(CopyError::Malformed("more volumes than supported"));
    }
    let bbm = le32(mpb, header::BBM_LOG_SIZE) as usize;
    let mut off = header::LEN + view::disk::LEN * num_disks;
    for _ in 0..num_devs {
        let rest = mpb
            .get(off..)
            .ok_or(CopyError::Malformed("disk table past mpb_size"))?;
        let len =
            Dev::<&[u8]>::check_len(rest).ok_or(CopyError::Malformed("volume past mpb_size"))?;
        let d = Dev::new_unchecked(rest);
        let n0 = usize::from(d.map0().num_members());
        let n1 = d.map1().map(|m| usize::from(m.num_members())).unwrap_or(0);
        if n0 == 0 || n0 > MAX_SLOTS || n1 > MAX_SLOTS {
            return Err(CopyError::Malformed("impossible member count"));
        }
        for s in 0..n0 {
            if ord_to_idx(d.map0().ord(s)) as usize >= num_disks {
                return Err(CopyError::Malformed(
                    "map refers to a disk not in the table",
                ));
            }
        }
        off += len;
    }
    if off + bbm > mpb.len() {
        return Err(CopyError::Malformed("bbm log past mpb_size"));
    }
    if bbm != 0 {
        if bbm < 8 || bbm > BBM_MAX {
            return Err(CopyError::Malformed("bad bbm log size"));
        }
        let start = mpb.len() - bbm;
        if le32(mpb, start) != 0xABAD_B10C || 8 + 8 * le32(mpb, start + 4) as usize != bbm {
            return Err(CopyError::Malformed("bad bbm log"));
        }
    }
    Ok(())
}

fn family(mpb: &[u8]) -> u32 {
    le32(mpb, header::FAMILY_NUM)
}
fn generation(mpb: &[u8]) -> u32 {
    le32(mpb, header::GENERATION_NUM)
}
fn num_devs(mpb: &[u8]) -> u8 {
    mpb[header::NUM_RAID_DEVS]
}
fn disk_record(mpb: &[u8], idx: usize) -> &[u8] {
    let o = header::LEN + view::disk::LEN * idx;
    &mpb[o..o + view::disk::LEN]
}
/// Find `serial` in an MPB's disk table.
fn find_serial(mpb: &[u8], serial: &Serial) -> Option<usize> {
    (0..usize::from(mpb[header::NUM_DISKS]))
        .find(|&i| serial_eq(&disk_record(mpb, i)[view::disk::SERIAL], serial))
}
fn serial_eq(a: &[u8], b: &[u8]) -> bool {
    crate::wire::cstr_field(&a[..16]) == crate::wire::cstr_field(&b[..16])
}
fn status(rec: &[u8]) -> u32 {
    le32(rec, view::disk::STATUS)
}

impl Imsm {
    /// Load the container: read every member's copy, choose the newest
    /// generation of the family that describes volumes, and adopt the disks.
    /// `notes` receives what was rejected and why.
    pub fn load(
        src: &mut dyn DiskSource,
        notes: &mut Vec<LoadNote>,
    ) -> Result<Box<Imsm>, LoadError> {
        let n = src.count();
        if n > MAX_DISKS {
            return Err(LoadError::TooLarge);
        }
        let mut copies: Vec<Option<Vec<u8>>> = Vec::with_capacity(n);
        for i in 0..n {
            let mut buf = Vec::new();
            match read_copy(src, i, &mut buf) {
                Ok(()) => copies.push(Some(buf)),
                Err(why) => {
                    notes.push(LoadNote::Rejected {
                        dev: src.info(i).dev,
                        why,
                    });
                    copies.push(None);
                }
            }
        }
        // A copy is a candidate when its own disk is recorded in it and not
        // failed. Among candidates describing volumes, the newest generation
        // of the family with the most candidate disks wins.
        let own_ok = |i: usize, mpb: &[u8]| -> bool {
            let serial = src_serial(src, i);
            match find_serial(mpb, &serial) {
                Some(idx) => status(disk_record(mpb, idx)) & view::disk::FAILED == 0,
                None => false,
            }
        };
        let mut best: Option<usize> = None;
        for i in 0..n {
            let Some(mpb) = copies[i].as_deref() else {
                continue;
            };
            if num_devs(mpb) == 0 || !own_ok(i, mpb) {
                continue;
            }
            best = match best {
                None => Some(i),
                Some(b) => {
                    let bm = copies[b].as_deref().unwrap_or_default();
                    let votes = |fam: u32| {
                        copies
                            .iter()
                            .flatten()
                            .filter(|c| num_devs(c) > 0 && family(c) == fam)
                            .count()
                    };
                    let (vb, vi) = (votes(family(bm)), votes(family(mpb)));
                    if vi > vb
                        || (vi == vb
                            && family(mpb) == family(bm)
                            && generation(mpb) > generation(bm))
                    {
                        Some(i)
                    } else {
                        Some(b)
                    }
                }
            };
        }
        let Some(champ) = best else {
            return Err(LoadError::NoUsableCopy);
        };
        let mpb = copies[champ].clone().unwrap_or_default();
        let mut im = Box::new(Imsm::from_mpb(&mpb).map_err(|_| LoadError::TooLarge)?);
        im.random = le32(&mpb, header::CHECK_SUM) ^ generation(&mpb).rotate_left(16);
        // Adopt the disks.
        for i in 0..n {
            let info = src.info(i);
            let copy = copies[i].as_deref();
            if let Some(c) = copy {
                if num_devs(c) > 0 && family(c) != family(&mpb) {
                    notes.push(LoadNote::Foreign {
                        dev: info.dev,
                        family: family(c),
                    });
                    continue;
                }
                if num_devs(c) > 0 && generation(c) < generation(&mpb) {
                    notes.push(LoadNote::Stale {
                        dev: info.dev,
                        gen: generation(c),
                    });
                }
            }
            let mut m = Member {
                dev: info.dev,
                serial: info.serial,
                geom: info.geom,
                index: -2,
                record: [0; 48],
            };
            if let Some(idx) = find_serial(&mpb, &info.serial) {
                m.record.copy_from_slice(disk_record(&mpb, idx));
                m.index = if status(&m.record) & view::disk::FAILED != 0 {
                    -2
                } else if status(&m.record) & (view::disk::SPARE | view::disk::JOURNAL) != 0 {
                    -1
                } else {
                    idx as i32
                };
            } else if let Some(c) = copy.filter(|c| num_devs(c) == 0) {
                // A spare with its own one-disk MPB.
                if let Some(own) = find_serial(c, &info.serial) {
                    m.record.copy_from_slice(disk_record(c, own));
                    m.index = -1;
                }
            }
            if m.index == -2 && find_serial(&mpb, &info.serial).is_none() {
                notes.push(LoadNote::Unknown { dev: info.dev });
                continue;
            }
            im.members.try_push(m).map_err(|_| LoadError::TooLarge)?;
        }
        Ok(im)
    }

    /// Build the model from one verified MPB (no disks adopted yet).
    pub fn from_mpb(mpb: &[u8]) -> Result<Imsm, CopyError> {
        validate_tables(mpb)?;
        let mut im = Imsm {
            header: [0; header::LEN],
            table: ArrayVec::new(),
            devs: ArrayVec::new(),
            bbm: ArrayVec::new(),
            members: ArrayVec::new(),
            pending: 0,
            image: ArrayVec::new(),
            random: 0,
        };
        im.header.copy_from_slice(&mpb[..header::LEN]);
        let nd = usize::from(mpb[header::NUM_DISKS]);
        for i in 0..nd {
            let mut r = [0u8; 48];
            r.copy_from_slice(disk_record(mpb, i));
            im.table.push(r);
        }
        let mut off = header::LEN + 48 * nd;
        for _ in 0..num_devs(mpb) {
            let len = Dev::<&[u8]>::check_len(&mpb[off..]).ok_or(CopyError::Malformed("volume"))?;
            let mut d = DevBuf { buf: [0; DEV_MAX] };
            d.buf[..len].copy_from_slice(&mpb[off..off + len]);
            im.devs.push(d);
            off += len;
        }
        let bbm = le32(mpb, header::BBM_LOG_SIZE) as usize;
        if bbm > 0 {
            im.bbm
                .try_extend_from_slice(&mpb[mpb.len() - bbm..])
                .map_err(|_| CopyError::Malformed("bbm"))?;
        }
        // Only 2TB_DISK containers use the high halves of disk sizes.
        if le32(&im.header, header::ATTRIBUTES) & 0x0400_0000 == 0 {
            for r in im.table.iter_mut() {
                set_le32(r, view::disk::TOTAL_BLOCKS_HI, 0);
            }
        }
        Ok(im)
    }

    /// The present disks.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Number of volumes.
    pub fn num_volumes(&self) -> usize {
        self.devs.len()
    }

    /// A read-only view of volume `inst`.
    pub fn volume(&self, inst: usize) -> Option<Dev<&[u8]>> {
        self.devs.get(inst).map(|d| d.view())
    }

    pub fn family_num(&self) -> u32 {
        le32(&self.header, header::FAMILY_NUM)
    }

    fn present(&self, idx: u32) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.index >= 0 && m.index as u32 == idx)
    }

    /// The record of disk `idx` if that disk is present.
    fn present_record(&self, idx: u32) -> Option<&[u8; 48]> {
        self.present(idx).map(|_| &self.table[idx as usize])
    }

    fn slot_bad(&self, ord: u32) -> bool {
        match self.present_record(ord_to_idx(ord)) {
            None => true,
            Some(r) => status(r) & view::disk::FAILED != 0 || ord & ORD_REBUILD != 0,
        }
    }

    /// Count failed slots, looking at map 0, map 1, or both (`None` = MAP_X).
    fn count_failed(&self, inst: usize, which: Option<usize>) -> u32 {
        let d = self.devs[inst].view();
        let m0 = d.map0();
        let m1 = d.map1();
        let n0 = usize::from(m0.num_members());
        let n1 = m1
            .as_ref()
            .map(|m| usize::from(m.num_members()))
            .unwrap_or(0);
        let mut failed = 0;
        for i in 0..n0.max(n1) {
            let mut idx1 = None;
            if let Some(m1) = m1.as_ref().filter(|_| which != Some(0) && i < n1) {
                let ord = m1.ord(i);
                idx1 = Some(ord_to_idx(ord));
                if self.slot_bad(ord) {
                    failed += 1;
                }
            }
            if which != Some(1) && i < n0 {
                let ord = m0.ord(i);
                if Some(ord_to_idx(ord)) != idx1 && self.slot_bad(ord) {
                    failed += 1;
                }
            }
        }
        failed
    }

    /// The map state `failed` bad slots imply for map `which` of volume `inst`.
    fn check_degraded(&self, inst: usize, failed: u32, which: usize) -> u8 {
        let d = self.devs[inst].view();
        let m = if which == 1 {
            d.map1().unwrap_or_else(|| d.map0())
        } else {
            d.map0()
        };
        if failed == 0 {
            return if m.map_state() == map_state::UNINITIALIZED {
                map_state::UNINITIALIZED
            } else {
                map_state::NORMAL
            };
        }
        let n = u32::from(m.num_members());
        match m.level() {
            0 => map_state::FAILED,
            1 => {
                if failed < n {
                    map_state::DEGRADED
                } else {
                    map_state::FAILED
                }
            }
            5 => {
                if failed < 2 {
                    map_state::DEGRADED
                } else {
                    map_state::FAILED
                }
            }
            10 => {
                let mx = d.map_x();
                let n = usize::from(mx.num_members());
                let mut s = 0;
                while s + 1 < n {
                    if self.slot_bad(mx.ord(s)) && self.slot_bad(mx.ord(s + 1)) {
                        return map_state::FAILED;
                    }
                    s += 2;
                }
                map_state::DEGRADED
            }
            _ => m.map_state(),
        }
    }

    fn is_resyncing(&self, inst: usize) -> bool {
        let d = self.devs[inst].view();
        if !d.migrating() {
            return false;
        }
        match d.migr_type() {
            MigrType::Init | MigrType::Repair => true,
            MigrType::GenMigr => false,
            _ => d
                .map1()
                .map(|m| m.map_state() == map_state::NORMAL)
                .unwrap_or(false),
        }
    }

    fn is_rebuilding(&self, inst: usize) -> bool {
        let d = self.devs[inst].view();
        d.migrating()
            && d.migr_type() == MigrType::Rebuild
            && d.map1()
                .map(|m| m.map_state() == map_state::DEGRADED)
                .unwrap_or(false)
    }

    fn is_gen_migration(&self, inst: usize) -> bool {
        let d = self.devs[inst].view();
        d.migrating() && d.migr_type() == MigrType::GenMigr
    }

    fn any_gen_migration(&self) -> bool {
        (0..self.devs.len()).any(|i| self.is_gen_migration(i))
    }

    /// Enter a migration: map 1 becomes a copy of map 0, map 0 gets `to_state`.
    fn migrate(&mut self, inst: usize, to_state: u8, t: MigrType) {
        let dev = &mut self.devs[inst];
        let mut d = dev.view_mut();
        d.set_migr_state(1);
        d.set_migr_type(t);
        d.set_curr_migr_unit(0);
        let n0 = usize::from(d.map0().num_members());
        let len = map_size(n0);
        let o0 = view::dev::LEN;
        dev.buf.copy_within(o0..o0 + len, o0 + len);
        let mut d = dev.view_mut();
        if t == MigrType::GenMigr {
            for s in 0..n0 {
                let o = d.map0().ord(s);
                d.map_mut(0).set_ord(s, ord_to_idx(o));
            }
        }
        d.map_mut(0).set_map_state(to_state);
    }

    /// Leave a migration, ending in `state` (re-evaluated when unexpected).
    fn end_migration(&mut self, inst: usize, mut state: u8) {
        let d = self.devs[inst].view();
        let prev_state = d.map_x().map_state();
        if state != d.map0().map_state()
            && d.migr_type() != MigrType::GenMigr
            && prev_state != map_state::UNINITIALIZED
        {
            // Carry the REBUILD flags of the source map into the target by disk idx.
            let px: ArrayVec<u32, MAX_SLOTS> = {
                let mx = d.map_x();
                (0..usize::from(mx.num_members()))
                    .map(|s| mx.ord(s))
                    .collect()
            };
            let dm = &mut self.devs[inst];
            for ord in px {
                let slot = dm.view().map0().slot_of(ord_to_idx(ord));
                if let Some(s) = slot {
                    let cur = dm.view().map0().ord(s);
                    dm.view_mut().map_mut(0).set_ord(s, cur | ord);
                }
            }
            let failed = self.count_failed(inst, Some(0));
            state = self.check_degraded(inst, failed, 0);
        }
        let mut d = self.devs[inst].view_mut();
        d.set_migr_state(0);
        d.set_migr_type(MigrType::Init);
        d.set_curr_migr_unit(0);
        d.map_mut(0).set_map_state(state);
    }

    /// Per-member sectors in one migration unit of volume `inst` (0 when not migrating).
    pub fn blocks_per_migr_unit(&self, inst: usize) -> u64 {
        let d = self.devs[inst].view();
        let Some(m1) = d.map1() else { return 0 };
        let m0 = d.map0();
        match d.migr_type() {
            MigrType::Init | MigrType::Verify | MigrType::Repair => {
                let bps0 = u32::from(m0.blocks_per_strip()).max(1);
                let bps1 = u32::from(m1.blocks_per_strip()).max(1);
                let spu = (bps1 / bps0).max(1);
                let mc = if matches!(m0.level(), 5 | 10) {
                    bps0
                } else {
                    256
                };
                let dm = m0.data_members().max(1);
                let bpu = spu * mc * dm;
                let stripe = bps0 * dm;
                let segment = bpu / stripe;
                let rel = bpu - segment * stripe;
                let pdepth = match m0.level() {
                    1 | 10 => bps0 * u32::from(m0.num_domains()),
                    5 => bps0 * u32::from(m0.num_members()),
                    _ => bps0,
                };
                let c = bps1;
                let strip = rel / c;
                let n1 = u32::from(m1.num_members()).max(1);
                let bmap = match m1.level() {
                    1 | 10 => ((strip * u32::from(m1.num_domains()) + 1) / n1) * c + rel % c,
                    5 => (strip / (n1 - 1).max(1)) * c + rel % c,
                    _ => 0,
                };
                u64::from(bmap + pdepth * segment)
            }
            MigrType::Rebuild => {
                let spu = if matches!(m0.level(), 1 | 10) {
                    u32::from(m1.num_domains())
                } else {
                    // The resync value of strips per unit.
                    (u32::from(m1.blocks_per_strip()) / u32::from(m0.blocks_per_strip()).max(1))
                        .max(1)
                };
                let mc = match m1.level() {
                    1 | 10 => {
                        let dom = u32::from(m1.num_domains()).max(1);
                        if u32::from(m1.num_members()) % dom == 0 {
                            256
                        } else {
                            u32::from(m1.blocks_per_strip())
                        }
                    }
                    5 => u32::from(m1.blocks_per_strip()).max(128),
                    _ => 256,
                };
                u64::from(spu * mc)
            }
            MigrType::GenMigr | MigrType::StateChange | MigrType::Unknown(_) => 0,
        }
    }

    /// Record the disk `idx` failed in volume `inst`; true if anything changed.
    fn mark_failure(&mut self, inst: usize, idx: u32) -> bool {
        let d = self.devs[inst].view();
        let Some(slot) = d.map0().slot_of(idx) else {
            return false;
        };
        let rec = self.table[idx as usize];
        if status(&rec) & view::disk::FAILED != 0 && d.map0().ord(slot) & ORD_REBUILD != 0 {
            return false;
        }
        let rebuilding = self.is_rebuilding(inst);
        // Retire the serial: append ":0", keeping it within 15 characters.
        let rec = &mut self.table[idx as usize];
        let mut s: ArrayVec<u8, 18> = ArrayVec::new();
        s.try_extend_from_slice(crate::wire::cstr_field(&rec[..16]))
            .ok();
        s.try_extend_from_slice(b":0").ok();
        let keep = &s[s.len().saturating_sub(15)..];
        let mut serial = [0u8; 16];
        serial[..keep.len()].copy_from_slice(keep);
        rec[..16].copy_from_slice(&serial);
        let st = status(rec) | view::disk::FAILED;
        set_le32(rec, view::disk::STATUS, st);
        let dm = &mut self.devs[inst];
        dm.view_mut().map_mut(0).set_ord(slot, idx | ORD_REBUILD);
        if dm.view().migrating() {
            if let Some(s1) = dm.view().map1().and_then(|m| m.slot_of(idx)) {
                dm.view_mut().map_mut(1).set_ord(s1, idx | ORD_REBUILD);
            }
        }
        let fdn = dm.view().map0().failed_disk_num();
        if fdn == 0xff || (!rebuilding && usize::from(fdn) > slot) {
            dm.view_mut().map_mut(0).set_failed_disk_num(slot as u8);
        }
        if let Some(m) = self.members.iter_mut().find(|m| m.index == idx as i32) {
            m.record = self.table[idx as usize];
        }
        true
    }

    /// Indices of table disks with no present device.
    fn missing_disks(&self) -> ArrayVec<u32, MAX_DISKS> {
        (0..self.table.len() as u32)
            .filter(|&i| self.present(i).is_none())
            .collect()
    }

    /// On first activation: settle the state of volumes with missing disks.
    fn handle_missing(&mut self, inst: usize) {
        let missing = self.missing_disks();
        if missing.is_empty() {
            return;
        }
        if !self.is_gen_migration(inst) && self.count_failed(inst, Some(0)) > 0 {
            let d = self.devs[inst].view();
            let m0 = d.map0();
            let mut rebuilt = true;
            for s in 0..usize::from(m0.num_members()) {
                if m0.ord(s) & ORD_REBUILD != 0 {
                    if let Some(m1) = d.map1() {
                        if s < usize::from(m1.num_members()) && m1.ord(s) & ORD_REBUILD != 0 {
                            rebuilt = false;
                        }
                    }
                }
            }
            if rebuilt {
                let failed = self.count_failed(inst, Some(0));
                let st = self.check_degraded(inst, failed, 0);
                self.end_migration(inst, st);
            }
        }
        for idx in missing {
            if self.mark_failure(inst, idx) {
                let rec = &mut self.table[idx as usize];
                if le32(rec, view::disk::SCSI_ID) != 0xffff_ffff {
                    set_le32(rec, view::disk::SCSI_ID, 0xffff_ffff);
                    rec.copy_within(1..16, 0);
                    rec[15] = 0;
                }
            }
        }
        self.pending += 1;
    }

    /// Render the MPB from the model (header fields persist; tables are regenerated).
    fn build_image(&mut self) {
        self.image.clear();
        let _ = self.image.try_extend_from_slice(&self.header);
        for r in &self.table {
            let _ = self.image.try_extend_from_slice(r);
        }
        for d in &self.devs {
            let len = d.view().len();
            let _ = self.image.try_extend_from_slice(&d.buf[..len]);
        }
        let has_bbm = self.bbm.len() > 8 && le32(&self.bbm, 4) > 0;
        if has_bbm {
            let _ = self.image.try_extend_from_slice(&self.bbm);
        }
        let img = &mut self.image[..];
        img[header::NUM_DISKS] = self.table.len() as u8;
        img[header::NUM_RAID_DEVS] = self.devs.len() as u8;
        let mut attrs = le32(img, header::ATTRIBUTES);
        if has_bbm {
            attrs |= 0x0800_0000;
        } else {
            attrs &= !0x0800_0000;
        }
        set_le32(img, header::ATTRIBUTES, attrs);
        set_le32(
            img,
            header::BBM_LOG_SIZE,
            if has_bbm { self.bbm.len() as u32 } else { 0 },
        );
        let size = img.len() as u32;
        set_le32(img, header::MPB_SIZE, size);
        set_le32(img, header::CHECK_SUM, 0);
        let sum = checksum(img, size as usize);
        set_le32(img, header::CHECK_SUM, sum);
    }

    /// The one-disk MPB a spare carries.
    fn spare_image(&self, m: &Member, out: &mut [u8]) -> usize {
        let len = header::LEN + view::disk::LEN;
        out[..len].fill(0);
        out[..24].copy_from_slice(view::SIGNATURE);
        out[24..24 + view::VERSION_WRITTEN.len()].copy_from_slice(view::VERSION_WRITTEN);
        set_le32(out, header::MPB_SIZE, len as u32);
        set_le32(out, header::GENERATION_NUM, 1);
        set_le32(out, header::FAMILY_NUM, self.random);
        set_le32(out, header::PWR_CYCLE_COUNT, 1);
        out[header::NUM_DISKS] = 1;
        let mut rec = m.record;
        set_le32(&mut rec, view::disk::STATUS, view::disk::SPARE);
        out[header::LEN..len].copy_from_slice(&rec);
        let sum = checksum(out, len);
        set_le32(out, header::CHECK_SUM, sum);
        len
    }

    /// The raw MPB image of the last `begin_write`.
    pub fn image(&self) -> &[u8] {
        &self.image
    }
}

fn src_serial(src: &dyn DiskSource, i: usize) -> Serial {
    src.info(i).serial
}

impl Metadata for Imsm {
    fn name(&self) -> &'static str {
        "imsm"
    }

    fn open_new(&mut self, inst: u32) -> Result<(), OpenError> {
        if (inst as usize) < self.devs.len() {
            Ok(())
        } else {
            Err(OpenError::NoSuchVolume)
        }
    }

    fn set_array_state(&mut self, a: &mut ArrayCtx, consistent: Consistency) -> bool {
        let inst = a.inst as usize;
        if inst >= self.devs.len() {
            return consistent != Consistency::Dirty;
        }
        let mut consistent = consistent;
        if self.is_gen_migration(inst) {
            // Reshape is driven by mdadm; only dirty/clean is ours here.
            return self.mark_dirty_clean(inst, consistent);
        }
        if consistent == Consistency::Starting {
            self.handle_missing(inst);
        }
        let failed = self.count_failed(inst, Some(0));
        let state = self.check_degraded(inst, failed, 0);
        if consistent == Consistency::Starting {
            let d = self.devs[inst].view();
            consistent = if !a.resync_complete() || state != map_state::NORMAL || d.migrating() {
                Consistency::Dirty
            } else {
                Consistency::Clean
            };
        }
        if a.resync_complete() {
            if self.is_resyncing(inst) {
                self.end_migration(inst, state);
                self.pending += 1;
                a.last_checkpoint = 0;
            }
        } else if !self.is_resyncing(inst) && failed == 0 && !self.any_gen_migration() {
            let uninit = self.devs[inst].view().map0().map_state() == map_state::UNINITIALIZED;
            let t = if uninit {
                MigrType::Init
            } else {
                MigrType::Repair
            };
            self.migrate(inst, map_state::NORMAL, t);
            self.pending += 1;
        }
        if a.prev_action != SyncAction::Idle {
            let bpu = self.blocks_per_migr_unit(inst);
            if bpu != 0 {
                let unit = a.last_checkpoint / bpu;
                let d = self.devs[inst].view();
                if d.curr_migr_unit() != unit {
                    self.devs[inst].view_mut().set_curr_migr_unit(unit);
                    self.pending += 1;
                }
            }
        }
        self.mark_dirty_clean(inst, consistent)
    }

    fn set_disk(&mut self, a: &mut ArrayCtx, slot: u32, state: DevState) {
        let inst = a.inst as usize;
        if inst >= self.devs.len() {
            return;
        }
        let d = self.devs[inst].view();
        let mx = d.map_x();
        if slot as usize >= usize::from(mx.num_members()) {
            return;
        }
        let ord = mx.ord(slot as usize);
        let idx = ord_to_idx(ord);
        let present = self.present(idx).is_some();
        let mut rebuild_done = false;
        if state.has(DevState::FAULTY) && present && self.mark_failure(inst, idx) {
            self.pending += 1;
        }
        if state.has(DevState::INSYNC)
            && !state.has(DevState::FAULTY)
            && ord & ORD_REBUILD != 0
            && self.is_rebuilding(inst)
        {
            self.devs[inst]
                .view_mut()
                .map_mut(1)
                .set_ord(slot as usize, idx);
            rebuild_done = true;
            self.pending += 1;
        }
        let failed = self.count_failed(inst, Some(0));
        let st = self.check_degraded(inst, failed, 0);
        // A rebuild is unfinished while any member still has a recovery position.
        let unfinished = |im: &mut Imsm, a: &mut ArrayCtx| -> bool {
            if let Some(s) = a.slots.iter().find(|s| s.recovery_start != MAX_SECTOR) {
                if a.last_checkpoint < s.recovery_start {
                    a.last_checkpoint = s.recovery_start;
                    im.pending += 1;
                }
                true
            } else {
                false
            }
        };
        let m0_state = self.devs[inst].view().map0().map_state();
        let migrating = self.devs[inst].view().migrating();
        match st {
            map_state::NORMAL => {
                if self.is_rebuilding(inst) {
                    if unfinished(self, a) {
                        return;
                    }
                    self.end_migration(inst, map_state::NORMAL);
                    self.devs[inst]
                        .view_mut()
                        .map_mut(0)
                        .set_failed_disk_num(0xff);
                    self.pending += 1;
                    a.last_checkpoint = 0;
                } else if self.is_gen_migration(inst) {
                    if a.last_checkpoint >= a.component_size {
                        self.end_migration(inst, map_state::NORMAL);
                    } else {
                        self.devs[inst]
                            .view_mut()
                            .map_mut(0)
                            .set_map_state(map_state::NORMAL);
                    }
                    self.devs[inst]
                        .view_mut()
                        .map_mut(0)
                        .set_failed_disk_num(0xff);
                    self.pending += 1;
                }
            }
            map_state::DEGRADED => {
                if m0_state != map_state::DEGRADED && !migrating {
                    self.devs[inst]
                        .view_mut()
                        .map_mut(0)
                        .set_map_state(map_state::DEGRADED);
                    self.pending += 1;
                    a.last_checkpoint = 0;
                } else if self.is_rebuilding(inst) {
                    if state.has(DevState::FAULTY) {
                        let fdn = self.devs[inst].view().map0().failed_disk_num();
                        if slot == u32::from(fdn) {
                            self.end_migration(inst, map_state::DEGRADED);
                            a.last_checkpoint = 0;
                        } else {
                            self.devs[inst]
                                .view_mut()
                                .map_mut(0)
                                .set_map_state(map_state::DEGRADED);
                        }
                        self.pending += 1;
                    }
                    if !rebuild_done || unfinished(self, a) {
                        return;
                    }
                    self.end_migration(inst, map_state::DEGRADED);
                    a.last_checkpoint = 0;
                    let dv = self.devs[inst].view();
                    let m0 = dv.map0();
                    let last = (0..usize::from(m0.num_members()))
                        .rev()
                        .find(|&s| m0.ord(s) & ORD_REBUILD != 0);
                    if let Some(s) = last {
                        self.devs[inst]
                            .view_mut()
                            .map_mut(0)
                            .set_failed_disk_num(s as u8);
                    }
                    self.pending += 1;
                } else if self.is_gen_migration(inst) {
                    self.devs[inst]
                        .view_mut()
                        .map_mut(0)
                        .set_map_state(map_state::DEGRADED);
                    self.pending += 1;
                } else if migrating && self.devs[inst].view().migr_type() == MigrType::Init {
                    self.devs[inst]
                        .view_mut()
                        .map_mut(0)
                        .set_map_state(map_state::DEGRADED);
                    self.pending += 1;
                }
            }
            map_state::FAILED => {
                if self.is_gen_migration(inst) {
                    self.devs[inst]
                        .view_mut()
                        .map_mut(0)
                        .set_map_state(map_state::FAILED);
                    self.pending += 1;
                } else if m0_state != map_state::FAILED {
                    self.end_migration(inst, map_state::FAILED);
                    self.pending += 1;
                    a.last_checkpoint = 0;
                }
            }
            _ => {}
        }
    }

    fn updates_pending(&self) -> bool {
        self.pending != 0
    }

    fn begin_write(&mut self) -> usize {
        let gen = le32(&self.header, header::GENERATION_NUM).wrapping_add(1);
        set_le32(&mut self.header, header::GENERATION_NUM, gen);
        if le32(&self.header, header::ORIG_FAMILY_NUM) == 0 {
            let f = self.family_num();
            set_le32(&mut self.header, header::ORIG_FAMILY_NUM, f);
        }
        self.pending = 0;
        self.build_image();
        self.members.len()
    }

    fn disk_dev(&self, i: usize) -> Option<DevT> {
        let m = self.members.get(i)?;
        match m.index {
            -1 => Some(m.dev),
            idx if idx >= 0 && status(&self.table[idx as usize]) & view::disk::FAILED == 0 => {
                Some(m.dev)
            }
            _ => None,
        }
    }

    fn render(&self, i: usize, geom: DiskGeom, buf: &mut [u8]) -> Regions {
        let mut out = Regions::new();
        let Some(m) = self.members.get(i) else {
            return out;
        };
        let ss = geom.sector_size as usize;
        let d = geom.size_bytes;
        let mut spare = [0u8; header::LEN + view::disk::LEN];
        let mpb: &[u8] = if m.index == -1 {
            let n = self.spare_image(m, &mut spare);
            &spare[..n]
        } else {
            &self.image
        };
        // On disk the tail is: extended sectors (MPB sectors 1..k), the
        // anchor (MPB sector 0), the migration record. They are contiguous,
        // so one write covers them: a torn write leaves a checksum mismatch
        // (the anchor's checksum covers the extended sectors), exactly as
        // writing them one after another would.
        let k = mpb.len().div_ceil(ss);
        let ext = (k - 1) * ss;
        if buf.len() < (k + 1) * ss {
            return out;
        }
        let first = ss.min(mpb.len());
        buf[..(k + 1) * ss].fill(0);
        buf[..mpb.len() - first].copy_from_slice(&mpb[first..]);
        buf[ext..ext + first].copy_from_slice(&mpb[..first]);
        // The migration record belongs to mdadm during a reshape; otherwise
        // it is cleared along with the anchor.
        let len = if self.any_gen_migration() {
            k * ss
        } else {
            (k + 1) * ss
        };
        out.push(Region {
            offset: d - (k as u64 + 1) * ss as u64,
            start: 0,
            len,
        });
        out
    }

    fn end_write(&mut self) {}

    fn generation(&self) -> u32 {
        le32(&self.header, header::GENERATION_NUM)
    }

    fn volume_dirty(&self, inst: u32) -> Option<bool> {
        self.devs
            .get(inst as usize)
            .map(|d| d.view().dirty() & 1 != 0)
    }
}

impl Imsm {
    fn mark_dirty_clean(&mut self, inst: usize, consistent: Consistency) -> bool {
        let clean = consistent != Consistency::Dirty;
        let d = self.devs[inst].view();
        let is_dirty = d.dirty() & 1 != 0;
        if is_dirty == clean {
            let v = if clean {
                0
            } else if matches!(d.rwh_policy(), 1 | 3) {
                3
            } else {
                1
            };
            self.devs[inst].view_mut().set_dirty(v);
            self.pending += 1;
        }
        clean
    }
}

#[cfg(test)]
mod tests;
