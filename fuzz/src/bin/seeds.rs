//! Writes the seed corpus (fuzz/corpus/<target>/) from tests/fixtures and
//! hand-made inputs. AFL starts from the corpus; inputs it finds that matter
//! (minimised crashers, new coverage) are added there by hand.

use mdmon::harness::{self, MemDisks};
use mdmon::imsm::{view::ord_to_idx, Imsm};
use mdmon_fuzz::*;
use std::path::Path;

fn put(dir: &Path, target: &str, name: &str, data: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(name), data).unwrap();
}

/// `len: u16 LE, payload` for the update targets.
fn framed(fixture: u8, active: u8, ups: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![fixture, active];
    for u in ups {
        v.extend_from_slice(&(u.len() as u16).to_le_bytes());
        v.extend_from_slice(u);
    }
    v
}

fn le(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let out = Path::new(&out);
    for n in IMSM_FIXTURES {
        put(out, "imsm_disks", n, &harness::fixture(&fixture_dir("imsm"), n).encode());
    }
    for n in DDF_FIXTURES {
        put(out, "ddf_disks", n, &harness::fixture(&fixture_dir("ddf"), n).encode());
    }
    // IMSM updates on two-volumes (fixture 7): kill volume 1 and create it again.
    let mut d: MemDisks = harness::fixture(&fixture_dir("imsm"), "two-volumes");
    let im = Imsm::load(&mut d, &mut Vec::new()).unwrap();
    let v = im.volume(1).unwrap();
    let mut rec = v.as_bytes().to_vec();
    rec.resize(rec.len().max(164), 0);
    let mut create = le(&[1, 1]);
    create.extend_from_slice(&rec);
    let m0 = v.map0();
    for s in 0..usize::from(m0.num_members()) {
        create
            .extend_from_slice(&im.members().iter().find(|m| m.index as u32 == ord_to_idx(m0.ord(s))).unwrap().serial);
    }
    put(out, "imsm_update", "kill-create", &framed(7, 1, &[le(&[2, 1]), create]));
    let mut rename = le(&[3]);
    rename.extend_from_slice(b"newname\0\0\0\0\0\0\0\0\0");
    rename.extend_from_slice(&le(&[0]));
    put(out, "imsm_update", "rename", &framed(1, 0, &[rename]));
    put(out, "imsm_update", "reshape-disks", &framed(1, 1, &[le(&[5, 2, 3, 0x0700_0009])]));
    put(out, "imsm_update", "migration", &framed(0, 1, &[le(&[6, 2, 3, 0, 5, 0, 64, 0xFFFF_FFFF])]));
    put(out, "imsm_update", "chunk", &framed(5, 1, &[le(&[6, 3, 3, 0, 0xFFFF_FFFF, 0, 64, 0xFFFF_FFFF])]));
    put(out, "imsm_update", "takeover", &framed(0, 1, &[le(&[7, 0, 1])]));
    put(out, "imsm_update", "checkpoint", &framed(5, 1, &[le(&[8, 0, 5, 0])]));
    put(out, "imsm_update", "size", &framed(1, 0, &[le(&[9, 0, 65536, 0])]));
    put(out, "imsm_update", "rwh", &framed(1, 0, &[le(&[11, 1, 0])]));
    // DDF: kill VD 1 and add it back (VIRT entry, then its configuration).
    let mut d = harness::fixture(&fixture_dir("ddf"), "ddf-r1-r5-clean");
    let ddf = mdmon::ddf::Ddf::load(&mut d, &mut Vec::new()).unwrap();
    let entry = ddf.virt_entries().nth(1).unwrap().as_bytes().to_vec();
    let c = ddf.confs.iter().position(|c| c.vcnum == Some(1)).unwrap();
    let conf = ddf.confs[c].records[0].to_vec();
    let virt = |e: &[u8]| {
        use mdmon::ddf::view::{table, EntryUpdate};
        let mut u = vec![0xFFu8; EntryUpdate::<&[u8]>::LEN];
        u[..4].copy_from_slice(&mdmon::ddf::view::magic::VIRT.to_be_bytes());
        u[table::LEN..].copy_from_slice(e);
        u
    };
    let mut kill = entry.clone();
    kill[mdmon::ddf::view::virt::STATE] = 0x02;
    put(out, "ddf_update", "kill-add-conf", &framed(0, 1, &[virt(&kill), virt(&entry), conf.clone()]));
    put(out, "ddf_update", "conf", &framed(1, 3, &[conf]));
    // Socket frames: a ping, a manager ping and an update, pipelined.
    let mut frames = vec![7u8];
    for p in [&b""[..], b"\x01\x00\x00\x00\x02\x00\x00\x00"] {
        let mut b = [0u8; 64];
        let n = mdmon::proto::encode(p, &mut b);
        frames.extend_from_slice(&b[..n]);
    }
    frames.extend_from_slice(&0x5a5a_a5a5u32.to_ne_bytes());
    frames.extend_from_slice(&(-1i32).to_ne_bytes());
    frames.extend_from_slice(&0xa5a5_5a5au32.to_ne_bytes());
    put(out, "proto", "three-frames", &frames);
    put(out, "proto", "version", b"\x40mdadm - v4.2 - 2021-12-30\0");
    put(out, "mdstat", "imsm", b"Personalities : [raid1] [raid6] [raid5] [raid4] [raid0] [raid10]\nmd125 : active raid10 sde[3] sdd[2] sdc[1] sdb[0]\n      2093056 blocks super external:/md127/0 64K chunks 2 near-copies [4/3] [UU_U]\n      [===>.................]  recovery = 17.5% (183808/1046528) finish=0.4min speed=30634K/sec\n\nmd126 : active (read-only) raid1 loop1[1] loop0[0]\n      16384 blocks super external:-md127/1 [2/2] [UU]\n      \tresync=PENDING\n\nmd127 : inactive loop1[1](S) loop0[0](S)\n      10402 blocks super external:imsm\n\nunused devices: <none>\n");
    for (n, w) in [
        ("state", &b"active\n"[..]),
        ("dev", b"faulty,in_sync,blocked\n"),
        ("sector", b"123456 none\n"),
        ("delay", b"0.201\n"),
        ("sync", b"1024 / 2048\n"),
    ] {
        put(out, "sysfs", n, w);
    }
}
