//! The version string mdmon answers a ping with, and a model of mdadm's
//! parser of it (to prove that mdadm accepts ours).

/// The version string mdmon answers a ping with: `mdadm - v4.2 - mdmon-rs <crate_version>\n` plus a trailing NUL (included in the returned slice).
///
/// mdadm parses it (see [`parse_mdadm_version`]): after the first `-` must
/// come `" v"`, then `major.minor[.patch]` ended by a space or `-`, and it
/// must be ≥ 3.2.0.  An over-long `crate_version` is truncated; NUL bytes in
/// it are replaced by `?`.
pub fn version_reply<'b>(buf: &'b mut [u8; 128], crate_version: &str) -> &'b [u8] {
    const PREFIX: &[u8] = b"mdadm - v4.2 - mdmon-rs ";
    let mut n = PREFIX.len();
    buf[..n].copy_from_slice(PREFIX);
    let room = buf.len() - n - 2; // keep space for "\n\0"
    for &b in crate_version.as_bytes().iter().take(room) {
        buf[n] = if b == 0 { b'?' } else { b };
        n += 1;
    }
    buf[n] = b'\n';
    buf[n + 1] = 0;
    &buf[..n + 2]
}

/// C `strtoul(s, &end, 10)` as far as mdadm relies on it: value (wrapped to i64) and bytes consumed (0 when no digits).
fn strtoul(s: &[u8]) -> (i64, usize) {
    let mut i = s.iter().take_while(|b| b" \t\n\x0b\x0c\r".contains(b)).count();
    let mut neg = false;
    if let Some(&c) = s.get(i) {
        if c == b'+' || c == b'-' {
            neg = c == b'-';
            i += 1;
        }
    }
    let digits = s[i.min(s.len())..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return (0, 0);
    }
    let mut v: i64 = 0;
    for &d in &s[i..i + digits] {
        v = v.saturating_mul(10).saturating_add(i64::from(d - b'0'));
    }
    (if neg { -v } else { v }, i + digits)
}

/// A checker that parses a version reply exactly as mdadm's check_mdmon_version does and returns the numeric value major*1_000_000+minor*1000+patch (used in tests to prove our string is accepted)
///
/// The reply is read as a C string (up to the first NUL).  `None` when mdadm
/// would get -1 (bad form), for an empty reply, or when the value is negative
/// or does not fit (mdadm's int arithmetic would be meaningless there).
pub fn parse_mdadm_version(reply: &[u8]) -> Option<u32> {
    let s = &reply[..reply.iter().position(|&b| b == 0).unwrap_or(reply.len())];
    let dash = s.iter().position(|&b| b == b'-')?;
    let mut p = dash + 1;
    if s.get(p) != Some(&b' ') || s.get(p + 1) != Some(&b'v') {
        return None;
    }
    p += 2;
    let (major, used) = strtoul(&s[p..]);
    p += used;
    if s.get(p) != Some(&b'.') {
        return None;
    }
    p += 1;
    let (minor, used) = strtoul(&s[p..]);
    // strtoul with no digits leaves the end pointer at its argument (after '.').
    p += used;
    let mut patch = 0;
    if s.get(p) == Some(&b'.') {
        p += 1;
        let (v, used) = strtoul(&s[p..]);
        patch = v;
        p += used;
    }
    if !matches!(s.get(p), Some(b' ') | Some(b'-')) {
        return None;
    }
    let v = major.checked_mul(1_000_000)?.checked_add(minor.checked_mul(1000)?)?.checked_add(patch)?;
    u32::try_from(v).ok()
}
