//! Signals as a file descriptor, and the fork into the background.
//!
//! rustix has no `signalfd`, `sigprocmask` or `fork` for applications, so
//! these few calls go through `libc`.

use rustix::fd::{FromRawFd, OwnedFd};
use rustix::io::Errno;

/// The signals the loop reacts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    /// SIGTERM or SIGINT: exit once every array is clean.
    Terminate,
    /// SIGUSR1: a wake-up (the takeover protocol sends it); nothing to do.
    Wake,
    Other,
}

fn last_errno() -> Errno {
    Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
}

fn sigset(sigs: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it fully
    // before any other use, and sigaddset only sets bits in it.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

const HANDLED: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1];

/// Block the handled signals (they are read from a signalfd) and ignore
/// SIGPIPE and SIGHUP. `main` calls this before any thread starts, so every
/// thread inherits the mask and no signal is delivered to the helper.
pub fn block_signals() -> Result<(), Errno> {
    let set = sigset(&HANDLED);
    // SAFETY: plain libc calls with a valid, initialised sigset; SIG_IGN
    // installs no Rust code as a handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        if libc::sigprocmask(libc::SIG_BLOCK, &set, core::ptr::null_mut()) != 0 {
            return Err(last_errno());
        }
    }
    Ok(())
}

/// Block the handled signals and return a non-blocking signalfd for them.
/// SIGPIPE and SIGHUP are ignored.
pub fn signal_fd() -> Result<OwnedFd, Errno> {
    block_signals()?;
    let set = sigset(&HANDLED);
    // SAFETY: plain libc call with a valid, initialised sigset.
    unsafe {
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(last_errno());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Read one pending signal from the signalfd, if any.
pub fn read_signal(fd: &OwnedFd) -> Option<Sig> {
    let mut buf = [0u8; 128]; // sizeof(struct signalfd_siginfo)
    match rustix::io::read(fd, &mut buf) {
        Ok(128) => {
            let signo = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as i32;
            Some(match signo {
                libc::SIGTERM | libc::SIGINT => Sig::Terminate,
                libc::SIGUSR1 => Sig::Wake,
                _ => Sig::Other,
            })
        }
        _ => None,
    }
}

/// Which side of a fork we are on.
pub enum Forked {
    Parent(i32),
    Child,
}

/// Fork the process. Must be called while the process has one thread.
pub fn fork() -> Result<Forked, Errno> {
    // SAFETY: mdmon calls this before creating any thread, so the child is a
    // complete copy of a single-threaded process.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(last_errno()),
        0 => Ok(Forked::Child),
        p => Ok(Forked::Parent(p)),
    }
}

/// Wait for child `pid` and return its exit status (or 128+signal).
pub fn wait_child(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: waitpid writes only into `status`.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    if r < 0 {
        return 1;
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

/// Lock all current and future memory but the binary's cold pages (see
/// [`super::cold`]); the bytes left unlocked (errors are reported, not
/// fatal).
pub fn lock_memory() -> Result<usize, Errno> {
    let cold = super::cold::find();
    rustix::mm::mlockall(rustix::mm::MlockAllFlags::CURRENT | rustix::mm::MlockAllFlags::FUTURE)?;
    Ok(super::cold::unlock(&cold))
}
