//! The bad-block management (BBM) log at the end of the MPB: which sectors
//! of which disk failed a write. mdmon records the ranges md reports and
//! forgets those md clears; mdadm hands the logged ranges to md when it
//! assembles a volume.
//!
//! Layout: signature, entry count, then 8-byte entries (sector count − 1,
//! disk index in the table, 48-bit start sector as a 16-bit low part and a
//! 32-bit high part). An entry covers at most 256 sectors; a longer range
//! takes several. Only `8 + 8·count` bytes are stored.

use super::view::ord_to_idx;
use super::*;
use crate::badblocks::{BadRange, BbList};
use crate::metadata::BadBlockLog;
use crate::wire::{le32, set_le32};

const SIGNATURE: u32 = 0xABAD_B10C;
/// Most entries the log holds (mdadm's limit).
pub const MAX_ENTRIES: usize = 254;
/// Most sectors one entry covers.
pub const ENTRY_SECTORS: u32 = 256;
/// Largest start sector an entry can hold (48 bits).
const START_MAX: u64 = (1 << 48) - 1;

/// One log entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub disk: u8,
    pub range: BadRange,
}

impl Imsm {
    /// Number of entries in the log.
    pub fn bbm_len(&self) -> usize {
        if self.bbm.len() < 8 {
            return 0;
        }
        // Checked at load: the stored size is 8 + 8 * count.
        (le32(&self.bbm, 4) as usize).min((self.bbm.len() - 8) / 8)
    }

    /// Entry `i` (`i < bbm_len()`).
    pub fn bbm_entry(&self, i: usize) -> Entry {
        let e = &self.bbm[8 + 8 * i..16 + 8 * i];
        let start = u64::from(u16::from_le_bytes([e[2], e[3]])) | (u64::from(le32(e, 4)) << 16);
        Entry { disk: e[1], range: BadRange { start, len: u32::from(e[0]) + 1 } }
    }

    fn bbm_set_count(&mut self, n: usize) {
        if self.bbm.len() < 8 {
            self.bbm.clear();
            let _ = self.bbm.try_extend_from_slice(&[0; 8]);
            set_le32(&mut self.bbm, 0, SIGNATURE);
        }
        self.bbm.truncate(8 + 8 * n);
        set_le32(&mut self.bbm, 4, n as u32);
    }

    /// Append an entry; false when the log is full or the entry cannot be
    /// expressed (more than 256 sectors, start beyond 48 bits).
    fn bbm_push(&mut self, e: Entry) -> bool {
        let n = self.bbm_len();
        if n >= MAX_ENTRIES || e.range.len == 0 || e.range.len > ENTRY_SECTORS || e.range.start > START_MAX {
            return false;
        }
        self.bbm_set_count(n);
        let mut b = [0u8; 8];
        b[0] = (e.range.len - 1) as u8;
        b[1] = e.disk;
        b[2..4].copy_from_slice(&(e.range.start as u16).to_le_bytes());
        b[4..8].copy_from_slice(&((e.range.start >> 16) as u32).to_le_bytes());
        if self.bbm.try_extend_from_slice(&b).is_err() {
            return false;
        }
        set_le32(&mut self.bbm, 4, n as u32 + 1);
        true
    }

    /// Keep only the entries for which `keep` is true (order kept).
    fn bbm_retain(&mut self, mut keep: impl FnMut(Entry) -> bool) {
        let n = self.bbm_len();
        let mut w = 0;
        for i in 0..n {
            if keep(self.bbm_entry(i)) {
                if w != i {
                    self.bbm.copy_within(8 + 8 * i..16 + 8 * i, 8 + 8 * w);
                }
                w += 1;
            }
        }
        if w != n {
            self.bbm_set_count(w);
            self.pending += 1;
        }
    }

    /// Forget every range of disk `idx` (it failed, or is being rebuilt).
    pub(super) fn bbm_clear_disk(&mut self, idx: u32) {
        self.bbm_retain(|e| u32::from(e.disk) != idx);
    }

    /// Disk `idx` left the table: its ranges go, the indexes above close up.
    pub(super) fn bbm_disk_deleted(&mut self, idx: u32) {
        self.bbm_clear_disk(idx);
        for i in 0..self.bbm_len() {
            let o = 8 + 8 * i + 1;
            if u32::from(self.bbm[o]) > idx {
                self.bbm[o] -= 1;
            }
        }
    }

    /// The disk index and the extent (start, sectors) of the member in
    /// `slot` of volume `inst`.
    fn bbm_member(&self, inst: u32, slot: u32) -> Option<(u8, BadRange)> {
        let d = self.devs.get(inst as usize)?.view();
        let m = d.map0();
        if slot >= u32::from(m.num_members()) {
            return None;
        }
        let idx = ord_to_idx(m.ord(slot as usize));
        if idx as usize >= self.table.len() || idx > u32::from(u8::MAX) {
            return None;
        }
        let size = m.per_dev_array_size().min(u64::from(u32::MAX));
        Some((idx as u8, BadRange { start: m.pba_of_lba0(), len: size as u32 }))
    }
}

/// Whether entry range `e` touches the volume extent `v` (an extent too
/// large for a `BadRange` is compared by its start only).
fn in_extent(e: BadRange, v: BadRange) -> bool {
    v.len == u32::MAX && e.end() > v.start || e.overlaps(v)
}

impl BadBlockLog for Imsm {
    fn logged(&self, a: &ArrayCtx, slot: u32, out: &mut BbList) -> bool {
        out.clear();
        let Some((disk, extent)) = self.bbm_member(a.inst, slot) else {
            return false;
        };
        for i in 0..self.bbm_len() {
            let e = self.bbm_entry(i);
            if e.disk == disk && in_extent(e.range, extent) {
                let _ = out.try_push(e.range);
            }
        }
        true
    }

    fn record(&mut self, a: &ArrayCtx, slot: u32, r: BadRange) -> bool {
        let Some((disk, _)) = self.bbm_member(a.inst, slot) else {
            return false;
        };
        if r.len == 0 || r.end() > START_MAX {
            return false;
        }
        // Entries inside the range are replaced by the range's own pieces.
        let inside = (0..self.bbm_len()).filter(|&i| {
            let e = self.bbm_entry(i);
            e.disk == disk && r.contains(e.range)
        });
        let pieces = r.len.div_ceil(ENTRY_SECTORS) as usize;
        if self.bbm_len() - inside.count() + pieces > MAX_ENTRIES {
            return false;
        }
        self.bbm_retain(|e| !(e.disk == disk && r.contains(e.range)));
        let mut start = r.start;
        let mut left = r.len;
        while left > 0 {
            let len = left.min(ENTRY_SECTORS);
            self.bbm_push(Entry { disk, range: BadRange { start, len } });
            start += u64::from(len);
            left -= len;
        }
        self.pending += 1;
        true
    }

    fn clear(&mut self, a: &ArrayCtx, slot: u32, r: BadRange) {
        if let Some((disk, _)) = self.bbm_member(a.inst, slot) {
            self.bbm_retain(|e| !(e.disk == disk && e.range == r));
        }
    }

    fn piece_max(&self) -> u32 {
        ENTRY_SECTORS
    }
}

#[cfg(test)]
mod tests;
