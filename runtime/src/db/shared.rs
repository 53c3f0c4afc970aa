//! What the pool handle, the pool process and the connection processes share; it outlives
//! restarts of any of them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::metrics::Stats;
use super::storage::WriteLockHolder;
use super::PoolConfig;
use crate::Pid;

/// State shared by the handle, the pool process and the connection processes; kept across
/// restarts of any of them.
pub(crate) struct PoolShared {
    pub(crate) config: PoolConfig,
    pub(crate) stats: Stats,
    /// The "make the database slow" latency, in nanoseconds.
    pub(crate) latency_ns: AtomicU64,
    pub(crate) slots: Box<[SlotShared]>,
    pub(crate) write_lock: Mutex<Option<WriteLockHolder>>,
    pub(crate) write_lock_held: AtomicBool,
    /// The pool process last seen (0: look it up).
    pub(crate) pool_pid: AtomicU64,
    pub(crate) next_id: AtomicU64,
}

/// One connection slot as the handle sees it.
#[derive(Default)]
pub(crate) struct SlotShared {
    pub(crate) pid: AtomicU64,
    pub(crate) busy: AtomicBool,
}

impl PoolShared {
    pub(crate) fn new(config: PoolConfig) -> PoolShared {
        PoolShared {
            slots: (0..config.pool_size)
                .map(|_| SlotShared::default())
                .collect(),
            config,
            stats: Stats::new(),
            latency_ns: AtomicU64::new(0),
            write_lock: Mutex::new(None),
            write_lock_held: AtomicBool::new(false),
            pool_pid: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
        }
    }

    pub(crate) fn set_connection(&self, index: usize, pid: Pid) {
        if let Some(s) = self.slots.get(index) {
            s.pid.store(pid.id(), Ordering::Release);
        }
    }

    pub(crate) fn forget_connection(&self, index: usize, pid: Pid) {
        if let Some(s) = self.slots.get(index) {
            let _ = s
                .pid
                .compare_exchange(pid.id(), 0, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}
