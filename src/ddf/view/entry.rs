//! One 64-byte entry of the physical or the virtual disk table: both begin
//! with the GUID of what they record (all-ones when the entry is unused).
//! The record's own fields are in `phys` and `virt`, on
//! [`Entry<T, Phys>`](super::phys::PhysEntry) and
//! [`Entry<T, Virt>`](super::virt::VirtEntry).

use super::{is_all_ff, table::ENTRY, GUID_LEN};
use core::marker::PhantomData;

/// A view of a table entry of kind `K` ([`Phys`] or [`Virt`]).
pub struct Entry<T, K> {
    buf: T,
    kind: PhantomData<K>,
}

/// An entry of the physical disk table.
pub enum Phys {}
/// An entry of the virtual disk table.
pub enum Virt {}

impl<T: AsRef<[u8]>, K> Entry<T, K> {
    /// A view, or `None` if `buf` is shorter than an entry.
    pub fn new_checked(buf: T) -> Option<Entry<T, K>> {
        (buf.as_ref().len() >= ENTRY).then_some(Entry { buf, kind: PhantomData })
    }
    pub(super) fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    /// The entry's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.b()[..ENTRY]
    }
    pub fn guid(&self) -> &[u8] {
        &self.b()[..GUID_LEN]
    }
    /// A disk (or VD) is recorded here (the GUID is not all-ones).
    pub fn in_use(&self) -> bool {
        !is_all_ff(self.guid())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>, K> Entry<T, K> {
    pub(super) fn m(&mut self) -> &mut [u8] {
        self.buf.as_mut()
    }
    pub fn set_guid(&mut self, guid: &[u8; GUID_LEN]) {
        self.m()[..GUID_LEN].copy_from_slice(guid);
    }
    /// Mark the entry unused (an all-ones GUID).
    pub fn clear_guid(&mut self) {
        self.m()[..GUID_LEN].fill(0xFF);
    }
}
