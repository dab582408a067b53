//! The CRC DDF uses as mdadm computes it: reflected CRC-32 (polynomial
//! 0x04C11DB7) with initial value 0 and no final inversion. Its check value
//! (the CRC of ASCII "123456789") is 0x2DFD2D88.

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static TABLE: [u32; 256] = table();

fn update(mut c: u32, data: &[u8]) -> u32 {
    for &b in data {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    c
}

/// The CRC of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    update(0, data)
}

/// The CRC of `data` with the 4 bytes at `field` taken as all-ones (how
/// a stored CRC is verified without copying the structure).
pub fn crc32_with_field(data: &[u8], field: usize) -> u32 {
    let c = update(0, &data[..field]);
    let c = update(c, &[0xFF; 4]);
    update(c, &data[field + 4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc32(b"123456789"), 0x2DFD_2D88);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn field_variant_matches_a_copy() {
        let mut b: Vec<u8> = (0..600u32).map(|i| (i * 7 + 3) as u8).collect();
        let direct = crc32_with_field(&b, 4);
        b[4..8].fill(0xFF);
        assert_eq!(crc32(&b), direct);
    }
}
