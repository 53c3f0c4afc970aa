//! The view an observer rebuilds from the stream: a keyframe replaces it, deltas, events,
//! metrics and chat frames update it. Attaching and replaying a recording both end here, so
//! what is drawn does not depend on where the frames came from.

use std::collections::{BTreeMap, VecDeque};

use super::frames::{ChatFigures, Frame, Metrics, Row, WireEvent};

/// Events kept for the timeline at most.
pub const EVENTS_KEPT: usize = 16_384;

/// The node as the frames so far describe it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamState {
    /// Time since the node's runtime started, of the newest frame applied (microseconds).
    pub at_us: u64,
    /// Live processes by pid.
    pub rows: BTreeMap<u64, Row>,
    pub metrics: Option<Metrics>,
    pub chat: Option<ChatFigures>,
    /// The newest events, oldest first (at most [`EVENTS_KEPT`]).
    pub events: VecDeque<WireEvent>,
    /// Events the node's stream lost (its event ring overtook it).
    pub events_dropped: u64,
    /// Whether a keyframe has been applied (before one, the table is not whole).
    pub whole: bool,
}

impl StreamState {
    /// Applies one frame; frames that do not describe the node (replies, errors) change nothing.
    pub fn apply(&mut self, frame: &Frame) {
        match frame {
            Frame::Keyframe(k) => {
                self.at_us = k.at_us;
                self.rows = k.rows.iter().map(|r| (r.pid, r.clone())).collect();
                self.metrics = Some(k.metrics.clone());
                if k.chat.is_some() {
                    self.chat = k.chat.clone();
                }
                self.whole = true;
            }
            Frame::Delta(d) => {
                self.at_us = self.at_us.max(d.at_us);
                for row in &d.changed {
                    self.rows.insert(row.pid, row.clone());
                }
                for pid in &d.removed {
                    self.rows.remove(pid);
                }
            }
            Frame::Events(batch) => {
                for e in &batch.events {
                    if self.events.len() == EVENTS_KEPT {
                        self.events.pop_front();
                    }
                    self.events.push_back(e.clone());
                }
                self.events_dropped = batch.dropped;
            }
            Frame::Metrics(m) => {
                self.at_us = self.at_us.max(m.at_us);
                self.metrics = Some(m.metrics.clone());
            }
            Frame::Chat(c) => {
                self.at_us = self.at_us.max(c.at_us);
                self.chat = Some(c.clone());
            }
            Frame::Error(_) | Frame::Hello(_) | Frame::Reply(_) | Frame::Closing { .. } => {}
        }
    }
}
