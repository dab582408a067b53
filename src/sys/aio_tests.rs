//! `write_all` against regular files: every write has landed when it
//! returns, a write the kernel refuses at submission (a read-only fd) is
//! reported failed without holding back the others, and the results line
//! up with the writes.

use super::{Aio, Write};
use rustix::fd::AsFd;
use rustix::io::Errno;
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Read};

fn scratch(name: &str) -> (std::path::PathBuf, File) {
    let p = std::env::temp_dir().join(format!("mdmon-aio-{}-{name}", std::process::id()));
    let f = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&p).expect("scratch file");
    f.set_len(8192).expect("set_len");
    (p, f)
}

fn contents(p: &std::path::Path) -> Vec<u8> {
    let mut v = Vec::new();
    File::open(p).expect("reopen").read_to_end(&mut v).expect("read");
    std::fs::remove_file(p).expect("remove");
    v
}

#[test]
fn every_write_has_landed_when_write_all_returns() {
    let mut aio = Aio::new().expect("io_setup");
    let (pa, fa) = scratch("a");
    let (pb, fb) = scratch("b");
    let one = [0x5au8; 4096];
    let two = [0xa5u8; 512];
    let writes = [
        Write { fd: fa.as_fd(), bufs: &[IoSlice::new(&one)], offset: 4096 },
        Write { fd: fb.as_fd(), bufs: &[IoSlice::new(&two)], offset: 512 },
    ];
    let mut results = [Err(Errno::INVAL); 2];
    aio.write_all(&writes, &mut results);
    assert_eq!(results, [Ok(()), Ok(())]);
    let a = contents(&pa);
    assert!(a[..4096].iter().all(|&b| b == 0) && a[4096..].iter().all(|&b| b == 0x5a));
    let b = contents(&pb);
    assert!(b[..512].iter().all(|&b| b == 0) && b[512..1024].iter().all(|&b| b == 0xa5));
    assert!(b[1024..].iter().all(|&b| b == 0));
}

#[test]
fn a_refused_submission_fails_alone() {
    let mut aio = Aio::new().expect("io_setup");
    let (pa, fa) = scratch("c");
    let (pb, _fb) = scratch("d");
    // io_submit refuses a write to a read-only fd (EBADF): the plain-write
    // fallback fails it too; the writes before and after it still land.
    let ro = File::open(&pb).expect("open read-only");
    let buf = [0x11u8; 512];
    let writes = [
        Write { fd: fa.as_fd(), bufs: &[IoSlice::new(&buf)], offset: 0 },
        Write { fd: ro.as_fd(), bufs: &[IoSlice::new(&buf)], offset: 0 },
        Write { fd: fa.as_fd(), bufs: &[IoSlice::new(&buf)], offset: 1024 },
    ];
    let mut results = [Ok(()); 3];
    aio.write_all(&writes, &mut results);
    assert_eq!(results[0], Ok(()));
    assert_eq!(results[1], Err(Errno::BADF));
    assert_eq!(results[2], Ok(()));
    let a = contents(&pa);
    assert!(a[..512].iter().all(|&b| b == 0x11) && a[512..1024].iter().all(|&b| b == 0));
    assert!(a[1024..1536].iter().all(|&b| b == 0x11));
    assert!(contents(&pb).iter().all(|&b| b == 0), "the read-only file was written");
    // The context still works afterwards.
    let mut r = [Err(Errno::INVAL); 1];
    let (pe, fe) = scratch("e");
    aio.write_all(&[Write { fd: fe.as_fd(), bufs: &[IoSlice::new(&buf)], offset: 0 }], &mut r);
    assert_eq!(r, [Ok(())]);
    assert!(contents(&pe)[..512].iter().all(|&b| b == 0x11));
}

#[test]
fn after_the_context_is_replaced_or_absent_writes_still_land() {
    // What the io_getevents failure path does (it cannot be provoked from
    // here): destroy the context, which waits for anything in flight, and
    // set up a new one; without a context, writes are plain pwrites.
    let buf = [0x77u8; 512];
    for mut aio in [Aio::new().expect("io_setup"), Aio { ctx: 0 }] {
        aio.recreate();
        let (p, f) = scratch("f");
        let mut r = [Err(Errno::INVAL); 1];
        aio.write_all(&[Write { fd: f.as_fd(), bufs: &[IoSlice::new(&buf)], offset: 2048 }], &mut r);
        assert_eq!(r, [Ok(())]);
        let c = contents(&p);
        assert!(c[2048..2560].iter().all(|&b| b == 0x77) && c[..2048].iter().all(|&b| b == 0));
    }
    let mut none = Aio { ctx: 0 };
    let (p, f) = scratch("g");
    let mut r = [Err(Errno::INVAL); 1];
    none.write_all(&[Write { fd: f.as_fd(), bufs: &[IoSlice::new(&buf)], offset: 0 }], &mut r);
    assert_eq!(r, [Ok(())]);
    assert!(contents(&p)[..512].iter().all(|&b| b == 0x77));
}

#[test]
fn a_gathered_write_lands_in_order() {
    // Three buffers, one of them twice (as the shared 0xFF buffer is),
    // in one vectored write; and a one-buffer write beside it.
    let mut aio = Aio::new().expect("io_setup");
    let (pa, fa) = scratch("h");
    let a = [0x01u8; 512];
    let ff = [0xFFu8; 1024];
    let b = [0x02u8; 512];
    let gather = [IoSlice::new(&a), IoSlice::new(&ff), IoSlice::new(&b), IoSlice::new(&ff)];
    let single = [IoSlice::new(&b)];
    let writes =
        [Write { fd: fa.as_fd(), bufs: &gather, offset: 1024 }, Write { fd: fa.as_fd(), bufs: &single, offset: 0 }];
    let mut results = [Err(Errno::INVAL); 2];
    aio.write_all(&writes, &mut results);
    assert_eq!(results, [Ok(()), Ok(())]);
    let c = contents(&pa);
    assert!(c[..512].iter().all(|&x| x == 0x02) && c[512..1024].iter().all(|&x| x == 0));
    assert!(c[1024..1536].iter().all(|&x| x == 0x01));
    assert!(c[1536..2560].iter().all(|&x| x == 0xFF));
    assert!(c[2560..3072].iter().all(|&x| x == 0x02));
    assert!(c[3072..4096].iter().all(|&x| x == 0xFF));
    assert!(c[4096..].iter().all(|&x| x == 0));
    // Without a context, the same bytes through plain writes.
    let mut none = Aio { ctx: 0 };
    let (pb, fb) = scratch("i");
    let mut r = [Err(Errno::INVAL); 1];
    none.write_all(&[Write { fd: fb.as_fd(), bufs: &gather, offset: 1024 }], &mut r);
    assert_eq!(r, [Ok(())]);
    assert_eq!(contents(&pb)[1024..4096], c[1024..4096]);
}
