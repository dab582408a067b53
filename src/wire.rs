//! Little helpers for typed byte views over fixed buffers.
//!
//! On-disk structures are read and written through views (see `imsm::view`)
//! whose accessors name a field offset and an explicit endianness. These
//! functions are the only place that turns bytes into integers.

/// Read a little-endian u16 at `off`.
#[inline]
pub fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

/// Read a little-endian u32 at `off`.
#[inline]
pub fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Read a little-endian u64 at `off`.
#[inline]
pub fn le64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// Read a big-endian u16 at `off` (DDF is big-endian).
#[inline]
pub fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Read a big-endian u32 at `off`.
#[inline]
pub fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Read a big-endian u64 at `off`.
#[inline]
pub fn be64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_be_bytes(a)
}

/// Write a little-endian u16 at `off`.
#[inline]
pub fn set_le16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

/// Write a little-endian u32 at `off`.
#[inline]
pub fn set_le32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Write a little-endian u64 at `off`.
#[inline]
pub fn set_le64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// Write a big-endian u16 at `off`.
#[inline]
pub fn set_be16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_be_bytes());
}

/// Write a big-endian u32 at `off`.
#[inline]
pub fn set_be32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

/// Write a big-endian u64 at `off`.
#[inline]
pub fn set_be64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_be_bytes());
}

/// The bytes of a fixed-width, NUL-padded text field up to its first NUL.
pub fn cstr_field(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_endiannesses() {
        let mut b = [0u8; 16];
        set_le32(&mut b, 1, 0x1234_5678);
        assert_eq!(&b[1..5], &[0x78, 0x56, 0x34, 0x12]);
        assert_eq!(le32(&b, 1), 0x1234_5678);
        set_be32(&mut b, 8, 0x1234_5678);
        assert_eq!(&b[8..12], &[0x12, 0x34, 0x56, 0x78]);
        assert_eq!(be32(&b, 8), 0x1234_5678);
        set_le64(&mut b, 0, u64::MAX - 1);
        assert_eq!(le64(&b, 0), u64::MAX - 1);
        set_be64(&mut b, 8, 42);
        assert_eq!(be64(&b, 8), 42);
        set_le16(&mut b, 3, 0xbeef);
        assert_eq!(le16(&b, 3), 0xbeef);
        set_be16(&mut b, 3, 0xbeef);
        assert_eq!(be16(&b, 3), 0xbeef);
    }

    #[test]
    fn cstr_field_stops_at_nul_or_end() {
        assert_eq!(cstr_field(b"ab\0cd"), b"ab");
        assert_eq!(cstr_field(b"abcd"), b"abcd");
    }
}
