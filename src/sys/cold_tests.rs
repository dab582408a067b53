use super::*;

/// Section headers from (name offset, flags, address, size).
fn shdrs(secs: &[(u32, u64, u64, u64)]) -> Vec<u8> {
    let mut b = Vec::new();
    for &(name, flags, addr, size) in secs {
        let mut s = [0u8; shdr::LEN];
        s[0..4].copy_from_slice(&name.to_le_bytes());
        s[4..8].copy_from_slice(&1u32.to_le_bytes());
        s[8..16].copy_from_slice(&flags.to_le_bytes());
        s[16..24].copy_from_slice(&addr.to_le_bytes());
        s[24..32].copy_from_slice(&addr.to_le_bytes());
        s[32..40].copy_from_slice(&size.to_le_bytes());
        b.extend_from_slice(&s);
    }
    b
}

/// The names table of the tests' sections.
const NAMES: &[u8] =
    b"\0.text\0.text.mdmon_cold\0.rodata\0.eh_frame_hdr\0.eh_frame\0.gcc_except_table\0.data\0.rela.dyn\0.dynstr\0";
const TEXT: u32 = 1;
const COLD_TEXT: u32 = 7;
const RODATA: u32 = 24;
const EH_HDR: u32 = 32;
const EH: u32 = 46;
const EXCEPT: u32 = 56;
const DATA: u32 = 74;
const RELA: u32 = 80;
const DYNSTR: u32 = 90;
const A: u64 = SHF_ALLOC;

#[test]
fn names_table_offsets() {
    assert_eq!(name_at(NAMES, TEXT), b".text");
    assert_eq!(name_at(NAMES, COLD_TEXT), b".text.mdmon_cold");
    assert_eq!(name_at(NAMES, EH_HDR), b".eh_frame_hdr");
    assert_eq!(name_at(NAMES, EXCEPT), b".gcc_except_table");
    assert_eq!(name_at(NAMES, DATA), b".data");
    assert_eq!(name_at(NAMES, RELA), b".rela.dyn");
    assert_eq!(name_at(NAMES, DYNSTR), b".dynstr");
    assert_eq!(name_at(NAMES, 500), b"", "past the table");
}

#[test]
fn whole_pages_of_cold_runs() {
    // The daemon's layout: cold text after text, the unwind tables at the
    // end of the read-only data.
    let s = shdrs(&[
        (0, 0, 0, 0),
        (DYNSTR, A, 0x2d0, 0x1),
        (RELA, A, 0x2d8, 0x63d8),
        (TEXT, A, 0x7040, 0x52c6b),
        (COLD_TEXT, A, 0x5a000, 0x3650e),
        (RODATA, A, 0x91000, 0xee04),
        (EH_HDR, A, 0x9fe04, 0x1f6c),
        (EH, A, 0xa1d70, 0xb124),
        (EXCEPT, A, 0xace94, 0x111c),
        (DATA, A, 0xae028, 0x5000),
    ]);
    let r = cold_ranges(&s, NAMES);
    assert_eq!(&r[..], &[(0x1000, 0x6000), (0x5a000, 0x90000), (0xa0000, 0xad000)]);
}

#[test]
fn pages_shared_with_warm_sections_stay_locked() {
    // Cold text starting mid-page after text, ending mid-page before data.
    let s = shdrs(&[(TEXT, A, 0x1000, 0x1800), (COLD_TEXT, A, 0x2800, 0x3000), (RODATA, A, 0x5800, 0x100)]);
    assert_eq!(&cold_ranges(&s, NAMES)[..], &[(0x3000, 0x5000)]);
    // A warm section overlapping the cold one's end cuts the run there.
    let s = shdrs(&[(COLD_TEXT, A, 0x1000, 0x8000), (RODATA, A, 0x4800, 0x100)]);
    assert_eq!(&cold_ranges(&s, NAMES)[..], &[(0x1000, 0x4000)]);
    // A warm section reaching into the cold one's start moves the start.
    let s = shdrs(&[(TEXT, A, 0x1000, 0x3100), (COLD_TEXT, A, 0x2000, 0x4000)]);
    assert_eq!(&cold_ranges(&s, NAMES)[..], &[(0x5000, 0x6000)]);
}

#[test]
fn nothing_from_small_unnamed_or_unallocated_sections() {
    // Less than a page; not in memory; no cold names; a size that overflows.
    let s = shdrs(&[(EH, A, 0x1100, 0x800)]);
    assert!(cold_ranges(&s, NAMES).is_empty());
    let s = shdrs(&[(EH, 0, 0x1000, 0x4000)]);
    assert!(cold_ranges(&s, NAMES).is_empty());
    let s = shdrs(&[(TEXT, A, 0x1000, 0x4000), (RODATA, A, 0x5000, 0x4000)]);
    assert!(cold_ranges(&s, NAMES).is_empty());
    let s = shdrs(&[(EH, A, u64::MAX - 10, 0x4000)]);
    assert!(cold_ranges(&s, NAMES).is_empty());
    // Truncated headers and names: what is there is used, nothing panics.
    let s = shdrs(&[(EH, A, 0x1000, 0x4000)]);
    assert!(cold_ranges(&s[..shdr::LEN - 1], NAMES).is_empty());
    assert!(cold_ranges(&s, &NAMES[..10]).is_empty());
    assert!(cold_ranges(&[], &[]).is_empty());
}

#[test]
fn elf_header() {
    let mut h = [0u8; ehdr::LEN];
    h[..6].copy_from_slice(b"\x7fELF\x02\x01");
    h[24..32].copy_from_slice(&0xd265u64.to_le_bytes());
    h[40..48].copy_from_slice(&0xb4000u64.to_le_bytes());
    h[58..60].copy_from_slice(&64u16.to_le_bytes());
    h[60..62].copy_from_slice(&27u16.to_le_bytes());
    h[62..64].copy_from_slice(&26u16.to_le_bytes());
    assert_eq!(header(&h), Some(Header { entry: 0xd265, shoff: 0xb4000, shnum: 27, shstrndx: 26 }));
    assert_eq!(header(&h[..63]), None, "short");
    let mut bad = h;
    bad[4] = 1;
    assert_eq!(header(&bad), None, "32-bit");
    let mut bad = h;
    bad[58] = 40;
    assert_eq!(header(&bad), None, "another section header size");
}

#[test]
fn own_binary_unwind_tables_found() {
    // The test binary (no linker script): its .eh_frame is large enough
    // to hold whole pages, and they lie in its own mappings.
    let fd = rustix::fs::open("/proc/self/exe", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).unwrap();
    let (h, ranges) = read_sections(&fd).expect("sections read");
    assert!(h.shnum > 0);
    assert!(!ranges.is_empty(), "{ranges:?}");
    let mem = find();
    assert_eq!(mem.len(), ranges.len());
    let probe = own_binary_unwind_tables_found as *const () as usize;
    assert!(mem.iter().all(|&(a, b)| a % 4096 == 0 && b % 4096 == 0 && a < b && a.abs_diff(probe) < 64 << 20));
}
