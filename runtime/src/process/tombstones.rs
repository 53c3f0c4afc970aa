//! Recent exits, so a dead pid can still be described.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{ExitReason, Kind, Pid};

/// Recent exits, so `process_info` on a dead pid can still say why it ended. Sharded by pid
/// so that exits on different worker threads do not contend; each shard keeps its newest.
pub(crate) struct Tombstones {
    per_shard: usize,
    shards: Box<[crossbeam_utils::CachePadded<Mutex<VecDeque<Tombstone>>>]>,
}

const TOMBSTONE_SHARDS: usize = 16;

#[derive(Clone, Debug)]
pub(crate) struct Tombstone {
    pub(crate) pid: Pid,
    pub(crate) reason: ExitReason,
    pub(crate) label: Option<Arc<str>>,
    pub(crate) kind: Kind,
    pub(crate) parent: Option<Pid>,
}

impl Tombstones {
    pub(crate) fn new(cap: usize) -> Tombstones {
        Tombstones {
            per_shard: cap.div_ceil(TOMBSTONE_SHARDS),
            shards: (0..TOMBSTONE_SHARDS)
                .map(|_| crossbeam_utils::CachePadded::new(Mutex::new(VecDeque::new())))
                .collect(),
        }
    }

    fn shard(&self, pid: Pid) -> &Mutex<VecDeque<Tombstone>> {
        &self.shards[(pid.0 as usize) % TOMBSTONE_SHARDS]
    }

    pub(crate) fn push(
        &self,
        pid: Pid,
        reason: ExitReason,
        label: Option<Arc<str>>,
        kind: Kind,
        parent: Option<Pid>,
    ) {
        if self.per_shard == 0 {
            return;
        }
        let mut r = self.shard(pid).lock();
        if r.len() == self.per_shard {
            r.pop_front();
        }
        r.push_back(Tombstone {
            pid,
            reason,
            label,
            kind,
            parent,
        });
    }

    pub(crate) fn find(&self, pid: Pid) -> Option<Tombstone> {
        self.shard(pid)
            .lock()
            .iter()
            .rev()
            .find(|t| t.pid == pid)
            .cloned()
    }
}
