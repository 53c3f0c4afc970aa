//! [`Ctx`]: what a running process uses to talk to the world — its mailbox, links, monitors,
//! names, subscriptions, and spawning others.

use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::mailbox::{Message, Msg};
use crate::process::link::{link, unlink};
use crate::process::monitor::{demonitor, monitor};
use crate::process::record::{ProcState, ProcessInner};
use crate::registry::RegisterError;
use crate::signal::{ExitReason, MonitorRef};
pub(crate) use crate::timeout::with_timeout;
use crate::Pid;
use crate::{Handle, SendError};

/// How many messages a process may take from its mailbox within one poll before a receive
/// yields (returns `Pending` once, waking itself, so the task goes to the back of its worker's
/// queue). A burst of thousands of messages then never keeps one worker busy for long, and a
/// busy system process is never mistaken for one that does not yield; 128 keeps the cost of
/// the extra polls (one per 128 messages) out of the figures.
pub(crate) const RECV_BUDGET: u32 = 128;

/// A receive also yields once a poll that has taken messages has lasted this long, however
/// few: a process whose handlers are slow (a presence server encoding large maps, say) then
/// gives its worker back well before the watchdog's 10 ms mark instead of after 128 messages.
/// The clock is read only every [`TIME_CHECK_EVERY`] messages, so a process taking one message
/// per poll never reads it.
const TIME_BUDGET_NS: u64 = 2_000_000;
const TIME_CHECK_EVERY: u32 = 4;

/// A process's handle on itself and the runtime. Cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    pub(crate) inner: Arc<ProcessInner>,
    handle: Handle,
}

/// What [`Ctx::recv_or_system`] returns.
pub(crate) enum Received {
    Message(Msg),
    /// The inspector asked the process to render its state.
    StateRequest,
}

impl Ctx {
    pub(crate) fn new(inner: Arc<ProcessInner>, handle: Handle) -> Ctx {
        Ctx { inner, handle }
    }

    /// This process's pid.
    pub fn pid(&self) -> Pid {
        self.inner.pid
    }

    /// The runtime this process runs on.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The supervisor that started this process, if any.
    pub fn parent(&self) -> Option<Pid> {
        self.inner.parent
    }

    /// Sends a message; never blocks. Fails (handing the message back) if `to` is gone.
    pub fn send<M: Message>(&self, to: Pid, message: M) -> Result<(), SendError<M>> {
        self.handle.send_from(Some(&self.inner), to, message)?;
        self.inner.msgs_out.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Waits for the first message in the mailbox. After [`RECV_BUDGET`] messages in one poll it
    /// yields once first.
    pub async fn recv(&self) -> Msg {
        poll_fn(|cx| {
            let mut st = self.inner.state.lock();
            if over_budget(self, &st, cx) {
                return Poll::Pending;
            }
            if let Some(msg) = st.mailbox.pop() {
                st.taken_this_poll += 1;
                return Poll::Ready(msg);
            }
            register(&mut st.waker, cx);
            Poll::Pending
        })
        .await
    }

    /// Takes the first message if there is one, without waiting.
    pub fn try_recv(&self) -> Option<Msg> {
        self.inner.state.lock().mailbox.pop()
    }

    /// Waits for the first message for which `matches` is true, leaving the others queued in
    /// order (selective receive). Yields like [`recv`](Self::recv).
    pub async fn recv_match(&self, mut matches: impl FnMut(&Msg) -> bool) -> Msg {
        poll_fn(|cx| {
            let mut st = self.inner.state.lock();
            if over_budget(self, &st, cx) {
                return Poll::Pending;
            }
            if let Some(msg) = st.mailbox.take_first(&mut matches) {
                st.taken_this_poll += 1;
                return Poll::Ready(msg);
            }
            register(&mut st.waker, cx);
            Poll::Pending
        })
        .await
    }

    /// Like [`recv`](Self::recv), giving up after `timeout`.
    pub async fn recv_timeout(&self, timeout: Duration) -> Option<Msg> {
        with_timeout(timeout, self.recv()).await
    }

    /// Like [`recv_match`](Self::recv_match), giving up after `timeout`.
    pub async fn recv_match_timeout(
        &self,
        timeout: Duration,
        matches: impl FnMut(&Msg) -> bool,
    ) -> Option<Msg> {
        with_timeout(timeout, self.recv_match(matches)).await
    }

    /// Waits for a message or a request from the inspector to render the state.
    pub(crate) async fn recv_or_system(&self) -> Received {
        poll_fn(|cx| {
            let mut st = self.inner.state.lock();
            if over_budget(self, &st, cx) {
                return Poll::Pending;
            }
            if let Some(extra) = st.extra.as_mut() {
                if extra.state_requested {
                    extra.state_requested = false;
                    return Poll::Ready(Received::StateRequest);
                }
            }
            if let Some(msg) = st.mailbox.pop() {
                st.taken_this_poll += 1;
                return Poll::Ready(Received::Message(msg));
            }
            register(&mut st.waker, cx);
            Poll::Pending
        })
        .await
    }

    /// Stores the state as rendered text for the inspector, and its size for the memory figure.
    pub fn publish_state(&self, text: String, size: usize) {
        self.inner.state_size.store(size, Ordering::Relaxed);
        let mut st = self.inner.state.lock();
        let extra = st.extra();
        extra.state_text = Some(text);
        extra.state_seq += 1;
        for waiter in extra.state_waiters.drain(..) {
            let _ = waiter.send(());
        }
    }

    /// Reports how many bytes this process's own state holds (shown as part of its memory).
    pub fn report_state_size(&self, bytes: usize) {
        self.inner.state_size.store(bytes, Ordering::Relaxed);
    }

    /// Turns exit signals into [`Exit`](crate::Exit) messages (`kill` still kills).
    pub fn trap_exit(&self, trap: bool) {
        self.inner.state.lock().trap_exit = trap;
    }

    /// Links this process with `other`, both ways.
    pub fn link(&self, other: Pid) {
        link(&self.handle.0, &self.inner, other);
    }

    /// Removes the link with `other`.
    pub fn unlink(&self, other: Pid) {
        unlink(&self.handle.0, &self.inner, other);
    }

    /// Monitors `target`: a [`Down`](crate::Down) message arrives when it is gone.
    pub fn monitor(&self, target: Pid) -> MonitorRef {
        monitor(&self.handle.0, &self.inner, target)
    }

    /// Removes a monitor. False if it had already fired or been removed.
    pub fn demonitor(&self, monitor: MonitorRef) -> bool {
        demonitor(&self.handle.0, &self.inner, monitor)
    }

    /// Registers this process under `name`.
    pub fn register(&self, name: impl Into<Arc<str>>) -> Result<(), RegisterError> {
        self.handle.register(name, self.pid())
    }

    /// Subscribes this process to a pub/sub topic.
    pub fn subscribe(&self, topic: &str) {
        self.handle.subscribe(self.pid(), topic);
    }

    /// Unsubscribes this process from a pub/sub topic.
    pub fn unsubscribe(&self, topic: &str) {
        self.handle.unsubscribe(self.pid(), topic);
    }

    /// Sends an exit signal to `pid` from this process.
    pub fn exit(&self, pid: Pid, reason: ExitReason) -> bool {
        self.handle.exit_from(self.pid(), pid, reason)
    }
}

/// True (after waking the task, so it is polled again soon) when this poll has taken its
/// budget of messages, or of time, and there are more waiting: the receive should return
/// `Pending` now.
fn over_budget(ctx: &Ctx, st: &ProcState, cx: &mut std::task::Context<'_>) -> bool {
    let taken = st.taken_this_poll;
    if taken == 0 || st.mailbox.len() == 0 {
        return false;
    }
    let over = taken >= RECV_BUDGET
        || (taken.is_multiple_of(TIME_CHECK_EVERY)
            && crate::executor::poll_elapsed(&ctx.handle.0.executor)
                .is_some_and(|ns| ns >= TIME_BUDGET_NS));
    if over {
        cx.waker().wake_by_ref();
    }
    over
}

/// Keeps the task's waker in `slot` current.
fn register(slot: &mut Option<std::task::Waker>, cx: &mut std::task::Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}
