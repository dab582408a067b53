//! Logging without allocation: to stderr, and in the background also to
//! `/dev/kmsg` (mdadm starts mdmon with stderr on /dev/null, so problems
//! found while starting must reach the kernel log too).

use core::fmt::Write;
use core::sync::atomic::{AtomicI32, Ordering};
use rustix::fd::{BorrowedFd, RawFd};

/// Where log lines go: -1 for stderr, else an fd open on /dev/kmsg.
static KMSG: AtomicI32 = AtomicI32::new(-1);

/// Send further log lines to the kernel log.
pub fn use_kmsg() {
    if let Ok(fd) = rustix::fs::open(
        "/dev/kmsg",
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        use rustix::fd::IntoRawFd;
        KMSG.store(fd.into_raw_fd(), Ordering::Relaxed);
    }
}

/// Log one line (level: 3 error, 4 warning, 6 info).
pub fn log(level: u8, args: core::fmt::Arguments<'_>) {
    let mut line = heapless::String::<512>::new();
    let kmsg: RawFd = KMSG.load(Ordering::Relaxed);
    if kmsg >= 0 {
        let _ = write!(line, "<{level}>mdmon[{}]: ", rustix::process::getpid().as_raw_nonzero());
    } else {
        let _ = line.push_str("mdmon: ");
    }
    let _ = line.write_fmt(args);
    if line.len() == line.capacity() {
        line.pop();
    }
    let _ = line.push('\n');
    // SAFETY: the fd is either stderr (always open in this process) or the
    // /dev/kmsg fd stored once by `use_kmsg` and never closed.
    let fd = unsafe { BorrowedFd::borrow_raw(if kmsg >= 0 { kmsg } else { 2 }) };
    let _ = rustix::io::write(fd, line.as_bytes());
}

/// Log an error.
#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::sys::log::log(3, format_args!($($t)*)) };
}

/// Log a warning.
#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::sys::log::log(4, format_args!($($t)*)) };
}

/// Log information.
#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::sys::log::log(6, format_args!($($t)*)) };
}
