//! `phys_disk_entry`: one entry of the physical disk table.

use super::entry::{Entry, Phys};
use crate::wire::{be16, be32, be64, set_be16, set_be32, set_be64};
use core::ops::Range;

pub const REFNUM: usize = 0x18;
pub const TYPE: usize = 0x1C;
pub const STATE: usize = 0x1E;
pub const CONFIG_SIZE: usize = 0x20;
/// `path` (18 bytes), then padding to the end of the entry.
pub const PATH: Range<usize> = 0x28..0x3A;
pub const PAD: Range<usize> = 0x3A..0x40;

/// A view of a physical disk entry.
pub type PhysEntry<T> = Entry<T, Phys>;

impl<T: AsRef<[u8]>> Entry<T, Phys> {
    pub fn refnum(&self) -> u32 {
        be32(self.b(), REFNUM)
    }
    /// `type` (the `pd_type` bits).
    pub fn kind(&self) -> u16 {
        be16(self.b(), TYPE)
    }
    /// `state` (the `pd_state` bits).
    pub fn state(&self) -> u16 {
        be16(self.b(), STATE)
    }
    /// Sectors usable for VD data.
    pub fn config_size(&self) -> u64 {
        be64(self.b(), CONFIG_SIZE)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Entry<T, Phys> {
    pub fn set_refnum(&mut self, v: u32) {
        set_be32(self.m(), REFNUM, v);
    }
    pub fn set_kind(&mut self, v: u16) {
        set_be16(self.m(), TYPE, v);
    }
    pub fn set_state(&mut self, v: u16) {
        set_be16(self.m(), STATE, v);
    }
    pub fn set_config_size(&mut self, v: u64) {
        set_be64(self.m(), CONFIG_SIZE, v);
    }
    /// `path`, NUL-padded (cut to its 18 bytes); the padding after it all-ones.
    pub fn set_path(&mut self, path: &[u8]) {
        let p = &mut self.m()[PATH];
        p.fill(0);
        let n = path.len().min(p.len());
        p[..n].copy_from_slice(&path[..n]);
        self.m()[PAD].fill(0xFF);
    }
}
