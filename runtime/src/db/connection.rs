//! A connection process: owns one `rusqlite::Connection` on an OS thread of its own, takes
//! jobs from the pool, hands them to its thread and awaits the result without blocking an
//! executor thread. Killing the process interrupts the query in flight (the callers get
//! [`DbError::ConnectionDied`]); its supervisor starts a new one, which reopens the database.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_channel::oneshot;
use parking_lot::{Condvar, Mutex};
use rusqlite::{Connection, ErrorCode, InterruptHandle};

use super::messages::{ConnMsg, Job, PoolMsg};
use super::repo;
use super::request::{Insert, Request, Stage, Work};
use super::shared::PoolShared;
use super::storage;
use super::{DbError, StoredMessage};
use crate::ctx::with_timeout;
use crate::server::{Behaviour, CastMsg, Flow, ReplyTo};
use crate::{Ctx, ExitReason, Pid};

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

/// Connection process `index`: its thread's job queue and interrupt switch.
pub(crate) struct ConnProc {
    shared: Arc<PoolShared>,
    index: usize,
    ctl: Arc<Ctl>,
    /// Jobs for the thread; dropping it ends the thread (and closes the connection).
    jobs: Option<mpsc::Sender<ThreadJob>>,
    /// The pool process it joined.
    pool: Option<Pid>,
    jobs_done: u64,
    last_took: Duration,
    /// Dropped with the process (killed, or stopped by its supervisor).
    on_exit: Option<OnExit>,
}

impl ConnProc {
    pub(crate) fn new(shared: Arc<PoolShared>, index: usize) -> ConnProc {
        ConnProc {
            shared,
            index,
            ctl: Arc::new(Ctl::new()),
            jobs: None,
            pool: None,
            jobs_done: 0,
            last_took: Duration::ZERO,
            on_exit: None,
        }
    }

    /// Tells the pool this connection is idle (after start, or after a job).
    fn tell_pool(&self, ctx: &Ctx, msg: PoolMsg) -> Result<(), ExitReason> {
        let pool = self
            .pool
            .ok_or_else(|| ExitReason::custom("no pool process to join"))?;
        ctx.send(pool, CastMsg(msg))
            .map_err(|_| ExitReason::custom("the pool process exited"))
    }
}

impl Behaviour for ConnProc {
    type Call = Infallible;
    type Reply = ();
    type Cast = ConnMsg;

    /// Opens the database on a thread of its own, then joins the pool.
    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        let index = self.index;
        self.on_exit = Some(OnExit {
            ctl: self.ctl.clone(),
            shared: self.shared.clone(),
            index,
            pid: ctx.pid(),
        });
        let (jobs_tx, jobs_rx) = mpsc::channel::<ThreadJob>();
        let (ready_tx, ready_rx) = oneshot::channel();
        let thread_ctl = self.ctl.clone();
        let thread_shared = self.shared.clone();
        std::thread::Builder::new()
            .name(format!("db-conn-{}", index + 1))
            .spawn(move || thread_main(thread_shared, thread_ctl, ready_tx, jobs_rx))
            .map_err(|e| {
                ExitReason::custom(format!("could not start the connection thread: {e}"))
            })?;
        self.jobs = Some(jobs_tx);
        match ready_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(ExitReason::custom(format!(
                    "could not open the database: {e}"
                )))
            }
            Err(_) => {
                return Err(ExitReason::custom(
                    "the connection thread ended while opening",
                ))
            }
        }
        self.shared.set_connection(index, ctx.pid());
        self.pool = ctx.handle().whereis(&self.shared.config.name);
        self.tell_pool(
            ctx,
            PoolMsg::ConnUp {
                index,
                pid: ctx.pid(),
            },
        )
    }

    async fn handle_call(&mut self, _ctx: &Ctx, never: Infallible, _reply: ReplyTo<()>) -> Flow {
        match never {}
    }

    /// Runs a job on the thread, waits for it (interrupting it past its deadline), then
    /// checks back in with the pool.
    async fn handle_cast(&mut self, ctx: &Ctx, msg: ConnMsg) -> Flow {
        let ConnMsg::Job(job) = msg;
        match self.run_job(job).await {
            Ok(()) => {}
            Err(reason) => return Flow::Stop(reason),
        }
        let checkin = PoolMsg::Checkin {
            index: self.index,
            pid: ctx.pid(),
        };
        match self.tell_pool(ctx, checkin) {
            Ok(()) => Flow::Continue,
            Err(reason) => Flow::Stop(reason),
        }
    }

    fn render_state(&self) -> String {
        format!(
            "connection {} to {}\nstate: idle\njobs done: {}\nlast job took: {:?}",
            self.index + 1,
            self.shared.config.path.display(),
            self.jobs_done,
            self.last_took,
        )
    }

    fn state_size(&self) -> usize {
        std::mem::size_of::<Ctl>()
    }
}

impl ConnProc {
    async fn run_job(&mut self, job: Job) -> Result<(), ExitReason> {
        let started = Instant::now();
        let (done_tx, mut done_rx) = oneshot::channel();
        let deadline = job.deadline;
        let sent = self.jobs.as_ref().is_some_and(|jobs| {
            jobs.send(ThreadJob {
                requests: job.requests,
                done: done_tx,
            })
            .is_ok()
        });
        if !sent {
            return Err(ExitReason::custom("the connection thread ended"));
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        let done = match with_timeout(wait, &mut done_rx).await {
            Some(done) => done,
            None => {
                // Past every caller's deadline: stop the query, then wait for the thread.
                self.ctl.interrupt(Interrupt::Deadline);
                done_rx.await
            }
        };
        if done.is_err() {
            return Err(ExitReason::custom("the connection thread failed"));
        }
        self.jobs_done += 1;
        self.last_took = started.elapsed();
        Ok(())
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
    let conn = match storage::open_and_migrate(&path, shared.config.busy_timeout) {
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
