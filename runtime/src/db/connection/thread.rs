//! A connection's OS thread: opens the database, then runs each job (one `run` request, or a
//! group of inserts committed in one transaction) and says when it is done.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_channel::oneshot;
use rusqlite::Connection;

use super::super::repo;
use super::super::request::{Insert, Request, Stage, Work};
use super::super::shared::PoolShared;
use super::super::storage;
use super::super::{DbError, StoredMessage};
use super::interrupt::{Ctl, Interrupt, Stop};

/// What the thread sends back after a job.
pub(super) struct Done;

/// A job as the thread takes it, with where to say it is done.
pub(super) struct ThreadJob {
    pub(super) requests: Vec<Request>,
    pub(super) done: oneshot::Sender<Done>,
}

/// The connection's OS thread: opens the database, then runs jobs until the process is gone.
pub(super) fn thread_main(
    shared: Arc<PoolShared>,
    ctl: Arc<Ctl>,
    ready: oneshot::Sender<Result<(), DbError>>,
    jobs: mpsc::Receiver<ThreadJob>,
) {
    let path = shared.config.path.clone();
    let conn = match storage::open_and_migrate_with(
        &path,
        shared.config.busy_timeout,
        shared.config.synchronous,
    ) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ctl.sqlite.set(conn.get_interrupt_handle());
    if ctl.current() == Interrupt::Killed || ready.send(Ok(())).is_err() {
        return;
    }
    let runner = Runner {
        conn: &conn,
        ctl: &ctl,
        shared: &shared,
        path: &path,
    };
    // Ends when the process drops its sender: the connection then closes with the thread.
    while let Ok(job) = jobs.recv() {
        ctl.begin_job();
        runner.run_job(job.requests);
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        let _ = job.done.send(Done);
        if ctl.current() == Interrupt::Killed {
            break;
        }
    }
}

struct Runner<'a> {
    conn: &'a Connection,
    ctl: &'a Ctl,
    shared: &'a PoolShared,
    path: &'a PathBuf,
}

impl Runner<'_> {
    fn latency(&self) -> Duration {
        Duration::from_nanos(self.shared.latency_ns.load(Ordering::Relaxed))
    }

    /// Runs a job; its query time is recorded before any of its callers is answered, so a
    /// call that has returned is always in the metrics.
    fn run_job(&self, mut requests: Vec<Request>) {
        for r in &mut requests {
            r.stage = Stage::Dispatched;
        }
        let started = Instant::now();
        let count = requests.len() as u64;
        let record = || self.shared.stats.query(started.elapsed(), count);
        if requests.len() == 1 && !requests[0].is_insert() {
            let request = requests.pop().expect("one request");
            if request.is_canceled() {
                request.forget();
                record();
                return;
            }
            self.run_one(request, &record);
        } else {
            self.insert_all(requests, &record);
        }
    }

    fn run_one(&self, request: Request, record: &dyn Fn()) {
        let latency = self.latency();
        if let Err(stop) = self.ctl.pause(latency, || request.is_canceled()) {
            let err = self.ctl.stop_error(stop);
            record();
            request.fail(err);
            return;
        }
        if let Some(Work::Run(job)) = request.take() {
            job.run(self.conn, &|e| self.ctl.map_err(e, self.path), record);
        }
    }

    /// One transaction for every insert, each acknowledged only after `COMMIT`.
    fn insert_all(&self, requests: Vec<Request>, record: &dyn Fn()) {
        let mut pending: Vec<Insert> = Vec::with_capacity(requests.len());
        for r in requests {
            if r.is_canceled() {
                r.forget();
                continue;
            }
            if let Some(Work::Insert(i)) = r.take() {
                pending.push(i);
            }
        }
        if pending.is_empty() {
            record();
            return;
        }
        let fail_all = |inserts: Vec<Insert>, err: DbError| {
            record();
            for i in inserts {
                let _ = i.reply.send(Err(err.duplicate()));
            }
        };
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            fail_all(pending, self.ctl.map_err(e, self.path));
            return;
        }
        let latency = self.latency();
        let mut stored: Vec<(Insert, StoredMessage)> = Vec::with_capacity(pending.len());
        let mut rest = pending.into_iter();
        while let Some(insert) = rest.next() {
            if let Err(stop) = self.ctl.pause(latency, || insert.reply.is_canceled()) {
                match stop {
                    // A caller that left is simply not written (it was never acknowledged).
                    Stop::CallerGone => continue,
                    Stop::Interrupted => {
                        let err = self.ctl.stop_error(stop);
                        let _ = self.conn.execute_batch("ROLLBACK");
                        fail_all(unwritten(insert, stored, rest), err);
                        return;
                    }
                }
            }
            let at_ms = now_ms();
            match repo::insert(self.conn, &insert.room, &insert.nick, &insert.body, at_ms) {
                Ok(id) => {
                    let message = StoredMessage {
                        id,
                        room: insert.room.clone(),
                        nick: insert.nick.clone(),
                        body: insert.body.clone(),
                        at_ms,
                    };
                    stored.push((insert, message));
                }
                Err(e) if self.conn.is_autocommit() => {
                    // The transaction is gone (interrupted, I/O error): nothing was written.
                    let err = self.ctl.map_err(e, self.path);
                    fail_all(unwritten(insert, stored, rest), err);
                    return;
                }
                Err(e) => {
                    // Only this statement failed; the others stay in the transaction.
                    let _ = insert.reply.send(Err(self.ctl.map_err(e, self.path)));
                }
            }
        }
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => {
                record();
                for (insert, message) in stored {
                    let _ = insert.reply.send(Ok(message));
                }
            }
            Err(e) => {
                let err = self.ctl.map_err(e, self.path);
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                fail_all(stored.into_iter().map(|(i, _)| i).collect(), err);
            }
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What of a batch is not committed when its transaction is lost: the insert in hand, those
/// already stored in the open transaction, and the rest.
fn unwritten(
    insert: Insert,
    stored: Vec<(Insert, StoredMessage)>,
    rest: impl Iterator<Item = Insert>,
) -> Vec<Insert> {
    std::iter::once(insert)
        .chain(stored.into_iter().map(|(i, _)| i))
        .chain(rest)
        .collect()
}
