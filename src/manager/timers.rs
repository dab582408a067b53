//! The loop's deadlines, decided in the core (as quinn-proto's
//! `handle_timeout(now)` / `poll_timeout()`): time is passed in (ms on a
//! monotonic clock), and the poll timeout comes out.

/// Wait before a refused removal is looked at again.
pub const REMOVAL_RETRY_MS: u64 = 100;
/// Poll period while no array is monitored (waiting for one to appear or
/// for the container to be released).
pub const IDLE_MS: u64 = 20;

/// The manager's timers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timers {
    /// When to look at refused removals again.
    removal_retry: Option<u64>,
}

/// How long to poll, and whether a quiet timeout is the watchdog's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout {
    pub ms: Option<u64>,
    /// The timeout is the watchdog period (a quiet expiry counts a tick).
    pub watchdog: bool,
}

impl Timers {
    /// A removal was refused at `now`.
    pub fn removal_refused(&mut self, now: u64) {
        if self.removal_retry.is_none() {
            self.removal_retry = Some(now.saturating_add(REMOVAL_RETRY_MS));
        }
    }

    /// Time passed: expired deadlines are dropped. Returns whether the
    /// removal retry was due.
    pub fn handle_timeout(&mut self, now: u64) -> bool {
        match self.removal_retry {
            Some(t) if now >= t => {
                self.removal_retry = None;
                true
            }
            _ => false,
        }
    }

    /// The next deadline, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.removal_retry
    }

    /// The poll timeout at `now`: short while no array is monitored, else
    /// the nearest deadline, else the watchdog period of the arrays that
    /// are `active` (`None`: sleep until an event).
    pub fn poll_timeout(&self, now: u64, no_arrays: bool, watchdog_ms: Option<u64>) -> Timeout {
        if no_arrays {
            return Timeout { ms: Some(IDLE_MS), watchdog: false };
        }
        match self.removal_retry {
            Some(t) => Timeout { ms: Some(t.saturating_sub(now)), watchdog: false },
            None => Timeout { ms: watchdog_ms, watchdog: watchdog_ms.is_some() },
        }
    }
}
