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

/// Slicing-by-8 tables: `T[k][b]` is the CRC of byte `b` followed by `k`
/// zero bytes, so eight bytes are folded in per step.
const fn tables() -> [[u32; 256]; 8] {
    let t0 = table();
    let mut t = [[0u32; 256]; 8];
    t[0] = t0;
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            t[k][i] = (t[k - 1][i] >> 8) ^ t0[(t[k - 1][i] & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

static T: [[u32; 256]; 8] = tables();

fn update(mut c: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let lo = u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]) ^ c;
        let hi = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
        c = T[7][(lo & 0xff) as usize]
            ^ T[6][((lo >> 8) & 0xff) as usize]
            ^ T[5][((lo >> 16) & 0xff) as usize]
            ^ T[4][(lo >> 24) as usize]
            ^ T[3][(hi & 0xff) as usize]
            ^ T[2][((hi >> 8) & 0xff) as usize]
            ^ T[1][((hi >> 16) & 0xff) as usize]
            ^ T[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        c = T[0][((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
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
    fn eight_bytes_at_a_time_match_one_at_a_time() {
        let t = table();
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 + 7) as u8).collect();
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 512, 1000] {
            let slow = data[..len].iter().fold(0u32, |c, &b| t[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8));
            assert_eq!(crc32(&data[..len]), slow, "length {len}");
        }
    }

    #[test]
    fn field_variant_matches_a_copy() {
        let mut b: Vec<u8> = (0..600u32).map(|i| (i * 7 + 3) as u8).collect();
        let direct = crc32_with_field(&b, 4);
        b[4..8].fill(0xFF);
        assert_eq!(crc32(&b), direct);
    }
}
