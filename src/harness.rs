//! Member disks held in memory, for the fuzz targets (`fuzz/`) and unit
//! tests: a byte encoding of a set of disks (so a fuzzer can mutate it),
//! re-sealing of the IMSM checksum and DDF CRCs after a mutation (so the
//! loaders get past them), and the checks every render must pass.
//!
//! Built only for tests and with the `harness` feature; the daemon never
//! uses it.

use crate::ddf::view as dv;
use crate::imsm::view as iv;
use crate::metadata::roles::*;
use crate::metadata::{DevT, DiskGeom, Metadata, Region};
use crate::metadata::{DiskInfo, DiskSource};
use crate::wire::{le32, set_le32};

/// Most disks, and regions per disk, a decoded input may hold.
pub const MAX_DISKS: usize = 8;
pub const MAX_REGIONS: usize = 8;
/// Largest region a decoded input may hold (bytes).
pub const MAX_REGION: usize = 1 << 20;

/// One disk: what the shell knows of it and the byte ranges it holds.
/// Reads outside every range fail with EIO.
#[derive(Clone, Debug)]
pub struct MemDisk {
    pub info: DiskInfo,
    pub regions: Vec<(u64, Vec<u8>)>,
}

#[derive(Clone, Debug, Default)]
pub struct MemDisks(pub Vec<MemDisk>);

impl DiskSource for MemDisks {
    fn count(&self) -> usize {
        self.0.len()
    }
    fn info(&self, i: usize) -> DiskInfo {
        self.0[i].info
    }
    fn read(&mut self, i: usize, offset: u64, buf: &mut [u8]) -> Result<(), i32> {
        match self.0[i].find(offset, buf.len()) {
            Some((k, s)) => {
                buf.copy_from_slice(&self.0[i].regions[k].1[s..s + buf.len()]);
                Ok(())
            }
            None => Err(5),
        }
    }
}

impl MemDisk {
    /// The region holding `offset..offset+len` and the start within it.
    fn find(&self, offset: u64, len: usize) -> Option<(usize, usize)> {
        let end = offset.checked_add(len as u64)?;
        self.regions.iter().enumerate().find_map(|(k, (o, d))| {
            (offset >= *o && o.checked_add(d.len() as u64).is_some_and(|e| end <= e))
                .then(|| (k, (offset - o) as usize))
        })
    }

    pub fn bytes_mut(&mut self, offset: u64, len: usize) -> Option<&mut [u8]> {
        let (k, s) = self.find(offset, len)?;
        Some(&mut self.regions[k].1[s..s + len])
    }

    fn bytes(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let (k, s) = self.find(offset, len)?;
        Some(&self.regions[k].1[s..s + len])
    }
}

/// Little cursor over fuzz input; reads past the end give zeros.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }
    fn u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        let t = self.take(4);
        b[..t.len()].copy_from_slice(t);
        u32::from_le_bytes(b)
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }
    fn unpack(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::new();
        while v.len() < len && !self.0.is_empty() {
            let op = self.u8();
            let room = len - v.len();
            if op < 0x80 {
                let t = self.take((usize::from(op) + 1).min(room));
                v.extend_from_slice(t);
            } else {
                let n = usize::from(self.u8()) | usize::from(self.u8()) << 8;
                let b = self.u8();
                v.resize(v.len() + n.min(room), b);
            }
        }
        v
    }
}

/// Pack `b` as [`Cursor::unpack`] reads it.
fn pack(b: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < b.len() {
        let run = b[i..].iter().take(0xFFFF).take_while(|&&x| x == b[i]).count();
        if run >= 4 {
            out.push(0x80);
            out.extend_from_slice(&(run as u16).to_le_bytes());
            out.push(b[i]);
            i += run;
        } else {
            let mut j = i;
            while j < b.len() && j - i < 128 && !(j + 4 <= b.len() && b[j..j + 4].iter().all(|&x| x == b[j])) {
                j += 1;
            }
            let j = j.max(i + 1);
            out.push((j - i - 1) as u8);
            out.extend_from_slice(&b[i..j]);
            i = j;
        }
    }
}

impl MemDisks {
    /// Decode disks: `n: u8`, then per disk `size: u64, serial: [u8; 16],
    /// regions: u8`, then per region `offset: u64, len: u32` and its bytes
    /// packed (op `k < 0x80`: `k + 1` literal bytes follow; op `k >= 0x80`:
    /// `count: u16`, then a byte repeated `count` times) until `len` bytes
    /// (or the input) run out. Counts and lengths are clamped; disk `i` is
    /// device 7:i with 512-byte sectors.
    pub fn decode(input: &[u8]) -> MemDisks {
        let mut c = Cursor(input);
        let n = usize::from(c.u8()) % (MAX_DISKS + 1);
        let mut out = MemDisks::default();
        for i in 0..n {
            let size_bytes = c.u64();
            let mut serial = [0u8; 16];
            let s = c.take(16);
            serial[..s.len()].copy_from_slice(s);
            let info = DiskInfo {
                dev: DevT { major: 7, minor: i as u32 },
                serial,
                geom: DiskGeom { size_bytes, sector_size: 512 },
            };
            let nr = usize::from(c.u8()) % (MAX_REGIONS + 1);
            let mut regions = Vec::new();
            for _ in 0..nr {
                let off = c.u64();
                let len = (c.u32() as usize).min(MAX_REGION);
                regions.push((off, c.unpack(len)));
            }
            out.0.push(MemDisk { info, regions });
        }
        out
    }

    /// The encoding [`MemDisks::decode`] reads.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.0.len() as u8];
        for d in &self.0 {
            v.extend_from_slice(&d.info.geom.size_bytes.to_le_bytes());
            v.extend_from_slice(&d.info.serial);
            v.push(d.regions.len() as u8);
            for (o, b) in &d.regions {
                v.extend_from_slice(&o.to_le_bytes());
                v.extend_from_slice(&(b.len() as u32).to_le_bytes());
                pack(b, &mut v);
            }
        }
        v
    }

    /// Recompute each disk's IMSM checksum over the MPB its anchor describes.
    pub fn reseal_imsm(&mut self) {
        for d in &mut self.0 {
            let size = d.info.geom.size_bytes;
            let Some(at) = size.checked_sub(1024) else { continue };
            let Some(anchor) = d.bytes(at, 512) else { continue };
            let mpb_size = le32(anchor, iv::header::MPB_SIZE) as usize;
            if !(iv::header::LEN..=crate::imsm::MPB_MAX).contains(&mpb_size) {
                continue;
            }
            let k = mpb_size.div_ceil(512);
            let mut mpb = anchor.to_vec();
            if k > 1 {
                let Some(ext) = size.checked_sub((k as u64 + 1) * 512).and_then(|o| d.bytes(o, (k - 1) * 512)) else {
                    continue;
                };
                mpb.extend_from_slice(ext);
            }
            let sum = iv::checksum(&mpb, mpb_size);
            if let Some(a) = d.bytes_mut(at, 512) {
                set_le32(a, iv::header::CHECK_SUM, sum);
            }
        }
    }

    /// Recompute the DDF CRCs: each header's sections (controller, tables,
    /// configuration records, disk data), the headers, then the anchor.
    pub fn reseal_ddf(&mut self) {
        const S: u64 = dv::SECTOR as u64;
        for d in &mut self.0 {
            let Some(last) = (d.info.geom.size_bytes / S).checked_sub(1) else { continue };
            let Some(anchor) = d.bytes(last * S, 512).map(<[u8]>::to_vec) else { continue };
            if dv::magic_of(&anchor) != Some(dv::magic::HEADER) {
                continue;
            }
            let a = dv::Header::new_checked(&anchor[..]).unwrap();
            for lba in [a.primary_lba(), a.secondary_lba()] {
                let Some(h) = lba.checked_mul(S).and_then(|o| d.bytes(o, 512)).map(<[u8]>::to_vec) else {
                    continue;
                };
                if dv::magic_of(&h) != Some(dv::magic::HEADER) {
                    continue;
                }
                let g = dv::Header::new_checked(&h[..]).unwrap();
                let at = |s: usize| {
                    let (o, l) = dv::section(&h, s);
                    lba.checked_add(u64::from(o)).and_then(|x| x.checked_mul(S)).map(|x| (x, l as usize * 512))
                };
                use dv::header as hh;
                if let Some((o, _)) = at(hh::CONTROLLER_SECTION) {
                    seal(d, o, 512);
                }
                for s in [hh::PHYS_SECTION, hh::VIRT_SECTION] {
                    if let Some((o, l)) = at(s) {
                        seal(d, o, l);
                    }
                }
                if let Some((o, _)) = at(hh::DATA_SECTION) {
                    seal(d, o, 512);
                }
                let rec = usize::from(g.config_record_len()) * 512;
                if let Some((o, l)) = at(hh::CONFIG_SECTION) {
                    for k in 0..l.checked_div(rec).unwrap_or(0).min(1024) {
                        let off = o + (k * rec) as u64;
                        let magic = d.bytes(off, 4).and_then(dv::magic_of);
                        if magic == Some(dv::magic::VD_CONF) || magic == Some(dv::magic::SPARE) {
                            seal(d, off, rec);
                        }
                    }
                }
                seal(d, lba * S, 512);
            }
            if let Some(b) = d.bytes_mut(last * S, 512) {
                dv::seal(b);
            }
        }
    }

    fn size_of(&self, dev: DevT) -> Option<u64> {
        self.0.iter().find(|d| d.info.dev == dev).map(|d| d.info.geom.size_bytes)
    }
}

fn seal(d: &mut MemDisk, off: u64, len: usize) {
    if let Some(b) = d.bytes_mut(off, len).filter(|b| b.len() >= 8) {
        dv::seal(b);
    }
}

/// Largest render buffer any format may ask for.
pub const RENDER_MAX: usize = 2 * crate::ddf::MAX_COPY_SECTORS as usize * 512 + 512;

/// A write of `md`'s pending changes (if any) rendered for every disk:
/// panics if a region lies outside its buffer or its disk, or the buffer
/// asked for exceeds [`RENDER_MAX`]. The regions are applied to `disks`.
pub fn write_checked(md: &mut dyn Metadata, disks: &mut MemDisks) {
    let len = md.render_len();
    assert!(len <= RENDER_MAX, "render_len {len} beyond {RENDER_MAX}");
    let mut buf = vec![0u8; len];
    let n = md.begin_write();
    for i in 0..n {
        let Some(dev) = md.disk_dev(i) else { continue };
        let Some(size) = disks.size_of(dev) else { continue };
        let geom = DiskGeom { size_bytes: size, sector_size: 512 };
        for Region { offset, start, len } in md.render(i, geom, &mut buf) {
            assert!(start.checked_add(len).is_some_and(|e| e <= buf.len()), "region {start}+{len} beyond buffer");
            assert!(
                offset.checked_add(len as u64).is_some_and(|e| e <= size),
                "region at {offset}+{len} beyond disk of {size}"
            );
            let d = disks.0.iter_mut().find(|d| d.info.dev == dev).unwrap();
            if let Some(b) = d.bytes_mut(offset, len) {
                b.copy_from_slice(&buf[start..start + len]);
            }
        }
    }
    md.end_write();
}

use crate::md::{DevState, MAX_SECTOR};
use crate::metadata::{ArrayCtx, Consistency, NewDisk, NewMember, SlotInfo, MAX_SLOTS};
use arrayvec::ArrayVec;

/// What a monitor does to an array, with a checked write after each group
/// (few writes: rendering dominates the time of an execution): start, dirty
/// with a resync checkpoint; clean, the member of slot 0 failing, spares
/// chosen and recorded rebuilding; the rebuild done and a disk added.
pub fn exercise(md: &mut dyn Metadata, disks: &mut MemDisks, mut arrays: Vec<ArrayCtx>) {
    md.set_clock(1_800_000_000);
    for a in &mut arrays {
        md.set_array_state(a, Consistency::Starting);
        md.set_array_state(a, Consistency::Dirty);
        a.last_checkpoint = a.component_size / 3;
        a.resync_start = a.component_size / 2;
        md.set_array_state(a, Consistency::Dirty);
    }
    write_checked(md, disks);
    let mut added: Vec<ArrayVec<NewMember, MAX_SLOTS>> = Vec::new();
    for a in &mut arrays {
        a.resync_start = MAX_SECTOR;
        md.set_array_state(a, Consistency::Clean);
        let mut out = ArrayVec::new();
        if let Some(s) = a.slots.first().map(|s| s.slot) {
            md.set_disk(a, s, DevState(DevState::FAULTY));
            a.slots.retain(|x| x.slot != s);
            md.choose_spares(a, &mut out);
            md.record_rebuild(a, &out, 7);
            for n in &out {
                let st = DevState(0);
                let _ = a.slots.try_push(SlotInfo { slot: n.slot, dev: n.dev, recovery_start: 0, state: st });
                let _ = md.resume_position(a, n.slot);
            }
        }
        added.push(out);
    }
    write_checked(md, disks);
    for (a, out) in arrays.iter_mut().zip(&added) {
        for n in out {
            md.set_disk(a, n.slot, DevState(DevState::INSYNC));
        }
    }
    let dev = DevT { major: 8, minor: 0 };
    let geom = DiskGeom { size_bytes: 64 << 20, sector_size: 512 };
    if md.add_disk(NewDisk { dev, serial: *b"fuzz-new-disk\0\0\0", geom, scsi_id: 0, random: 0x1234_5678 }) {
        disks.0.push(MemDisk {
            info: DiskInfo { dev, serial: *b"fuzz-new-disk\0\0\0", geom },
            regions: vec![(0, Vec::new())],
        });
    }
    write_checked(md, disks);
}

fn slot(s: u32, dev: DevT) -> SlotInfo {
    SlotInfo { slot: s, dev, recovery_start: MAX_SECTOR, state: DevState(DevState::INSYNC) }
}

/// The arrays an IMSM container's volumes make, as md would run them;
/// every volume is opened.
pub fn imsm_arrays(im: &mut crate::imsm::Imsm) -> Vec<ArrayCtx> {
    let mut out = Vec::new();
    for inst in 0..im.num_volumes() as u32 {
        if im.open_new(inst).is_err() {
            continue;
        }
        let Some(v) = im.volume(inst as usize) else { continue };
        let map = v.map0();
        let n = u32::from(map.num_members());
        let mut slots = ArrayVec::new();
        for s in 0..n.min(MAX_SLOTS as u32) {
            let idx = iv::ord_to_idx(map.ord(s as usize)) as i32;
            if let Some(m) = im.members().iter().find(|m| m.index == idx) {
                slots.push(slot(s, m.dev));
            }
        }
        let level = i32::from(map.level());
        let layout = if level == 10 { 0x102 } else { 0 };
        let size = map.per_dev_array_size();
        out.push(ArrayCtx::new(inst, level, layout, n, size, slots));
    }
    out
}

/// The arrays a DDF container's VDs make, as md would run them; every VD
/// is opened.
pub fn ddf_arrays(ddf: &mut crate::ddf::Ddf) -> Vec<ArrayCtx> {
    let mut out = Vec::new();
    let vols: Vec<usize> = ddf.volumes().collect();
    for v in vols {
        let inst = v as u32;
        if ddf.open_new(inst).is_err() {
            continue;
        }
        let Some(c) = ddf.conf_of(inst) else { continue };
        let Some(first) = ddf.confs[c].records.first() else { continue };
        let prim = u32::from(first.prim_elmnt_count());
        let sec = u32::from(first.sec_elmnt_count()).max(1);
        let n = prim.saturating_mul(sec).min(MAX_SLOTS as u32);
        let level = match first.prl() {
            0 => 0,
            1 if sec > 1 => 10,
            1 => 1,
            6 => 6,
            _ => 5,
        };
        let size = first.blocks();
        let mut slots = ArrayVec::new();
        for s in 0..n {
            let Some((k, p)) = ddf.slot_position(c, s) else { continue };
            let Some(refnum) = ddf.confs[c].records.get(k).and_then(|r| r.phys_refnum(p)) else { continue };
            if let Some(m) = ddf.members.iter().find(|m| m.data().refnum() == refnum) {
                slots.push(slot(s, m.dev));
            }
        }
        out.push(ArrayCtx::new(inst, level, if level == 10 { 0x102 } else { 0 }, n, size, slots));
    }
    out
}

/// The fixtures in `tests/fixtures` as disks: IMSM ones hold their last
/// 8 KiB; DDF ones the regions their `.rle` files record.
pub fn fixture(dir: &str, name: &str) -> MemDisks {
    let meta = std::fs::read_to_string(format!("{dir}/{name}.meta")).expect("meta");
    let get = |k: &str| meta.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(str::to_string);
    let size: u64 = get("disk_size").unwrap().parse().unwrap();
    let n: usize = get("ndisks").unwrap().parse().unwrap();
    let mut out = MemDisks::default();
    for i in 0..n {
        let mut serial = [0u8; 16];
        if let Some(s) = get(&format!("disk{i}_serial")) {
            serial[..s.len().min(16)].copy_from_slice(&s.as_bytes()[..s.len().min(16)]);
        }
        let regions = if name.starts_with("ddf") {
            read_rle(&std::fs::read(format!("{dir}/{name}.disk{i}.rle")).expect("rle"))
        } else {
            let tail = std::fs::read(format!("{dir}/{name}.disk{i}.bin")).expect("tail");
            vec![(size - tail.len() as u64, tail)]
        };
        let info = DiskInfo {
            dev: DevT { major: 7, minor: i as u32 },
            serial,
            geom: DiskGeom { size_bytes: size, sector_size: 512 },
        };
        out.0.push(MemDisk { info, regions });
    }
    out
}

/// Decode a `.rle` fixture (format in tests/vm/tools/ddf_regions.py).
pub fn read_rle(f: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let u32le = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    assert_eq!(&f[..4], b"DDFR");
    let n = u32le(f, 4) as usize;
    let mut p = 8;
    let mut out = Vec::new();
    for _ in 0..n {
        let off = u64::from_le_bytes(f[p..p + 8].try_into().unwrap());
        let len = u32le(f, p + 8) as usize;
        let enc = u32le(f, p + 12) as usize;
        p += 16;
        let mut data = Vec::with_capacity(len);
        let e = &f[p..p + enc];
        let mut q = 0;
        while q < e.len() {
            let (tag, cnt) = (e[q], u32le(e, q + 1) as usize);
            q += 5;
            if tag == 0 {
                data.extend_from_slice(&e[q..q + cnt]);
                q += cnt;
            } else {
                data.extend(std::iter::repeat_n(e[q], cnt));
                q += 1;
            }
        }
        assert_eq!(data.len(), len, "fixture region length");
        out.push((off, data));
        p += enc;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disks_survive_encoding() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        for (f, n) in [("imsm", "two-volumes"), ("ddf", "ddf-r1-r5-clean")] {
            let d = fixture(&format!("{dir}/{f}"), n);
            let e = d.encode();
            assert!(e.len() < 64 * 1024, "{n}: {} bytes", e.len());
            let back = MemDisks::decode(&e);
            assert_eq!(back.0.len(), d.0.len());
            for (a, b) in d.0.iter().zip(&back.0) {
                assert_eq!(a.regions, b.regions, "{n}");
                assert_eq!(a.info.serial, b.info.serial);
                assert_eq!(a.info.geom, b.info.geom);
            }
        }
    }
}
