//! Loading a DDF container: the anchor and headers of every disk, the
//! choice of the freshest copy, its global sections, and each disk's own
//! disk data and configuration records merged into one view.
//!
//! Every record is read through the typed views of `super::view`: a
//! header's layout is checked once (`Layout`) before a section is read,
//! the tables and configuration records once as they are taken in.

use super::view::{self, header as hdr, magic, Controller, DiskData, Header, Layout, PhysTable, Section, Spare};
use super::view::{VdConfig, VirtTable, SECTOR};
use super::{ConfRecord, CopyError, Ddf, LoadError, LoadNote, Member, VdConf, MAX_SECTION};
use crate::metadata::MAX_DISKS;
use crate::metadata::{DiskInfo, DiskSource};
use crate::sys::AlignedBuf;
use arrayvec::ArrayVec;

/// A header and the sector it was read from.
type Located = ([u8; SECTOR], u64);

/// The valid headers of one disk.
#[derive(Clone)]
struct Headers {
    anchor: [u8; SECTOR],
    /// The header mdadm would use (primary or secondary).
    active: Located,
    /// The other valid header, if any.
    other: Option<Located>,
}

impl Headers {
    fn anchor(&self) -> Header<&[u8; SECTOR]> {
        Header::of(&self.anchor)
    }
    fn active(&self) -> Header<&[u8; SECTOR]> {
        Header::of(&self.active.0)
    }
    /// mdadm's freshness score: the sequence number, one less while open.
    fn score(&self) -> i64 {
        let h = self.active();
        i64::from(h.seq()) - i64::from(h.openflag() != 0)
    }
}

/// Read `out.len()` bytes from sector `lba` of disk `i`.
fn read_sectors(src: &mut dyn DiskSource, i: usize, lba: u64, out: &mut [u8]) -> Result<(), CopyError> {
    let at = lba.checked_mul(SECTOR as u64).ok_or(CopyError::Malformed("section offset"))?;
    src.read(i, at, out).map_err(CopyError::Io)
}

/// Read and check the anchor and both headers of disk `i`.
fn read_headers(src: &mut dyn DiskSource, i: usize, notes: &mut Vec<LoadNote>) -> Result<Headers, CopyError> {
    let info = src.info(i);
    let sectors = info.geom.size_bytes / SECTOR as u64;
    if sectors < 2 {
        return Err(CopyError::NoAnchor);
    }
    let mut anchor = [0u8; SECTOR];
    read_sectors(src, i, sectors - 1, &mut anchor)?;
    let a = Header::of(&anchor);
    if a.magic() != magic::HEADER || !view::crc_ok(&anchor) || !a.revision_known() {
        return Err(CopyError::NoAnchor);
    }
    let mut load = |lba: u64, kind: u8, what: &'static str| -> Option<[u8; SECTOR]> {
        if lba == u64::MAX || lba >= sectors - 1 {
            return None;
        }
        let mut h = [0u8; SECTOR];
        if let Err(e) = read_sectors(src, i, lba, &mut h) {
            notes.push(LoadNote::Rejected { dev: info.dev, what, why: e });
            return None;
        }
        let v = Header::of(&h);
        let ok = v.magic() == magic::HEADER
            && view::crc_ok(&h)
            && v.guid() == a.guid()
            && v.revision() == a.revision()
            && v.primary_lba() == a.primary_lba()
            && v.secondary_lba() == a.secondary_lba()
            && v.pad2() == a.pad2()
            && v.kind() == kind;
        if !ok {
            notes.push(LoadNote::Rejected { dev: info.dev, what, why: CopyError::NoHeader });
            return None;
        }
        Some(h)
    };
    let (plba, slba) = (a.primary_lba(), a.secondary_lba());
    let primary = load(plba, hdr::TYPE_PRIMARY, "primary header");
    let secondary = load(slba, hdr::TYPE_SECONDARY, "secondary header");
    let (active, other) = match (primary, secondary) {
        (None, None) => return Err(CopyError::NoHeader),
        (None, Some(s)) => ((s, slba), None),
        (Some(p), None) => ((p, plba), None),
        (Some(p), Some(s)) => {
            let (ph, sh) = (Header::of(&p), Header::of(&s));
            let use_secondary = (ph.seq() < sh.seq() && sh.openflag() == 0)
                || (ph.seq() == sh.seq() && ph.openflag() != 0 && sh.openflag() == 0);
            if use_secondary {
                ((s, slba), Some((p, plba)))
            } else {
                ((p, plba), Some((s, slba)))
            }
        }
    };
    Ok(Headers { anchor, active, other })
}

/// Read section `s` of the copy whose header is at `lba` into a new buffer.
fn read_section(src: &mut dyn DiskSource, i: usize, lba: u64, s: Section) -> Result<AlignedBuf, CopyError> {
    let at = s.lba(lba).ok_or(CopyError::Malformed("section offset"))?;
    let len = s.bytes().ok_or(CopyError::Malformed("section length"))?;
    // Sector aligned: the daemon writes the shared sections from the
    // model itself (O_DIRECT).
    let mut b = AlignedBuf::aligned(len, SECTOR);
    read_sectors(src, i, at, b.as_mut_slice())?;
    Ok(b)
}

/// The global sections, as found relative to one header, and its layout.
struct Global {
    layout: Layout,
    controller: Controller<AlignedBuf>,
    phys: PhysTable<AlignedBuf>,
    virt: VirtTable<AlignedBuf>,
}

/// Read the global sections of the copy whose header `h` is at `lba`, once
/// its layout holds: each must carry its magic and CRC, and the tables the
/// entries their headers claim.
fn read_global(src: &mut dyn DiskSource, i: usize, h: &[u8; SECTOR], lba: u64) -> Result<Global, CopyError> {
    let layout = Layout::new_checked(&Header::of(h)).map_err(CopyError::Malformed)?;
    let controller = read_section(src, i, lba, layout.controller())?;
    let phys = read_section(src, i, lba, layout.phys())?;
    let virt = read_section(src, i, lba, layout.virt())?;
    let sealed = |b: &[u8], m: u32| view::magic_of(b) == Some(m) && view::crc_ok(b);
    let controller = Controller::new_checked(controller)
        .filter(|c| sealed(c.record(), magic::CONTROLLER))
        .ok_or(CopyError::BadSection("controller"))?;
    if !sealed(phys.as_slice(), magic::PHYS) {
        return Err(CopyError::BadSection("physical disk"));
    }
    if !sealed(virt.as_slice(), magic::VIRT) {
        return Err(CopyError::BadSection("virtual disk"));
    }
    let (Some(phys), Some(virt)) = (PhysTable::new_checked(phys), VirtTable::new_checked(virt)) else {
        return Err(CopyError::Malformed("table entries exceed their section"));
    };
    Ok(Global { layout, controller, phys, virt })
}

impl Ddf {
    /// Load the container from its member disks: the freshest intact copy
    /// gives the global sections; each disk gives its own local ones.
    pub fn load(src: &mut dyn DiskSource, notes: &mut Vec<LoadNote>) -> Result<Box<Ddf>, LoadError> {
        let n = src.count().min(MAX_DISKS);
        let mut heads: ArrayVec<(usize, Headers), MAX_DISKS> = ArrayVec::new();
        for i in 0..n {
            match read_headers(src, i, notes) {
                Ok(h) => heads.push((i, h)),
                Err(why) => notes.push(LoadNote::Rejected { dev: src.info(i).dev, what: "metadata", why }),
            }
        }
        // The freshest first (a stable sort: ties keep the disks' order).
        heads.sort_by_key(|(_, h)| core::cmp::Reverse(h.score()));
        // One container: the GUID of the freshest copy.
        let Some((_, best)) = heads.first() else { return Err(LoadError::NoUsableCopy) };
        if heads.iter().any(|(_, h)| h.anchor().guid() != best.anchor().guid()) {
            return Err(LoadError::MixedContainers);
        }
        // The global sections: from the freshest disk whose copy is intact.
        let mut global = None;
        'search: for (i, h) in &heads {
            for (hd, lba) in core::iter::once(&h.active).chain(h.other.as_ref()) {
                match read_global(src, *i, hd, *lba) {
                    Ok(g) => {
                        global = Some((*hd, g));
                        break 'search;
                    }
                    Err(why) => notes.push(LoadNote::Rejected { dev: src.info(*i).dev, what: "global sections", why }),
                }
            }
        }
        let Some((header, g)) = global else { return Err(LoadError::NoUsableCopy) };
        let layout = g.layout;
        let (seq, now) = (Header::of(&header).seq(), Header::of(&header).timestamp());
        let mut ddf = Box::new(Ddf {
            header,
            controller: g.controller,
            phys: g.phys,
            virt: g.virt,
            confs: ArrayVec::new(),
            members: ArrayVec::new(),
            pending: false,
            now,
        });
        for (i, h) in &heads {
            let info = src.info(*i);
            let active_seq = h.active().seq();
            if active_seq < seq {
                notes.push(LoadNote::Stale { dev: info.dev, seq: active_seq });
            }
            if let Err(why) = ddf.load_local(src, *i, &info, h, &layout, notes) {
                notes.push(LoadNote::Rejected { dev: info.dev, what: "local sections", why });
            }
        }
        // Keep the members in the order the shell listed the disks.
        ddf.members.sort_by_key(|m| (0..n).position(|i| src.info(i).dev == m.dev));
        Ok(ddf)
    }

    /// Read disk `i`'s disk data and configuration records (where its own
    /// header places them) and merge them; the records are `layout`'s.
    fn load_local(
        &mut self,
        src: &mut dyn DiskSource,
        i: usize,
        info: &DiskInfo,
        h: &Headers,
        layout: &Layout,
        notes: &mut Vec<LoadNote>,
    ) -> Result<(), CopyError> {
        let (own, lba) = (h.active(), h.active.1);
        let (data_s, conf_s) = (own.data_section(), own.config_section());
        if data_s.len == 0 || conf_s.len == 0 || conf_s.len > MAX_SECTION {
            return Err(CopyError::Malformed("local section lengths"));
        }
        let mut data = [0u8; SECTOR];
        let data_lba = data_s.lba(lba).ok_or(CopyError::Malformed("section offset"))?;
        read_sectors(src, i, data_lba, &mut data)?;
        if DiskData::of(&data).magic() != magic::DISK_DATA || !view::crc_ok(&data) {
            return Err(CopyError::BadSection("disk data"));
        }
        let confs = read_section(src, i, lba, conf_s)?;
        let a = h.anchor();
        let mut m = Member {
            dev: info.dev,
            sectors: info.geom.size_bytes / SECTOR as u64,
            primary_lba: a.primary_lba(),
            secondary_lba: a.secondary_lba(),
            workspace_lba: a.workspace_lba(),
            timestamp: own.timestamp(),
            disk_data: data,
            spare: None,
            vlist: ArrayVec::new(),
            pdnum: None,
        };
        self.fit_copies(&mut m, notes)?;
        m.pdnum = self.phys.entries().position(|e| e.guid() == m.data().guid());
        for (k, rec) in confs.as_slice().chunks_exact(layout.record_bytes()).enumerate() {
            match view::magic_of(rec) {
                // The first spare assignment record counts, as for mdadm.
                Some(magic::SPARE) if m.spare.is_none() => {
                    m.spare = Spare::new_checked(AlignedBuf::copy_of(rec, SECTOR))
                }
                Some(magic::SPARE) => {}
                Some(magic::VD_CONF) => {
                    if !view::crc_ok(rec) {
                        notes.push(LoadNote::BadConfigRecord { dev: info.dev, index: k });
                        continue;
                    }
                    // The layout makes every record long enough for its member arrays.
                    let Some(rec) = VdConfig::new_checked(AlignedBuf::copy_of(rec, SECTOR), layout.mppe()) else {
                        continue;
                    };
                    if let Some(c) = self.merge_conf(rec) {
                        let _ = m.vlist.try_push(c as u8);
                    }
                }
                _ => {}
            }
        }
        let _ = self.members.try_push(Box::new(m));
        Ok(())
    }

    /// Keep only the copies that lie inside the disk, before its anchor, and
    /// apart from each other; the others are not written. A disk left with
    /// none is refused.
    fn fit_copies(&self, m: &mut Member, notes: &mut Vec<LoadNote>) -> Result<(), CopyError> {
        let copy = self.copy_sectors() as u64;
        let last = m.sectors.saturating_sub(1);
        for (lba, which) in [(&mut m.primary_lba, "primary"), (&mut m.secondary_lba, "secondary")] {
            if *lba != u64::MAX && lba.checked_add(copy).is_none_or(|e| e > last) {
                let why = "it does not fit before the anchor";
                notes.push(LoadNote::CopyNotWritten { dev: m.dev, which, why });
                *lba = u64::MAX;
            }
        }
        let (p, s) = (m.primary_lba, m.secondary_lba);
        if p != u64::MAX && s != u64::MAX && p.abs_diff(s) < copy {
            let why = "it overlaps the primary";
            notes.push(LoadNote::CopyNotWritten { dev: m.dev, which: "secondary", why });
            m.secondary_lba = u64::MAX;
        }
        if m.primary_lba == u64::MAX && m.secondary_lba == u64::MAX {
            return Err(CopyError::Malformed("no copy fits the disk"));
        }
        Ok(())
    }

    /// Merge one VD configuration record: a newer record of the same BVD
    /// replaces the held one. Returns its VD's index.
    fn merge_conf(&mut self, rec: ConfRecord) -> Option<usize> {
        let bvd = rec.sec_elmnt_seq();
        if let Some(c) = self.confs.iter().position(|c| c.guid() == rec.guid()) {
            let vc = &mut self.confs[c];
            match vc.records.iter().position(|r| r.sec_elmnt_seq() == bvd) {
                Some(k) => {
                    if rec.seqnum() > vc.records[k].seqnum() {
                        vc.records[k] = rec;
                    }
                }
                None => {
                    let _ = vc.records.try_push(rec);
                }
            }
            return Some(c);
        }
        let vcnum = self.virt.entries().position(|e| e.guid() == rec.guid());
        let mut records = ArrayVec::new();
        records.push(rec);
        self.confs.try_push(VdConf { records, vcnum }).ok()?;
        Some(self.confs.len() - 1)
    }
}
