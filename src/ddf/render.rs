//! Rendering one member's DDF metadata: both copies (each header after its
//! sections) and the anchor, as regions in the order they reach the disk.

use super::view::{self, header as hdr, section, Header, SECTOR};
use super::{Ddf, Member, MAX_COPY_SECTORS, SECTIONS};
use crate::metadata::{Region, Regions};
use crate::wire::{be32, set_be32, set_be64};

impl Ddf {
    /// Bytes needed to render one disk.
    pub fn render_len(&self) -> usize {
        // Both copies' sections are the same bytes: rendered once (see `render`).
        self.copy_sectors() * SECTOR + 2 * SECTOR
    }

    /// Sectors from a header to the end of its last section.
    /// The load checked the layout; the bound holds whatever the header says.
    pub(super) fn copy_sectors(&self) -> usize {
        SECTIONS
            .iter()
            .map(|&s| section(&self.header, s))
            .map(|(o, l)| o as usize + l as usize)
            .max()
            .unwrap_or(0)
            .clamp(1, MAX_COPY_SECTORS as usize)
    }

    /// Render member `i`'s metadata into `buf`: the primary and secondary
    /// copies (each header with its sections at the header's offsets) and
    /// the anchor, as five regions in the order they must reach the disk. Header timestamps are `now` (DDF
    /// epoch), or the disk's own when `None` (an unchanged re-render).
    pub fn render(&self, i: usize, now: Option<u32>, buf: &mut [u8]) -> Regions {
        let Some(m) = self.members.get(i) else { return Regions::new() };
        let copy = self.copy_sectors() * SECTOR;
        if buf.len() < copy + 2 * SECTOR {
            return Regions::new();
        }
        let Some((out, h)) = self.headers(i, now) else { return Regions::new() };
        // The sections are the same in both copies: rendered once, after a
        // sector for the primary header; the secondary header and the
        // anchor follow them.
        let b = &mut buf[..copy];
        b.fill(0xFF);
        self.render_sections(m, b);
        buf[..SECTOR].copy_from_slice(&h[0]);
        buf[copy..copy + SECTOR].copy_from_slice(&h[1]);
        buf[copy + SECTOR..copy + 2 * SECTOR].copy_from_slice(&h[2]);
        out
    }

    /// Member `i`'s primary header, secondary header and anchor, and the
    /// regions of its image (see [`Ddf::render`]): the primary header at
    /// byte 0, the sections from `SECTOR` on, the secondary header after
    /// them and the anchor last.
    pub(super) fn headers(&self, i: usize, now: Option<u32>) -> Option<(Regions, [[u8; SECTOR]; 3])> {
        let mut out = Regions::new();
        let m = self.members.get(i)?;
        let copy = self.copy_sectors() * SECTOR;
        let mut h3 = [[0xFFu8; SECTOR]; 3];
        let mut anchor = self.header;
        set_be64(&mut anchor, hdr::PRIMARY_LBA, m.primary_lba);
        set_be64(&mut anchor, hdr::SECONDARY_LBA, m.secondary_lba);
        set_be64(&mut anchor, hdr::WORKSPACE_LBA, m.workspace_lba);
        set_be32(&mut anchor, hdr::TIMESTAMP, now.unwrap_or(m.timestamp));
        // Each copy's sections go first and its header after them, so a
        // header never describes sections that are not on the disk yet
        // (mdadm writes header, sections, header; it does not check section
        // CRCs when it loads).
        for (k, kind, lba, start) in
            [(0, hdr::TYPE_PRIMARY, m.primary_lba, 0), (1, hdr::TYPE_SECONDARY, m.secondary_lba, copy)]
        {
            // A copy is written only where it fits before the anchor.
            if lba == u64::MAX || lba.checked_add(copy as u64 / SECTOR as u64).is_none_or(|e| e >= m.sectors) {
                continue;
            }
            let mut h = anchor;
            h[hdr::TYPE] = kind;
            h[hdr::OPENFLAG] = 0;
            view::seal(&mut h);
            h3[k] = h;
            let at = lba * SECTOR as u64;
            out.push(Region { offset: at + SECTOR as u64, start: SECTOR, len: copy - SECTOR });
            out.push(Region { offset: at, start, len: SECTOR });
        }
        anchor[hdr::TYPE] = hdr::TYPE_ANCHOR;
        anchor[hdr::OPENFLAG] = 0xFF;
        set_be32(&mut anchor, hdr::SEQ, 0xFFFF_FFFF);
        view::seal(&mut anchor);
        h3[2] = anchor;
        out.push(Region { offset: (m.sectors - 1) * SECTOR as u64, start: copy + SECTOR, len: SECTOR });
        Some((out, h3))
    }

    /// The sections of one copy, at their offsets from the header (`b[0]`).
    /// The load checked the layout; a part that would not fit `b` anyway is
    /// left out rather than written past it.
    fn render_sections(&self, m: &Member, b: &mut [u8]) {
        let at = |s: usize| section(&self.header, s).0 as usize * SECTOR;
        let put = |b: &mut [u8], off: usize, src: &[u8]| {
            if let Some(d) = off.checked_add(src.len()).and_then(|e| b.get_mut(off..e)) {
                d.copy_from_slice(src);
                view::seal(d);
            }
        };
        put(b, at(hdr::CONTROLLER_SECTION), &self.controller);
        put(b, at(hdr::PHYS_SECTION), &self.phys);
        put(b, at(hdr::VIRT_SECTION), &self.virt);
        let g = Header::new_checked(&self.header[..]).unwrap();
        let rec_len = usize::from(g.config_record_len()) * SECTOR;
        let parts = usize::from(g.max_partitions());
        let cfg = at(hdr::CONFIG_SECTION);
        let refnum = be32(&m.disk_data, view::disk_data::REFNUM);
        for slot in 0..=parts {
            let off = cfg + slot * rec_len;
            let rec: Option<&[u8]> = if slot == parts {
                m.spare.as_deref()
            } else {
                m.vlist.get(slot).and_then(|&c| self.bvd_of(usize::from(c), refnum))
            };
            match rec {
                Some(r) => put(b, off, r),
                None => {
                    if let Some(d) = b.get_mut(off..off.saturating_add(rec_len)) {
                        d.fill(0xFF);
                    }
                }
            }
        }
        put(b, at(hdr::DATA_SECTION), &m.disk_data);
    }

    /// The record of VD `c` that holds the disk `refnum` (its BVD).
    pub(super) fn bvd_of(&self, c: usize, refnum: u32) -> Option<&[u8]> {
        let g = Header::new_checked(&self.header[..]).unwrap();
        let mppe = usize::from(g.mppe());
        let vc = self.confs.get(c)?;
        let holds = |r: &[u8]| (0..mppe).any(|p| be32(r, view::conf::PHYS_REFNUM + 4 * p) == refnum);
        vc.records.iter().find(|r| holds(r)).or(vc.records.first()).map(|r| &r[..])
    }
}
