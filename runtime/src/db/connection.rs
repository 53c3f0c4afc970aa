//! A connection process: owns one `rusqlite::Connection` on an OS thread of its own, takes
//! jobs from the pool, hands them to its thread and awaits the result without blocking an
//! executor thread. Killing the process interrupts the query in flight (the callers get
//! [`DbError::ConnectionDied`]); its supervisor starts a new one, which reopens the database.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_channel::oneshot;
use parking_lot::{Condvar, Mutex};
use rusqlite::{Connection, ErrorCode, InterruptHandle};

use super::pool::{PoolMsg, PoolShared};
use super::repo;
use super::request::{Insert, Request, Stage, Work};
use super::storage;
use super::{DbError, StoredMessage};
use crate::ctx::{with_timeout, Received};
use crate::{Ctx, ExitReason, Pid};

/// Work the pool hands to a connection: a group of inserts or one `run` request.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) requests: Vec<Request>,
    /// The latest deadline of its requests: past it the query is interrupted.
    pub(crate) deadline: Instant,
}

/// Messages a connection process takes.
#[derive(Debug)]
pub(crate) enum ConnMsg {
    Job(Job),
}

/// Why the thread's current work is being interrupted. Ordered: a kill outranks a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Interrupt {
    None,
    Deadline,
    Killed,
}

/// Shared by a connection process and its thread: the interrupt switch.
struct Ctl {
    state: Mutex<Interrupt>,
    wake: Condvar,
    sqlite: OnceLock<InterruptHandle>,
}

impl Ctl {
    fn new() -> Ctl {
        Ctl {
            state: Mutex::new(Interrupt::None),
            wake: Condvar::new(),
            sqlite: OnceLock::new(),
        }
    }

    fn interrupt(&self, why: Interrupt) {
        {
            let mut s = self.state.lock();
            if why > *s {
                *s = why;
            }
            self.wake.notify_all();
        }
        if let Some(h) = self.sqlite.get() {
            h.interrupt();
        }
    }

    fn current(&self) -> Interrupt {
        *self.state.lock()
    }

    /// A new job starts: a deadline interrupt of the previous one no longer applies.
    fn begin_job(&self) {
        let mut s = self.state.lock();
        if *s == Interrupt::Deadline {
            *s = Interrupt::None;
        }
    }

    /// Sleeps `latency` (the "slow database" switch) unless interrupted or the caller leaves.
    fn pause(&self, latency: Duration, caller_gone: impl Fn() -> bool) -> Result<(), Stop> {
        if latency.is_zero() {
            return Ok(());
        }
        let end = Instant::now() + latency;
        let mut s = self.state.lock();
        loop {
            if *s != Interrupt::None {
                return Err(Stop::Interrupted);
            }
            if caller_gone() {
                return Err(Stop::CallerGone);
            }
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            let step = (end - now).min(Duration::from_millis(10));
            self.wake.wait_for(&mut s, step);
        }
    }

    /// What a SQLite error means to the caller, given why (if at all) we interrupted.
    fn map_err(&self, e: rusqlite::Error, path: &Path) -> DbError {
        if e.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) {
            match self.current() {
                Interrupt::Killed => return DbError::ConnectionDied,
                Interrupt::Deadline => return DbError::Timeout,
                Interrupt::None => {}
            }
        }
        DbError::from_sqlite(e, path)
    }

    fn stop_error(&self, stop: Stop) -> DbError {
        match (stop, self.current()) {
            (Stop::CallerGone, _) => DbError::Timeout,
            (_, Interrupt::Deadline) => DbError::Timeout,
            _ => DbError::ConnectionDied,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Stop {
    Interrupted,
    CallerGone,
}

/// What the thread sends back after a job.
struct Done;

struct ThreadJob {
    requests: Vec<Request>,
    done: oneshot::Sender<Done>,
}

/// Runs in the connection process: when the process goes (killed, or its supervisor stops
/// it), the future is dropped, and this interrupts the thread's query and forgets the pid.
struct OnExit {
    ctl: Arc<Ctl>,
    shared: Arc<PoolShared>,
    index: usize,
    pid: Pid,
}

impl Drop for OnExit {
    fn drop(&mut self) {
        self.ctl.interrupt(Interrupt::Killed);
        self.shared.forget_connection(self.index, self.pid);
        self.shared
            .stats
            .connection_exits
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// The body of connection process `index`.
pub(crate) async fn run(ctx: Ctx, shared: Arc<PoolShared>, index: usize) -> ExitReason {
    let ctl = Arc::new(Ctl::new());
    let _on_exit = OnExit {
        ctl: ctl.clone(),
        shared: shared.clone(),
        index,
        pid: ctx.pid(),
    };
    let (jobs_tx, jobs_rx) = mpsc::channel::<ThreadJob>();
    let (ready_tx, ready_rx) = oneshot::channel();
    let thread_ctl = ctl.clone();
    let thread_shared = shared.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("db-conn-{}", index + 1))
        .spawn(move || thread_main(thread_shared, thread_ctl, ready_tx, jobs_rx));
    if let Err(e) = spawned {
        return ExitReason::custom(format!("could not start the connection thread: {e}"));
    }
    match ready_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return ExitReason::custom(format!("could not open the database: {e}")),
        Err(_) => return ExitReason::custom("the connection thread ended while opening"),
    }
    shared.set_connection(index, ctx.pid());
    let Some(pool) = ctx.handle().whereis(&shared.config.name) else {
        return ExitReason::custom("no pool process to join");
    };
    if ctx
        .send(
            pool,
            PoolMsg::ConnUp {
                index,
                pid: ctx.pid(),
            },
        )
        .is_err()
    {
        return ExitReason::custom("the pool process exited");
    }
    let mut jobs_done = 0u64;
    let mut last_took = Duration::ZERO;
    loop {
        let msg = match ctx.recv_or_system().await {
            Received::StateRequest => {
                ctx.publish_state(
                    format!(
                        "connection {} to {}\nstate: idle\njobs done: {jobs_done}\nlast job took: {last_took:?}",
                        index + 1,
                        shared.config.path.display()
                    ),
                    std::mem::size_of::<Ctl>(),
                );
                continue;
            }
            Received::Message(msg) => msg,
        };
        let Ok(ConnMsg::Job(job)) = msg.downcast::<ConnMsg>() else {
            continue;
        };
        let started = Instant::now();
        let (done_tx, mut done_rx) = oneshot::channel();
        let deadline = job.deadline;
        if jobs_tx
            .send(ThreadJob {
                requests: job.requests,
                done: done_tx,
            })
            .is_err()
        {
            return ExitReason::custom("the connection thread ended");
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        let done = match with_timeout(wait, &mut done_rx).await {
            Some(done) => done,
            None => {
                // Past every caller's deadline: stop the query, then wait for the thread.
                ctl.interrupt(Interrupt::Deadline);
                done_rx.await
            }
        };
        if done.is_err() {
            return ExitReason::custom("the connection thread failed");
        }
        jobs_done += 1;
        last_took = started.elapsed();
        if ctx
            .send(
                pool,
                PoolMsg::Checkin {
                    index,
                    pid: ctx.pid(),
                },
            )
            .is_err()
        {
            return ExitReason::custom("the pool process exited");
        }
    }
}

/// The connection's OS thread: opens the database, then runs jobs until the process is gone.
fn thread_main(
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
                        let all = std::iter::once(insert)
                            .chain(stored.into_iter().map(|(i, _)| i))
                            .chain(rest)
                            .collect();
                        fail_all(all, err);
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
                    let all = std::iter::once(insert)
                        .chain(stored.into_iter().map(|(i, _)| i))
                        .chain(rest)
                        .collect();
                    fail_all(all, err);
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
