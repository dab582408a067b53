//! Tests of the /proc/mdstat parser on real kernel output and on garbage.

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
        core::fmt::Write::write_fmt(&mut line, format_args!("md{i} : active raid1 a[0]\n      1 blocks\n")).unwrap();
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
                *b = if r & 1 == 0 { alphabet[((r >> 8) % alphabet.len() as u64) as usize] } else { (r >> 16) as u8 };
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
