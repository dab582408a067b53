//! Small manager decisions: what a level change means, when to grow
//! `array_size`, when an array is released.

use crate::monitor::Actions;

/// What a level in /proc/mdstat means for a monitored array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelChange {
    /// Same level, or not listed (yet): keep monitoring.
    Keep,
    /// Another RAID level (mdadm's --grow takeover): monitor it afresh.
    Reopen,
    /// RAID0 or linear (or unparsable): record it clean and stop
    /// monitoring (nothing will resync it).
    Drop,
}

/// `listed`: the level word of the array's /proc/mdstat line ("" if the
/// array is not listed); `tracked`: the level the monitor knows.
pub fn level_change(listed: &str, tracked: i32) -> LevelChange {
    if listed.is_empty() {
        return LevelChange::Keep;
    }
    match parse_level(listed) {
        Some(l) if l == tracked => LevelChange::Keep,
        Some(l) if l > 0 => LevelChange::Reopen,
        _ => LevelChange::Drop,
    }
}

/// `raidN` as N.
pub fn parse_level(text: &str) -> Option<i32> {
    let n = text.strip_prefix("raid")?;
    crate::md::parse_u64(n.as_bytes()).and_then(|v| i32::try_from(v).ok())
}

/// The `array_size` (KiB) to write after a reshape: when the metadata's
/// size (`want`, sectors; 0 for none) exceeds md's (`now_kib`), and no
/// size write is in flight.
pub fn grow_to(want: u64, now_kib: Option<u64>, in_flight: bool) -> Option<u64> {
    let now = now_kib?;
    (want > 0 && want > now.saturating_mul(2) && !in_flight).then_some(want / 2)
}

/// Whether the monitor lets go of an array after its pass: it stopped, or
/// the daemon is exiting and the array is clean (and no spare is being
/// added to it: the metadata is to record the spares first).
pub fn release(act: &Actions, exiting: bool, activating: bool) -> bool {
    act.deactivate || (exiting && !act.dirty && !activating)
}

/// Whether the loop ends, after the manager's duties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Arrays are monitored (or being resumed): go on.
    Stay,
    /// Exiting on SIGTERM and every array is released: exit now.
    Terminated,
    /// Nothing is monitored: exit if the container is released (gone, or
    /// nobody holds it exclusively, so no member is about to start).
    IfContainerReleased,
}

/// `busy`: some array is monitored or being resumed.
pub fn exit_check(busy: bool, exiting: bool) -> Exit {
    match (busy, exiting) {
        (true, _) => Exit::Stay,
        (false, true) => Exit::Terminated,
        (false, false) => Exit::IfContainerReleased,
    }
}
