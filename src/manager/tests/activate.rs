//! Spare activation as the daemon executes it: the adds go to the
//! executor, their results come back, the core records the spares and
//! starts recovery (also through the executor).

use super::fake::*;
use crate::manager::spares::Hold;
use crate::md::SyncAction;

/// Volume `inst` on disks 0-2 with `missing` of disks 1, 2 failed; disks
/// 3 and 4 are spares with room for one extent each.
fn degraded(inst: u32, missing: usize) -> Sim {
    let mut k = Kernel::default();
    let disks: Vec<_> = (0..3).map(dev).collect();
    k.array(inst, &disks);
    let mut s = Sim::new(k, FakeMd::with_spares(&[dev(3), dev(4)], 1));
    for d in 0..missing {
        s.kernel.fail(0, dev(d as u32 + 1));
    }
    s
}

/// Steps the loop (finishing the oldest job each time) until the
/// executor holds a job `what` accepts.
fn until(s: &mut Sim, what: impl Fn(&Job) -> bool) {
    for _ in 0..10 {
        s.monitor_pass();
        s.duties();
        if s.jobs.iter().any(&what) {
            return;
        }
        if !s.jobs.is_empty() {
            s.finish_job(0);
        }
    }
    panic!("no such job: {:?}", s.jobs);
}

fn is_add(j: &Job) -> bool {
    matches!(j.kind, JobKind::Add(_))
}

#[test]
fn spares_join_through_the_executor_and_are_recorded_once_all_results_are_in() {
    let mut s = degraded(0, 2);
    until(&mut s, is_add);
    assert_eq!(s.kernel.arrays[0].sync_action, SyncAction::Frozen, "frozen before any add");
    assert_eq!(s.jobs.iter().filter(|j| is_add(j)).count(), 2);
    // One add ends; nothing is recorded yet.
    s.finish_job(0);
    s.monitor_pass();
    s.duties();
    assert!(s.md.spares.iter().all(|(_, c)| c.is_empty()), "recorded before every result was in");
    s.finish_job(0);
    s.monitor_pass();
    s.duties();
    assert_eq!(s.md.spares.iter().map(|(_, c)| c.len()).sum::<usize>(), 2);
    assert_eq!(s.jobs.iter().map(|j| j.kind).collect::<Vec<_>>(), vec![JobKind::Recover]);
    s.finish_job(0);
    assert_eq!(s.kernel.arrays[0].sync_action, SyncAction::Recover);
    assert_eq!(s.arrays[0].activation, Activation::None);
}

#[test]
fn a_refused_add_is_not_recorded_and_the_other_pick_still_rebuilds() {
    let mut s = degraded(0, 2);
    s.kernel.refuse_add.push(dev(3));
    s.run(|_| Some(0));
    assert_eq!(s.extents(dev(3)), vec![], "refused: not tracked");
    assert_eq!(s.extents(dev(4)).len(), 1);
    let claims: Vec<_> = s.md.spares.iter().map(|(d, c)| (*d, c.len())).collect();
    assert_eq!(claims, vec![(dev(3), 0), (dev(4), 1)], "only the spare that joined is recorded");
    assert!(s.kernel.arrays[0].members.iter().all(|m| m.dev != dev(3)));
    assert_eq!(s.kernel.arrays[0].sync_action, SyncAction::Recover);
}

#[test]
fn every_add_refused_leaves_the_array_idle() {
    let mut s = degraded(0, 1);
    s.kernel.refuse_add.push(dev(3));
    s.run(|_| Some(0));
    assert!(s.added.is_empty());
    assert!(s.md.spares.iter().all(|(_, c)| c.is_empty()));
    assert_eq!(s.kernel.arrays[0].sync_action, SyncAction::Idle, "unfrozen");
}

#[test]
fn a_recovery_that_ends_before_any_pass_sees_it_is_reported() {
    let mut s = degraded(0, 1);
    until(&mut s, is_add);
    s.finish_job(0);
    // The monitor passes while `recover` waits in the executor.
    until(&mut s, |j| j.kind == JobKind::Recover);
    s.monitor_pass();
    s.finish_job(0);
    // md recovers the new member completely before the next pass.
    s.kernel.finish_recovery(0);
    s.monitor_pass();
    let slot = s.arrays[0].mon.ctx.slots.iter().find(|m| m.dev == dev(3)).map(|m| m.slot);
    assert_eq!(slot, Some(1));
    assert!(s.md.in_sync.contains(&(0, 1)), "rebuilt member reported in sync: {:?}", s.md.in_sync);
}

#[test]
fn a_second_array_waits_for_the_first_activation_and_takes_the_next_extent() {
    let mut k = Kernel::default();
    k.array(0, &[dev(0), dev(1)]);
    k.array(1, &[dev(0), dev(2)]);
    let mut s = Sim::new(k, FakeMd::with_spares(&[dev(3)], 2));
    s.kernel.fail(0, dev(0));
    // Both removals end; array 0 lost its member first.
    until(&mut s, is_add);
    assert_eq!(s.jobs.iter().filter(|j| is_add(j)).map(|j| j.array).collect::<Vec<_>>(), vec![0]);
    s.monitor_pass();
    s.duties();
    assert_eq!(s.holds.last(), Some(&Hold::Activating(0)), "array 1 waits");
    s.run(|_| Some(0));
    assert_eq!(s.extents(dev(3)), vec![(0, 0), (1, EXTENT)]);
}

#[test]
fn sigterm_keeps_an_array_until_its_spares_are_recorded() {
    let mut s = degraded(0, 1);
    until(&mut s, is_add);
    s.exiting = true;
    s.monitor_pass();
    assert!(s.released.is_empty(), "clean, but spares are being added");
    s.finish_job(0);
    s.monitor_pass();
    s.duties();
    assert_eq!(s.md.spares[0].1, vec![0], "recorded while exiting");
    s.finish_job(0);
    s.monitor_pass();
    assert_eq!(s.released, vec![0]);
}
