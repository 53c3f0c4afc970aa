//! Waiting for a name to be registered to a live process (a server that is starting or
//! restarting), through the registry's notifications.

use std::time::Instant;

use crate::timeout::with_timeout;
use crate::{Handle, Pid};

/// Waits until `name` is registered to a live process and returns it; `None` past `deadline`.
pub(crate) async fn wait_for_name(h: &Handle, name: &str, deadline: Instant) -> Option<Pid> {
    let left = deadline.saturating_duration_since(Instant::now());
    with_timeout(left, async {
        loop {
            let pid = h.wait_name(name).await;
            if h.is_alive(pid) {
                return pid;
            }
            // The holder is on its way out: its name is free once it is gone.
            h.wait_exit(pid).await;
        }
    })
    .await
}
