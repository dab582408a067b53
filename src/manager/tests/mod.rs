//! The manager core driven without a kernel: a fake metadata format
//! ([`fake::FakeMd`]) and a fake md ([`fake::Kernel`], sysfs values as data
//! and the kernel's reactions as rules), stepped by [`fake::Sim`] the way
//! the daemon's loop steps the real ones: the monitor's `read_and_act`, the
//! manager core's pass ([`crate::manager::core::Manager`]), a fake executor
//! whose jobs end when a test says, results fed back to the core. `found`
//! adds arrays appearing (rebuild resume, level changes).

mod activate;
mod decide;
mod failures;
mod fake;
mod found;
mod resume;
mod spares;
mod timers;
