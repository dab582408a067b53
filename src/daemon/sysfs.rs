//! Reading md's sysfs tree: the container's member disks and a member
//! array's geometry and devices. Uses fixed buffers and `RawDir`, so it
//! does not allocate.

use crate::md::{parse_attr_num, parse_u64};
use crate::metadata::DevT;
use crate::sys::{read_file, trim};
use arrayvec::ArrayVec;
use core::fmt::Write;
use core::mem::MaybeUninit;
use heapless::String;
use rustix::fs::{Mode, OFlags, RawDir};
use rustix::io::Errno;

/// A sysfs path buffer.
pub type Path = String<160>;

/// Format a path.
pub fn path(args: core::fmt::Arguments<'_>) -> Path {
    let mut p = Path::new();
    let _ = p.write_fmt(args);
    p
}

/// Read a sysfs file as trimmed text into `buf`.
pub fn read_text<'b>(p: &str, buf: &'b mut [u8]) -> Result<&'b [u8], Errno> {
    read_file(p, buf).map(trim)
}

/// Read a sysfs file as an unsigned number (during a reshape, `new (old)`:
/// the new value).
pub fn read_num(p: &str) -> Option<u64> {
    let mut buf = [0u8; 64];
    read_text(p, &mut buf).ok().and_then(parse_attr_num)
}

/// Parse `major:minor`.
pub fn parse_devt(text: &[u8]) -> Option<DevT> {
    let colon = text.iter().position(|&c| c == b':')?;
    Some(DevT { major: parse_u64(&text[..colon])? as u32, minor: parse_u64(trim(&text[colon + 1..]))? as u32 })
}

/// One `dev-*` entry of an md device.
#[derive(Clone, Debug)]
pub struct MdDev {
    /// Kernel name of the component (`loop0`).
    pub kname: String<32>,
    pub dev: Option<DevT>,
    /// `slot`, `None` for spares/none.
    pub slot: Option<u32>,
}

/// Most `dev-*` entries we read for one md device.
pub const MAX_MDDEVS: usize = 64;

/// List the `dev-*` entries of md device `devnm`.
pub fn md_devs(devnm: &str) -> Result<ArrayVec<MdDev, MAX_MDDEVS>, Errno> {
    let dir = path(format_args!("/sys/block/{devnm}/md"));
    let fd = rustix::fs::open(dir.as_str(), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let mut space = [MaybeUninit::<u8>::uninit(); 4096];
    let mut it = RawDir::new(&fd, &mut space);
    let mut out = ArrayVec::new();
    while let Some(ent) = it.next() {
        let ent = ent?;
        let name = ent.file_name().to_bytes();
        let Some(k) = name.strip_prefix(b"dev-") else {
            continue;
        };
        let Ok(k) = core::str::from_utf8(k) else {
            continue;
        };
        let mut kname = String::new();
        if kname.push_str(k).is_err() {
            continue;
        }
        let mut buf = [0u8; 64];
        let dev = read_text(path(format_args!("{dir}/dev-{k}/block/dev")).as_str(), &mut buf).ok().and_then(parse_devt);
        let slot = read_num(path(format_args!("{dir}/dev-{k}/slot")).as_str()).map(|s| s as u32);
        if out.try_push(MdDev { kname, dev, slot }).is_err() {
            break;
        }
    }
    Ok(out)
}

/// The SCSI address of a disk (`/sys/dev/block/M:m/device/scsi_device/`
/// holds one directory named `host:channel:target:lun`), packed as IMSM
/// records it; `None` for a disk that is not a SCSI device.
pub fn disk_scsi_id(dev: DevT) -> Option<u32> {
    let dir = path(format_args!("/sys/dev/block/{}:{}/device/scsi_device", dev.major, dev.minor));
    let fd =
        rustix::fs::open(dir.as_str(), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let mut space = [MaybeUninit::<u8>::uninit(); 1024];
    let mut it = RawDir::new(&fd, &mut space);
    while let Some(Ok(ent)) = it.next() {
        if let Some(id) = scsi_id_of(ent.file_name().to_bytes()) {
            return Some(id);
        }
    }
    None
}

/// `host:channel:target:lun` packed one byte each, high to low (a part
/// wider than its byte spills into the next, as mdadm packs it).
pub fn scsi_id_of(name: &[u8]) -> Option<u32> {
    let mut parts = name.split(|&c| c == b':');
    let mut id = 0u32;
    for shift in [24u32, 16, 8, 0] {
        let v = u32::try_from(parse_u64(parts.next()?)?).ok()?;
        id |= v.wrapping_shl(shift);
    }
    parts.next().is_none().then_some(id)
}

/// What `manage_new` needs of a member array.
#[derive(Clone, Debug)]
pub struct ArrayGeom {
    pub level: i32,
    pub layout: u32,
    pub raid_disks: u32,
    /// Sectors.
    pub component_size: u64,
    pub safe_mode_delay_ms: Option<u64>,
}

/// Parse a `level` word (`raid1` → 1); `None` for non-RAID levels.
pub fn parse_level(text: &[u8]) -> Option<i32> {
    let n = text.strip_prefix(b"raid")?;
    parse_u64(n).map(|v| v as i32)
}

/// Read the geometry of member array `devnm`.
pub fn array_geom(devnm: &str) -> Option<ArrayGeom> {
    let mut buf = [0u8; 64];
    let level = parse_level(read_text(path(format_args!("/sys/block/{devnm}/md/level")).as_str(), &mut buf).ok()?)?;
    let raid_disks = read_num(path(format_args!("/sys/block/{devnm}/md/raid_disks")).as_str())? as u32;
    let component_size = read_num(path(format_args!("/sys/block/{devnm}/md/component_size")).as_str())? * 2;
    let layout = read_num(path(format_args!("/sys/block/{devnm}/md/layout")).as_str()).unwrap_or(0) as u32;
    let smd = read_text(path(format_args!("/sys/block/{devnm}/md/safe_mode_delay")).as_str(), &mut buf)
        .ok()
        .and_then(crate::md::parse_safe_mode_delay);
    Some(ArrayGeom { level, layout, raid_disks, component_size, safe_mode_delay_ms: smd })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devt_and_level() {
        assert_eq!(parse_devt(b"7:12\n"), Some(DevT { major: 7, minor: 12 }));
        assert_eq!(parse_devt(b"7"), None);
        assert_eq!(parse_level(b"raid10"), Some(10));
        assert_eq!(parse_level(b"linear"), None);
        assert_eq!(parse_level(b""), None);
    }

    #[test]
    fn scsi_address() {
        assert_eq!(scsi_id_of(b"0:0:2:0"), Some(0x0000_0200));
        assert_eq!(scsi_id_of(b"3:1:2:4"), Some(0x0301_0204));
        assert_eq!(scsi_id_of(b"."), None);
        assert_eq!(scsi_id_of(b"0:0:2"), None);
        assert_eq!(scsi_id_of(b"0:0:2:0:1"), None);
        assert_eq!(scsi_id_of(b"0:x:2:0"), None);
        assert_eq!(scsi_id_of(b"0:0:0:99999999999"), None);
    }
}
