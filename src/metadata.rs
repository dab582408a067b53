//! The contract between the monitor/manager core and a metadata format.
//!
//! IMSM and DDF implement [`Metadata`], made of three roles: [`Handler`]
//! (the monitor's state changes), [`Manager`] (spares, disks, updates) and
//! [`Writer`] (the write plan); the loop never asks which format it holds.
//! Every method is pure with respect to I/O: a format keeps its metadata in
//! fixed buffers, changes it in memory, and renders the bytes each member
//! disk must receive when the shell asks ([`Writer::render`]). The shell
//! does the reading and writing.

pub mod load;

pub use load::{DiskInfo, DiskSource, Format, Serial};

use crate::badblocks::{BadRange, BbList};
use crate::md::{DevState, SyncAction};
use arrayvec::ArrayVec;

/// Most member slots an array may have.
pub const MAX_SLOTS: usize = 32;
/// Most disks a container may hold.
pub const MAX_DISKS: usize = 32;

/// A block device number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DevT {
    pub major: u32,
    pub minor: u32,
}

/// One member device of a monitored array, as the monitor last read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotInfo {
    /// The md slot (`raid_disk`).
    pub slot: u32,
    pub dev: DevT,
    /// `recovery_start` in sectors; [`crate::md::MAX_SECTOR`] when in sync.
    pub recovery_start: u64,
    /// The device's current `state` flags.
    pub state: DevState,
}

/// What a format sees of a monitored array, and the few values it may
/// change (upstream's `struct active_array` fields a handler touches).
#[derive(Clone, Debug)]
pub struct ArrayCtx {
    /// Index of the volume in the container (`external:/mdX/<inst>`).
    pub inst: u32,
    pub level: i32,
    pub layout: u32,
    pub raid_disks: u32,
    /// Per-member data size in 512-byte sectors.
    pub component_size: u64,
    /// `resync_start` as last read.
    pub resync_start: u64,
    pub curr_action: SyncAction,
    pub prev_action: SyncAction,
    /// Progress of the current sync operation in per-member sectors, as the
    /// monitor last recorded it; the format may lower or reset it.
    pub last_checkpoint: u64,
    /// The members currently tracked.
    pub slots: ArrayVec<SlotInfo, MAX_SLOTS>,
    /// Set by the format: the manager should look at degraded slots.
    pub check_degraded: bool,
    /// Set by the format when a reshape finished: the manager should pick up
    /// members mdadm added and grow `array_size` to `custom_array_size`.
    pub check_reshape: bool,
    /// The array size (sectors) the metadata gives after a reshape; 0 = none.
    pub custom_array_size: u64,
}

impl ArrayCtx {
    /// A member array as first seen: no sync running, resync complete,
    /// no checkpoint, members `slots`.
    pub fn new(
        inst: u32,
        level: i32,
        layout: u32,
        raid_disks: u32,
        component_size: u64,
        slots: ArrayVec<SlotInfo, MAX_SLOTS>,
    ) -> ArrayCtx {
        ArrayCtx {
            inst,
            level,
            layout,
            raid_disks,
            component_size,
            resync_start: crate::md::MAX_SECTOR,
            curr_action: SyncAction::Idle,
            prev_action: SyncAction::Idle,
            last_checkpoint: 0,
            slots,
            check_degraded: false,
            check_reshape: false,
            custom_array_size: 0,
        }
    }

    /// Whether the resync of this array is complete according to
    /// `resync_start` (level-aware, as md counts resync sectors).
    pub fn resync_complete(&self) -> bool {
        self.resync_start >= self.sync_size()
    }

    /// The number of sectors a resync of this array covers.
    pub fn sync_size(&self) -> u64 {
        match self.level {
            1 | 4 | 5 | 6 => self.component_size,
            10 => {
                let near = u64::from(self.layout & 0xff).max(1);
                let far = u64::from((self.layout >> 8) & 0xff).max(1);
                self.component_size.saturating_mul(u64::from(self.raid_disks)) / (near * far)
            }
            _ => 0,
        }
    }
}

/// The `consistent` argument of `set_array_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consistency {
    /// Writes are about to happen: record the array dirty.
    Dirty,
    /// The kernel has no writes in flight: record the array clean.
    Clean,
    /// The array is starting from read-only: decide (and handle missing disks).
    Starting,
}

/// Why a format refused to monitor a member array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The container holds no volume with that index.
    NoSuchVolume,
}

/// One contiguous write the shell must perform on a member disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Byte offset on the disk.
    pub offset: u64,
    /// Byte range within the render buffer.
    pub start: usize,
    pub len: usize,
}

/// The writes for one disk, in the order they must reach the disk.
pub type Regions = ArrayVec<Region, 5>;

/// Where the bytes of one stretch of a disk's image come from, in a split
/// render ([`Writer::render_split`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// The disk's own render buffer, from this byte.
    Own(u32),
    /// The parts written straight from the model ([`Writer::shared_part`],
    /// laid end to end), from this byte.
    Shared(u32),
    /// Bytes of 0xFF (the shell writes them from one buffer of its own).
    Fill,
}

/// One stretch of a disk's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub len: u32,
    pub src: Src,
}

/// Most stretches one image may be split into.
pub const MAX_EXTENTS: usize = 192;

/// Most shared parts ([`Writer::shared_part`]) a format may have.
pub const MAX_SHARED_PARTS: usize = 192;

/// A disk's image as consecutive stretches: the image's byte `x` lies in
/// the extent whose lengths before it sum to at most `x`. A [`Region`]'s
/// `start`/`len` address the image.
pub type Layout = ArrayVec<Extent, MAX_EXTENTS>;

/// Geometry of a member disk, queried by the shell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskGeom {
    pub size_bytes: u64,
    pub sector_size: u32,
}

/// A disk chosen to rebuild a missing slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewMember {
    pub slot: u32,
    pub dev: DevT,
    /// Start of the volume's data on the disk, in sectors.
    pub data_offset: u64,
    /// Per-member data size, in sectors.
    pub component_size: u64,
}

/// Identity of a disk that joined the container.
#[derive(Clone, Copy, Debug)]
pub struct NewDisk {
    pub dev: DevT,
    /// The serial as the format records it.
    pub serial: [u8; 16],
    pub geom: DiskGeom,
    /// The disk's SCSI address as IMSM records it (host << 24 | channel << 16
    /// | target << 8 | lun), 0 for a disk without one.
    pub scsi_id: u32,
    /// Random bits from the shell, for formats that make identifiers for a
    /// new disk (DDF's disk GUID and reference number).
    pub random: u64,
}

/// A short description of an applied update, for the log.
pub type UpdateDone = heapless::String<96>;

/// A metadata format's in-memory metadata for one container: the three
/// roles below, and its name.
pub trait Metadata: Handler + Manager + Writer {
    /// The format name, as in the container's `metadata_version` (`external:<name>`).
    fn name(&self) -> &'static str;
}

/// The roles' methods in scope (`use crate::metadata::roles::*`), for
/// code that calls them on a concrete format.
pub mod roles {
    pub use super::{Handler as _, Manager as _, Writer as _};
}

/// The monitor's role of a format: state changes of monitored arrays.
pub trait Handler {
    /// Accept volume `inst` for monitoring.
    fn open_new(&mut self, inst: u32) -> Result<(), OpenError>;

    /// The current time, for timestamps the format records (the shell
    /// calls this before each pass; formats without timestamps ignore it).
    fn set_clock(&mut self, _unix_secs: u64) {}

    /// Record the array dirty or clean (and resync progress); returns whether
    /// the array is consistent (meaningful for [`Consistency::Starting`]).
    fn set_array_state(&mut self, a: &mut ArrayCtx, consistent: Consistency) -> bool;

    /// Record the state of the member in `slot` (failure, rebuild completion).
    fn set_disk(&mut self, a: &mut ArrayCtx, slot: u32, state: DevState);

    /// The format's bad-block log, if it keeps one (IMSM does; DDF as
    /// mdadm writes it does not, so md must not wait for one).
    fn bad_block_log(&mut self) -> Option<&mut dyn BadBlockLog> {
        None
    }
}

/// The manager's role of a format: disks joining and leaving, spares,
/// rebuild checkpoints, updates from mdadm.
pub trait Manager {
    /// Whether the metadata records disk `dev` unusable (failed, missing or
    /// not online): a live member on it is failed in md (DDF: a volume
    /// created while a failure was being recorded). Default: never.
    fn disk_failed(&self, _dev: DevT) -> bool {
        false
    }

    /// A disk joined the container: record it as a spare.
    fn add_disk(&mut self, disk: NewDisk) -> bool;

    /// A disk left the container.
    fn remove_disk(&mut self, dev: DevT);

    /// Choose disks for the slots of `a` that have no tracked member.
    /// Nothing is changed; empty when the array must not rebuild now.
    fn choose_spares(&self, a: &ArrayCtx, out: &mut ArrayVec<NewMember, MAX_SLOTS>);

    /// Record that `added` (already in the kernel array) rebuild their slots.
    fn record_rebuild(&mut self, a: &ArrayCtx, added: &[NewMember], random: u32);

    /// The sector from which the rebuild of the member in `slot` may resume,
    /// as recorded in the metadata; `None` when there is no checkpoint the
    /// metadata vouches for (the rebuild then starts from zero).
    fn resume_position(&self, a: &ArrayCtx, slot: u32) -> Option<u64>;

    /// The longest update payload this container may need accepted (the
    /// control socket's receive buffers are sized by it once, at start).
    fn max_update_len(&self) -> usize {
        crate::proto::MAX_PAYLOAD
    }

    /// Apply a metadata update mdadm sent (`payload` as received); `active`
    /// lists the volumes being monitored. Returns what was done, for the log.
    fn process_update(&mut self, payload: &[u8], active: &[u32]) -> Result<UpdateDone, &'static str>;
}

/// The writer's role of a format: a write plan of numbered disks, each
/// rendered on request, and each disk's result reported back
/// ([`Writer::written`]).
pub trait Writer {
    /// Whether in-memory changes wait to be written.
    fn updates_pending(&self) -> bool;

    /// Start writing pending changes: advance the generation and freeze the
    /// image that [`Writer::render`] hands out. Returns the number of disks
    /// (indices `0..n` for `disk_dev`/`render`).
    fn begin_write(&mut self) -> usize;

    /// The device of disk `i` of the current write, if it must be written.
    fn disk_dev(&self, i: usize) -> Option<DevT>;

    /// Bytes a render buffer for one disk needs.
    fn render_len(&self) -> usize;

    /// Render the bytes disk `i` must receive into `buf` (sector aligned),
    /// returning the writes in order.
    fn render(&self, i: usize, geom: DiskGeom, buf: &mut [u8]) -> Regions;

    /// Bytes of a buffer for one disk's own part of a split render
    /// ([`Writer::render_split`]); the default is the whole image.
    fn own_len(&self) -> usize {
        self.render_len()
    }

    /// Bytes of the parts the disks of a write take from the model (0:
    /// none; the format renders whole images).
    fn shared_len(&self) -> usize {
        0
    }

    /// Make the parts the disks of the current write take from the model
    /// ready to be written as they are (sealed); once per write, after
    /// [`Writer::begin_write`]. The model must not change until the write
    /// has completed.
    fn seal_shared(&mut self) {}

    /// Shared part `k` (at most [`MAX_SHARED_PARTS`]), written straight
    /// from the model: sector aligned and whole sectors long. `Src::Shared` offsets count the parts laid
    /// end to end.
    fn shared_part(&self, _k: usize) -> Option<&[u8]> {
        None
    }

    /// Render disk `i` split: its own bytes into `buf` ([`Writer::own_len`]
    /// long, sector aligned) and, in `layout`, where each stretch of its
    /// image comes from (its own buffer, the shared buffer, or 0xFF).
    /// The image and the writes are those of [`Writer::render`]. The
    /// default renders the whole image into `buf`.
    fn render_split(&self, i: usize, geom: DiskGeom, buf: &mut [u8], layout: &mut Layout) -> Regions {
        layout.clear();
        let r = self.render(i, geom, buf);
        match u32::try_from(buf.len()) {
            Ok(len) => layout.push(Extent { len, src: Src::Own(0) }),
            Err(_) => return Regions::new(),
        }
        r
    }

    /// Disk `i` of the current write received every write (`ok`) or not
    /// (reported before [`Writer::end_write`], for each disk written).
    fn written(&mut self, _i: usize, _ok: bool) {}

    /// The write finished (successfully or not: errors were logged).
    fn end_write(&mut self);

    /// The generation number now on disk (for logs and tests).
    fn generation(&self) -> u32;

    /// Whether volume `inst` is recorded dirty in the metadata.
    fn volume_dirty(&self, inst: u32) -> Option<bool>;
}

/// The role of a format that records bad blocks of member disks.
///
/// Ranges are in 512-byte sectors from the start of the disk, as md's
/// `bad_blocks` lists them. Changes are made in memory and reach the disks
/// with the next metadata write.
pub trait BadBlockLog {
    /// Fill `out` with the ranges recorded for the member in `slot` of `a`
    /// that touch the volume's extent on its disk. False when the metadata
    /// has no disk in that slot (nothing can be recorded for it).
    fn logged(&self, a: &ArrayCtx, slot: u32, out: &mut BbList) -> bool;

    /// Record `r` for the member in `slot`; false, with nothing changed,
    /// when it cannot (the log is full, or no disk is in that slot).
    fn record(&mut self, a: &ArrayCtx, slot: u32, r: BadRange) -> bool;

    /// Forget a recorded range (one that [`BadBlockLog::logged`] returned).
    fn clear(&mut self, a: &ArrayCtx, slot: u32, r: BadRange);

    /// The most sectors one recorded range holds: a longer range is
    /// recorded as pieces of this size (and a shorter last one).
    fn piece_max(&self) -> u32 {
        u32::MAX
    }
}
