//! The manager's decisions, sans I/O (the monitor's counterpart): what the
//! daemon shell must do between monitor passes, decided from state it is
//! given, with time passed in. The shell (`daemon`) reads sysfs into the
//! views here, executes what comes back, and reports results.
//!
//! - [`plan`]: the metadata write planner (image sharing, phases, failed
//!   disks reported back).
//! - [`spares`]: which degraded array gets spares, in what order, and when
//!   activation is held.
//! - [`failures`]: a failed disk is failed in every array that uses it.
//! - [`resume`]: rebuilds resumed at their checkpoints when an array is
//!   found (which members are re-added, what their results mean).
//! - [`decide`]: level changes, `array_size` growth, release on SIGTERM.
//! - [`timers`]: the manager's deadlines (the removal retry) and the poll
//!   timeout.
//! - [`core`]: the manager's pass, made of the above: views in, what to
//!   execute out ([`core::Duties`]), results of executed jobs back in.

pub mod core;
pub mod decide;
pub mod failures;
pub mod plan;
pub mod resume;
pub mod spares;
pub mod timers;

use crate::md::DevState;
use crate::metadata::{ArrayCtx, MAX_SLOTS};
use arrayvec::ArrayVec;

/// Most member arrays one container may have monitored at once.
pub const MAX_ARRAYS: usize = 8;

/// Where a tracked member is on its way out of its array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leave {
    /// A working member.
    No,
    /// Failed and recorded: to be removed (again, after a refused attempt).
    Wanted,
    /// The executor is writing `remove`.
    InFlight,
}

/// What the manager core sees of one monitored array.
#[derive(Clone, Debug)]
pub struct ArrayView<'a> {
    /// The monitor's context (tracked members in `slots`).
    pub ctx: &'a ArrayCtx,
    /// Per tracked member (parallel to `ctx.slots`): whether it is on its
    /// way out of the array.
    pub leaving: ArrayVec<Leave, MAX_SLOTS>,
    /// The monitor (or an event) asked for spares.
    pub check_degraded: bool,
    /// Order in which the array first lost a member since it last got
    /// spares (a container-wide count); `None` if it lost none.
    pub failed_at: Option<u64>,
    /// md lets a sync action start: the array is not blocked and its
    /// `sync_action` is idle (read only for arrays asking for spares).
    pub sync_idle: bool,
    /// Spares are being added to it (executor jobs in flight).
    pub activating: bool,
}

impl ArrayView<'_> {
    /// A member of the array is being removed.
    pub fn removing(&self) -> bool {
        self.leaving.iter().any(|&l| l != Leave::No)
    }

    /// Whether member `i` is on its way out.
    pub fn member_leaving(&self, i: usize) -> bool {
        self.leaving.get(i).is_some_and(|&l| l != Leave::No)
    }

    /// Whether member `i` is failed or leaving.
    pub fn member_failed(&self, i: usize) -> bool {
        self.member_leaving(i) || self.ctx.slots.get(i).is_some_and(|s| s.state.has(DevState::FAULTY))
    }
}

#[cfg(test)]
mod tests;
