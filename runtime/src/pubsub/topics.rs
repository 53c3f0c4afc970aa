//! The subscriber table: topic → pids, sharded by pid so that many processes joining one topic
//! do not contend on one lock.

use std::collections::HashMap;
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::Pid;

const SHARDS: usize = 16;

/// One shard: topic → its subscribers whose pid falls in this shard.
type Topics = HashMap<Arc<str>, Vec<Pid>>;

pub(crate) struct PubSub {
    shards: Box<[CachePadded<Mutex<Topics>>]>,
}

impl PubSub {
    pub(crate) fn new() -> PubSub {
        PubSub {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Mutex::new(HashMap::new())))
                .collect(),
        }
    }

    fn shard(&self, pid: Pid) -> &Mutex<Topics> {
        &self.shards[(pid.0 as usize) % SHARDS]
    }

    /// Adds `pid` to `topic`. False if it was already there.
    pub(crate) fn add(&self, topic: &Arc<str>, pid: Pid) -> bool {
        let mut shard = self.shard(pid).lock();
        let subs = shard.entry(topic.clone()).or_default();
        if subs.contains(&pid) {
            return false;
        }
        subs.push(pid);
        true
    }

    /// Removes `pid` from `topic`. False if it was not there.
    pub(crate) fn remove(&self, topic: &str, pid: Pid) -> bool {
        let mut shard = self.shard(pid).lock();
        let Some(subs) = shard.get_mut(topic) else {
            return false;
        };
        let before = subs.len();
        subs.retain(|&p| p != pid);
        let removed = subs.len() != before;
        if subs.is_empty() {
            shard.remove(topic);
        }
        removed
    }

    /// Everyone subscribed to `topic`.
    pub(crate) fn subscribers(&self, topic: &str) -> Vec<Pid> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            if let Some(subs) = shard.lock().get(topic) {
                all.extend_from_slice(subs);
            }
        }
        all
    }

    /// Total number of (topic, subscriber) entries.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().values().map(Vec::len).sum::<usize>())
            .sum()
    }
}
