//! Start-up: resolve the container, fork, load the metadata, create the pid
//! file and socket, tell the launcher we are ready, lock memory, and run.

use super::control::{pid_alive, read_pid, Control};
use super::sysfs::{md_devs, path, read_text};
use super::{Daemon, Disk};
use crate::metadata::{DiskGeom, MAX_DISKS};
use crate::sys::{self, signal};
use crate::{error, info, warn};
use arrayvec::ArrayVec;
use heapless::String;
use rustix::fd::OwnedFd;

/// Exit codes, as the C mdmon uses them.
pub mod exit {
    pub const OK: i32 = 0;
    pub const BAD_DEVICE: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const CANNOT_MONITOR: i32 = 3;
}

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub container: Option<std::string::String>,
    pub all: bool,
    pub takeover: bool,
    pub foreground: bool,
    pub offroot: bool,
}

/// The kernel name (`md127`) of the md device a user named.
///
/// Accepts `md127`, `/dev/md127`, `/dev/md/NAME`, `md/NAME` and the
/// systemd instance form `initrd/md127`.
pub fn resolve_container(name: &str) -> Result<String<32>, std::string::String> {
    let name = name.strip_prefix("initrd/").unwrap_or(name);
    let mut p = path(format_args!("{name}"));
    if !name.starts_with("/dev/") {
        p = path(format_args!("/dev/{name}"));
    }
    // A bare kernel name needs no device node.
    let bare = name.strip_prefix("/dev/").unwrap_or(name);
    let from_sysfs = |devnm: &str| -> Option<String<32>> {
        let mut buf = [0u8; 64];
        read_text(path(format_args!("/sys/block/{devnm}/md/array_state")).as_str(), &mut buf).ok()?;
        let mut s = String::new();
        s.push_str(devnm).ok()?;
        Some(s)
    };
    if !bare.contains('/') {
        if let Some(s) = from_sysfs(bare) {
            return Ok(s);
        }
    }
    let st = rustix::fs::stat(p.as_str()).map_err(|e| format!("error opening {p}: {e}"))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::BlockDevice {
        return Err(format!("{p} does not appear to be an md device"));
    }
    let (maj, min) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
    let link = rustix::fs::readlink(path(format_args!("/sys/dev/block/{maj}:{min}")).as_str(), Vec::new())
        .map_err(|_| format!("{p} does not appear to be an md device"))?;
    let link = link.to_string_lossy();
    let devnm = link.rsplit('/').next().unwrap_or("");
    from_sysfs(devnm).ok_or_else(|| format!("{p} does not appear to be an md device"))
}

pub use crate::metadata::Format;

/// Check that `devnm` is a container with metadata we serve; returns its
/// format, or a message if not.
fn check_container(devnm: &str) -> Result<Format, std::string::String> {
    let mut buf = [0u8; 64];
    let mv = read_text(path(format_args!("/sys/block/{devnm}/md/metadata_version")).as_str(), &mut buf)
        .map_err(|_| format!("failed to load sysfs info for {devnm}"))?;
    let Some(fmt) = mv.strip_prefix(b"external:") else {
        return Err(format!("{devnm} does not use external metadata - cannot monitor"));
    };
    if fmt.starts_with(b"/") || fmt.starts_with(b"-") {
        return Err(format!("{devnm} is not a container - cannot monitor"));
    }
    let fmt = std::string::String::from_utf8_lossy(fmt).into_owned();
    let mut buf = [0u8; 64];
    let level = read_text(path(format_args!("/sys/block/{devnm}/md/level")).as_str(), &mut buf).unwrap_or(b"");
    if !level.is_empty() {
        return Err(format!("{devnm} is not a container - cannot monitor"));
    }
    Format::from_name(&fmt).ok_or_else(|| format!("{devnm} uses unsupported metadata: {fmt}"))
}

/// The serial IMSM records for a disk: read from sysfs, normalised by
/// the format's rule ([`crate::metadata::load::normalise_serial`]).
pub fn disk_serial(kname: &str, major: u32, minor: u32) -> Option<crate::metadata::Serial> {
    let mut raw: ArrayVec<u8, 64> = ArrayVec::new();
    if std::env::var("IMSM_DEVNAME_AS_SERIAL").map(|v| v.trim() == "1").unwrap_or(false) {
        let s = format!("/dev/{kname}");
        let b = s.as_bytes();
        let mut out = [0u8; 16];
        let n = b.len().min(15);
        out[..n].copy_from_slice(&b[..n]);
        return Some(out);
    }
    let mut buf = [0u8; 256];
    if let Ok(t) = read_text(path(format_args!("/sys/dev/block/{major}:{minor}/device/serial")).as_str(), &mut buf) {
        let _ = raw.try_extend_from_slice(&t[..t.len().min(64)]);
    } else if let Ok(t) =
        sys::read_file(path(format_args!("/sys/dev/block/{major}:{minor}/device/vpd_pg80")).as_str(), &mut buf)
    {
        // The unit serial number VPD page: 4-byte header, then the serial.
        if t.len() > 4 {
            let len = usize::from(t[3]).min(t.len() - 4);
            let _ = raw.try_extend_from_slice(&t[4..4 + len.min(64)]);
        }
    }
    if raw.is_empty() {
        return None;
    }
    Some(crate::metadata::load::normalise_serial(&raw))
}

/// Open the container's member disks. IMSM names disks by serial number, so
/// a disk without one is left out there; DDF does not need it.
fn open_disks(devnm: &str, format: Format) -> Result<ArrayVec<Disk, MAX_DISKS>, std::string::String> {
    let devs = md_devs(devnm).map_err(|e| format!("failed to load sysfs info for {devnm}: {e}"))?;
    let mut disks = ArrayVec::new();
    for d in devs {
        let Some(dev) = d.dev else { continue };
        let fd = match sys::open_block(dev.major, dev.minor, &d.kname, true) {
            Ok(fd) => fd,
            Err(e) => {
                warn!("{devnm}: cannot open {}: {e}", d.kname);
                continue;
            }
        };
        let size_bytes = sys::block_size_bytes(&fd).map_err(|e| format!("{}: size: {e}", d.kname))?;
        let sector_size = sys::logical_sector_size(&fd).unwrap_or(512);
        let serial = match disk_serial(&d.kname, dev.major, dev.minor) {
            Some(s) => s,
            None if !format.needs_serial() => [0u8; 16],
            None => {
                warn!(
                    "{devnm}: failed to retrieve serial for {} (set IMSM_DEVNAME_AS_SERIAL=1 for disks without one)",
                    d.kname
                );
                continue;
            }
        };
        let disk = Disk { dev, kname: d.kname.clone(), fd, geom: DiskGeom { size_bytes, sector_size }, serial };
        if disks.try_push(disk).is_err() {
            return Err(format!("{devnm}: too many member disks"));
        }
    }
    Ok(disks)
}

/// Report readiness (or failure) to the launching parent.
fn notify_parent(pipe: &mut Option<OwnedFd>, code: i32) {
    if let Some(fd) = pipe.take() {
        let _ = rustix::io::write(&fd, &code.to_ne_bytes());
    }
}

/// Run mdmon for one container. Returns the exit code of this process.
pub fn run_container(devnm: &str, opts: &Options, run_dir: &'static str, version: &str) -> i32 {
    let mut pipe_w: Option<OwnedFd> = None;
    let mut forked = false;
    if !opts.foreground {
        let (r, w) = match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
            Ok(p) => p,
            Err(_) => {
                error!("failed to create pipe");
                return exit::BAD_DEVICE;
            }
        };
        match signal::fork() {
            Err(e) => {
                error!("failed to fork: {e}");
                return exit::BAD_DEVICE;
            }
            Ok(signal::Forked::Parent(pid)) => {
                drop(w);
                let mut b = [0u8; 4];
                return match rustix::io::read(&r, &mut b) {
                    Ok(4) => i32::from_ne_bytes(b),
                    _ => signal::wait_child(pid),
                };
            }
            Ok(signal::Forked::Child) => {
                drop(r);
                forked = true;
                pipe_w = Some(w);
                sys::log::use_kmsg();
            }
        }
    }
    let code = daemon_main(devnm, opts, run_dir, version, &mut pipe_w);
    notify_parent(&mut pipe_w, code);
    if forked {
        // The daemon (and its helper thread) ends here: never back into
        // the caller, which for `--all` would fork the next container.
        std::process::exit(code);
    }
    code
}

fn daemon_main(devnm: &str, opts: &Options, run_dir: &'static str, version: &str, pipe_w: &mut Option<OwnedFd>) -> i32 {
    // systemd must not kill a storage daemon the root filesystem needs.
    if opts.offroot || in_initrd() {
        if let Err(e) = sys::mark_argv0_offroot() {
            warn!("{devnm}: cannot mark argv[0] with '@': {e}");
        }
    }
    let format = match check_container(devnm) {
        Ok(f) => f,
        Err(msg) => {
            error!("{msg}");
            return exit::CANNOT_MONITOR;
        }
    };
    let _ = rustix::fs::mkdir(run_dir, rustix::fs::Mode::from_bits_truncate(0o755));
    let mut control = Control::new(run_dir, devnm, version);
    // Another instance?
    let mut kept = super::takeover::Delays::new();
    if let Some(pid) = read_pid(control.pid_path.as_str()) {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        if pid != me && pid_alive(pid) && super::takeover::is_mdmon(pid) {
            if !opts.takeover && super::takeover::ping(control.sock_path.as_str(), std::time::Duration::from_secs(20)) {
                error!("{devnm} already managed (pid {pid})");
                return exit::CANNOT_MONITOR;
            }
            // --takeover, or an instance that no longer answers: replace it,
            // and only read the metadata once it is gone.
            let delays = super::takeover::read_delays(devnm);
            if !super::takeover::retire(devnm, pid) {
                error!("{devnm}: cannot take over from pid {pid}");
                return exit::CANNOT_MONITOR;
            }
            super::takeover::restore_delays(&delays);
            kept = delays;
        }
    }
    // Whatever was there is stale now (the old instance leaves its files).
    control.remove_files();
    let _ = rustix::process::chdir("/");
    let disks = match open_disks(devnm, format) {
        Ok(d) => d,
        Err(msg) => {
            error!("{msg}");
            return exit::CANNOT_MONITOR;
        }
    };
    let Some((md, disks)) = Daemon::load(devnm, format, disks) else {
        error!("Cannot load metadata for {devnm}");
        return exit::CANNOT_MONITOR;
    };
    if let Err(e) = control.create_pid_file() {
        error!("{devnm}: cannot create {}: {e}", control.pid_path);
        return exit::CANNOT_MONITOR;
    }
    if let Err(e) = control.create_socket() {
        error!("{devnm}: cannot create {}: {e}", control.sock_path);
        control.remove_files();
        return exit::CANNOT_MONITOR;
    }
    let mut daemon = match Daemon::new(devnm, md, disks, control, run_dir) {
        Ok(d) => d,
        Err(e) => {
            error!("{devnm}: start-up failed: {e}");
            return exit::CANNOT_MONITOR;
        }
    };
    daemon.kept_delays = kept;
    daemon.format = format;
    if let Err(e) = signal::lock_memory() {
        warn!("{devnm}: mlockall failed: {e}");
    }
    // Ready: the metadata is loaded and the socket listens (connections
    // queue until the loop, entered next, accepts them).
    notify_parent(pipe_w, exit::OK);
    if opts.foreground {
        let mut msg = heapless::String::<48>::new();
        let pid = rustix::process::getpid().as_raw_nonzero().get();
        let _ = core::fmt::write(&mut msg, format_args!("READY=1\nMAINPID={pid}"));
        sys::notify::notify(msg.as_str());
    }
    if !opts.foreground {
        let _ = rustix::process::setsid();
        redirect_stdio();
    }
    info!("{devnm}: started (generation {})", daemon.md.generation());
    daemon.run()
}

/// Whether we run from an initrd: systemd's marker file (dracut, and
/// mkosi-style images), or a root on tmpfs/ramfs (initramfs-tools, which
/// writes no marker; Debian's C mdmon tests the same).
pub fn in_initrd() -> bool {
    rustix::fs::access("/etc/initrd-release", rustix::fs::Access::EXISTS).is_ok() || sys::on_ram_fs("/")
}

/// Point stdin, stdout and stderr at /dev/null.
fn redirect_stdio() {
    if let Ok(null) = rustix::fs::open("/dev/null", rustix::fs::OFlags::RDWR, rustix::fs::Mode::empty()) {
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
    }
}

/// `--all`: one daemon per active external container in /proc/mdstat.
pub fn run_all(opts: &Options, run_dir: &'static str, version: &str) -> i32 {
    let mut buf = vec![0u8; 64 * 1024];
    let text = match sys::read_file("/proc/mdstat", &mut buf) {
        Ok(t) => t,
        Err(e) => {
            error!("cannot read /proc/mdstat: {e}");
            return exit::CANNOT_MONITOR;
        }
    };
    let stat = crate::mdstat::parse(text);
    let mut code = 0;
    let mut o = opts.clone();
    o.foreground = false;
    for e in stat.entries.iter().filter(|e| e.is_container()) {
        code |= run_container(&e.devnm, &o, run_dir, version);
    }
    code
}
