//! The control socket `<run_dir>/<devnm>.sock` and the pid file, served
//! from the poll loop without ever blocking it: sockets are non-blocking,
//! every client has a fixed buffer, replies are sent as the socket accepts
//! them, and a full table evicts the longest-idle client.

use crate::proto::{Decoder, Encoded, FrameError, Request};
use crate::{info, warn};
use arrayvec::ArrayVec;
use heapless::String;
use rustix::event::{PollFd, PollFlags};
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use std::time::Instant;

/// Most clients served at once.
pub const MAX_CLIENTS: usize = 4;
/// Payload each client's own receive buffer takes; a longer message (DDF's
/// configuration records) is received into the one large buffer, lent to
/// one client at a time.
const OWN_PAYLOAD: usize = 1024;

/// What the loop must do for the requests read this round.
#[derive(Default, Debug)]
pub struct Requests {
    /// A ping needs a full monitor pass before its reply.
    pub ping_monitor: bool,
    /// A ping-manager needs /proc/mdstat re-read before its reply.
    pub ping_manager: bool,
    /// An update changed the metadata: write it before replying.
    pub metadata_changed: bool,
}

struct Client {
    fd: OwnedFd,
    dec: Decoder,
    out: Option<Encoded>,
    /// A reply is due once the loop has done the work the request asked for.
    due: Option<Encoded>,
    last: Instant,
}

/// The listening socket, its clients, and the run-directory files.
pub struct Control {
    listen: Option<OwnedFd>,
    clients: ArrayVec<Client, MAX_CLIENTS>,
    /// Decoders kept for reuse, allocated once ([`Control::make_decoders`]).
    spare: ArrayVec<Decoder, MAX_CLIENTS>,
    /// The receive buffer for long messages, when no client has it.
    large: Option<Box<[u8]>>,
    pub pid_path: String<128>,
    pub sock_path: String<128>,
    version: [u8; 128],
    version_len: usize,
}

fn fmt_path(dir: &str, devnm: &str, ext: &str) -> String<128> {
    let mut s = String::new();
    let _ = core::fmt::write(&mut s, format_args!("{dir}/{devnm}.{ext}"));
    s
}

/// Read the pid recorded in a pid file (as mdadm does: up to 9 bytes, decimal).
pub fn read_pid(path: &str) -> Option<i32> {
    let mut buf = [0u8; 9];
    let text = crate::sys::read_file(path, &mut buf).ok()?;
    let digits: &[u8] = &text[..text.iter().position(|c| !c.is_ascii_digit()).unwrap_or(text.len())];
    crate::md::parse_u64(digits).map(|v| v as i32).filter(|&p| p > 0)
}

/// Whether a process with this pid exists.
pub fn pid_alive(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        Some(p) => rustix::process::test_kill_process(p).is_ok(),
        None => false,
    }
}

impl Control {
    /// Paths for container `devnm` in `run_dir`; nothing is created yet,
    /// and no client is served before [`Control::make_decoders`].
    pub fn new(run_dir: &str, devnm: &str, crate_version: &str) -> Control {
        let mut version = [0u8; 128];
        let version_len = crate::proto::version_reply(&mut version, crate_version).len();
        Control {
            listen: None,
            clients: ArrayVec::new(),
            spare: ArrayVec::new(),
            large: None,
            pid_path: fmt_path(run_dir, devnm, "pid"),
            sock_path: fmt_path(run_dir, devnm, "sock"),
            version,
            version_len,
        }
    }

    /// Allocate the clients' receive buffers, once the metadata is loaded:
    /// each takes payloads of up to `max_payload` bytes (what the
    /// container's format may send; a longer message closes its
    /// connection with a warning).
    pub fn make_decoders(&mut self, max_payload: usize) {
        let own = max_payload.min(OWN_PAYLOAD);
        let loanable = if max_payload > own { max_payload } else { 0 };
        if loanable > 0 && self.large.is_none() {
            self.large = Some(Decoder::loan_buffer(loanable));
        }
        while !self.spare.is_full() && self.spare.len() + self.clients.len() < MAX_CLIENTS {
            self.spare.push(Decoder::with_loan(own, loanable));
        }
    }

    /// Whether client `i` waits for the large buffer another client holds.
    fn waits_for_loan(&self, i: usize) -> bool {
        self.clients[i].dec.wants_loan() && self.large.is_none()
    }

    /// Reset client `i`'s decoder for its next message, taking back the
    /// large buffer if it had it.
    fn reset_decoder(&mut self, i: usize) {
        if let Some(big) = self.clients[i].dec.reset() {
            self.large = Some(big);
        }
    }

    /// Create the pid file (exclusively) with our pid.
    pub fn create_pid_file(&self) -> Result<(), Errno> {
        let fd = rustix::fs::open(
            self.pid_path.as_str(),
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        )?;
        let mut s = String::<16>::new();
        let _ = core::fmt::write(&mut s, format_args!("{}\n", rustix::process::getpid().as_raw_nonzero()));
        rustix::io::write(&fd, s.as_bytes()).map(|_| ())
    }

    /// Create the listening socket (mode 0600 through umask 077).
    pub fn create_socket(&mut self) -> Result<(), Errno> {
        let _ = rustix::fs::unlink(self.sock_path.as_str());
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )?;
        let addr = SocketAddrUnix::new(self.sock_path.as_str())?;
        rustix::process::umask(Mode::from_bits_truncate(0o077));
        rustix::net::bind(&fd, &addr)?;
        rustix::net::listen(&fd, 10)?;
        self.listen = Some(fd);
        Ok(())
    }

    /// Remove the pid and socket files (when exiting with nothing left to do).
    pub fn remove_files(&self) {
        let _ = rustix::fs::unlink(self.pid_path.as_str());
        let _ = rustix::fs::unlink(self.sock_path.as_str());
    }

    /// Add the listening socket and clients to the poll set.
    pub fn poll_fds<'a, const N: usize>(&'a self, fds: &mut ArrayVec<PollFd<'a>, N>) {
        if let Some(l) = &self.listen {
            fds.push(PollFd::new(l, PollFlags::IN));
        }
        for (i, c) in self.clients.iter().enumerate() {
            // A client waiting for the large buffer is not read until it is
            // given back (its hang-up is still reported).
            let ev = if c.out.is_some() {
                PollFlags::OUT
            } else if self.waits_for_loan(i) {
                PollFlags::empty()
            } else {
                PollFlags::IN
            };
            fds.push(PollFd::new(&c.fd, ev));
        }
    }

    fn close(&mut self, i: usize) {
        self.reset_decoder(i);
        let c = self.clients.remove(i);
        self.spare.push(c.dec);
    }

    fn accept(&mut self) {
        loop {
            let Some(l) = &self.listen else { return };
            let fd = match rustix::net::accept_with(l, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
                Ok(fd) => fd,
                Err(Errno::INTR) => continue,
                Err(_) => return,
            };
            // Only root may drive mdmon (the socket mode already says so).
            match rustix::net::sockopt::socket_peercred(&fd) {
                Ok(cred) if cred.uid.is_root() => {}
                _ => {
                    warn!("refused a control connection from a non-root peer");
                    continue;
                }
            }
            if self.clients.is_full() {
                // Evict the client idle the longest: a stalled client must
                // not lock mdadm out.
                let oldest = (0..self.clients.len()).min_by_key(|&i| self.clients[i].last).unwrap_or(0);
                warn!("control socket: too many clients; dropping the longest idle");
                self.close(oldest);
            }
            let Some(dec) = self.spare.pop() else { return };
            self.clients.push(Client { fd, dec, out: None, due: None, last: Instant::now() });
        }
    }

    /// Read what clients sent; queue replies. `events` are the poll results
    /// for the entries `poll_fds` added, in order.
    pub fn service(
        &mut self,
        events: &[PollFlags],
        sigterm: bool,
        md: &mut dyn crate::metadata::Metadata,
        active: &[u32],
        req: &mut Requests,
    ) {
        let mut ev = events.iter();
        let listen_ready =
            if self.listen.is_some() { ev.next().map(|e| !e.is_empty()).unwrap_or(false) } else { false };
        let client_ev: ArrayVec<PollFlags, MAX_CLIENTS> = ev.copied().take(self.clients.len()).collect();
        let mut i = self.clients.len();
        while i > 0 {
            i -= 1;
            let e = client_ev.get(i).copied().unwrap_or(PollFlags::empty());
            if e.is_empty() {
                continue;
            }
            if self.clients[i].out.is_some() || self.waits_for_loan(i) {
                if self.clients[i].out.is_some() && self.flush(i) {
                    continue;
                }
                if !e.intersects(PollFlags::HUP | PollFlags::ERR) {
                    continue;
                }
                if self.waits_for_loan(i) {
                    self.close(i);
                    continue;
                }
            }
            if !self.read_client(i, sigterm, md, active, req) {
                self.close(i);
            }
        }
        if listen_ready {
            self.accept();
        }
    }

    /// Read from client `i`; false when it must be closed.
    fn read_client(
        &mut self,
        i: usize,
        sigterm: bool,
        md: &mut dyn crate::metadata::Metadata,
        active: &[u32],
        req: &mut Requests,
    ) -> bool {
        loop {
            if self.clients[i].dec.wants_loan() {
                // The header announced a long message: lend it the large
                // buffer, or wait until the client holding it is done.
                let Some(big) = self.large.take() else { return true };
                self.large = self.clients[i].dec.lend(big);
            }
            let c = &mut self.clients[i];
            if c.due.is_some() || c.out.is_some() {
                return true; // one request at a time
            }
            let n = match rustix::io::read(&c.fd, c.dec.read_buf()) {
                Ok(0) => return false,
                Ok(n) => n,
                Err(Errno::AGAIN) => return true,
                Err(Errno::INTR) => continue,
                Err(_) => return false,
            };
            c.last = Instant::now();
            let reply = match c.dec.advance(n) {
                Ok(None) => continue,
                Ok(Some(Request::Ping)) => {
                    req.ping_monitor = true;
                    Encoded::with_payload(&self.version[..self.version_len])
                }
                Ok(Some(Request::PingManager)) => {
                    req.ping_manager = true;
                    Some(Encoded::ack())
                }
                Ok(Some(Request::Update(p))) => {
                    let kind = if p.len() >= 4 { u32::from_ne_bytes([p[0], p[1], p[2], p[3]]) } else { u32::MAX };
                    if sigterm {
                        info!("control: update type {kind} dropped: exiting");
                    } else {
                        match md.process_update(p, active) {
                            Ok(what) => {
                                info!("control: {what}");
                                req.metadata_changed = true;
                            }
                            Err(why) => warn!("control: update type {kind} ({} bytes) refused: {why}", p.len()),
                        }
                    }
                    // mdadm waits for an ack either way; a ping that follows
                    // is answered only after the metadata is on disk.
                    Some(Encoded::ack())
                }
                Err(e) => {
                    match e {
                        FrameError::BadMagic => {
                            warn!("control: bad message magic; closing connection")
                        }
                        FrameError::BadLength(l) => {
                            warn!("control: bad message length {l}; closing connection")
                        }
                        FrameError::TooLong(l) => {
                            warn!(
                                "control: message of {l} bytes too long (this container's updates take at most {}); closing connection",
                                c.dec.max_payload()
                            )
                        }
                    }
                    return false;
                }
            };
            c.due = reply;
            self.reset_decoder(i);
        }
    }

    /// Move due replies to the send queue and send what the sockets take.
    pub fn send_replies(&mut self) {
        let mut i = self.clients.len();
        while i > 0 {
            i -= 1;
            if let Some(r) = self.clients[i].due.take() {
                self.clients[i].out = Some(r);
            }
            if self.clients[i].out.is_some() && !self.flush(i) {
                // flush closed nothing; keep waiting for POLLOUT
            }
        }
    }

    /// Send the pending reply of client `i`; true if the client was closed.
    fn flush(&mut self, i: usize) -> bool {
        let c = &mut self.clients[i];
        let Some(out) = c.out.as_mut() else {
            return false;
        };
        while !out.done() {
            match rustix::net::send(&c.fd, out.pending(), rustix::net::SendFlags::NOSIGNAL) {
                Ok(n) => out.consume(n),
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return false,
                Err(_) => {
                    self.close(i);
                    return true;
                }
            }
        }
        c.out = None;
        c.last = Instant::now();
        false
    }
}
