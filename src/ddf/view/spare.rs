//! `spare_assign`: the spare assignment record a spare disk carries in its
//! last configuration slot.

use super::GUID_LEN;
use crate::wire::be16;
use core::ops::Deref;

/// `spare_type`: bit 0 set for a spare dedicated to the VDs it lists.
pub const TYPE: usize = 0x13;
pub const DEDICATED: u8 = 0x01;
/// `populated` (u16): how many VD entries follow.
pub const POPULATED: usize = 0x14;
/// The VD entries, 32 bytes each, a VD GUID first.
pub const ENTRIES: usize = 0x20;
pub const ENTRY: usize = 32;

/// A view of a spare assignment record. Its entries are read only as far
/// as they lie inside it, whatever `populated` claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spare<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Spare<T> {
    /// A view, or `None` if `buf` is shorter than the record's fixed part.
    pub fn new_checked(buf: T) -> Option<Spare<T>> {
        (buf.as_ref().len() >= ENTRIES).then_some(Spare { buf })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    /// Dedicated to the VDs it lists (otherwise a spare for any VD).
    pub fn dedicated(&self) -> bool {
        self.b()[TYPE] & DEDICATED != 0
    }
    /// The GUIDs of the VDs it lists, as far as they lie inside the record.
    pub fn vd_guids(&self) -> impl Iterator<Item = &[u8]> {
        let b = self.b();
        let n = usize::from(be16(b, POPULATED));
        (0..n).map_while(move |j| {
            let o = ENTRY.checked_mul(j)?.checked_add(ENTRIES)?;
            b.get(o..o.checked_add(GUID_LEN)?)
        })
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Spare<T> {
    /// Set the CRC over the whole record, as it is written.
    pub fn seal(&mut self) {
        super::seal(self.buf.as_mut());
    }
}

/// The record's bytes, as they are written.
impl<T: AsRef<[u8]>> Deref for Spare<T> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.b()
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Spare<T> {
    fn as_ref(&self) -> &[u8] {
        self.b()
    }
}
