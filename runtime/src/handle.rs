//! [`Handle`]: a cheap, cloneable way to reach a running runtime from anywhere. Its methods
//! live with their concern (sending in `send.rs`, names in `registry.rs`, the read side in
//! `observe.rs`, spawning in `process.rs`, ...); here: the runtime's basic facts.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::shared::Shared;
use crate::{Clock, Pid};

/// A cheap, cloneable handle on a running runtime.
#[derive(Clone)]
pub struct Handle(pub(crate) Arc<Shared>);

impl Handle {
    /// Runs a future to completion on the calling thread (not a worker thread).
    pub fn block_on<T>(&self, fut: impl Future<Output = T>) -> T {
        futures_lite::future::block_on(fut)
    }

    /// Whether `pid` is alive.
    pub fn is_alive(&self, pid: Pid) -> bool {
        self.0.table.get(pid).is_some_and(|p| p.state.lock().alive)
    }

    /// The runtime's clock (the one supervisors use).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.0.clock
    }

    /// Real time since the runtime started.
    pub fn uptime(&self) -> Duration {
        self.0.now()
    }

    /// Number of executor worker threads.
    pub fn workers(&self) -> usize {
        self.0.executor.workers()
    }

    /// Whether [`shutdown`](Self::shutdown) has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.0.is_shutting_down()
    }
}
