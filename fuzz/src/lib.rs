//! The fuzz targets: each takes one input and panics on a bug (a panic, an
//! arithmetic overflow, or a broken invariant checked by
//! `mdmon::harness`).

use mdmon::ddf::Ddf;
use mdmon::harness::{self, MemDisks};
use mdmon::imsm::Imsm;
use mdmon::metadata::Metadata;
use std::sync::OnceLock;

pub const IMSM_FIXTURES: [&str; 8] = [
    "raid0-2disk",
    "raid1-clean",
    "raid1-dirty",
    "raid10-4disk-clean",
    "raid5-3disk-init",
    "raid5-3disk-initdone",
    "staggered-volumes",
    "two-volumes",
];
pub const DDF_FIXTURES: [&str; 2] = ["ddf-r1-r5-clean", "ddf-r5-dirty"];

pub fn fixture_dir(format: &str) -> String {
    format!("{}/../tests/fixtures/{format}", env!("CARGO_MANIFEST_DIR"))
}

fn fixtures(format: &str, names: &[&str]) -> Vec<MemDisks> {
    names.iter().map(|n| harness::fixture(&fixture_dir(format), n)).collect()
}

/// IMSM member disks (encoded, checksums re-sealed): load, open every
/// volume, run the monitor's sequence with a checked write after each step.
pub fn imsm_disks(data: &[u8]) {
    let mut d = MemDisks::decode(data);
    d.reseal_imsm();
    let mut notes = Vec::new();
    if let Ok(mut im) = Imsm::load(&mut d, &mut notes) {
        let arrays = harness::imsm_arrays(&mut im);
        harness::exercise(im.as_mut(), &mut d, arrays);
    }
}

/// DDF member disks (encoded, CRCs re-sealed): as `imsm_disks`.
pub fn ddf_disks(data: &[u8]) {
    let mut d = MemDisks::decode(data);
    d.reseal_ddf();
    let mut notes = Vec::new();
    if let Ok(mut ddf) = Ddf::load(&mut d, &mut notes) {
        let arrays = harness::ddf_arrays(&mut ddf);
        harness::exercise(ddf.as_mut(), &mut d, arrays);
    }
}

/// `fixture: u8, active: u8 (bit i: volume i monitored)`, then updates as
/// `len: u16 LE, payload`: applied in order to the loaded fixture, each
/// followed by a checked write; then the monitor's sequence.
fn updates(md: &mut dyn Metadata, d: &mut MemDisks, data: &[u8]) {
    let mask = data.get(1).copied().unwrap_or(0);
    let active: Vec<u32> = (0..8).filter(|i| mask & (1 << i) != 0).collect();
    let mut rest = data.get(2..).unwrap_or(&[]);
    for _ in 0..4 {
        if rest.len() < 2 {
            break;
        }
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let _ = md.process_update(&rest[2..2 + len], &active);
        harness::write_checked(md, d);
        rest = &rest[2 + len..];
    }
}

pub fn imsm_update(data: &[u8]) {
    static F: OnceLock<Vec<MemDisks>> = OnceLock::new();
    let f = F.get_or_init(|| fixtures("imsm", &IMSM_FIXTURES));
    let mut d = f[usize::from(data.first().copied().unwrap_or(0)) % f.len()].clone();
    let mut im = Imsm::load(&mut d, &mut Vec::new()).expect("fixture loads");
    updates(im.as_mut(), &mut d, data);
    let arrays = harness::imsm_arrays(&mut im);
    harness::exercise(im.as_mut(), &mut d, arrays);
}

pub fn ddf_update(data: &[u8]) {
    static F: OnceLock<Vec<MemDisks>> = OnceLock::new();
    let f = F.get_or_init(|| fixtures("ddf", &DDF_FIXTURES));
    let mut d = f[usize::from(data.first().copied().unwrap_or(0)) % f.len()].clone();
    let mut ddf = Ddf::load(&mut d, &mut Vec::new()).expect("fixture loads");
    updates(ddf.as_mut(), &mut d, data);
    let arrays = harness::ddf_arrays(&mut ddf);
    harness::exercise(ddf.as_mut(), &mut d, arrays);
}

/// The control-socket framing: the input arrives in reads of the sizes its
/// first byte picks; every request decoded lies inside the input.
pub fn proto(data: &[u8]) {
    use mdmon::proto::{Decoder, Request};
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut input = data.get(1..).unwrap_or(&[]);
    // A small own buffer and one large buffer lent for longer frames, as
    // the daemon serves its clients.
    let mut dec = Box::new(Decoder::with_loan(1024, mdmon::proto::MAX_PAYLOAD));
    let max = dec.max_payload();
    let mut spare = Some(Decoder::loan_buffer(mdmon::proto::MAX_PAYLOAD));
    let mut rounds = 0;
    while !input.is_empty() && rounds < 100_000 {
        rounds += 1;
        if dec.wants_loan() {
            if let Some(b) = spare.take() {
                spare = dec.lend(b);
            }
        }
        let buf = dec.read_buf();
        if buf.is_empty() {
            if let Some(b) = dec.reset() {
                spare = Some(b);
            }
            continue;
        }
        let n = buf.len().min(step).min(input.len());
        buf[..n].copy_from_slice(&input[..n]);
        input = &input[n..];
        match dec.advance(n) {
            Ok(Some(Request::Update(p))) => {
                assert!(!p.is_empty() && p.len() <= max);
            }
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => continue,
        }
        if let Some(b) = dec.reset() {
            spare = Some(b);
        }
    }
    assert!(spare.is_some() || dec.wants_loan() || !dec.read_buf().is_empty(), "the lent buffer is lost");
    let mut out = [0u8; 64];
    let _ = mdmon::proto::encode(data.get(..50).unwrap_or(data), &mut out);
    let _ = mdmon::proto::parse_mdadm_version(data);
}

/// /proc/mdstat text.
pub fn mdstat(data: &[u8]) {
    let m = mdmon::mdstat::parse(data);
    for e in &m.entries {
        let _ = e.member_of("md127");
        let _ = e.is_container();
        let _ = e.is_blocked_member();
        assert!(m.find(e.devnm.as_str()).is_some());
    }
}

/// The words read from sysfs attributes.
pub fn sysfs(data: &[u8]) {
    use mdmon::md::*;
    let s = ArrayState::parse(data);
    assert_eq!(ArrayState::parse(s.word().as_bytes()), s, "a state's word parses back to it");
    let _ = s.at_most_clean();
    let a = SyncAction::parse(data);
    let _ = a.is_sync();
    let _ = DevState::parse(data);
    let _ = parse_sector(data);
    let _ = parse_sync_completed(data);
    let _ = parse_u64(data);
    let _ = parse_safe_mode_delay(data);
    let _ = first_word(data);
}

/// Run `target` over every file under each path (the smoke pass); returns
/// the number of inputs.
pub fn replay(target: fn(&[u8]), paths: &[std::path::PathBuf]) -> usize {
    let mut n = 0;
    for p in paths {
        let mut files: Vec<_> = if p.is_dir() {
            std::fs::read_dir(p).expect("corpus dir").map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect()
        } else {
            vec![p.clone()]
        };
        files.sort();
        for f in files {
            target(&std::fs::read(&f).expect("input"));
            n += 1;
        }
    }
    n
}

/// The entry point of each target binary: AFL's loop, or a replay.
#[macro_export]
macro_rules! target_main {
    ($f:path) => {
        #[cfg(feature = "afl")]
        fn main() {
            afl::fuzz!(|data: &[u8]| { $f(data) });
        }
        #[cfg(not(feature = "afl"))]
        fn main() {
            let paths: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
            let n = mdmon_fuzz::replay($f, &paths);
            println!("{n} inputs ok");
        }
    };
}
