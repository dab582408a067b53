//! A monitored member array: its open sysfs attributes and the monitor's
//! memory of it. `pass` reads everything, runs the pure decisions, and
//! returns what must happen once the metadata is on disk.

use super::sysfs::{array_geom, md_devs, path};
use crate::md::{self, ArrayState, DevState, SyncAction, MAX_SECTOR};
use crate::metadata::Metadata;
use crate::metadata::{ArrayCtx, SlotInfo, MAX_SLOTS};
use crate::monitor::{read_and_act, Actions, ArrayMon, DevInput, Inputs};
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
    /// Once failed, the member is no longer read or polled.
    pub removal: Removal,
}

impl Member {
    /// Open the attributes of member `kname` of array `devnm`.
    pub fn open(devnm: &str, kname: &str) -> Result<Member, Errno> {
        let state = Attr::open(path(format_args!("/sys/block/{devnm}/md/dev-{kname}/state")).as_str())?;
        let recovery_start =
            Attr::open(path(format_args!("/sys/block/{devnm}/md/dev-{kname}/recovery_start")).as_str())?;
        let mut k = String::new();
        let _ = k.push_str(kname);
        Ok(Member { kname: k, state, recovery_start, removal: Removal::No })
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
    /// More members failed to open than the kernel says are failed.
    Members,
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
            delay_ms,
            quiet_ticks: 0,
        })
    }

    /// Read every attribute (re-arming their notifications) and decide.
    pub fn pass(&mut self, md: &mut dyn Metadata) -> Actions {
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
        read_and_act(&mut self.mon, &inp, md)
    }

    /// Tell the kernel what was decided; call only after the metadata is on disk.
    pub fn apply(&mut self, act: &Actions) {
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
        self.apply_members(act);
    }

    fn apply_members(&mut self, act: &Actions) {
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

    /// Track a member the manager added (a spare taking a slot).
    pub fn add_member(&mut self, m: Member, info: SlotInfo) {
        // Keep slot order.
        let pos = self.mon.ctx.slots.iter().position(|s| s.slot > info.slot).unwrap_or(self.members.len());
        if self.members.is_full() {
            return;
        }
        self.members.insert(pos, m);
        self.mon.ctx.slots.insert(pos, info);
        self.mon.prev_dev.insert(pos.min(self.mon.prev_dev.len()), info.state);
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
