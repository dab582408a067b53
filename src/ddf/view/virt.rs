//! `virtual_entry`: one entry of the virtual disk table.

use super::{is_all_ff, table::ENTRY, GUID_LEN};
use core::ops::Range;

pub const STATE: usize = 0x20;
pub const INIT_STATE: usize = 0x21;
pub const NAME: Range<usize> = 0x30..0x40;

/// A view of a virtual disk entry.
pub struct VirtEntry<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> VirtEntry<T> {
    /// A view, or `None` if `buf` is shorter than an entry.
    pub fn new_checked(buf: T) -> Option<VirtEntry<T>> {
        (buf.as_ref().len() >= ENTRY).then_some(VirtEntry { buf })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    /// The entry's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.b()[..ENTRY]
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
        self.b()[STATE]
    }
    /// `init_state`: the initialisation state in the low two bits.
    pub fn init_state(&self) -> u8 {
        self.b()[INIT_STATE]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VirtEntry<T> {
    pub fn set_state(&mut self, v: u8) {
        self.buf.as_mut()[STATE] = v;
    }
    pub fn set_init_state(&mut self, v: u8) {
        self.buf.as_mut()[INIT_STATE] = v;
    }
    /// Mark the entry unused (an all-ones GUID).
    pub fn clear_guid(&mut self) {
        self.buf.as_mut()[..GUID_LEN].fill(0xFF);
    }
}
