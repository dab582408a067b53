//! The daemon: start-up, and the single poll loop that does the work of
//! upstream's monitor and manager threads.

mod activate;
pub mod array;
pub mod control;
mod gather;
mod manager;
mod resume;
pub mod start;
pub mod sysfs;
pub mod takeover;

use crate::metadata::{DevT, DiskGeom, DiskInfo, DiskSource, Format, Metadata, Region, Regions, MAX_DISKS};
use crate::sys::{self, AlignedBuf};
use crate::{error, info, warn};
use crate::{md, mdstat};
use array::Array;
use arrayvec::ArrayVec;
use gather::Split;
use heapless::String;
use rustix::event::{PollFd, PollFlags};
use rustix::fd::OwnedFd;
use rustix::io::Errno;

pub use crate::manager::MAX_ARRAYS;
/// Size of the buffer /proc/mdstat is read into.
const MDSTAT_BUF: usize = 16 * 1024;
/// Distinct metadata images written in one batch.
const WRITE_BUFS: usize = 2;

/// A member disk of the container, opened for O_DIRECT I/O.
pub struct Disk {
    pub dev: DevT,
    pub kname: String<32>,
    pub fd: OwnedFd,
    pub geom: DiskGeom,
    pub serial: crate::metadata::Serial,
}

/// Read access to the disks for the metadata loader.
struct Disks<'a>(&'a [Disk]);

impl DiskSource for Disks<'_> {
    fn count(&self) -> usize {
        self.0.len()
    }
    fn info(&self, i: usize) -> DiskInfo {
        let d = &self.0[i];
        DiskInfo { dev: d.dev, serial: d.serial, geom: d.geom }
    }
    fn read(&mut self, i: usize, offset: u64, buf: &mut [u8]) -> Result<(), i32> {
        // O_DIRECT wants an aligned buffer: bounce through one.
        let mut a = AlignedBuf::new(buf.len().div_ceil(4096) * 4096);
        sys::pread_exact(&self.0[i].fd, &mut a.as_mut_slice()[..buf.len()], offset).map_err(|e| e.raw_os_error())?;
        buf.copy_from_slice(&a.as_slice()[..buf.len()]);
        Ok(())
    }
}

/// The running daemon's state.
pub struct Daemon {
    pub devnm: String<32>,
    /// The container's metadata format (the shell needs it only to know
    /// whether disks must have serial numbers).
    pub format: Format,
    pub md: Box<dyn Metadata>,
    pub disks: ArrayVec<Disk, MAX_DISKS>,
    /// Each boxed when it is found, as in `resuming`: an array is 3.3 KiB
    /// and most containers have one or two of the eight (the daemon also
    /// stays small enough to move on the stack, whose deepest point stays
    /// locked in memory).
    pub arrays: ArrayVec<Box<Array>, MAX_ARRAYS>,
    mdstat_fd: OwnedFd,
    mdstat_buf: Box<[u8; MDSTAT_BUF]>,
    /// Metadata images being written (distinct images per batch); for a
    /// format that renders split, each disk's own part of its image.
    wbufs: ArrayVec<AlignedBuf, WRITE_BUFS>,
    /// For a format that renders split (DDF): 0xFF to write the unused
    /// parts from, and where each image's bytes come from (one layout per
    /// render buffer; what every disk shares is written from the model).
    /// Empty otherwise.
    split: Option<Box<Split>>,
    aio: sys::aio::Aio,
    sigfd: OwnedFd,
    pub control: control::Control,
    sigterm: bool,
    /// The helper thread for sysfs writes that can sleep.
    worker: sys::worker::Worker,
    next_token: u32,
    /// The manager core (its deadlines, the spare order).
    core: crate::manager::core::Manager,
    /// New arrays whose rebuilding members the helper thread is putting
    /// back at their checkpoints; monitored once that is done.
    resuming: ArrayVec<Box<resume::Resuming>, MAX_ARRAYS>,
    /// Safe-mode delays restored after a takeover, kept at discovery.
    pub kept_delays: takeover::Delays,
    /// Re-read /proc/mdstat on the next pass.
    rescan: bool,
    /// An array was added since the last monitor pass: it may already wait
    /// in write-pending (its notification came before we opened it), so it
    /// gets a pass before the loop sleeps.
    new_arrays: bool,
    pub run_dir: &'static str,
    /// Working space for members' bad-block lists.
    pub(crate) bb: array::BbScratch,
    /// Disks whose metadata write failed while another disk took it: the
    /// manager fails them in md (the kernel's rule for native metadata).
    meta_failed: ArrayVec<DevT, MAX_DISKS>,
}

/// Milliseconds on the monotonic clock (the manager core's time).
fn now_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64).saturating_mul(1000).saturating_add(t.tv_nsec as u64 / 1_000_000)
}

/// The bytes of `r` in a render buffer.
fn region_bytes<'a>(b: &'a AlignedBuf, r: &Region) -> &'a [u8] {
    &b.as_slice()[r.start..r.start + r.len]
}

/// The planner's I/O: render buffers, disks and AIO of the daemon.
struct WriteShell<'a> {
    devnm: &'a str,
    md: &'a dyn Metadata,
    disks: &'a [Disk],
    wbufs: &'a mut ArrayVec<AlignedBuf, WRITE_BUFS>,
    split: Option<&'a mut Split>,
    aio: &'a mut sys::aio::Aio,
}

impl crate::manager::plan::WriteIo for WriteShell<'_> {
    fn target(&self, i: usize) -> Option<usize> {
        self.md.disk_dev(i).and_then(|dev| self.disks.iter().position(|d| d.dev == dev))
    }
    fn render(&mut self, i: usize, disk: usize, buf: usize) -> Regions {
        let d = &self.disks[disk];
        let own = self.wbufs[buf].as_mut_slice();
        let regions = match self.split.as_deref_mut() {
            Some(sp) => self.md.render_split(i, d.geom, own, &mut sp.layouts[buf]),
            None => self.md.render(i, d.geom, own),
        };
        if regions.is_empty() {
            error!("{}: metadata for {} does not fit the write buffer", self.devnm, d.kname);
        }
        regions
    }
    fn same(&self, a: usize, b: usize, regions: &Regions) -> bool {
        match self.split.as_deref() {
            // Split images are the same when their layouts and own bytes are.
            Some(sp) => sp.layouts[a] == sp.layouts[b] && self.wbufs[a].as_slice() == self.wbufs[b].as_slice(),
            None => regions.iter().all(|r| region_bytes(&self.wbufs[a], r) == region_bytes(&self.wbufs[b], r)),
        }
    }
    fn write(&mut self, planned: &[crate::manager::plan::PlannedWrite], results: &mut [Result<(), i32>]) {
        let mut res = [Ok(()); MAX_DISKS];
        let n = planned.len().min(MAX_DISKS);
        // The shared parts straight from the model: borrowed for the whole
        // submission, which waits for every write (`Aio::write_all`).
        let shared: gather::SharedParts<'_> =
            (0..crate::metadata::MAX_SHARED_PARTS).map_while(|k| self.md.shared_part(k)).collect();
        let split = self.split.as_deref();
        gather::submit(self.aio, self.disks, self.wbufs, split, &shared, &planned[..n], &mut res[..n]);
        for ((w, r), out) in planned.iter().zip(res.iter()).zip(results.iter_mut()) {
            *out = r.map_err(|e| {
                error!("{}: metadata write to {} failed: {e}", self.devnm, self.disks[w.disk].kname);
                e.raw_os_error()
            });
        }
    }
}

impl Daemon {
    /// Load the container's metadata from its member disks.
    #[inline(never)] // as `new`: the loaders' temporaries stay out of the caller's frame
    pub fn load(
        devnm: &str,
        format: Format,
        disks: ArrayVec<Disk, MAX_DISKS>,
    ) -> Option<(Box<dyn Metadata>, ArrayVec<Disk, MAX_DISKS>)> {
        let name = |dev: DevT| disks.iter().find(|d| d.dev == dev).map(|d| d.kname.as_str()).unwrap_or("?");
        let mut note = |args: core::fmt::Arguments<'_>| warn!("{devnm}: {args}");
        let r = crate::metadata::load::load(format, &mut Disks(&disks), &name, &mut note);
        match r {
            Ok(md) => Some((md, disks)),
            Err(e) => {
                error!("{devnm}: cannot load metadata: {e}");
                None
            }
        }
    }

    /// Assemble the daemon once metadata is loaded and the socket exists.
    #[inline(never)] // its temporaries stay out of the caller's frame (see `arrays`)
    pub fn new(
        devnm: &str,
        md: Box<dyn Metadata>,
        disks: ArrayVec<Disk, MAX_DISKS>,
        mut control: control::Control,
        run_dir: &'static str,
    ) -> Result<Daemon, Errno> {
        control.make_decoders(md.max_update_len());
        let mdstat_fd = rustix::fs::open(
            "/proc/mdstat",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        let mut name = String::new();
        let _ = name.push_str(devnm);
        let wlen = md.own_len().div_ceil(4096) * 4096;
        let split = (md.shared_len() > 0).then(|| Box::new(Split::new()));
        Ok(Daemon {
            devnm: name,
            format: Format::Imsm,
            md,
            disks,
            arrays: ArrayVec::new(),
            mdstat_fd,
            mdstat_buf: Box::new([0; MDSTAT_BUF]),
            wbufs: (0..WRITE_BUFS).map(|_| AlignedBuf::new(wlen)).collect(),
            split,
            aio: sys::aio::Aio::new()?,
            sigfd: sys::signal::signal_fd()?,
            control,
            sigterm: false,
            worker: sys::worker::Worker::start()?,
            next_token: 0,
            core: Default::default(),
            resuming: ArrayVec::new(),
            kept_delays: takeover::Delays::new(),
            rescan: true,
            new_arrays: false,
            run_dir,
            bb: array::BbScratch::new(),
            meta_failed: ArrayVec::new(),
        })
    }

    /// Write pending metadata to every member that must receive it, as
    /// [`crate::manager::plan::write_all`] plans it (all disks together,
    /// identical images sharing a buffer, multi-write formats in phases).
    ///
    /// Returns `None` when nothing was pending, else whether at least one
    /// disk received every write (the loader takes the newest copy, so the
    /// change then survives a restart).
    pub fn sync_metadata(&mut self) -> Option<bool> {
        if !self.md.updates_pending() {
            return None;
        }
        let n = self.md.begin_write();
        if self.split.is_some() {
            self.md.seal_shared();
        }
        let mut io = WriteShell {
            devnm: &self.devnm,
            md: self.md.as_ref(),
            disks: &self.disks,
            wbufs: &mut self.wbufs,
            split: self.split.as_deref_mut(),
            aio: &mut self.aio,
        };
        let out = crate::manager::plan::write_all(n, WRITE_BUFS, &mut io);
        for &(i, ok) in &out.written {
            self.md.written(i, ok);
        }
        self.md.end_write();
        for &d in out.to_fail() {
            let dev = self.disks[d].dev;
            if !self.meta_failed.contains(&dev) {
                let _ = self.meta_failed.try_push(dev);
            }
        }
        Some(out.any_ok)
    }

    /// Run the monitor over every array once. Metadata reaches the disks
    /// before the kernel is told anything.
    pub fn monitor_pass(&mut self) {
        let mut i = 0;
        while i < self.arrays.len() {
            let act = self.arrays[i].pass(self.md.as_mut(), &mut self.bb);
            let written = self.sync_metadata();
            self.arrays[i].apply(&act, written != Some(false));
            let a = &mut self.arrays[i];
            if a.members.iter().any(|m| !m.live()) {
                self.core.lost_member(&mut a.failed_at);
            }
            if a.activation.recovering() {
                crate::manager::core::hold_recover(&mut a.mon.ctx, false);
            }
            if a.mon.curr_state != md::ArrayState::Active {
                a.quiet_ticks = 0;
            }
            if crate::manager::decide::release(&act, self.sigterm, a.activation.pending()) {
                let a = self.arrays.remove(i);
                if act.deactivate {
                    info!("{}: {} stopped", self.devnm, a.devnm);
                }
                continue;
            }
            i += 1;
        }
    }

    /// Read /proc/mdstat and start monitoring new member arrays.
    pub fn manage(&mut self) {
        let mut n = 0;
        let buf = &mut self.mdstat_buf[..];
        let _ = rustix::fs::seek(&self.mdstat_fd, rustix::fs::SeekFrom::Start(0));
        while n < buf.len() {
            match rustix::io::read(&self.mdstat_fd, &mut buf[n..]) {
                Ok(0) => break,
                Ok(r) => n += r,
                Err(Errno::INTR) => continue,
                Err(_) => break,
            }
        }
        if self.sigterm {
            return;
        }
        let stat = mdstat::parse(&buf[..n]);
        // A monitored array whose level md changed (mdadm's --grow takeover):
        // RAID0 and linear need no monitoring; another RAID level is opened
        // afresh below, as upstream replaces its active array.
        let mut i = 0;
        while i < self.arrays.len() {
            let a = &self.arrays[i];
            let now = stat.entries.iter().find(|e| e.devnm == a.devnm).map(|e| e.level.as_str()).unwrap_or("");
            let change = crate::manager::decide::level_change(now, a.mon.ctx.level);
            if change == crate::manager::decide::LevelChange::Keep {
                i += 1;
                continue;
            }
            let mut a = self.arrays.remove(i);
            if change == crate::manager::decide::LevelChange::Reopen {
                info!("{}: {} changed level to {now}; monitoring it afresh", self.devnm, a.devnm);
            } else {
                // Nothing will resync it: record it clean, as for a stop
                // (upstream leaves whatever state it last wrote).
                self.md.set_array_state(&mut a.mon.ctx, crate::metadata::Consistency::Clean);
                self.sync_metadata();
                info!("{}: {} is now {now}; no longer monitored", self.devnm, a.devnm);
            }
        }
        for e in stat.entries.iter() {
            let Some(sub) = e.member_of(&self.devnm) else {
                continue;
            };
            if self.arrays.iter().chain(self.resuming.iter().map(|r| &r.array)).any(|a| a.devnm == e.devnm) {
                continue;
            }
            if !e.active || e.level.is_empty() || e.level.starts_with("raid0") || e.level.starts_with("linear") {
                continue;
            }
            let Some(inst) = crate::md::parse_u64(sub.as_bytes()) else {
                warn!("{}: {}: unexpected subarray '{}'", self.devnm, e.devnm, sub);
                continue;
            };
            if self.md.open_new(inst as u32).is_err() {
                warn!("{}: {}: no volume {} in the metadata", self.devnm, e.devnm, inst);
                continue;
            }
            let kept = self.kept_delays.iter().position(|(d, _)| d.as_str() == e.devnm.as_str());
            if let Some(k) = kept {
                self.kept_delays.remove(k);
            }
            match Array::open(&e.devnm, inst as u32, kept.is_some()).map(Box::new) {
                Ok(a) => {
                    let Some(mut a) = self.start_resume(a) else { continue };
                    info!("{}: monitoring {} (volume {})", self.devnm, a.devnm, inst);
                    a.prime_bad_blocks(self.md.as_mut(), None, &mut self.bb);
                    self.new_arrays = true;
                    if self.arrays.try_push(a).is_err() {
                        error!("{}: too many arrays; {} not monitored", self.devnm, e.devnm);
                    }
                }
                Err(array::OpenArrayError::NotMonitored) => {}
                Err(err) => warn!("{}: failed to monitor {}: {:?}", self.devnm, e.devnm, err),
            }
        }
    }

    /// Whether the container is gone or nobody holds it exclusively (so no
    /// member is about to be started): time to exit when no arrays are left.
    fn container_released(&self) -> bool {
        let mut p = sysfs::Path::new();
        let _ = core::fmt::write(&mut p, format_args!("/dev/{}", self.devnm));
        match rustix::fs::open(
            p.as_str(),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::EXCL | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) {
            Ok(_) => true,
            Err(Errno::BUSY) => false,
            Err(_) => true,
        }
    }

    /// The manager's work between monitor passes.
    fn manager_duties(&mut self) {
        self.collect_done();
        self.finish_activations();
        self.finish_resumes();
        self.handle_reshapes();
        self.run_duties();
    }

    /// Whether the loop is done; `Some(code)` to exit.
    fn exit_check(&mut self, first: bool) -> Option<i32> {
        use crate::manager::decide::{exit_check, Exit};
        match exit_check(!self.arrays.is_empty() || !self.resuming.is_empty(), self.sigterm) {
            Exit::Stay => None,
            Exit::Terminated => {
                info!("{}: all arrays clean; exiting", self.devnm);
                Some(0)
            }
            Exit::IfContainerReleased if self.container_released() => {
                if !first {
                    info!("{}: no arrays left to monitor; exiting", self.devnm);
                }
                self.control.remove_files();
                Some(0)
            }
            Exit::IfContainerReleased => None,
        }
    }

    /// A poll timed out with no event: an array that has stayed `active`
    /// for two such periods gets its safe-mode timer re-armed.
    fn watchdog(&mut self) {
        for a in self.arrays.iter_mut() {
            let delay = if a.mon.curr_state == md::ArrayState::Active { a.read_safe_mode_delay() } else { None };
            // The period follows the delay in force (an administrator may change it).
            if let Some(ms) = delay.filter(|&ms| ms > 0) {
                a.delay_ms = ms;
            }
            let (ticks, nudge) = crate::monitor::watchdog(a.mon.curr_state, a.quiet_ticks, delay);
            a.quiet_ticks = ticks;
            if nudge {
                info!(
                    "{}: {} still active after {} ms without a notification; re-arming its safe-mode timer",
                    self.devnm,
                    a.devnm,
                    u64::from(crate::monitor::WATCHDOG_TICKS) * a.watchdog_ms()
                );
                a.nudge_safe_mode();
            }
        }
    }

    /// The poll loop. Returns the process exit code.
    pub fn run(&mut self) -> i32 {
        const MAX_FDS: usize = 8 + control::MAX_CLIENTS + MAX_ARRAYS * (3 + crate::metadata::MAX_SLOTS);
        let mut first = true;
        let mut quiet_timeout = false;
        let mut ctl_events: ArrayVec<PollFlags, { 1 + control::MAX_CLIENTS }> = ArrayVec::new();
        loop {
            // Write-pending first: nothing else may delay a waiting write.
            if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                self.md.set_clock(t.as_secs());
            }
            self.monitor_pass();
            if core::mem::take(&mut quiet_timeout) {
                self.watchdog();
            }
            if self.rescan {
                self.rescan = false;
                self.manage();
                self.manage_container();
            }
            self.manager_duties();
            let mut reqs = control::Requests::default();
            let active: ArrayVec<u32, MAX_ARRAYS> = self.arrays.iter().map(|a| a.mon.ctx.inst).collect();
            self.control.service(&ctl_events, self.sigterm, self.md.as_mut(), &active, &mut reqs);
            if reqs.metadata_changed {
                // Updates reach the disks before any reply is sent.
                self.sync_metadata();
                for a in self.arrays.iter_mut() {
                    a.check_degraded = true;
                }
            }
            if reqs.ping_manager {
                self.manage();
                self.manage_container();
                self.manager_duties();
            }
            if reqs.ping_monitor {
                // A ping is answered after a full pass that began after it arrived.
                self.monitor_pass();
            }
            // A ping answers for every array found so far and every spare
            // taken: hold replies while a new array's rebuilds are being
            // resumed or spares are being added (bounded by the helper's
            // waits).
            if self.resuming.is_empty() && !self.arrays.iter().any(|a| a.activation.pending()) {
                self.control.send_replies();
            }
            if let Some(code) = self.exit_check(first) {
                return code;
            }
            first = false;
            if core::mem::take(&mut self.new_arrays) {
                continue;
            }
            let watchdog_ms = self
                .arrays
                .iter()
                .filter(|a| matches!(a.mon.curr_state, md::ArrayState::Active | md::ArrayState::ActiveIdle))
                .map(|a| a.watchdog_ms())
                .min();
            let t = self.core.poll_timeout(now_ms(), self.arrays.is_empty(), watchdog_ms);
            let (timeout_ms, watching) = (t.ms, t.watchdog);
            let timeout = timeout_ms.map(|ms| rustix::time::Timespec {
                tv_sec: (ms / 1000) as i64,
                tv_nsec: ((ms % 1000) * 1_000_000) as i64,
            });
            let mut fds: ArrayVec<PollFd<'_>, MAX_FDS> = ArrayVec::new();
            fds.push(PollFd::new(&self.sigfd, PollFlags::IN));
            fds.push(PollFd::new(&self.mdstat_fd, PollFlags::PRI));
            fds.push(PollFd::new(self.worker.wake_fd(), PollFlags::IN));
            let ctl_start = fds.len();
            self.control.poll_fds(&mut fds);
            let ctl_end = fds.len();
            for a in self.arrays.iter() {
                for attr in [&a.array_state, &a.sync_action, &a.sync_completed] {
                    let _ = fds.try_push(PollFd::from_borrowed_fd(attr.fd(), PollFlags::PRI));
                }
                for m in a.members.iter().filter(|m| m.live()) {
                    let _ = fds.try_push(PollFd::from_borrowed_fd(m.state.fd(), PollFlags::PRI));
                }
            }
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(0) => quiet_timeout = watching,
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => {
                    error!("{}: poll failed: {e}", self.devnm);
                    return 1;
                }
            }
            let sig_ready = !fds[0].revents().is_empty();
            self.rescan |= !fds[1].revents().is_empty();
            ctl_events.clear();
            for f in &fds[ctl_start..ctl_end] {
                ctl_events.push(f.revents());
            }
            drop(fds);
            if sig_ready {
                while let Some(s) = sys::signal::read_signal(&self.sigfd) {
                    if s == sys::signal::Sig::Terminate && !self.sigterm {
                        info!("{}: terminating once arrays are clean", self.devnm);
                        self.sigterm = true;
                        for a in self.arrays.iter_mut() {
                            a.shorten_safe_mode();
                        }
                    }
                }
            }
        }
    }
}
