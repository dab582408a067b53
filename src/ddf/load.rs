//! Loading a DDF container: the anchor and headers of every disk, the
//! choice of the freshest copy, its global sections, and each disk's own
//! disk data and configuration records merged into one view.

use super::view::{self, header as hdr, magic, section, Header, GUID_LEN, SECTOR};
use super::{
    CopyError, Ddf, LoadError, LoadNote, Member, VdConf, MAX_COPY_SECTORS, MAX_PARTITIONS, MAX_SECTION, SECTIONS,
};
use crate::imsm::{DiskInfo, DiskSource};
use crate::metadata::MAX_DISKS;
use crate::wire::{be16, be32};
use arrayvec::ArrayVec;

/// The valid headers of one disk.
#[derive(Clone)]
struct Headers {
    anchor: [u8; SECTOR],
    primary: Option<[u8; SECTOR]>,
    secondary: Option<[u8; SECTOR]>,
    /// The secondary is the active one.
    use_secondary: bool,
}

impl Headers {
    fn active(&self) -> (&[u8; SECTOR], u64) {
        let a = Header::new_checked(&self.anchor[..]).expect("sector");
        match (self.use_secondary, &self.primary, &self.secondary) {
            (true, _, Some(s)) => (s, a.secondary_lba()),
            (_, Some(p), _) => (p, a.primary_lba()),
            (_, None, Some(s)) => (s, a.secondary_lba()),
            (_, None, None) => unreachable!("a disk with headers has one"),
        }
    }
    /// The other valid header, if any.
    fn other(&self) -> Option<(&[u8; SECTOR], u64)> {
        let a = Header::new_checked(&self.anchor[..]).expect("sector");
        let (_, lba) = self.active();
        match (&self.primary, &self.secondary) {
            (Some(p), Some(s)) => {
                Some(if lba == a.primary_lba() { (s, a.secondary_lba()) } else { (p, a.primary_lba()) })
            }
            _ => None,
        }
    }
    /// mdadm's freshness score: the sequence number, one less while open.
    fn score(&self) -> i64 {
        let h = Header::new_checked(&self.active().0[..]).expect("sector");
        i64::from(h.seq()) - i64::from(h.openflag() != 0)
    }
}

fn read_sector(src: &mut dyn DiskSource, i: usize, lba: u64, out: &mut [u8]) -> Result<(), CopyError> {
    src.read(i, lba * SECTOR as u64, out).map_err(CopyError::Io)
}

/// Read and check the anchor and both headers of disk `i`.
fn read_headers(src: &mut dyn DiskSource, i: usize, notes: &mut Vec<LoadNote>) -> Result<Headers, CopyError> {
    let info = src.info(i);
    let sectors = info.geom.size_bytes / SECTOR as u64;
    if sectors < 2 {
        return Err(CopyError::NoAnchor);
    }
    let mut anchor = [0u8; SECTOR];
    read_sector(src, i, sectors - 1, &mut anchor)?;
    let a = Header::new_checked(&anchor[..]).expect("sector");
    let revision_ok = |h: &Header<&[u8]>| h.revision() == b"01.00.00" || h.revision() == b"01.02.00";
    if a.magic() != magic::HEADER || !view::crc_ok(&anchor) || !revision_ok(&a) {
        return Err(CopyError::NoAnchor);
    }
    let mut load = |lba: u64, kind: u8, what: &'static str| -> Option<[u8; SECTOR]> {
        if lba == u64::MAX || lba >= sectors - 1 {
            return None;
        }
        let mut h = [0u8; SECTOR];
        if let Err(e) = read_sector(src, i, lba, &mut h) {
            notes.push(LoadNote::Rejected { dev: info.dev, what, why: e });
            return None;
        }
        let v = Header::new_checked(&h[..]).expect("sector");
        let a = Header::new_checked(&anchor[..]).expect("sector");
        let ok = v.magic() == magic::HEADER
            && view::crc_ok(&h)
            && v.guid() == a.guid()
            && v.revision() == a.revision()
            && v.primary_lba() == a.primary_lba()
            && v.secondary_lba() == a.secondary_lba()
            && h[hdr::PAD2] == anchor[hdr::PAD2]
            && v.kind() == kind;
        if !ok {
            notes.push(LoadNote::Rejected { dev: info.dev, what, why: CopyError::NoHeader });
            return None;
        }
        Some(h)
    };
    let primary = load(a.primary_lba(), hdr::TYPE_PRIMARY, "primary header");
    let secondary = load(a.secondary_lba(), hdr::TYPE_SECONDARY, "secondary header");
    let use_secondary = match (&primary, &secondary) {
        (None, None) => return Err(CopyError::NoHeader),
        (None, Some(_)) => true,
        (Some(_), None) => false,
        (Some(p), Some(s)) => {
            let (p, s) = (Header::new_checked(&p[..]).unwrap(), Header::new_checked(&s[..]).unwrap());
            (p.seq() < s.seq() && s.openflag() == 0) || (p.seq() == s.seq() && p.openflag() != 0 && s.openflag() == 0)
        }
    };
    Ok(Headers { anchor, primary, secondary, use_secondary })
}

/// Read `len` sectors at `lba` into a new buffer.
fn read_section(src: &mut dyn DiskSource, i: usize, lba: u64, len: u32) -> Result<Box<[u8]>, CopyError> {
    let mut b = vec![0u8; len as usize * SECTOR].into_boxed_slice();
    src.read(i, lba * SECTOR as u64, &mut b).map_err(CopyError::Io)?;
    Ok(b)
}

/// The global sections, as found relative to one header.
struct Global {
    controller: Box<[u8]>,
    phys: Box<[u8]>,
    virt: Box<[u8]>,
}

fn check_table_len(len: u32, what: &'static str) -> Result<(), CopyError> {
    if matches!(len, 2 | 8 | 32 | 128 | 512) {
        Ok(())
    } else {
        Err(CopyError::Malformed(what))
    }
}

/// Check the layout a header describes before anything is read or rendered
/// from it: every section non-empty, at most `MAX_SECTION` long, after the
/// header, inside `MAX_COPY_SECTORS` and apart from the others; configuration
/// records long enough for their entries and all of them (the spare slot
/// included) inside the configuration section.
fn check_layout(h: &[u8]) -> Result<(), CopyError> {
    let g = Header::new_checked(h).ok_or(CopyError::Malformed("short header"))?;
    let mut spans: ArrayVec<(u32, u32), 5> = ArrayVec::new();
    for s in SECTIONS {
        let (o, l) = section(h, s);
        if l == 0 || l > MAX_SECTION {
            return Err(CopyError::Malformed("section length"));
        }
        let end = o.checked_add(l).filter(|&e| o >= 1 && e <= MAX_COPY_SECTORS);
        let Some(end) = end else { return Err(CopyError::Malformed("section offset")) };
        if spans.iter().any(|&(a, b)| o < b && a < end) {
            return Err(CopyError::Malformed("overlapping sections"));
        }
        spans.push((o, end));
    }
    let rec = u32::from(g.config_record_len());
    if rec == 0 || rec as usize * SECTOR < 0x200 + 12 * usize::from(g.mppe()) {
        return Err(CopyError::Malformed("configuration record length"));
    }
    let parts = u32::from(g.max_partitions());
    if parts as usize > MAX_PARTITIONS || (parts + 1) * rec > section(h, hdr::CONFIG_SECTION).1 {
        return Err(CopyError::Malformed("configuration records exceed their section"));
    }
    Ok(())
}

fn read_global(src: &mut dyn DiskSource, i: usize, h: &[u8], lba: u64) -> Result<Global, CopyError> {
    check_layout(h)?;
    let (co, cl) = section(h, hdr::CONTROLLER_SECTION);
    let (po, pl) = section(h, hdr::PHYS_SECTION);
    let (vo, vl) = section(h, hdr::VIRT_SECTION);
    check_table_len(pl, "physical disk section length")?;
    check_table_len(vl, "virtual disk section length")?;
    if cl == 0 || cl > MAX_SECTION {
        return Err(CopyError::Malformed("controller section length"));
    }
    let controller = read_section(src, i, lba + u64::from(co), cl)?;
    let phys = read_section(src, i, lba + u64::from(po), pl)?;
    let virt = read_section(src, i, lba + u64::from(vo), vl)?;
    let ok = |b: &[u8], m: u32| be32(b, 0) == m && view::crc_ok(b);
    if !ok(&controller[..SECTOR], magic::CONTROLLER) {
        return Err(CopyError::BadSection("controller"));
    }
    if !ok(&phys, magic::PHYS) {
        return Err(CopyError::BadSection("physical disk"));
    }
    if !ok(&virt, magic::VIRT) {
        return Err(CopyError::BadSection("virtual disk"));
    }
    // The tables must hold the entries their headers claim.
    let max_pd = usize::from(be16(&phys, view::table::MAX));
    let max_vd = usize::from(be16(&virt, view::table::MAX));
    if view::table::LEN + max_pd * view::table::ENTRY > phys.len()
        || view::table::LEN + max_vd * view::table::ENTRY > virt.len()
    {
        return Err(CopyError::Malformed("table entries exceed their section"));
    }
    Ok(Global { controller, phys, virt })
}

impl Ddf {
    /// Load the container from its member disks: the freshest intact copy
    /// gives the global sections; each disk gives its own local ones.
    pub fn load(src: &mut dyn DiskSource, notes: &mut Vec<LoadNote>) -> Result<Box<Ddf>, LoadError> {
        let n = src.count().min(MAX_DISKS);
        let mut heads: ArrayVec<Option<Headers>, MAX_DISKS> = ArrayVec::new();
        for i in 0..n {
            match read_headers(src, i, notes) {
                Ok(h) => heads.push(Some(h)),
                Err(why) => {
                    notes.push(LoadNote::Rejected { dev: src.info(i).dev, what: "metadata", why });
                    heads.push(None);
                }
            }
        }
        // One container: the GUID of the freshest copy.
        let mut order: ArrayVec<usize, MAX_DISKS> = (0..n).filter(|&i| heads[i].is_some()).collect();
        order.sort_by_key(|&i| core::cmp::Reverse(heads[i].as_ref().unwrap().score()));
        let Some(&best) = order.first() else { return Err(LoadError::NoUsableCopy) };
        let guid = |h: &Headers| {
            let mut g = [0u8; GUID_LEN];
            g.copy_from_slice(&h.anchor[hdr::GUID..hdr::GUID + GUID_LEN]);
            g
        };
        let set = guid(heads[best].as_ref().unwrap());
        if order.iter().any(|&i| guid(heads[i].as_ref().unwrap()) != set) {
            return Err(LoadError::MixedContainers);
        }
        // The global sections: from the freshest disk whose copy is intact.
        let mut global = None;
        'search: for &i in &order {
            let h = heads[i].clone().unwrap();
            let mut cands: ArrayVec<([u8; SECTOR], u64), 2> = ArrayVec::new();
            let (a, l) = h.active();
            cands.push((*a, l));
            if let Some((o, l)) = h.other() {
                cands.push((*o, l));
            }
            for (hd, lba) in cands {
                match read_global(src, i, &hd, lba) {
                    Ok(g) => {
                        global = Some((hd, g));
                        break 'search;
                    }
                    Err(why) => notes.push(LoadNote::Rejected { dev: src.info(i).dev, what: "global sections", why }),
                }
            }
        }
        let Some((header, g)) = global else { return Err(LoadError::NoUsableCopy) };
        let seq = Header::new_checked(&header[..]).unwrap().seq();
        let mut ddf = Box::new(Ddf {
            header,
            controller: g.controller,
            phys: g.phys,
            virt: g.virt,
            confs: ArrayVec::new(),
            members: ArrayVec::new(),
            pending: false,
            now: Header::new_checked(&header[..]).unwrap().timestamp(),
        });
        for &i in &order {
            let h = heads[i].clone().unwrap();
            let info = src.info(i);
            let active_seq = Header::new_checked(&h.active().0[..]).unwrap().seq();
            if active_seq < seq {
                notes.push(LoadNote::Stale { dev: info.dev, seq: active_seq });
            }
            if let Err(why) = ddf.load_local(src, i, &info, &h, notes) {
                notes.push(LoadNote::Rejected { dev: info.dev, what: "local sections", why });
            }
        }
        // Keep the members in the order the shell listed the disks.
        ddf.members.sort_by_key(|m| (0..n).position(|i| src.info(i).dev == m.dev));
        Ok(ddf)
    }

    /// Read disk `i`'s disk data and configuration records and merge them.
    fn load_local(
        &mut self,
        src: &mut dyn DiskSource,
        i: usize,
        info: &DiskInfo,
        h: &Headers,
        notes: &mut Vec<LoadNote>,
    ) -> Result<(), CopyError> {
        let g = Header::new_checked(&self.header[..]).unwrap();
        let rec_len = usize::from(g.config_record_len()) * SECTOR;
        let (hd, lba) = h.active();
        let (dof, dl) = section(&hd[..], hdr::DATA_SECTION);
        let (cof, cl) = section(&hd[..], hdr::CONFIG_SECTION);
        if dl == 0 || cl == 0 || cl > MAX_SECTION || rec_len == 0 || rec_len < 0x200 + 12 * usize::from(g.mppe()) {
            return Err(CopyError::Malformed("local section lengths"));
        }
        let data = read_section(src, i, lba + u64::from(dof), 1)?;
        if be32(&data, 0) != magic::DISK_DATA || !view::crc_ok(&data) {
            return Err(CopyError::BadSection("disk data"));
        }
        let confs = read_section(src, i, lba + u64::from(cof), cl)?;
        let a = Header::new_checked(&h.anchor[..]).unwrap();
        let mut m = Member {
            dev: info.dev,
            sectors: info.geom.size_bytes / SECTOR as u64,
            primary_lba: a.primary_lba(),
            secondary_lba: a.secondary_lba(),
            workspace_lba: a.workspace_lba(),
            timestamp: Header::new_checked(&hd[..]).unwrap().timestamp(),
            disk_data: [0; SECTOR],
            spare: None,
            vlist: ArrayVec::new(),
            pdnum: None,
        };
        m.disk_data.copy_from_slice(&data);
        self.fit_copies(&mut m, notes)?;
        let dguid = &m.disk_data[view::disk_data::GUID..view::disk_data::GUID + GUID_LEN];
        m.pdnum = self.phys_entries().position(|e| &e[..GUID_LEN] == dguid);
        for (k, rec) in confs.chunks_exact(rec_len).enumerate() {
            match be32(rec, 0) {
                // The first spare assignment record counts, as for mdadm.
                magic::SPARE if m.spare.is_none() => m.spare = Some(rec.into()),
                magic::SPARE => {}
                magic::VD_CONF => {
                    if !view::crc_ok(rec) {
                        notes.push(LoadNote::BadConfigRecord { dev: info.dev, index: k });
                        continue;
                    }
                    if let Some(c) = self.merge_conf(rec) {
                        let _ = m.vlist.try_push(c as u8);
                    }
                }
                _ => {}
            }
        }
        let _ = self.members.try_push(m);
        Ok(())
    }

    /// Keep only the copies that lie inside the disk, before its anchor, and
    /// apart from each other; the others are not written. A disk left with
    /// none is refused.
    fn fit_copies(&self, m: &mut Member, notes: &mut Vec<LoadNote>) -> Result<(), CopyError> {
        let copy = self.copy_sectors() as u64;
        let last = m.sectors - 1;
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

    /// Merge one VD configuration record; returns its VD's index.
    fn merge_conf(&mut self, rec: &[u8]) -> Option<usize> {
        use view::conf;
        let guid = &rec[conf::GUID..conf::GUID + GUID_LEN];
        let seqnum = be32(rec, conf::SEQNUM);
        let bvd = rec[conf::SEC_ELMNT_SEQ];
        if let Some(c) = self.confs.iter().position(|c| c.guid() == guid) {
            let vc = &mut self.confs[c];
            match vc.records.iter().position(|r| r[conf::SEC_ELMNT_SEQ] == bvd) {
                Some(k) => {
                    if seqnum > be32(&vc.records[k], conf::SEQNUM) {
                        vc.records[k] = rec.into();
                    }
                }
                None => {
                    let _ = vc.records.try_push(rec.into());
                }
            }
            return Some(c);
        }
        let vcnum = self.virt_entries().position(|e| &e[..GUID_LEN] == guid);
        let mut records = ArrayVec::new();
        records.push(rec.into());
        self.confs.try_push(VdConf { records, vcnum }).ok()?;
        Some(self.confs.len() - 1)
    }
}
