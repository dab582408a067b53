//! Byte views of the DDF on-disk structures as mdadm writes them. Every
//! integer is big-endian; every LBA and length is in 512-byte sectors.
//! Offsets follow SNIA DDF 1.2 as `super-ddf.c` lays it out.

use crate::wire::{be16, be32, be64, set_be16, set_be32, set_be64};

pub const SECTOR: usize = 512;

/// Magic numbers (first four bytes, big-endian).
pub mod magic {
    pub const HEADER: u32 = 0xDE11_DE11;
    pub const CONTROLLER: u32 = 0xAD11_1111;
    pub const PHYS: u32 = 0x2222_2222;
    pub const DISK_DATA: u32 = 0x3333_3333;
    pub const VIRT: u32 = 0xDDDD_DDDD;
    pub const VD_CONF: u32 = 0xEEEE_EEEE;
    pub const SPARE: u32 = 0x5555_5555;
}

/// Every structure keeps its CRC at offset 4.
pub const CRC: usize = 4;
pub const GUID_LEN: usize = 24;

/// `ddf_header` (512 bytes): anchor, primary and secondary.
pub mod header {
    pub const GUID: usize = 0x08;
    pub const REVISION: core::ops::Range<usize> = 0x20..0x28;
    pub const SEQ: usize = 0x28;
    pub const TIMESTAMP: usize = 0x2C;
    pub const OPENFLAG: usize = 0x30;
    pub const PRIMARY_LBA: usize = 0x60;
    pub const SECONDARY_LBA: usize = 0x68;
    pub const TYPE: usize = 0x70;
    pub const PAD2: core::ops::Range<usize> = 0x71..0x74;
    pub const WORKSPACE_LBA: usize = 0x78;
    pub const MAX_PARTITIONS: usize = 0x84;
    pub const CONFIG_RECORD_LEN: usize = 0x86;
    pub const MPPE: usize = 0x88;
    /// (offset, length) pairs of the sections, in this order.
    pub const CONTROLLER_SECTION: usize = 0xC0;
    pub const PHYS_SECTION: usize = 0xC8;
    pub const VIRT_SECTION: usize = 0xD0;
    pub const CONFIG_SECTION: usize = 0xD8;
    pub const DATA_SECTION: usize = 0xE0;

    pub const TYPE_ANCHOR: u8 = 0;
    pub const TYPE_PRIMARY: u8 = 1;
    pub const TYPE_SECONDARY: u8 = 2;
}

/// Section headers of the physical and virtual disk records (64 bytes).
pub mod table {
    /// `used_pdes` / `populated_vdes`.
    pub const USED: usize = 0x08;
    /// `max_pdes` / `max_vdes`.
    pub const MAX: usize = 0x0A;
    pub const LEN: usize = 64;
    /// Every entry is 64 bytes.
    pub const ENTRY: usize = 64;
}

/// `phys_disk_entry` (one entry of the physical disk table).
pub mod phys {
    pub const REFNUM: usize = 0x18;
    pub const TYPE: usize = 0x1C;
    pub const STATE: usize = 0x1E;
    pub const CONFIG_SIZE: usize = 0x20;
    /// `path` (18 bytes), then padding to the end of the entry.
    pub const PATH: core::ops::Range<usize> = 0x28..0x3A;
    pub const PAD: core::ops::Range<usize> = 0x3A..0x40;
}

/// `virtual_entry` (one entry of the virtual disk table).
pub mod virt {
    pub const STATE: usize = 0x20;
    pub const INIT_STATE: usize = 0x21;
    pub const NAME: core::ops::Range<usize> = 0x30..0x40;
}

/// `vd_config` (fixed part; the refnum and LBA arrays follow at 0x200).
pub mod conf {
    pub const GUID: usize = 0x08;
    pub const TIMESTAMP: usize = 0x20;
    pub const SEQNUM: usize = 0x24;
    pub const PRIM_ELMNT_COUNT: usize = 0x40;
    pub const PRL: usize = 0x43;
    pub const SEC_ELMNT_COUNT: usize = 0x45;
    pub const SEC_ELMNT_SEQ: usize = 0x46;
    pub const SRL: usize = 0x47;
    pub const BLOCKS: usize = 0x48;
    pub const PHYS_REFNUM: usize = 0x200;
}

/// A view of a VD configuration record (`vd_config`): the fixed part, then
/// the reference numbers (u32) of `mppe` member positions, then their
/// start LBAs (u64). `mppe` 0 views the fixed part alone.
pub struct VdConfig<T> {
    buf: T,
    mppe: usize,
}

impl<T: AsRef<[u8]>> VdConfig<T> {
    /// Bytes of a record with `mppe` member positions (`None` on overflow).
    pub fn len_for(mppe: usize) -> Option<usize> {
        mppe.checked_mul(12)?.checked_add(conf::PHYS_REFNUM)
    }
    /// The bytes of both member arrays (reference numbers, then LBAs).
    pub fn arrays(mppe: usize) -> Option<core::ops::Range<usize>> {
        Some(conf::PHYS_REFNUM..Self::len_for(mppe)?)
    }
    /// A view, or `None` if `buf` cannot hold the record with `mppe` positions.
    pub fn new_checked(buf: T, mppe: usize) -> Option<VdConfig<T>> {
        (buf.as_ref().len() >= Self::len_for(mppe)?).then_some(VdConfig { buf, mppe })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn guid(&self) -> &[u8] {
        &self.b()[conf::GUID..conf::GUID + GUID_LEN]
    }
    pub fn seqnum(&self) -> u32 {
        be32(self.b(), conf::SEQNUM)
    }
    /// Members of this BVD.
    pub fn prim_elmnt_count(&self) -> u16 {
        be16(self.b(), conf::PRIM_ELMNT_COUNT)
    }
    /// Primary RAID level.
    pub fn prl(&self) -> u8 {
        self.b()[conf::PRL]
    }
    /// BVDs of the VD (0 or 1: no secondary level).
    pub fn sec_elmnt_count(&self) -> u8 {
        self.b()[conf::SEC_ELMNT_COUNT]
    }
    /// This BVD's place among them.
    pub fn sec_elmnt_seq(&self) -> u8 {
        self.b()[conf::SEC_ELMNT_SEQ]
    }
    /// Secondary RAID level.
    pub fn srl(&self) -> u8 {
        self.b()[conf::SRL]
    }
    /// Sectors each member gives the VD.
    pub fn blocks(&self) -> u64 {
        be64(self.b(), conf::BLOCKS)
    }
    /// The reference number of the disk at position `p` (`None` past `mppe`).
    pub fn phys_refnum(&self, p: usize) -> Option<u32> {
        (p < self.mppe).then(|| be32(self.b(), conf::PHYS_REFNUM + 4 * p))
    }
    /// Where the VD's data starts on the disk at position `p`.
    pub fn lba(&self, p: usize) -> Option<u64> {
        (p < self.mppe).then(|| be64(self.b(), conf::PHYS_REFNUM + 4 * self.mppe + 8 * p))
    }
    /// The position of the disk with `refnum`, if it is a member here.
    pub fn position_of(&self, refnum: u32) -> Option<usize> {
        (0..self.mppe).find(|&p| self.phys_refnum(p) == Some(refnum))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VdConfig<T> {
    fn m(&mut self) -> &mut [u8] {
        self.buf.as_mut()
    }
    pub fn set_timestamp(&mut self, v: u32) {
        set_be32(self.m(), conf::TIMESTAMP, v);
    }
    pub fn set_seqnum(&mut self, v: u32) {
        set_be32(self.m(), conf::SEQNUM, v);
    }
    /// Set the reference number at position `p` (nothing past `mppe`).
    pub fn set_phys_refnum(&mut self, p: usize, v: u32) {
        if p < self.mppe {
            set_be32(self.m(), conf::PHYS_REFNUM + 4 * p, v);
        }
    }
    /// Set the start LBA at position `p` (nothing past `mppe`).
    pub fn set_lba(&mut self, p: usize, v: u64) {
        if p < self.mppe {
            let o = conf::PHYS_REFNUM + 4 * self.mppe + 8 * p;
            set_be64(self.m(), o, v);
        }
    }
}

/// `disk_data` (512 bytes, one per disk).
pub mod disk_data {
    pub const GUID: usize = 0x08;
    pub const REFNUM: usize = 0x20;
    /// `forced_ref_flag` and `forced_guid_flag`: set when the reference
    /// number and GUID were made by software, not read from the disk.
    pub const FORCED_REF: usize = 0x24;
    pub const FORCED_GUID: usize = 0x25;
    /// `vendor` (32 bytes, space-padded).
    pub const VENDOR: core::ops::Range<usize> = 0x26..0x46;
}

/// A view of a disk's own `disk_data` record.
pub struct DiskData<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> DiskData<T> {
    /// A view, or `None` if `buf` is shorter than a sector.
    pub fn new_checked(buf: T) -> Option<DiskData<T>> {
        (buf.as_ref().len() >= SECTOR).then_some(DiskData { buf })
    }
    pub fn refnum(&self) -> u32 {
        be32(self.buf.as_ref(), disk_data::REFNUM)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> DiskData<T> {
    fn m(&mut self) -> &mut [u8] {
        self.buf.as_mut()
    }
    pub fn set_magic(&mut self) {
        set_be32(self.m(), 0, magic::DISK_DATA);
    }
    pub fn set_guid(&mut self, guid: &[u8; GUID_LEN]) {
        self.m()[disk_data::GUID..disk_data::GUID + GUID_LEN].copy_from_slice(guid);
    }
    pub fn set_refnum(&mut self, v: u32) {
        set_be32(self.m(), disk_data::REFNUM, v);
    }
    /// Mark the reference number and the GUID as made by software.
    pub fn set_forced(&mut self) {
        self.m()[disk_data::FORCED_REF] = 1;
        self.m()[disk_data::FORCED_GUID] = 1;
    }
    /// `vendor`, space-padded (cut to its 32 bytes).
    pub fn set_vendor(&mut self, v: &[u8]) {
        let f = &mut self.m()[disk_data::VENDOR];
        f.fill(b' ');
        let n = v.len().min(f.len());
        f[..n].copy_from_slice(&v[..n]);
    }
}

/// The bytes of entry `i` of a physical or virtual disk table section
/// (`None` when the offset does not fit a `usize`).
pub fn entry_range(i: usize) -> Option<core::ops::Range<usize>> {
    let start = i.checked_mul(table::ENTRY)?.checked_add(table::LEN)?;
    Some(start..start.checked_add(table::ENTRY)?)
}

/// A view of a physical disk entry.
pub struct PhysEntry<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> PhysEntry<T> {
    /// A view, or `None` if `buf` is shorter than an entry.
    pub fn new_checked(buf: T) -> Option<PhysEntry<T>> {
        (buf.as_ref().len() >= table::ENTRY).then_some(PhysEntry { buf })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn guid(&self) -> &[u8] {
        &self.b()[..GUID_LEN]
    }
    /// A disk is recorded here (the GUID is not all-ones).
    pub fn in_use(&self) -> bool {
        !is_all_ff(self.guid())
    }
    pub fn refnum(&self) -> u32 {
        be32(self.b(), phys::REFNUM)
    }
    /// `type` (the `pd_type` bits).
    pub fn kind(&self) -> u16 {
        be16(self.b(), phys::TYPE)
    }
    /// `state` (the `pd_state` bits).
    pub fn state(&self) -> u16 {
        be16(self.b(), phys::STATE)
    }
    /// Sectors usable for VD data.
    pub fn config_size(&self) -> u64 {
        be64(self.b(), phys::CONFIG_SIZE)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> PhysEntry<T> {
    fn m(&mut self) -> &mut [u8] {
        self.buf.as_mut()
    }
    pub fn set_guid(&mut self, guid: &[u8; GUID_LEN]) {
        self.m()[..GUID_LEN].copy_from_slice(guid);
    }
    /// Mark the entry unused (an all-ones GUID).
    pub fn clear_guid(&mut self) {
        self.m()[..GUID_LEN].fill(0xFF);
    }
    pub fn set_refnum(&mut self, v: u32) {
        set_be32(self.m(), phys::REFNUM, v);
    }
    pub fn set_kind(&mut self, v: u16) {
        set_be16(self.m(), phys::TYPE, v);
    }
    pub fn set_state(&mut self, v: u16) {
        set_be16(self.m(), phys::STATE, v);
    }
    pub fn set_config_size(&mut self, v: u64) {
        set_be64(self.m(), phys::CONFIG_SIZE, v);
    }
    /// `path`, NUL-padded (cut to its 18 bytes); the padding after it all-ones.
    pub fn set_path(&mut self, path: &[u8]) {
        let p = &mut self.m()[phys::PATH];
        p.fill(0);
        let n = path.len().min(p.len());
        p[..n].copy_from_slice(&path[..n]);
        self.m()[phys::PAD].fill(0xFF);
    }
}

/// A view of a virtual disk entry.
pub struct VirtEntry<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> VirtEntry<T> {
    /// A view, or `None` if `buf` is shorter than an entry.
    pub fn new_checked(buf: T) -> Option<VirtEntry<T>> {
        (buf.as_ref().len() >= table::ENTRY).then_some(VirtEntry { buf })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn guid(&self) -> &[u8] {
        &self.b()[..GUID_LEN]
    }
    /// A VD is recorded here (the GUID is not all-ones).
    pub fn in_use(&self) -> bool {
        !is_all_ff(self.guid())
    }
    /// `state`: the VD state in the low bits, and flags.
    pub fn state(&self) -> u8 {
        self.b()[virt::STATE]
    }
    /// `init_state`: the initialisation state in the low two bits.
    pub fn init_state(&self) -> u8 {
        self.b()[virt::INIT_STATE]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VirtEntry<T> {
    pub fn set_state(&mut self, v: u8) {
        self.buf.as_mut()[virt::STATE] = v;
    }
    pub fn set_init_state(&mut self, v: u8) {
        self.buf.as_mut()[virt::INIT_STATE] = v;
    }
    /// Mark the entry unused (an all-ones GUID).
    pub fn clear_guid(&mut self) {
        self.buf.as_mut()[..GUID_LEN].fill(0xFF);
    }
}

/// The spare assignment record (`spare_assign`) a spare disk carries in its
/// last configuration slot.
pub mod spare {
    /// `spare_type`: bit 0 set for a spare dedicated to the VDs it lists.
    pub const TYPE: usize = 0x13;
    pub const DEDICATED: u8 = 0x01;
    /// `populated` (u16): how many VD entries follow.
    pub const POPULATED: usize = 0x14;
    /// The VD entries, 32 bytes each, a VD GUID first.
    pub const ENTRIES: usize = 0x20;
    pub const ENTRY: usize = 32;
}

/// A view of a spare assignment record.
pub struct Spare<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Spare<T> {
    /// A view, or `None` if `buf` is shorter than the record's fixed part.
    pub fn new_checked(buf: T) -> Option<Spare<T>> {
        (buf.as_ref().len() >= spare::ENTRIES).then_some(Spare { buf })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    /// Dedicated to the VDs it lists (otherwise a spare for any VD).
    pub fn dedicated(&self) -> bool {
        self.b()[spare::TYPE] & spare::DEDICATED != 0
    }
    /// The GUIDs of the VDs it lists, as far as they lie inside the record.
    pub fn vd_guids(&self) -> impl Iterator<Item = &[u8]> {
        let b = self.b();
        let n = usize::from(be16(b, spare::POPULATED));
        (0..n).map_while(move |j| {
            let o = spare::ENTRIES + spare::ENTRY * j;
            b.get(o..o + GUID_LEN)
        })
    }
}

/// A header's (offset, length) of the section at `at` (one of `header::*_SECTION`).
pub fn section(h: &[u8], at: usize) -> (u32, u32) {
    (be32(h, at), be32(h, at + 4))
}

pub fn is_all_ff(b: &[u8]) -> bool {
    b.iter().all(|&c| c == 0xFF)
}

/// A view of a header.
pub struct Header<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// A header view, or `None` if `buf` is shorter than a sector.
    pub fn new_checked(buf: T) -> Option<Header<T>> {
        (buf.as_ref().len() >= SECTOR).then_some(Header { buf })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn magic(&self) -> u32 {
        be32(self.b(), 0)
    }
    pub fn guid(&self) -> &[u8] {
        &self.b()[header::GUID..header::GUID + GUID_LEN]
    }
    pub fn revision(&self) -> &[u8] {
        &self.b()[header::REVISION]
    }
    pub fn seq(&self) -> u32 {
        be32(self.b(), header::SEQ)
    }
    pub fn timestamp(&self) -> u32 {
        be32(self.b(), header::TIMESTAMP)
    }
    pub fn openflag(&self) -> u8 {
        self.b()[header::OPENFLAG]
    }
    pub fn primary_lba(&self) -> u64 {
        be64(self.b(), header::PRIMARY_LBA)
    }
    pub fn secondary_lba(&self) -> u64 {
        be64(self.b(), header::SECONDARY_LBA)
    }
    pub fn workspace_lba(&self) -> u64 {
        be64(self.b(), header::WORKSPACE_LBA)
    }
    pub fn kind(&self) -> u8 {
        self.b()[header::TYPE]
    }
    pub fn max_partitions(&self) -> u16 {
        be16(self.b(), header::MAX_PARTITIONS)
    }
    pub fn config_record_len(&self) -> u16 {
        be16(self.b(), header::CONFIG_RECORD_LEN)
    }
    pub fn mppe(&self) -> u16 {
        be16(self.b(), header::MPPE)
    }
}

/// Store `crc` of `buf` (computed with the CRC field set to all-ones) at offset 4.
pub fn seal(buf: &mut [u8]) {
    set_be32(buf, CRC, 0xFFFF_FFFF);
    let c = super::crc::crc32(buf);
    set_be32(buf, CRC, c);
}

/// Whether the CRC stored in `buf` matches its contents.
pub fn crc_ok(buf: &[u8]) -> bool {
    stored_and_computed(buf).map(|(s, c)| s == c).unwrap_or(false)
}

/// The stored and the computed CRC of `buf`.
pub fn stored_and_computed(buf: &[u8]) -> Option<(u32, u32)> {
    if buf.len() < 8 {
        return None;
    }
    let stored = be32(buf, CRC);
    // The CRC covers the structure with its own field read as all-ones.
    let c = super::crc::crc32_with_field(buf, CRC);
    Some((stored, c))
}

#[cfg(test)]
mod tests;
