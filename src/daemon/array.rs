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

/// A tracked member device of an array.
pub struct Member {
    pub kname: String<32>,
    pub state: Attr,
    pub recovery_start: Attr,
    /// Handed to removal: no longer read or polled.
    pub removing: bool,
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
    pub fn open(devnm: &str, inst: u32) -> Result<Array, OpenArrayError> {
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
            let st = Attr::open(
                path(format_args!("/sys/block/{devnm}/md/dev-{}/state", d.kname)).as_str(),
            );
            let rs = Attr::open(
                path(format_args!(
                    "/sys/block/{devnm}/md/dev-{}/recovery_start",
                    d.kname
                ))
                .as_str(),
            );
            let (Ok(state), Ok(recovery_start)) = (st, rs) else {
                continue;
            };
            let mut buf = [0u8; ATTR_BUF];
            let cur = state
                .read(&mut buf)
                .map(DevState::parse)
                .unwrap_or_default();
            let rec = recovery_start
                .read(&mut buf)
                .ok()
                .and_then(md::parse_sector)
                .unwrap_or(MAX_SECTOR);
            slots.push(SlotInfo {
                slot: s,
                dev,
                recovery_start: rec,
                state: cur,
            });
            members.push(Member {
                kname: d.kname.clone(),
                state,
                recovery_start,
                removing: false,
            });
        }
        let open = |name: &str| {
            Attr::open(path(format_args!("/sys/block/{devnm}/md/{name}")).as_str())
                .map_err(OpenArrayError::Sysfs)
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
        let mut word = String::<16>::new();
        let _ = core::fmt::write(
            &mut word,
            format_args!("{}.{:03}", delay / 1000, delay % 1000),
        );
        let _ = safe_mode_delay.write(word.as_str());
        let ctx = ArrayCtx {
            inst,
            level: geom.level,
            layout: geom.layout,
            raid_disks: geom.raid_disks,
            component_size: geom.component_size,
            resync_start: MAX_SECTOR,
            curr_action: SyncAction::Idle,
            prev_action: SyncAction::Idle,
            last_checkpoint: 0,
            slots,
            check_degraded: false,
        };
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
        })
    }

    /// Read every attribute (re-arming their notifications) and decide.
    pub fn pass(&mut self, md: &mut dyn Metadata) -> Actions {
        let mut buf = [0u8; ATTR_BUF];
        let array_state = self
            .array_state
            .read(&mut buf)
            .map(ArrayState::parse)
            .unwrap_or(ArrayState::Bad);
        let sync_action = self
            .sync_action
            .read(&mut buf)
            .map(SyncAction::parse)
            .unwrap_or(SyncAction::Bad);
        let resync_start = if array_state == ArrayState::Clear {
            None
        } else {
            self.resync_start
                .read(&mut buf)
                .ok()
                .and_then(md::parse_sector)
        };
        let sync_completed = self
            .sync_completed
            .read(&mut buf)
            .map(md::parse_sync_completed)
            .unwrap_or(0);
        let blocked = array_state == ArrayState::Readonly
            && self
                .metadata_version
                .read(&mut buf)
                .map(|v| v.starts_with(b"external:-"))
                .unwrap_or(false);
        let mut devs = ArrayVec::new();
        for m in &self.members {
            if m.removing {
                devs.push(DevInput {
                    state: DevState(0),
                    recovery_start: None,
                });
                continue;
            }
            let state = m
                .state
                .read(&mut buf)
                .map(DevState::parse)
                .unwrap_or_default();
            let recovery_start = m
                .recovery_start
                .read(&mut buf)
                .ok()
                .and_then(md::parse_sector);
            devs.push(DevInput {
                state,
                recovery_start,
            });
        }
        let inp = Inputs {
            array_state,
            sync_action,
            resync_start,
            sync_completed,
            blocked,
            devs,
        };
        read_and_act(&mut self.mon, &inp, md)
    }

    /// Tell the kernel what was decided; call only after the metadata is on disk.
    pub fn apply(&mut self, act: &Actions) {
        if let Some(s) = act.next_state {
            if let Err(e) = self.array_state.write(s.word()) {
                crate::warn!(
                    "{}: writing {} to array_state failed: {}",
                    self.devnm,
                    s.word(),
                    e
                );
            }
        }
        for &i in &act.unblock {
            if let Some(m) = self.members.get(usize::from(i)) {
                let _ = m.state.write("-blocked");
            }
        }
        for &i in &act.remove {
            if let Some(m) = self.members.get_mut(usize::from(i)) {
                m.removing = true;
            }
        }
    }

    /// Try to remove members handed over for removal; returns whether any remain.
    pub fn remove_failed(&mut self) -> bool {
        let mut left = false;
        for m in self.members.iter_mut().filter(|m| m.removing) {
            match m.state.write("remove") {
                Ok(()) => {}
                Err(_) => left = true,
            }
        }
        left
    }

    /// Shorten the safe-mode delay so the array goes clean quickly (exit).
    pub fn shorten_safe_mode(&mut self) {
        if !self.exiting {
            let _ = self.safe_mode_delay.write("0.001");
            self.exiting = true;
        }
    }
}
