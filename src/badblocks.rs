//! Bad blocks of a member device: md's `bad_blocks` and
//! `unacknowledged_bad_blocks` lists, and the decision that keeps a
//! format's bad-block log in step with them (upstream's `process_ubb` and
//! `check_for_cleared_bb`), without I/O.
//!
//! With `external_bbl` on a member, md records a failed write as an
//! *unacknowledged* bad range and holds every later write to it until user
//! space has recorded the range in the metadata and acknowledged it by
//! writing it back to `bad_blocks`. Ranges md clears (a later write there
//! succeeded) leave the metadata too. The shell reads both lists, calls
//! [`reconcile`], writes the metadata, and only then acknowledges.

use crate::md::parse_u64;
use crate::metadata::{ArrayCtx, BadBlockLog};
use arrayvec::ArrayVec;

/// One bad range, in 512-byte sectors from the start of the disk (md
/// lists them with the member's data offset added).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BadRange {
    pub start: u64,
    pub len: u32,
}

impl BadRange {
    /// The first sector past the range.
    pub fn end(self) -> u64 {
        self.start.saturating_add(u64::from(self.len))
    }

    /// Whether `other` lies wholly inside this range.
    pub fn contains(self, other: BadRange) -> bool {
        self.start <= other.start && other.end() <= self.end()
    }

    /// Whether the two ranges share a sector.
    pub fn overlaps(self, other: BadRange) -> bool {
        self.start < other.end() && other.start < self.end()
    }

    /// The line md reads and writes: `"<start> <len>\n"`.
    pub fn line(self) -> heapless::String<48> {
        let mut s = heapless::String::new();
        let _ = core::fmt::write(&mut s, format_args!("{} {}\n", self.start, self.len));
        s
    }
}

/// Most ranges md keeps for one device (a page of 8-byte entries).
pub const MAX_RANGES: usize = 512;

/// A list of ranges, as md or a format reports them.
pub type BbList = ArrayVec<BadRange, MAX_RANGES>;

/// Why a list could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A line is not `<sector> <length>`, or a length is 0 or too large.
    BadLine,
    /// More ranges than [`MAX_RANGES`].
    TooMany,
}

/// Parse a `bad_blocks` / `unacknowledged_bad_blocks` text into `out`.
/// Every line must be whole: a truncated or odd line refuses the list
/// (upstream reads with a 30-byte buffer and can miss entries).
pub fn parse(text: &[u8], out: &mut BbList) -> Result<(), ParseError> {
    out.clear();
    let text = match text.iter().position(|&c| c == 0) {
        Some(n) => &text[..n],
        None => text,
    };
    for line in text.split(|&c| c == b'\n') {
        if line.is_empty() {
            continue;
        }
        let mut words = line.split(|&c| c == b' ');
        let start = words.next().and_then(parse_u64).ok_or(ParseError::BadLine)?;
        let len = words.next().and_then(parse_u64).ok_or(ParseError::BadLine)?;
        if words.next().is_some() || len == 0 || len > u64::from(u32::MAX) || start.checked_add(len).is_none() {
            return Err(ParseError::BadLine);
        }
        out.try_push(BadRange { start, len: len as u32 }).map_err(|_| ParseError::TooMany)?;
    }
    Ok(())
}

/// What to do with a member after [`reconcile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every range md knows is in the metadata: once the metadata is on
    /// disk, acknowledge the unacknowledged ones. `changed`: the log changed.
    Recorded { changed: bool },
    /// A range cannot be recorded (log full, no log, unknown member): md
    /// must stop waiting for us (`-external_bbl`) and apply its own policy.
    Unrecordable,
}

/// Whether `log` records `k` as the format would record it afresh: the
/// entries inside `k` are its pieces of `piece_max` sectors. Pieces md has
/// since merged (it joins adjacent acknowledged ranges) are recorded anew,
/// so the log follows md's list and spends no more entries than needed.
fn recorded(k: BadRange, log: &BbList, piece_max: u32) -> bool {
    let mut inside: ArrayVec<BadRange, MAX_RANGES> = log.iter().copied().filter(|e| k.contains(*e)).collect();
    inside.sort_unstable();
    let piece_max = piece_max.max(1);
    let mut want = BadRange { start: k.start, len: k.len.min(piece_max) };
    for e in inside {
        if e != want {
            return false;
        }
        let left = k.end() - e.end();
        want = BadRange { start: e.end(), len: left.min(u64::from(piece_max)) as u32 };
    }
    want.len == 0
}

/// Bring the log's ranges for the member in `slot` of `a` in line with
/// what md lists. `all` is `bad_blocks` (acknowledged and not), or `None`
/// when it could not be read (then nothing is cleared); `unacked` is
/// `unacknowledged_bad_blocks`. `scratch` is working space.
///
/// A logged range that no listed range contains is cleared (md cleared it);
/// a listed range the log does not hold as its own pieces is recorded
/// (replacing the entries inside it). Recording is all or
/// nothing per range; the first that cannot be recorded ends the pass with
/// [`Outcome::Unrecordable`].
pub fn reconcile(
    log: &mut dyn BadBlockLog,
    a: &ArrayCtx,
    slot: u32,
    all: Option<&[BadRange]>,
    unacked: &[BadRange],
    scratch: &mut BbList,
) -> Outcome {
    let mut changed = false;
    if !log.logged(a, slot, scratch) {
        return Outcome::Unrecordable;
    }
    if let Some(all) = all {
        for e in scratch.iter().copied() {
            let kept = all.iter().chain(unacked).any(|k| k.contains(e));
            if !kept {
                log.clear(a, slot, e);
                changed = true;
            }
        }
        if changed {
            log.logged(a, slot, scratch);
        }
    }
    // `bad_blocks` lists the unacknowledged ranges too; one read a moment
    // earlier may hold a range md has merged since.
    let all = all.unwrap_or(&[]);
    let listed = all.iter().chain(unacked.iter().filter(|u| !all.iter().any(|k| k.contains(**u))));
    for k in listed.copied() {
        if recorded(k, scratch, log.piece_max()) {
            continue;
        }
        if !log.record(a, slot, k) {
            return Outcome::Unrecordable;
        }
        changed = true;
        log.logged(a, slot, scratch);
    }
    Outcome::Recorded { changed }
}

#[cfg(test)]
mod tests;
