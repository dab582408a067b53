//! Sans-I/O framing of the mdmon control-socket protocol.
//!
//! Every message, in both directions, is:
//!
//! | field       | size          | value                                   |
//! |-------------|---------------|-----------------------------------------|
//! | start magic | 4             | `u32` [`START_MAGIC`]                   |
//! | length      | 4             | `i32`                                   |
//! | payload     | max(length,0) | opaque bytes                            |
//! | end magic   | 4             | `u32` [`END_MAGIC`]                     |
//!
//! All integers are in **host byte order** (the peer is mdadm on the same
//! machine), so this module uses `from_ne_bytes`/`to_ne_bytes`; on x86-64 this
//! is little-endian.
//!
//! Requests are distinguished by length: `0` = ping, `-1` = ping the
//! manager, `> 0` = metadata update.  Everything else is refused, and the
//! connection must then be closed.

/// Start-of-message magic (host byte order on the wire).
pub const START_MAGIC: u32 = 0x5a5a_a5a5;
/// End-of-message magic (host byte order on the wire).
pub const END_MAGIC: u32 = 0xa5a5_5a5a;
/// Largest payload the protocol allows on the wire (mdadm's `MSG_MAX_LEN`, 4 MiB).
pub const MSG_MAX_LEN: usize = 4 * 1024 * 1024;
/// Largest payload our fixed receive buffer accepts (a DDF VD_CONF update
/// for 8 BVDs is 28 KiB); larger valid messages give [`FrameError::TooLong`].
pub const MAX_PAYLOAD: usize = 32 * 1024;
/// Bytes of framing around a payload (start magic, length, end magic).
pub const FRAME_OVERHEAD: usize = 12;
/// Largest payload an [`Encoded`] reply can carry.
pub const MAX_REPLY_PAYLOAD: usize = 256;

const HEADER: usize = 8;

/// A decoded client request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Length 0: ping the monitor; reply with the version string.
    Ping,
    /// Length -1: run one manager pass; reply with an empty ack.
    PingManager,
    /// Length > 0: a metadata update record; reply with an empty ack.
    Update(&'a [u8]),
}

/// Why a frame was refused (the connection must be closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Wrong start or end magic.
    BadMagic,
    /// Length below -1 or above [`MSG_MAX_LEN`] (invalid on the wire).
    BadLength(i32),
    /// Valid length, but above [`MAX_PAYLOAD`] (our buffer is too small).
    TooLong(i32),
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::BadMagic => f.write_str("bad magic"),
            FrameError::BadLength(l) => write!(f, "bad message length {l}"),
            FrameError::TooLong(l) => write!(f, "message too long ({l} bytes)"),
        }
    }
}

/// Incremental decoder for one connection; about 32 KiB (`12 + MAX_PAYLOAD` bytes plus a few words).
///
/// Because of its size, keep it in a `static`, a startup-time `Box`, or a
/// fixed `arrayvec::ArrayVec<Decoder, N>` of connections rather than on a
/// small stack.  Protocol:
///
/// 1. read from the socket into [`Decoder::read_buf`];
/// 2. report the count with [`Decoder::advance`];
/// 3. on `Ok(Some(request))` handle it and call [`Decoder::reset`];
///    on `Err` close the connection (and `reset` before any reuse).
pub struct Decoder {
    buf: [u8; FRAME_OVERHEAD + MAX_PAYLOAD],
    fill: usize,
    failed: Option<FrameError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decoder").field("fill", &self.fill).field("failed", &self.failed).finish()
    }
}

impl Decoder {
    /// An empty decoder waiting for the start of a message.
    pub const fn new() -> Self {
        Decoder { buf: [0; FRAME_OVERHEAD + MAX_PAYLOAD], fill: 0, failed: None }
    }

    fn word(&self, at: usize) -> [u8; 4] {
        let mut w = [0u8; 4];
        w.copy_from_slice(&self.buf[at..at + 4]);
        w
    }

    /// Payload length once the header is in and validated.
    fn payload_len(&self) -> Option<usize> {
        if self.fill < HEADER || self.failed.is_some() {
            return None;
        }
        let len = i32::from_ne_bytes(self.word(4));
        Some(usize::try_from(len).unwrap_or(0))
    }

    /// Total frame length once known, otherwise the header length.
    fn target(&self) -> usize {
        match self.payload_len() {
            Some(p) => HEADER + p + 4,
            None => HEADER,
        }
    }

    /// Slice where the caller should read() bytes into next (never empty while a frame is incomplete; sized so that we never read past the end of the current frame, so that a pipelined next message stays in the socket)
    ///
    /// Empty after a complete frame (until [`Decoder::reset`]) or after an error.
    pub fn read_buf(&mut self) -> &mut [u8] {
        if self.failed.is_some() {
            return &mut [];
        }
        let target = self.target();
        &mut self.buf[self.fill..target]
    }

    /// Tell the decoder n bytes were written into read_buf(); returns Ok(Some(request)) when a frame completed, Ok(None) when more bytes are needed, Err on a bad frame (the connection must then be closed)
    ///
    /// `n` larger than the last `read_buf()` is clamped.  `advance(0)` on a
    /// complete frame returns the same request again; after an error the
    /// same error is returned until [`Decoder::reset`].
    pub fn advance(&mut self, n: usize) -> Result<Option<Request<'_>>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let before = self.fill;
        self.fill = (self.fill + n).min(self.target());
        if before < 4 && self.fill >= 4 && u32::from_ne_bytes(self.word(0)) != START_MAGIC {
            return self.fail(FrameError::BadMagic);
        }
        if self.fill < HEADER {
            return Ok(None);
        }
        let len = i32::from_ne_bytes(self.word(4));
        if before < HEADER {
            if len < -1 || usize::try_from(len).is_ok_and(|l| l > MSG_MAX_LEN) {
                return self.fail(FrameError::BadLength(len));
            }
            if usize::try_from(len).is_ok_and(|l| l > MAX_PAYLOAD) {
                return self.fail(FrameError::TooLong(len));
            }
            // The header is in: the target grows to the full frame.
        }
        let total = self.target();
        if self.fill < total {
            return Ok(None);
        }
        if u32::from_ne_bytes(self.word(total - 4)) != END_MAGIC {
            return self.fail(FrameError::BadMagic);
        }
        Ok(Some(match len {
            0 => Request::Ping,
            -1 => Request::PingManager,
            _ => Request::Update(&self.buf[HEADER..total - 4]),
        }))
    }

    fn fail(&mut self, e: FrameError) -> Result<Option<Request<'_>>, FrameError> {
        self.failed = Some(e);
        Err(e)
    }

    /// Reset for the next message after a request was handled
    pub fn reset(&mut self) {
        self.fill = 0;
        self.failed = None;
    }

    /// true when some bytes of a frame have arrived but it is not complete (used for idle/half-message timeouts)
    pub fn in_progress(&self) -> bool {
        self.failed.is_none() && self.fill > 0 && self.fill < self.target()
    }
}

/// Encode a reply frame into out (returns number of bytes); ack = empty payload (length 0); ping reply = version string including trailing NUL
///
/// Returns 0 (nothing written) when `out` is shorter than
/// `payload.len() + FRAME_OVERHEAD` or the payload exceeds [`MSG_MAX_LEN`].
pub fn encode(payload: &[u8], out: &mut [u8]) -> usize {
    let total = payload.len() + FRAME_OVERHEAD;
    if payload.len() > MSG_MAX_LEN || out.len() < total {
        return 0;
    }
    let len = payload.len() as i32; // <= 4 MiB, fits
    out[0..4].copy_from_slice(&START_MAGIC.to_ne_bytes());
    out[4..8].copy_from_slice(&len.to_ne_bytes());
    out[HEADER..HEADER + payload.len()].copy_from_slice(payload);
    out[total - 4..total].copy_from_slice(&END_MAGIC.to_ne_bytes());
    total
}

/// An outgoing reply frame with a send cursor, for partial writes on a non-blocking socket.
#[derive(Clone)]
pub struct Encoded {
    buf: [u8; FRAME_OVERHEAD + MAX_REPLY_PAYLOAD],
    len: usize,
    sent: usize,
}

impl core::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Encoded").field("frame", &&self.buf[..self.len]).field("sent", &self.sent).finish()
    }
}

impl Encoded {
    /// An empty ack (length 0) reply.
    pub fn ack() -> Self {
        let mut e = Encoded { buf: [0; FRAME_OVERHEAD + MAX_REPLY_PAYLOAD], len: 0, sent: 0 };
        e.len = encode(&[], &mut e.buf);
        e
    }

    /// A reply carrying `payload`; `None` if it is longer than [`MAX_REPLY_PAYLOAD`].
    pub fn with_payload(payload: &[u8]) -> Option<Self> {
        if payload.len() > MAX_REPLY_PAYLOAD {
            return None;
        }
        let mut e = Encoded { buf: [0; FRAME_OVERHEAD + MAX_REPLY_PAYLOAD], len: 0, sent: 0 };
        e.len = encode(payload, &mut e.buf);
        Some(e)
    }

    /// Bytes still to be written to the socket.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.sent..self.len]
    }

    /// Record that `n` bytes of `pending()` were written (clamped to what is pending).
    pub fn consume(&mut self, n: usize) {
        self.sent = (self.sent + n.min(self.len - self.sent)).min(self.len);
    }

    /// true once the whole frame has been written.
    pub fn done(&self) -> bool {
        self.sent >= self.len
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: i32, payload: &[u8], out: &mut [u8]) -> usize {
        out[0..4].copy_from_slice(&START_MAGIC.to_ne_bytes());
        out[4..8].copy_from_slice(&len.to_ne_bytes());
        out[8..8 + payload.len()].copy_from_slice(payload);
        out[8 + payload.len()..12 + payload.len()].copy_from_slice(&END_MAGIC.to_ne_bytes());
        12 + payload.len()
    }

    /// Feed `bytes` as if read() returned at most `chunk` bytes each time.
    fn feed_all(
        d: &mut Decoder,
        mut bytes: &[u8],
        chunk: usize,
        mut on_req: impl FnMut(Request<'_>),
    ) -> Result<usize, FrameError> {
        let mut frames = 0;
        while !bytes.is_empty() {
            let rb = d.read_buf();
            assert!(!rb.is_empty());
            let n = rb.len().min(chunk).min(bytes.len());
            rb[..n].copy_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if let Some(r) = d.advance(n)? {
                on_req(r);
                frames += 1;
                d.reset();
            }
        }
        Ok(frames)
    }

    fn decode_one(bytes: &[u8]) -> Result<Option<Request<'static>>, FrameError> {
        // Leak-free helper: map the borrowed request to an owned summary.
        let mut d = Decoder::new();
        let rb = d.read_buf();
        let n = rb.len().min(bytes.len());
        rb[..n].copy_from_slice(&bytes[..n]);
        let mut off = n;
        let mut res = d.advance(n).map(|r| r.map(summarize));
        while let Ok(None) = res {
            let rb = d.read_buf();
            let n = rb.len().min(bytes.len() - off);
            if n == 0 {
                break;
            }
            rb[..n].copy_from_slice(&bytes[off..off + n]);
            off += n;
            res = d.advance(n).map(|r| r.map(summarize));
        }
        res
    }

    fn summarize(r: Request<'_>) -> Request<'static> {
        match r {
            Request::Ping => Request::Ping,
            Request::PingManager => Request::PingManager,
            Request::Update(p) => Request::Update(if p.is_empty() { &[] } else { b"<payload>" }),
        }
    }

    #[test]
    fn wire_layout_is_host_order() {
        let mut out = [0u8; 12];
        assert_eq!(encode(&[], &mut out), 12);
        assert_eq!(&out[0..4], &0x5a5a_a5a5u32.to_ne_bytes());
        assert_eq!(&out[4..8], &[0, 0, 0, 0]);
        assert_eq!(&out[8..12], &0xa5a5_5a5au32.to_ne_bytes());
        #[cfg(target_endian = "little")]
        assert_eq!(out, [0xa5, 0xa5, 0x5a, 0x5a, 0, 0, 0, 0, 0x5a, 0x5a, 0xa5, 0xa5]);
    }

    #[test]
    fn ping_frame() {
        let mut b = [0u8; 12];
        frame(0, &[], &mut b);
        let mut d = Decoder::new();
        assert!(!d.in_progress());
        assert_eq!(d.read_buf().len(), 8);
        d.read_buf().copy_from_slice(&b[..8]);
        assert_eq!(d.advance(8), Ok(None));
        assert!(d.in_progress());
        assert_eq!(d.read_buf().len(), 4);
        d.read_buf().copy_from_slice(&b[8..]);
        assert_eq!(d.advance(4), Ok(Some(Request::Ping)));
        assert!(!d.in_progress());
        assert!(d.read_buf().is_empty());
        // Idempotent until reset.
        assert_eq!(d.advance(0), Ok(Some(Request::Ping)));
        d.reset();
        assert_eq!(d.read_buf().len(), 8);
    }

    #[test]
    fn ping_manager_frame() {
        let mut b = [0u8; 12];
        frame(-1, &[], &mut b);
        assert_eq!(decode_one(&b), Ok(Some(Request::PingManager)));
    }

    #[test]
    fn update_frame() {
        let payload: [u8; 300] = core::array::from_fn(|i| i as u8);
        let mut b = [0u8; 312];
        let n = frame(300, &payload, &mut b);
        let mut d = Decoder::new();
        let mut got = 0;
        let frames = feed_all(&mut d, &b[..n], usize::MAX, |r| {
            assert_eq!(r, Request::Update(&payload));
            got += 1;
        })
        .unwrap();
        assert_eq!((frames, got), (1, 1));
    }

    #[test]
    fn byte_at_a_time() {
        let payload = b"hello imsm update";
        let mut b = [0u8; 64];
        let n = frame(payload.len() as i32, payload, &mut b);
        let mut d = Decoder::new();
        for (i, &byte) in b[..n].iter().enumerate() {
            assert!(!d.read_buf().is_empty());
            d.read_buf()[0] = byte;
            let r = d.advance(1).unwrap();
            if i + 1 < n {
                assert_eq!(r, None);
                assert!(d.in_progress());
            } else {
                assert_eq!(r, Some(Request::Update(payload)));
            }
        }
    }

    #[test]
    fn pipelined_frames_read_buf_stops_at_frame_end() {
        let mut b = [0u8; 128];
        let mut n = frame(5, b"abcde", &mut b);
        n += frame(0, &[], &mut b[n..]);
        n += frame(-1, &[], &mut b[n..]);
        n += frame(3, b"xyz", &mut b[n..]);
        let mut d = Decoder::new();
        let mut seen = [Request::Ping; 4];
        let mut k = 0;
        // A greedy reader: always fills the whole read_buf; it must never swallow the next frame.
        let frames = feed_all(&mut d, &b[..n], usize::MAX, |r| {
            seen[k] = summarize(r);
            k += 1;
        })
        .unwrap();
        assert_eq!(frames, 4);
        assert_eq!(
            seen,
            [Request::Update(b"<payload>"), Request::Ping, Request::PingManager, Request::Update(b"<payload>")]
        );
        // Also with odd chunk sizes.
        for chunk in 1..20 {
            d.reset();
            assert_eq!(feed_all(&mut d, &b[..n], chunk, |_| {}), Ok(4));
        }
    }

    #[test]
    fn bad_start_magic() {
        let mut b = [0u8; 12];
        frame(0, &[], &mut b);
        b[0] ^= 1;
        assert_eq!(decode_one(&b), Err(FrameError::BadMagic));
        // Detected as soon as 4 bytes are in.
        let mut d = Decoder::new();
        d.read_buf()[..4].copy_from_slice(&b[..4]);
        assert_eq!(d.advance(4), Err(FrameError::BadMagic));
        assert!(d.read_buf().is_empty());
        assert!(!d.in_progress());
        assert_eq!(d.advance(0), Err(FrameError::BadMagic));
    }

    #[test]
    fn bad_end_magic() {
        let mut b = [0u8; 20];
        let n = frame(3, b"abc", &mut b);
        b[n - 1] ^= 0x80;
        assert_eq!(decode_one(&b[..n]), Err(FrameError::BadMagic));
        let mut b = [0u8; 12];
        frame(0, &[], &mut b);
        b[8] = 0;
        assert_eq!(decode_one(&b), Err(FrameError::BadMagic));
    }

    #[test]
    fn negative_lengths() {
        for len in [-2, -100, i32::MIN] {
            let mut b = [0u8; 12];
            frame(len, &[], &mut b);
            assert_eq!(decode_one(&b[..8]), Err(FrameError::BadLength(len)));
        }
    }

    #[test]
    fn oversize_lengths() {
        // Above the protocol's 4 MiB limit: invalid on the wire.
        for len in [MSG_MAX_LEN as i32 + 1, i32::MAX] {
            let mut b = [0u8; 12];
            frame(len, &[], &mut b);
            assert_eq!(decode_one(&b[..8]), Err(FrameError::BadLength(len)));
        }
        // Valid but bigger than our buffer.
        for len in [65 * 1024, MAX_PAYLOAD as i32 + 1, MSG_MAX_LEN as i32] {
            let mut b = [0u8; 12];
            frame(len, &[], &mut b);
            assert_eq!(decode_one(&b[..8]), Err(FrameError::TooLong(len)));
        }
    }

    #[test]
    fn max_payload_accepted() {
        let payload = [0x42u8; MAX_PAYLOAD];
        let mut b = [0u8; MAX_PAYLOAD + 12];
        assert_eq!(encode(&payload, &mut b), MAX_PAYLOAD + 12);
        let mut d = Decoder::new();
        let frames = feed_all(&mut d, &b, 4096, |r| {
            assert_eq!(r, Request::Update(&payload[..]));
        });
        assert_eq!(frames, Ok(1));
    }

    #[test]
    fn truncated_stays_pending() {
        let mut b = [0u8; 20];
        let n = frame(4, b"abcd", &mut b);
        for cut in 1..n {
            let mut d = Decoder::new();
            assert_eq!(feed_all(&mut d, &b[..cut], 3, |_| panic!()), Ok(0));
            assert!(d.in_progress());
            assert!(!d.read_buf().is_empty());
            assert_eq!(d.advance(0), Ok(None));
        }
    }

    #[test]
    fn reset_reuse_after_error_and_success() {
        let mut d = Decoder::new();
        let mut bad = [0u8; 12];
        frame(-5, &[], &mut bad);
        assert_eq!(feed_all(&mut d, &bad, 100, |_| {}), Err(FrameError::BadLength(-5)));
        d.reset();
        let mut good = [0u8; 12];
        frame(0, &[], &mut good);
        assert_eq!(feed_all(&mut d, &good, 100, |r| assert_eq!(r, Request::Ping)), Ok(1));
        assert_eq!(feed_all(&mut d, &good, 100, |r| assert_eq!(r, Request::Ping)), Ok(1));
        // Reset mid-frame discards the partial message.
        d.read_buf()[..3].copy_from_slice(&good[..3]);
        assert_eq!(d.advance(3), Ok(None));
        assert!(d.in_progress());
        d.reset();
        assert!(!d.in_progress());
        assert_eq!(d.read_buf().len(), 8);
    }

    #[test]
    fn advance_clamps_overlong_n() {
        let mut d = Decoder::new();
        let mut b = [0u8; 12];
        frame(0, &[], &mut b);
        d.read_buf().copy_from_slice(&b[..8]);
        assert_eq!(d.advance(1000), Ok(None));
        d.read_buf().copy_from_slice(&b[8..]);
        assert_eq!(d.advance(1000), Ok(Some(Request::Ping)));
    }

    #[test]
    fn encode_round_trip() {
        let mut out = [0u8; 64];
        for payload in [&b""[..], b"x", b"some update payload"] {
            let n = encode(payload, &mut out);
            assert_eq!(n, payload.len() + 12);
            let mut d = Decoder::new();
            let frames = feed_all(&mut d, &out[..n], 5, |r| {
                if payload.is_empty() {
                    assert_eq!(r, Request::Ping);
                } else {
                    assert_eq!(r, Request::Update(payload));
                }
            });
            assert_eq!(frames, Ok(1));
        }
        assert_eq!(encode(b"too big", &mut [0u8; 18]), 0);
    }

    #[test]
    fn encoded_cursor() {
        let mut a = Encoded::ack();
        assert_eq!(a.pending().len(), 12);
        assert!(!a.done());
        a.consume(5);
        assert_eq!(a.pending().len(), 7);
        a.consume(100);
        assert!(a.done());
        assert!(a.pending().is_empty());
        a.consume(1);
        assert!(a.done());

        let mut vb = [0u8; 128];
        let v = version_reply(&mut vb, "0.1.0");
        let mut e = Encoded::with_payload(v).unwrap();
        let mut wire = [0u8; 300];
        let mut n = 0;
        while !e.done() {
            let p = e.pending();
            let k = p.len().min(3);
            wire[n..n + k].copy_from_slice(&p[..k]);
            n += k;
            e.consume(k);
        }
        assert_eq!(n, v.len() + 12);
        let mut d = Decoder::new();
        let frames = feed_all(&mut d, &wire[..n], 7, |r| match r {
            Request::Update(p) => assert!(parse_mdadm_version(p).unwrap() >= 3_002_000),
            _ => panic!(),
        });
        assert_eq!(frames, Ok(1));

        assert!(Encoded::with_payload(&[1u8; MAX_REPLY_PAYLOAD]).is_some());
        assert!(Encoded::with_payload(&[1u8; MAX_REPLY_PAYLOAD + 1]).is_none());
    }

    #[test]
    fn version_reply_accepted_by_mdadm_parser() {
        let mut buf = [0u8; 128];
        let v = version_reply(&mut buf, env!("CARGO_PKG_VERSION"));
        assert!(v.starts_with(b"mdadm - v4.2 - mdmon-rs "));
        assert!(v.ends_with(b"\n\0"));
        assert_eq!(v.iter().filter(|&&b| b == 0).count(), 1);
        assert_eq!(parse_mdadm_version(v), Some(4_002_000));
        assert!(parse_mdadm_version(v).unwrap() >= 3_002_000);

        let long = core::str::from_utf8(&[b'9'; 500]).unwrap();
        let v = version_reply(&mut buf, long);
        assert_eq!(v.len(), 128);
        assert!(v.ends_with(b"\n\0"));
        assert_eq!(parse_mdadm_version(v), Some(4_002_000));

        let v = version_reply(&mut buf, "a\0b");
        assert!(v.ends_with(b"a?b\n\0"));
    }

    #[test]
    fn mdadm_version_parser_cases() {
        assert_eq!(parse_mdadm_version(b"mdadm - v4.6 - 2026-03-16\n\0"), Some(4_006_000));
        assert_eq!(parse_mdadm_version(b"mdadm - v3.2.1 - x"), Some(3_002_001));
        assert_eq!(parse_mdadm_version(b"mdadm - v3.1-rc1"), Some(3_001_000));
        assert_eq!(parse_mdadm_version(b"mdadm - v3.2"), None); // needs ' ' or '-' after
        assert_eq!(parse_mdadm_version(b"mdadm - v3 - x"), None);
        assert_eq!(parse_mdadm_version(b"mdadm -v3.2 - x"), None);
        assert_eq!(parse_mdadm_version(b"mdadm v3.2 - x"), None);
        assert_eq!(parse_mdadm_version(b""), None);
        assert_eq!(parse_mdadm_version(b"\0mdadm - v4.2 - x"), None);
        assert_eq!(parse_mdadm_version(b"mdadm - v.2 - x"), Some(2000));
        assert_eq!(parse_mdadm_version(b"mdadm - v4. - x"), Some(4_000_000));
        assert_eq!(parse_mdadm_version(b"mdadm - v-1.0 - x"), None);
        assert_eq!(parse_mdadm_version(b"mdadm - v99999999999.0 - x"), None);
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

    #[test]
    fn garbage_never_panics() {
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        let mut d = Decoder::new();
        let mut src = [0u8; 256];
        for round in 0..5000 {
            let len = (rng.next() % src.len() as u64) as usize;
            for b in src[..len].iter_mut() {
                *b = rng.next() as u8;
            }
            if round % 3 == 0 && len >= 12 {
                // Plausible header with a small random length.
                let l = (rng.next() % 300) as i32 - 2;
                src[0..4].copy_from_slice(&START_MAGIC.to_ne_bytes());
                src[4..8].copy_from_slice(&l.to_ne_bytes());
            }
            d.reset();
            let mut off = 0;
            while off < len {
                let rb = d.read_buf();
                if rb.is_empty() {
                    break;
                }
                let want = 1 + (rng.next() % 64) as usize;
                let n = want.min(rb.len()).min(len - off);
                rb[..n].copy_from_slice(&src[off..off + n]);
                off += n;
                let extra = (rng.next() % 4) as usize; // sometimes over-report
                match d.advance(n + if round % 7 == 0 { extra } else { 0 }) {
                    Ok(Some(_)) => d.reset(),
                    Ok(None) => {}
                    Err(_) => break,
                }
            }
            let _ = d.in_progress();
            let _ = parse_mdadm_version(&src[..len]);
        }
    }
}
