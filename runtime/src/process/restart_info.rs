//! What supervisors publish about a child ([`RestartInfo`], its [`PastExit`]s) and about
//! themselves ([`SupervisorUse`]), for the inspector.

use std::sync::Arc;
use std::time::Duration;

use crate::{ExitReason, Pid};

/// One past exit of a supervised child, kept in its restart history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastExit {
    /// Runtime clock time of the exit.
    pub at: Duration,
    pub pid: Pid,
    pub reason: ExitReason,
}

/// What a supervisor passes to a child it (re)starts, for the inspector.
#[derive(Clone, Debug, Default)]
pub struct RestartInfo {
    /// How many times this child has been restarted.
    pub count: u32,
    /// Most recent exits of this child, oldest first.
    pub history: Arc<[PastExit]>,
}

/// A supervisor's restart intensity use, published for the GUI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupervisorUse {
    /// Restarts within the current period.
    pub restarts_in_period: u32,
    pub max_restarts: u32,
    pub period: Duration,
    /// Number of children it holds.
    pub children: usize,
}
