//! One caller's request as it travels: queued in the pool, handed to a connection, run on the
//! connection's thread. Whoever holds it when it is dropped unanswered answers with an error
//! that says where it was, so no caller ever waits on a request that no longer exists.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use futures_channel::oneshot;
use rusqlite::Connection;

use super::{DbError, StoredMessage};

/// Where a request is; decides the error it answers with if dropped unanswered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// In the pool's queue: dropped only if the pool process exits.
    Queued,
    /// Sent to a connection process or its thread.
    Dispatched,
}

/// A checkout request and the work to do once it has a connection.
pub(crate) struct Request {
    pub(crate) id: u64,
    /// When the caller asked (DBConnection measures queue time from the caller's clock too).
    pub(crate) sent: Instant,
    pub(crate) deadline: Instant,
    pub(crate) stage: Stage,
    work: Option<Work>,
}

pub(crate) enum Work {
    /// Group-committed with other inserts.
    Insert(Insert),
    /// A closure with a connection to itself.
    Run(Box<dyn RunJob>),
}

pub(crate) struct Insert {
    pub(crate) room: String,
    pub(crate) nick: String,
    pub(crate) body: String,
    pub(crate) reply: oneshot::Sender<Result<StoredMessage, DbError>>,
}

/// A `run` closure and its typed reply, behind a trait object so the pool need not know `T`.
pub(crate) trait RunJob: Send {
    /// Runs the closure; `map_err` turns a SQLite error into what the caller sees, and
    /// `before_reply` runs after the work and before the caller is answered.
    fn run(
        self: Box<Self>,
        conn: &Connection,
        map_err: &dyn Fn(rusqlite::Error) -> DbError,
        before_reply: &dyn Fn(),
    );
    fn fail(self: Box<Self>, err: DbError);
    fn is_canceled(&self) -> bool;
}

pub(crate) struct RunReq<T, F> {
    pub(crate) f: F,
    pub(crate) reply: oneshot::Sender<Result<T, DbError>>,
}

impl<T, F> RunJob for RunReq<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
{
    fn run(
        self: Box<Self>,
        conn: &Connection,
        map_err: &dyn Fn(rusqlite::Error) -> DbError,
        before_reply: &dyn Fn(),
    ) {
        let RunReq { f, reply } = *self;
        let result = match catch_unwind(AssertUnwindSafe(|| f(conn))) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(map_err(e)),
            Err(payload) => Err(DbError::Panicked(panic_text(&*payload))),
        };
        before_reply();
        let _ = reply.send(result);
    }

    fn fail(self: Box<Self>, err: DbError) {
        let _ = self.reply.send(Err(err));
    }

    fn is_canceled(&self) -> bool {
        self.reply.is_canceled()
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-text panic)".to_string()
    }
}

impl Work {
    fn fail(self, err: DbError) {
        match self {
            Work::Insert(i) => {
                let _ = i.reply.send(Err(err));
            }
            Work::Run(job) => job.fail(err),
        }
    }
}

impl Request {
    pub(crate) fn new(id: u64, sent: Instant, deadline: Instant, work: Work) -> Request {
        Request {
            id,
            sent,
            deadline,
            stage: Stage::Queued,
            work: Some(work),
        }
    }

    pub(crate) fn is_insert(&self) -> bool {
        matches!(self.work, Some(Work::Insert(_)))
    }

    /// Whether the caller has stopped waiting (timed out, or its process exited).
    pub(crate) fn is_canceled(&self) -> bool {
        match &self.work {
            Some(Work::Insert(i)) => i.reply.is_canceled(),
            Some(Work::Run(job)) => job.is_canceled(),
            None => true,
        }
    }

    /// Takes the work out; the request no longer answers on drop.
    pub(crate) fn take(mut self) -> Option<Work> {
        self.work.take()
    }

    /// Answers with an error now.
    pub(crate) fn fail(mut self, err: DbError) {
        if let Some(w) = self.work.take() {
            w.fail(err);
        }
    }

    /// Forgets the request without answering (its caller is gone or got its answer elsewhere).
    pub(crate) fn forget(mut self) {
        drop(self.work.take());
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if let Some(w) = self.work.take() {
            w.fail(match self.stage {
                Stage::Queued => DbError::PoolExited,
                Stage::Dispatched => DbError::ConnectionDied,
            });
        }
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.work {
            Some(Work::Insert(i)) => format!("insert into {:?}", i.room),
            Some(Work::Run(_)) => "run".to_string(),
            None => "done".to_string(),
        };
        write!(
            f,
            "request #{} {} (waited {:?})",
            self.id,
            what,
            self.sent.elapsed()
        )
    }
}
