//! The casts between the pool process and its connection processes.

use std::time::Instant;

use super::request::Request;
use crate::Pid;

/// Casts the pool process takes.
#[derive(Debug)]
pub(crate) enum PoolMsg {
    /// A caller wants a connection.
    Checkout(Request),
    /// The caller of request `id` gave up.
    Cancel(u64),
    /// A connection process is up and idle.
    ConnUp { index: usize, pid: Pid },
    /// A connection finished its job.
    Checkin { index: usize, pid: Pid },
    /// The size or the queue settings in the shared state changed.
    Reconfigure,
    /// A connection asked to retire is wanted again after all (the pool grew back).
    Stay { index: usize, pid: Pid },
}

/// Work the pool hands to a connection: a group of inserts or one `run` request.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) requests: Vec<Request>,
    /// The latest deadline of its requests: past it the query is interrupted.
    pub(crate) deadline: Instant,
}

/// Casts a connection process takes.
#[derive(Debug)]
pub(crate) enum ConnMsg {
    Job(Job),
    /// The pool shrank: stop (normally, so the supervisor leaves it stopped) unless it has
    /// grown back since.
    Retire,
}
