//! SNIA DDF metadata as mdadm writes it: loading the copies on every member
//! disk (anchor, primary and secondary headers with their sections),
//! choosing the authoritative one, merging the per-disk configuration
//! records, and rendering each disk's metadata back.
//!
//! This is the codec (`load.rs`, `render.rs`, byte views in `view.rs`);
//! monitoring DDF containers (the handler decisions, `handler.rs`) builds
//! on it. Sections are held in buffers sized once at load time.

pub mod crc;
mod handler;
mod load;
mod render;
mod split;
pub mod view;

pub use handler::{pd_state, vd_state, DDF_EPOCH};

use crate::metadata::{DevT, MAX_DISKS};
use crate::sys::AlignedBuf;
use arrayvec::ArrayVec;
use core::fmt;
use view::{
    header as hdr, Controller, DiskData, Header, PhysEntry, PhysTable, Spare, VdConfig, VirtEntry, VirtTable, SECTOR,
};

/// Most virtual disks (volumes) a container may hold in this build.
pub const MAX_VDS: usize = 16;
/// Most BVDs of one secondary-level VD (RAID10 as an SVD of mirrors).
pub const MAX_BVDS: usize = 8;
/// Most configuration records a disk may carry (mdadm: 64 plus the spare slot).
pub const MAX_PARTITIONS: usize = 128;
/// Largest section length (sectors) accepted, as mdadm.
pub const MAX_SECTION: u32 = 1024;
/// Largest copy (a header and its sections, in sectors) accepted: the five
/// sections at their largest, one after another. mdadm's copies are 618.
pub const MAX_COPY_SECTORS: u32 = 1 + 5 * MAX_SECTION;
/// The sections a copy renders, in header order.
const SECTIONS: [usize; 5] =
    [hdr::CONTROLLER_SECTION, hdr::PHYS_SECTION, hdr::VIRT_SECTION, hdr::CONFIG_SECTION, hdr::DATA_SECTION];

/// Why one disk's metadata (or part of it) was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyError {
    /// The disk could not be read (errno).
    Io(i32),
    /// No valid anchor in the last sector.
    NoAnchor,
    /// Neither header the anchor names is valid.
    NoHeader,
    /// A section has the wrong magic or CRC (which section).
    BadSection(&'static str),
    /// Section sizes out of the ranges mdadm accepts or larger than this build's tables.
    Malformed(&'static str),
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::Io(e) => write!(f, "read error (errno {e})"),
            CopyError::NoAnchor => write!(f, "no valid DDF anchor in the last sector"),
            CopyError::NoHeader => write!(f, "neither the primary nor the secondary DDF header is valid"),
            CopyError::BadSection(s) => write!(f, "corrupt {s} section (bad magic or CRC)"),
            CopyError::Malformed(why) => write!(f, "malformed DDF metadata: {why}"),
        }
    }
}

/// Why the container could not be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// No member disk holds usable DDF metadata.
    NoUsableCopy,
    /// The members belong to different containers.
    MixedContainers,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NoUsableCopy => write!(f, "no member disk holds usable DDF metadata"),
            LoadError::MixedContainers => write!(f, "member disks carry different DDF container GUIDs"),
        }
    }
}

/// Something noteworthy found while loading, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadNote {
    /// Disk `dev`'s copy (or one of its headers) was not used.
    Rejected { dev: DevT, what: &'static str, why: CopyError },
    /// Disk `dev` carries an older generation than the chosen one.
    Stale { dev: DevT, seq: u32 },
    /// A configuration record on `dev` failed its CRC and was ignored.
    BadConfigRecord { dev: DevT, index: usize },
    /// The anchor of `dev` places its `which` ("primary"/"secondary") copy
    /// where it cannot be (`why`): that copy is neither read nor written.
    CopyNotWritten { dev: DevT, which: &'static str, why: &'static str },
}

/// A configuration record as held: checked at load for this container's
/// member positions; sector aligned and a whole record slot long, so the
/// daemon writes it from here (sealed in place before each write).
pub type ConfRecord = VdConfig<AlignedBuf>;

/// One virtual disk's configuration: its record (or, for a secondary-level
/// VD, one record per BVD, in `sec_elmnt_seq` order of arrival).
#[derive(Clone)]
pub struct VdConf {
    pub records: ArrayVec<ConfRecord, MAX_BVDS>,
    /// Index of its entry in the virtual disk table.
    pub vcnum: Option<usize>,
}

impl VdConf {
    /// The VD's GUID (that of its first record).
    pub fn guid(&self) -> &[u8] {
        self.records.first().map_or(&[], |r| r.guid())
    }
}

/// One present member disk and what is its own in the metadata.
#[derive(Clone)]
pub struct Member {
    pub dev: DevT,
    pub sectors: u64,
    pub primary_lba: u64,
    pub secondary_lba: u64,
    pub workspace_lba: u64,
    /// Timestamp of the disk's own header, kept for an unchanged re-render.
    pub timestamp: u32,
    pub disk_data: [u8; SECTOR],
    /// The disk's spare assignment record, written back as it was (from
    /// here, as the configuration records).
    pub spare: Option<Spare<AlignedBuf>>,
    /// The VDs (indexes into `Ddf::confs`) whose records this disk carries,
    /// in the order of its configuration slots.
    pub vlist: ArrayVec<u8, MAX_PARTITIONS>,
    /// Index of its entry in the physical disk table.
    pub pdnum: Option<usize>,
}

impl Member {
    /// The disk's own disk data.
    pub fn data(&self) -> DiskData<&[u8; SECTOR]> {
        DiskData::of(&self.disk_data)
    }
}

/// The in-memory DDF metadata of one container. The sections are held as
/// the views the load checked them into.
pub struct Ddf {
    /// The header of the freshest copy; its fields persist across writes.
    pub header: [u8; SECTOR],
    /// The shared sections, sector aligned and whole sectors long: the
    /// daemon writes them from here (sealed in place before each write).
    pub controller: Controller<AlignedBuf>,
    pub phys: PhysTable<AlignedBuf>,
    pub virt: VirtTable<AlignedBuf>,
    pub confs: ArrayVec<VdConf, MAX_VDS>,
    /// Each boxed (0.7 KiB) when it is found or joins: most containers
    /// hold a few of the `MAX_DISKS`, whose room inline would stay locked.
    pub members: ArrayVec<Box<Member>, MAX_DISKS>,
    /// Changes wait to be written (the header's sequence number is already
    /// advanced for them).
    pending: bool,
    /// The time for new timestamps (DDF epoch), set by the shell.
    now: u32,
}

impl Ddf {
    /// The container's header.
    pub fn head(&self) -> Header<&[u8; SECTOR]> {
        Header::of(&self.header)
    }

    /// The physical disk entries (all slots).
    pub fn phys_entries(&self) -> impl Iterator<Item = PhysEntry<&[u8]>> {
        self.phys.entries()
    }

    /// The virtual disk entries (all slots; the index is the VD number).
    pub fn virt_entries(&self) -> impl Iterator<Item = VirtEntry<&[u8]>> {
        self.virt.entries()
    }

    /// VD numbers in use.
    pub fn volumes(&self) -> impl Iterator<Item = usize> + '_ {
        self.virt_entries().enumerate().filter(|(_, e)| e.in_use()).map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests;
