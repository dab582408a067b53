//! A helper thread for the few sysfs writes that can sleep in the kernel
//! (`remove` on a failed member takes the array's suspend lock) and for the
//! waits that go with them. The poll loop hands a job (a short sequence of
//! steps) over and goes on serving write-pending; the result comes back
//! through a bounded channel and an eventfd in the loop's poll set. Jobs and
//! results are fixed-size values: nothing is allocated per job.

use rustix::event::{eventfd, EventfdFlags};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

/// A path of a sysfs attribute.
pub type AttrPath = heapless::String<160>;

/// One step of a job.
#[derive(Clone, Debug)]
pub enum Step {
    /// Write `value` to the attribute.
    Write { path: AttrPath, value: heapless::String<32> },
    /// Write `value`, again every few milliseconds while the kernel answers
    /// `EBUSY`, for at most `ms` milliseconds. md refuses `slot` and
    /// `remove` while its recovery work is marked running; since Linux 6.7
    /// it also queues that work, briefly, on a read-only array whose
    /// members change (6.1 did the same inline, under the array's lock).
    WriteBusy { path: AttrPath, value: heapless::String<32>, ms: u32 },
    /// Wait until `path` no longer exists (the kernel deletes some sysfs
    /// directories from a workqueue); `ETIMEDOUT` after `ms` milliseconds.
    WaitGone { path: AttrPath, ms: u32 },
}

/// Steps a job holds at most.
pub const MAX_STEPS: usize = 10;

/// A sequence of steps for the helper thread, stopped at the first failure.
#[derive(Clone, Debug)]
pub struct Job {
    /// Caller's tag, returned with the result.
    pub token: u32,
    pub steps: arrayvec::ArrayVec<Step, MAX_STEPS>,
}

impl Job {
    /// A job of one write.
    pub fn write(token: u32, path: AttrPath, value: &str) -> Job {
        let mut v = heapless::String::new();
        let _ = v.push_str(value);
        let mut steps = arrayvec::ArrayVec::new();
        steps.push(Step::Write { path, value: v });
        Job { token, steps }
    }

    fn run(&self) -> Result<(), (u8, Errno)> {
        for (i, step) in self.steps.iter().enumerate() {
            let r = match step {
                Step::Write { path, value } => crate::sys::write_file(path.as_str(), value.as_str()),
                Step::WriteBusy { path, value, ms } => write_busy(path.as_str(), value.as_str(), *ms),
                Step::WaitGone { path, ms } => wait_gone(path.as_str(), *ms),
            };
            r.map_err(|e| (i as u8, e))?;
        }
        Ok(())
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
            .stack_size(64 * 1024)
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
