//! The physical and virtual disk tables: a 64-byte section header
//! (`used_pdes`/`populated_vdes`, `max_pdes`/`max_vdes`), then 64-byte
//! entries. The updates mdadm sends for one entry have the same shape.

use super::{magic, PhysEntry, VirtEntry};
use crate::wire::{be16, be32, set_be16};
use core::ops::{Deref, Range};

/// `used_pdes` / `populated_vdes`; in an update, the entry's index.
pub const USED: usize = 0x08;
/// `max_pdes` / `max_vdes`.
pub const MAX: usize = 0x0A;
/// The section header.
pub const LEN: usize = 64;
/// Every entry is 64 bytes.
pub const ENTRY: usize = 64;

/// The bytes of entry `i` of a table section (`None` when the offset does
/// not fit a `usize`).
pub fn entry_range(i: usize) -> Option<Range<usize>> {
    let start = i.checked_mul(ENTRY)?.checked_add(LEN)?;
    Some(start..start.checked_add(ENTRY)?)
}

/// A view of a table section whose magic is `M`. Checked once: the buffer
/// holds the header and the `max` entries it claims, so every entry below
/// `max` lies inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table<T, const M: u32> {
    buf: T,
}

/// The physical disk table.
pub type PhysTable<T> = Table<T, { magic::PHYS }>;
/// The virtual disk table.
pub type VirtTable<T> = Table<T, { magic::VIRT }>;

impl<T: AsRef<[u8]>, const M: u32> Table<T, M> {
    pub const MAGIC: u32 = M;

    /// A view, or `None` if `buf` cannot hold the header and its entries.
    pub fn new_checked(buf: T) -> Option<Self> {
        let b = buf.as_ref();
        if b.len() < LEN {
            return None;
        }
        let end = entry_range(usize::from(be16(b, MAX)))?.start;
        (end <= b.len()).then_some(Table { buf })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    pub fn magic(&self) -> u32 {
        be32(self.b(), 0)
    }
    /// Entries in use (as recorded).
    pub fn used(&self) -> u16 {
        be16(self.b(), USED)
    }
    /// Entry slots.
    pub fn max(&self) -> usize {
        usize::from(be16(self.b(), MAX))
    }
    fn entry_bytes(&self, i: usize) -> Option<&[u8]> {
        if i >= self.max() {
            return None;
        }
        self.b().get(entry_range(i)?)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>, const M: u32> Table<T, M> {
    /// Set the CRC over the whole section, as every copy carries it.
    pub fn seal(&mut self) {
        super::seal(self.buf.as_mut());
    }
    pub fn set_used(&mut self, v: u16) {
        set_be16(self.buf.as_mut(), USED, v);
    }
    fn entry_bytes_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        if i >= self.max() {
            return None;
        }
        self.buf.as_mut().get_mut(entry_range(i)?)
    }
    /// Copy entry `from` over entry `to` (nothing if either is past the table).
    pub fn move_entry(&mut self, from: usize, to: usize) {
        if let (true, true, Some(src), Some(dst)) =
            (from < self.max(), to < self.max(), entry_range(from), entry_range(to))
        {
            self.buf.as_mut().copy_within(src, dst.start);
        }
    }
    /// Store `e` as entry `i`; false past the table.
    fn set_entry_bytes(&mut self, i: usize, e: &[u8]) -> bool {
        match (self.entry_bytes_mut(i), e.get(..ENTRY)) {
            (Some(d), Some(e)) => {
                d.copy_from_slice(e);
                true
            }
            _ => false,
        }
    }
}

impl<T: AsRef<[u8]>> Table<T, { magic::PHYS }> {
    /// Entry `i` (`None` past the table).
    pub fn entry(&self, i: usize) -> Option<PhysEntry<&[u8]>> {
        self.entry_bytes(i).and_then(PhysEntry::new_checked)
    }
    /// Every entry slot, in order.
    pub fn entries(&self) -> impl Iterator<Item = PhysEntry<&[u8]>> {
        (0..self.max()).map_while(|i| self.entry(i))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Table<T, { magic::PHYS }> {
    pub fn entry_mut(&mut self, i: usize) -> Option<PhysEntry<&mut [u8]>> {
        self.entry_bytes_mut(i).and_then(PhysEntry::new_checked)
    }
    /// Store a copy of `e` as entry `i`; false past the table.
    pub fn set_entry(&mut self, i: usize, e: &PhysEntry<impl AsRef<[u8]>>) -> bool {
        self.set_entry_bytes(i, e.as_bytes())
    }
}

impl<T: AsRef<[u8]>> Table<T, { magic::VIRT }> {
    /// Entry `i` (`None` past the table); the index is the VD number.
    pub fn entry(&self, i: usize) -> Option<VirtEntry<&[u8]>> {
        self.entry_bytes(i).and_then(VirtEntry::new_checked)
    }
    /// Every entry slot, in order.
    pub fn entries(&self) -> impl Iterator<Item = VirtEntry<&[u8]>> {
        (0..self.max()).map_while(|i| self.entry(i))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Table<T, { magic::VIRT }> {
    pub fn entry_mut(&mut self, i: usize) -> Option<VirtEntry<&mut [u8]>> {
        self.entry_bytes_mut(i).and_then(VirtEntry::new_checked)
    }
    /// Store a copy of `e` as entry `i`; false past the table.
    pub fn set_entry(&mut self, i: usize, e: &VirtEntry<impl AsRef<[u8]>>) -> bool {
        self.set_entry_bytes(i, e.as_bytes())
    }
}

/// The section's bytes, as they are written.
impl<T: AsRef<[u8]>, const M: u32> Deref for Table<T, M> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.b()
    }
}

impl<T: AsRef<[u8]>, const M: u32> AsRef<[u8]> for Table<T, M> {
    fn as_ref(&self) -> &[u8] {
        self.b()
    }
}

/// An update of one table entry, as mdadm sends it: a table header whose
/// `used` field is the entry's index (PHYS), then the entry. The length is
/// exact.
pub struct EntryUpdate<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> EntryUpdate<T> {
    /// Bytes of such an update.
    pub const LEN: usize = LEN + ENTRY;

    /// A view, or `None` unless `buf` is exactly one header and one entry.
    pub fn new_checked(buf: T) -> Option<Self> {
        (buf.as_ref().len() == Self::LEN).then_some(EntryUpdate { buf })
    }
    /// The index of the entry to change (PHYS updates).
    pub fn index(&self) -> usize {
        usize::from(be16(self.buf.as_ref(), USED))
    }
    fn entry_bytes(&self) -> &[u8] {
        &self.buf.as_ref()[LEN..]
    }
    pub fn phys(&self) -> Option<PhysEntry<&[u8]>> {
        PhysEntry::new_checked(self.entry_bytes())
    }
    pub fn virt(&self) -> Option<VirtEntry<&[u8]>> {
        VirtEntry::new_checked(self.entry_bytes())
    }
}
