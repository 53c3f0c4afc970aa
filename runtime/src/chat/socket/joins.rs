//! The topics one socket has joined: a short list (most sockets join one topic), kept without a
//! hash table, so a connection with one join holds one small allocation, not two tables.

use crate::Pid;

/// One joined (or joining) topic.
pub(super) struct Joined {
    pub(super) topic: Box<str>,
    pub(super) join_ref: Option<String>,
    pub(super) channel: Pid,
    /// The join ref of a channel this one replaced: `phx_close` goes out after our reply.
    pub(super) replaced: Option<Option<String>>,
    /// Whether the channel has answered the join yet.
    pub(super) answered: bool,
}

#[derive(Default)]
pub(super) struct Joins(Vec<Joined>);

impl Joins {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn get(&self, topic: &str) -> Option<&Joined> {
        self.0.iter().find(|j| &*j.topic == topic)
    }

    pub(super) fn get_mut(&mut self, topic: &str) -> Option<&mut Joined> {
        self.0.iter_mut().find(|j| &*j.topic == topic)
    }

    pub(super) fn contains(&self, topic: &str) -> bool {
        self.get(topic).is_some()
    }

    /// Adds or replaces the join of `joined.topic`; returns the one it replaced.
    pub(super) fn insert(&mut self, joined: Joined) -> Option<Joined> {
        if let Some(j) = self.get_mut(&joined.topic) {
            return Some(std::mem::replace(j, joined));
        }
        // Exactly one more: the default growth would reserve room for four.
        self.0.reserve_exact(1);
        self.0.push(joined);
        None
    }

    pub(super) fn remove(&mut self, topic: &str) -> Option<Joined> {
        let i = self.0.iter().position(|j| &*j.topic == topic)?;
        Some(self.0.swap_remove(i))
    }

    /// Removes the join whose channel is `pid`.
    pub(super) fn remove_channel(&mut self, pid: Pid) -> Option<Joined> {
        let i = self.0.iter().position(|j| j.channel == pid)?;
        Some(self.0.swap_remove(i))
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Joined> {
        self.0.iter()
    }
}
