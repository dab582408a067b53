//! A monitored member array: its open sysfs attributes and the monitor's
//! memory of it. `pass` reads everything, runs the pure decisions, and
//! returns what must happen once the metadata is on disk.

use super::sysfs::{array_geom, md_devs, path};
use crate::badblocks::{self, BbList};
use crate::md::{self, ArrayState, DevState, SyncAction, MAX_SECTOR};
use crate::metadata::Metadata;
use crate::metadata::{ArrayCtx, SlotInfo, MAX_SLOTS};
use crate::monitor::{bad_blocks_act, read_and_act, Actions, ArrayMon, BadBlocksRead, DevInput, Inputs};
use crate::sys::{Attr, ATTR_BUF};
use arrayvec::ArrayVec;
use heapless::String;
use rustix::io::Errno;

/// Where a failed member is on its way out of the array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// A working member.
    No,
    /// Failed and recorded: to be removed (again, after a refused attempt).
    Wanted,
    /// The helper thread is writing `remove` (job token).
    InFlight(u32),
}

/// A tracked member device of an array.
pub struct Member {
    pub kname: String<32>,
    pub state: Attr,
    pub recovery_start: Attr,
    /// `bad_blocks` and `unacknowledged_bad_blocks` (absent on kernels
    /// without external bad-block support).
    pub bad_blocks: Option<Attr>,
    pub unacked_bad_blocks: Option<Attr>,
    /// The unacknowledged ranges read this pass, to acknowledge once the
    /// metadata holds them.
    pub unacked: Box<BbList>,
    /// Once failed, the member is no longer read or polled.
    pub removal: Removal,
}

/// Working space for reading and reconciling bad-block lists (one per
/// daemon, allocated at start).
pub struct BbScratch {
    text: Box<[u8; 4096]>,
    all: Box<BbList>,
    work: Box<BbList>,
}

impl BbScratch {
    pub fn new() -> BbScratch {
        BbScratch { text: Box::new([0; 4096]), all: Box::default(), work: Box::default() }
    }
}

impl Default for BbScratch {
    fn default() -> Self {
        Self::new()
    }
}

/// Read a bad-block list attribute into `out`; false if unreadable.
fn read_bb(attr: Option<&Attr>, text: &mut [u8; 4096], out: &mut BbList) -> bool {
    match attr.map(|a| a.read_into(&mut text[..])) {
        Some(Ok(t)) => badblocks::parse(t, out).is_ok(),
        _ => false,
    }
}

impl Member {
    /// Open the attributes of member `kname` of array `devnm`.
    pub fn open(devnm: &str, kname: &str) -> Result<Member, Errno> {
        let dev_attr = |name: &str| Attr::open(path(format_args!("/sys/block/{devnm}/md/dev-{kname}/{name}")).as_str());
        let state = dev_attr("state")?;
        let recovery_start = dev_attr("recovery_start")?;
        let mut k = String::new();
        let _ = k.push_str(kname);
        Ok(Member {
            kname: k,
            state,
            recovery_start,
            bad_blocks: dev_attr("bad_blocks").ok(),
            unacked_bad_blocks: dev_attr("unacknowledged_bad_blocks").ok(),
            unacked: Box::default(),
            removal: Removal::No,
        })
    }

    /// md stops waiting for the metadata to record this member's bad
    /// blocks; unblocked, it fails the device if a range is unacknowledged.
    fn bad_blocks_off(&self, devnm: &str, blocked: bool) {
        crate::warn!(
            "{devnm}: bad blocks on {} cannot be recorded in the metadata; md handles them itself (it fails the device)",
            self.kname
        );
        if let Err(e) = self.state.write("-external_bbl") {
            crate::error!("{devnm}: writing -external_bbl for {} failed: {e}", self.kname);
        }
        if blocked {
            let _ = self.state.write("-blocked");
        }
    }

    /// Acknowledge the unacknowledged ranges read this pass (the metadata
    /// holds them), then unblock. A refused acknowledgement turns the
    /// member's external bad-block handling off.
    fn bad_blocks_ack(&self, devnm: &str) {
        let Some(bb) = &self.bad_blocks else {
            return self.bad_blocks_off(devnm, true);
        };
        for r in self.unacked.iter() {
            if let Err(e) = bb.write(r.line().as_str()) {
                crate::error!("{devnm}: acknowledging bad blocks {}+{} on {} failed: {e}", r.start, r.len, self.kname);
                return self.bad_blocks_off(devnm, true);
            }
        }
        if !self.unacked.is_empty() {
            crate::info!("{devnm}: {} bad range(s) on {} recorded and acknowledged", self.unacked.len(), self.kname);
        }
        let _ = self.state.write("-blocked");
    }

    /// What the monitor tracks of this member in `slot`, read now.
    pub fn slot_info(&self, slot: u32, dev: crate::metadata::DevT) -> SlotInfo {
        let mut buf = [0u8; ATTR_BUF];
        let state = self.state.read(&mut buf).map(DevState::parse).unwrap_or_default();
        let recovery_start = self.recovery_start.read(&mut buf).ok().and_then(md::parse_sector).unwrap_or(MAX_SECTOR);
        SlotInfo { slot, dev, recovery_start, state }
    }

    /// Whether the member is still read and polled.
    pub fn live(&self) -> bool {
        self.removal == Removal::No
    }
}

/// A `safe_mode_delay` value (seconds, three decimals) for `ms`.
fn delay_word(ms: u64) -> String<16> {
    let mut word = String::new();
    let _ = core::fmt::write(&mut word, format_args!("{}.{:03}", ms / 1000, ms % 1000));
    word
}

/// A monitored member array.
pub struct Array {
    pub devnm: String<32>,
    pub mon: ArrayMon,
    pub array_state: Attr,
    pub sync_action: Attr,
    pub sync_completed: Attr,
    pub resync_start: Attr,
    pub metadata_version: Attr,
    pub safe_mode_delay: Attr,
    /// Parallel to `mon.ctx.slots`.
    pub members: ArrayVec<Member, MAX_SLOTS>,
    /// Safe-mode delay already shortened for exit.
    pub exiting: bool,
    /// The monitor asked the manager to look for spares.
    pub check_degraded: bool,
    /// The monitor asked the manager to pick up members a reshape added
    /// and to grow the array to `mon.ctx.custom_array_size`.
    pub check_reshape: bool,
    /// The helper thread is writing `array_size` (job token).
    pub size_job: Option<u32>,
    /// Spares being added (executor jobs in flight).
    pub activation: super::activate::Activation,
    /// When (in the daemon's count) the array first lost a member since it
    /// last got spares: spares go to arrays in that order.
    pub failed_at: Option<u64>,
    /// The safe-mode delay in force (ms), restored after a nudge.
    pub delay_ms: u64,
    /// Watchdog ticks (quiet poll timeouts) the array has stayed `active`.
    pub quiet_ticks: u8,
}

/// Why an array could not be monitored.
#[derive(Debug)]
pub enum OpenArrayError {
    /// Not a level mdmon monitors (raid0, linear).
    NotMonitored,
    Sysfs(Errno),
    Geometry,
}

impl Array {
    /// Open everything needed to monitor `devnm`, volume `inst`.
    /// `keep_delay`: the safe-mode delay was just restored after a takeover;
    /// leave it as it is.
    pub fn open(devnm: &str, inst: u32, keep_delay: bool) -> Result<Array, OpenArrayError> {
        let geom = array_geom(devnm).ok_or(OpenArrayError::Geometry)?;
        if geom.level <= 0 {
            return Err(OpenArrayError::NotMonitored);
        }
        let devs = md_devs(devnm).map_err(OpenArrayError::Sysfs)?;
        let mut slots = ArrayVec::new();
        let mut members = ArrayVec::new();
        for s in 0..geom.raid_disks.min(MAX_SLOTS as u32) {
            let Some(d) = devs.iter().find(|d| d.slot == Some(s)) else {
                continue;
            };
            let Some(dev) = d.dev else { continue };
            let Ok(m) = Member::open(devnm, &d.kname) else {
                continue;
            };
            slots.push(m.slot_info(s, dev));
            members.push(m);
        }
        let open = |name: &str| {
            Attr::open(path(format_args!("/sys/block/{devnm}/md/{name}")).as_str()).map_err(OpenArrayError::Sysfs)
        };
        let array_state = open("array_state")?;
        let sync_action = open("sync_action")?;
        let sync_completed = open("sync_completed")?;
        let resync_start = open("resync_start")?;
        let metadata_version = open("metadata_version")?;
        let safe_mode_delay = open("safe_mode_delay")?;
        // Keep a sensible safe-mode delay; a very short one was left by an
        // instance that exited (it shortens it to go clean quickly).
        let delay = match geom.safe_mode_delay_ms {
            Some(ms) if ms >= 50 => ms,
            _ => 5000,
        };
        let delay_ms = if keep_delay {
            geom.safe_mode_delay_ms.unwrap_or(delay)
        } else {
            let _ = safe_mode_delay.write(delay_word(delay).as_str());
            delay
        };
        let missing = slots.len() < geom.raid_disks as usize;
        let ctx = ArrayCtx::new(inst, geom.level, geom.layout, geom.raid_disks, geom.component_size, slots);
        let mut name = String::new();
        let _ = name.push_str(devnm);
        Ok(Array {
            devnm: name,
            mon: ArrayMon::new(ctx),
            array_state,
            sync_action,
            sync_completed,
            resync_start,
            metadata_version,
            safe_mode_delay,
            members,
            exiting: false,
            // Missing slots: look for spares at once (resume a rebuild).
            check_degraded: missing,
            check_reshape: false,
            size_job: None,
            activation: Default::default(),
            failed_at: None,
            delay_ms,
            quiet_ticks: 0,
        })
    }

    /// Read every attribute (re-arming their notifications) and decide.
    pub fn pass(&mut self, md: &mut dyn Metadata, bb: &mut BbScratch) -> Actions {
        let mut buf = [0u8; ATTR_BUF];
        let array_state = self.array_state.read(&mut buf).map(ArrayState::parse).unwrap_or(ArrayState::Bad);
        let sync_action = self.sync_action.read(&mut buf).map(SyncAction::parse).unwrap_or(SyncAction::Bad);
        let resync_start = if array_state == ArrayState::Clear {
            None
        } else {
            self.resync_start.read(&mut buf).ok().and_then(md::parse_sector)
        };
        let sync_completed = self.sync_completed.read(&mut buf).map(md::parse_sync_completed).unwrap_or(0);
        let blocked = array_state == ArrayState::Readonly
            && self.metadata_version.read(&mut buf).map(|v| v.starts_with(b"external:-")).unwrap_or(false);
        let mut devs = ArrayVec::new();
        for m in &self.members {
            if !m.live() {
                devs.push(DevInput { state: DevState(0), recovery_start: None });
                continue;
            }
            let state = m.state.read(&mut buf).map(DevState::parse).unwrap_or_default();
            let recovery_start = m.recovery_start.read(&mut buf).ok().and_then(md::parse_sector);
            devs.push(DevInput { state, recovery_start });
        }
        // Whether an ended reshape really finished (md clears the position)
        // or was interrupted (the checkpoint must stay where it was).
        let reshape_finished = sync_action == SyncAction::Idle
            && self.mon.ctx.prev_action == SyncAction::Reshape
            && super::sysfs::read_text(
                path(format_args!("/sys/block/{}/md/reshape_position", self.devnm)).as_str(),
                &mut buf,
            )
            .map(|v| v.starts_with(b"none"))
            .unwrap_or(false);
        let inp = Inputs { array_state, sync_action, resync_start, sync_completed, blocked, reshape_finished, devs };
        let mut act = read_and_act(&mut self.mon, &inp, md);
        for (i, m) in self.members.iter_mut().enumerate() {
            if act.deactivate || !crate::monitor::bad_blocks_watched(self.mon.curr_state) {
                break;
            }
            let state = self.mon.ctx.slots.get(i).map(|s| s.state).unwrap_or_default();
            if !m.live() || !state.has(DevState::EXTERNAL_BB) || state.has(DevState::FAULTY) {
                continue;
            }
            // Unacknowledged first: a range md adds in between shows in
            // `bad_blocks` and is recorded; it is acknowledged next pass.
            let blocked = state.has(DevState::BLOCKED);
            let unacked_ok = blocked && read_bb(m.unacked_bad_blocks.as_ref(), &mut bb.text, &mut m.unacked);
            if !unacked_ok {
                m.unacked.clear();
            }
            let all_ok = read_bb(m.bad_blocks.as_ref(), &mut bb.text, &mut bb.all);
            let read = BadBlocksRead {
                all: all_ok.then_some(&bb.all[..]),
                unacked: (unacked_ok || !blocked).then_some(&m.unacked[..]),
            };
            bad_blocks_act(&self.mon, i, read, md, &mut bb.work, &mut act);
        }
        act
    }

    /// Make md and the metadata agree on the bad blocks of member `i` (all
    /// members if `None`) when it starts being monitored: with a format that
    /// keeps a bad-block log, the member gets `external_bbl` and every
    /// range the log holds for it (mdadm does the same when it assembles;
    /// members re-added since, or by us, lack them); with a format that
    /// keeps none, `external_bbl` is taken off so md never waits for us.
    pub fn prime_bad_blocks(&mut self, md: &mut dyn Metadata, only: Option<usize>, bb: &mut BbScratch) {
        let mut buf = [0u8; ATTR_BUF];
        for (i, m) in self.members.iter().enumerate() {
            if only.is_some_and(|o| o != i) || !m.live() {
                continue;
            }
            let Some(slot) = self.mon.ctx.slots.get(i).map(|s| s.slot) else { continue };
            let state = m.state.read(&mut buf).map(DevState::parse).unwrap_or_default();
            if state.has(DevState::FAULTY) {
                continue;
            }
            let Some(log) = md.bad_block_log() else {
                if state.has(DevState::EXTERNAL_BB) {
                    crate::info!("{}: {}: the metadata keeps no bad-block log; external_bbl off", self.devnm, m.kname);
                    let _ = m.state.write("-external_bbl");
                }
                continue;
            };
            let known = log.logged(&self.mon.ctx, slot, &mut bb.work);
            if !state.has(DevState::EXTERNAL_BB) {
                if let Err(e) = m.state.write("external_bbl") {
                    if known && !bb.work.is_empty() {
                        crate::warn!(
                            "{}: {}: md refuses external_bbl ({e}); {} logged bad range(s) unknown to md",
                            self.devnm,
                            m.kname,
                            bb.work.len()
                        );
                    }
                    continue;
                }
            }
            if !known {
                continue;
            }
            let Some(attr) = &m.bad_blocks else { continue };
            for r in bb.work.iter() {
                if let Err(e) = attr.write(r.line().as_str()) {
                    crate::warn!(
                        "{}: {}: telling md of bad blocks {}+{} failed: {e}",
                        self.devnm,
                        m.kname,
                        r.start,
                        r.len
                    );
                }
            }
        }
    }

    /// Tell the kernel what was decided; call only after the metadata is on
    /// disk. `metadata_written`: the last metadata write reached at least
    /// one disk (or there was none); bad blocks are only acknowledged then.
    pub fn apply(&mut self, act: &Actions, metadata_written: bool) {
        if let Some(s) = act.next_state {
            match self.array_state.write(s.word()) {
                // md refuses `clean` while a write is in flight (it began
                // after the safe-mode timer fired); that write's end re-arms
                // the timer, so this is expected and not worth a line.
                Err(Errno::BUSY) if s == ArrayState::Clean => {}
                Err(e) => crate::warn!("{}: writing {} to array_state failed: {}", self.devnm, s.word(), e),
                Ok(()) => {}
            }
        }
        self.apply_members(act, metadata_written);
    }

    fn apply_members(&mut self, act: &Actions, metadata_written: bool) {
        for &i in &act.bb_ack {
            if let Some(m) = self.members.get(usize::from(i)) {
                if metadata_written {
                    m.bad_blocks_ack(&self.devnm);
                } else {
                    m.bad_blocks_off(&self.devnm, true);
                }
            }
        }
        for &i in &act.bb_off {
            if let Some(m) = self.members.get(usize::from(i)) {
                let blocked = self.mon.ctx.slots.get(usize::from(i)).is_some_and(|s| s.state.has(DevState::BLOCKED));
                m.bad_blocks_off(&self.devnm, blocked);
            }
        }
        for &i in &act.unblock {
            if let Some(m) = self.members.get(usize::from(i)) {
                let _ = m.state.write("-blocked");
            }
        }
        for &i in &act.remove {
            if let Some(m) = self.members.get_mut(usize::from(i)) {
                if m.removal == Removal::No {
                    m.removal = Removal::Wanted;
                }
            }
        }
        self.check_degraded |= act.check_degraded;
        self.check_reshape |= act.check_reshape;
    }

    /// Stop tracking member `i` (it left the array).
    pub fn drop_member(&mut self, i: usize) {
        if i < self.members.len() {
            self.members.remove(i);
            self.mon.ctx.slots.remove(i);
            if i < self.mon.prev_dev.len() {
                self.mon.prev_dev.remove(i);
            }
        }
    }

    /// Track a member the manager added (a spare taking a slot); returns
    /// its index.
    pub fn add_member(&mut self, m: Member, info: SlotInfo) -> Option<usize> {
        // Keep slot order.
        let pos = self.mon.ctx.slots.iter().position(|s| s.slot > info.slot).unwrap_or(self.members.len());
        if self.members.is_full() {
            return None;
        }
        self.members.insert(pos, m);
        self.mon.ctx.slots.insert(pos, info);
        self.mon.prev_dev.insert(pos.min(self.mon.prev_dev.len()), info.state);
        Some(pos)
    }

    /// Whether sync actions are held off: the member is blocked (`-` in its
    /// metadata_version) or a sync action other than idle is set.
    pub fn frozen(&self) -> bool {
        let mut buf = [0u8; ATTR_BUF];
        let blocked = match self.metadata_version.read(&mut buf) {
            Ok(v) => v.get(9) == Some(&b'-'),
            Err(_) => true,
        };
        let busy = self.sync_action.read(&mut buf).map(|v| !v.starts_with(b"idle")).unwrap_or(false);
        blocked || busy
    }

    /// What the manager core sees of this array.
    pub fn view(&self) -> crate::manager::ArrayView<'_> {
        crate::manager::ArrayView {
            ctx: &self.mon.ctx,
            leaving: self
                .members
                .iter()
                .map(|m| match m.removal {
                    Removal::No => crate::manager::Leave::No,
                    Removal::Wanted => crate::manager::Leave::Wanted,
                    Removal::InFlight(_) => crate::manager::Leave::InFlight,
                })
                .collect(),
            check_degraded: self.check_degraded,
            failed_at: self.failed_at,
            // Read only when it matters (two sysfs reads).
            sync_idle: self.check_degraded && !self.frozen(),
            activating: self.activation.pending(),
        }
    }

    /// How long the loop may sleep before it looks at an `active` array
    /// again without a notification: the safe-mode delay and a second.
    pub fn watchdog_ms(&self) -> u64 {
        self.delay_ms.min(60_000) + 1000
    }

    /// The `safe_mode_delay` in force (ms), or `None` if unreadable.
    pub fn read_safe_mode_delay(&self) -> Option<u64> {
        let mut buf = [0u8; ATTR_BUF];
        self.safe_mode_delay.read(&mut buf).ok().and_then(md::parse_safe_mode_delay)
    }

    /// Re-arm the kernel's safe-mode timer (see [`crate::monitor::watchdog`]
    /// for when). md fires the timer at once when the delay is lowered; the
    /// delay in force is put back straight away. With writes still in
    /// flight this costs one refused `clean`.
    pub fn nudge_safe_mode(&mut self) {
        if self.exiting {
            return;
        }
        let _ = self.safe_mode_delay.write("0.001");
        let _ = self.safe_mode_delay.write(delay_word(self.delay_ms).as_str());
    }

    /// Shorten the safe-mode delay so the array goes clean quickly (exit).
    pub fn shorten_safe_mode(&mut self) {
        if !self.exiting {
            let _ = self.safe_mode_delay.write("0.001");
            self.exiting = true;
        }
    }
}
