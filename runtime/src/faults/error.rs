//! [`FaultError`]: why a fault or chaos could not be switched.

use super::kind::FaultKind;

/// Why a fault or chaos could not be switched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    #[error("the {0} fault needs a database pool (build Faults with with_pool)")]
    NeedsPool(FaultKind),
    #[error("chaos is running already")]
    ChaosRunning,
    #[error("bad chaos plan: {0}")]
    BadPlan(String),
    #[error("{0}")]
    Runtime(String),
}
