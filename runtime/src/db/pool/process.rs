//! The pool process (a server [`Behaviour`]): owns the checkout queue, hands each request to a
//! free connection (inserts waiting together become one group commit) and applies the queue's
//! drop rule when a connection comes free or the periodic poll finds no progress.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::messages::{ConnMsg, Job, PoolMsg};
use super::super::metrics::CheckoutOutcome;
use super::super::queue::{CheckoutQueue, Codel, Decision, Lane};
use super::super::request::{Request, Stage};
use super::super::shared::PoolShared;
use super::super::DbError;
use crate::server::{Behaviour, CastMsg, Flow, ReplyTo};
use crate::{Ctx, Down, ExitReason, MonitorRef, Msg, Pid, SendError};

/// The pool process's view of one connection.
struct Slot {
    pid: Option<Pid>,
    monitor: Option<MonitorRef>,
    busy: bool,
    writing: bool,
    idle_since: Instant,
}

impl Slot {
    fn new(now: Instant) -> Slot {
        Slot {
            pid: None,
            monitor: None,
            busy: false,
            writing: false,
            idle_since: now,
        }
    }
}

pub(super) struct PoolProc {
    shared: Arc<PoolShared>,
    slots: Vec<Slot>,
    /// Idle connections, longest idle first.
    idle: VecDeque<usize>,
    queue: CheckoutQueue,
    /// Insert batches in flight (one at a time, unless `queue: false`).
    writers: usize,
    codel: Codel,
}

impl PoolProc {
    pub(super) fn new(shared: Arc<PoolShared>) -> PoolProc {
        let now = Instant::now();
        let (target, interval) = shared.queue_settings();
        PoolProc {
            codel: Codel::new(target, interval, now),
            slots: (0..shared.size()).map(|_| Slot::new(now)).collect(),
            idle: VecDeque::new(),
            queue: CheckoutQueue::default(),
            writers: 0,
            shared,
        }
    }
}

/// The periodic queue check; `last_sent` is the oldest request seen by the previous one.
#[derive(Debug)]
struct QueuePoll {
    last_sent: Instant,
}

impl Behaviour for PoolProc {
    type Call = Infallible;
    type Reply = ();
    type Cast = PoolMsg;

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        self.shared
            .pool_pid
            .store(ctx.pid().id(), Ordering::Release);
        if let Some(sup) = ctx.parent() {
            self.shared.supervisor.store(sup.id(), Ordering::Release);
        }
        self.schedule_poll(ctx, Instant::now());
        self.publish();
        Ok(())
    }

    async fn handle_call(&mut self, _ctx: &Ctx, never: Infallible, _reply: ReplyTo<()>) -> Flow {
        match never {}
    }

    async fn handle_cast(&mut self, ctx: &Ctx, msg: PoolMsg) -> Flow {
        match msg {
            PoolMsg::Checkout(request) => self.checkout(ctx, request),
            PoolMsg::Cancel(id) => {
                if let Some(request) = self.queue.remove(id) {
                    self.record(&request, Instant::now(), CheckoutOutcome::Cancelled);
                    request.forget();
                }
            }
            PoolMsg::ConnUp { index, pid } => self.connection_up(ctx, index, pid),
            PoolMsg::Checkin { index, pid } => self.checkin(ctx, index, pid),
            PoolMsg::Reconfigure => self.reconfigure(ctx),
            PoolMsg::Stay { index, pid } => self.stay(ctx, index, pid),
        }
        self.publish();
        Flow::Continue
    }

    /// The queue poll, and the DOWN of a connection.
    async fn handle_info(&mut self, ctx: &Ctx, msg: Msg) -> Flow {
        match msg.downcast::<QueuePoll>() {
            Ok(QueuePoll { last_sent }) => self.poll(ctx, last_sent),
            Err(msg) => {
                if let Ok(down) = msg.downcast::<Down>() {
                    self.connection_down(ctx, down);
                }
            }
        }
        self.publish();
        Flow::Continue
    }

    fn render_state(&self) -> String {
        self.render()
    }

    fn state_size(&self) -> usize {
        self.queue.len() * std::mem::size_of::<Request>()
            + self.slots.len() * std::mem::size_of::<Slot>()
    }
}

impl PoolProc {
    fn record(&self, request: &Request, now: Instant, outcome: CheckoutOutcome) {
        self.shared.stats.checkout(
            request.id,
            now,
            now.saturating_duration_since(request.sent),
            self.codel.is_slow(),
            outcome,
        );
    }

    fn checkout(&mut self, ctx: &Ctx, request: Request) {
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
            self.dispatch(ctx, index, vec![request], insert, now);
            // If that connection had just exited, the request is queued again: another
            // idle connection takes it.
            if !self.queue.is_empty() && !self.idle.is_empty() {
                self.drain(ctx, now);
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
    fn drain(&mut self, ctx: &Ctx, now: Instant) {
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
                self.dispatch(ctx, index, batch, true, now);
            } else {
                self.dispatch(ctx, index, vec![first], false, now);
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

    fn dispatch(
        &mut self,
        ctx: &Ctx,
        index: usize,
        mut requests: Vec<Request>,
        write: bool,
        now: Instant,
    ) {
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
        match ctx.send(pid, CastMsg(ConnMsg::Job(Job { requests, deadline }))) {
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
                message: CastMsg(ConnMsg::Job(job)),
                ..
            }) => {
                // It exited before its DOWN reached us: requeue, oldest first, and forget it.
                for mut r in job.requests.into_iter().rev() {
                    r.stage = Stage::Queued;
                    self.queue.push_front(r);
                }
                self.slot_down(ctx, index);
            }
            Err(SendError {
                message: CastMsg(ConnMsg::Retire),
                ..
            }) => unreachable!("a job was sent"),
        }
    }

    fn checkin(&mut self, ctx: &Ctx, index: usize, pid: Pid) {
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
        if index >= self.shared.size() {
            // The pool shrank while it worked: it stops now that it is back.
            retire(ctx, pid);
            return;
        }
        self.idle.push_back(index);
        self.drain(ctx, now);
    }

    /// Makes room for slot `index` (a connection started after the pool grew).
    fn ensure_slot(&mut self, index: usize) {
        let now = Instant::now();
        while self.slots.len() <= index {
            self.slots.push(Slot::new(now));
        }
    }

    /// Takes up the size and queue settings of the shared state: idle connections beyond
    /// the size are asked to stop, busy ones when they come back; the queue settings apply
    /// from the next interval. Starting connections for a bigger size is the caller's part
    /// (under the supervisor); they join as they come up.
    fn reconfigure(&mut self, ctx: &Ctx) {
        let (target, interval) = self.shared.queue_settings();
        self.codel.reconfigure(target, interval);
        let size = self.shared.size();
        if size > 0 {
            self.ensure_slot(size - 1);
        }
        let slots = &self.slots;
        self.idle.retain(|&i| {
            if i < size {
                return true;
            }
            if let Some(pid) = slots[i].pid {
                retire(ctx, pid);
            }
            false
        });
    }

    /// A connection asked to retire is wanted again: it is idle, so it takes work at once.
    fn stay(&mut self, ctx: &Ctx, index: usize, pid: Pid) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        if slot.pid != Some(pid) || slot.busy || self.idle.contains(&index) {
            return;
        }
        if index >= self.shared.size() {
            retire(ctx, pid);
            return;
        }
        self.idle.push_back(index);
        self.drain(ctx, Instant::now());
    }

    fn connection_up(&mut self, ctx: &Ctx, index: usize, pid: Pid) {
        self.ensure_slot(index);
        if self.slots[index].pid == Some(pid) {
            return;
        }
        if let Some(old) = self.slots[index].monitor.take() {
            ctx.demonitor(old);
        }
        self.slot_down(ctx, index);
        let monitor = ctx.monitor(pid);
        let now = Instant::now();
        self.slots[index] = Slot {
            pid: Some(pid),
            monitor: Some(monitor),
            busy: false,
            writing: false,
            idle_since: now,
        };
        if index >= self.shared.size() {
            // Started (or restarted) beyond the size the pool has now.
            retire(ctx, pid);
            return;
        }
        self.idle.push_back(index);
        self.drain(ctx, now);
    }

    fn connection_down(&mut self, ctx: &Ctx, down: Down) {
        let Some(index) = self
            .slots
            .iter()
            .position(|s| s.monitor == Some(down.monitor))
        else {
            return;
        };
        self.slots[index].monitor = None;
        self.slot_down(ctx, index);
        // If it was the writer, queued inserts can go to another connection now.
        self.drain(ctx, Instant::now());
    }

    /// Forgets the connection in slot `index` (it has exited).
    fn slot_down(&mut self, ctx: &Ctx, index: usize) {
        let slot = &mut self.slots[index];
        if slot.busy && slot.writing {
            self.writers -= 1;
        }
        slot.pid = None;
        slot.busy = false;
        slot.writing = false;
        if let Some(m) = slot.monitor.take() {
            ctx.demonitor(m);
        }
        self.shared.slots[index]
            .busy
            .store(false, Ordering::Relaxed);
        self.idle.retain(|&i| i != index);
    }

    /// DBConnection's poll: if the queue made no progress since the last one, apply the drop
    /// rule without waiting for a connection to come free.
    fn poll(&mut self, ctx: &Ctx, last_sent: Instant) {
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
                self.schedule_poll(ctx, sent);
            }
            Some(sent) => self.schedule_poll(ctx, sent),
            None => self.schedule_poll(ctx, now),
        }
    }

    fn schedule_poll(&self, ctx: &Ctx, last_sent: Instant) {
        ctx.handle()
            .send_after(ctx.pid(), self.codel.settings().1, QueuePoll { last_sent });
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
            self.codel.settings().0,
            self.codel.settings().1,
            config.queue,
            self.slots.iter().filter(|s| s.pid.is_some()).count(),
            self.shared.size(),
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

/// Asks connection `pid` to stop because the pool shrank (it checks the size again itself).
fn retire(ctx: &Ctx, pid: Pid) {
    let _ = ctx.send(pid, CastMsg(ConnMsg::Retire));
}
