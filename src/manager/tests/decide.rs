//! Resume points, level changes, array_size growth, release.

use super::fake::*;
use crate::manager::decide::*;
use crate::md::{DevState, MAX_SECTOR};
use crate::metadata::{ArrayCtx, SlotInfo};
use crate::monitor::Actions;

fn ctx(recovery: &[u64]) -> ArrayCtx {
    let slots = recovery.iter().enumerate().map(|(i, &r)| SlotInfo {
        slot: i as u32,
        dev: dev(i as u32),
        recovery_start: r,
        state: DevState(0),
    });
    ArrayCtx::new(0, 10, 0x102, recovery.len() as u32, EXTENT, slots.collect())
}

#[test]
fn several_rebuilding_members_each_resume_at_their_checkpoint() {
    // RAID10 with two members rebuilding (mdadm starts both at 0), one in sync.
    let c = ctx(&[MAX_SECTOR, 0, 0, MAX_SECTOR]);
    let md = FakeMd { checkpoints: vec![((0, 1), 4096), ((0, 2), 8192)], ..FakeMd::default() };
    assert_eq!(
        &resume_plan(&c, &md)[..],
        &[Resume::Readd { member: 1, pos: 4096 }, Resume::Readd { member: 2, pos: 8192 }]
    );
}

#[test]
fn a_member_md_already_resumes_is_left_alone() {
    // mdadm set recovery_start for a single rebuilding member.
    let c = ctx(&[MAX_SECTOR, 4096]);
    let md = FakeMd { checkpoints: vec![((0, 1), 4096)], ..FakeMd::default() };
    assert_eq!(&resume_plan(&c, &md)[..], &[Resume::AlreadyAt { member: 1, at: 4096, pos: 4096 }]);
}

#[test]
fn no_checkpoint_no_resume() {
    let c = ctx(&[0, 0]);
    assert!(resume_plan(&c, &FakeMd::default()).is_empty());
}

#[test]
fn level_changes() {
    assert_eq!(level_change("raid1", 1), LevelChange::Keep);
    assert_eq!(level_change("", 1), LevelChange::Keep);
    assert_eq!(level_change("raid5", 1), LevelChange::Reopen);
    assert_eq!(level_change("raid0", 10), LevelChange::Drop);
    assert_eq!(level_change("linear", 1), LevelChange::Drop);
    assert_eq!(parse_level("raid10"), Some(10));
    assert_eq!(parse_level("raid"), None);
}

#[test]
fn array_size_grows_only_to_a_larger_size_once() {
    assert_eq!(grow_to(2048, Some(512), false), Some(1024));
    assert_eq!(grow_to(2048, Some(512), true), None, "a write in flight");
    assert_eq!(grow_to(2048, Some(1024), false), None, "already that size");
    assert_eq!(grow_to(0, Some(1024), false), None, "no size in the metadata");
    assert_eq!(grow_to(2048, None, false), None, "unreadable");
}

#[test]
fn release_on_stop_or_clean_exit() {
    let mut act = Actions::default();
    assert!(!release(&act, false, false));
    assert!(release(&act, true, false), "exiting, clean");
    assert!(!release(&act, true, true), "exiting, clean, spares being added: wait");
    act.dirty = true;
    assert!(!release(&act, true, false), "exiting, dirty: wait");
    act.deactivate = true;
    assert!(release(&act, false, false));
    assert!(release(&act, true, true), "stopped: released even while spares are added");
}

#[test]
fn exit_decisions() {
    assert_eq!(exit_check(true, true), Exit::Stay);
    assert_eq!(exit_check(true, false), Exit::Stay);
    assert_eq!(exit_check(false, true), Exit::Terminated);
    assert_eq!(exit_check(false, false), Exit::IfContainerReleased);
}

#[test]
fn sigterm_releases_clean_arrays_at_once_and_active_ones_once_clean() {
    use crate::md::ArrayState;
    let mut k = Kernel::default();
    k.array(0, &[dev(0), dev(1)]);
    k.array(1, &[dev(0), dev(1)]);
    let mut s = Sim::new(k, FakeMd::with_spares(&[dev(3)], 2));
    // Array 1 has writes in flight.
    s.kernel.arrays[1].array_state = ArrayState::Active;
    s.monitor_pass();
    s.exiting = true;
    s.monitor_pass();
    assert_eq!(s.released, vec![0], "the clean array goes, the active one stays");
    assert_eq!(exit_check(!s.arrays.is_empty(), s.exiting), Exit::Stay);
    // A failure while exiting is recorded, but no spare is activated.
    s.kernel.fail(1, dev(0));
    s.monitor_pass();
    s.duties();
    assert_eq!(s.md.log, vec!["fail inst 1 slot 0"]);
    assert!(s.added.is_empty());
    // The writes end: md's safe-mode timer makes it clean.
    s.kernel.arrays[1].array_state = ArrayState::Clean;
    s.monitor_pass();
    assert_eq!(s.released, vec![0, 1]);
    assert_eq!(exit_check(!s.arrays.is_empty(), s.exiting), Exit::Terminated);
}
