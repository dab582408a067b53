use super::*;
use crate::md::MAX_SECTOR;
use crate::metadata::{DevT, OpenError};

/// A metadata double that records what the monitor asked of it.
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
    dirty: bool,
    pending: bool,
    /// What `set_array_state(Starting)` answers.
    starting_clean: bool,
    /// A bad-block log (slot, range) with room for `log_room` entries;
    /// `None`: the format keeps none.
    log: Option<Vec<(u32, BadRange)>>,
    log_room: usize,
}

impl crate::metadata::BadBlockLog for Recorder {
    fn logged(&self, _a: &ArrayCtx, slot: u32, out: &mut BbList) -> bool {
        out.clear();
        out.extend(self.log.iter().flatten().filter(|e| e.0 == slot).map(|e| e.1));
        true
    }
    fn record(&mut self, _a: &ArrayCtx, slot: u32, r: BadRange) -> bool {
        let room = self.log_room;
        let log = self.log.as_mut().unwrap();
        if log.len() >= room {
            return false;
        }
        log.push((slot, r));
        self.pending = true;
        true
    }
    fn clear(&mut self, _a: &ArrayCtx, slot: u32, r: BadRange) {
        self.log.as_mut().unwrap().retain(|e| *e != (slot, r));
        self.pending = true;
    }
}

impl crate::metadata::Handler for Recorder {
    fn open_new(&mut self, _inst: u32) -> Result<(), OpenError> {
        Ok(())
    }
    fn set_array_state(&mut self, a: &mut ArrayCtx, c: Consistency) -> bool {
        self.calls.push(format!("state {c:?} ckpt {}", a.last_checkpoint));
        let clean = match c {
            Consistency::Starting => self.starting_clean,
            Consistency::Clean => true,
            Consistency::Dirty => false,
        };
        if self.dirty == clean {
            self.dirty = !clean;
            self.pending = true;
        }
        clean
    }
    fn set_disk(&mut self, _a: &mut ArrayCtx, slot: u32, state: DevState) {
        self.calls.push(format!("disk {slot} {}", state.0));
        self.pending = true;
    }
    fn bad_block_log(&mut self) -> Option<&mut dyn crate::metadata::BadBlockLog> {
        if self.log.is_some() {
            Some(self)
        } else {
            None
        }
    }
}

fn ctx(n: u32) -> ArrayCtx {
    let mut slots = ArrayVec::new();
    for s in 0..n {
        slots.push(SlotInfo {
            slot: s,
            dev: DevT { major: 7, minor: s },
            recovery_start: MAX_SECTOR,
            state: DevState(DevState::INSYNC),
        });
    }
    ArrayCtx::new(0, 1, 0, n, 32768, slots)
}

fn input(state: ArrayState, action: SyncAction, n: usize) -> Inputs {
    let mut devs = ArrayVec::new();
    for _ in 0..n {
        devs.push(DevInput { state: DevState(DevState::INSYNC), recovery_start: Some(MAX_SECTOR) });
    }
    Inputs {
        array_state: state,
        sync_action: action,
        resync_start: Some(MAX_SECTOR),
        sync_completed: 0,
        blocked: false,
        reshape_finished: false,
        devs,
    }
}

#[test]
fn write_pending_marks_dirty_then_active() {
    let mut mon = ArrayMon::new(ctx(2));
    let mut md = Recorder::default();
    mon.prev_state = ArrayState::Clean;
    let act = read_and_act(&mut mon, &input(ArrayState::WritePending, SyncAction::Idle, 2), &mut md);
    assert_eq!(act.next_state, Some(ArrayState::Active));
    assert!(act.dirty);
    assert!(md.dirty, "metadata must be dirty before the kernel is told active");
    assert!(md.pending);
}

#[test]
fn active_idle_waits_for_clean_before_marking_metadata_clean() {
    let mut mon = ArrayMon::new(ctx(2));
    let mut md = Recorder { dirty: true, ..Default::default() };
    mon.prev_state = ArrayState::Active;
    let act = read_and_act(&mut mon, &input(ArrayState::ActiveIdle, SyncAction::Idle, 2), &mut md);
    assert_eq!(act.next_state, Some(ArrayState::Clean));
    assert!(md.dirty, "still dirty until the kernel reports clean");
    assert!(md.calls.is_empty());
    let act = read_and_act(&mut mon, &input(ArrayState::Clean, SyncAction::Idle, 2), &mut md);
    assert_eq!(act.next_state, None);
    assert!(!act.dirty);
    assert!(!md.dirty);
}

#[test]
fn readonly_start_goes_read_auto_when_consistent_and_active_otherwise() {
    let mut mon = ArrayMon::new(ctx(2));
    let mut md = Recorder { starting_clean: true, ..Default::default() };
    let act = read_and_act(&mut mon, &input(ArrayState::Readonly, SyncAction::Idle, 2), &mut md);
    assert_eq!(act.next_state, Some(ArrayState::ReadAuto));
    let mut mon = ArrayMon::new(ctx(2));
    let mut md = Recorder { starting_clean: false, ..Default::default() };
    let act = read_and_act(&mut mon, &input(ArrayState::Readonly, SyncAction::Idle, 2), &mut md);
    assert_eq!(act.next_state, Some(ArrayState::Active));
    assert!(act.dirty);
}

#[test]
fn blocked_readonly_member_is_left_alone() {
    let mut mon = ArrayMon::new(ctx(2));
    let mut md = Recorder::default();
    let mut inp = input(ArrayState::Readonly, SyncAction::Idle, 2);
    inp.blocked = true;
    let act = read_and_act(&mut mon, &inp, &mut md);
    assert_eq!(act.next_state, None);
    assert!(md.calls.is_empty());
}

#[test]
fn stopped_array_is_marked_clean_and_cleared() {
    let mut mon = ArrayMon::new(ctx(2));
    let mut md = Recorder { dirty: true, ..Default::default() };
    mon.prev_state = ArrayState::Active;
    let act = read_and_act(&mut mon, &input(ArrayState::Inactive, SyncAction::Idle, 2), &mut md);
    assert_eq!(act.next_state, Some(ArrayState::Clear));
    assert!(act.deactivate);
    assert!(!md.dirty);
    // A never-started (inactive -> inactive) array is not torn down.
    let mut mon = ArrayMon::new(ctx(2));
    let act = read_and_act(&mut mon, &input(ArrayState::Inactive, SyncAction::Idle, 2), &mut md);
    assert!(!act.deactivate);
}

#[test]
fn resync_progress_is_checkpointed_and_end_is_reported() {
    let mut mon = ArrayMon::new(ctx(2));
    let mut md = Recorder::default();
    mon.prev_state = ArrayState::Active;
    let mut inp = input(ArrayState::Active, SyncAction::Resync, 2);
    inp.sync_completed = 1024;
    let act = read_and_act(&mut mon, &inp, &mut md);
    assert!(act.dirty);
    assert_eq!(mon.ctx.last_checkpoint, 1024);
    assert_eq!(md.calls.last().map(String::as_str), Some("state Dirty ckpt 1024"));
    // No progress: no new checkpoint call.
    let n = md.calls.len();
    read_and_act(&mut mon, &inp, &mut md);
    assert_eq!(md.calls.len(), n);
    // Resync ends: G fires and asks the manager to look at degraded slots.
    let mut done = input(ArrayState::Active, SyncAction::Idle, 2);
    done.sync_completed = 0;
    let act = read_and_act(&mut mon, &done, &mut md);
    assert!(act.check_degraded);
    assert!(md.calls.iter().any(|c| c.starts_with("state Dirty")));
}

#[test]
fn finished_sync_resets_checkpoint() {
    let mut mon = ArrayMon::new(ctx(2));
    let mut md = Recorder::default();
    let mut inp = input(ArrayState::Active, SyncAction::Resync, 2);
    inp.sync_completed = 32768;
    read_and_act(&mut mon, &inp, &mut md);
    assert_eq!(mon.ctx.last_checkpoint, 0);
}

#[test]
fn faulty_member_is_recorded_unblocked_and_removed() {
    let mut mon = ArrayMon::new(ctx(2));
    let mut md = Recorder::default();
    mon.prev_state = ArrayState::Active;
    let mut inp = input(ArrayState::Active, SyncAction::Idle, 2);
    inp.devs[1].state = DevState(DevState::FAULTY | DevState::BLOCKED);
    let act = read_and_act(&mut mon, &inp, &mut md);
    assert_eq!(md.calls, vec![format!("disk 1 {}", DevState::FAULTY | DevState::BLOCKED)]);
    assert_eq!(act.unblock.as_slice(), &[1]);
    assert_eq!(act.remove.as_slice(), &[1]);
    assert!(act.check_degraded);
}

#[test]
fn faulty_member_of_read_auto_array_makes_it_active() {
    let mut mon = ArrayMon::new(ctx(2));
    let mut md = Recorder::default();
    mon.prev_state = ArrayState::ReadAuto;
    let mut inp = input(ArrayState::ReadAuto, SyncAction::Idle, 2);
    inp.devs[0].state = DevState(DevState::FAULTY);
    let act = read_and_act(&mut mon, &inp, &mut md);
    assert_eq!(act.next_state, Some(ArrayState::Active));
    assert!(md.dirty);
    assert_eq!(act.remove.as_slice(), &[0]);
}

#[test]
fn recovery_end_reports_every_member() {
    let mut mon = ArrayMon::new(ctx(2));
    let mut md = Recorder::default();
    mon.prev_state = ArrayState::Active;
    mon.ctx.prev_action = SyncAction::Recover;
    let mut inp = input(ArrayState::Active, SyncAction::Idle, 2);
    inp.devs[1].state = DevState(0);
    let act = read_and_act(&mut mon, &inp, &mut md);
    assert_eq!(md.calls.iter().filter(|c| c.starts_with("disk")).count(), 2);
    assert!(act.check_degraded, "a member not in sync leaves the array degraded");
}

#[test]
fn reshape_start_asks_manager_for_new_devices() {
    let mut mon = ArrayMon::new(ctx(2));
    let mut md = Recorder::default();
    let act = read_and_act(&mut mon, &input(ArrayState::Active, SyncAction::Reshape, 2), &mut md);
    assert!(act.check_reshape);
    let act = read_and_act(&mut mon, &input(ArrayState::Active, SyncAction::Reshape, 2), &mut md);
    assert!(!act.check_reshape);
}

#[test]
fn watchdog_rearms_only_an_array_left_active() {
    use crate::monitor::{watchdog, WATCHDOG_TICKS};
    // Not active: nothing to re-arm, and the count starts again.
    for s in [ArrayState::Clean, ArrayState::ActiveIdle, ArrayState::WritePending, ArrayState::Readonly] {
        assert_eq!(watchdog(s, 1, Some(5000)), (0, false), "{s:?}");
    }
    // Active: the first quiet period counts, the next re-arms.
    let mut ticks = 0;
    let mut nudges = 0;
    for _ in 0..WATCHDOG_TICKS {
        let (t, n) = watchdog(ArrayState::Active, ticks, Some(5000));
        ticks = t;
        nudges += usize::from(n);
    }
    assert_eq!((ticks, nudges), (0, 1));
    assert_eq!(watchdog(ArrayState::Active, 0, Some(5000)), (1, false));
    // Safe mode switched off by the administrator: the array stays active.
    assert_eq!(watchdog(ArrayState::Active, 5, Some(0)), (0, false));
    // Delay unreadable: never write a guess.
    assert_eq!(watchdog(ArrayState::Active, WATCHDOG_TICKS, None).1, false);
}

const BB_BLOCKED: u16 = DevState::INSYNC | DevState::BLOCKED | DevState::EXTERNAL_BB;

/// One pass over a clean RAID1 whose member 1 has `state`, then the
/// bad-block decision for it with md's lists `all` and `unacked`.
fn bb_pass(md: &mut Recorder, state: u16, all: Option<&[BadRange]>, unacked: Option<&[BadRange]>) -> Actions {
    let mut mon = ArrayMon::new(ctx(2));
    mon.prev_state = ArrayState::Clean;
    let mut inp = input(ArrayState::Clean, SyncAction::Idle, 2);
    inp.devs[1].state = DevState(state);
    let mut act = read_and_act(&mut mon, &inp, md);
    let mut scratch = BbList::new();
    bad_blocks_act(&mon, 1, BadBlocksRead { all, unacked }, md, &mut scratch, &mut act);
    act
}

const BAD: BadRange = BadRange { start: 16384, len: 64 };

#[test]
fn bad_block_is_recorded_then_acknowledged_not_failed() {
    let mut md = Recorder { log: Some(Vec::new()), log_room: 254, ..Default::default() };
    let act = bb_pass(&mut md, BB_BLOCKED, Some(&[BAD]), Some(&[BAD]));
    assert_eq!(&act.bb_ack[..], &[1]);
    assert!(act.bb_off.is_empty() && act.unblock.is_empty() && act.remove.is_empty());
    assert!(!act.check_degraded, "a bad block is not a failure");
    assert_eq!(md.log.as_deref(), Some(&[(1, BAD)][..]));
    assert!(md.pending, "the metadata is written before the acknowledgement");
    assert!(!md.calls.iter().any(|c| c.starts_with("disk")), "set_disk not called: {:?}", md.calls);
}

#[test]
fn acknowledged_range_needs_nothing_and_a_cleared_one_leaves_the_log() {
    let mut md = Recorder { log: Some(vec![(1, BAD)]), log_room: 254, ..Default::default() };
    let act = bb_pass(&mut md, DevState::INSYNC | DevState::EXTERNAL_BB, Some(&[BAD]), None);
    assert!(act.bb_ack.is_empty() && act.bb_off.is_empty() && act.unblock.is_empty());
    assert!(!md.pending);
    let act = bb_pass(&mut md, DevState::INSYNC | DevState::EXTERNAL_BB, Some(&[]), None);
    assert!(act.bb_ack.is_empty() && act.bb_off.is_empty());
    assert_eq!(md.log.as_deref(), Some(&[][..]));
    assert!(md.pending);
}

#[test]
fn full_log_turns_external_bbl_off() {
    let mut md = Recorder { log: Some(vec![(1, BadRange { start: 8, len: 1 })]), log_room: 1, ..Default::default() };
    let all = [BadRange { start: 8, len: 1 }, BAD];
    let act = bb_pass(&mut md, BB_BLOCKED, Some(&all), Some(&[BAD]));
    assert_eq!(&act.bb_off[..], &[1]);
    assert!(act.bb_ack.is_empty());
}

#[test]
fn format_without_a_log_turns_external_bbl_off() {
    let mut md = Recorder::default();
    let act = bb_pass(&mut md, BB_BLOCKED, Some(&[BAD]), Some(&[BAD]));
    assert_eq!(&act.bb_off[..], &[1]);
    // Even when nothing is blocked: md must never wait on us.
    let act = bb_pass(&mut md, DevState::INSYNC | DevState::EXTERNAL_BB, Some(&[]), None);
    assert_eq!(&act.bb_off[..], &[1]);
}

#[test]
fn unreadable_unacknowledged_list_while_blocked_turns_external_bbl_off() {
    let mut md = Recorder { log: Some(Vec::new()), log_room: 254, ..Default::default() };
    let act = bb_pass(&mut md, BB_BLOCKED, Some(&[BAD]), None);
    assert_eq!(&act.bb_off[..], &[1]);
}

#[test]
fn blocked_without_external_bbl_is_unblocked_for_md_to_decide() {
    let mut md = Recorder::default();
    let act = bb_pass(&mut md, DevState::INSYNC | DevState::BLOCKED, None, None);
    assert_eq!(&act.unblock[..], &[1]);
    assert!(act.remove.is_empty() && act.bb_off.is_empty() && act.bb_ack.is_empty());
}

#[test]
fn failed_member_with_external_bbl_is_a_failure_not_a_bad_block() {
    let mut md = Recorder { log: Some(Vec::new()), log_room: 254, ..Default::default() };
    let act = bb_pass(&mut md, DevState::FAULTY | BB_BLOCKED, Some(&[BAD]), Some(&[BAD]));
    assert_eq!(&act.unblock[..], &[1]);
    assert_eq!(&act.remove[..], &[1]);
    assert!(act.bb_ack.is_empty() && act.bb_off.is_empty());
    assert_eq!(md.log.as_deref(), Some(&[][..]));
}

#[test]
fn stopping_array_keeps_its_log() {
    let mut md = Recorder { log: Some(vec![(1, BAD)]), log_room: 254, ..Default::default() };
    let mut mon = ArrayMon::new(ctx(2));
    mon.prev_state = ArrayState::Clean;
    let mut inp = input(ArrayState::Inactive, SyncAction::Idle, 2);
    inp.devs[1].state = DevState(DevState::INSYNC | DevState::EXTERNAL_BB);
    let mut act = read_and_act(&mut mon, &inp, &mut md);
    assert!(act.deactivate);
    let mut scratch = BbList::new();
    bad_blocks_act(&mon, 1, BadBlocksRead { all: Some(&[]), unacked: None }, &mut md, &mut scratch, &mut act);
    assert_eq!(md.log.as_deref(), Some(&[(1, BAD)][..]), "md's empty list while stopping clears nothing");
    assert!(act.bb_off.is_empty() && act.bb_ack.is_empty());
}

/// Found by the imsm_disks fuzz target: a RAID10's resync length overflowed
/// for a huge component size; it saturates.
#[test]
fn raid10_sync_size_saturates() {
    let a = ArrayCtx::new(0, 10, 0x102, 4, u64::MAX / 2, ArrayVec::new());
    assert_eq!(a.sync_size(), u64::MAX / 2);
}
