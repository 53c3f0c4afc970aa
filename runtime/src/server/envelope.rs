//! How calls and casts travel in a mailbox, and where a call's reply goes.

use std::fmt;

use futures_channel::oneshot;

/// Where the reply to one call goes. Dropping it unanswered fails the call.
pub struct ReplyTo<R>(pub(super) oneshot::Sender<R>);

impl<R> ReplyTo<R> {
    /// Answers the call. False if the caller has given up (timed out or exited).
    pub fn send(self, reply: R) -> bool {
        self.0.send(reply).is_ok()
    }
}

impl<R> fmt::Debug for ReplyTo<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyTo")
    }
}

/// A call in a mailbox.
pub struct CallMsg<C, R> {
    pub request: C,
    pub reply: ReplyTo<R>,
}

impl<C: fmt::Debug, R> fmt::Debug for CallMsg<C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call {:?}", self.request)
    }
}

/// A cast in a mailbox.
pub struct CastMsg<C>(pub C);

impl<C: fmt::Debug> fmt::Debug for CastMsg<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cast {:?}", self.0)
    }
}
