//! SNIA DDF metadata as mdadm writes it: loading the copies on every member
//! disk (anchor, primary and secondary headers with their sections),
//! choosing the authoritative one, merging the per-disk configuration
//! records, and rendering each disk's metadata back.
//!
//! This is the codec; monitoring DDF containers (the handler decisions)
//! builds on it. Sections are held in buffers sized once at load time.

pub mod crc;
mod handler;
pub mod view;

pub use handler::{pd_state, vd_state, DDF_EPOCH};

use crate::imsm::{DiskInfo, DiskSource};
use crate::metadata::{DevT, Region, Regions, MAX_DISKS};
use crate::wire::{be16, be32, set_be32, set_be64};
use arrayvec::ArrayVec;
use core::fmt;
use view::{header as hdr, is_all_ff, magic, section, Header, GUID_LEN, SECTOR};

/// Most virtual disks (volumes) a container may hold in this build.
pub const MAX_VDS: usize = 16;
/// Most BVDs of one secondary-level VD (RAID10 as an SVD of mirrors).
pub const MAX_BVDS: usize = 8;
/// Most configuration records a disk may carry (mdadm: 64 plus the spare slot).
pub const MAX_PARTITIONS: usize = 128;
/// Largest section length (sectors) accepted, as mdadm.
pub const MAX_SECTION: u32 = 1024;
/// Largest copy (a header and its sections, in sectors) accepted: the five
/// sections at their largest, one after another. mdadm's copies are 618.
pub const MAX_COPY_SECTORS: u32 = 1 + 5 * MAX_SECTION;
/// The sections a copy renders, in header order.
const SECTIONS: [usize; 5] =
    [hdr::CONTROLLER_SECTION, hdr::PHYS_SECTION, hdr::VIRT_SECTION, hdr::CONFIG_SECTION, hdr::DATA_SECTION];

/// Why one disk's metadata (or part of it) was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyError {
    /// The disk could not be read (errno).
    Io(i32),
    /// No valid anchor in the last sector.
    NoAnchor,
    /// Neither header the anchor names is valid.
    NoHeader,
    /// A section has the wrong magic or CRC (which section).
    BadSection(&'static str),
    /// Section sizes out of the ranges mdadm accepts or larger than this build's tables.
    Malformed(&'static str),
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::Io(e) => write!(f, "read error (errno {e})"),
            CopyError::NoAnchor => write!(f, "no valid DDF anchor in the last sector"),
            CopyError::NoHeader => write!(f, "neither the primary nor the secondary DDF header is valid"),
            CopyError::BadSection(s) => write!(f, "corrupt {s} section (bad magic or CRC)"),
            CopyError::Malformed(why) => write!(f, "malformed DDF metadata: {why}"),
        }
    }
}

/// Why the container could not be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// No member disk holds usable DDF metadata.
    NoUsableCopy,
    /// The members belong to different containers.
    MixedContainers,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NoUsableCopy => write!(f, "no member disk holds usable DDF metadata"),
            LoadError::MixedContainers => write!(f, "member disks carry different DDF container GUIDs"),
        }
    }
}

/// Something noteworthy found while loading, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadNote {
    /// Disk `dev`'s copy (or one of its headers) was not used.
    Rejected { dev: DevT, what: &'static str, why: CopyError },
    /// Disk `dev` carries an older generation than the chosen one.
    Stale { dev: DevT, seq: u32 },
    /// A configuration record on `dev` failed its CRC and was ignored.
    BadConfigRecord { dev: DevT, index: usize },
    /// The anchor of `dev` places its `which` ("primary"/"secondary") copy
    /// where it cannot be (`why`): that copy is neither read nor written.
    CopyNotWritten { dev: DevT, which: &'static str, why: &'static str },
}

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

/// One virtual disk's configuration: its record (or, for a secondary-level
/// VD, one record per BVD, in `sec_elmnt_seq` order of arrival).
#[derive(Clone)]
pub struct VdConf {
    pub records: ArrayVec<Box<[u8]>, MAX_BVDS>,
    /// Index of its entry in the virtual disk table.
    pub vcnum: Option<usize>,
}

impl VdConf {
    pub fn guid(&self) -> &[u8] {
        &self.records[0][view::conf::GUID..view::conf::GUID + GUID_LEN]
    }
}

/// One present member disk and what is its own in the metadata.
#[derive(Clone)]
pub struct Member {
    pub dev: DevT,
    pub sectors: u64,
    pub primary_lba: u64,
    pub secondary_lba: u64,
    pub workspace_lba: u64,
    /// Timestamp of the disk's own header, kept for an unchanged re-render.
    pub timestamp: u32,
    pub disk_data: [u8; SECTOR],
    /// The disk's spare assignment record, written back as it was.
    pub spare: Option<Box<[u8]>>,
    /// The VDs (indexes into `Ddf::confs`) whose records this disk carries,
    /// in the order of its configuration slots.
    pub vlist: ArrayVec<u8, MAX_PARTITIONS>,
    /// Index of its entry in the physical disk table.
    pub pdnum: Option<usize>,
}

/// The in-memory DDF metadata of one container.
pub struct Ddf {
    /// The header of the freshest copy; its fields persist across writes.
    pub header: [u8; SECTOR],
    pub controller: Box<[u8]>,
    pub phys: Box<[u8]>,
    pub virt: Box<[u8]>,
    pub confs: ArrayVec<VdConf, MAX_VDS>,
    pub members: ArrayVec<Member, MAX_DISKS>,
    /// Changes wait to be written (the header's sequence number is already
    /// advanced for them).
    pending: bool,
    /// The time for new timestamps (DDF epoch), set by the shell.
    now: u32,
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

    /// The physical disk entries (all slots).
    pub fn phys_entries(&self) -> impl Iterator<Item = &[u8]> {
        let n = usize::from(be16(&self.phys, view::table::MAX));
        self.phys[view::table::LEN..view::table::LEN + n * view::table::ENTRY].chunks_exact(view::table::ENTRY)
    }

    /// The virtual disk entries (all slots; the index is the VD number).
    pub fn virt_entries(&self) -> impl Iterator<Item = &[u8]> {
        let n = usize::from(be16(&self.virt, view::table::MAX));
        self.virt[view::table::LEN..view::table::LEN + n * view::table::ENTRY].chunks_exact(view::table::ENTRY)
    }

    /// VD numbers in use.
    pub fn volumes(&self) -> impl Iterator<Item = usize> + '_ {
        self.virt_entries().enumerate().filter(|(_, e)| !is_all_ff(&e[..GUID_LEN])).map(|(i, _)| i)
    }

    /// Bytes needed to render one disk.
    pub fn render_len(&self) -> usize {
        // Both copies' sections are the same bytes: rendered once (see `render`).
        self.copy_sectors() * SECTOR + 2 * SECTOR
    }

    /// Sectors from a header to the end of its last section.
    /// The load checked the layout; the bound holds whatever the header says.
    fn copy_sectors(&self) -> usize {
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
        let mut out = Regions::new();
        let Some(m) = self.members.get(i) else { return out };
        let copy = self.copy_sectors() * SECTOR;
        if buf.len() < copy + 2 * SECTOR {
            return out;
        }
        let mut anchor = self.header;
        set_be64(&mut anchor, hdr::PRIMARY_LBA, m.primary_lba);
        set_be64(&mut anchor, hdr::SECONDARY_LBA, m.secondary_lba);
        set_be64(&mut anchor, hdr::WORKSPACE_LBA, m.workspace_lba);
        set_be32(&mut anchor, hdr::TIMESTAMP, now.unwrap_or(m.timestamp));
        // Each copy's sections go first and its header after them, so a
        // header never describes sections that are not on the disk yet
        // (mdadm writes header, sections, header; it does not check section
        // CRCs when it loads).
        // The sections are the same in both copies: rendered once, after a
        // sector for the primary header; the secondary header and the
        // anchor follow them.
        let b = &mut buf[..copy];
        b.fill(0xFF);
        self.render_sections(m, b);
        for (kind, lba, start) in [(hdr::TYPE_PRIMARY, m.primary_lba, 0), (hdr::TYPE_SECONDARY, m.secondary_lba, copy)]
        {
            // A copy is written only where it fits before the anchor.
            if lba == u64::MAX || lba.checked_add(copy as u64 / SECTOR as u64).is_none_or(|e| e >= m.sectors) {
                continue;
            }
            let mut h = anchor;
            h[hdr::TYPE] = kind;
            h[hdr::OPENFLAG] = 0;
            view::seal(&mut h);
            buf[start..start + SECTOR].copy_from_slice(&h);
            let at = lba * SECTOR as u64;
            out.push(Region { offset: at + SECTOR as u64, start: SECTOR, len: copy - SECTOR });
            out.push(Region { offset: at, start, len: SECTOR });
        }
        let start = copy + SECTOR;
        anchor[hdr::TYPE] = hdr::TYPE_ANCHOR;
        anchor[hdr::OPENFLAG] = 0xFF;
        set_be32(&mut anchor, hdr::SEQ, 0xFFFF_FFFF);
        view::seal(&mut anchor);
        buf[start..start + SECTOR].copy_from_slice(&anchor);
        out.push(Region { offset: (m.sectors - 1) * SECTOR as u64, start, len: SECTOR });
        out
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
    fn bvd_of(&self, c: usize, refnum: u32) -> Option<&[u8]> {
        let g = Header::new_checked(&self.header[..]).unwrap();
        let mppe = usize::from(g.mppe());
        let vc = self.confs.get(c)?;
        let holds = |r: &[u8]| (0..mppe).any(|p| be32(r, view::conf::PHYS_REFNUM + 4 * p) == refnum);
        vc.records.iter().find(|r| holds(r)).or(vc.records.first()).map(|r| &r[..])
    }
}

#[cfg(test)]
mod tests;
