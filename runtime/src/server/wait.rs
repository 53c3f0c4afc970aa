//! Waiting for a name to be registered (a server that is starting or restarting).

use std::time::{Duration, Instant};

use crate::{Handle, Pid};

/// Waits until `name` is registered to a live process and returns it; `None` past `deadline`.
/// The one place that still polls for a name.
// TODO(lead): Handle::wait_name
pub(crate) async fn wait_for_name(h: &Handle, name: &str, deadline: Instant) -> Option<Pid> {
    loop {
        if let Some(pid) = h.whereis(name).filter(|p| h.is_alive(*p)) {
            return Some(pid);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        async_io::Timer::after(left.min(Duration::from_millis(2))).await;
    }
}
