//! The pool: a handle callers use, and the pool process that owns the checkout queue.
//!
//! A call builds a [`Request`], sends it to the pool process (found by its registered name, so
//! a restarted pool is found again) and awaits the reply with the call's timeout. The pool
//! process hands each request to a free connection process, or queues it and applies the
//! drop rule of [`queue`](super::queue) when a connection comes free. Connections never pass
//! through a caller's hands: a connection runs the request on its thread, answers the caller
//! directly and checks itself back in, so a caller that dies — queued or while its query
//! runs — cannot leak one. A caller that gives up (timeout, or its process exits and drops the
//! call's future) tells the pool, which takes its request out of the queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use parking_lot::Mutex;
use rusqlite::Connection;

use super::connection::{self, ConnMsg, Job};
use super::metrics::{CheckoutOutcome, CheckoutRecord, PoolMetrics, Stats};
use super::queue::{CheckoutQueue, Codel, Decision, Lane};
use super::request::{Insert, Request, RunReq, Stage, Work};
use super::storage::{self, WriteLockHolder};
use super::{DbError, PoolConfig, StoredMessage};
use crate::ctx::{with_timeout, Received};
use crate::supervisor::{self, ChildSpec, Intensity, Strategy, SupervisorSpec};
use crate::{Ctx, Down, ExitReason, Handle, Kind, MonitorRef, Pid, SendError, SpawnOpts};

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

/// State shared by the handle, the pool process and the connection processes; kept across
/// restarts of any of them.
pub(crate) struct PoolShared {
    pub(crate) config: PoolConfig,
    pub(crate) stats: Stats,
    /// The "make the database slow" latency, in nanoseconds.
    pub(crate) latency_ns: AtomicU64,
    slots: Box<[SlotShared]>,
    write_lock: Mutex<Option<WriteLockHolder>>,
    write_lock_held: AtomicBool,
    /// The pool process last seen (0: look it up).
    pool_pid: AtomicU64,
    next_id: AtomicU64,
}

#[derive(Default)]
struct SlotShared {
    pid: AtomicU64,
    busy: AtomicBool,
}

impl PoolShared {
    fn new(config: PoolConfig) -> PoolShared {
        PoolShared {
            slots: (0..config.pool_size)
                .map(|_| SlotShared::default())
                .collect(),
            config,
            stats: Stats::new(),
            latency_ns: AtomicU64::new(0),
            write_lock: Mutex::new(None),
            write_lock_held: AtomicBool::new(false),
            pool_pid: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
        }
    }

    pub(crate) fn set_connection(&self, index: usize, pid: Pid) {
        if let Some(s) = self.slots.get(index) {
            s.pid.store(pid.id(), Ordering::Release);
        }
    }

    pub(crate) fn forget_connection(&self, index: usize, pid: Pid) {
        if let Some(s) = self.slots.get(index) {
            let _ = s
                .pid
                .compare_exchange(pid.id(), 0, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}

/// Messages the pool process takes.
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
    /// The periodic queue check; `last_sent` is the oldest request seen by the previous one.
    Poll { last_sent: Instant },
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
        if config.pool_size == 0 {
            return Err(DbError::Start("pool_size must be at least 1".into()));
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

    /// The configuration the pool was started with.
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
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
                match self.handle.send(pid, PoolMsg::Checkout(request)) {
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
            if Instant::now() >= give_up {
                request.forget();
                return Err(DbError::NoPool);
            }
            crate::timer::sleep(Duration::from_millis(2)).await;
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
        let mut m = self.shared.stats.snapshot(self.shared.config.pool_size);
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
        self.shared
            .slots
            .iter()
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
            let _ = self.handle.send(self.pool, PoolMsg::Cancel(self.id));
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
            let s = s.clone();
            h.spawn_with(opts, move |ctx| run_pool(ctx, s))
        })
        .kind(Kind::Pool)
        .name(config.name.clone())
        .label("db pool"),
    );
    for index in 0..config.pool_size {
        let s = shared.clone();
        spec = spec.child(
            ChildSpec::new(format!("conn {}", index + 1), move |h, opts| {
                let s = s.clone();
                h.spawn_with(opts, move |ctx| connection::run(ctx, s, index))
            })
            .kind(Kind::PoolConnection)
            .label(format!("db conn {}", index + 1)),
        );
    }
    spec
}

/// The pool process's view of one connection.
struct Slot {
    pid: Option<Pid>,
    monitor: Option<MonitorRef>,
    busy: bool,
    writing: bool,
    idle_since: Instant,
}

struct PoolProc {
    ctx: Ctx,
    shared: Arc<PoolShared>,
    slots: Vec<Slot>,
    /// Idle connections, longest idle first.
    idle: VecDeque<usize>,
    queue: CheckoutQueue,
    /// Insert batches in flight (one at a time, unless `queue: false`).
    writers: usize,
    codel: Codel,
}

async fn run_pool(ctx: Ctx, shared: Arc<PoolShared>) -> ExitReason {
    shared.pool_pid.store(ctx.pid().id(), Ordering::Release);
    let now = Instant::now();
    let config = &shared.config;
    let mut pool = PoolProc {
        codel: Codel::new(config.queue_target, config.queue_interval, now),
        slots: (0..config.pool_size)
            .map(|_| Slot {
                pid: None,
                monitor: None,
                busy: false,
                writing: false,
                idle_since: now,
            })
            .collect(),
        idle: VecDeque::new(),
        queue: CheckoutQueue::default(),
        writers: 0,
        shared: shared.clone(),
        ctx,
    };
    pool.schedule_poll(now);
    pool.publish();
    loop {
        match pool.ctx.recv_or_system().await {
            Received::StateRequest => {
                let size = pool.queue.len() * std::mem::size_of::<Request>()
                    + pool.slots.len() * std::mem::size_of::<Slot>();
                pool.ctx.publish_state(pool.render(), size);
            }
            Received::Message(msg) => match msg.downcast::<PoolMsg>() {
                Ok(msg) => pool.handle(msg),
                Err(msg) => {
                    if let Ok(down) = msg.downcast::<Down>() {
                        pool.connection_down(down);
                    }
                }
            },
        }
        pool.publish();
    }
}

impl PoolProc {
    fn handle(&mut self, msg: PoolMsg) {
        match msg {
            PoolMsg::Checkout(request) => self.checkout(request),
            PoolMsg::Cancel(id) => {
                if let Some(request) = self.queue.remove(id) {
                    self.record(&request, Instant::now(), CheckoutOutcome::Cancelled);
                    request.forget();
                }
            }
            PoolMsg::ConnUp { index, pid } => self.connection_up(index, pid),
            PoolMsg::Checkin { index, pid } => self.checkin(index, pid),
            PoolMsg::Poll { last_sent } => self.poll(last_sent),
        }
    }

    fn record(&self, request: &Request, now: Instant, outcome: CheckoutOutcome) {
        self.shared.stats.checkout(
            request.id,
            now,
            now.saturating_duration_since(request.sent),
            self.codel.is_slow(),
            outcome,
        );
    }

    fn checkout(&mut self, request: Request) {
        let now = Instant::now();
        if request.is_canceled() {
            self.record(&request, now, CheckoutOutcome::Cancelled);
            request.forget();
            return;
        }
        let insert = request.is_insert();
        let queue = self.shared.config.queue;
        // As in DBConnection, a free connection is handed out at once, outside the drop rule.
        // Inserts also wait for the one writer, unless queuing is off.
        if !self.idle.is_empty() && (!insert || self.writers == 0 || !queue) {
            self.record(&request, now, CheckoutOutcome::Served);
            let index = self.idle.pop_front().expect("checked non-empty");
            self.dispatch(index, vec![request], insert, now);
            // If that connection had just exited, the request is queued again: another
            // idle connection takes it.
            if !self.queue.is_empty() && !self.idle.is_empty() {
                self.drain(now);
            }
            return;
        }
        if !queue {
            self.record(&request, now, CheckoutOutcome::Unavailable);
            request.fail(DbError::Unavailable);
            return;
        }
        self.queue.push(request);
    }

    /// Serves queued requests while connections are free: the DBConnection dequeue, with
    /// every insert waiting at that moment joining one group commit.
    fn drain(&mut self, now: Instant) {
        while let Some(&index) = self.idle.front() {
            let Some(first) = self.next_request(now) else {
                break;
            };
            self.idle.pop_front();
            if first.is_insert() {
                let mut batch = vec![first];
                while batch.len() < self.shared.config.max_batch.max(1) {
                    match self.next_in_lane(Lane::Writes, now) {
                        Some(r) => batch.push(r),
                        None => break,
                    }
                }
                self.dispatch(index, batch, true, now);
            } else {
                self.dispatch(index, vec![first], false, now);
            }
        }
        if self.queue.is_empty() && !self.idle.is_empty() {
            self.codel.empty(now);
        }
    }

    fn next_request(&mut self, now: Instant) -> Option<Request> {
        loop {
            let lane = self.queue.next_lane(self.writers == 0)?;
            if let Some(r) = self.admit(lane, now) {
                return Some(r);
            }
        }
    }

    fn next_in_lane(&mut self, lane: Lane, now: Instant) -> Option<Request> {
        while !self.queue.lane_is_empty(lane) {
            if let Some(r) = self.admit(lane, now) {
                return Some(r);
            }
        }
        None
    }

    /// Takes the head of `lane` and applies the drop rule: the request, or `None` if it was
    /// dropped or its caller had gone.
    fn admit(&mut self, lane: Lane, now: Instant) -> Option<Request> {
        let request = self.queue.pop(lane)?;
        if request.is_canceled() {
            self.record(&request, now, CheckoutOutcome::Cancelled);
            request.forget();
            return None;
        }
        match self.codel.dequeue(now, request.sent) {
            Decision::Serve { waited, slow } => {
                self.shared
                    .stats
                    .checkout(request.id, now, waited, slow, CheckoutOutcome::Served);
                Some(request)
            }
            Decision::Drop { waited } => {
                self.drop_request(request, now, waited);
                None
            }
        }
    }

    fn drop_request(&self, request: Request, now: Instant, waited: Duration) {
        self.shared
            .stats
            .checkout(request.id, now, waited, true, CheckoutOutcome::Dropped);
        request.fail(DbError::Dropped {
            waited_ms: waited.as_millis() as u64,
        });
    }

    fn dispatch(&mut self, index: usize, mut requests: Vec<Request>, write: bool, now: Instant) {
        let Some(pid) = self.slots[index].pid else {
            for r in requests.into_iter().rev() {
                self.queue.push_front(r);
            }
            return;
        };
        for r in &mut requests {
            r.stage = Stage::Dispatched;
        }
        let deadline = requests.iter().map(|r| r.deadline).max().unwrap_or(now);
        let idle_for = now.saturating_duration_since(self.slots[index].idle_since);
        match self.ctx.send(pid, ConnMsg::Job(Job { requests, deadline })) {
            Ok(()) => {
                self.shared.stats.idle(idle_for, now);
                let slot = &mut self.slots[index];
                slot.busy = true;
                slot.writing = write;
                if write {
                    self.writers += 1;
                }
                self.shared.slots[index].busy.store(true, Ordering::Relaxed);
            }
            Err(SendError {
                message: ConnMsg::Job(job),
                ..
            }) => {
                // It exited before its DOWN reached us: requeue, oldest first, and forget it.
                for mut r in job.requests.into_iter().rev() {
                    r.stage = Stage::Queued;
                    self.queue.push_front(r);
                }
                self.slot_down(index);
            }
        }
    }

    fn checkin(&mut self, index: usize, pid: Pid) {
        let now = Instant::now();
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        if slot.pid != Some(pid) || !slot.busy {
            return;
        }
        slot.busy = false;
        slot.idle_since = now;
        if std::mem::take(&mut slot.writing) {
            self.writers -= 1;
        }
        self.shared.slots[index]
            .busy
            .store(false, Ordering::Relaxed);
        self.idle.push_back(index);
        self.drain(now);
    }

    fn connection_up(&mut self, index: usize, pid: Pid) {
        if index >= self.slots.len() || self.slots[index].pid == Some(pid) {
            return;
        }
        if let Some(old) = self.slots[index].monitor.take() {
            self.ctx.demonitor(old);
        }
        self.slot_down(index);
        let monitor = self.ctx.monitor(pid);
        let now = Instant::now();
        self.slots[index] = Slot {
            pid: Some(pid),
            monitor: Some(monitor),
            busy: false,
            writing: false,
            idle_since: now,
        };
        self.idle.push_back(index);
        self.drain(now);
    }

    fn connection_down(&mut self, down: Down) {
        let Some(index) = self
            .slots
            .iter()
            .position(|s| s.monitor == Some(down.monitor))
        else {
            return;
        };
        self.slots[index].monitor = None;
        self.slot_down(index);
        // If it was the writer, queued inserts can go to another connection now.
        self.drain(Instant::now());
    }

    /// Forgets the connection in slot `index` (it has exited).
    fn slot_down(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if slot.busy && slot.writing {
            self.writers -= 1;
        }
        slot.pid = None;
        slot.busy = false;
        slot.writing = false;
        if let Some(m) = slot.monitor.take() {
            self.ctx.demonitor(m);
        }
        self.shared.slots[index]
            .busy
            .store(false, Ordering::Relaxed);
        self.idle.retain(|&i| i != index);
    }

    /// DBConnection's poll: if the queue made no progress since the last one, apply the drop
    /// rule without waiting for a connection to come free.
    fn poll(&mut self, last_sent: Instant) {
        let now = Instant::now();
        match self.queue.oldest_sent() {
            Some(sent) if sent <= last_sent => {
                if self.codel.poll(now, now.saturating_duration_since(sent)) {
                    if let Some(cutoff) = now.checked_sub(self.codel.drop_after()) {
                        for r in self.queue.take_older_than(cutoff) {
                            if r.is_canceled() {
                                self.record(&r, now, CheckoutOutcome::Cancelled);
                                r.forget();
                            } else {
                                let waited = now.saturating_duration_since(r.sent);
                                self.drop_request(r, now, waited);
                            }
                        }
                    }
                }
                self.schedule_poll(sent);
            }
            Some(sent) => self.schedule_poll(sent),
            None => self.schedule_poll(now),
        }
    }

    fn schedule_poll(&self, last_sent: Instant) {
        self.ctx.handle().send_after(
            self.ctx.pid(),
            self.shared.config.queue_interval,
            PoolMsg::Poll { last_sent },
        );
    }

    fn publish(&self) {
        let stats = &self.shared.stats;
        let size = self.slots.iter().filter(|s| s.pid.is_some()).count();
        let busy = self.slots.iter().filter(|s| s.busy).count();
        stats.size.store(size, Ordering::Relaxed);
        stats.checked_out.store(busy, Ordering::Relaxed);
        stats.idle.store(self.idle.len(), Ordering::Relaxed);
        stats.queue_len.store(self.queue.len(), Ordering::Relaxed);
        stats.slow.store(self.codel.is_slow(), Ordering::Relaxed);
    }

    fn render(&self) -> String {
        let config = &self.shared.config;
        let oldest = self
            .queue
            .oldest_sent()
            .map_or_else(|| "-".to_string(), |s| format!("{:?}", s.elapsed()));
        let mut out = format!(
            "database: {}\nqueue: {} waiting (oldest {oldest}), {}\nqueue_target {:?}, queue_interval {:?}, queue {}\nconnections: {} of {} up, {} idle, {} writing\n",
            config.path.display(),
            self.queue.len(),
            if self.codel.is_slow() { "SLOW: dropping requests older than 2 × queue_target" } else { "fast" },
            config.queue_target,
            config.queue_interval,
            config.queue,
            self.slots.iter().filter(|s| s.pid.is_some()).count(),
            config.pool_size,
            self.idle.len(),
            self.writers,
        );
        for (i, s) in self.slots.iter().enumerate() {
            let state = match (s.pid, s.busy) {
                (None, _) => "down".to_string(),
                (Some(p), true) => format!("{p} busy"),
                (Some(p), false) => format!("{p} idle"),
            };
            out.push_str(&format!("  db conn {}: {state}\n", i + 1));
        }
        for r in self.queue.iter().take(5) {
            out.push_str(&format!("  waiting: {r:?}\n"));
        }
        out
    }
}
