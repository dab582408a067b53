//! Sans-I/O parser for `/proc/mdstat`.
//!
//! The text is split into *logical lines*: a line starting in column 0 plus
//! all following lines that start with whitespace (continuation lines).  Each
//! logical line whose first word is an md device name (`md` followed by a
//! digit or `_`) and whose second word is `:` becomes one [`Entry`].  All
//! other logical lines (`Personalities :`, `unused devices:`, garbage) are
//! skipped.  Parsing never allocates and never panics; fields that do not fit
//! their fixed-size buffers are treated as absent (see each field).

use arrayvec::ArrayVec;

/// Maximum number of arrays kept from one `/proc/mdstat` read; further entries are ignored.
pub const MAX_ENTRIES: usize = 64;

/// One array (`mdN : ...` logical line) of `/proc/mdstat`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// Kernel device name, e.g. `md127` (at most 31 bytes; longer names make the entry skipped).
    pub devnm: heapless::String<32>,
    /// `true` for `active`, `false` for `inactive`.
    pub active: bool,
    /// Personality (e.g. `raid1`), empty if none or if longer than 16 bytes.
    pub level: heapless::String<16>,
    /// Text after `super`, e.g. `external:imsm` or `external:/md127/0`; empty if none or longer than 64 bytes.
    pub metadata_version: heapless::String<64>,
    /// Number of member tokens such as `loop0[1]` (including spares and faulty members).
    pub devcnt: u32,
    /// `N` of the `[N/M]` status token, if present.
    pub raid_disks: Option<u32>,
    /// A resync/recovery/reshape/check progress percentage is shown (`=DELAYED`/`=PENDING`/`=REMOTE` do not count).
    pub resync_in_progress: bool,
}

/// Parsed `/proc/mdstat`: the arrays in the order the kernel listed them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mdstat {
    /// Arrays found (at most [`MAX_ENTRIES`]).
    pub entries: ArrayVec<Entry, MAX_ENTRIES>,
}

impl Mdstat {
    /// Find the entry for device name `devnm`.
    pub fn find(&self, devnm: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.devnm.as_str() == devnm)
    }
}

const EXTERNAL: &str = "external:";

impl Entry {
    /// Some(subarray index string) when this entry is a member array of container `container_devnm` (metadata_version "external:/md127/0" or "external:-md127/0")
    ///
    /// An empty subarray index (`external:/md127/`) yields `None`.
    pub fn member_of(&self, container_devnm: &str) -> Option<&str> {
        let rest = self.metadata_version.as_str().strip_prefix(EXTERNAL)?;
        let rest = rest.strip_prefix('/').or_else(|| rest.strip_prefix('-'))?;
        let rest = rest.strip_prefix(container_devnm)?;
        let sub = rest.strip_prefix('/')?;
        if container_devnm.is_empty() || sub.is_empty() {
            None
        } else {
            Some(sub)
        }
    }

    /// true when metadata_version starts with "external:" and the next char is neither '/' nor '-' (a container)
    pub fn is_container(&self) -> bool {
        match self.metadata_version.as_str().strip_prefix(EXTERNAL) {
            Some(rest) => matches!(rest.as_bytes().first(), Some(c) if *c != b'/' && *c != b'-'),
            None => false,
        }
    }

    /// true when the member is marked blocked ('-' right after "external:")
    pub fn is_blocked_member(&self) -> bool {
        matches!(
            self.metadata_version.as_str().strip_prefix(EXTERNAL),
            Some(rest) if rest.starts_with('-')
        )
    }
}

/// Whitespace-separated words of a byte range (clonable, so it can be peeked).
#[derive(Clone)]
struct Words<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|b| !b.is_ascii_whitespace())?;
        let tail = &self.rest[start..];
        let len = tail.iter().position(|b| b.is_ascii_whitespace()).unwrap_or(tail.len());
        let (word, rest) = tail.split_at(len);
        self.rest = rest;
        Some(word)
    }
}

/// Split `text` into logical lines (a column-0 line plus indented continuation lines).
struct LogicalLines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for LogicalLines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let text = self.rest;
            let first_len = line_len(text);
            let starts_logical = matches!(text.first(), Some(c) if !c.is_ascii_whitespace());
            if !starts_logical {
                // Stray continuation or blank line with no header: skip it.
                self.rest = skip_line(text, first_len);
                continue;
            }
            let mut end = first_len;
            let mut next = skip_line(text, first_len);
            while matches!(next.first(), Some(b' ') | Some(b'\t')) {
                let l = line_len(next);
                end = text.len() - next.len() + l;
                next = skip_line(next, l);
            }
            self.rest = next;
            return Some(&text[..end]);
        }
    }
}

fn line_len(text: &[u8]) -> usize {
    text.iter().position(|&b| b == b'\n').unwrap_or(text.len())
}

fn skip_line(text: &[u8], len: usize) -> &[u8] {
    text.get(len + 1..).unwrap_or(&[])
}

fn is_md_name(word: &[u8]) -> bool {
    word.len() > 2 && word.starts_with(b"md") && (word[2].is_ascii_digit() || word[2] == b'_')
}

/// Copy `word` into a heapless string; `None` if not UTF-8 or too long.
fn to_hstring<const N: usize>(word: &[u8]) -> Option<heapless::String<N>> {
    let s = core::str::from_utf8(word).ok()?;
    let mut out = heapless::String::new();
    out.push_str(s).ok()?;
    Some(out)
}

/// Parse a `[N/M]` token, returning N.
fn parse_raid_disks(word: &[u8]) -> Option<u32> {
    let inner = word.strip_prefix(b"[")?.strip_suffix(b"]")?;
    let slash = inner.iter().position(|&b| b == b'/')?;
    let (n, m) = (&inner[..slash], &inner[slash + 1..]);
    parse_u32(m)?;
    parse_u32(n)
}

fn parse_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(d - b'0'))?;
    }
    Some(v)
}

const PROGRESS_WORDS: [&[u8]; 4] = [b"resync", b"recovery", b"reshape", b"check"];

/// If `word` starts a progress report, return whether a percentage follows
/// (looking ahead in `ahead` for the split `resync = 8.9%` form).
fn progress_shown(word: &[u8], ahead: &Words<'_>) -> Option<bool> {
    let rest = PROGRESS_WORDS.iter().find_map(|p| word.strip_prefix(*p))?;
    let mut ahead = ahead.clone();
    let after_eq: &[u8] = if rest.is_empty() {
        let eq = ahead.next()?;
        eq.strip_prefix(b"=")?
    } else {
        rest.strip_prefix(b"=")?
    };
    let value = if after_eq.is_empty() { ahead.next().unwrap_or(&[]) } else { after_eq };
    Some(value.first().is_some_and(|c| c.is_ascii_digit()) && value.contains(&b'%'))
}

/// Parse one logical line; `None` if it is not an array line.
fn parse_entry(line: &[u8]) -> Option<Entry> {
    let mut words = Words { rest: line };
    let name = words.next()?;
    if !is_md_name(name) || name.len() >= 32 {
        return None;
    }
    if words.next()? != b":" {
        return None;
    }
    let mut e = Entry { devnm: to_hstring(name)?, ..Entry::default() };
    let mut seen_blocks = false;
    let mut level_seen = false;
    while let Some(w) = words.next() {
        if w.starts_with(b"bitmap:") {
            break;
        }
        if w == b"active" || w.starts_with(b"active(") {
            // `active(auto-read-only)` is an old kernel spelling.
            e.active = true;
            continue;
        }
        if w == b"inactive" {
            e.active = false;
            continue;
        }
        if w == b"blocks" {
            seen_blocks = true;
            continue;
        }
        if w == b"super" {
            if let Some(v) = words.next() {
                e.metadata_version = to_hstring(v).unwrap_or_default();
            }
            continue;
        }
        if let Some(shown) = progress_shown(w, &words) {
            e.resync_in_progress |= shown;
            continue;
        }
        if !seen_blocks {
            if e.active && !level_seen && !w.starts_with(b"(") {
                level_seen = true;
                e.level = to_hstring(w).unwrap_or_default();
                continue;
            }
            if w.contains(&b'[') {
                e.devcnt = e.devcnt.saturating_add(1);
            }
            continue;
        }
        if e.raid_disks.is_none() {
            if let Some(n) = parse_raid_disks(w) {
                e.raid_disks = Some(n);
            }
        }
    }
    Some(e)
}

/// Parse the full text of `/proc/mdstat`; tolerant: skips lines it does not understand; never panics on any input.
pub fn parse(text: &[u8]) -> Mdstat {
    let mut out = Mdstat::default();
    for line in (LogicalLines { rest: text }) {
        if out.entries.is_full() {
            break;
        }
        if let Some(e) = parse_entry(line) {
            out.entries.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests;
