//! Giving up on a future after a while.

use std::future::Future;
use std::time::Duration;

/// Runs `fut`, giving up with `None` after `timeout`.
pub(crate) async fn with_timeout<T>(timeout: Duration, fut: impl Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        async_io::Timer::after(timeout).await;
        None
    })
    .await
}
