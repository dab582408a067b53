//! Byte views of the IMSM on-disk structures: the MPB header, disk records,
//! volumes (`imsm_dev`) and their maps. All integers are little-endian.

use crate::wire::{le16, le32, set_le16, set_le32};

/// The signature prefix every MPB starts with.
pub const SIGNATURE: &[u8; 24] = b"Intel Raid ISM Cfg Sig. ";

/// Offsets of the MPB header (`imsm_super`).
pub mod header {
    pub const CHECK_SUM: usize = 0x20;
    pub const MPB_SIZE: usize = 0x24;
    pub const FAMILY_NUM: usize = 0x28;
    pub const GENERATION_NUM: usize = 0x2C;
    pub const ATTRIBUTES: usize = 0x34;
    pub const NUM_DISKS: usize = 0x38;
    pub const NUM_RAID_DEVS: usize = 0x39;
    pub const ORIG_FAMILY_NUM: usize = 0x40;
    pub const PWR_CYCLE_COUNT: usize = 0x44;
    pub const BBM_LOG_SIZE: usize = 0x48;
    /// Length of the header; the disk table follows.
    pub const LEN: usize = 0xD8;
}

/// Offsets of a disk record (`imsm_disk`).
pub mod disk {
    pub const SERIAL: core::ops::Range<usize> = 0..16;
    pub const TOTAL_BLOCKS_LO: usize = 16;
    pub const SCSI_ID: usize = 20;
    pub const STATUS: usize = 24;
    pub const TOTAL_BLOCKS_HI: usize = 32;
    pub const LEN: usize = 48;

    pub const SPARE: u32 = 0x01;
    pub const CONFIGURED: u32 = 0x02;
    pub const FAILED: u32 = 0x04;
    pub const JOURNAL: u32 = 0x0200_0000;
}

/// Offsets of a volume (`imsm_dev` with its `imsm_vol`).
pub mod dev {
    pub const VOLUME: core::ops::Range<usize> = 0..16;
    pub const SIZE_LOW: usize = 16;
    pub const SIZE_HIGH: usize = 20;
    pub const STATUS: usize = 24;
    pub const RWH_POLICY: usize = 50;
    pub const CURR_MIGR_UNIT_LO: usize = 80;
    pub const MIGR_STATE: usize = 88;
    pub const MIGR_TYPE: usize = 89;
    pub const DIRTY: usize = 90;
    pub const CURR_MIGR_UNIT_HI: usize = 96;
    /// Length of the header; map 0 follows.
    pub const LEN: usize = 112;

    /// `status` bit: a VERIFY migration is really a REPAIR.
    pub const VERIFY_AND_FIX: u32 = 0x80;
}

/// Offsets of a map (`imsm_map`).
pub mod map {
    pub const PBA_OF_LBA0_LO: usize = 0;
    pub const BLOCKS_PER_MEMBER_LO: usize = 4;
    pub const NUM_DATA_STRIPES_LO: usize = 8;
    pub const BLOCKS_PER_STRIP: usize = 12;
    pub const MAP_STATE: usize = 14;
    pub const RAID_LEVEL: usize = 15;
    pub const NUM_MEMBERS: usize = 16;
    pub const NUM_DOMAINS: usize = 17;
    pub const FAILED_DISK_NUM: usize = 18;
    pub const PBA_OF_LBA0_HI: usize = 20;
    pub const BLOCKS_PER_MEMBER_HI: usize = 24;
    pub const NUM_DATA_STRIPES_HI: usize = 28;
    /// Length of the fixed part; `disk_ord_tbl` follows.
    pub const LEN: usize = 48;
    pub const ORD_TBL: usize = 48;
}

/// `map_state` values.
pub mod map_state {
    pub const NORMAL: u8 = 0;
    pub const UNINITIALIZED: u8 = 1;
    pub const DEGRADED: u8 = 2;
    pub const FAILED: u8 = 3;
}

/// `migr_type` values (REPAIR is stored as VERIFY plus `VERIFY_AND_FIX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrType {
    Init,
    Rebuild,
    Verify,
    GenMigr,
    StateChange,
    Repair,
    Unknown(u8),
}

/// The ord flag: the slot's data is not valid (failed, missing or rebuilding).
pub const ORD_REBUILD: u32 = 0x0100_0000;

/// Disk index part of an ord entry.
pub fn ord_to_idx(ord: u32) -> u32 {
    ord & 0x00ff_ffff
}

/// Size in bytes of a map with `members` ord entries.
pub fn map_size(members: usize) -> usize {
    map::LEN + 4 * members
}

/// A view of one volume record. `T` is `&[u8]` or `&mut [u8]`.
pub struct Dev<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Dev<T> {
    /// Wrap a buffer holding a whole volume record (checked by the loader).
    pub fn new_unchecked(buf: T) -> Self {
        Dev { buf }
    }

    /// Check that `buf` holds a complete record; returns its length.
    pub fn check_len(buf: &[u8]) -> Option<usize> {
        if buf.len() < dev::LEN + map::LEN {
            return None;
        }
        let n0 = usize::from(buf[dev::LEN + map::NUM_MEMBERS]);
        let mut len = dev::LEN + map_size(n0);
        if buf[dev::MIGR_STATE] != 0 {
            if buf.len() < len + map::LEN {
                return None;
            }
            let n1 = usize::from(buf[len + map::NUM_MEMBERS]);
            len += map_size(n1);
        }
        (buf.len() >= len).then_some(len)
    }

    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }

    /// The volume name bytes (up to 16, NUL padded).
    pub fn volume(&self) -> &[u8] {
        &self.b()[dev::VOLUME]
    }

    /// Array size in sectors.
    pub fn size(&self) -> u64 {
        u64::from(le32(self.b(), dev::SIZE_LOW)) | u64::from(le32(self.b(), dev::SIZE_HIGH)) << 32
    }

    pub fn status(&self) -> u32 {
        le32(self.b(), dev::STATUS)
    }

    pub fn rwh_policy(&self) -> u8 {
        self.b()[dev::RWH_POLICY]
    }

    pub fn migr_state(&self) -> u8 {
        self.b()[dev::MIGR_STATE]
    }

    /// Whether a second map is present.
    pub fn migrating(&self) -> bool {
        self.migr_state() != 0
    }

    /// The migration type, decoding the REPAIR encoding.
    pub fn migr_type(&self) -> MigrType {
        match self.b()[dev::MIGR_TYPE] {
            0 => MigrType::Init,
            1 => MigrType::Rebuild,
            2 if self.status() & dev::VERIFY_AND_FIX != 0 => MigrType::Repair,
            2 => MigrType::Verify,
            3 => MigrType::GenMigr,
            4 => MigrType::StateChange,
            n => MigrType::Unknown(n),
        }
    }

    pub fn dirty(&self) -> u8 {
        self.b()[dev::DIRTY]
    }

    pub fn curr_migr_unit(&self) -> u64 {
        u64::from(le32(self.b(), dev::CURR_MIGR_UNIT_LO)) | u64::from(le32(self.b(), dev::CURR_MIGR_UNIT_HI)) << 32
    }

    /// Byte offset of map `which` (0 or 1) in the record.
    pub fn map_offset(&self, which: usize) -> usize {
        if which == 0 {
            dev::LEN
        } else {
            dev::LEN + map_size(usize::from(self.b()[dev::LEN + map::NUM_MEMBERS]))
        }
    }

    /// Map 0 (the target map while migrating).
    pub fn map0(&self) -> Map<&[u8]> {
        Map { buf: &self.b()[self.map_offset(0)..] }
    }

    /// Map 1 (the source map), present only while migrating.
    pub fn map1(&self) -> Option<Map<&[u8]>> {
        self.migrating().then(|| Map { buf: &self.b()[self.map_offset(1)..] })
    }

    /// Map 1 while migrating, else map 0 ("what is in the slot now").
    pub fn map_x(&self) -> Map<&[u8]> {
        self.map1().unwrap_or_else(|| self.map0())
    }

    /// Total length of the record as stored.
    pub fn len(&self) -> usize {
        let m0 = dev::LEN + map_size(usize::from(self.map0().num_members()));
        match self.map1() {
            Some(m1) => m0 + map_size(usize::from(m1.num_members())),
            None => m0,
        }
    }

    /// The record's bytes, exactly as long as it is.
    pub fn as_bytes(&self) -> &[u8] {
        &self.b()[..self.len()]
    }

    /// Never empty: a record always has its header and map 0.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Dev<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buf.as_mut()
    }

    pub fn set_volume(&mut self, name: &[u8; 16]) {
        self.bm()[dev::VOLUME].copy_from_slice(name);
    }

    pub fn set_status(&mut self, v: u32) {
        set_le32(self.bm(), dev::STATUS, v)
    }

    pub fn set_migr_state(&mut self, v: u8) {
        self.bm()[dev::MIGR_STATE] = v;
    }

    /// Store the migration type, with the REPAIR encoding.
    pub fn set_migr_type(&mut self, t: MigrType) {
        let (raw, fix) = match t {
            MigrType::Init => (0, false),
            MigrType::Rebuild => (1, false),
            MigrType::Verify => (2, false),
            MigrType::Repair => (2, true),
            MigrType::GenMigr => (3, false),
            MigrType::StateChange => (4, false),
            MigrType::Unknown(n) => (n, false),
        };
        self.bm()[dev::MIGR_TYPE] = raw;
        let st = self.status();
        self.set_status(if fix { st | dev::VERIFY_AND_FIX } else { st & !dev::VERIFY_AND_FIX });
    }

    pub fn set_dirty(&mut self, v: u8) {
        self.bm()[dev::DIRTY] = v;
    }

    pub fn set_curr_migr_unit(&mut self, v: u64) {
        set_le32(self.bm(), dev::CURR_MIGR_UNIT_LO, v as u32);
        set_le32(self.bm(), dev::CURR_MIGR_UNIT_HI, (v >> 32) as u32);
    }

    /// Mutable view of map `which`.
    pub fn map_mut(&mut self, which: usize) -> Map<&mut [u8]> {
        let off = self.map_offset(which);
        Map { buf: &mut self.bm()[off..] }
    }
}

/// A view of one map. `T` is `&[u8]` or `&mut [u8]`.
pub struct Map<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Map<T> {
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }

    pub fn pba_of_lba0(&self) -> u64 {
        u64::from(le32(self.b(), map::PBA_OF_LBA0_LO)) | u64::from(le32(self.b(), map::PBA_OF_LBA0_HI)) << 32
    }

    pub fn blocks_per_member(&self) -> u64 {
        u64::from(le32(self.b(), map::BLOCKS_PER_MEMBER_LO))
            | u64::from(le32(self.b(), map::BLOCKS_PER_MEMBER_HI)) << 32
    }

    pub fn num_data_stripes(&self) -> u64 {
        u64::from(le32(self.b(), map::NUM_DATA_STRIPES_LO)) | u64::from(le32(self.b(), map::NUM_DATA_STRIPES_HI)) << 32
    }

    pub fn blocks_per_strip(&self) -> u16 {
        le16(self.b(), map::BLOCKS_PER_STRIP)
    }

    pub fn map_state(&self) -> u8 {
        self.b()[map::MAP_STATE]
    }

    /// The stored raid level byte (1 with more than 2 members means RAID10).
    pub fn raw_level(&self) -> u8 {
        self.b()[map::RAID_LEVEL]
    }

    /// The RAID level this map describes (legacy RAID10 encoding decoded).
    pub fn level(&self) -> u8 {
        match self.raw_level() {
            1 if self.num_members() != 2 => 10,
            l => l,
        }
    }

    pub fn num_members(&self) -> u8 {
        self.b()[map::NUM_MEMBERS]
    }

    pub fn num_domains(&self) -> u8 {
        self.b()[map::NUM_DOMAINS]
    }

    pub fn failed_disk_num(&self) -> u8 {
        self.b()[map::FAILED_DISK_NUM]
    }

    /// The ord entry of `slot`.
    pub fn ord(&self, slot: usize) -> u32 {
        le32(self.b(), map::ORD_TBL + 4 * slot)
    }

    /// The slot holding disk `idx`, if any.
    pub fn slot_of(&self, idx: u32) -> Option<usize> {
        (0..usize::from(self.num_members())).find(|&s| ord_to_idx(self.ord(s)) == idx)
    }

    /// Members holding data (RAID1/10 count one copy).
    pub fn data_members(&self) -> u32 {
        let n = u32::from(self.num_members());
        match self.level() {
            1 | 10 => n / 2,
            5 => n.saturating_sub(1),
            _ => n,
        }
    }

    /// Per-member data sectors of the volume (saturating; a loaded volume
    /// is checked not to overflow, see `bounds.rs`).
    pub fn per_dev_array_size(&self) -> u64 {
        let mul = if matches!(self.level(), 1 | 10) { 2 } else { 1 };
        self.num_data_stripes().saturating_mul(u64::from(self.blocks_per_strip())).saturating_mul(mul)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Map<T> {
    pub fn set_map_state(&mut self, v: u8) {
        self.buf.as_mut()[map::MAP_STATE] = v;
    }

    pub fn set_failed_disk_num(&mut self, v: u8) {
        self.buf.as_mut()[map::FAILED_DISK_NUM] = v;
    }

    pub fn set_ord(&mut self, slot: usize, ord: u32) {
        set_le32(self.buf.as_mut(), map::ORD_TBL + 4 * slot, ord)
    }

    pub fn set_blocks_per_strip(&mut self, v: u16) {
        set_le16(self.buf.as_mut(), map::BLOCKS_PER_STRIP, v)
    }

    /// The stored level byte (RAID10 is stored as 1 with 4+ members).
    pub fn set_raw_level(&mut self, v: u8) {
        self.buf.as_mut()[map::RAID_LEVEL] = v;
    }

    pub fn set_blocks_per_member(&mut self, v: u64) {
        set_le32(self.buf.as_mut(), map::BLOCKS_PER_MEMBER_LO, v as u32);
        set_le32(self.buf.as_mut(), map::BLOCKS_PER_MEMBER_HI, (v >> 32) as u32);
    }

    pub fn set_num_members(&mut self, v: u8) {
        self.buf.as_mut()[map::NUM_MEMBERS] = v;
    }

    pub fn set_num_domains(&mut self, v: u8) {
        self.buf.as_mut()[map::NUM_DOMAINS] = v;
    }

    pub fn set_num_data_stripes(&mut self, v: u64) {
        set_le32(self.buf.as_mut(), map::NUM_DATA_STRIPES_LO, v as u32);
        set_le32(self.buf.as_mut(), map::NUM_DATA_STRIPES_HI, (v >> 32) as u32);
    }

    /// Data stripes for a volume of `size` sectors (per domain, as mdadm
    /// counts them).
    pub fn update_num_data_stripes(&mut self, size: u64) {
        let (dm, domains, bps) = {
            let m = Map { buf: self.buf.as_ref() };
            (u64::from(m.data_members()), u64::from(m.num_domains()).max(1), u64::from(m.blocks_per_strip()))
        };
        if dm > 0 && bps > 0 {
            self.set_num_data_stripes(size / dm / domains / bps);
        }
    }
}

/// The checksum of an MPB: the wrapping sum of its first `mpb_size / 4`
/// little-endian words, excluding the checksum field itself.
pub fn checksum(mpb: &[u8], mpb_size: usize) -> u32 {
    let words = mpb_size.min(mpb.len()) / 4;
    let mut sum = 0u32;
    for i in 0..words {
        sum = sum.wrapping_add(le32(mpb, i * 4));
    }
    sum.wrapping_sub(le32(mpb, header::CHECK_SUM))
}
