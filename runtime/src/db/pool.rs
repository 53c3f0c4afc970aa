//! The pool: the handle callers use, and the supervision tree behind it (the pool process,
//! in `pool/process.rs`, then the connections).
//!
//! A call builds a [`Request`], sends it to the pool process (found by its registered name, so
//! a restarted pool is found again) and awaits the reply with the call's timeout. The pool
//! process hands each request to a free connection process, or queues it and applies the
//! drop rule of [`queue`](super::queue) when a connection comes free. Connections never pass
//! through a caller's hands: a connection runs the request on its thread, answers the caller
//! directly and checks itself back in, so a caller that dies — queued or while its query
//! runs — cannot leak one. A caller that gives up (timeout, or its process exits and drops the
//! call's future) tells the pool, which takes its request out of the queue.

mod process;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use rusqlite::Connection;

use super::connection::ConnProc;
use super::messages::PoolMsg;
use super::metrics::{CheckoutRecord, PoolMetrics};
use super::request::{Insert, Request, RunReq, Work};
use super::shared::{PoolShared, MAX_POOL_SIZE};
use super::storage::{self, WriteLockHolder};
use super::{DbError, PoolConfig, StoredMessage};
use crate::ctx::with_timeout;
use crate::server::{self, wait_for_name};
use crate::supervisor::{self, ChildSpec, Intensity, Restart, Strategy, SupervisorSpec};
use crate::{Handle, Kind, Pid, SendError, SpawnOpts};
use process::PoolProc;

/// How long a call waits for a pool process to be registered (one is restarting) before
/// answering [`DbError::NoPool`].
const NO_POOL_WAIT: Duration = Duration::from_secs(1);

/// A cheap, cloneable handle on a pool. Every call goes through the pool process registered
/// under [`PoolConfig::name`], so a restarted pool is picked up without the caller noticing.
#[derive(Clone)]
pub struct Pool {
    handle: Handle,
    shared: Arc<PoolShared>,
}

/// One connection as [`Pool::connections`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Its index (what [`Pool::kill_connection`] takes); its label is `db conn {index + 1}`.
    pub index: usize,
    /// The connection process, if it is up.
    pub pid: Option<Pid>,
    /// Running a request right now.
    pub busy: bool,
}

impl Pool {
    /// A child spec for the pool — its supervisor (rest_for_one: the pool process, then the
    /// connections) — to put under an endpoint supervisor, and the handle to use it. The file
    /// should have been checked with [`prepare_database`](super::prepare_database) first.
    pub fn child_spec(handle: &Handle, config: PoolConfig) -> (ChildSpec, Pool) {
        let shared = Arc::new(PoolShared::new(config));
        let pool = Pool {
            handle: handle.clone(),
            shared: shared.clone(),
        };
        let id = format!("{} supervisor", shared.config.name);
        let spec =
            ChildSpec::supervisor(id, move || supervisor_spec(&shared)).label("db pool supervisor");
        (spec, pool)
    }

    /// Starts the pool standalone, under a supervisor of its own (for tests and benchmarks).
    /// Opens the file once first (pragmas, migrations) so that a bad path fails here.
    pub fn start(handle: &Handle, config: PoolConfig) -> Result<Pool, DbError> {
        if config.pool_size == 0 || config.pool_size > MAX_POOL_SIZE {
            return Err(DbError::Start(format!(
                "pool_size must be 1 to {MAX_POOL_SIZE}"
            )));
        }
        drop(storage::open_and_migrate(
            &config.path,
            config.busy_timeout,
        )?);
        let shared = Arc::new(PoolShared::new(config));
        supervisor::start(
            handle,
            SpawnOpts::new().label("db pool supervisor"),
            supervisor_spec(&shared),
        )
        .map_err(|e| DbError::Start(e.to_string()))?;
        Ok(Pool {
            handle: handle.clone(),
            shared,
        })
    }

    /// The most connections a pool may have.
    pub const MAX_SIZE: usize = MAX_POOL_SIZE;

    /// The configuration the pool was started with (see [`size`](Self::size) and
    /// [`queue_settings`](Self::queue_settings) for what [`reconfigure`](Self::reconfigure)
    /// changed since).
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// The number of connections the pool keeps now.
    pub fn size(&self) -> usize {
        self.shared.size()
    }

    /// `(queue_target, queue_interval)` as last set; the pool process takes them up at the
    /// start of its next queue interval.
    pub fn queue_settings(&self) -> (Duration, Duration) {
        self.shared.queue_settings()
    }

    /// Changes the pool while it runs; `None` keeps a setting. Growing starts the new
    /// connections under the pool's supervisor (they join the pool as they come up);
    /// shrinking stops idle connections beyond the size at once and busy ones as they come
    /// back, so no query is interrupted; the queue settings apply from the next interval.
    /// Returns once the change is handed over, without waiting for connections.
    pub fn reconfigure(
        &self,
        size: Option<usize>,
        queue_target: Option<Duration>,
        queue_interval: Option<Duration>,
    ) -> Result<(), DbError> {
        if let Some(n) = size {
            if n == 0 || n > MAX_POOL_SIZE {
                return Err(DbError::Setting(format!(
                    "pool size {n}: it must be 1 to {MAX_POOL_SIZE}"
                )));
            }
        }
        let limit = Duration::from_secs(3600);
        for (what, d) in [
            ("queue_target", queue_target),
            ("queue_interval", queue_interval),
        ] {
            if let Some(d) = d {
                if d.is_zero() || d > limit {
                    return Err(DbError::Setting(format!(
                        "{what} {d:?}: it must be above zero and at most 1 hour"
                    )));
                }
            }
        }
        let pool = self.pool_process().ok_or(DbError::NoPool)?;
        if queue_target.is_some() || queue_interval.is_some() {
            let (target, interval) = self.shared.queue_settings();
            self.shared.set_queue_settings(
                queue_target.unwrap_or(target),
                queue_interval.unwrap_or(interval),
            );
        }
        let grew = match size {
            Some(n) => {
                let _step = self.shared.resize.lock();
                let old = self.shared.size.swap(n, Ordering::AcqRel);
                n > old
            }
            None => false,
        };
        server::cast_raw(&self.handle, pool, PoolMsg::Reconfigure).map_err(|_| DbError::NoPool)?;
        if grew {
            let shared = self.shared.clone();
            self.handle
                .spawn_with(
                    SpawnOpts::new().label("db pool resize"),
                    move |ctx| async move { start_missing(ctx, shared).await },
                )
                .map_err(|e| DbError::Start(e.to_string()))?;
        }
        Ok(())
    }

    /// The pool process right now, if one is registered.
    pub fn pid(&self) -> Option<Pid> {
        self.handle.whereis(&self.shared.config.name)
    }

    /// Runs `f` with a connection of the pool, on that connection's thread.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.submit(Work::Run(Box::new(RunReq { f, reply })), rx)
            .await
    }

    pub(crate) async fn insert_owned(
        &self,
        room: String,
        nick: String,
        body: String,
    ) -> Result<StoredMessage, DbError> {
        let (reply, rx) = oneshot::channel();
        self.submit(
            Work::Insert(Insert {
                room,
                nick,
                body,
                reply,
            }),
            rx,
        )
        .await
    }

    async fn submit<T>(
        &self,
        work: Work,
        mut rx: oneshot::Receiver<Result<T, DbError>>,
    ) -> Result<T, DbError> {
        let shared = &self.shared;
        let sent = Instant::now();
        let deadline = sent + shared.config.timeout;
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let mut request = Request::new(id, sent, deadline, work);
        let give_up = deadline.min(sent + NO_POOL_WAIT);
        let pool = loop {
            if let Some(pid) = self.pool_process() {
                match server::cast_raw(&self.handle, pid, PoolMsg::Checkout(request)) {
                    Ok(()) => break pid,
                    Err(SendError { message, .. }) => {
                        let PoolMsg::Checkout(r) = message else {
                            unreachable!("handed back what was sent")
                        };
                        request = r;
                        let _ = shared.pool_pid.compare_exchange(
                            pid.id(),
                            0,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        );
                    }
                }
            }
            // The pool process is restarting: wait for the next one to be registered.
            match wait_for_name(&self.handle, &shared.config.name, give_up).await {
                Some(pid) => shared.pool_pid.store(pid.id(), Ordering::Release),
                None => {
                    request.forget();
                    return Err(DbError::NoPool);
                }
            }
        };
        let mut cancel = CancelOnDrop {
            handle: &self.handle,
            pool,
            id,
            armed: true,
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        match with_timeout(remaining, &mut rx).await {
            Some(Ok(result)) => {
                cancel.armed = false;
                result
            }
            Some(Err(oneshot::Canceled)) => {
                cancel.armed = false;
                Err(DbError::PoolExited)
            }
            None => {
                shared.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                Err(DbError::Timeout)
            }
        }
    }

    fn pool_process(&self) -> Option<Pid> {
        let cached = self.shared.pool_pid.load(Ordering::Acquire);
        if cached != 0 {
            return Some(Pid::from_id(cached));
        }
        let pid = self.handle.whereis(&self.shared.config.name)?;
        self.shared.pool_pid.store(pid.id(), Ordering::Release);
        Some(pid)
    }

    /// Gauges, counters and latency percentiles; cheap (no message round trip).
    pub fn metrics(&self) -> PoolMetrics {
        let mut m = self.shared.stats.snapshot(self.shared.size());
        m.query_latency = self.query_latency();
        m.write_lock_held = self.shared.write_lock_held.load(Ordering::Relaxed);
        m
    }

    /// The pool's record of its most recent checkout decisions (up to 16,384), oldest first.
    pub fn checkout_log(&self) -> Vec<CheckoutRecord> {
        self.shared.stats.log()
    }

    /// Each connection slot: its process and whether it is running a request.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        // The wanted ones, and any beyond them still on their way out.
        let last_up = self
            .shared
            .slots
            .iter()
            .rposition(|s| s.pid.load(Ordering::Acquire) != 0)
            .map_or(0, |i| i + 1);
        self.shared
            .slots
            .iter()
            .take(self.shared.size().max(last_up))
            .enumerate()
            .map(|(index, s)| {
                let pid = s.pid.load(Ordering::Acquire);
                ConnectionInfo {
                    index,
                    pid: (pid != 0).then(|| Pid::from_id(pid)),
                    busy: pid != 0 && s.busy.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Lesson switch: adds `d` to every query (each insert of a group commit, each `run`).
    pub fn set_query_latency(&self, d: Duration) {
        self.shared
            .latency_ns
            .store(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    /// The latency added to every query.
    pub fn query_latency(&self) -> Duration {
        Duration::from_nanos(self.shared.latency_ns.load(Ordering::Relaxed))
    }

    /// Lesson switch: takes SQLite's write lock from a connection outside the pool (and holds
    /// it until called with `false`), so writes wait `busy_timeout` and then fail. Waits for
    /// the lock at most `busy_timeout`.
    pub fn hold_write_lock(&self, hold: bool) -> Result<(), DbError> {
        let mut holder = self.shared.write_lock.lock();
        if hold {
            if holder.is_none() {
                *holder = Some(WriteLockHolder::acquire(
                    &self.shared.config.path,
                    self.shared.config.busy_timeout,
                )?);
            }
        } else {
            holder.take();
        }
        self.shared
            .write_lock_held
            .store(holder.is_some(), Ordering::Relaxed);
        Ok(())
    }

    /// Lesson switch: kills connection process `index` (label `db conn {index + 1}`). A query
    /// it is running is interrupted; its supervisor starts a new one.
    pub fn kill_connection(&self, index: usize) -> Result<Pid, DbError> {
        let pid = self
            .connections()
            .get(index)
            .and_then(|c| c.pid)
            .ok_or(DbError::NoConnection(index))?;
        self.handle
            .kill(pid)
            .map_err(|_| DbError::NoConnection(index))?;
        Ok(pid)
    }
}

/// Tells the pool when a caller stops waiting before its answer came.
struct CancelOnDrop<'a> {
    handle: &'a Handle,
    pool: Pid,
    id: u64,
    armed: bool,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = server::cast_raw(self.handle, self.pool, PoolMsg::Cancel(self.id));
        }
    }
}

fn supervisor_spec(shared: &Arc<PoolShared>) -> SupervisorSpec {
    let config = &shared.config;
    let intensity = Intensity::new(
        (2 * config.pool_size).max(10) as u32,
        Duration::from_secs(5),
    );
    let s = shared.clone();
    let mut spec = SupervisorSpec::new(Strategy::RestForOne, intensity).child(
        ChildSpec::new("pool", move |h, opts| {
            server::start(h, opts, PoolProc::new(s.clone()))
        })
        .kind(Kind::Pool)
        .name(config.name.clone())
        .label("db pool"),
    );
    for index in 0..shared.size() {
        spec = spec.child(connection_spec(shared, index));
    }
    spec
}

/// Connection `index`'s child spec. Transient: a connection the pool retires (after it
/// shrank) stops normally and stays stopped; one that is killed or fails is restarted.
fn connection_spec(shared: &Arc<PoolShared>, index: usize) -> ChildSpec {
    let s = shared.clone();
    ChildSpec::new(connection_id(index), move |h, opts| {
        server::start(h, opts, ConnProc::new(s.clone(), index))
    })
    .kind(Kind::PoolConnection)
    .restart(Restart::Transient)
    .label(format!("db conn {}", index + 1))
}

fn connection_id(index: usize) -> String {
    format!("conn {}", index + 1)
}

/// After the pool grew: starts (or restarts) under the pool's supervisor every wanted
/// connection that is not running. One that had decided to retire before the pool grew back is
/// waited for, then started again. Idempotent, so two of these racing do no harm.
async fn start_missing(ctx: crate::Ctx, shared: Arc<PoolShared>) {
    let h = ctx.handle().clone();
    let call = Duration::from_secs(10);
    for _round in 0..5 {
        let sup = shared.supervisor.load(Ordering::Acquire);
        if sup == 0 {
            return;
        }
        let sup = Pid::from_id(sup);
        let Ok(children) = supervisor::which_children(&h, sup, call).await else {
            return;
        };
        let mut again = false;
        for index in 0..shared.size() {
            let id = connection_id(index);
            match children.iter().find(|c| *c.id == *id) {
                None => {
                    let spec = connection_spec(&shared, index);
                    again |= !matches!(
                        supervisor::start_child(&h, sup, spec, call).await,
                        Ok(Ok(_))
                    );
                }
                Some(c) => match c.pid {
                    None => {
                        again |= !matches!(
                            supervisor::restart_child(&h, sup, &id, call).await,
                            Ok(Ok(()))
                        );
                    }
                    Some(pid) if shared.slots[index].retired.load(Ordering::Acquire) => {
                        // It is on its way out: once it is gone, start it again. (A flag
                        // left from before a restart is cleared once the new one is up, so
                        // the wait is bounded.)
                        let _ = with_timeout(Duration::from_secs(5), h.wait_exit(pid)).await;
                        again = true;
                    }
                    Some(_) => {}
                },
            }
        }
        if !again {
            return;
        }
    }
}
