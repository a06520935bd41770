//! Running DAGs: the scheduler loop (runs on schedule, readiness by trigger rules, claiming
//! task instances into worker slots and pools, retries, SLAs, recovery of dead schedulers) and
//! the attempts it launches.

pub mod attempt;
mod notify;
pub mod process;
mod scheduler;

pub use scheduler::{Scheduler, SchedulerOptions, Shutdown};
