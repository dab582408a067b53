//! Which members of a newly found array resume at their checkpoints, and
//! what the re-adds' results make of its tracking.

use super::fake::*;
use crate::manager::resume::{plan, Readded, Resume};
use crate::md::{DevState, MAX_SECTOR};
use crate::metadata::{ArrayCtx, SlotInfo};

fn ctx(recovery: &[u64]) -> ArrayCtx {
    let slots = recovery.iter().enumerate().map(|(i, &r)| SlotInfo {
        slot: i as u32,
        dev: dev(i as u32),
        recovery_start: r,
        state: DevState(0),
    });
    ArrayCtx::new(0, 10, 0x102, recovery.len() as u32, EXTENT, slots.collect())
}

fn two_checkpoints() -> FakeMd {
    FakeMd { checkpoints: vec![((0, 1), 4096), ((0, 2), 8192)], ..FakeMd::default() }
}

#[test]
fn several_rebuilding_members_each_resume_at_their_checkpoint() {
    // RAID10 with two members rebuilding (mdadm starts both at 0), one in sync.
    let c = ctx(&[MAX_SECTOR, 0, 0, MAX_SECTOR]);
    let p = plan(&c, &two_checkpoints(), true);
    assert_eq!(&p.readd[..], &[(1, 4096), (2, 8192)]);
    assert!(p.already.is_empty());
}

#[test]
fn a_member_md_already_resumes_is_left_alone() {
    // mdadm set recovery_start for a single rebuilding member.
    let c = ctx(&[MAX_SECTOR, 4096]);
    let md = FakeMd { checkpoints: vec![((0, 1), 4096)], ..FakeMd::default() };
    let p = plan(&c, &md, true);
    assert!(p.readd.is_empty());
    assert_eq!(&p.already[..], &[(1, 4096, 4096)]);
}

#[test]
fn no_checkpoint_no_resume() {
    let p = plan(&ctx(&[0, 0]), &FakeMd::default(), true);
    assert!(p.readd.is_empty() && p.already.is_empty());
}

#[test]
fn an_array_md_already_runs_is_not_touched() {
    // Once writable, md has started its rebuilds: a re-add would restart one.
    let c = ctx(&[MAX_SECTOR, 0, 0, MAX_SECTOR]);
    let p = plan(&c, &two_checkpoints(), false);
    assert!(p.readd.is_empty() && p.already.is_empty());
}

#[test]
fn results_in_any_order_set_each_checkpoint_once_all_have_ended() {
    let mut c = ctx(&[MAX_SECTOR, 0, 0, MAX_SECTOR]);
    let mut r = Resume::default();
    r.submitted(1, 4096, 7);
    r.submitted(2, 8192, 8);
    assert!(!r.is_empty());
    assert!(r.done(8, Readded::Back));
    assert!(!r.finished(), "one re-add still in flight");
    assert!(!r.done(8, Readded::Back), "a result counts once");
    assert!(!r.done(9, Readded::Back), "not one of these jobs");
    assert_eq!(r.job(7), Some((1, 4096)));
    assert!(r.done(7, Readded::Back));
    assert!(r.finished());
    let o = r.finish(&mut c);
    assert_eq!(&o.resumed[..], &[(1, 4096), (2, 8192)]);
    assert!(o.gone.is_empty() && o.kept.is_empty() && !o.check_degraded());
    let at: Vec<_> = c.slots.iter().map(|s| s.recovery_start).collect();
    assert_eq!(at, vec![MAX_SECTOR, 4096, 8192, MAX_SECTOR]);
}

#[test]
fn failed_readds_keep_the_member_or_drop_it_if_it_left() {
    let mut c = ctx(&[MAX_SECTOR, 0, 0, 0]);
    let mut r = Resume::default();
    r.submitted(1, 4096, 1);
    r.submitted(2, 8192, 2);
    r.submitted(3, 100, 3);
    r.done(1, Readded::Failed { left: true });
    r.done(2, Readded::Failed { left: false });
    r.done(3, Readded::Failed { left: true });
    let o = r.finish(&mut c);
    assert!(o.resumed.is_empty());
    assert_eq!(&o.kept[..], &[(2, 8192)]);
    assert_eq!(&o.gone[..], &[3, 1], "dropped highest index first");
    assert!(o.check_degraded(), "a slot left: it asks for a spare");
    let at: Vec<_> = c.slots.iter().map(|s| s.recovery_start).collect();
    assert_eq!(at, vec![MAX_SECTOR, 0, 0, 0], "no checkpoint set for a failed re-add");
}
