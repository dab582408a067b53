//! The write planner against a fake set of disks: phases, image sharing,
//! batches, and failed writes reported back.

use super::*;

/// A fake: metadata disk `i` renders `images[i]` (a byte per region, the
/// region count given by `phases[i]`); writes listed per phase; some disks
/// fail on a given phase.
struct Fake {
    /// Shell disk of each metadata disk (`None`: unknown).
    targets: Vec<Option<usize>>,
    /// Image content of each metadata disk.
    images: Vec<u8>,
    /// Regions of each metadata disk's image.
    phases: Vec<usize>,
    /// Buffer contents (one byte stands for the image).
    bufs: Vec<u8>,
    /// (shell disk, write number) that fail.
    fail: Vec<(usize, usize)>,
    /// Writes per `write` call.
    calls: Vec<Vec<PlannedWrite>>,
    /// Writes each disk received, counted.
    got: Vec<usize>,
    renders: usize,
}

impl Fake {
    fn new(images: &[u8], phases: &[usize], bufs: usize) -> Fake {
        Fake {
            targets: (0..images.len()).map(Some).collect(),
            images: images.to_vec(),
            phases: phases.to_vec(),
            bufs: vec![0; bufs],
            fail: Vec::new(),
            calls: Vec::new(),
            got: vec![0; images.len()],
            renders: 0,
        }
    }
}

impl WriteIo for Fake {
    fn target(&self, i: usize) -> Option<usize> {
        self.targets[i]
    }
    fn render(&mut self, i: usize, _disk: usize, buf: usize) -> Regions {
        self.renders += 1;
        self.bufs[buf] = self.images[i];
        (0..self.phases[i]).map(|p| Region { offset: p as u64 * 512, start: p * 512, len: 512 }).collect()
    }
    fn same(&self, a: usize, b: usize, _regions: &Regions) -> bool {
        self.bufs[a] == self.bufs[b]
    }
    fn write(&mut self, writes: &[PlannedWrite], results: &mut [Result<(), i32>]) {
        for (w, r) in writes.iter().zip(results.iter_mut()) {
            // The buffer written holds the disk's own image.
            let i = self.targets.iter().position(|t| *t == Some(w.disk)).unwrap();
            assert_eq!(self.bufs[w.buf], self.images[i], "disk {} written from a buffer with another image", w.disk);
            let nth = self.got[w.disk];
            self.got[w.disk] += 1;
            *r = if self.fail.contains(&(w.disk, nth)) { Err(5) } else { Ok(()) };
        }
        self.calls.push(writes.to_vec());
    }
}

#[test]
fn identical_images_share_one_buffer_and_one_batch() {
    let mut f = Fake::new(&[7, 7, 7, 7], &[1, 1, 1, 1], 2);
    let out = write_all(4, 2, &mut f);
    assert!(out.any_ok);
    assert!(out.failed.is_empty());
    assert_eq!(f.calls.len(), 1, "one phase, one batch");
    assert_eq!(f.calls[0].len(), 4);
    assert!(f.calls[0].iter().all(|w| w.buf == 0), "{:?}", f.calls[0]);
    assert_eq!(f.got, vec![1, 1, 1, 1]);
}

#[test]
fn distinct_images_beyond_the_pool_make_several_batches() {
    // Three distinct images with a pool of two: two batches.
    let mut f = Fake::new(&[1, 2, 3], &[1, 1, 1], 2);
    let out = write_all(3, 2, &mut f);
    assert!(out.any_ok);
    assert_eq!(f.calls.len(), 2);
    assert_eq!(f.calls[0].iter().map(|w| (w.disk, w.buf)).collect::<Vec<_>>(), vec![(0, 0), (1, 1)]);
    assert_eq!(f.calls[1].iter().map(|w| (w.disk, w.buf)).collect::<Vec<_>>(), vec![(2, 0)]);
    assert_eq!(f.renders, 3);
}

#[test]
fn phases_write_every_disks_first_region_before_any_second() {
    // DDF-like: disk 0 and 2 have three writes, disk 1 two (so another
    // image: three buffers, one batch).
    let mut f = Fake::new(&[1, 1, 2], &[3, 2, 3], 3);
    let out = write_all(3, 3, &mut f);
    assert!(out.any_ok);
    assert_eq!(f.calls.len(), 3, "three phases");
    let offs = |c: &Vec<PlannedWrite>| c.iter().map(|w| (w.disk, w.region.offset)).collect::<Vec<_>>();
    assert_eq!(offs(&f.calls[0]), vec![(0, 0), (1, 0), (2, 0)]);
    assert_eq!(offs(&f.calls[1]), vec![(0, 512), (1, 512), (2, 512)]);
    assert_eq!(offs(&f.calls[2]), vec![(0, 1024), (2, 1024)]);
}

#[test]
fn a_failed_write_stops_that_disk_and_is_reported() {
    let mut f = Fake::new(&[1, 1, 1], &[2, 2, 2], 2);
    f.fail.push((1, 0)); // disk 1's first write fails
    let out = write_all(3, 2, &mut f);
    assert!(out.any_ok);
    assert_eq!(&out.failed[..], &[1]);
    assert_eq!(out.to_fail(), &[1], "the other disks took it: disk 1 is to be failed");
    assert_eq!(f.got, vec![2, 1, 2], "disk 1 gets no second write");
    assert!(f.calls[1].iter().all(|w| w.disk != 1));
    assert_eq!(&out.written[..], &[(0, true), (1, false), (2, true)], "each disk's result goes back to the format");
}

#[test]
fn a_write_no_disk_took_fails_no_disk() {
    let mut f = Fake::new(&[1, 2], &[1, 1], 2);
    f.fail.push((0, 0));
    f.fail.push((1, 0));
    let out = write_all(2, 2, &mut f);
    assert!(!out.any_ok);
    assert_eq!(&out.failed[..], &[0, 1]);
    assert!(out.to_fail().is_empty());
}

#[test]
fn a_later_phase_failure_also_counts() {
    let mut f = Fake::new(&[4, 4], &[2, 2], 2);
    f.fail.push((0, 1)); // the header write of disk 0
    let out = write_all(2, 2, &mut f);
    assert!(out.any_ok, "disk 1 took both writes");
    assert_eq!(out.to_fail(), &[0]);
    assert_eq!(&out.written[..], &[(0, false), (1, true)]);
}

#[test]
fn unknown_and_unrenderable_disks_are_skipped() {
    let mut f = Fake::new(&[1, 1, 1], &[1, 0, 1], 2);
    f.targets[2] = None;
    let out = write_all(3, 2, &mut f);
    assert!(out.any_ok);
    assert_eq!(f.renders, 2, "disk 2 is not rendered");
    assert_eq!(f.calls.len(), 1);
    assert_eq!(f.calls[0].iter().map(|w| w.disk).collect::<Vec<_>>(), vec![0]);
    assert_eq!(&out.written[..], &[(0, true)], "only disks written are reported");
}

#[test]
fn nothing_to_write_is_not_a_success() {
    let mut f = Fake::new(&[], &[], 2);
    let out = write_all(0, 2, &mut f);
    assert_eq!(out, Outcome::default());
    assert!(f.calls.is_empty());
}
