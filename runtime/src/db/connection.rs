//! A connection process: owns one `rusqlite::Connection` on an OS thread of its own, takes
//! jobs from the pool, hands them to its thread and awaits the result without blocking an
//! executor thread. Killing the process interrupts the query in flight (the callers get
//! [`DbError::ConnectionDied`](super::DbError::ConnectionDied)); its supervisor starts a new one, which reopens the database.

mod interrupt;
mod thread;

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use futures_channel::oneshot;

use super::messages::{ConnMsg, Job, PoolMsg};
use super::shared::PoolShared;
use crate::ctx::with_timeout;
use crate::server::{Behaviour, CastMsg, Flow, ReplyTo};
use crate::{Ctx, ExitReason, Pid};
use interrupt::{Ctl, Interrupt};
use thread::{thread_main, ThreadJob};

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
        let job = match msg {
            ConnMsg::Job(job) => job,
            ConnMsg::Retire => {
                if self.shared.retire(self.index) {
                    return Flow::Stop(ExitReason::Normal);
                }
                let stay = PoolMsg::Stay {
                    index: self.index,
                    pid: ctx.pid(),
                };
                return match self.tell_pool(ctx, stay) {
                    Ok(()) => Flow::Continue,
                    Err(reason) => Flow::Stop(reason),
                };
            }
        };
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
