//! The read side of the runtime: what the GUI, lessons and tests look at.
//!
//! - [`ProcessRow`] snapshots of the whole process table, cheap enough for every frame;
//! - [`ProcessInfo`] for one process (state as text, first messages, links, monitors, history);
//! - the bounded [`events`] stream (spawns, exits, links, monitors, restarts, escalations);
//! - [`RuntimeMetrics`] counters and the [`MetricsSampler`] that turns them into rates.

pub mod events;
mod info;
mod metrics;
mod snapshot;

pub use events::{Event, EventKind, EventReader};
pub use info::ProcessInfo;
pub use metrics::{LongPoll, MetricsSampler, RuntimeMetrics, RuntimeRates, TableSizes};
pub use snapshot::ProcessRow;
