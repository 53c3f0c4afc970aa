//! [`TimerRef`]: names a timer, so it can be cancelled.

/// Identifies a timer started with [`Handle::send_after`](crate::Handle::send_after).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerRef(pub(crate) u64);
