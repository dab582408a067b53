//! `ddf_header` (512 bytes): the anchor, primary and secondary headers, and
//! the layout of a copy a header describes.

use super::{GUID_LEN, SECTOR};
use crate::ddf::{MAX_COPY_SECTORS, MAX_PARTITIONS as PARTITIONS_LIMIT, MAX_SECTION};
use crate::wire::{be16, be32, be64, set_be32, set_be64};
use arrayvec::ArrayVec;
use core::ops::Range;

pub const GUID: usize = 0x08;
pub const REVISION: Range<usize> = 0x20..0x28;
pub const SEQ: usize = 0x28;
pub const TIMESTAMP: usize = 0x2C;
pub const OPENFLAG: usize = 0x30;
pub const PRIMARY_LBA: usize = 0x60;
pub const SECONDARY_LBA: usize = 0x68;
pub const TYPE: usize = 0x70;
pub const PAD2: Range<usize> = 0x71..0x74;
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

/// The revisions mdadm writes and reads.
pub const REVISIONS: [&[u8; 8]; 2] = [b"01.00.00", b"01.02.00"];

/// Sections of the physical and virtual disk tables may only have these
/// lengths (sectors), as mdadm accepts them.
const TABLE_SECTORS: [u32; 5] = [2, 8, 32, 128, 512];

/// One section of a copy: where it starts after the header and its length,
/// both in sectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    pub offset: u32,
    pub len: u32,
}

impl Section {
    /// Its first sector when the header is at `lba` (`None` on overflow).
    pub fn lba(&self, header_lba: u64) -> Option<u64> {
        header_lba.checked_add(u64::from(self.offset))
    }
    /// Its length in bytes.
    pub fn bytes(&self) -> Option<usize> {
        usize::try_from(self.len).ok()?.checked_mul(SECTOR)
    }
    /// One past its last sector, relative to the header.
    fn end(&self) -> Option<u32> {
        self.offset.checked_add(self.len)
    }
}

/// A view of a header.
pub struct Header<T> {
    buf: T,
}

impl<'a> Header<&'a [u8; SECTOR]> {
    /// A view of a whole sector (its length is the guard).
    pub fn of(sector: &'a [u8; SECTOR]) -> Self {
        Header { buf: sector }
    }
}

impl<'a> Header<&'a mut [u8; SECTOR]> {
    pub fn of_mut(sector: &'a mut [u8; SECTOR]) -> Self {
        Header { buf: sector }
    }
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
        &self.b()[GUID..GUID + GUID_LEN]
    }
    pub fn revision(&self) -> &[u8] {
        &self.b()[REVISION]
    }
    /// A revision this implementation reads.
    pub fn revision_known(&self) -> bool {
        REVISIONS.iter().any(|r| self.revision() == &r[..])
    }
    /// The padding after `type`, which mdadm compares between headers.
    pub fn pad2(&self) -> &[u8] {
        &self.b()[PAD2]
    }
    pub fn seq(&self) -> u32 {
        be32(self.b(), SEQ)
    }
    pub fn timestamp(&self) -> u32 {
        be32(self.b(), TIMESTAMP)
    }
    pub fn openflag(&self) -> u8 {
        self.b()[OPENFLAG]
    }
    pub fn primary_lba(&self) -> u64 {
        be64(self.b(), PRIMARY_LBA)
    }
    pub fn secondary_lba(&self) -> u64 {
        be64(self.b(), SECONDARY_LBA)
    }
    pub fn workspace_lba(&self) -> u64 {
        be64(self.b(), WORKSPACE_LBA)
    }
    pub fn kind(&self) -> u8 {
        self.b()[TYPE]
    }
    pub fn max_partitions(&self) -> u16 {
        be16(self.b(), MAX_PARTITIONS)
    }
    /// Length of one configuration record, in sectors.
    pub fn config_record_len(&self) -> u16 {
        be16(self.b(), CONFIG_RECORD_LEN)
    }
    /// Length of one configuration record, in bytes.
    pub fn config_record_bytes(&self) -> usize {
        usize::from(self.config_record_len()) * SECTOR
    }
    /// Member positions of a configuration record.
    pub fn mppe(&self) -> u16 {
        be16(self.b(), MPPE)
    }
    fn section(&self, at: usize) -> Section {
        Section { offset: be32(self.b(), at), len: be32(self.b(), at + 4) }
    }
    pub fn controller_section(&self) -> Section {
        self.section(CONTROLLER_SECTION)
    }
    pub fn phys_section(&self) -> Section {
        self.section(PHYS_SECTION)
    }
    pub fn virt_section(&self) -> Section {
        self.section(VIRT_SECTION)
    }
    pub fn config_section(&self) -> Section {
        self.section(CONFIG_SECTION)
    }
    pub fn data_section(&self) -> Section {
        self.section(DATA_SECTION)
    }
    /// The five sections in header order.
    pub fn sections(&self) -> [Section; 5] {
        [
            self.controller_section(),
            self.phys_section(),
            self.virt_section(),
            self.config_section(),
            self.data_section(),
        ]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    fn m(&mut self) -> &mut [u8] {
        self.buf.as_mut()
    }
    pub fn set_seq(&mut self, v: u32) {
        set_be32(self.m(), SEQ, v);
    }
    pub fn set_timestamp(&mut self, v: u32) {
        set_be32(self.m(), TIMESTAMP, v);
    }
    pub fn set_openflag(&mut self, v: u8) {
        self.m()[OPENFLAG] = v;
    }
    /// `type`: anchor, primary or secondary (`TYPE_*`).
    pub fn set_kind(&mut self, v: u8) {
        self.m()[TYPE] = v;
    }
    /// Where a disk's copies and workspace are (an anchor's or header's own).
    pub fn set_lbas(&mut self, primary: u64, secondary: u64, workspace: u64) {
        set_be64(self.m(), PRIMARY_LBA, primary);
        set_be64(self.m(), SECONDARY_LBA, secondary);
        set_be64(self.m(), WORKSPACE_LBA, workspace);
    }
}

/// The layout a header describes, checked before anything is read or
/// rendered from it: every section non-empty, at most `MAX_SECTION` long,
/// after the header, inside `MAX_COPY_SECTORS` and apart from the others;
/// the disk tables of a length mdadm accepts; configuration records long
/// enough for their member arrays, and all of them (the spare slot
/// included) inside the configuration section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    controller: Section,
    phys: Section,
    virt: Section,
    config: Section,
    data: Section,
    record_bytes: usize,
    mppe: usize,
    partitions: usize,
}

impl Layout {
    pub fn controller(&self) -> Section {
        self.controller
    }
    pub fn phys(&self) -> Section {
        self.phys
    }
    pub fn virt(&self) -> Section {
        self.virt
    }
    pub fn config(&self) -> Section {
        self.config
    }
    pub fn data(&self) -> Section {
        self.data
    }
    /// Bytes of one configuration record (never 0; room for the member arrays).
    pub fn record_bytes(&self) -> usize {
        self.record_bytes
    }
    /// Member positions of a configuration record.
    pub fn mppe(&self) -> usize {
        self.mppe
    }
    /// Configuration records a disk carries (the spare slot comes after them).
    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// The layout of `h`, or why it does not hold.
    pub fn new_checked<T: AsRef<[u8]>>(h: &Header<T>) -> Result<Layout, &'static str> {
        let mut spans: ArrayVec<(u32, u32), 5> = ArrayVec::new();
        let sections = h.sections();
        for s in sections {
            if s.len == 0 || s.len > MAX_SECTION {
                return Err("section length");
            }
            let end = s.end().filter(|&e| s.offset >= 1 && e <= MAX_COPY_SECTORS);
            let Some(end) = end else { return Err("section offset") };
            if spans.iter().any(|&(a, b)| s.offset < b && a < end) {
                return Err("overlapping sections");
            }
            spans.push((s.offset, end));
        }
        let mppe = usize::from(h.mppe());
        let record_bytes = h.config_record_bytes();
        let arrays_end = super::VdConfig::<&[u8]>::len_for(mppe).ok_or("configuration record length")?;
        if record_bytes == 0 || record_bytes < arrays_end {
            return Err("configuration record length");
        }
        let partitions = usize::from(h.max_partitions());
        let slots = u32::from(h.max_partitions()) + 1;
        let fits = slots.checked_mul(u32::from(h.config_record_len())).is_some_and(|n| n <= h.config_section().len);
        if partitions > PARTITIONS_LIMIT || !fits {
            return Err("configuration records exceed their section");
        }
        let [controller, phys, virt, config, data] = sections;
        if !TABLE_SECTORS.contains(&phys.len) {
            return Err("physical disk section length");
        }
        if !TABLE_SECTORS.contains(&virt.len) {
            return Err("virtual disk section length");
        }
        Ok(Layout { controller, phys, virt, config, data, record_bytes, mppe, partitions })
    }
}
