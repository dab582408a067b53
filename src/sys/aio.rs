//! Linux native AIO for metadata writes: every member disk's write is
//! submitted at once and the caller waits for all of them, so a metadata
//! update costs one device write, not one per disk. rustix does not wrap
//! `io_setup`/`io_submit`/`io_getevents`, so these are raw syscalls.
//! A write gathers its bytes from one or more buffers (`IOCB_CMD_PWRITEV`
//! for more than one): DDF writes its unused record slots from one shared
//! 0xFF buffer.

use rustix::fd::{AsRawFd, BorrowedFd};
use rustix::io::Errno;
use std::io::IoSlice;

/// `struct iocb` (x86-64, little-endian field order).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Iocb {
    aio_data: u64,
    aio_key: u32,
    aio_rw_flags: i32,
    aio_lio_opcode: u16,
    aio_reqprio: i16,
    aio_fildes: u32,
    aio_buf: u64,
    aio_nbytes: u64,
    aio_offset: i64,
    aio_reserved2: u64,
    aio_flags: u32,
    aio_resfd: u32,
}

/// `struct io_event`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct IoEvent {
    data: u64,
    obj: u64,
    res: i64,
    res2: i64,
}

const IOCB_CMD_PWRITE: u16 = 1;
const IOCB_CMD_PWRITEV: u16 = 8;
/// Most writes in flight at once.
pub const MAX_INFLIGHT: usize = 64;

/// One write to submit: the bytes of `bufs`, one after another, from
/// `offset` on.
pub struct Write<'a> {
    pub fd: BorrowedFd<'a>,
    pub bufs: &'a [IoSlice<'a>],
    pub offset: u64,
}

impl Write<'_> {
    fn len(&self) -> usize {
        self.bufs.iter().map(|b| b.len()).sum()
    }

    /// The write as plain `pwrite`s, one buffer after another.
    fn plain(&self) -> Result<(), Errno> {
        let mut at = self.offset;
        for b in self.bufs {
            super::pwrite_all_fd(self.fd, b, at)?;
            at += b.len() as u64;
        }
        Ok(())
    }
}

/// An AIO context.
pub struct Aio {
    ctx: libc::c_ulong,
}

fn errno_of(r: libc::c_long) -> Errno {
    let _ = r;
    Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
}

impl Aio {
    /// Create a context for up to [`MAX_INFLIGHT`] writes.
    pub fn new() -> Result<Aio, Errno> {
        let mut ctx: libc::c_ulong = 0;
        // SAFETY: io_setup writes the new context id into `ctx`, a valid u64.
        let r =
            unsafe { libc::syscall(libc::SYS_io_setup, MAX_INFLIGHT as libc::c_long, &mut ctx as *mut libc::c_ulong) };
        if r < 0 {
            return Err(errno_of(r));
        }
        Ok(Aio { ctx })
    }

    /// Destroy the context, which waits for (or cancels) every request in
    /// flight, and set up a new one; without one, writes are plain `pwrite`s.
    fn recreate(&mut self) {
        if self.ctx != 0 {
            // SAFETY: destroys the context created by io_setup; io_destroy
            // returns only once no request of it is in flight.
            unsafe {
                libc::syscall(libc::SYS_io_destroy, self.ctx);
            }
        }
        self.ctx = Aio::new().map(|a| core::mem::ManuallyDrop::new(a).ctx).unwrap_or(0);
    }

    /// Submit all `writes` together and wait for every one; `results[i]`
    /// is the outcome of `writes[i]`. A short write counts as EIO. Never
    /// returns with a write in flight.
    pub fn write_all(&mut self, writes: &[Write<'_>], results: &mut [Result<(), Errno>]) {
        if self.ctx == 0 {
            for (w, r) in writes.iter().zip(results.iter_mut()) {
                *r = w.plain();
            }
            return;
        }
        let n = writes.len().min(MAX_INFLIGHT).min(results.len());
        let mut iocbs = [Iocb::default(); MAX_INFLIGHT];
        let mut ptrs = [core::ptr::null_mut::<Iocb>(); MAX_INFLIGHT];
        for (i, w) in writes.iter().take(n).enumerate() {
            // One buffer: a plain write of it; more: a vectored write of
            // the iovec array (IoSlice is ABI-compatible with iovec), which
            // the kernel copies at submission.
            let (op, buf, nbytes) = match w.bufs {
                [one] => (IOCB_CMD_PWRITE, one.as_ptr() as u64, one.len() as u64),
                many => (IOCB_CMD_PWRITEV, many.as_ptr() as u64, many.len() as u64),
            };
            iocbs[i] = Iocb {
                aio_data: i as u64,
                aio_lio_opcode: op,
                aio_fildes: w.fd.as_raw_fd() as u32,
                aio_buf: buf,
                aio_nbytes: nbytes,
                aio_offset: w.offset as i64,
                ..Iocb::default()
            };
            results[i] = Err(Errno::IO);
        }
        for i in 0..n {
            ptrs[i] = &mut iocbs[i];
        }
        let mut submitted = 0;
        while submitted < n {
            // SAFETY: `ptrs[submitted..n]` point at initialised iocbs that,
            // like the buffers and iovec arrays (`IoSlice`s, laid out as
            // `struct iovec`) they name, outlive this call: we wait below
            // for every submitted request before returning.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_io_submit,
                    self.ctx,
                    (n - submitted) as libc::c_long,
                    ptrs[submitted..].as_mut_ptr(),
                )
            };
            if r <= 0 {
                // Nothing more can be submitted: fall back to plain writes.
                for i in submitted..n {
                    results[i] = writes[i].plain();
                }
                break;
            }
            submitted += r as usize;
        }
        let submitted_aio = submitted.min(n);
        let mut done = 0;
        let mut events = [IoEvent::default(); MAX_INFLIGHT];
        while done < submitted_aio {
            // SAFETY: the kernel writes at most `submitted_aio - done` events
            // into `events`, which has room for MAX_INFLIGHT.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_io_getevents,
                    self.ctx,
                    1 as libc::c_long,
                    (submitted_aio - done) as libc::c_long,
                    events.as_mut_ptr(),
                    core::ptr::null_mut::<libc::timespec>(),
                )
            };
            if r < 0 {
                if Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)) == Errno::INTR
                {
                    continue;
                }
                // The completions cannot be reaped. Never return while the
                // kernel may still read the buffers (the next write reuses
                // them): destroying the context waits for every request
                // still in flight. The writes not reaped count as failed.
                self.recreate();
                break;
            }
            for ev in &events[..r as usize] {
                let i = ev.data as usize;
                if i < n {
                    results[i] = if ev.res == writes[i].len() as i64 {
                        Ok(())
                    } else if ev.res < 0 {
                        Err(Errno::from_raw_os_error((-ev.res) as i32))
                    } else {
                        Err(Errno::IO)
                    };
                }
            }
            done += r as usize;
        }
    }
}

impl Drop for Aio {
    fn drop(&mut self) {
        if self.ctx == 0 {
            return;
        }
        // SAFETY: destroys the context created in `new`; nothing is in flight.
        unsafe {
            libc::syscall(libc::SYS_io_destroy, self.ctx);
        }
    }
}

#[cfg(test)]
#[path = "aio_tests.rs"]
mod tests;
