//! What the pool handle, the pool process and the connection processes share; it outlives
//! restarts of any of them.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

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
    /// One slot per possible connection ([`MAX_POOL_SIZE`]); the first `size` are in use.
    pub(crate) slots: Box<[SlotShared]>,
    /// Connections wanted now (the configured size until `Pool::reconfigure` changes it).
    pub(crate) size: AtomicUsize,
    /// The queue settings now, in nanoseconds (the pool process applies them per interval).
    pub(crate) queue_target_ns: AtomicU64,
    pub(crate) queue_interval_ns: AtomicU64,
    /// Held only for a moment: a connection deciding to retire and a resize changing `size`
    /// see each other's step whole (never held across an await or a call).
    pub(crate) resize: Mutex<()>,
    /// The pool's supervisor (0: not known yet), told by the pool process when it starts.
    pub(crate) supervisor: AtomicU64,
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
    /// Its connection has decided to stop because the pool shrank (cleared by the next one).
    pub(crate) retired: AtomicBool,
}

/// The most connections one pool may have (each is an OS thread with its own SQLite handle).
pub(crate) const MAX_POOL_SIZE: usize = 100;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl PoolShared {
    pub(crate) fn new(config: PoolConfig) -> PoolShared {
        PoolShared {
            slots: (0..config.pool_size.max(MAX_POOL_SIZE))
                .map(|_| SlotShared::default())
                .collect(),
            size: AtomicUsize::new(config.pool_size),
            queue_target_ns: AtomicU64::new(nanos(config.queue_target)),
            queue_interval_ns: AtomicU64::new(nanos(config.queue_interval)),
            resize: Mutex::new(()),
            supervisor: AtomicU64::new(0),
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
            s.retired.store(false, Ordering::Release);
        }
    }

    /// Connections wanted now.
    pub(crate) fn size(&self) -> usize {
        self.size.load(Ordering::Acquire)
    }

    /// `(queue_target, queue_interval)` now.
    pub(crate) fn queue_settings(&self) -> (Duration, Duration) {
        (
            Duration::from_nanos(self.queue_target_ns.load(Ordering::Acquire)),
            Duration::from_nanos(self.queue_interval_ns.load(Ordering::Acquire)),
        )
    }

    pub(crate) fn set_queue_settings(&self, target: Duration, interval: Duration) {
        self.queue_target_ns.store(nanos(target), Ordering::Release);
        self.queue_interval_ns
            .store(nanos(interval), Ordering::Release);
    }

    /// Connection `index` asks whether to retire: true (and marked retired) when the pool no
    /// longer wants it.
    pub(crate) fn retire(&self, index: usize) -> bool {
        let _step = self.resize.lock();
        let beyond = index >= self.size();
        if beyond {
            if let Some(s) = self.slots.get(index) {
                s.retired.store(true, Ordering::Release);
            }
        }
        beyond
    }

    pub(crate) fn forget_connection(&self, index: usize, pid: Pid) {
        if let Some(s) = self.slots.get(index) {
            let _ = s
                .pid
                .compare_exchange(pid.id(), 0, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}
