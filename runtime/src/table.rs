//! The process table: every live process by pid, in shards so that spawns, exits and a
//! frame-rate snapshot of 100,000 processes do not wait on one lock.

use std::sync::Arc;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::hash::IdMap;
use crate::process::record::ProcessInner;
use crate::Pid;

const SHARDS: usize = 64;

type Shard = IdMap<u64, Arc<ProcessInner>>;

pub(crate) struct ProcessTable {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
}

impl ProcessTable {
    pub(crate) fn new() -> ProcessTable {
        ProcessTable {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Mutex::new(IdMap::default())))
                .collect(),
        }
    }

    /// The shard of `pid` and the key within it (consecutive pids of a shard get consecutive
    /// keys, which keeps the shard's buckets in spawn order).
    fn shard(&self, pid: u64) -> (&Mutex<Shard>, u64) {
        (&self.shards[(pid as usize) % SHARDS], pid / SHARDS as u64)
    }

    pub(crate) fn insert(&self, inner: Arc<ProcessInner>) {
        let (shard, key) = self.shard(inner.pid.0);
        shard.lock().insert(key, inner);
    }

    pub(crate) fn remove(&self, pid: Pid) -> Option<Arc<ProcessInner>> {
        let (shard, key) = self.shard(pid.0);
        let mut shard = shard.lock();
        let removed = shard.remove(&key);
        if shard.is_empty() && shard.capacity() > 1024 {
            // Give back the memory of a burst that is over.
            shard.shrink_to_fit();
        }
        removed
    }

    pub(crate) fn get(&self, pid: Pid) -> Option<Arc<ProcessInner>> {
        let (shard, key) = self.shard(pid.0);
        shard.lock().get(&key).cloned()
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Calls `f` for every live process, holding one shard's lock at a time.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Arc<ProcessInner>)) {
        for shard in self.shards.iter() {
            for inner in shard.lock().values() {
                f(inner);
            }
        }
    }

    /// Every live process (clones of the records), for shutdown.
    pub(crate) fn all(&self) -> Vec<Arc<ProcessInner>> {
        let mut all = Vec::new();
        self.for_each(|p| all.push(p.clone()));
        all
    }
}
