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
/// Payload capacity of [`Decoder::new`] (a DDF VD_CONF update for 8 BVDs of
/// mdadm's 7-sector records is 28 KiB); the daemon sizes its decoders by
/// what the loaded container's format can send ([`Decoder::with_capacity`]).
/// Larger valid messages give [`FrameError::TooLong`].
pub const MAX_PAYLOAD: usize = 32 * 1024;
/// Most payload a decoder is ever made for (whatever a container claims).
pub const PAYLOAD_CAP: usize = 256 * 1024;
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
    /// Valid length, but above the decoder's capacity (our buffer is too small).
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

/// Incremental decoder for one connection, with a receive buffer of
/// `12 + capacity` bytes allocated once, when it is made. Protocol:
///
/// 1. read from the socket into [`Decoder::read_buf`];
/// 2. report the count with [`Decoder::advance`];
/// 3. on `Ok(Some(request))` handle it and call [`Decoder::reset`];
///    on `Err` close the connection (and `reset` before any reuse).
///
/// A decoder may also take frames longer than its own buffer, up to
/// [`Decoder::with_loan`]'s `loanable`: once such a header is in it waits
/// ([`Decoder::wants_loan`], [`Decoder::read_buf`] empty) until its owner
/// lends it a buffer that large ([`Decoder::lend`]), and gives that back
/// at [`Decoder::reset`]. One large buffer then serves every connection.
pub struct Decoder {
    buf: Box<[u8]>,
    /// A lent buffer, used instead of `buf` while the frame lasts.
    loan: Option<Box<[u8]>>,
    /// Largest payload a lent buffer takes (0: none is lent).
    loanable: usize,
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
    /// An empty decoder for payloads of up to [`MAX_PAYLOAD`] bytes.
    pub fn new() -> Self {
        Self::with_capacity(MAX_PAYLOAD)
    }

    /// An empty decoder for payloads of up to `max_payload` bytes (at most
    /// [`PAYLOAD_CAP`], at least a header's worth).
    pub fn with_capacity(max_payload: usize) -> Self {
        Self::with_loan(max_payload, 0)
    }

    /// An empty decoder with its own buffer for payloads of up to
    /// `max_payload` bytes that waits for a loan for longer ones of up to
    /// `loanable` bytes (both at most [`PAYLOAD_CAP`]).
    pub fn with_loan(max_payload: usize, loanable: usize) -> Self {
        let cap = max_payload.clamp(HEADER, PAYLOAD_CAP);
        Decoder {
            buf: vec![0; FRAME_OVERHEAD + cap].into_boxed_slice(),
            loan: None,
            loanable: loanable.min(PAYLOAD_CAP),
            fill: 0,
            failed: None,
        }
    }

    /// A buffer to lend decoders made with `loanable` ([`Decoder::with_loan`]).
    pub fn loan_buffer(loanable: usize) -> Box<[u8]> {
        vec![0; FRAME_OVERHEAD + loanable.min(PAYLOAD_CAP)].into_boxed_slice()
    }

    /// The largest payload the buffer in use accepts.
    pub fn capacity(&self) -> usize {
        self.cur().len() - FRAME_OVERHEAD
    }

    /// The largest payload this decoder accepts, with a loan if need be.
    pub fn max_payload(&self) -> usize {
        (self.buf.len() - FRAME_OVERHEAD).max(self.loanable)
    }

    /// Whether a header announced a payload that needs a lent buffer, and
    /// none is lent yet.
    pub fn wants_loan(&self) -> bool {
        self.loan.is_none()
            && self.failed.is_none()
            && self.fill >= HEADER
            && usize::try_from(i32::from_ne_bytes(self.word(4))).is_ok_and(|l| l > self.buf.len() - FRAME_OVERHEAD)
    }

    /// Take `big` (at least [`Decoder::loan_buffer`]'s length) for the
    /// frame being received; it is given back by [`Decoder::reset`]. A
    /// buffer too short is given back at once.
    pub fn lend(&mut self, mut big: Box<[u8]>) -> Option<Box<[u8]>> {
        if self.loan.is_some() || big.len() < FRAME_OVERHEAD + self.loanable {
            return Some(big);
        }
        big[..self.fill].copy_from_slice(&self.buf[..self.fill]);
        self.loan = Some(big);
        None
    }

    fn cur(&self) -> &[u8] {
        self.loan.as_deref().unwrap_or(&self.buf)
    }

    fn word(&self, at: usize) -> [u8; 4] {
        let mut w = [0u8; 4];
        w.copy_from_slice(&self.cur()[at..at + 4]);
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
        if self.failed.is_some() || self.wants_loan() {
            return &mut [];
        }
        let (fill, target) = (self.fill, self.target());
        match self.loan.as_deref_mut() {
            Some(b) => &mut b[fill..target],
            None => &mut self.buf[fill..target],
        }
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
            if usize::try_from(len).is_ok_and(|l| l > self.max_payload()) {
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
            _ => Request::Update(&self.cur()[HEADER..total - 4]),
        }))
    }

    fn fail(&mut self, e: FrameError) -> Result<Option<Request<'_>>, FrameError> {
        self.failed = Some(e);
        Err(e)
    }

    /// Reset for the next message after a request was handled (or before
    /// the decoder is reused); gives back a lent buffer.
    pub fn reset(&mut self) -> Option<Box<[u8]>> {
        self.fill = 0;
        self.failed = None;
        self.loan.take()
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

mod version;
pub use version::{parse_mdadm_version, version_reply};

#[cfg(test)]
mod tests;
