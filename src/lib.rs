//! mdmon-rs: a monitor for Linux md arrays with external metadata.
//!
//! The crate is split into a sans-I/O core (parsing, metadata formats, the
//! monitor decisions, the control protocol) and a thin shell (`sys`,
//! `daemon`) that performs system calls.

pub mod badblocks;
pub mod daemon;
pub mod ddf;
#[cfg(any(test, feature = "harness"))]
pub mod harness;
pub mod imsm;
pub mod manager;
pub mod md;
pub mod mdstat;
pub mod metadata;
pub mod monitor;
pub mod proto;
pub mod sys;
pub mod wire;
