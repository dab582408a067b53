//! `vd_config`: a virtual disk's configuration record (one per BVD). The
//! fixed part, then the reference numbers (u32) of `mppe` member
//! positions, then their start LBAs (u64).

use super::GUID_LEN;
use crate::wire::{be16, be32, be64, set_be32, set_be64};
use core::ops::{Deref, Range};

pub const GUID: usize = 0x08;
pub const TIMESTAMP: usize = 0x20;
pub const SEQNUM: usize = 0x24;
pub const PRIM_ELMNT_COUNT: usize = 0x40;
pub const PRL: usize = 0x43;
pub const SEC_ELMNT_COUNT: usize = 0x45;
pub const SEC_ELMNT_SEQ: usize = 0x46;
pub const SRL: usize = 0x47;
pub const BLOCKS: usize = 0x48;
/// The member arrays start here.
pub const PHYS_REFNUM: usize = 0x200;

/// Bytes of a member's reference number and of its LBA.
const REFNUM_LEN: usize = 4;
const LBA_LEN: usize = 8;

/// A view of a configuration record with `mppe` member positions (checked
/// once: the buffer holds both arrays). `mppe` 0 views the fixed part alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VdConfig<T> {
    buf: T,
    mppe: usize,
}

impl<T: AsRef<[u8]>> VdConfig<T> {
    /// Bytes of a record with `mppe` member positions (`None` on overflow).
    pub fn len_for(mppe: usize) -> Option<usize> {
        mppe.checked_mul(REFNUM_LEN + LBA_LEN)?.checked_add(PHYS_REFNUM)
    }
    /// The bytes of both member arrays (reference numbers, then LBAs).
    pub fn arrays(mppe: usize) -> Option<Range<usize>> {
        Some(PHYS_REFNUM..Self::len_for(mppe)?)
    }
    /// A view, or `None` if `buf` cannot hold the record with `mppe` positions.
    pub fn new_checked(buf: T, mppe: usize) -> Option<VdConfig<T>> {
        (buf.as_ref().len() >= Self::len_for(mppe)?).then_some(VdConfig { buf, mppe })
    }
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    /// Member positions.
    pub fn mppe(&self) -> usize {
        self.mppe
    }
    /// The same record, borrowed.
    pub fn borrow(&self) -> VdConfig<&[u8]> {
        VdConfig { buf: self.b(), mppe: self.mppe }
    }
    pub fn guid(&self) -> &[u8] {
        &self.b()[GUID..GUID + GUID_LEN]
    }
    pub fn timestamp(&self) -> u32 {
        be32(self.b(), TIMESTAMP)
    }
    pub fn seqnum(&self) -> u32 {
        be32(self.b(), SEQNUM)
    }
    /// Members of this BVD.
    pub fn prim_elmnt_count(&self) -> u16 {
        be16(self.b(), PRIM_ELMNT_COUNT)
    }
    /// Primary RAID level.
    pub fn prl(&self) -> u8 {
        self.b()[PRL]
    }
    /// BVDs of the VD (0 or 1: no secondary level).
    pub fn sec_elmnt_count(&self) -> u8 {
        self.b()[SEC_ELMNT_COUNT]
    }
    /// This BVD's place among them.
    pub fn sec_elmnt_seq(&self) -> u8 {
        self.b()[SEC_ELMNT_SEQ]
    }
    /// Secondary RAID level.
    pub fn srl(&self) -> u8 {
        self.b()[SRL]
    }
    /// Sectors each member gives the VD.
    pub fn blocks(&self) -> u64 {
        be64(self.b(), BLOCKS)
    }
    /// Where the reference number of position `p` lies (`None` past `mppe`).
    fn refnum_at(&self, p: usize) -> Option<usize> {
        (p < self.mppe).then(|| PHYS_REFNUM + REFNUM_LEN * p)
    }
    /// Where the LBA of position `p` lies (`None` past `mppe`).
    fn lba_at(&self, p: usize) -> Option<usize> {
        (p < self.mppe).then(|| PHYS_REFNUM + REFNUM_LEN * self.mppe + LBA_LEN * p)
    }
    /// The reference number of the disk at position `p` (`None` past `mppe`).
    pub fn phys_refnum(&self, p: usize) -> Option<u32> {
        self.refnum_at(p).map(|o| be32(self.b(), o))
    }
    /// Where the VD's data starts on the disk at position `p`.
    pub fn lba(&self, p: usize) -> Option<u64> {
        self.lba_at(p).map(|o| be64(self.b(), o))
    }
    /// The position of the disk with `refnum`, if it is a member here.
    pub fn position_of(&self, refnum: u32) -> Option<usize> {
        (0..self.mppe).find(|&p| self.phys_refnum(p) == Some(refnum))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VdConfig<T> {
    fn m(&mut self) -> &mut [u8] {
        self.buf.as_mut()
    }
    /// Set the CRC over the whole record, as it is written.
    pub fn seal(&mut self) {
        super::seal(self.m());
    }
    pub fn set_timestamp(&mut self, v: u32) {
        set_be32(self.m(), TIMESTAMP, v);
    }
    pub fn set_seqnum(&mut self, v: u32) {
        set_be32(self.m(), SEQNUM, v);
    }
    /// Set the reference number at position `p` (nothing past `mppe`).
    pub fn set_phys_refnum(&mut self, p: usize, v: u32) {
        if let Some(o) = self.refnum_at(p) {
            set_be32(self.m(), o, v);
        }
    }
    /// Set the start LBA at position `p` (nothing past `mppe`).
    pub fn set_lba(&mut self, p: usize, v: u64) {
        if let Some(o) = self.lba_at(p) {
            set_be64(self.m(), o, v);
        }
    }
    /// Take every member position (reference number and LBA) from `other`,
    /// as far as both records have positions.
    pub fn copy_members_from(&mut self, other: &VdConfig<impl AsRef<[u8]>>) {
        for p in 0..self.mppe.min(other.mppe) {
            if let (Some(r), Some(l)) = (other.phys_refnum(p), other.lba(p)) {
                self.set_phys_refnum(p, r);
                self.set_lba(p, l);
            }
        }
    }
}

/// The record's bytes, as they are written.
impl<T: AsRef<[u8]>> Deref for VdConfig<T> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.b()
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for VdConfig<T> {
    fn as_ref(&self) -> &[u8] {
        self.b()
    }
}
