//! Publish/subscribe by topic: `subscribe`, `unsubscribe`, `broadcast`. A subscriber is removed
//! when it exits.

pub(crate) mod topics;

use std::sync::Arc;

use crate::mailbox::Message;
use crate::{Handle, Pid};

pub(crate) use topics::PubSub;

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
            // Through the common send path, so a traced subscriber records the receive.
            if self.send_from(None, pid, message.clone()).is_ok() {
                delivered += 1;
            }
        }
        delivered
    }

    /// Number of subscribers of `topic`.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.0.pubsub.subscribers(topic).len()
    }
}
