//! The manager core driven without a kernel: a fake metadata format
//! ([`fake::FakeMd`]) and a fake md ([`fake::Kernel`], sysfs values as data
//! and the kernel's reactions as rules), stepped by [`fake::Sim`] the way
//! the daemon's loop steps the real ones.

mod activate;
mod decide;
mod failures;
mod fake;
mod spares;
mod timers;
