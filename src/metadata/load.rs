//! What the formats' loaders share: the disks they read ([`DiskSource`]),
//! the formats by name ([`Format`]), and one entry point ([`load`]) that
//! picks the loader and tells the shell, as log lines, what each loader
//! found noteworthy. The shell never names a format's types.

use super::{DevT, DiskGeom, Metadata};
use core::fmt::Arguments;

/// A disk serial as the formats record it: up to 16 bytes, NUL padded.
pub type Serial = [u8; 16];

/// What the shell knows of one container member before its metadata is read.
#[derive(Clone, Copy, Debug)]
pub struct DiskInfo {
    pub dev: DevT,
    pub serial: Serial,
    pub geom: DiskGeom,
}

/// Reading the member disks at start-up (blocking is fine there).
pub trait DiskSource {
    /// Number of member disks.
    fn count(&self) -> usize;
    /// What the shell knows of disk `i`.
    fn info(&self, i: usize) -> DiskInfo;
    /// Read `buf.len()` bytes at byte `offset` of disk `i`.
    fn read(&mut self, i: usize, offset: u64, buf: &mut [u8]) -> Result<(), i32>;
}

/// Normalise a raw serial as IMSM records it: drop blanks and non-ASCII,
/// replace `:` with `;`, keep the last 16 characters.
pub fn normalise_serial(raw: &[u8]) -> Serial {
    let mut s: arrayvec::ArrayVec<u8, 64> = arrayvec::ArrayVec::new();
    for &c in raw.iter().take_while(|&&c| c != 0) {
        if c > 0x20 && c < 0x80 {
            let _ = s.try_push(if c == b':' { b';' } else { c });
        }
    }
    let tail = &s[s.len().saturating_sub(16)..];
    let mut out = [0u8; 16];
    out[..tail.len()].copy_from_slice(tail);
    out
}

/// The metadata formats mdmon serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Imsm,
    Ddf,
}

impl Format {
    /// The format a container's `metadata_version` names (`external:<name>`).
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "imsm" => Some(Format::Imsm),
            "ddf" => Some(Format::Ddf),
            _ => None,
        }
    }

    /// Whether a disk without a serial number can be a member (IMSM names
    /// disks by serial; DDF by GUID).
    pub fn needs_serial(self) -> bool {
        self == Format::Imsm
    }
}

/// Load the container's metadata in `format` from `src`. `name` gives a
/// disk's name for messages; `note` receives one message per noteworthy
/// finding (a copy rejected, stale, foreign...).
pub fn load<'a>(
    format: Format,
    src: &mut dyn DiskSource,
    name: &'a dyn Fn(DevT) -> &'a str,
    note: &mut dyn FnMut(Arguments<'_>),
) -> Result<Box<dyn Metadata>, std::string::String> {
    match format {
        Format::Imsm => load_imsm(src, name, note),
        Format::Ddf => load_ddf(src, name, note),
    }
}

// The loaders are not inlined into one frame: each builds its model (tens
// of KiB) on the stack on its way to the heap, and the stack's deepest point
// stays locked in memory.
#[inline(never)]
fn load_imsm<'a>(
    src: &mut dyn DiskSource,
    name: &'a dyn Fn(DevT) -> &'a str,
    note: &mut dyn FnMut(Arguments<'_>),
) -> Result<Box<dyn Metadata>, std::string::String> {
    use crate::imsm::LoadNote as N;
    let mut notes = Vec::new();
    let r = crate::imsm::Imsm::load(src, &mut notes).map(|m| m as Box<dyn Metadata>).map_err(|e| e.to_string());
    for n in &notes {
        match n {
            N::Rejected { dev, why } => note(format_args!(
                "metadata on {} rejected: {why}; it will be rewritten from the good copies",
                name(*dev)
            )),
            N::Stale { dev, gen } => note(format_args!("{} holds older metadata (generation {gen})", name(*dev))),
            N::Foreign { dev, family } => {
                note(format_args!("{} belongs to another container (family {family:#x}); ignored", name(*dev)))
            }
            N::Unknown { dev } => note(format_args!("{} is not described by the metadata; ignored", name(*dev))),
            N::SectorSize { dev, size } => {
                note(format_args!("{} has {size}-byte sectors, unlike the other members; ignored", name(*dev)))
            }
        }
    }
    r
}

#[inline(never)]
fn load_ddf<'a>(
    src: &mut dyn DiskSource,
    name: &'a dyn Fn(DevT) -> &'a str,
    note: &mut dyn FnMut(Arguments<'_>),
) -> Result<Box<dyn Metadata>, std::string::String> {
    use crate::ddf::LoadNote as N;
    let mut notes = Vec::new();
    let r = crate::ddf::Ddf::load(src, &mut notes).map(|m| m as Box<dyn Metadata>).map_err(|e| e.to_string());
    for n in &notes {
        match n {
            N::Rejected { dev, what, why } => note(format_args!(
                "DDF {what} on {} not used: {why}; it will be rewritten from the good copy",
                name(*dev)
            )),
            N::Stale { dev, seq } => note(format_args!("{} holds older DDF metadata (sequence {seq})", name(*dev))),
            N::BadConfigRecord { dev, index } => {
                note(format_args!("DDF configuration record {index} on {} is corrupt; ignored", name(*dev)))
            }
            N::CopyNotWritten { dev, which, why } => {
                note(format_args!("DDF {which} copy on {} neither used nor written: {why}", name(*dev)))
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_lose_blanks_and_keep_their_last_16_characters() {
        assert_eq!(&normalise_serial(b"  WD-WX1234 \0junk")[..9], b"WD-WX1234");
        assert_eq!(normalise_serial(b"0123456789abcdefXYZ"), *b"3456789abcdefXYZ");
        assert_eq!(&normalise_serial(b"a:b\xffc")[..4], b"a;bc");
    }

    #[test]
    fn formats_by_name() {
        assert_eq!(Format::from_name("imsm"), Some(Format::Imsm));
        assert_eq!(Format::from_name("ddf"), Some(Format::Ddf));
        assert_eq!(Format::from_name("1.2"), None);
        assert!(Format::Imsm.needs_serial() && !Format::Ddf.needs_serial());
    }
}
