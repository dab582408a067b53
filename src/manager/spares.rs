//! Spare activation order (upstream's `manage_member` spare step, made
//! deterministic).
//!
//! While any array of the container has a member on its way out, no array
//! gets spares: a disk failing in several arrays leaves each of them
//! through its own `remove` job, and which job ends first must not decide
//! which array takes the spare's first extent (DDF allocates a spare's
//! space in the order arrays claim it). Once no removal is pending, arrays
//! that asked for spares are served in the order they lost a member
//! (ties, and arrays that lost none, in array order). While spares are
//! being added to one array, no other array gets any.

use super::{ArrayView, MAX_ARRAYS};
use arrayvec::ArrayVec;

/// Why the manager does not activate spares now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// The daemon is exiting.
    Exiting,
    /// Array (index) has a member on its way out.
    Removing(usize),
    /// Spares are being added to array (index): the next array's choice
    /// waits until the metadata records them (a spare's free space is
    /// allocated in the order arrays claim it).
    Activating(usize),
}

/// The arrays to try to give spares to now, in order (indices into
/// `arrays`), or why none is. An array in the list still needs its sync
/// action idle (the shell checks `frozen` before it adds anything).
pub fn order(arrays: &[ArrayView<'_>], exiting: bool) -> Result<ArrayVec<usize, MAX_ARRAYS>, Hold> {
    if exiting {
        return Err(Hold::Exiting);
    }
    if let Some(i) = arrays.iter().position(|a| a.removing()) {
        return Err(Hold::Removing(i));
    }
    if let Some(i) = arrays.iter().position(|a| a.activating) {
        return Err(Hold::Activating(i));
    }
    let mut out: ArrayVec<usize, MAX_ARRAYS> =
        arrays.iter().enumerate().filter(|(_, a)| a.check_degraded).map(|(i, _)| i).take(MAX_ARRAYS).collect();
    // Stable: equal keys keep array order.
    out.sort_by_key(|&i| arrays[i].failed_at.unwrap_or(u64::MAX));
    Ok(out)
}
