//! Publish/subscribe by topic. Subscribers are kept in shards chosen by their pid, so that many
//! processes joining the same topic do not contend on one lock; a subscriber is removed when it
//! exits.

use std::collections::HashMap;
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::mailbox::{Message, Msg};
use crate::{Handle, Pid};

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

impl Handle {
    /// Subscribes `pid` to `topic`; it is removed when it exits.
    pub fn subscribe(&self, pid: Pid, topic: &str) -> bool {
        let Some(inner) = self.0.table.get(pid) else {
            return false;
        };
        let topic: Arc<str> = topic.into();
        let mut st = inner.state.lock();
        if !st.alive {
            return false;
        }
        if self.0.pubsub.add(&topic, pid) {
            st.extra().subscriptions.push(topic);
        }
        true
    }

    /// Unsubscribes `pid` from `topic`.
    pub fn unsubscribe(&self, pid: Pid, topic: &str) -> bool {
        if let Some(inner) = self.0.table.get(pid) {
            if let Some(e) = inner.state.lock().extra.as_mut() {
                e.subscriptions.retain(|t| &**t != topic);
            }
        }
        self.0.pubsub.remove(topic, pid)
    }

    /// Sends a copy of `message` to every subscriber of `topic`; returns how many got it.
    pub fn broadcast<M: Message + Clone>(&self, topic: &str, message: M) -> usize {
        let mut delivered = 0;
        for pid in self.0.pubsub.subscribers(topic) {
            if let Some(p) = self.0.table.get(pid) {
                if p.deliver(Msg::new(message.clone())).is_ok() {
                    self.0.executor.count_message();
                    delivered += 1;
                }
            }
        }
        delivered
    }

    /// Number of subscribers of `topic`.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.0.pubsub.subscribers(topic).len()
    }
}
