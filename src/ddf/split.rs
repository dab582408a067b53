//! Rendering DDF metadata split, for writing with little memory: what
//! every disk carries the same bytes of (the controller, physical and
//! virtual disk tables, and each configuration or spare assignment record,
//! which only some disks carry) is sealed in place once per write and
//! written from the model itself (its sector-aligned buffers); each disk's
//! own buffer holds only its headers and its data section; the unused
//! record slots and the gaps are 0xFF the shell writes from one buffer of
//! its own. The image is the one [`Ddf::render`] builds whole (a mdadm copy
//! is 618 sectors, most of them unused record slots), byte for byte; the
//! regions are the same.

use super::view::{self, header as hdr, section, Header, SECTOR};
use super::Ddf;
use crate::metadata::{Extent, Layout, Regions, Src};
use arrayvec::ArrayVec;

/// The shared sections, first among the shared parts.
const SHARED: [usize; 3] = [hdr::CONTROLLER_SECTION, hdr::PHYS_SECTION, hdr::VIRT_SECTION];

/// Own buffer: primary header, secondary header, anchor, data section.
const OWN_DATA: usize = 3 * SECTOR;
const OWN_LEN: usize = 4 * SECTOR;

// Every part fits the shell's list of them.
const _: () = assert!(
    SHARED.len() + super::MAX_VDS * super::MAX_BVDS + crate::metadata::MAX_DISKS <= crate::metadata::MAX_SHARED_PARTS
);

/// One placed piece of a copy: its byte offset from the header, length, source.
type Piece = (usize, usize, Src);

impl Ddf {
    /// The shared parts, in the order `Src::Shared` offsets count them:
    /// the three sections, every VD's records (in `confs` order), then the
    /// members' spare assignment records (in `members` order).
    fn shared_parts(&self) -> impl Iterator<Item = &[u8]> {
        let sections: [&[u8]; 3] = [&self.controller, &self.phys, &self.virt];
        let records = self.confs.iter().flat_map(|c| c.records.iter().map(|r| &r[..]));
        let spares = self.members.iter().filter_map(|m| m.spare.as_deref());
        sections.into_iter().chain(records).chain(spares)
    }

    /// Shared part `k` (`Src::Shared` offsets count the parts laid end to
    /// end), as the model holds it: sector aligned, whole sectors long.
    pub fn split_shared_part(&self, k: usize) -> Option<&[u8]> {
        self.shared_parts().nth(k)
    }

    /// Bytes of the shared parts together.
    pub fn split_shared_len(&self) -> usize {
        self.shared_parts().map(|p| p.len()).sum()
    }

    /// Where the shared part that is `part` itself (the same bytes of the
    /// model) starts, in `Src::Shared` offsets.
    fn shared_offset(&self, part: &[u8]) -> Option<u32> {
        let mut at = 0usize;
        for p in self.shared_parts() {
            if core::ptr::eq(p, part) {
                return u32::try_from(at).ok();
            }
            at = at.checked_add(p.len())?;
        }
        None
    }

    /// Bytes of a disk's own buffer: its three headers and its data section.
    pub fn split_own_len(&self) -> usize {
        OWN_LEN
    }

    /// Seal the shared parts in place (their CRCs, derived data, as every
    /// copy carries them), so a write can take them from the model.
    pub fn seal_shared(&mut self) {
        self.controller.seal();
        self.phys.seal();
        self.virt.seal();
        for r in self.confs.iter_mut().flat_map(|c| c.records.iter_mut()) {
            r.seal();
        }
        for s in self.members.iter_mut().filter_map(|m| m.spare.as_mut()) {
            s.seal();
        }
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
        if own.len() < OWN_LEN {
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
    /// offset order; its data section rendered into `own`.
    fn pieces(&self, i: usize, own: &mut [u8]) -> Option<ArrayVec<Piece, { crate::metadata::MAX_EXTENTS }>> {
        let m = self.members.get(i)?;
        let at = |s: usize| section(&self.header, s).0 as usize * SECTOR;
        let mut out: ArrayVec<Piece, { crate::metadata::MAX_EXTENTS }> = ArrayVec::new();
        for (s, p) in SHARED.iter().zip(self.shared_parts()) {
            out.try_push((at(*s), p.len(), Src::Shared(self.shared_offset(p)?))).ok()?;
        }
        let data = &mut own[OWN_DATA..OWN_LEN];
        data.copy_from_slice(&m.disk_data);
        view::seal(data);
        out.try_push((at(hdr::DATA_SECTION), SECTOR, Src::Own(OWN_DATA as u32))).ok()?;
        // The records, each in its slot; the rest of a slot (none for a
        // record as loaded or updated: each is a slot long) is 0xFF.
        let g = Header::new_checked(&self.header[..])?;
        let rec = usize::from(g.config_record_len()) * SECTOR;
        let parts = usize::from(g.max_partitions());
        let cfg = at(hdr::CONFIG_SECTION);
        let refnum = crate::wire::be32(&m.disk_data, view::disk_data::REFNUM);
        for slot in 0..=parts {
            let r: Option<&[u8]> = if slot == parts {
                m.spare.as_deref()
            } else {
                m.vlist.get(slot).and_then(|&c| self.bvd_of(usize::from(c), refnum))
            };
            if let Some(r) = r {
                if r.len() > rec {
                    return None;
                }
                out.try_push((cfg + slot * rec, r.len(), Src::Shared(self.shared_offset(r)?))).ok()?;
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
