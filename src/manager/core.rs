//! The manager's pass (one turn of upstream's manager thread), sans I/O:
//! the shell hands in views of its arrays, gets back what to execute
//! ([`Duties`]), executes it (sysfs writes that can sleep go to its
//! executor) and reports each result back here. Time comes in as an
//! argument; the next deadline goes out ([`Manager::poll_timeout`]).

use super::failures::{fan_out, Fail, MAX_FAILS};
use super::spares::{order, Hold};
use super::timers::{Timeout, Timers};
use super::{ArrayView, Leave, MAX_ARRAYS};
use crate::md::SyncAction;
use crate::metadata::{self, ArrayCtx, DevT, NewMember, MAX_SLOTS};
use arrayvec::ArrayVec;

/// Spares to add to one array: the executor freezes its sync action, then
/// adds each pick (`new_dev`, `offset`, `size`, `slot`; a pick that fails
/// half-way is taken out again), and reports each pick's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activate {
    pub array: usize,
    pub picks: ArrayVec<NewMember, MAX_SLOTS>,
}

/// What the shell executes after a manager pass, in this order.
#[derive(Clone, Debug, Default)]
pub struct Duties {
    /// Members to fail (`faulty` to their `state`).
    pub fail: ArrayVec<Fail, MAX_FAILS>,
    /// Members (array, member) whose removal goes to the executor now.
    pub remove: ArrayVec<(u8, u8), MAX_FAILS>,
    /// Arrays whose call for spares is answered (the shell clears their
    /// `check_degraded` and `failed_at`), in the order they were served.
    pub served: ArrayVec<usize, MAX_ARRAYS>,
    /// Spares to add (to the last array served).
    pub activate: Option<Activate>,
    /// Why no array was served, if none was.
    pub hold: Option<Hold>,
}

/// How a spare activation ends, once every pick's result is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// Spares joined: the metadata records them (written first), then the
    /// executor writes `recover` to `sync_action`.
    Recover,
    /// None joined: the executor writes `idle` to `sync_action`.
    Idle,
}

/// The manager's state between passes.
#[derive(Clone, Debug, Default)]
pub struct Manager {
    timers: Timers,
    /// Counts arrays losing members, to serve them spares in that order.
    fail_seq: u64,
}

impl Manager {
    /// One manager pass over `arrays`. `meta_failed`: disks whose metadata
    /// write failed (reported once; the caller empties its list).
    pub fn duties(
        &mut self,
        arrays: &[ArrayView<'_>],
        meta_failed: &[DevT],
        md: &dyn metadata::Manager,
        exiting: bool,
    ) -> Duties {
        let mut d = Duties { fail: fan_out(arrays, meta_failed, md), ..Duties::default() };
        for (ai, a) in arrays.iter().enumerate() {
            for (i, l) in a.leaving.iter().enumerate() {
                if *l == Leave::Wanted {
                    let _ = d.remove.try_push((ai as u8, i as u8));
                }
            }
        }
        let served = match order(arrays, exiting) {
            Ok(o) => o,
            Err(h) => {
                d.hold = Some(h);
                return d;
            }
        };
        for ai in served {
            let a = &arrays[ai];
            if !a.sync_idle {
                continue;
            }
            d.served.push(ai);
            let mut picks = ArrayVec::new();
            md.choose_spares(a.ctx, &mut picks);
            if !picks.is_empty() {
                // The next array chooses once these are recorded.
                d.activate = Some(Activate { array: ai, picks });
                break;
            }
        }
        d
    }

    /// An array's member failed or left: the first loss since it last got
    /// spares fixes its place in the spare order.
    pub fn lost_member(&mut self, failed_at: &mut Option<u64>) {
        if failed_at.is_none() {
            self.fail_seq += 1;
            *failed_at = Some(self.fail_seq);
        }
    }

    /// A removal job ended at `now`; a refused one is retried after
    /// [`super::timers::REMOVAL_RETRY_MS`].
    pub fn removal_done(&mut self, now: u64, ok: bool) {
        if !ok {
            self.timers.removal_refused(now);
        }
    }

    /// Every pick of an activation has its result: `added` joined the
    /// array of `ctx`. The metadata records them (`random`: bits for the
    /// format's new identifiers).
    pub fn activated(
        &mut self,
        md: &mut dyn metadata::Manager,
        ctx: &ArrayCtx,
        added: &[NewMember],
        random: u32,
    ) -> Finish {
        if added.is_empty() {
            return Finish::Idle;
        }
        md.record_rebuild(ctx, added, random);
        Finish::Recover
    }

    /// The next deadline, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.next_deadline()
    }

    /// The poll timeout at `now` (expired deadlines are dropped first).
    pub fn poll_timeout(&mut self, now: u64, no_arrays: bool, watchdog_ms: Option<u64>) -> Timeout {
        self.timers.handle_timeout(now);
        self.timers.poll_timeout(now, no_arrays, watchdog_ms)
    }
}

/// The `recover` write went to the executor (`submitted`), or a monitor
/// pass ran while it is pending: until a pass sees the write take effect
/// (the array still shows `frozen`), the monitor's last action is taken as
/// `recover`, so a recovery that starts and ends between two passes is
/// still reported when a pass sees `idle`.
pub fn hold_recover(ctx: &mut ArrayCtx, submitted: bool) {
    if submitted || ctx.curr_action == SyncAction::Frozen {
        ctx.prev_action = SyncAction::Recover;
    }
}
