//! The two pool faults: every query made slow, and SQLite's write lock held from outside the
//! pool. They start no processes; the pool's metrics show them.

use std::time::Duration;

use parking_lot::Mutex;

use super::error::FaultError;
use super::kind::FaultKind;
use crate::db::Pool;

/// The latency slow queries add to every query.
pub const SLOW_QUERY: Duration = Duration::from_millis(200);

/// Turns a pool fault on or off; `latency_before` keeps the latency slow queries replaced.
pub(super) fn switch(
    pool: &Pool,
    kind: FaultKind,
    on: bool,
    latency_before: &Mutex<Duration>,
) -> Result<(), FaultError> {
    match kind {
        FaultKind::SlowQueries if on => {
            *latency_before.lock() = pool.query_latency();
            pool.set_query_latency(SLOW_QUERY);
        }
        FaultKind::SlowQueries => pool.set_query_latency(*latency_before.lock()),
        FaultKind::WriteLock => pool
            .hold_write_lock(on)
            .map_err(|e| FaultError::Runtime(format!("the write lock: {e}")))?,
        _ => return Err(FaultError::Runtime(format!("{kind} is not a pool fault"))),
    }
    Ok(())
}
