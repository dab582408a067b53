//! `virtual_entry`: one entry of the virtual disk table.

use super::entry::{Entry, Virt};
use core::ops::Range;

pub const STATE: usize = 0x20;
pub const INIT_STATE: usize = 0x21;
pub const NAME: Range<usize> = 0x30..0x40;

/// A view of a virtual disk entry.
pub type VirtEntry<T> = Entry<T, Virt>;

impl<T: AsRef<[u8]>> Entry<T, Virt> {
    /// `state`: the VD state in the low bits, and flags.
    pub fn state(&self) -> u8 {
        self.b()[STATE]
    }
    /// `init_state`: the initialisation state in the low two bits.
    pub fn init_state(&self) -> u8 {
        self.b()[INIT_STATE]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Entry<T, Virt> {
    pub fn set_state(&mut self, v: u8) {
        self.m()[STATE] = v;
    }
    pub fn set_init_state(&mut self, v: u8) {
        self.m()[INIT_STATE] = v;
    }
}
