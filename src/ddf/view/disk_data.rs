//! `disk_data` (512 bytes, one per disk): the disk's own GUID and
//! reference number.

use super::{magic, GUID_LEN, SECTOR};
use crate::wire::{be32, set_be32};
use core::ops::Range;

pub const GUID: usize = 0x08;
pub const REFNUM: usize = 0x20;
/// `forced_ref_flag` and `forced_guid_flag`: set when the reference
/// number and GUID were made by software, not read from the disk.
pub const FORCED_REF: usize = 0x24;
pub const FORCED_GUID: usize = 0x25;
/// `vendor` (32 bytes, space-padded).
pub const VENDOR: Range<usize> = 0x26..0x46;

/// A disk GUID as mdadm makes one for a disk that has none: "Linux-MD",
/// the date (`yyyymmdd`), then eight random bytes.
pub const MADE_GUID_VENDOR: Range<usize> = 0..8;
pub const MADE_GUID_DATE: Range<usize> = 8..16;
pub const MADE_GUID_RANDOM: Range<usize> = 16..24;

/// Such a GUID (`date` cut to its eight bytes).
pub fn made_guid(date: &[u8], random: [u8; 8]) -> [u8; GUID_LEN] {
    let mut g = [0u8; GUID_LEN];
    g[MADE_GUID_VENDOR].copy_from_slice(b"Linux-MD");
    let n = date.len().min(MADE_GUID_DATE.len());
    g[MADE_GUID_DATE][..n].copy_from_slice(&date[..n]);
    g[MADE_GUID_RANDOM].copy_from_slice(&random);
    g
}

/// A view of a disk's own `disk_data` record.
pub struct DiskData<T> {
    buf: T,
}

impl<'a> DiskData<&'a [u8; SECTOR]> {
    /// A view of a whole sector (its length is the guard).
    pub fn of(sector: &'a [u8; SECTOR]) -> Self {
        DiskData { buf: sector }
    }
}

impl<T: AsRef<[u8]>> DiskData<T> {
    /// A view, or `None` if `buf` is shorter than a sector.
    pub fn new_checked(buf: T) -> Option<DiskData<T>> {
        (buf.as_ref().len() >= SECTOR).then_some(DiskData { buf })
    }
    pub fn magic(&self) -> u32 {
        be32(self.buf.as_ref(), 0)
    }
    pub fn guid(&self) -> &[u8] {
        &self.buf.as_ref()[GUID..GUID + GUID_LEN]
    }
    pub fn refnum(&self) -> u32 {
        be32(self.buf.as_ref(), REFNUM)
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
        self.m()[GUID..GUID + GUID_LEN].copy_from_slice(guid);
    }
    pub fn set_refnum(&mut self, v: u32) {
        set_be32(self.m(), REFNUM, v);
    }
    /// Mark the reference number and the GUID as made by software.
    pub fn set_forced(&mut self) {
        self.m()[FORCED_REF] = 1;
        self.m()[FORCED_GUID] = 1;
    }
    /// `vendor`, space-padded (cut to its 32 bytes).
    pub fn set_vendor(&mut self, v: &[u8]) {
        let f = &mut self.m()[VENDOR];
        f.fill(b' ');
        let n = v.len().min(f.len());
        f[..n].copy_from_slice(&v[..n]);
    }
}
