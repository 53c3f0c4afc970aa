//! One subscriber's queue of encoded frames, bounded in bytes: the publisher never waits for
//! it, and a subscriber that falls behind past the bound is cut off with an error frame.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// An encoded frame (length prefix included) and when it was published.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    /// Time since the runtime started, in microseconds.
    pub at_us: u64,
    pub bytes: Arc<[u8]>,
    pub keyframe: bool,
}

struct State {
    items: VecDeque<Item>,
    bytes: usize,
    /// No more pushes: the reader drains what is left, then sees the end.
    closed: bool,
    /// It was closed because it went over its bound.
    overflowed: bool,
}

pub(crate) struct Outbox {
    max_bytes: usize,
    state: Mutex<State>,
    ready: Condvar,
}

impl Outbox {
    pub(crate) fn new(max_bytes: usize) -> Arc<Outbox> {
        Arc::new(Outbox {
            max_bytes,
            state: Mutex::new(State {
                items: VecDeque::new(),
                bytes: 0,
                closed: false,
                overflowed: false,
            }),
            ready: Condvar::new(),
        })
    }

    /// Queues `item`; false if the outbox is closed. Past the bound, everything queued is
    /// dropped, `farewell` (an error frame) is queued alone and the outbox closes.
    pub(crate) fn push(&self, item: Item, farewell: impl FnOnce() -> Option<Item>) -> bool {
        let mut st = self.state.lock();
        if st.closed {
            return false;
        }
        if st.bytes + item.bytes.len() > self.max_bytes && !st.items.is_empty() {
            st.items.clear();
            st.bytes = 0;
            if let Some(last) = farewell() {
                st.bytes = last.bytes.len();
                st.items.push_back(last);
            }
            st.closed = true;
            st.overflowed = true;
            self.ready.notify_all();
            return false;
        }
        st.bytes += item.bytes.len();
        st.items.push_back(item);
        self.ready.notify_all();
        true
    }

    /// Queues `item` and closes: nothing more is taken after it.
    pub(crate) fn push_last(&self, item: Item) {
        let mut st = self.state.lock();
        if !st.closed {
            st.bytes += item.bytes.len();
            st.items.push_back(item);
            st.closed = true;
        }
        self.ready.notify_all();
    }

    /// The next item, waiting up to `timeout`; `Err(())` once closed and drained.
    pub(crate) fn pop(&self, timeout: Duration) -> Result<Option<Item>, ()> {
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock();
        loop {
            if let Some(item) = st.items.pop_front() {
                st.bytes -= item.bytes.len();
                return Ok(Some(item));
            }
            if st.closed {
                return Err(());
            }
            if self.ready.wait_until(&mut st, deadline).timed_out() {
                return Ok(None);
            }
        }
    }

    /// Closes it; what is queued can still be taken.
    pub(crate) fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_all();
    }

    /// Closes it and drops what is queued.
    pub(crate) fn abort(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        st.items.clear();
        st.bytes = 0;
        self.ready.notify_all();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Whether it was cut off for going over its bound.
    pub(crate) fn overflowed(&self) -> bool {
        self.state.lock().overflowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: usize) -> Item {
        Item {
            at_us: 0,
            bytes: Arc::from(vec![0u8; n]),
            keyframe: false,
        }
    }

    #[test]
    fn past_its_bound_it_keeps_only_the_farewell_and_closes() {
        let out = Outbox::new(100);
        assert!(out.push(item(60), || None));
        assert!(!out.push(item(60), || Some(item(7))));
        assert!(out.overflowed());
        assert_eq!(out.pop(Duration::ZERO).unwrap().unwrap().bytes.len(), 7);
        assert!(out.pop(Duration::ZERO).is_err());
        assert!(!out.push(item(1), || None));
    }

    #[test]
    fn one_item_larger_than_the_bound_still_goes_when_the_queue_is_empty() {
        let out = Outbox::new(10);
        assert!(out.push(item(50), || None));
        assert_eq!(out.pop(Duration::ZERO).unwrap().unwrap().bytes.len(), 50);
        assert!(out.pop(Duration::from_millis(1)).unwrap().is_none());
    }
}
