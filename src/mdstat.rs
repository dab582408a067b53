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
mod tests {
    use super::*;

    const IMSM: &str = "Personalities : [raid1] [raid6] [raid5] [raid4] [raid0] [raid10]\n\
md126 : active raid1 loop1[1] loop0[0]\n      16384 blocks super external:/md127/0 [2/2] [UU]\n      [=>...................]  resync =  8.0% (1312/16384) finish=0.1min speed=1312K/sec\n      \n\
md127 : inactive loop1[1](S) loop0[0](S)\n      10402 blocks super external:imsm\n       \n\
unused devices: <none>\n";

    fn one(text: &str) -> Entry {
        let m = parse(text.as_bytes());
        assert_eq!(m.entries.len(), 1, "{text:?}");
        m.entries[0].clone()
    }

    #[test]
    fn imsm_container_and_member() {
        let m = parse(IMSM.as_bytes());
        assert_eq!(m.entries.len(), 2);
        let mem = &m.entries[0];
        assert_eq!(mem.devnm.as_str(), "md126");
        assert!(mem.active);
        assert_eq!(mem.level.as_str(), "raid1");
        assert_eq!(mem.metadata_version.as_str(), "external:/md127/0");
        assert_eq!(mem.devcnt, 2);
        assert_eq!(mem.raid_disks, Some(2));
        assert!(mem.resync_in_progress);
        assert_eq!(mem.member_of("md127"), Some("0"));
        assert_eq!(mem.member_of("md12"), None);
        assert_eq!(mem.member_of("md1270"), None);
        assert!(!mem.is_container());
        assert!(!mem.is_blocked_member());

        let c = &m.entries[1];
        assert_eq!(c.devnm.as_str(), "md127");
        assert!(!c.active);
        assert_eq!(c.level.as_str(), "");
        assert_eq!(c.metadata_version.as_str(), "external:imsm");
        assert_eq!(c.devcnt, 2);
        assert_eq!(c.raid_disks, None);
        assert!(!c.resync_in_progress);
        assert!(c.is_container());
        assert!(!c.is_blocked_member());
        assert_eq!(c.member_of("md127"), None);
        assert_eq!(m.find("md127"), Some(c));
        assert_eq!(m.find("md1"), None);
    }

    #[test]
    fn container_alone() {
        let e = one("md127 : inactive loop1[1](S) loop0[0](S)\n      10402 blocks super external:imsm\n");
        assert!(e.is_container());
        assert_eq!(e.devcnt, 2);
        assert!(!e.active);
    }

    #[test]
    fn raid5_member() {
        let e = one("md126 : active raid5 sdd[2] sdc[1] sdb[0]\n      2093056 blocks super external:/md127/1 level 5, 64k chunk, algorithm 0 [3/3] [UUU]\n\n");
        assert_eq!(e.level.as_str(), "raid5");
        assert_eq!(e.devcnt, 3);
        assert_eq!(e.raid_disks, Some(3));
        assert_eq!(e.member_of("md127"), Some("1"));
        assert!(!e.resync_in_progress);
    }

    #[test]
    fn raid10_member_recovery() {
        let e = one("md125 : active raid10 sde[3] sdd[2] sdc[1] sdb[0]\n      2093056 blocks super external:/md127/0 64K chunks 2 near-copies [4/3] [UU_U]\n      [===>.................]  recovery = 17.5% (183808/1046528) finish=0.4min speed=30634K/sec\n");
        assert_eq!(e.level.as_str(), "raid10");
        assert_eq!(e.devcnt, 4);
        assert_eq!(e.raid_disks, Some(4));
        assert!(e.resync_in_progress);
    }

    #[test]
    fn raid0_member() {
        let e = one("md124 : active raid0 sdc[1] sdb[0]\n      2093056 blocks super external:/md127/2 128k chunks\n\n");
        assert_eq!(e.level.as_str(), "raid0");
        assert_eq!(e.devcnt, 2);
        assert_eq!(e.raid_disks, None);
        assert_eq!(e.member_of("md127"), Some("2"));
    }

    #[test]
    fn read_only_variants() {
        let e = one("md126 : active (read-only) raid1 loop1[1] loop0[0]\n      16384 blocks super external:/md127/0 [2/2] [UU]\n      \tresync=PENDING\n");
        assert!(e.active);
        assert_eq!(e.level.as_str(), "raid1");
        assert_eq!(e.devcnt, 2);
        assert!(!e.resync_in_progress);

        let e = one("md126 : active (auto-read-only) raid1 loop1[1] loop0[0]\n      16384 blocks super external:/md127/0 [2/2] [UU]\n");
        assert!(e.active);
        assert_eq!(e.level.as_str(), "raid1");
        assert_eq!(e.devcnt, 2);

        let e = one("md126 : active(auto-read-only) raid1 loop1[1] loop0[0]\n      16384 blocks super external:/md127/0 [2/2] [UU]\n");
        assert!(e.active);
        assert_eq!(e.level.as_str(), "raid1");
        assert_eq!(e.devcnt, 2);
    }

    #[test]
    fn blocked_member() {
        let e = one("md126 : active raid1 loop1[1] loop0[0]\n      16384 blocks super external:-md127/0 [2/2] [UU]\n");
        assert!(e.is_blocked_member());
        assert!(!e.is_container());
        assert_eq!(e.member_of("md127"), Some("0"));
    }

    #[test]
    fn faulty_and_spare_members() {
        let e = one("md126 : active raid1 loop2[2](S) loop1[1] loop0[0](F)\n      16384 blocks super external:/md127/0 [2/1] [_U]\n");
        assert_eq!(e.devcnt, 3);
        assert_eq!(e.raid_disks, Some(2));
    }

    #[test]
    fn ddf_container() {
        let e = one("md127 : inactive sdd[2](S) sdc[1](S) sdb[0](S)\n      1593 blocks super external:ddf\n\n");
        assert!(e.is_container());
        assert_eq!(e.metadata_version.as_str(), "external:ddf");
        assert_eq!(e.devcnt, 3);
    }

    #[test]
    fn native_metadata_and_bitmap() {
        let e = one("md0 : active raid1 sdb1[1] sda1[0]\n      1047552 blocks super 1.2 [2/2] [UU]\n      bitmap: 0/1 pages [0KB], 65536KB chunk\n\n");
        assert_eq!(e.metadata_version.as_str(), "1.2");
        assert!(!e.is_container());
        assert_eq!(e.member_of("md0"), None);
        assert_eq!(e.raid_disks, Some(2));
        // Words after `bitmap:` are ignored (they contain `[0KB]`).
        assert_eq!(e.devcnt, 2);
    }

    #[test]
    fn split_and_joined_progress_forms() {
        let base = "md1 : active raid5 a[0] b[1] c[2]\n      10 blocks super external:/md9/0 level 5, 64k chunk, algorithm 0 [3/3] [UUU]\n      ";
        for (tail, want) in [
            ("[>....]  reshape =  0.1% (1/2) finish=1min", true),
            ("[>....]  check = 99.9% (1/2)", true),
            ("[>....]  resync=5.0% (1/2)", true),
            ("[>....]  resync= 5.0% (1/2)", true),
            ("resync=DELAYED", false),
            ("resync=PENDING", false),
            ("recover=REMOTE", false),
            ("reshape=REMOTE", false),
            ("resync", false),
            ("resync =", false),
        ] {
            let mut s = heapless::String::<512>::new();
            s.push_str(base).unwrap();
            s.push_str(tail).unwrap();
            s.push('\n').unwrap();
            let e = one(&s);
            assert_eq!(e.resync_in_progress, want, "{tail}");
            assert_eq!(e.devcnt, 3);
        }
    }

    #[test]
    fn personalities_and_unused_only() {
        let m = parse(b"Personalities : [raid1]\nunused devices: <none>\n");
        assert!(m.entries.is_empty());
        let m = parse(b"");
        assert!(m.entries.is_empty());
    }

    #[test]
    fn garbage_lines_skipped() {
        let text = b"hello world\n  indented junk md1 : active\nmdx : active raid1\nmd : active\nmd5 active raid1 a[0]\n\xff\xfe : active\nmd3 : active raid1 a[0] b[1]\n      10 blocks super external:/md4/0 [2/2] [UU]\n";
        let m = parse(text);
        assert_eq!(m.entries.len(), 1);
        assert_eq!(m.entries[0].devnm.as_str(), "md3");
        assert_eq!(m.entries[0].member_of("md4"), Some("0"));
    }

    #[test]
    fn md_underscore_name() {
        let e = one("md_d0 : active raid1 a[0]\n      5 blocks\n");
        assert_eq!(e.devnm.as_str(), "md_d0");
    }

    #[test]
    fn truncated_input() {
        let full = IMSM.as_bytes();
        for cut in 0..=full.len() {
            let m = parse(&full[..cut]);
            assert!(m.entries.len() <= 2);
        }
        let e = one("md126 : active raid1 loop1[1] loop0[0]\n      16384 blocks super");
        assert_eq!(e.metadata_version.as_str(), "");
        assert_eq!(e.devcnt, 2);
        let e = one("md126 : act");
        assert!(!e.active);
    }

    #[test]
    fn crlf_and_tabs() {
        let e = one("md126 : active raid1 loop1[1] loop0[0]\r\n\t16384 blocks super external:/md127/0 [2/2] [UU]\r\n");
        assert_eq!(e.metadata_version.as_str(), "external:/md127/0");
        assert_eq!(e.raid_disks, Some(2));
    }

    #[test]
    fn more_than_max_entries() {
        let mut text = [0u8; 100 * 64];
        let mut len = 0;
        for i in 0..100u32 {
            let mut line = heapless::String::<64>::new();
            core::fmt::Write::write_fmt(&mut line, format_args!("md{i} : active raid1 a[0]\n      1 blocks\n"))
                .unwrap();
            text[len..len + line.len()].copy_from_slice(line.as_bytes());
            len += line.len();
        }
        let m = parse(&text[..len]);
        assert_eq!(m.entries.len(), MAX_ENTRIES);
        assert_eq!(m.entries[0].devnm.as_str(), "md0");
        assert_eq!(m.entries[MAX_ENTRIES - 1].devnm.as_str(), "md63");
    }

    #[test]
    fn overlong_fields() {
        // 31-byte name is accepted, 32 is skipped.
        let name31 = "md1234567890123456789012345678a";
        assert_eq!(name31.len(), 31);
        let mut s = heapless::String::<256>::new();
        s.push_str(name31).unwrap();
        s.push_str(" : active raid1 a[0]\n").unwrap();
        assert_eq!(one(&s).devnm.as_str(), name31);
        let m = parse(b"md1234567890123456789012345678ab : active raid1 a[0]\nmd2 : inactive\n");
        assert_eq!(m.entries.len(), 1);
        assert_eq!(m.entries[0].devnm.as_str(), "md2");

        let e = one("md1 : active raid1-with-a-very-long-personality a[0]\n  5 blocks super external:/md2/0123456789012345678901234567890123456789012345678901234567890123456789\n");
        assert_eq!(e.level.as_str(), "");
        assert_eq!(e.metadata_version.as_str(), "");
        assert_eq!(e.devcnt, 1);
        assert_eq!(e.member_of("md2"), None);
    }

    #[test]
    fn member_of_edge_cases() {
        let mk = |v: &str| Entry { metadata_version: to_hstring(v.as_bytes()).unwrap(), ..Entry::default() };
        assert_eq!(mk("external:/md127/").member_of("md127"), None);
        assert_eq!(mk("external:/md127").member_of("md127"), None);
        assert_eq!(mk("external:md127/0").member_of("md127"), None);
        assert_eq!(mk("external://0").member_of(""), None);
        assert_eq!(mk("external:/md127/12").member_of("md127"), Some("12"));
        assert!(!mk("external:").is_container());
        assert!(!mk("").is_container());
        assert!(!mk("1.2").is_blocked_member());
        assert!(mk("external:-md1/0").is_blocked_member());
    }

    #[test]
    fn raid_disks_token_parsing() {
        assert_eq!(parse_raid_disks(b"[3/2]"), Some(3));
        assert_eq!(parse_raid_disks(b"[UU_]"), None);
        assert_eq!(parse_raid_disks(b"[=>..]"), None);
        assert_eq!(parse_raid_disks(b"[/2]"), None);
        assert_eq!(parse_raid_disks(b"[99999999999/2]"), None);
        assert_eq!(parse_raid_disks(b"[0KB],"), None);
    }

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
    }

    /// Whether `needle` occurs in `hay`.
    fn occurs(hay: &[u8], needle: &str) -> bool {
        needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    /// What `parse` returns for mutated samples and random text: every
    /// entry's fields are words of the input, an entry starts a line, and
    /// the member/container tests agree with the metadata version.
    #[test]
    fn garbage_gives_entries_made_of_the_input() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let alphabet = b"md0123456789_ :[]()/-=%.\n\t external:imsm active inactive super blocks resync bitmap: raid1 ";
        let mut buf = [0u8; 512];
        let mut found = 0;
        for round in 0..4000 {
            let len = (rng.next() % buf.len() as u64) as usize;
            let n = if round % 2 == 0 {
                // Mutate the realistic sample.
                let src = IMSM.as_bytes();
                let n = len.min(src.len());
                buf[..n].copy_from_slice(&src[..n]);
                for _ in 0..(rng.next() % 8) {
                    let i = (rng.next() % (n.max(1) as u64)) as usize;
                    if i < n {
                        buf[i] = rng.next() as u8;
                    }
                }
                n
            } else {
                for b in buf[..len].iter_mut() {
                    let r = rng.next();
                    *b = if r & 1 == 0 {
                        alphabet[((r >> 8) % alphabet.len() as u64) as usize]
                    } else {
                        (r >> 16) as u8
                    };
                }
                len
            };
            let text = &buf[..n];
            let m = parse(text);
            let starts = text.split(|&b| b == b'\n').filter(|l| l.starts_with(b"md")).count();
            assert!(m.entries.len() <= starts, "{} entries from {starts} lines: {text:?}", m.entries.len());
            for e in &m.entries {
                found += 1;
                assert!(e.devnm.starts_with("md") && occurs(text, &e.devnm), "{e:?} from {text:?}");
                assert!(occurs(text, &e.level) && occurs(text, &e.metadata_version), "{e:?} from {text:?}");
                if let Some(sub) = e.member_of("md127") {
                    assert!(e.metadata_version.ends_with(&format!("md127/{sub}")), "{e:?}");
                }
                assert!(!(e.is_container() && e.is_blocked_member()), "{e:?}");
            }
        }
        assert!(found > 0, "no entry in any round");
    }
}
