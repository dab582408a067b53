//! Tests of the protocol framing and of the version reply.

use super::*;

/// Some bytes of a frame are in, but not all (for idle and half-message
/// checks), from the decoder's own state.
fn partial(d: &Decoder) -> bool {
    d.failed.is_none() && d.fill > 0 && d.fill < d.target()
}

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
    assert!(!partial(&d));
    assert_eq!(d.read_buf().len(), 8);
    d.read_buf().copy_from_slice(&b[..8]);
    assert_eq!(d.advance(8), Ok(None));
    assert!(partial(&d));
    assert_eq!(d.read_buf().len(), 4);
    d.read_buf().copy_from_slice(&b[8..]);
    assert_eq!(d.advance(4), Ok(Some(Request::Ping)));
    assert!(!partial(&d));
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
            assert!(partial(&d));
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
    assert!(!partial(&d));
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
        assert!(partial(&d));
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
    assert!(partial(&d));
    d.reset();
    assert!(!partial(&d));
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

/// Random bytes, some behind a plausible header, fed in random pieces (and
/// sometimes over-reported): the decoder keeps its documented contract on
/// each result, and the version parser accepts only the form mdadm reads.
#[test]
fn garbage_keeps_the_contract() {
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let mut d = Decoder::new();
    let mut src = [0u8; 256];
    let (mut frames, mut refused) = (0, 0);
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
            // Every other one also ends where its length says.
            let end = HEADER + usize::try_from(l).unwrap_or(0);
            if round % 2 == 0 && end + 4 <= len {
                src[end..end + 4].copy_from_slice(&END_MAGIC.to_ne_bytes());
            }
        }
        d.reset();
        let mut off = 0;
        while off < len {
            let rb = d.read_buf();
            assert!(!rb.is_empty(), "no room while a frame is incomplete");
            let want = 1 + (rng.next() % 64) as usize;
            let n = want.min(rb.len()).min(len - off);
            rb[..n].copy_from_slice(&src[off..off + n]);
            off += n;
            let extra = (rng.next() % 4) as usize; // sometimes over-report
            match d.advance(n + if round % 7 == 0 { extra } else { 0 }) {
                Ok(Some(r)) => {
                    if let Request::Update(p) = r {
                        assert!(!p.is_empty() && p.len() <= MAX_PAYLOAD, "payload of {} bytes", p.len());
                    }
                    assert!(d.read_buf().is_empty(), "room after a complete frame");
                    frames += 1;
                    d.reset();
                }
                Ok(None) => assert!(partial(&d), "incomplete, but not a frame in progress"),
                Err(e) => {
                    assert!(d.read_buf().is_empty(), "room after a refused frame");
                    assert_eq!(d.advance(0), Err(e), "the error sticks until reset");
                    refused += 1;
                    break;
                }
            }
        }
        let s = &src[..len];
        let s = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
        if parse_mdadm_version(&src[..len]).is_some() {
            assert!(s.windows(3).any(|w| w == b"- v"), "accepted without '- v': {s:?}");
        }
    }
    // Both outcomes were reached, not only one.
    assert!(frames > 0 && refused > 0, "frames {frames}, refused {refused}");
}

#[test]
fn sized_decoder_takes_up_to_its_capacity() {
    let mut d = Decoder::with_capacity(4096);
    assert_eq!(d.capacity(), 4096);
    let payload = [7u8; 4096];
    let mut b = vec![0u8; 4096 + 12];
    frame(4096, &payload, &mut b);
    assert_eq!(feed_all(&mut d, &b, 1000, |r| assert_eq!(r, Request::Update(&payload[..]))), Ok(1));
    // One byte more is refused as soon as the header is in.
    let mut d = Decoder::with_capacity(4096);
    frame(4097, &[], &mut b);
    d.read_buf()[..8].copy_from_slice(&b[..8]);
    assert_eq!(d.advance(8), Err(FrameError::TooLong(4097)));
    // Whatever a container claims, a decoder stays within the cap.
    assert_eq!(Decoder::with_capacity(usize::MAX).capacity(), PAYLOAD_CAP);
    assert_eq!(Decoder::with_capacity(0).capacity(), HEADER);
}

#[test]
fn a_long_frame_waits_for_a_loan_and_gives_it_back() {
    let mut d = Decoder::with_loan(16, 100);
    assert_eq!(d.max_payload(), 100);
    let mut buf = [0u8; 200];
    let payload: Vec<u8> = (0..60u8).collect();
    let n = frame(60, &payload, &mut buf);
    // The header first: the decoder then waits for a buffer long enough.
    let rb = d.read_buf();
    assert_eq!(rb.len(), HEADER);
    rb.copy_from_slice(&buf[..HEADER]);
    assert_eq!(d.advance(HEADER), Ok(None));
    assert!(d.wants_loan());
    assert!(d.read_buf().is_empty(), "nothing is read before the loan");
    // A buffer too short is handed back; the right one is taken.
    assert!(d.lend(vec![0; 20].into_boxed_slice()).is_some());
    assert!(d.lend(Decoder::loan_buffer(100)).is_none());
    assert!(!d.wants_loan());
    let rb = d.read_buf();
    assert_eq!(rb.len(), n - HEADER);
    rb.copy_from_slice(&buf[HEADER..n]);
    assert_eq!(d.advance(n - HEADER), Ok(Some(Request::Update(&payload))));
    let back = d.reset().expect("the loan comes back");
    assert_eq!(back.len(), FRAME_OVERHEAD + 100);
    // A short frame after it uses the decoder's own buffer.
    let n = frame(4, &[1, 2, 3, 4], &mut buf);
    let got = feed_all(&mut d, &buf[..n], 5, |r| assert_eq!(r, Request::Update(&[1, 2, 3, 4]))).unwrap();
    assert_eq!(got, 1);
    assert!(d.reset().is_none());
    // Longer than a loan takes: refused.
    let n = frame(101, &[0; 101], &mut buf);
    let rb = d.read_buf();
    rb.copy_from_slice(&buf[..HEADER]);
    assert_eq!(d.advance(HEADER), Err(FrameError::TooLong(101)));
    let _ = n;
    // Without a loan to wait for, a long frame is refused at its header.
    let mut own = Decoder::with_capacity(16);
    own.read_buf().copy_from_slice(&buf[..HEADER]);
    assert_eq!(own.advance(HEADER), Err(FrameError::TooLong(101)));
    assert!(!own.wants_loan());
}
