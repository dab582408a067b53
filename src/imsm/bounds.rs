//! Bounds on the sizes a volume record gives (data stripes, strip size,
//! first sector, blocks per member): checked when a container is loaded and
//! when an update brings a new record or size, so the arithmetic elsewhere
//! cannot overflow and no volume reaches past the end of a member disk.

use super::view::{ord_to_idx, Dev, Map};
use super::*;

/// No volume ends beyond this sector (2^48 sectors, 128 PiB), present disks
/// or not: sizes derived from it (times members, domains) stay far from
/// overflowing.
pub const MAX_END: u64 = 1 << 48;

/// Why map `m` is impossible on disks of `disk_sectors` sectors each.
pub(super) fn check_map(m: &Map<&[u8]>, disk_sectors: impl IntoIterator<Item = u64>) -> Result<(), &'static str> {
    let mul = if matches!(m.level(), 1 | 10) { 2 } else { 1 };
    let per_dev = m
        .num_data_stripes()
        .checked_mul(u64::from(m.blocks_per_strip()))
        .and_then(|x| x.checked_mul(mul))
        .ok_or("data stripes times strip size overflows")?;
    let end = m.pba_of_lba0().checked_add(m.blocks_per_member()).ok_or("volume end overflows")?;
    if end > MAX_END {
        return Err("volume end beyond 2^48 sectors");
    }
    if per_dev > m.blocks_per_member() {
        return Err("more data than blocks per member");
    }
    if disk_sectors.into_iter().any(|s| end > s) {
        return Err("volume extends past the end of a member disk");
    }
    Ok(())
}

impl Imsm {
    /// Sizes (sectors) of the present disks map `m` uses.
    fn member_sectors<'a>(&'a self, m: &'a Map<&[u8]>) -> impl Iterator<Item = u64> + 'a {
        (0..usize::from(m.num_members()).min(MAX_SLOTS)).filter_map(move |s| {
            let idx = ord_to_idx(m.ord(s)) as i32;
            self.members.iter().find(|x| x.index == idx).map(|x| x.geom.size_bytes / 512)
        })
    }

    /// Why volume record `d` (both its maps) cannot be on the present disks.
    pub(super) fn check_dev(&self, d: &Dev<&[u8]>) -> Result<(), &'static str> {
        let m0 = d.map0();
        check_map(&m0, self.member_sectors(&m0))?;
        if let Some(m1) = d.map1() {
            check_map(&m1, self.member_sectors(&m1))?;
        }
        Ok(())
    }

    /// Every volume of a loaded container within bounds.
    pub(super) fn check_volumes(&self) -> Result<(), &'static str> {
        self.devs.iter().try_for_each(|d| self.check_dev(&d.view()))
    }
}
