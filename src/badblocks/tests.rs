use super::*;
use crate::metadata::ArrayCtx;

/// A log double: ranges per slot, a capacity, and slots it knows.
struct FakeLog {
    entries: Vec<(u32, BadRange)>,
    capacity: usize,
    known_slots: u32,
    piece: u32,
}

impl FakeLog {
    fn new(capacity: usize) -> FakeLog {
        FakeLog { entries: Vec::new(), capacity, known_slots: 2, piece: u32::MAX }
    }
    fn of(&self, slot: u32) -> Vec<BadRange> {
        let mut v: Vec<_> = self.entries.iter().filter(|e| e.0 == slot).map(|e| e.1).collect();
        v.sort();
        v
    }
}

impl BadBlockLog for FakeLog {
    fn logged(&self, _a: &ArrayCtx, slot: u32, out: &mut BbList) -> bool {
        out.clear();
        if slot >= self.known_slots {
            return false;
        }
        out.extend(self.entries.iter().filter(|e| e.0 == slot).map(|e| e.1));
        true
    }
    fn record(&mut self, _a: &ArrayCtx, slot: u32, r: BadRange) -> bool {
        if slot >= self.known_slots || self.entries.len() >= self.capacity {
            return false;
        }
        self.entries.retain(|e| !(e.0 == slot && r.contains(e.1)));
        self.entries.push((slot, r));
        true
    }
    fn clear(&mut self, _a: &ArrayCtx, slot: u32, r: BadRange) {
        self.entries.retain(|e| *e != (slot, r));
    }
    fn piece_max(&self) -> u32 {
        self.piece
    }
}

fn ctx() -> ArrayCtx {
    ArrayCtx::new(0, 1, 0, 2, 1 << 20, ArrayVec::new())
}

fn r(start: u64, len: u32) -> BadRange {
    BadRange { start, len }
}

#[test]
fn parse_lists() {
    let mut l = BbList::new();
    parse(b"16384 64\n20000 8\n", &mut l).unwrap();
    assert_eq!(&l[..], &[r(16384, 64), r(20000, 8)]);
    parse(b"", &mut l).unwrap();
    assert!(l.is_empty());
    parse(b"\n", &mut l).unwrap();
    assert!(l.is_empty());
    assert_eq!(parse(b"16384\n", &mut l), Err(ParseError::BadLine));
    assert_eq!(parse(b"16384 0\n", &mut l), Err(ParseError::BadLine));
    assert_eq!(parse(b"16384 64 1\n", &mut l), Err(ParseError::BadLine));
    assert_eq!(parse(b"x 64\n", &mut l), Err(ParseError::BadLine));
    assert_eq!(parse(b"18446744073709551615 2\n", &mut l), Err(ParseError::BadLine));
    assert_eq!(parse(b"1 99999999999\n", &mut l), Err(ParseError::BadLine));
    let many: String = (0..=MAX_RANGES).map(|i| format!("{} 1\n", i * 2)).collect();
    assert_eq!(parse(many.as_bytes(), &mut l), Err(ParseError::TooMany));
    assert_eq!(r(16384, 64).line().as_str(), "16384 64\n");
}

#[test]
fn new_range_is_recorded_then_acknowledged() {
    let mut log = FakeLog::new(254);
    let mut s = BbList::new();
    let k = [r(16384, 64)];
    let out = reconcile(&mut log, &ctx(), 0, Some(&k), &k, &mut s);
    assert_eq!(out, Outcome::Recorded { changed: true });
    assert_eq!(log.of(0), vec![r(16384, 64)]);
    // The next pass (acknowledged now): nothing changes.
    let out = reconcile(&mut log, &ctx(), 0, Some(&k), &[], &mut s);
    assert_eq!(out, Outcome::Recorded { changed: false });
    assert_eq!(log.of(0), vec![r(16384, 64)]);
    assert!(log.of(1).is_empty());
}

#[test]
fn cleared_range_leaves_the_log() {
    let mut log = FakeLog::new(254);
    log.entries.push((0, r(100, 8)));
    log.entries.push((0, r(500, 8)));
    log.entries.push((1, r(100, 8)));
    let mut s = BbList::new();
    let out = reconcile(&mut log, &ctx(), 0, Some(&[r(500, 8)]), &[], &mut s);
    assert_eq!(out, Outcome::Recorded { changed: true });
    assert_eq!(log.of(0), vec![r(500, 8)]);
    assert_eq!(log.of(1), vec![r(100, 8)], "another member's ranges stay");
}

#[test]
fn unreadable_list_clears_nothing() {
    let mut log = FakeLog::new(254);
    log.entries.push((0, r(100, 8)));
    let mut s = BbList::new();
    let out = reconcile(&mut log, &ctx(), 0, None, &[r(900, 4)], &mut s);
    assert_eq!(out, Outcome::Recorded { changed: true });
    assert_eq!(log.of(0), vec![r(100, 8), r(900, 4)]);
}

#[test]
fn merged_kernel_range_replaces_its_pieces() {
    // md merged adjacent ranges (Linux 6.12 lists a failed write's pieces
    // first, then joins them once acknowledged): the log follows.
    let mut log = FakeLog::new(254);
    log.entries.push((0, r(100, 8)));
    log.entries.push((0, r(108, 8)));
    let mut s = BbList::new();
    let out = reconcile(&mut log, &ctx(), 0, Some(&[r(100, 16)]), &[], &mut s);
    assert_eq!(out, Outcome::Recorded { changed: true });
    assert_eq!(log.of(0), vec![r(100, 16)]);
    let out = reconcile(&mut log, &ctx(), 0, Some(&[r(100, 16)]), &[], &mut s);
    assert_eq!(out, Outcome::Recorded { changed: false });
    let out = reconcile(&mut log, &ctx(), 0, Some(&[r(100, 24)]), &[r(116, 8)], &mut s);
    assert_eq!(out, Outcome::Recorded { changed: true });
    assert_eq!(log.of(0), vec![r(100, 24)]);
}

#[test]
fn long_range_is_held_as_pieces() {
    let mut log = FakeLog::new(254);
    log.piece = 256;
    log.entries.push((0, r(1000, 256)));
    log.entries.push((0, r(1256, 44)));
    let mut s = BbList::new();
    let out = reconcile(&mut log, &ctx(), 0, Some(&[r(1000, 300)]), &[], &mut s);
    assert_eq!(out, Outcome::Recorded { changed: false }, "its own pieces hold it");
    log.entries = vec![(0, r(1000, 100)), (0, r(1100, 200))];
    let out = reconcile(&mut log, &ctx(), 0, Some(&[r(1000, 300)]), &[], &mut s);
    assert_eq!(out, Outcome::Recorded { changed: true });
}

#[test]
fn split_kernel_range_is_recorded_anew() {
    // md cleared the middle of a range: the log follows.
    let mut log = FakeLog::new(254);
    log.entries.push((0, r(100, 64)));
    let mut s = BbList::new();
    let out = reconcile(&mut log, &ctx(), 0, Some(&[r(100, 20), r(128, 36)]), &[], &mut s);
    assert_eq!(out, Outcome::Recorded { changed: true });
    assert_eq!(log.of(0), vec![r(100, 20), r(128, 36)]);
}

#[test]
fn full_log_is_unrecordable() {
    let mut log = FakeLog::new(2);
    log.entries.push((0, r(10, 1)));
    log.entries.push((0, r(20, 1)));
    let mut s = BbList::new();
    let all = [r(10, 1), r(20, 1), r(30, 1)];
    let out = reconcile(&mut log, &ctx(), 0, Some(&all), &[r(30, 1)], &mut s);
    assert_eq!(out, Outcome::Unrecordable);
    assert_eq!(log.of(0), vec![r(10, 1), r(20, 1)], "nothing lost");
}

#[test]
fn unknown_slot_is_unrecordable() {
    let mut log = FakeLog::new(254);
    let mut s = BbList::new();
    assert_eq!(reconcile(&mut log, &ctx(), 5, Some(&[]), &[], &mut s), Outcome::Unrecordable);
}

#[test]
fn range_helpers() {
    assert!(r(10, 10).contains(r(12, 2)));
    assert!(!r(10, 10).contains(r(15, 10)));
    assert!(r(10, 10).overlaps(r(19, 5)));
    assert!(!r(10, 10).overlaps(r(20, 5)));
    assert_eq!(r(u64::MAX - 1, 10).end(), u64::MAX);
}
