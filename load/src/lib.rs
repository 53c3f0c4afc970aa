//! `crashcourse load`: a k6-like load generator. Virtual users are real WebSocket clients that
//! speak only the public Phoenix Channels V2 JSON protocol (so any Phoenix server can be driven),
//! or plain HTTP/1.1 clients; a run ends with a summary of counts, latency percentiles, errors by
//! kind and threshold verdicts.
//!
//! Two workload models, as k6 names them: *closed* (each virtual user waits for its reply before
//! the next send) and *open* (messages sent on a fixed schedule whatever the server does, latency
//! measured from the scheduled time, so a slowing server shows instead of being hidden).

pub mod cli;
pub mod contrast;
mod http_user;
mod net;
mod phoenix;
pub mod plan;
mod progress;
mod run;
mod shared;
mod stats;
pub mod summary;
pub mod threshold;
pub mod units;
mod ws_user;

pub use contrast::{ContrastPlan, ContrastResult, ContrastSide, RunningContrast};
pub use plan::{Model, Plan, PlanError, Protocol, Target, MAX_CLIENTS, MAX_SLOW_MS, PER_SOURCE};
pub use progress::ProgressStyle;
pub use run::{start, Running};
pub use stats::Live;
pub use summary::{Latency, Summary};
pub use threshold::{Measured, ThresholdResult, Thresholds};

/// Runs `plan` to its end (duration plus drain) and returns the summary.
pub fn run(plan: Plan) -> Result<Summary, PlanError> {
    Ok(start(plan)?.wait())
}
