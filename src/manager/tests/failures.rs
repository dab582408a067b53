//! Failure fan-out.

use super::fake::*;
use crate::manager::failures::{fan_out, Fail, Why};
use crate::manager::ArrayView;
use crate::md::{DevState, MAX_SECTOR};
use crate::metadata::{ArrayCtx, DevT, SlotInfo};

fn ctx(inst: u32, disks: &[(u32, u16)]) -> ArrayCtx {
    let slots = disks.iter().enumerate().map(|(i, &(d, st))| SlotInfo {
        slot: i as u32,
        dev: dev(d),
        recovery_start: MAX_SECTOR,
        state: DevState(st),
    });
    ArrayCtx::new(inst, 1, 0, disks.len() as u32, EXTENT, slots.collect())
}

fn view<'a>(c: &'a ArrayCtx, leaving: &[usize]) -> ArrayView<'a> {
    let l = (0..c.slots.len()).map(|i| if leaving.contains(&i) { Leave::InFlight } else { Leave::No }).collect();
    ArrayView { ctx: c, leaving: l, check_degraded: false, failed_at: None, sync_idle: true, activating: false }
}

const OK: u16 = DevState::INSYNC;
const BAD: u16 = DevState::FAULTY;

#[test]
fn a_disk_failed_in_one_array_is_failed_in_every_other() {
    let (a, b, c) = (ctx(0, &[(0, BAD), (1, OK)]), ctx(1, &[(0, OK), (1, OK), (2, OK)]), ctx(2, &[(2, OK), (0, OK)]));
    let md = FakeMd::default();
    let out = fan_out(&[view(&a, &[]), view(&b, &[]), view(&c, &[])], &[], &md);
    assert_eq!(
        &out[..],
        &[
            Fail { array: 1, member: 0, why: Why::FailedElsewhere },
            Fail { array: 2, member: 1, why: Why::FailedElsewhere }
        ]
    );
}

#[test]
fn a_member_on_its_way_out_counts_as_failed_and_is_not_failed_again() {
    let (a, b) = (ctx(0, &[(0, OK), (1, OK)]), ctx(1, &[(0, OK), (1, OK)]));
    let md = FakeMd::default();
    let out = fan_out(&[view(&a, &[0]), view(&b, &[])], &[], &md);
    assert_eq!(&out[..], &[Fail { array: 1, member: 0, why: Why::FailedElsewhere }]);
}

#[test]
fn failed_metadata_write_and_recorded_failure_fail_the_member() {
    let a = ctx(0, &[(0, OK), (1, OK), (2, OK)]);
    let md = FakeMd { failed: vec![dev(2)], ..FakeMd::default() };
    let meta: [DevT; 1] = [dev(1)];
    let out = fan_out(&[view(&a, &[])], &meta, &md);
    assert_eq!(
        &out[..],
        &[
            Fail { array: 0, member: 1, why: Why::MetadataWrite },
            Fail { array: 0, member: 2, why: Why::RecordedFailed }
        ]
    );
}

#[test]
fn nothing_failed_nothing_to_do() {
    let (a, b) = (ctx(0, &[(0, OK), (1, OK)]), ctx(1, &[(0, OK), (1, OK)]));
    let md = FakeMd::default();
    assert!(fan_out(&[view(&a, &[]), view(&b, &[])], &[], &md).is_empty());
}

#[test]
fn the_fake_kernel_fails_the_shared_disk_everywhere() {
    let mut k = Kernel::default();
    k.array(0, &[dev(0), dev(1)]);
    k.array(1, &[dev(1), dev(2)]);
    let mut s = Sim::new(k, FakeMd::default());
    s.kernel.fail(0, dev(1));
    s.run(|_| Some(0));
    assert_eq!(s.fanned, vec![(1, dev(1), Why::FailedElsewhere)]);
    for a in &s.kernel.arrays {
        assert!(a.members.iter().all(|m| m.dev != dev(1)), "{a:?}");
    }
    // Recorded once per array in the metadata.
    assert_eq!(s.md.log, vec!["fail inst 0 slot 1", "fail inst 1 slot 0"]);
}

/// Three disks that take metadata writes; `bad` fails every write.
struct Disks {
    bad: usize,
}

impl crate::manager::plan::WriteIo for Disks {
    fn target(&self, i: usize) -> Option<usize> {
        Some(i)
    }
    fn render(&mut self, _i: usize, _disk: usize, _buf: usize) -> crate::metadata::Regions {
        [crate::metadata::Region { offset: 0, start: 0, len: 512 }].into_iter().collect()
    }
    fn same(&self, _a: usize, _b: usize, _r: &crate::metadata::Regions) -> bool {
        true
    }
    fn write(&mut self, w: &[crate::manager::plan::PlannedWrite], res: &mut [Result<(), i32>]) {
        for (w, r) in w.iter().zip(res.iter_mut()) {
            *r = if w.disk == self.bad { Err(5) } else { Ok(()) };
        }
    }
}

#[test]
fn a_failed_metadata_write_fails_the_disk_in_md_and_reaches_the_metadata() {
    let mut k = Kernel::default();
    k.array(0, &[dev(0), dev(1), dev(2)]);
    k.array(1, &[dev(1), dev(2)]);
    let mut s = Sim::new(k, FakeMd::default());
    // Disk 1's metadata write fails; the others take it.
    let out = crate::manager::plan::write_all(3, 2, &mut Disks { bad: 1 });
    assert!(out.any_ok);
    s.meta_failed.extend(out.to_fail().iter().map(|&d| dev(d as u32)));
    s.run(|_| Some(0));
    assert_eq!(s.fanned, vec![(0, dev(1), Why::MetadataWrite), (1, dev(1), Why::MetadataWrite)]);
    // md failed it; the monitor recorded the failure in the metadata.
    assert_eq!(s.md.log, vec!["fail inst 0 slot 1", "fail inst 1 slot 0"]);
    assert!(s.kernel.arrays.iter().all(|a| a.members.iter().all(|m| m.dev != dev(1))));
}
