//! The removal retry deadline and the poll timeout.

use crate::manager::timers::{Timeout, Timers, IDLE_MS, REMOVAL_RETRY_MS};

#[test]
fn no_arrays_polls_briefly() {
    let t = Timers::default();
    assert_eq!(t.poll_timeout(0, true, Some(6000)), Timeout { ms: Some(IDLE_MS), watchdog: false });
}

#[test]
fn watchdog_period_when_nothing_is_due() {
    let t = Timers::default();
    assert_eq!(t.poll_timeout(0, false, Some(6000)), Timeout { ms: Some(6000), watchdog: true });
    assert_eq!(t.poll_timeout(0, false, None), Timeout { ms: None, watchdog: false });
}

#[test]
fn a_refused_removal_is_due_after_100_ms() {
    let mut t = Timers::default();
    t.removal_refused(1000);
    assert_eq!(t.next_deadline(), Some(1000 + REMOVAL_RETRY_MS));
    assert_eq!(t.poll_timeout(1030, false, Some(6000)), Timeout { ms: Some(70), watchdog: false });
    // A second refusal does not push the deadline back.
    t.removal_refused(1050);
    assert_eq!(t.next_deadline(), Some(1100));
    assert!(!t.handle_timeout(1099));
    assert!(t.handle_timeout(1100));
    assert_eq!(t.next_deadline(), None);
    assert_eq!(t.poll_timeout(1100, false, Some(6000)), Timeout { ms: Some(6000), watchdog: true });
}

#[test]
fn an_overdue_deadline_polls_without_waiting() {
    let mut t = Timers::default();
    t.removal_refused(0);
    assert_eq!(t.poll_timeout(500, false, None).ms, Some(0));
}
