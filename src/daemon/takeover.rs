//! Replacing a running mdmon for the same container (`--takeover`, or an
//! old instance that no longer answers). Unlike upstream, the new instance
//! waits for the old one to be gone before it reads the metadata, so the
//! old one's last writes (marking arrays clean) are not lost and two
//! instances never write metadata at once. Every wait is bounded and logged.

use super::sysfs::path;
use crate::proto::{END_MAGIC, START_MAGIC};
use crate::{info, warn};
use arrayvec::ArrayVec;
use heapless::String;
use rustix::event::{PollFd, PollFlags};
use rustix::fd::OwnedFd;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketType};
use rustix::process::{Pid, Signal};
use std::time::{Duration, Instant};

/// How long the old instance gets to exit after SIGTERM before SIGKILL.
const TERM_WAIT: Duration = Duration::from_secs(15);

/// Whether process `pid` is an mdmon (its argv[0] names mdmon, or `@dmon`
/// once marked for systemd), as upstream checks before signalling it.
pub fn is_mdmon(pid: i32) -> bool {
    let mut buf = [0u8; 256];
    let Ok(cmd) = crate::sys::read_file(path(format_args!("/proc/{pid}/cmdline")).as_str(), &mut buf) else {
        return false;
    };
    let argv0 = crate::wire::cstr_field(cmd);
    argv0.windows(5).any(|w| w == b"mdmon" || w == b"@dmon")
}

fn wait_readable(fd: &OwnedFd, timeout: Duration) -> bool {
    let ts = rustix::time::Timespec { tv_sec: timeout.as_secs() as i64, tv_nsec: timeout.subsec_nanos() as i64 };
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    matches!(rustix::event::poll(&mut fds, Some(&ts)), Ok(n) if n > 0)
}

/// Ping the instance serving `sock_path`; true if it answers in time.
pub fn ping(sock_path: &str, timeout: Duration) -> bool {
    let Ok(fd) = rustix::net::socket(AddressFamily::UNIX, SocketType::STREAM, None) else { return false };
    let Ok(addr) = SocketAddrUnix::new(sock_path) else { return false };
    if rustix::net::connect(&fd, &addr).is_err() {
        return false;
    }
    let mut msg = [0u8; 12];
    msg[..4].copy_from_slice(&START_MAGIC.to_ne_bytes());
    msg[8..].copy_from_slice(&END_MAGIC.to_ne_bytes());
    if rustix::io::write(&fd, &msg) != Ok(12) {
        return false;
    }
    let deadline = Instant::now() + timeout;
    let mut got = [0u8; 8];
    let mut n = 0;
    while n < 8 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !wait_readable(&fd, left) {
            return false;
        }
        match rustix::io::read(&fd, &mut got[n..]) {
            Ok(0) | Err(_) => return false,
            Ok(r) => n += r,
        }
    }
    u32::from_ne_bytes([got[0], got[1], got[2], got[3]]) == START_MAGIC
}

/// Remembered `safe_mode_delay` of the container's member arrays.
pub type Delays = ArrayVec<(String<32>, String<16>), 8>;

/// Read the safe-mode delays of the member arrays of `devnm`.
pub fn read_delays(devnm: &str) -> Delays {
    let mut out = Delays::new();
    let mut buf = vec![0u8; 16 * 1024];
    let Ok(text) = crate::sys::read_file("/proc/mdstat", &mut buf) else { return out };
    for e in crate::mdstat::parse(text).entries.iter().filter(|e| e.member_of(devnm).is_some()) {
        let mut v = [0u8; 32];
        if let Ok(t) =
            crate::sys::read_file(path(format_args!("/sys/block/{}/md/safe_mode_delay", e.devnm)).as_str(), &mut v)
        {
            let t = crate::sys::trim(t);
            let mut val = String::new();
            if core::str::from_utf8(t).ok().map(|s| val.push_str(s).is_ok()) == Some(true) {
                let _ = out.try_push((e.devnm.clone(), val));
            }
        }
    }
    out
}

/// Put back the safe-mode delays the old instance shortened on its way out.
pub fn restore_delays(delays: &Delays) {
    for (devnm, val) in delays {
        let _ = crate::sys::write_file(path(format_args!("/sys/block/{devnm}/md/safe_mode_delay")).as_str(), val);
    }
}

/// Ask the old instance `pid` to leave and wait until it has: SIGTERM (it
/// marks its arrays clean and exits), then SIGKILL if it takes too long.
/// Returns false if it could not be made to exit.
pub fn retire(devnm: &str, pid: i32) -> bool {
    let Some(p) = Pid::from_raw(pid) else { return false };
    let pidfd = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok();
    let gone = |t: Duration| -> bool {
        match &pidfd {
            Some(fd) => wait_readable(fd, t),
            None => {
                std::thread::sleep(t);
                rustix::process::test_kill_process(p).is_err()
            }
        }
    };
    info!("{devnm}: taking over from pid {pid}: asking it to exit");
    if rustix::process::kill_process(p, Signal::TERM).is_err() {
        return true; // already gone
    }
    let start = Instant::now();
    while start.elapsed() < TERM_WAIT {
        if gone(Duration::from_secs(1)) {
            info!("{devnm}: pid {pid} exited after {} ms", start.elapsed().as_millis());
            return true;
        }
        // It exits once its arrays are clean; meanwhile it still serves them.
        if start.elapsed().as_secs() % 5 == 4 {
            info!("{devnm}: still waiting for pid {pid} to exit");
        }
    }
    warn!("{devnm}: pid {pid} did not exit within {} s; killing it", TERM_WAIT.as_secs());
    let _ = rustix::process::kill_process(p, Signal::KILL);
    if gone(Duration::from_secs(5)) {
        return true;
    }
    warn!("{devnm}: pid {pid} is still running");
    false
}
