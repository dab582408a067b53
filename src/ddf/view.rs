//! Byte views of the DDF on-disk structures as mdadm writes them. Every
//! integer is big-endian; every LBA and length is in 512-byte sectors.
//! Offsets follow SNIA DDF 1.2 as `super-ddf.c` lays it out.
//!
//! Each record has a view (`new_checked` guards the length, and for the
//! tables and configuration records the sizes their headers imply, once)
//! whose accessors name a field's bytes. The constants of each record are
//! in its module (`header::SEQ`, `conf::PHYS_REFNUM`, ...).

use crate::wire::{be32, set_be32};

pub mod conf;
pub mod controller;
pub mod disk_data;
pub mod entry;
pub mod header;
pub mod phys;
pub mod spare;
pub mod table;
pub mod virt;

pub use conf::VdConfig;
pub use controller::Controller;
pub use disk_data::DiskData;
pub use header::{Header, Layout, Section};
pub use phys::PhysEntry;
pub use spare::Spare;
pub use table::{entry_range, EntryUpdate, PhysTable, Table, VirtTable};
pub use virt::VirtEntry;

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

/// Every structure keeps its magic first and its CRC at offset 4.
pub const CRC: usize = 4;
pub const GUID_LEN: usize = 24;

/// The magic number a record starts with (`None` if it is shorter).
pub fn magic_of(buf: &[u8]) -> Option<u32> {
    (buf.len() >= CRC).then(|| be32(buf, 0))
}

/// A header's (offset, length) of the section at `at` (one of `header::*_SECTION`).
pub fn section(h: &[u8], at: usize) -> (u32, u32) {
    (be32(h, at), be32(h, at + 4))
}

pub fn is_all_ff(b: &[u8]) -> bool {
    b.iter().all(|&c| c == 0xFF)
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
