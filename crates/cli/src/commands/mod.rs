//! One file per command; the shared connecting helpers are `crate::data` and `crate::jobs`.

pub mod calendar;
pub mod cancel;
pub mod cleanup;
pub mod coverage;
pub mod dead;
pub mod gaps;
pub mod health;
pub mod history;
pub mod jobs;
pub mod load;
pub mod queue;
pub mod schedule;
pub mod splits;
pub mod status;
pub mod submit;
pub mod top_up;
pub mod universe;
pub mod worker;
pub mod workers;
