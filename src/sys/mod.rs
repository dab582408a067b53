//! The thin shell over system calls: sysfs attributes, block devices,
//! logging, signals and process set-up. Everything here does I/O; the
//! decisions live in the sans-I/O modules.

pub mod aio;
pub mod cold;
pub mod log;
pub mod notify;
pub mod signal;
pub mod worker;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

/// An open sysfs attribute, read with `pread` at offset 0 (which also
/// re-arms its poll notification) and written with plain `write`.
pub struct Attr {
    fd: OwnedFd,
}

/// Size of the buffer sysfs attributes are read into (values are short).
pub const ATTR_BUF: usize = 256;

impl Attr {
    /// Open `path` read-write, falling back to read-only.
    pub fn open(path: &str) -> Result<Attr, Errno> {
        let fd = rustix::fs::open(path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).or_else(|e| {
            if e == Errno::ACCESS {
                rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            } else {
                Err(e)
            }
        })?;
        let a = Attr { fd };
        // Prime the read so the kernel sets up its buffer now, not in the loop.
        let mut buf = [0u8; ATTR_BUF];
        let _ = a.read(&mut buf);
        Ok(a)
    }

    /// Read the whole value into `buf`; returns the bytes read.
    pub fn read<'b>(&self, buf: &'b mut [u8; ATTR_BUF]) -> Result<&'b [u8], Errno> {
        let n = rustix::io::pread(&self.fd, &mut buf[..], 0)?;
        Ok(&buf[..n])
    }

    /// Read the value into a caller's buffer of any size (lists such as
    /// `bad_blocks` fill up to a page); returns the bytes read.
    pub fn read_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], Errno> {
        let n = rustix::io::pread(&self.fd, &mut *buf, 0)?;
        Ok(&buf[..n])
    }

    /// Write a value.
    pub fn write(&self, value: &str) -> Result<(), Errno> {
        rustix::io::write(&self.fd, value.as_bytes()).map(|_| ())
    }

    /// The descriptor, for polling.
    pub fn fd(&self) -> rustix::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Whether the attribute file was deleted (its device or array went away).
    pub fn gone(&self) -> bool {
        rustix::fs::fstat(&self.fd).map(|s| s.st_nlink == 0).unwrap_or(true)
    }
}

/// Read a whole small file (sysfs, proc) into `buf`, returning its text.
pub fn read_file<'b>(path: &str, buf: &'b mut [u8]) -> Result<&'b [u8], Errno> {
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut n = 0;
    while n < buf.len() {
        let r = rustix::io::read(&fd, &mut buf[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    Ok(&buf[..n])
}

/// Write a value to a file once (sysfs).
pub fn write_file(path: &str, value: &str) -> Result<(), Errno> {
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    rustix::io::write(&fd, value.as_bytes()).map(|_| ())
}

/// Strip one trailing newline.
pub fn trim(text: &[u8]) -> &[u8] {
    text.strip_suffix(b"\n").unwrap_or(text)
}

/// A heap buffer with an aligned window (4096 unless asked otherwise), for
/// O_DIRECT I/O. Allocated once; no `unsafe` needed: the window is found
/// by address.
pub struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes aligned to 4096.
    pub fn new(len: usize) -> AlignedBuf {
        AlignedBuf::aligned(len, 4096)
    }

    /// A zeroed buffer of `len` bytes aligned to `align` (a power of two;
    /// 512 for a buffer of whole sectors written among others).
    pub fn aligned(len: usize, align: usize) -> AlignedBuf {
        let align = align.max(1);
        let raw = vec![0u8; len.saturating_add(align - 1)];
        let addr = raw.as_ptr() as usize;
        let start = (align - addr % align) % align;
        AlignedBuf { raw, start, len }
    }

    /// A copy of `src` aligned to `align` (as [`AlignedBuf::aligned`]).
    pub fn copy_of(src: &[u8], align: usize) -> AlignedBuf {
        let mut b = AlignedBuf::aligned(src.len(), align);
        b.as_mut_slice().copy_from_slice(src);
        b
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }

    /// The alignment the window keeps (its address's lowest set bit, at
    /// most 4096).
    fn align(&self) -> usize {
        let addr = self.as_slice().as_ptr() as usize;
        1 << addr.trailing_zeros().min(12)
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsMut<[u8]> for AlignedBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

/// A copy as aligned as the original.
impl Clone for AlignedBuf {
    fn clone(&self) -> AlignedBuf {
        AlignedBuf::copy_of(self.as_slice(), self.align())
    }
}

impl PartialEq for AlignedBuf {
    fn eq(&self, other: &AlignedBuf) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for AlignedBuf {}

impl core::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.as_slice().fmt(f)
    }
}

/// Open a block device by number for O_DIRECT I/O. Tries `/dev/<kname>`,
/// then a temporary node in `/dev` (as mdadm does) when udev made no node.
pub fn open_block(major: u32, minor: u32, kname: &str, write: bool) -> Result<OwnedFd, Errno> {
    let mode = if write { OFlags::RDWR } else { OFlags::RDONLY };
    let flags = mode | OFlags::DIRECT | OFlags::CLOEXEC;
    let mut path = heapless::String::<96>::new();
    let _ = core::fmt::write(&mut path, format_args!("/dev/{kname}"));
    if let Ok(fd) = rustix::fs::open(path.as_str(), flags, Mode::empty()) {
        if let Ok(st) = rustix::fs::fstat(&fd) {
            let rdev = st.st_rdev;
            if rustix::fs::major(rdev) == major && rustix::fs::minor(rdev) == minor {
                return Ok(fd);
            }
        }
    }
    path.clear();
    let pid = rustix::process::getpid().as_raw_nonzero();
    let _ = core::fmt::write(&mut path, format_args!("/dev/.tmp.mdmon.{pid}:{major}:{minor}"));
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path.as_str(),
        rustix::fs::FileType::BlockDevice,
        Mode::RUSR | Mode::WUSR,
        rustix::fs::makedev(major, minor),
    )?;
    let r = rustix::fs::open(path.as_str(), flags, Mode::empty());
    let _ = rustix::fs::unlink(path.as_str());
    r
}

/// Size in bytes of an open block device.
pub fn block_size_bytes(fd: &OwnedFd) -> Result<u64, Errno> {
    rustix::fs::seek(fd, rustix::fs::SeekFrom::End(0))
}

/// Logical sector size of an open block device.
pub fn logical_sector_size(fd: &OwnedFd) -> Result<u32, Errno> {
    rustix::fs::ioctl_blksszget(fd)
}

/// Read exactly `buf.len()` bytes at `offset`.
pub fn pread_exact(fd: &OwnedFd, buf: &mut [u8], offset: u64) -> Result<(), Errno> {
    let mut done = 0;
    while done < buf.len() {
        let n = rustix::io::pread(fd, &mut buf[done..], offset + done as u64)?;
        if n == 0 {
            return Err(Errno::IO);
        }
        done += n;
    }
    Ok(())
}

/// Write all of `buf` at `offset` through a borrowed descriptor.
pub fn pwrite_all_fd(fd: rustix::fd::BorrowedFd<'_>, buf: &[u8], offset: u64) -> Result<(), Errno> {
    let mut done = 0;
    while done < buf.len() {
        let n = rustix::io::pwrite(fd, &buf[done..], offset + done as u64)?;
        if n == 0 {
            return Err(Errno::IO);
        }
        done += n;
    }
    Ok(())
}

/// Overwrite the first byte of our argv[0] with `@` (what `--offroot` and the
/// initrd ask for: systemd leaves such processes alone at shutdown). The
/// bytes live at the start of the argument area whose address the kernel
/// reports in /proc/self/stat (`arg_start`); they are written through
/// /proc/self/mem, so no pointer to them is needed.
pub fn mark_argv0_offroot() -> Result<(), Errno> {
    let mut buf = [0u8; 1024];
    let stat = read_file("/proc/self/stat", &mut buf)?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let after = stat.iter().rposition(|&c| c == b')').ok_or(Errno::INVAL)?;
    // Field 3 is the first after ')'; arg_start is field 48.
    let arg_start = stat[after + 1..]
        .split(|&c| c == b' ')
        .filter(|f| !f.is_empty())
        .nth(48 - 3)
        .and_then(crate::md::parse_u64)
        .ok_or(Errno::INVAL)?;
    let mem = rustix::fs::open("/proc/self/mem", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
    let mut first = [0u8; 1];
    rustix::io::pread(&mem, &mut first, arg_start)?;
    if first[0] != b'@' {
        rustix::io::pwrite(&mem, b"@", arg_start)?;
    }
    Ok(())
}

/// Open /dev/null on whichever of fds 0-2 is closed, so that no disk or
/// sysfs file opened later becomes stdout or stderr (and receives log
/// lines). `main` calls this before opening anything else. `open` returns
/// the lowest free descriptor, so the loop fills the gaps in order.
pub fn ensure_std_fds() {
    use rustix::fd::{AsRawFd, IntoRawFd};
    for _ in 0..3 {
        match rustix::fs::open("/dev/null", rustix::fs::OFlags::RDWR, rustix::fs::Mode::empty()) {
            Ok(fd) if fd.as_raw_fd() <= 2 => {
                // Kept open for the life of the process.
                let _ = fd.into_raw_fd();
            }
            _ => break,
        }
    }
}

/// statfs magic numbers of the filesystems an initramfs root lives on.
pub const TMPFS_MAGIC: u64 = 0x0102_1994;
pub const RAMFS_MAGIC: u64 = 0x8584_58f6;

/// Whether a statfs magic number is tmpfs or ramfs.
pub fn is_ram_fs_magic(f_type: u64) -> bool {
    f_type == TMPFS_MAGIC || f_type == RAMFS_MAGIC
}

/// Whether `dir` lives on tmpfs or ramfs, as the root of an initramfs does
/// (initramfs-tools images have no /etc/initrd-release to tell).
pub fn on_ram_fs(dir: &str) -> bool {
    match rustix::fs::statfs(dir) {
        // f_type is a signed word on some targets; the magic numbers are
        // positive and fit either way.
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        Ok(st) => is_ram_fs_magic(st.f_type as u64),
        Err(_) => false,
    }
}
