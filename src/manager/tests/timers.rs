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

#[test]
fn a_refused_removal_in_the_fake_md_arms_the_retry_and_the_retry_removes_it() {
    use super::fake::*;
    let mut k = Kernel::default();
    k.array(0, &[dev(0), dev(1)]);
    k.refuse.push((0, dev(0)));
    let mut s = Sim::new(k, FakeMd::default());
    s.now = 5000;
    s.kernel.fail(0, dev(0));
    s.monitor_pass();
    s.duties();
    assert_eq!(s.jobs.len(), 1);
    s.finish_job(0);
    assert_eq!(s.refused, 1);
    assert_eq!(s.core.next_deadline(), Some(5000 + REMOVAL_RETRY_MS));
    // The loop sleeps at most until the retry, not the watchdog period.
    let t = s.core.poll_timeout(5020, false, Some(6000));
    assert_eq!(t, Timeout { ms: Some(80), watchdog: false });
    s.now = 5100;
    let t = s.core.poll_timeout(5100, false, Some(6000));
    assert_eq!(t, Timeout { ms: Some(6000), watchdog: true }, "due: dropped, back to the watchdog");
    assert_eq!(s.core.next_deadline(), None, "handled");
    s.duties();
    assert_eq!(s.jobs.len(), 1, "resubmitted");
    s.finish_job(0);
    assert!(s.kernel.arrays[0].members.iter().all(|m| m.dev != dev(0)));
}
