//! Decoding the IMSM metadata updates mdadm sends over the control socket.
//! Each is the C struct as laid out on x86-64 (native little-endian, enums
//! as 4-byte ints, natural alignment). Payloads are checked before use: the
//! C mdmon trusts them.

use super::view::Dev;
use super::Serial;
use crate::metadata::MAX_SLOTS;
use crate::wire::{le32, le64};
use arrayvec::ArrayVec;

/// Update record types as numbered on the wire.
pub mod kind {
    pub const ACTIVATE_SPARE: u32 = 0;
    pub const CREATE_ARRAY: u32 = 1;
    pub const KILL_ARRAY: u32 = 2;
    pub const RENAME_ARRAY: u32 = 3;
    pub const ADD_REMOVE_DISK: u32 = 4;
    pub const RESHAPE_CONTAINER_DISKS: u32 = 5;
    pub const RESHAPE_MIGRATION: u32 = 6;
    pub const TAKEOVER: u32 = 7;
    pub const GENERAL_MIGRATION_CHECKPOINT: u32 = 8;
    pub const SIZE_CHANGE: u32 = 9;
    pub const PREALLOC_BADBLOCKS_MEM: u32 = 10;
    pub const RWH_POLICY: u32 = 11;
}

/// A decoded update.
#[derive(Debug, PartialEq, Eq)]
pub enum Update<'a> {
    /// A new volume: its record (one map) and its members' serials in slot order.
    CreateArray { dev_idx: u32, dev: &'a [u8], serials: ArrayVec<Serial, MAX_SLOTS> },
    /// Delete a volume.
    KillArray { dev_idx: u32 },
    /// Rename a volume.
    RenameArray { name: [u8; 16], dev_idx: u32 },
    /// Add disks to every volume (container reshape): the added disks as
    /// dev_t numbers (glibc `makedev` truncated to 32 bits).
    ReshapeContainerDisks { old_raid_disks: u32, new_raid_disks: u32, new_disks: ArrayVec<u32, MAX_SLOTS> },
    /// Level or chunk change of one volume. Negative values mean "no
    /// change"; `new_disk` (dev_t, or -1) is the spare a RAID0 → RAID5
    /// migration takes (mdmon picks one when mdadm sends -1).
    ReshapeMigration {
        old_raid_disks: i32,
        new_raid_disks: i32,
        subdev: u32,
        new_level: i32,
        new_chunksize: i32,
        new_disk: i32,
    },
    /// RAID0 <-> RAID10.
    Takeover { subarray: u32, direction: u32 },
    /// Reshape progress in migration units.
    GeneralMigrationCheckpoint { curr_migr_unit: u64 },
    /// New volume size in sectors.
    SizeChange { subdev: u32, new_size: u64 },
    /// New write-hole policy.
    RwhPolicy { new_policy: u32, dev_idx: u32 },
}

/// Why a payload was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// Fewer than 4 bytes: no type.
    Empty,
    UnknownType(u32),
    /// A type only mdmon itself creates.
    InternalOnly(u32),
    TooShort {
        kind: u32,
        len: usize,
        need: usize,
    },
    /// A field out of range.
    Invalid(&'static str),
}

impl UpdateError {
    /// A short reason for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            UpdateError::Empty => "empty update",
            UpdateError::UnknownType(_) => "unknown update type",
            UpdateError::InternalOnly(_) => "an update type only mdmon may create",
            UpdateError::TooShort { .. } => "truncated update",
            UpdateError::Invalid(why) => why,
        }
    }
}

fn need(p: &[u8], kind: u32, n: usize) -> Result<(), UpdateError> {
    if p.len() < n {
        Err(UpdateError::TooShort { kind, len: p.len(), need: n })
    } else {
        Ok(())
    }
}

/// Decode one update payload.
pub fn decode(p: &[u8]) -> Result<Update<'_>, UpdateError> {
    if p.len() < 4 {
        return Err(UpdateError::Empty);
    }
    let t = le32(p, 0);
    match t {
        kind::ACTIVATE_SPARE | kind::ADD_REMOVE_DISK | kind::PREALLOC_BADBLOCKS_MEM => {
            Err(UpdateError::InternalOnly(t))
        }
        kind::CREATE_ARRAY => {
            // type, dev_idx, then the volume record, then 16-byte serials.
            need(p, t, 8 + 164)?;
            let dev_idx = le32(p, 4);
            let dev = &p[8..];
            let len = Dev::<&[u8]>::check_len(dev).ok_or(UpdateError::Invalid("malformed volume record"))?;
            let v = Dev::new_unchecked(dev);
            if v.migrating() {
                return Err(UpdateError::Invalid("a new volume cannot be migrating"));
            }
            let n = usize::from(v.map0().num_members());
            if n == 0 || n > MAX_SLOTS {
                return Err(UpdateError::Invalid("member count"));
            }
            // mdadm sends the record at its C size, which is at least 164 bytes.
            let rec = len.max(164);
            need(p, t, 8 + rec + 16 * n)?;
            if dev_idx >= 255 {
                return Err(UpdateError::Invalid("volume index"));
            }
            let mut serials = ArrayVec::new();
            for i in 0..n {
                let mut s = [0u8; 16];
                s.copy_from_slice(&p[8 + rec + 16 * i..8 + rec + 16 * (i + 1)]);
                if s[0] == 0 {
                    return Err(UpdateError::Invalid("empty serial"));
                }
                serials.push(s);
            }
            Ok(Update::CreateArray { dev_idx, dev: &p[8..8 + len], serials })
        }
        kind::KILL_ARRAY => {
            need(p, t, 8)?;
            Ok(Update::KillArray { dev_idx: le32(p, 4) })
        }
        kind::RENAME_ARRAY => {
            need(p, t, 24)?;
            let mut name = [0u8; 16];
            name.copy_from_slice(&p[4..20]);
            if name[0] == 0 || name[0] == b'.' {
                return Err(UpdateError::Invalid("volume name"));
            }
            let text = crate::wire::cstr_field(&name);
            if !text.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b' ')) {
                return Err(UpdateError::Invalid("volume name characters"));
            }
            Ok(Update::RenameArray { name, dev_idx: le32(p, 20) })
        }
        kind::RESHAPE_CONTAINER_DISKS => {
            // type, old, new, then one int per added disk (at least one slot).
            need(p, t, 16)?;
            let (old, new) = (le32(p, 4), le32(p, 8));
            if new <= old || new as usize > MAX_SLOTS {
                return Err(UpdateError::Invalid("disk counts"));
            }
            let delta = (new - old) as usize;
            need(p, t, 12 + 4 * delta)?;
            let new_disks = (0..delta).map(|i| le32(p, 12 + 4 * i)).collect();
            Ok(Update::ReshapeContainerDisks { old_raid_disks: old, new_raid_disks: new, new_disks })
        }
        kind::RESHAPE_MIGRATION => {
            need(p, t, 32)?;
            Ok(Update::ReshapeMigration {
                old_raid_disks: le32(p, 4) as i32,
                new_raid_disks: le32(p, 8) as i32,
                subdev: le32(p, 12),
                new_level: le32(p, 16) as i32,
                new_chunksize: le32(p, 24) as i32,
                new_disk: le32(p, 28) as i32,
            })
        }
        kind::TAKEOVER => {
            need(p, t, 12)?;
            let direction = le32(p, 8);
            if direction > 1 {
                return Err(UpdateError::Invalid("takeover direction"));
            }
            Ok(Update::Takeover { subarray: le32(p, 4), direction })
        }
        kind::GENERAL_MIGRATION_CHECKPOINT => {
            need(p, t, 16)?;
            Ok(Update::GeneralMigrationCheckpoint { curr_migr_unit: le64(p, 8) })
        }
        kind::SIZE_CHANGE => {
            need(p, t, 16)?;
            let new_size = le64(p, 8) as i64;
            if new_size <= 0 {
                return Err(UpdateError::Invalid("size"));
            }
            Ok(Update::SizeChange { subdev: le32(p, 4), new_size: new_size as u64 })
        }
        kind::RWH_POLICY => {
            need(p, t, 12)?;
            let new_policy = le32(p, 4);
            if new_policy > 6 {
                return Err(UpdateError::Invalid("write-hole policy"));
            }
            Ok(Update::RwhPolicy { new_policy, dev_idx: le32(p, 8) })
        }
        _ => Err(UpdateError::UnknownType(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// The volume record of the raid1-clean fixture (2 members).
    fn fixture_dev() -> Vec<u8> {
        let tail = include_bytes!("../../tests/fixtures/imsm/raid1-clean.disk0.bin");
        let mpb = &tail[7168..];
        let nd = usize::from(mpb[0x38]);
        let dev = &mpb[216 + 48 * nd..];
        let len = Dev::<&[u8]>::check_len(dev).unwrap();
        dev[..len].to_vec()
    }

    #[test]
    fn create_array_round_trip() {
        let dev = fixture_dev();
        let mut p = rec(&[kind::CREATE_ARRAY, 1]);
        let mut d = dev.clone();
        d.resize(d.len().max(164), 0);
        p.extend_from_slice(&d);
        p.extend_from_slice(b"/dev/loop0\0\0\0\0\0\0/dev/loop1\0\0\0\0\0\0");
        match decode(&p).unwrap() {
            Update::CreateArray { dev_idx, dev: got, serials } => {
                assert_eq!(dev_idx, 1);
                assert_eq!(got, &dev[..]);
                assert_eq!(serials.len(), 2);
                assert_eq!(&serials[1][..10], b"/dev/loop1");
            }
            u => panic!("{u:?}"),
        }
        for cut in 0..p.len() {
            assert!(decode(&p[..cut]).is_err(), "truncated at {cut}");
        }
    }

    #[test]
    fn small_records() {
        assert_eq!(decode(&rec(&[kind::KILL_ARRAY, 1])), Ok(Update::KillArray { dev_idx: 1 }));
        let mut r = rec(&[kind::RENAME_ARRAY]);
        r.extend_from_slice(b"newname\0\0\0\0\0\0\0\0\0");
        r.extend_from_slice(&1u32.to_le_bytes());
        assert!(matches!(decode(&r), Ok(Update::RenameArray { dev_idx: 1, .. })));
        let mut bad = r.clone();
        bad[4] = b'.';
        assert!(decode(&bad).is_err());
        bad[4] = b'/';
        assert!(decode(&bad).is_err());
        assert_eq!(decode(&rec(&[kind::RWH_POLICY, 1, 0])), Ok(Update::RwhPolicy { new_policy: 1, dev_idx: 0 }));
        assert!(decode(&rec(&[kind::RWH_POLICY, 9, 0])).is_err());
        assert_eq!(
            decode(&rec(&[kind::GENERAL_MIGRATION_CHECKPOINT, 0, 7, 0])),
            Ok(Update::GeneralMigrationCheckpoint { curr_migr_unit: 7 })
        );
        assert_eq!(
            decode(&rec(&[kind::SIZE_CHANGE, 0, 4096, 0])),
            Ok(Update::SizeChange { subdev: 0, new_size: 4096 })
        );
        assert!(decode(&rec(&[kind::SIZE_CHANGE, 0, 0, 0x8000_0000])).is_err(), "negative size");
        assert!(decode(&rec(&[kind::TAKEOVER, 0, 2])).is_err());
        assert_eq!(decode(&rec(&[kind::ACTIVATE_SPARE, 0, 0, 0, 0, 0, 0, 0])), Err(UpdateError::InternalOnly(0)));
        assert_eq!(decode(&rec(&[99])), Err(UpdateError::UnknownType(99)));
        assert_eq!(decode(&[1, 0]), Err(UpdateError::Empty));
        // Every type cut to 4..8 bytes: the internal ones are refused as
        // such, every other one as truncated at exactly that length.
        for t in 0..12u32 {
            for n in 4..8 {
                let mut p = rec(&[t]);
                p.resize(n, 0);
                match decode(&p) {
                    Err(UpdateError::InternalOnly(k)) => {
                        assert_eq!(k, t);
                        assert!(matches!(
                            t,
                            kind::ACTIVATE_SPARE | kind::ADD_REMOVE_DISK | kind::PREALLOC_BADBLOCKS_MEM
                        ));
                    }
                    Err(UpdateError::TooShort { kind, len, need }) => {
                        assert_eq!((kind, len), (t, n), "type {t}");
                        assert!(need > n, "type {t}: needs {need}");
                    }
                    other => panic!("type {t} in {n} bytes: {other:?}"),
                }
            }
        }
    }

    /// Every record type, well formed, then cut at every shorter length:
    /// the cut ones are refused as truncated (never read past the end).
    #[test]
    fn every_record_truncated_is_refused() {
        let mut rename = rec(&[kind::RENAME_ARRAY]);
        rename.extend_from_slice(b"vol\0\0\0\0\0\0\0\0\0\0\0\0\0");
        rename.extend_from_slice(&0u32.to_le_bytes());
        let records: [(u32, Vec<u8>); 8] = [
            (kind::KILL_ARRAY, rec(&[kind::KILL_ARRAY, 1])),
            (kind::RENAME_ARRAY, rename),
            (kind::RESHAPE_CONTAINER_DISKS, rec(&[kind::RESHAPE_CONTAINER_DISKS, 2, 3, 0])),
            (kind::RESHAPE_MIGRATION, rec(&[kind::RESHAPE_MIGRATION, 0, 0, 0, 5, 0, 0, 0])),
            (kind::TAKEOVER, rec(&[kind::TAKEOVER, 0, 1])),
            (kind::GENERAL_MIGRATION_CHECKPOINT, rec(&[kind::GENERAL_MIGRATION_CHECKPOINT, 0, 9, 0])),
            (kind::SIZE_CHANGE, rec(&[kind::SIZE_CHANGE, 0, 4096, 0])),
            (kind::RWH_POLICY, rec(&[kind::RWH_POLICY, 1, 0])),
        ];
        for (t, r) in &records {
            assert!(decode(r).is_ok(), "type {t} well formed: {:?}", decode(r));
            for cut in 0..r.len() {
                match decode(&r[..cut]) {
                    Err(UpdateError::Empty) => assert!(cut < 4),
                    Err(UpdateError::TooShort { kind, len, need }) => {
                        assert_eq!((kind, len), (*t, cut));
                        assert_eq!(need, r.len(), "type {t}: minimum length");
                    }
                    other => panic!("type {t} cut at {cut}: {other:?}"),
                }
            }
            // Trailing bytes (a newer mdadm's longer record) are tolerated.
            let mut long = r.clone();
            long.extend_from_slice(&[0u8; 64]);
            assert!(decode(&long).is_ok(), "type {t} with trailing bytes");
        }
    }

    #[test]
    fn reshape_records_carry_their_disks_and_fields() {
        // Two added disks: the record needs one int each (20 bytes).
        let r = rec(&[kind::RESHAPE_CONTAINER_DISKS, 2, 4, 0x0702, 0x0703]);
        match decode(&r).unwrap() {
            Update::ReshapeContainerDisks { old_raid_disks: 2, new_raid_disks: 4, new_disks } => {
                assert_eq!(&new_disks[..], &[0x0702, 0x0703]);
            }
            u => panic!("{u:?}"),
        }
        assert_eq!(
            decode(&r[..16]),
            Err(UpdateError::TooShort { kind: kind::RESHAPE_CONTAINER_DISKS, len: 16, need: 20 })
        );
        assert!(decode(&rec(&[kind::RESHAPE_CONTAINER_DISKS, 3, 3, 0])).is_err(), "no disk added");
        assert!(decode(&rec(&[kind::RESHAPE_CONTAINER_DISKS, 1, 200, 0])).is_err(), "too many");
        let m = rec(&[kind::RESHAPE_MIGRATION, 2, 3, 0, 5, u32::MAX, 64, u32::MAX]);
        assert_eq!(
            decode(&m),
            Ok(Update::ReshapeMigration {
                old_raid_disks: 2,
                new_raid_disks: 3,
                subdev: 0,
                new_level: 5,
                new_chunksize: 64,
                new_disk: -1
            })
        );
    }

    /// Random payloads of every type (0..=12): each decodes to an update or
    /// to the error that says why not (and its type and lengths are right).
    #[test]
    fn garbage_decodes_or_says_why() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut buf = [0u8; 400];
        let (mut decoded, mut short) = (0, 0);
        for _ in 0..20000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 400) as usize;
            for b in buf.iter_mut().take(n) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            buf[0] = (x % 13) as u8;
            buf[1..4].fill(0);
            let t = u32::from(buf[0]);
            match decode(&buf[..n]) {
                Err(UpdateError::Empty) => assert!(n < 4),
                Err(UpdateError::UnknownType(u)) => assert!(u == t && t > kind::RWH_POLICY, "type {t}"),
                Err(UpdateError::InternalOnly(u)) => assert!(
                    u == t && [kind::ACTIVATE_SPARE, kind::ADD_REMOVE_DISK, kind::PREALLOC_BADBLOCKS_MEM].contains(&t),
                    "type {t}"
                ),
                Err(UpdateError::TooShort { kind: k, len, need }) => {
                    assert!(k == t && len == n && need > n, "type {t}: {len} of {need}");
                    short += 1;
                }
                Err(UpdateError::Invalid(why)) => assert!(n >= 4 && !why.is_empty()),
                Ok(u) => {
                    assert!(n >= 8, "type {t} decoded from {n} bytes: {u:?}");
                    decoded += 1;
                }
            }
        }
        // Random payloads reach both the length checks and a decoded update.
        assert!(decoded > 0 && short > 0, "decoded {decoded}, too short {short}");
    }
}
