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

/// The longest line written (the kernel takes up to 1 KiB per kmsg write).
pub const LINE_MAX: usize = 512;

/// Syslog priorities the macros use.
pub const ERR: u8 = 3;
pub const WARNING: u8 = 4;
pub const INFO: u8 = 6;

/// Format one log line into `line`: for the kernel log (`kmsg_pid` given)
/// with the syslog priority prefix `<N>` the kernel turns into the record's
/// level (journald shows it as such; the facility becomes user), the name
/// and pid; for stderr with `mdmon: ` only. Always ends with a newline,
/// cutting the message if it is too long.
pub fn format_line(
    line: &mut heapless::String<LINE_MAX>,
    kmsg_pid: Option<i32>,
    level: u8,
    args: core::fmt::Arguments<'_>,
) {
    line.clear();
    match kmsg_pid {
        Some(pid) => {
            let _ = write!(line, "<{}>mdmon[{pid}]: ", level.min(7));
        }
        None => {
            let _ = line.push_str("mdmon: ");
        }
    }
    let _ = Cut(line).write_fmt(args);
    if line.len() == line.capacity() {
        line.pop();
    }
    let _ = line.push('\n');
}

/// A writer that keeps what fits in the line and drops the rest (heapless
/// refuses a piece that does not fit whole, which lost long messages).
struct Cut<'a>(&'a mut heapless::String<LINE_MAX>);

impl Write for Cut<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.0.capacity() - self.0.len();
        let mut end = s.len().min(room);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let _ = self.0.push_str(&s[..end]);
        Ok(())
    }
}

/// Log one line (level: 3 error, 4 warning, 6 info).
pub fn log(level: u8, args: core::fmt::Arguments<'_>) {
    let mut line = heapless::String::<LINE_MAX>::new();
    let kmsg: RawFd = KMSG.load(Ordering::Relaxed);
    let pid = (kmsg >= 0).then(|| rustix::process::getpid().as_raw_nonzero().get());
    format_line(&mut line, pid, level, args);
    // SAFETY: the fd is either stderr (always open in this process) or the
    // /dev/kmsg fd stored once by `use_kmsg` and never closed.
    let fd = unsafe { BorrowedFd::borrow_raw(if kmsg >= 0 { kmsg } else { 2 }) };
    let _ = rustix::io::write(fd, line.as_bytes());
}

/// Log an error.
#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::sys::log::log($crate::sys::log::ERR, format_args!($($t)*)) };
}

/// Log a warning.
#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::sys::log::log($crate::sys::log::WARNING, format_args!($($t)*)) };
}

/// Log information.
#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::sys::log::log($crate::sys::log::INFO, format_args!($($t)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pid: Option<i32>, level: u8, msg: &str) -> heapless::String<LINE_MAX> {
        let mut l = heapless::String::new();
        format_line(&mut l, pid, level, format_args!("{msg}"));
        l
    }

    #[test]
    fn kmsg_lines_carry_the_priority() {
        assert_eq!(line(Some(42), ERR, "md127: boom").as_str(), "<3>mdmon[42]: md127: boom\n");
        assert_eq!(line(Some(42), WARNING, "w").as_str(), "<4>mdmon[42]: w\n");
        assert_eq!(line(Some(7), INFO, "started").as_str(), "<6>mdmon[7]: started\n");
        // Never a facility by accident: levels above debug are clamped.
        assert_eq!(line(Some(1), 30, "x").as_str(), "<7>mdmon[1]: x\n");
    }

    #[test]
    fn stderr_lines_have_no_priority() {
        assert_eq!(line(None, ERR, "md127: boom").as_str(), "mdmon: md127: boom\n");
    }

    #[test]
    fn long_lines_are_cut_and_still_end_with_a_newline() {
        let long = "x".repeat(2000);
        let l = line(Some(42), ERR, &long);
        assert_eq!(l.len(), LINE_MAX);
        assert!(l.starts_with("<3>mdmon[42]: xxx"));
        assert!(l.ends_with("x\n"));
        // Cut on a character boundary.
        let l = line(None, ERR, &"é".repeat(600));
        assert!(l.len() <= LINE_MAX && l.ends_with("é\n"), "{l}");
    }

    #[test]
    fn the_macros_use_the_syslog_levels() {
        // The macro bodies name these constants; their values are syslog's.
        assert_eq!((ERR, WARNING, INFO), (3, 4, 6));
    }
}
