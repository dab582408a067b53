//! Executing a spare activation the manager core decided
//! ([`crate::manager::core::Activate`]): every write goes to the helper
//! thread (`new_dev` and `slot` can wait on the array's suspend lock), in
//! order: `frozen` to the array's `sync_action`, then per pick `new_dev`,
//! `offset`, `size`, `slot` (a pick that fails half-way is taken out
//! again). Once every pick's result is back, the core records the new
//! members, the metadata is written, and `recover` (or `idle`) goes to the
//! helper thread too.

use super::array::{Array, Member};
use super::Daemon;
use crate::manager::core::{hold_recover, Activate, Finish};
use crate::md::DevState;
use crate::metadata::{NewMember, SlotInfo, MAX_SLOTS};
use crate::sys::worker::{Done, Job, Op, Step};
use crate::{error, info, warn};
use arrayvec::ArrayVec;
use rustix::io::Errno;

/// One spare being added.
#[derive(Clone, Debug)]
pub struct Pick {
    pub n: NewMember,
    /// Its job's token; `None` if it could not be queued.
    token: Option<u32>,
    result: Option<Result<(), (u8, Errno)>>,
}

/// Where an array's spare activation stands: picks being added, then
/// `recover` being written, or nothing.
#[derive(Clone, Debug, Default)]
pub struct Activation {
    /// The picks whose jobs are in flight (empty when not adding).
    adding: ArrayVec<Pick, MAX_SLOTS>,
    /// `recover` is being written (job token).
    recovering: Option<u32>,
}

impl Activation {
    /// Jobs of this activation are in flight.
    pub fn pending(&self) -> bool {
        !self.adding.is_empty() || self.recovering.is_some()
    }

    /// `recover` waits in the helper thread.
    pub fn recovering(&self) -> bool {
        self.recovering.is_some()
    }
}

/// What each step of an add job does (for messages).
const ADD_STEPS: [&str; 4] = ["writing new_dev", "writing offset", "writing size", "writing slot"];

/// A job on array `devnm` (and its member `kname`, if not empty).
fn array_job(token: u32, devnm: &str, kname: &str) -> Option<Job> {
    if kname.is_empty() {
        Job::new(token, format_args!("/sys/block/{devnm}/md"), format_args!(""))
    } else {
        Job::new(token, format_args!("/sys/block/{devnm}/md"), format_args!("dev-{kname}"))
    }
}

/// The job that adds disk `kname` to array `devnm` in slot `n.slot`, to be
/// recovered from the start (as upstream's `sysfs_add_disk` without
/// resume); taken out again if a step after `new_dev` fails.
fn add_job(token: u32, devnm: &str, kname: &str, n: &NewMember) -> Option<Job> {
    let mut job = array_job(token, devnm, kname)?;
    for step in [
        Step::new(Op::Write, false, "new_dev", format_args!("{}:{}", n.dev.major, n.dev.minor)),
        Step::new(Op::Write, true, "offset", format_args!("{}", n.data_offset)),
        Step::new(Op::Write, true, "size", format_args!("{}", n.component_size.div_ceil(2))),
        Step::new(Op::Write, true, "slot", format_args!("{}", n.slot)),
    ] {
        job.steps.push(step);
    }
    job.undo = Some((1, Step::new(Op::Write, true, "state", format_args!("remove"))));
    Some(job)
}

impl Daemon {
    /// A new job token.
    pub(super) fn token(&mut self) -> u32 {
        self.next_token = self.next_token.wrapping_add(1);
        self.next_token
    }

    /// Queue a one-write job on array `devnm` (or its member `kname`);
    /// its token, or `None` if the helper's queue is full.
    fn submit_write(&mut self, devnm: &str, kname: &str, attr: &'static str, value: &str) -> Option<u32> {
        let token = self.token();
        let job = array_job(token, devnm, kname)?.write(!kname.is_empty(), attr, value);
        self.worker.submit(job).then_some(token)
    }

    /// Hand an activation to the helper thread.
    pub(super) fn start_activation(&mut self, act: Activate) {
        let devnm = self.arrays[act.array].devnm.clone();
        let _ = self.submit_write(&devnm, "", "sync_action", "frozen");
        let mut picks = ArrayVec::new();
        for n in act.picks {
            let token = match self.disks.iter().find(|d| d.dev == n.dev).map(|d| d.kname.clone()) {
                Some(kname) => {
                    let token = self.token();
                    let queued = add_job(token, &devnm, &kname, &n).is_some_and(|j| self.worker.submit(j));
                    queued.then_some(token)
                }
                None => None,
            };
            picks.push(Pick { n, token, result: None });
        }
        self.arrays[act.array].activation = Activation { adding: picks, recovering: None };
    }

    /// Note a finished activation job; false if `done` is not one.
    pub(super) fn activation_done(&mut self, done: Done) -> bool {
        for a in self.arrays.iter_mut() {
            if let Some(p) = a.activation.adding.iter_mut().find(|p| p.token == Some(done.token)) {
                p.result = Some(done.result);
                return true;
            }
            if a.activation.recovering == Some(done.token) {
                if let Err((_, e)) = done.result {
                    warn!("{}: starting recovery of {} failed: {e}", self.devnm, a.devnm);
                }
                a.activation.recovering = None;
                return true;
            }
        }
        false
    }

    /// Activations whose picks have all finished: track the new members,
    /// let the core record them, write the metadata, start recovery.
    pub(super) fn finish_activations(&mut self) {
        for ai in 0..self.arrays.len() {
            let picks = &self.arrays[ai].activation.adding;
            if picks.is_empty() || picks.iter().any(|p| p.token.is_some() && p.result.is_none()) {
                continue;
            }
            let picks = core::mem::take(&mut self.arrays[ai].activation.adding);
            let mut added: ArrayVec<NewMember, MAX_SLOTS> = ArrayVec::new();
            for p in &picks {
                if self.track_pick(ai, p) {
                    added.push(p.n);
                }
            }
            let mut r = [0u8; 4];
            let _ = rustix::rand::getrandom(&mut r, rustix::rand::GetRandomFlags::empty());
            let a = &self.arrays[ai];
            let finish = self.core.activated(self.md.as_mut(), &a.mon.ctx, &added, u32::from_ne_bytes(r));
            let devnm = a.devnm.clone();
            match finish {
                Finish::Idle => {
                    let _ = self.submit_write(&devnm, "", "sync_action", "idle");
                }
                Finish::Recover => {
                    // The metadata names the new members before recovery starts.
                    self.sync_metadata();
                    match self.submit_write(&devnm, "", "sync_action", "recover") {
                        Some(t) => {
                            let a = &mut self.arrays[ai];
                            hold_recover(&mut a.mon.ctx, true);
                            a.activation.recovering = Some(t);
                        }
                        None => warn!("{}: starting recovery of {devnm} failed: helper busy", self.devnm),
                    }
                }
            }
        }
    }

    /// Track pick `p` of array `ai` if it joined; false if it did not.
    fn track_pick(&mut self, ai: usize, p: &Pick) -> bool {
        let Some(kname) = self.disks.iter().find(|d| d.dev == p.n.dev).map(|d| d.kname.clone()) else {
            return false;
        };
        let a: &mut Array = &mut self.arrays[ai];
        let why = match p.result {
            None => "the helper thread is busy",
            Some(Err((step, _))) => ADD_STEPS[usize::from(step).min(ADD_STEPS.len() - 1)],
            Some(Ok(())) => match Member::open(&a.devnm, &kname) {
                Ok(m) => {
                    let info = SlotInfo { slot: p.n.slot, dev: p.n.dev, recovery_start: 0, state: DevState(0) };
                    if let Some(i) = a.add_member(m, info) {
                        // As mdadm for a disk it adds: the new member's bad
                        // blocks (none: a rebuilt disk's log entries are
                        // cleared) are ours to record.
                        a.prime_bad_blocks(self.md.as_mut(), Some(i), &mut self.bb);
                    }
                    info!("{}: rebuilding slot {} of {} onto {}", self.devnm, p.n.slot, a.devnm, kname);
                    return true;
                }
                Err(_) => {
                    let devnm = a.devnm.clone();
                    let _ = self.submit_write(&devnm, &kname, "state", "remove");
                    "opening its attributes"
                }
            },
        };
        let a = &self.arrays[ai];
        if let Some(Err((_, e))) = p.result {
            error!("{}: cannot add {} to {}: {why} ({e})", self.devnm, kname, a.devnm);
        } else {
            error!("{}: cannot add {} to {}: {why}", self.devnm, kname, a.devnm);
        }
        false
    }
}
