//! The controller data section.

use super::SECTOR;
use crate::wire::be32;
use core::ops::Deref;

/// A view of the controller data section: `controller_data` (one sector,
/// magic and CRC first), then whatever the section holds after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Controller<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Controller<T> {
    /// A view, or `None` if `buf` is shorter than the record.
    pub fn new_checked(buf: T) -> Option<Controller<T>> {
        (buf.as_ref().len() >= SECTOR).then_some(Controller { buf })
    }
    pub fn magic(&self) -> u32 {
        be32(self.buf.as_ref(), 0)
    }
    /// The `controller_data` record (what its CRC covers).
    pub fn record(&self) -> &[u8] {
        &self.buf.as_ref()[..SECTOR]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Controller<T> {
    /// Set the CRC over the whole section, as every copy carries it.
    pub fn seal(&mut self) {
        super::seal(self.buf.as_mut());
    }
}

/// The section's bytes, as they are written.
impl<T: AsRef<[u8]>> Deref for Controller<T> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.buf.as_ref()
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Controller<T> {
    fn as_ref(&self) -> &[u8] {
        self.buf.as_ref()
    }
}
