//! Rendering DDF metadata split, for writing with little memory: the
//! sections every disk shares (controller, physical and virtual disk
//! tables) are sealed in place once per write and written from the model
//! itself (its sector-aligned section buffers); each disk's
//! own buffer holds only its headers, its data section and the
//! configuration records it carries; the unused record slots and the gaps
//! are 0xFF the shell writes from one buffer of its own. The image is the
//! one [`Ddf::render`] builds whole (a mdadm copy is 618 sectors, most of
//! them unused record slots), byte for byte; the regions are the same.

use super::view::{self, header as hdr, section, Header, SECTOR};
use super::{Ddf, MAX_VDS};
use crate::metadata::{Extent, Layout, Regions, Src};
use arrayvec::ArrayVec;

/// The shared sections, in the order `Src::Shared` offsets count them
/// (the parts laid end to end).
const SHARED: [usize; 3] = [hdr::CONTROLLER_SECTION, hdr::PHYS_SECTION, hdr::VIRT_SECTION];

/// Own buffer: primary header, secondary header, anchor, data section,
/// then the records.
const OWN_DATA: usize = 3 * SECTOR;
const OWN_RECORDS: usize = 4 * SECTOR;

/// One placed piece of a copy: its byte offset from the header, length, source.
type Piece = (usize, usize, Src);

impl Ddf {
    /// The shared sections' model bytes, in `Src::Shared` order.
    fn shared_parts(&self) -> [&[u8]; 3] {
        [&self.controller, &self.phys, &self.virt]
    }

    /// Shared part `k` (`Src::Shared` offsets count the parts laid end to
    /// end), as the model holds it: sector aligned, whole sectors long.
    pub fn split_shared_part(&self, k: usize) -> Option<&[u8]> {
        self.shared_parts().get(k).copied()
    }

    /// Bytes of the shared parts together.
    pub fn split_shared_len(&self) -> usize {
        self.shared_parts().iter().map(|p| p.len()).sum()
    }

    /// Bytes of one configuration record slot.
    fn rec_bytes(&self) -> usize {
        let g = Header::new_checked(&self.header[..]).unwrap();
        usize::from(g.config_record_len()) * SECTOR
    }

    /// Bytes of a disk's own buffer: its three headers, its data section
    /// and one slot for each record it can carry that differs from the
    /// others (one per virtual disk, `MAX_VDS` at most, and its spare
    /// assignment record).
    pub fn split_own_len(&self) -> usize {
        let g = Header::new_checked(&self.header[..]).unwrap();
        let records = usize::from(g.max_partitions()).min(MAX_VDS) + 1;
        OWN_RECORDS + records * self.rec_bytes()
    }

    /// Seal the shared sections in place (their CRCs, derived data, as
    /// every copy carries them), so a write can take them from the model.
    pub fn seal_shared(&mut self) {
        self.controller.seal();
        self.phys.seal();
        self.virt.seal();
    }

    /// Render member `i` split: its own bytes into `own` and where each
    /// stretch of its image comes from into `layout`. The regions, and the
    /// image they address, are those of [`Ddf::render`]; empty when the
    /// disk does not fit `own` or `layout` (never for a loaded model).
    pub fn render_split(&self, i: usize, now: Option<u32>, own: &mut [u8], layout: &mut Layout) -> Regions {
        layout.clear();
        let copy = self.copy_sectors() * SECTOR;
        // The headers and the anchor, and the regions, as a whole render
        // places them.
        let Some((regions, heads)) = self.headers(i, now) else { return Regions::new() };
        if own.len() < OWN_RECORDS {
            return Regions::new();
        }
        for (k, h) in heads.iter().enumerate() {
            own[k * SECTOR..(k + 1) * SECTOR].copy_from_slice(h);
        }
        let Some(pieces) = self.pieces(i, own) else { return Regions::new() };
        // The image: primary header, the sections' sector range, then the
        // secondary header and the anchor.
        let mut ok = push(layout, SECTOR, Src::Own(0));
        let mut pos = SECTOR;
        for &(off, len, src) in &pieces {
            if off < pos || off + len > copy {
                return Regions::new();
            }
            ok &= push(layout, off - pos, Src::Fill) && push(layout, len, src);
            pos = off + len;
        }
        ok &= push(layout, copy - pos, Src::Fill) && push(layout, 2 * SECTOR, Src::Own(SECTOR as u32));
        if !ok {
            layout.clear();
            return Regions::new();
        }
        regions
    }

    /// Everything of member `i`'s copy other than its header and 0xFF, in
    /// offset order; its data section and records rendered into `own`.
    fn pieces(&self, i: usize, own: &mut [u8]) -> Option<ArrayVec<Piece, { crate::metadata::MAX_EXTENTS }>> {
        let m = self.members.get(i)?;
        let at = |s: usize| section(&self.header, s).0 as usize * SECTOR;
        let mut out: ArrayVec<Piece, { crate::metadata::MAX_EXTENTS }> = ArrayVec::new();
        let mut sh = 0;
        for (s, p) in SHARED.iter().zip(self.shared_parts()) {
            out.try_push((at(*s), p.len(), Src::Shared(u32::try_from(sh).ok()?))).ok()?;
            sh += p.len();
        }
        let data = &mut own[OWN_DATA..OWN_RECORDS];
        data.copy_from_slice(&m.disk_data);
        view::seal(data);
        out.try_push((at(hdr::DATA_SECTION), SECTOR, Src::Own(OWN_DATA as u32))).ok()?;
        // The records: each distinct one once in `own`, sealed, in a slot
        // of its own filled with 0xFF after it.
        let rec = self.rec_bytes();
        let mut placed: ArrayVec<(*const u8, usize), { MAX_VDS + 1 }> = ArrayVec::new();
        let cfg = at(hdr::CONFIG_SECTION);
        let mut slot_rec = |slot: usize, r: &[u8], out: &mut ArrayVec<Piece, { crate::metadata::MAX_EXTENTS }>| {
            if r.len() > rec {
                return None;
            }
            let o = match placed.iter().find(|p| p.0 == r.as_ptr()) {
                Some(p) => p.1,
                None => {
                    let o = OWN_RECORDS + placed.len() * rec;
                    let d = own.get_mut(o..o + rec)?;
                    d.fill(0xFF);
                    d[..r.len()].copy_from_slice(r);
                    view::seal(&mut d[..r.len()]);
                    placed.try_push((r.as_ptr(), o)).ok()?;
                    o
                }
            };
            out.try_push((cfg + slot * rec, rec, Src::Own(u32::try_from(o).ok()?))).ok()
        };
        let parts = usize::from(Header::new_checked(&self.header[..])?.max_partitions());
        let refnum = crate::wire::be32(&m.disk_data, view::disk_data::REFNUM);
        for slot in 0..=parts {
            let r: Option<&[u8]> = if slot == parts {
                m.spare.as_deref()
            } else {
                m.vlist.get(slot).and_then(|&c| self.bvd_of(usize::from(c), refnum))
            };
            if let Some(r) = r {
                slot_rec(slot, r, &mut out)?;
            }
        }
        // In offset order (a few pieces, nearly sorted: insertion, without
        // a general sort's code in the binary).
        for k in 1..out.len() {
            let mut j = k;
            while j > 0 && out[j - 1].0 > out[j].0 {
                out.swap(j - 1, j);
                j -= 1;
            }
        }
        Some(out)
    }
}

/// Append `len` bytes from `src` to `layout`, joined to the last extent
/// when it continues it; false when the layout is full.
fn push(layout: &mut Layout, len: usize, src: Src) -> bool {
    let Ok(len) = u32::try_from(len) else { return false };
    if len == 0 {
        return true;
    }
    if let Some(last) = layout.last_mut() {
        let joined = match (last.src, src) {
            (Src::Fill, Src::Fill) => true,
            (Src::Own(a), Src::Own(b)) | (Src::Shared(a), Src::Shared(b)) => a.checked_add(last.len) == Some(b),
            _ => false,
        };
        if joined {
            last.len += len;
            return true;
        }
    }
    layout.try_push(Extent { len, src }).is_ok()
}
