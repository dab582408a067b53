//! The manager's decisions, sans I/O (the monitor's counterpart): what the
//! daemon shell must do between monitor passes, decided from state it is
//! given. The shell (`daemon`) executes the plans and reports back.

pub mod plan;
