//! What the HTTP acceptor and its connection processes share: the chat server's state, the
//! fixed thread pool behind `/api/slow`, and the figures the acceptor shows in the inspector.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::chat::http::thread_pool::ThreadPool;
use crate::chat::ChatShared;

pub(crate) struct HttpShared {
    pub(crate) chat: Arc<ChatShared>,
    pub(crate) pool: Arc<ThreadPool>,
    /// Connections open now.
    pub(crate) open: AtomicUsize,
    /// Connections closed because a request head (or body) did not arrive in time.
    pub(crate) timed_out: AtomicU64,
    /// Requests refused for their size (431, 413) or shape (400).
    pub(crate) refused: AtomicU64,
}

impl HttpShared {
    pub(crate) fn new(chat: Arc<ChatShared>, pool: Arc<ThreadPool>) -> HttpShared {
        HttpShared {
            chat,
            pool,
            open: AtomicUsize::new(0),
            timed_out: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a connection as open while its process lives.
pub(crate) struct Open(Arc<HttpShared>);

impl Open {
    pub(crate) fn new(shared: &Arc<HttpShared>) -> Open {
        shared.open.fetch_add(1, Ordering::Relaxed);
        Open(shared.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}
