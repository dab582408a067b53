//! Intel Matrix Storage Manager (IMSM) metadata: loading and reconciling the
//! copies on every member disk, the handler decisions mdmon makes
//! (dirty/clean, resync checkpoints, failures), and rendering the MPB that
//! goes back to every member.

pub mod view;

use crate::md::{DevState, SyncAction, MAX_SECTOR};
use crate::metadata::{
    ArrayCtx, Consistency, DevT, DiskGeom, Metadata, OpenError, Region, Regions, MAX_DISKS, MAX_SLOTS,
};
use crate::wire::{le32, set_le32};
use arrayvec::ArrayVec;
use core::fmt;
use view::{checksum, header, Dev};
#[cfg(test)]
use view::{map_state, MigrType, ORD_REBUILD};

/// Most volumes a container may hold (the OROM allows 2 per array).
pub const MAX_VOLUMES: usize = 4;
/// Largest volume record: header plus two maps of [`MAX_SLOTS`] members.
pub const DEV_MAX: usize = view::dev::LEN + 2 * (view::map::LEN + 4 * MAX_SLOTS);
/// Largest bad-block log (254 entries).
pub const BBM_MAX: usize = 8 + 8 * 254;
/// Longest update payload accepted from mdadm: its largest, `create_array`
/// (type, index, volume record, one serial per member: 8 + 568 + 512
/// bytes), with room to spare.
pub const UPDATE_MAX: usize = 4096;
// create_array with the largest record, and reshape_container_disks adding
// every slot, fit (checked at build time).
const _: () = assert!(UPDATE_MAX >= 8 + DEV_MAX + 16 * MAX_SLOTS && UPDATE_MAX >= 12 + 4 * MAX_SLOTS);
/// Largest MPB we accept.
pub const MPB_MAX: usize = 16 * 1024;
/// Largest MPB we write: it is rebuilt from the model (header, disk table,
/// volumes, bad-block log), so it never outgrows this (5648 bytes).
pub const IMAGE_MAX: usize = header::LEN + MAX_DISKS * view::disk::LEN + MAX_VOLUMES * DEV_MAX + BBM_MAX;
const _: () = assert!(IMAGE_MAX <= MPB_MAX);

use crate::metadata::load::{DiskSource, Serial};

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
    /// The logical sector size is neither 512 nor 4096 bytes, or differs
    /// from the container's.
    SectorSize(u32),
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::Io(e) => write!(f, "read error (errno {e})"),
            CopyError::NoSignature => write!(f, "no IMSM signature"),
            CopyError::BadSize(s) => write!(f, "impossible mpb_size {s}"),
            CopyError::BadChecksum { stored, computed } => {
                write!(f, "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")
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
    /// A volume's sizes are impossible (overflow, or past a member disk's end).
    BadVolume(&'static str),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NoUsableCopy => write!(f, "no member disk holds usable IMSM metadata"),
            LoadError::TooLarge => write!(f, "container larger than this build supports"),
            LoadError::BadVolume(why) => write!(f, "impossible volume: {why}"),
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
    /// Disk `dev`'s logical sector size (`size`) differs from the other
    /// members': not used.
    SectorSize { dev: DevT, size: u32 },
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
    /// The disk's own copy matched the chosen metadata at load (or we wrote
    /// it since): its rebuild checkpoint can be trusted.
    pub current: bool,
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
    /// The MPB frozen by `begin_write`, in the disks' sector units.
    image: ArrayVec<u8, IMAGE_MAX>,
    /// The members' logical sector size (512 or 4096); the model is in
    /// 512-byte units whatever it is.
    sector_size: u32,
}

mod apply;
pub mod bbm;
mod bounds;
mod handler;
mod load;
mod reshape;
pub mod sector;
mod spare;
mod state;
mod takeover;
pub mod update;

impl Imsm {
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

    /// The members' logical sector size in bytes.
    pub fn sector_size(&self) -> u32 {
        self.sector_size
    }

    pub fn family_num(&self) -> u32 {
        le32(&self.header, header::FAMILY_NUM)
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
        set_le32(img, header::BBM_LOG_SIZE, if has_bbm { self.bbm.len() as u32 } else { 0 });
        let size = img.len() as u32;
        set_le32(img, header::MPB_SIZE, size);
        if self.sector_size == 4096 {
            sector::to_4k(img);
        }
        set_le32(img, header::CHECK_SUM, 0);
        let sum = checksum(img, size as usize);
        set_le32(img, header::CHECK_SUM, sum);
    }

    /// The one-disk MPB a spare carries.
    fn spare_image(&self, m: &Member, out: &mut [u8]) -> usize {
        let len = header::LEN + view::disk::LEN;
        out[..len].fill(0);
        out[..24].copy_from_slice(view::SIGNATURE);
        // Debian's mdadm 4.2 (our oracle) labels spares "1.0.00"; newer
        // upstream writes "1.3.00". Both read either.
        out[24..30].copy_from_slice(b"1.0.00");
        set_le32(out, header::MPB_SIZE, len as u32);
        set_le32(out, header::GENERATION_NUM, 1);
        let mut attrs = 0x8000_0000;
        if le32(&m.record, view::disk::TOTAL_BLOCKS_HI) != 0 {
            attrs |= 0x0400_0000;
        }
        set_le32(out, header::ATTRIBUTES, attrs);
        out[0x3C..0x40].copy_from_slice(&self.header[0x3C..0x40]); // cache_size
        set_le32(out, header::PWR_CYCLE_COUNT, 1);
        out[header::NUM_DISKS] = 1;
        let mut rec = m.record;
        set_le32(&mut rec, view::disk::STATUS, view::disk::SPARE);
        if self.sector_size == 4096 {
            sector::record_to_4k(&mut rec);
        }
        out[header::LEN..len].copy_from_slice(&rec);
        // A spare's family is its own: the checksum before the family is set.
        let family = checksum(out, len);
        set_le32(out, header::FAMILY_NUM, family);
        let sum = checksum(out, len);
        set_le32(out, header::CHECK_SUM, sum);
        len
    }

    /// The raw MPB image of the last `begin_write`.
    pub fn image(&self) -> &[u8] {
        &self.image
    }
}

#[cfg(test)]
mod tests;
