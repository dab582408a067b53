//! Spare activation: order with several degraded arrays, and the hold
//! while removals are in flight.

use super::fake::*;
use crate::manager::spares::{order, Hold};
use crate::manager::ArrayView;
use crate::md::MAX_SECTOR;
use crate::metadata::{ArrayCtx, SlotInfo};
use arrayvec::ArrayVec;

/// Two volumes sharing disks 0 and 1 (as ddf.sh's two-volumes: a RAID1 on
/// 0-1, a RAID5 on 0-2), disk 3 a spare with room for both.
fn two_volumes() -> Sim {
    let mut k = Kernel::default();
    k.array(0, &[dev(0), dev(1)]);
    k.array(1, &[dev(0), dev(1), dev(2)]);
    Sim::new(k, FakeMd::with_spares(&[dev(3)], 2))
}

#[test]
fn shared_disk_failure_gives_the_spare_in_failure_order_whichever_removal_ends_first() {
    for first in ["r1", "r5"] {
        let mut s = two_volumes();
        s.kernel.fail(0, dev(0));
        // r5 (array 1) finishes its removal first, or r1 does.
        let want = if first == "r1" { 0 } else { 1 };
        // The helper finishes nothing until both are in flight.
        let mut both = false;
        s.run(|jobs| {
            both |= jobs.len() == 2;
            both.then(|| jobs.iter().position(|j| j.array == want).unwrap_or(0))
        });
        assert!(s.fanned.contains(&(1, dev(0), crate::manager::failures::Why::FailedElsewhere)));
        assert_eq!(s.extents(dev(3)), vec![(0, 0), (1, EXTENT)], "removal of {first} ended first");
        assert!(s.kernel.arrays.iter().all(|a| a.members.iter().all(|m| m.dev != dev(0))));
        // What md was told: r1's data at the spare's start.
        let offset = |k: usize| s.kernel.arrays[k].members.iter().find(|m| m.dev == dev(3)).map(|m| m.offset);
        assert_eq!((offset(0), offset(1)), (Some(0), Some(EXTENT)));
    }
}

#[test]
fn a_refused_removal_holds_every_array_and_changes_nothing() {
    let mut s = two_volumes();
    s.kernel.fail(0, dev(0));
    // r1's removal is refused once: r5's ends long before r1's.
    s.kernel.refuse.push((0, dev(0)));
    s.run(|jobs| jobs.iter().position(|j| j.array == 1).or(if jobs.len() == 1 { Some(0) } else { None }));
    assert!(s.kernel.refuse.is_empty(), "md refused once");
    assert_eq!(s.refused, 1);
    assert_eq!(s.extents(dev(3)), vec![(0, 0), (1, EXTENT)]);
}

#[test]
fn failure_in_the_second_volume_first_serves_it_first() {
    let mut s = two_volumes();
    s.kernel.fail(1, dev(1));
    s.run(|_| Some(0));
    assert_eq!(s.extents(dev(3)), vec![(1, 0), (0, EXTENT)]);
}

#[test]
fn three_arrays_two_spares_each_array_gets_one() {
    let mut k = Kernel::default();
    k.array(0, &[dev(0), dev(1)]);
    k.array(1, &[dev(0), dev(1), dev(2)]);
    k.array(2, &[dev(0), dev(2)]);
    let mut s = Sim::new(k, FakeMd::with_spares(&[dev(3), dev(4)], 2));
    s.kernel.fail(2, dev(0));
    // Jobs wait until all three are in flight; the last submitted ends first.
    let mut all_in_flight = false;
    s.run(|jobs| {
        all_in_flight |= jobs.len() == 3;
        all_in_flight.then(|| jobs.len() - 1)
    });
    // Array 2 failed first; the others follow in array order (their
    // failure came from the fan-out in the same pass).
    let mut got = s.extents(dev(3));
    got.extend(s.extents(dev(4)));
    assert_eq!(got, vec![(2, 0), (0, EXTENT), (1, 0)]);
}

fn ctx(inst: u32, n: u32) -> ArrayCtx {
    let slots =
        (0..n).map(|i| SlotInfo { slot: i, dev: dev(i), recovery_start: MAX_SECTOR, state: Default::default() });
    ArrayCtx::new(inst, 1, 0, n, EXTENT, slots.collect())
}

fn view(c: &ArrayCtx, leaving: bool, check: bool, failed_at: Option<u64>) -> ArrayView<'_> {
    let mut l: ArrayVec<Leave, 32> = c.slots.iter().map(|_| Leave::No).collect();
    if leaving {
        l[0] = Leave::Wanted;
    }
    ArrayView { ctx: c, leaving: l, check_degraded: check, failed_at, sync_idle: true, activating: false }
}

#[test]
fn order_is_by_failure_then_array_order_and_skips_arrays_not_asking() {
    let (a, b, c, d) = (ctx(0, 2), ctx(1, 2), ctx(2, 2), ctx(3, 2));
    let views = [
        view(&a, false, true, None),
        view(&b, false, true, Some(7)),
        view(&c, false, false, None),
        view(&d, false, true, Some(3)),
    ];
    assert_eq!(&order(&views, false).unwrap()[..], &[3, 1, 0]);
}

#[test]
fn any_removal_holds_all_and_exit_holds_all() {
    let (a, b) = (ctx(0, 2), ctx(1, 2));
    let views = [view(&a, false, true, Some(1)), view(&b, true, false, Some(2))];
    assert_eq!(order(&views, false), Err(Hold::Removing(1)));
    let views = [view(&a, false, true, Some(1))];
    assert_eq!(order(&views, true), Err(Hold::Exiting));
    assert_eq!(&order(&views, false).unwrap()[..], &[0]);
}

#[test]
fn spares_being_added_to_one_array_hold_the_others() {
    let (a, b) = (ctx(0, 2), ctx(1, 2));
    let mut busy = view(&b, false, false, None);
    busy.activating = true;
    let views = [view(&a, false, true, Some(1)), busy];
    assert_eq!(order(&views, false), Err(Hold::Activating(1)));
}
