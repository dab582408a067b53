//! 4K-native disks: IMSM on disks with 4096-byte logical sectors stores its
//! sector counts (disk sizes, volume sizes, map offsets and strips, the
//! migration checkpoint, bad-block ranges) in 4096-byte units. The model
//! always works in 512-byte units: a copy read from such a disk is scaled
//! up by 8 once it is verified, and the image written is scaled back down
//! just before its checksum is computed. The scaled fields are those mdadm
//! scales; `num_data_stripes` is a stripe count and stays as it is, and the
//! checkpoint `curr_migr_unit` is scaled along with the sector fields, as
//! mdadm does, so both daemons leave the same bytes on disk.

use super::view::{dev, disk, header, map, Dev};
use super::CopyError;
use crate::wire::{le32, set_le32};

/// 512-byte sectors per 4096-byte sector.
pub const DIV: u64 = 8;
/// The logical sector sizes IMSM supports.
pub const SIZES: [u32; 2] = [512, 4096];

/// Largest start sector a bad-block entry can hold (48 bits).
const BBM_START_MAX: u64 = (1 << 48) - 1;

fn get64(b: &[u8], lo: usize, hi: usize) -> u64 {
    u64::from(le32(b, lo)) | u64::from(le32(b, hi)) << 32
}

fn set64(b: &mut [u8], lo: usize, hi: usize, v: u64) {
    set_le32(b, lo, v as u32);
    set_le32(b, hi, (v >> 32) as u32);
}

/// Scale a 64-bit lo/hi pair by 8: up (`None` when it does not fit) or down.
fn scale64(b: &mut [u8], lo: usize, hi: usize, up: bool) -> Option<()> {
    let v = get64(b, lo, hi);
    let n = if up { v.checked_mul(DIV)? } else { v / DIV };
    set64(b, lo, hi, n);
    Some(())
}

/// Scale the sector fields of one map at `off`.
fn scale_map(b: &mut [u8], off: usize, up: bool) -> Result<(), CopyError> {
    let m = &mut b[off..off + map::LEN];
    scale64(m, map::PBA_OF_LBA0_LO, map::PBA_OF_LBA0_HI, up).ok_or(CopyError::Malformed("4K: map offset overflows"))?;
    scale64(m, map::BLOCKS_PER_MEMBER_LO, map::BLOCKS_PER_MEMBER_HI, up)
        .ok_or(CopyError::Malformed("4K: blocks per member overflows"))?;
    let bps = u64::from(u16::from_le_bytes([m[map::BLOCKS_PER_STRIP], m[map::BLOCKS_PER_STRIP + 1]]));
    let bps = if up { bps * DIV } else { bps / DIV };
    let bps = u16::try_from(bps).map_err(|_| CopyError::Malformed("4K: strip size overflows"))?;
    m[map::BLOCKS_PER_STRIP..map::BLOCKS_PER_STRIP + 2].copy_from_slice(&bps.to_le_bytes());
    Ok(())
}

/// Scale every sector field of a complete MPB (`validate_tables` passed).
fn scale(mpb: &mut [u8], up: bool) -> Result<(), CopyError> {
    let nd = usize::from(mpb[header::NUM_DISKS]);
    for i in 0..nd {
        let o = header::LEN + disk::LEN * i;
        scale64(&mut mpb[o..o + disk::LEN], disk::TOTAL_BLOCKS_LO, disk::TOTAL_BLOCKS_HI, up)
            .ok_or(CopyError::Malformed("4K: disk size overflows"))?;
    }
    let mut off = header::LEN + disk::LEN * nd;
    for _ in 0..mpb[header::NUM_RAID_DEVS] {
        let rest = &mut mpb[off..];
        let len = Dev::<&[u8]>::check_len(rest).ok_or(CopyError::Malformed("volume past mpb_size"))?;
        let (m0, m1) = {
            let d = Dev::new_unchecked(&rest[..]);
            (d.map_offset(0), d.migrating().then(|| d.map_offset(1)))
        };
        scale64(rest, dev::SIZE_LOW, dev::SIZE_HIGH, up).ok_or(CopyError::Malformed("4K: volume size overflows"))?;
        scale64(rest, dev::CURR_MIGR_UNIT_LO, dev::CURR_MIGR_UNIT_HI, up)
            .ok_or(CopyError::Malformed("4K: checkpoint overflows"))?;
        scale_map(rest, m0, up)?;
        if let Some(m1) = m1 {
            scale_map(rest, m1, up)?;
        }
        off += len;
    }
    let bbm = le32(mpb, header::BBM_LOG_SIZE) as usize;
    if bbm >= 8 {
        let start = mpb.len() - bbm;
        let count = le32(mpb, start + 4) as usize;
        for i in 0..count {
            let e = &mut mpb[start + 8 + 8 * i..start + 16 + 8 * i];
            let first = u64::from(u16::from_le_bytes([e[2], e[3]])) | u64::from(le32(e, 4)) << 16;
            let sectors = u64::from(e[0]) + 1;
            let (first, sectors) = if up {
                let f = first.checked_mul(DIV).filter(|&f| f <= BBM_START_MAX);
                let f = f.ok_or(CopyError::Malformed("4K: bad-block start overflows"))?;
                // An entry covers at most 256 512-byte sectors (32 4K ones).
                if sectors * DIV > 256 {
                    return Err(CopyError::Malformed("4K: bad-block entry longer than 32 sectors"));
                }
                (f, sectors * DIV)
            } else {
                // Cover every 512-byte sector of the range: round the start
                // down and the end up (a range md reports on a 4K disk is
                // 4K-aligned; then this is exact). At most 32 4K sectors.
                let f = first / DIV;
                let end = (first + sectors).div_ceil(DIV);
                (f, (end - f).clamp(1, 256 / DIV))
            };
            e[0] = (sectors - 1) as u8;
            e[2..4].copy_from_slice(&(first as u16).to_le_bytes());
            set_le32(e, 4, (first >> 16) as u32);
        }
    }
    Ok(())
}

/// Convert a verified copy read from a 4K disk to 512-byte units, in place.
/// A value that does not fit once scaled rejects the copy.
pub fn from_4k(mpb: &mut [u8]) -> Result<(), CopyError> {
    scale(mpb, true)
}

/// Convert a rendered image (512-byte units) to 4K units, in place; the
/// caller computes the checksum afterwards.
pub fn to_4k(img: &mut [u8]) {
    // Scaling down cannot overflow; the only failure is a malformed table,
    // which a rendered image never has: check first so that an image is
    // never left half scaled.
    if super::load::validate_tables(img).is_ok() {
        let _ = scale(img, false);
    }
}

/// Convert one disk record (a spare's own MPB) to 4K units.
pub fn record_to_4k(rec: &mut [u8]) {
    let _ = scale64(rec, disk::TOTAL_BLOCKS_LO, disk::TOTAL_BLOCKS_HI, false);
}

#[cfg(test)]
#[path = "tests/sector.rs"]
mod tests;
