//! Loading: reading every member's copy of the MPB, verifying it, and
//! choosing the copy to trust.

use super::view::{self, checksum, header, ord_to_idx, Dev};
use super::*;
use crate::wire::{le32, set_le32};

/// Parse and verify one copy of the MPB from the end of a disk.
pub(super) fn read_copy(src: &mut dyn DiskSource, i: usize, out: &mut Vec<u8>) -> Result<(), CopyError> {
    let info = src.info(i);
    let ss = info.geom.sector_size;
    if !sector::SIZES.contains(&ss) {
        return Err(CopyError::SectorSize(ss));
    }
    let ss = ss as u64;
    let d = info.geom.size_bytes;
    if d < 2 * ss {
        return Err(CopyError::BadSize(0));
    }
    let mut anchor = vec![0u8; ss as usize];
    src.read(i, d - 2 * ss, &mut anchor).map_err(CopyError::Io)?;
    if &anchor[..24] != view::SIGNATURE {
        return Err(CopyError::NoSignature);
    }
    let size = le32(&anchor, header::MPB_SIZE);
    let min = header::LEN as u32;
    if size < min || size as usize > MPB_MAX {
        return Err(CopyError::BadSize(size));
    }
    let k = (u64::from(size)).div_ceil(ss);
    if (k + 1) * ss > d {
        return Err(CopyError::BadSize(size));
    }
    out.clear();
    out.resize((k * ss) as usize, 0);
    out[..ss as usize].copy_from_slice(&anchor);
    if k > 1 {
        src.read(i, d - (k + 1) * ss, &mut out[ss as usize..]).map_err(CopyError::Io)?;
    }
    let computed = checksum(out, size as usize);
    let stored = le32(out, header::CHECK_SUM);
    if computed != stored {
        return Err(CopyError::BadChecksum { stored, computed });
    }
    out.truncate(size as usize);
    validate_tables(out)?;
    clear_unused_hi(out);
    if ss == 4096 {
        sector::from_4k(out)?;
    }
    Ok(())
}

/// Only 2TB_DISK containers use the high halves of disk sizes: clear them
/// in the others (before any scaling, which may legitimately set them).
fn clear_unused_hi(mpb: &mut [u8]) {
    if le32(mpb, header::ATTRIBUTES) & 0x0400_0000 == 0 {
        for i in 0..usize::from(mpb[header::NUM_DISKS]) {
            let o = header::LEN + view::disk::LEN * i;
            set_le32(&mut mpb[o..o + view::disk::LEN], view::disk::TOTAL_BLOCKS_HI, 0);
        }
    }
}

/// Check that the disk table, volume records and bbm log fit in the MPB.
pub(super) fn validate_tables(mpb: &[u8]) -> Result<(), CopyError> {
    let num_disks = usize::from(mpb[header::NUM_DISKS]);
    let num_devs = usize::from(mpb[header::NUM_RAID_DEVS]);
    if num_disks > MAX_DISKS {
        return Err(CopyError::Malformed("more disks than supported"));
    }
    if num_devs > MAX_VOLUMES {
        return Err(CopyError::Malformed("more volumes than supported"));
    }
    let bbm = le32(mpb, header::BBM_LOG_SIZE) as usize;
    let mut off = header::LEN + view::disk::LEN * num_disks;
    for _ in 0..num_devs {
        let rest = mpb.get(off..).ok_or(CopyError::Malformed("disk table past mpb_size"))?;
        let len = Dev::<&[u8]>::check_len(rest).ok_or(CopyError::Malformed("volume past mpb_size"))?;
        let d = Dev::new_unchecked(rest);
        let n0 = usize::from(d.map0().num_members());
        let n1 = d.map1().map(|m| usize::from(m.num_members())).unwrap_or(0);
        if n0 == 0 || n0 > MAX_SLOTS || n1 > MAX_SLOTS {
            return Err(CopyError::Malformed("impossible member count"));
        }
        for s in 0..n0 {
            if ord_to_idx(d.map0().ord(s)) as usize >= num_disks {
                return Err(CopyError::Malformed("map refers to a disk not in the table"));
            }
        }
        off += len;
    }
    if off + bbm > mpb.len() {
        return Err(CopyError::Malformed("bbm log past mpb_size"));
    }
    if bbm != 0 {
        if bbm < 8 || bbm > BBM_MAX {
            return Err(CopyError::Malformed("bad bbm log size"));
        }
        let start = mpb.len() - bbm;
        if le32(mpb, start) != 0xABAD_B10C || 8 + 8 * le32(mpb, start + 4) as usize != bbm {
            return Err(CopyError::Malformed("bad bbm log"));
        }
    }
    Ok(())
}

pub(super) fn family(mpb: &[u8]) -> u32 {
    le32(mpb, header::FAMILY_NUM)
}
pub(super) fn generation(mpb: &[u8]) -> u32 {
    le32(mpb, header::GENERATION_NUM)
}
pub(super) fn num_devs(mpb: &[u8]) -> u8 {
    mpb[header::NUM_RAID_DEVS]
}
pub(super) fn disk_record(mpb: &[u8], idx: usize) -> &[u8] {
    let o = header::LEN + view::disk::LEN * idx;
    &mpb[o..o + view::disk::LEN]
}
/// Find `serial` in an MPB's disk table.
pub(super) fn find_serial(mpb: &[u8], serial: &Serial) -> Option<usize> {
    (0..usize::from(mpb[header::NUM_DISKS])).find(|&i| serial_eq(&disk_record(mpb, i)[view::disk::SERIAL], serial))
}
pub(super) fn serial_eq(a: &[u8], b: &[u8]) -> bool {
    crate::wire::cstr_field(&a[..16]) == crate::wire::cstr_field(&b[..16])
}
pub(super) fn status(rec: &[u8]) -> u32 {
    le32(rec, view::disk::STATUS)
}

pub(super) fn src_serial(src: &dyn DiskSource, i: usize) -> Serial {
    src.info(i).serial
}

impl Imsm {
    /// Load the container: read every member's copy, choose the newest
    /// generation of the family that describes volumes, and adopt the disks.
    /// `notes` receives what was rejected and why.
    pub fn load(src: &mut dyn DiskSource, notes: &mut Vec<LoadNote>) -> Result<Box<Imsm>, LoadError> {
        let n = src.count();
        if n > MAX_DISKS {
            return Err(LoadError::TooLarge);
        }
        let mut copies: Vec<Option<Vec<u8>>> = Vec::with_capacity(n);
        for i in 0..n {
            let mut buf = Vec::new();
            match read_copy(src, i, &mut buf) {
                Ok(()) => copies.push(Some(buf)),
                Err(why) => {
                    notes.push(LoadNote::Rejected { dev: src.info(i).dev, why });
                    copies.push(None);
                }
            }
        }
        // A copy is a candidate when its own disk is recorded in it and not
        // failed. Among candidates describing volumes, the newest generation
        // of the family with the most candidate disks wins.
        let own_ok = |i: usize, mpb: &[u8]| -> bool {
            let serial = src_serial(src, i);
            match find_serial(mpb, &serial) {
                Some(idx) => status(disk_record(mpb, idx)) & view::disk::FAILED == 0,
                None => false,
            }
        };
        let mut best: Option<usize> = None;
        for i in 0..n {
            let Some(mpb) = copies[i].as_deref() else {
                continue;
            };
            if num_devs(mpb) == 0 || !own_ok(i, mpb) {
                continue;
            }
            best = match best {
                None => Some(i),
                Some(b) => {
                    let bm = copies[b].as_deref().unwrap_or_default();
                    let votes =
                        |fam: u32| copies.iter().flatten().filter(|c| num_devs(c) > 0 && family(c) == fam).count();
                    let (vb, vi) = (votes(family(bm)), votes(family(mpb)));
                    if vi > vb || (vi == vb && family(mpb) == family(bm) && generation(mpb) > generation(bm)) {
                        Some(i)
                    } else {
                        Some(b)
                    }
                }
            };
        }
        let Some(champ) = best else {
            return Err(LoadError::NoUsableCopy);
        };
        let mpb = copies[champ].clone().unwrap_or_default();
        let mut im = Imsm::from_copy(&mpb).map_err(|_| LoadError::TooLarge)?;
        // Every member shares the sector size of the disk whose copy won.
        im.sector_size = src.info(champ).geom.sector_size;
        // Adopt the disks.
        for i in 0..n {
            let info = src.info(i);
            if info.geom.sector_size != im.sector_size {
                notes.push(LoadNote::SectorSize { dev: info.dev, size: info.geom.sector_size });
                continue;
            }
            let copy = copies[i].as_deref();
            if let Some(c) = copy {
                if num_devs(c) > 0 && family(c) != family(&mpb) {
                    notes.push(LoadNote::Foreign { dev: info.dev, family: family(c) });
                    continue;
                }
                if num_devs(c) > 0 && generation(c) < generation(&mpb) {
                    notes.push(LoadNote::Stale { dev: info.dev, gen: generation(c) });
                }
            }
            let current = copy.map(|c| family(c) == family(&mpb) && generation(c) == generation(&mpb)).unwrap_or(false);
            let mut m =
                Member { dev: info.dev, serial: info.serial, geom: info.geom, index: -2, record: [0; 48], current };
            if let Some(idx) = find_serial(&mpb, &info.serial) {
                m.record.copy_from_slice(disk_record(&mpb, idx));
                m.index = if status(&m.record) & view::disk::FAILED != 0 {
                    -2
                } else if status(&m.record) & (view::disk::SPARE | view::disk::JOURNAL) != 0 {
                    -1
                } else {
                    idx as i32
                };
            } else if let Some(c) = copy.filter(|c| num_devs(c) == 0) {
                // A spare with its own one-disk MPB.
                if let Some(own) = find_serial(c, &info.serial) {
                    m.record.copy_from_slice(disk_record(c, own));
                    m.index = -1;
                }
            }
            if m.index == -2 && find_serial(&mpb, &info.serial).is_none() {
                notes.push(LoadNote::Unknown { dev: info.dev });
                continue;
            }
            im.members.try_push(m).map_err(|_| LoadError::TooLarge)?;
        }
        im.check_volumes().map_err(LoadError::BadVolume)?;
        Ok(im)
    }

    /// Build the model from one verified MPB in 512-byte units, as stored
    /// on a 512-byte-sector disk (no disks adopted yet).
    pub fn from_mpb(mpb: &[u8]) -> Result<Imsm, CopyError> {
        Self::from_mpb_boxed(mpb).map(|b| *b)
    }

    /// As [`Imsm::from_mpb`], built in place on the heap: the model (tens of
    /// KiB) never sits on the stack, whose deepest point stays locked.
    pub fn from_mpb_boxed(mpb: &[u8]) -> Result<Box<Imsm>, CopyError> {
        validate_tables(mpb)?;
        let n = mpb.len().min(MPB_MAX);
        let mut m = vec![0u8; n];
        m.copy_from_slice(&mpb[..n]);
        clear_unused_hi(&mut m);
        Imsm::from_copy(&m)
    }

    /// Build the model from a copy as `read_copy` leaves it (verified,
    /// unused high halves cleared, in 512-byte units), in place on the heap.
    fn from_copy(mpb: &[u8]) -> Result<Box<Imsm>, CopyError> {
        validate_tables(mpb)?;
        let mut im = Box::new(Imsm {
            header: [0; header::LEN],
            table: ArrayVec::new(),
            devs: ArrayVec::new(),
            bbm: ArrayVec::new(),
            members: ArrayVec::new(),
            pending: 0,
            image: ArrayVec::new(),
            sector_size: 512,
        });
        im.header.copy_from_slice(&mpb[..header::LEN]);
        let nd = usize::from(mpb[header::NUM_DISKS]);
        for i in 0..nd {
            let mut r = [0u8; 48];
            r.copy_from_slice(disk_record(mpb, i));
            im.table.push(r);
        }
        let mut off = header::LEN + 48 * nd;
        for _ in 0..num_devs(mpb) {
            let len = Dev::<&[u8]>::check_len(&mpb[off..]).ok_or(CopyError::Malformed("volume"))?;
            let mut d = DevBuf { buf: [0; DEV_MAX] };
            d.buf[..len].copy_from_slice(&mpb[off..off + len]);
            im.devs.push(d);
            off += len;
        }
        let bbm = le32(mpb, header::BBM_LOG_SIZE) as usize;
        if bbm > 0 {
            im.bbm.try_extend_from_slice(&mpb[mpb.len() - bbm..]).map_err(|_| CopyError::Malformed("bbm"))?;
        }
        Ok(im)
    }
}
