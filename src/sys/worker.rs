//! A helper thread, the loop's executor for the sysfs writes that can sleep
//! in the kernel (`remove`, `new_dev` and `slot` take the array's suspend
//! lock; `array_size` and `sync_action` its reconfiguration lock) and for
//! the waits that go with them. The poll loop hands a job (a short sequence
//! of steps, run in order, jobs one after another) over and goes on serving
//! write-pending; the result comes back through a bounded channel and an
//! eventfd in the loop's poll set. Jobs and results are fixed-size values:
//! nothing is allocated per job.

use rustix::event::{eventfd, EventfdFlags};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

/// A path of a sysfs attribute.
pub type AttrPath = heapless::String<160>;

/// A value written by a step (the longest is `major:minor`, 21 bytes).
pub type Value = heapless::String<24>;

/// What a step does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Write the step's value to the attribute.
    Write,
    /// Write the value, again every few milliseconds while the kernel
    /// answers `EBUSY`, for at most `ms` milliseconds. md refuses `slot` and
    /// `remove` while its recovery work is marked running; since Linux 6.7
    /// it also queues that work, briefly, on a read-only array whose
    /// members change (6.1 did the same inline, under the array's lock).
    WriteBusy { ms: u32 },
    /// Wait until the path no longer exists (the kernel deletes some sysfs
    /// directories from a workqueue); `ETIMEDOUT` after `ms` milliseconds.
    WaitGone { ms: u32 },
}

/// One step of a job, on `<dir>/<attr>`, or with `member` on
/// `<dir>/<member>/<attr>` (`<dir>/<member>` itself when `attr` is empty).
/// Paths are put together by the helper thread: a job stays small (the
/// channel holds [`QUEUE`] of them, locked in memory).
#[derive(Clone, Debug)]
pub struct Step {
    pub op: Op,
    pub member: bool,
    pub attr: &'static str,
    pub value: Value,
}

impl Step {
    /// A step with `value` formatted from `args` (truncated past 24 bytes;
    /// the values written are shorter).
    pub fn new(op: Op, member: bool, attr: &'static str, args: core::fmt::Arguments<'_>) -> Step {
        let mut value = Value::new();
        let _ = core::fmt::write(&mut value, args);
        Step { op, member, attr, value }
    }
}

/// Steps a job holds at most (the longest job, a rebuild's re-add, has 9).
pub const MAX_STEPS: usize = 9;

/// A sequence of steps for the helper thread, stopped at the first failure.
#[derive(Clone, Debug)]
pub struct Job {
    /// Caller's tag, returned with the result.
    pub token: u32,
    /// The directory of the attributes (e.g. `/sys/block/md126/md`).
    pub dir: heapless::String<64>,
    /// The member's directory in `dir` (e.g. `dev-sdb`), for member steps.
    pub member: heapless::String<40>,
    pub steps: arrayvec::ArrayVec<Step, MAX_STEPS>,
    /// A step run when step `.0` or a later one fails (its own result is
    /// not reported): e.g. `remove` for a disk half-added to an array.
    pub undo: Option<(u8, Step)>,
}

impl Job {
    /// A job of no steps yet on `dir` (and `member` in it); `None` if a
    /// name is too long for the job.
    pub fn new(token: u32, dir: core::fmt::Arguments<'_>, member: core::fmt::Arguments<'_>) -> Option<Job> {
        let mut j = Job {
            token,
            dir: heapless::String::new(),
            member: heapless::String::new(),
            steps: Default::default(),
            undo: None,
        };
        core::fmt::write(&mut j.dir, dir).ok()?;
        core::fmt::write(&mut j.member, member).ok()?;
        Some(j)
    }

    /// A job of one write.
    pub fn write(mut self, member: bool, attr: &'static str, value: &str) -> Job {
        self.steps.push(Step::new(Op::Write, member, attr, format_args!("{value}")));
        self
    }

    /// The path a step works on.
    pub fn path(&self, step: &Step) -> AttrPath {
        let mut p = AttrPath::new();
        let _ = p.push_str(self.dir.as_str());
        for part in [if step.member { self.member.as_str() } else { "" }, step.attr] {
            if !part.is_empty() {
                let _ = p.push('/');
                let _ = p.push_str(part);
            }
        }
        p
    }

    fn run(&self) -> Result<(), (u8, Errno)> {
        for (i, step) in self.steps.iter().enumerate() {
            if let Err(e) = self.run_step(step) {
                if let Some((from, undo)) = self.undo.as_ref().filter(|(from, _)| i >= usize::from(*from)) {
                    let _ = (from, self.run_step(undo));
                }
                return Err((i as u8, e));
            }
        }
        Ok(())
    }

    fn run_step(&self, step: &Step) -> Result<(), Errno> {
        let path = self.path(step);
        let (path, value) = (path.as_str(), step.value.as_str());
        match step.op {
            Op::Write => crate::sys::write_file(path, value),
            Op::WriteBusy { ms } => write_busy(path, value, ms),
            Op::WaitGone { ms } => wait_gone(path, ms),
        }
    }
}

fn write_busy(path: &str, value: &str, ms: u32) -> Result<(), Errno> {
    let start = std::time::Instant::now();
    loop {
        match crate::sys::write_file(path, value) {
            Err(Errno::BUSY) if start.elapsed().as_millis() < u128::from(ms) => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            r => return r,
        }
    }
}

fn wait_gone(path: &str, ms: u32) -> Result<(), Errno> {
    let start = std::time::Instant::now();
    while rustix::fs::stat(path).is_ok() {
        if start.elapsed().as_millis() >= u128::from(ms) {
            return Err(Errno::TIMEDOUT);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(())
}

/// The outcome of a job: on failure, the index of the step that failed.
#[derive(Clone, Copy, Debug)]
pub struct Done {
    pub token: u32,
    pub result: Result<(), (u8, Errno)>,
}

/// Jobs queued at most.
pub const QUEUE: usize = 32;

/// The helper thread's stack (locked in memory like the rest). Its deepest
/// point, a job's write or stat, fits in 8 KiB even unoptimised:
/// `cargo test --target x86_64-unknown-linux-musl --lib worker` overflows
/// with 4 KiB and passes with 8 KiB (musl honours sizes that small; glibc
/// raises them to 16 KiB). Twice that, for safety.
pub const STACK: usize = 16 * 1024;

/// The loop's side of the helper thread.
pub struct Worker {
    jobs: SyncSender<Job>,
    done: Receiver<Done>,
    wake: Arc<OwnedFd>,
}

impl Worker {
    /// Start the thread.
    pub fn start() -> Result<Worker, Errno> {
        let wake = Arc::new(eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?);
        let (jobs, rx) = sync_channel::<Job>(QUEUE);
        let (tx, done) = sync_channel::<Done>(QUEUE);
        let w = wake.clone();
        std::thread::Builder::new()
            .name("mdmon-sysfs".into())
            .stack_size(STACK)
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    let result = job.run();
                    if tx.send(Done { token: job.token, result }).is_err() {
                        break;
                    }
                    let _ = rustix::io::write(&*w, &1u64.to_ne_bytes());
                }
            })
            .map_err(|_| Errno::AGAIN)?;
        Ok(Worker { jobs, done, wake })
    }

    /// Queue a job; false if the queue is full (try again later).
    pub fn submit(&self, job: Job) -> bool {
        match self.jobs.try_send(job) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// The eventfd that becomes readable when results are waiting.
    pub fn wake_fd(&self) -> &OwnedFd {
        &self.wake
    }

    /// Take the next finished job, if any (also clears the eventfd).
    pub fn next_done(&self) -> Option<Done> {
        let mut b = [0u8; 8];
        let _ = rustix::io::read(&*self.wake, &mut b);
        self.done.try_recv().ok()
    }
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;
