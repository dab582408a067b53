//! Level changes, array_size growth, release.

use super::fake::*;
use crate::manager::decide::*;
use crate::monitor::Actions;

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
