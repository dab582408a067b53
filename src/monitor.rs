//! The monitor's decisions for one member array (upstream `read_and_act`),
//! as a pure function: what the kernel reported in, what to tell the
//! metadata and the kernel out. The shell reads sysfs into [`Inputs`],
//! calls [`read_and_act`], writes the metadata if it changed, and only then
//! applies the [`Actions`] to the kernel.

use crate::badblocks::{self, BadRange, BbList, Outcome};
use crate::md::{ArrayState, DevState, SyncAction};
use crate::metadata::{ArrayCtx, Consistency, Handler, SlotInfo, MAX_SLOTS};
use arrayvec::ArrayVec;

/// One member's sysfs values as read this pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevInput {
    /// `state` flags.
    pub state: DevState,
    /// `recovery_start`, or `None` if unreadable (keep the previous value).
    pub recovery_start: Option<u64>,
}

/// Everything the monitor reads for one array in one pass.
#[derive(Clone, Debug)]
pub struct Inputs {
    pub array_state: ArrayState,
    pub sync_action: SyncAction,
    /// `resync_start`, or `None` if unreadable or not read (state `clear`).
    pub resync_start: Option<u64>,
    /// First number of `sync_completed` (0 for none/delayed).
    pub sync_completed: u64,
    /// `metadata_version` says `external:-...` (read when the array is readonly).
    pub blocked: bool,
    /// A reshape just ended and md reports no reshape position: it finished
    /// (read only when the action went from `reshape` to `idle`).
    pub reshape_finished: bool,
    /// Per tracked member, in the order of [`ArrayMon::ctx`]`.slots`.
    pub devs: ArrayVec<DevInput, MAX_SLOTS>,
}

/// What the shell must do after the metadata is safely on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actions {
    /// Word to write to `array_state`.
    pub next_state: Option<ArrayState>,
    /// Members (indices into `ctx.slots`) to unblock with `-blocked`.
    pub unblock: ArrayVec<u8, MAX_SLOTS>,
    /// Members (indices into `ctx.slots`) to hand to the manager for removal.
    pub remove: ArrayVec<u8, MAX_SLOTS>,
    /// Members whose unacknowledged bad blocks are now in the metadata:
    /// acknowledge them (write each to `bad_blocks`), then `-blocked`.
    pub bb_ack: ArrayVec<u8, MAX_SLOTS>,
    /// Members whose bad blocks cannot be recorded: `-external_bbl`, then
    /// `-blocked` if blocked, so md applies its own policy (it fails the
    /// device if a range is still unacknowledged) instead of waiting.
    pub bb_off: ArrayVec<u8, MAX_SLOTS>,
    /// The array is dirty (has or may have writes in flight).
    pub dirty: bool,
    /// The array stopped: forget it after applying the actions.
    pub deactivate: bool,
    /// The manager should look for spares.
    pub check_degraded: bool,
    /// The manager should look for devices added by a reshape.
    pub check_reshape: bool,
}

/// The monitor's memory of one array between passes.
#[derive(Clone, Debug)]
pub struct ArrayMon {
    pub ctx: ArrayCtx,
    pub prev_state: ArrayState,
    pub curr_state: ArrayState,
    /// Previous `state` of each tracked member.
    pub prev_dev: ArrayVec<DevState, MAX_SLOTS>,
}

impl ArrayMon {
    /// A newly discovered array: states start `inactive`/`idle` so a
    /// `readonly` array is promoted on its first pass and a running resync is
    /// not mistaken for a finished one.
    pub fn new(ctx: ArrayCtx) -> ArrayMon {
        let prev_dev = ctx.slots.iter().map(|s| s.state).collect();
        let mut ctx = ctx;
        ctx.curr_action = SyncAction::Idle;
        ctx.prev_action = SyncAction::Idle;
        ArrayMon { ctx, prev_state: ArrayState::Inactive, curr_state: ArrayState::Inactive, prev_dev }
    }
}

/// Decide what to do for one array after reading its attributes.
///
/// Metadata changes are made in memory through `md`; the caller writes them
/// to disk (when `md.updates_pending()`) before applying the returned actions.
pub fn read_and_act(mon: &mut ArrayMon, inp: &Inputs, md: &mut dyn Handler) -> Actions {
    let mut act = Actions::default();
    let a = &mut mon.ctx;
    mon.curr_state = inp.array_state;
    a.curr_action = inp.sync_action;
    if inp.array_state != ArrayState::Clear {
        if let Some(r) = inp.resync_start {
            a.resync_start = r;
        }
    }
    for (slot, d) in a.slots.iter_mut().zip(inp.devs.iter()) {
        slot.state = d.state;
        if let Some(r) = d.recovery_start {
            slot.recovery_start = r;
        }
    }
    let curr = mon.curr_state;
    let prev = mon.prev_state;
    let mut deactivate = false;
    let mut write_checkpoint = false;

    // A: the array stopped.
    if (curr == ArrayState::Bad || curr <= ArrayState::Inactive) && prev > ArrayState::Inactive {
        md.set_array_state(a, Consistency::Clean);
        act.next_state = Some(ArrayState::Clear);
        deactivate = true;
    }
    match curr {
        // B: a write waits for the metadata to say dirty.
        ArrayState::WritePending => {
            md.set_array_state(a, Consistency::Dirty);
            act.next_state = Some(ArrayState::Active);
            act.dirty = true;
        }
        // C: safe mode timer expired; the metadata goes clean once the kernel says clean.
        ArrayState::ActiveIdle => {
            act.next_state = Some(ArrayState::Clean);
            act.dirty = true;
        }
        // D
        ArrayState::Clean | ArrayState::Broken => {
            md.set_array_state(a, Consistency::Clean);
        }
        // E
        ArrayState::Active | ArrayState::Suspended => act.dirty = true,
        // F: started read-only: decide whether it may go read-auto.
        ArrayState::Readonly if !inp.blocked => {
            if md.set_array_state(a, Consistency::Starting) {
                act.next_state = Some(ArrayState::ReadAuto);
            } else {
                act.next_state = Some(ArrayState::Active);
                act.dirty = true;
            }
        }
        _ => {}
    }
    if !deactivate && a.curr_action == SyncAction::Idle {
        // G: a resync ended.
        if a.prev_action == SyncAction::Resync {
            md.set_array_state(a, consistency(curr));
            act.check_degraded = true;
        }
        // H: a recovery ended: report every member.
        if a.prev_action == SyncAction::Recover {
            let mut all_in_sync = true;
            for i in 0..a.slots.len() {
                let (slot, state) = (a.slots[i].slot, a.slots[i].state);
                md.set_disk(a, slot, state);
                if !state.has(DevState::INSYNC) {
                    all_in_sync = false;
                }
            }
            if !all_in_sync || a.slots.len() != a.raid_disks as usize {
                act.check_degraded = true;
            }
        }
    }
    // I: a reshape started: the manager picks up devices mdadm added.
    if !deactivate && a.curr_action == SyncAction::Reshape && a.prev_action != SyncAction::Reshape {
        act.check_reshape = true;
    }
    // J: failed members are recorded before they are unblocked or removed.
    for i in 0..a.slots.len() {
        let (slot, state) = (a.slots[i].slot, a.slots[i].state);
        if !state.has(DevState::FAULTY) {
            continue;
        }
        md.set_disk(a, slot, state);
        act.check_degraded = true;
        if state.has(DevState::BLOCKED) {
            act.unblock.push(i as u8);
        }
        if curr == ArrayState::ReadAuto {
            md.set_array_state(a, Consistency::Dirty);
            act.next_state = Some(ArrayState::Active);
        }
        if curr > ArrayState::Readonly {
            act.remove.push(i as u8);
        }
    }
    // J': blocked but not failed, and md does not expect us to record bad
    // blocks: nothing of ours holds it. Unblocking lets md decide (it
    // fails the device if it holds unacknowledged bad blocks) rather than
    // leave writes waiting for good. Members with `external_bbl` are left
    // to [`bad_blocks_act`].
    for (i, s) in a.slots.iter().enumerate() {
        if s.state.has(DevState::BLOCKED) && !s.state.has(DevState::FAULTY) && !s.state.has(DevState::EXTERNAL_BB) {
            act.unblock.push(i as u8);
        }
    }
    // K: a reshape ended or was interrupted (driven by mdadm; record the position).
    if a.curr_action == SyncAction::Idle && a.prev_action == SyncAction::Reshape {
        if inp.sync_completed != 0 {
            a.last_checkpoint = inp.sync_completed;
        }
        // Finished: the checkpoint at the end lets the format end the
        // migration. Interrupted: it stays, for the reshape to resume there.
        if inp.reshape_finished {
            a.last_checkpoint = a.component_size;
        }
        write_checkpoint = true;
    }
    // L: progress of a sync operation.
    if a.curr_action.is_sync() && inp.sync_completed > a.last_checkpoint {
        a.last_checkpoint = inp.sync_completed;
        write_checkpoint = true;
    }
    // M
    if write_checkpoint {
        md.set_array_state(a, consistency(curr));
        if matches!(a.curr_action, SyncAction::Idle | SyncAction::Reshape) {
            a.last_checkpoint = inp.sync_completed;
        }
    }
    // N: a finished sync must not make the next one look complete.
    if inp.sync_completed >= a.component_size && a.component_size > 0 {
        a.last_checkpoint = 0;
    }
    act.check_degraded |= a.check_degraded;
    a.check_degraded = false;
    act.check_reshape |= a.check_reshape;
    a.check_reshape = false;
    act.deactivate = deactivate;

    mon.prev_state = curr;
    a.prev_action = a.curr_action;
    mon.prev_dev.clear();
    mon.prev_dev.extend(a.slots.iter().map(|s: &SlotInfo| s.state));
    act
}

/// What md lists of one member's bad blocks this pass.
#[derive(Clone, Copy, Debug)]
pub struct BadBlocksRead<'a> {
    /// `bad_blocks` (acknowledged and not); `None` if unreadable.
    pub all: Option<&'a [BadRange]>,
    /// `unacknowledged_bad_blocks`: read only while the member is blocked;
    /// `None` if unreadable.
    pub unacked: Option<&'a [BadRange]>,
}

/// Whether members' bad blocks are reconciled in this array state: not
/// while the array is stopping or stopped, when md releases the members and
/// may list their bad blocks empty (the log must not follow; seen in the
/// VM with both mdmons: the ranges were gone after a stop and assembly).
pub fn bad_blocks_watched(state: ArrayState) -> bool {
    state > ArrayState::Inactive && state != ArrayState::Bad
}

/// The bad-block decision for member `i` of an array (one with
/// `external_bbl` and not failed), after [`read_and_act`]: record in the
/// metadata what md lists and forget what md cleared; acknowledge once the
/// metadata is on disk; when the metadata cannot take it (no log, log
/// full, list unreadable), take `external_bbl` off so md stops waiting.
/// A member blocked only by bad blocks is never handled as failed.
pub fn bad_blocks_act(
    mon: &ArrayMon,
    i: usize,
    read: BadBlocksRead<'_>,
    md: &mut dyn Handler,
    scratch: &mut BbList,
    act: &mut Actions,
) {
    let Some(s) = mon.ctx.slots.get(i) else { return };
    if act.deactivate || !bad_blocks_watched(mon.curr_state) {
        return;
    }
    if !s.state.has(DevState::EXTERNAL_BB) || s.state.has(DevState::FAULTY) {
        return;
    }
    let blocked = s.state.has(DevState::BLOCKED);
    let outcome = match (md.bad_block_log(), read.unacked) {
        (None, _) => Outcome::Unrecordable,
        (Some(_), None) if blocked => Outcome::Unrecordable,
        (Some(log), unacked) => {
            let unacked = if blocked { unacked.unwrap_or(&[]) } else { &[] };
            badblocks::reconcile(log, &mon.ctx, s.slot, read.all, unacked, scratch)
        }
    };
    match outcome {
        Outcome::Recorded { .. } if blocked => act.bb_ack.push(i as u8),
        Outcome::Recorded { .. } => {}
        Outcome::Unrecordable => act.bb_off.push(i as u8),
    }
}

/// Quiet poll timeouts (no notification for a whole watchdog period) an
/// `active` array may see before its safe-mode timer is re-armed.
pub const WATCHDOG_TICKS: u8 = 2;

/// The watchdog's decision for one array after a quiet poll timeout:
/// the new tick count, and whether to re-arm md's safe-mode timer.
///
/// md leaves `active` only when its safe-mode timer fires after the last
/// write ends. Kernels before the fix "md: do not delete safemode_timer in
/// mddev_suspend" (6.1.105, 6.6.46) lose that timer when the array is
/// suspended (reshape, `suspend_lo`/`suspend_hi`), and the array, with its
/// metadata, stays dirty until the next write: after a crash it would be
/// resynced for nothing. `delay_ms` is the `safe_mode_delay` in force now; 0
/// means safe mode is off (the array is meant to stay active): leave it.
pub fn watchdog(state: ArrayState, ticks: u8, delay_ms: Option<u64>) -> (u8, bool) {
    if state != ArrayState::Active || delay_ms == Some(0) {
        return (0, false);
    }
    let ticks = ticks.saturating_add(1);
    if ticks >= WATCHDOG_TICKS && delay_ms.is_some() {
        (0, true)
    } else {
        (ticks, false)
    }
}

fn consistency(state: ArrayState) -> Consistency {
    if state.at_most_clean() {
        Consistency::Clean
    } else {
        Consistency::Dirty
    }
}

#[cfg(test)]
mod tests;
