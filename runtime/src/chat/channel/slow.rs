//! The `slow` event: `{"ms": N}` answered `ok` after N ms by one short-lived process started for
//! that request — the process-per-request side of the thread-pool contrast. The process waits on
//! a timer (a receive that matches nothing, Erlang's `receive after N`), so it holds no thread,
//! and the channel stays free to take the next event while any number of requests wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::chat::frame::{error_reply, reply};
use crate::chat::Push;
use crate::{Ctx, Kind, Pid, SpawnOpts};

/// Longest wait one request may ask for.
pub(crate) const MAX_MS: u64 = 10_000;
/// Requests one channel may have waiting at once; more get an error reply.
pub(crate) const MAX_OUTSTANDING: usize = 1_000;

/// One `slow` push, as the channel received it.
pub(crate) struct SlowRequest<'a> {
    pub(crate) socket: Pid,
    pub(crate) topic: &'a str,
    pub(crate) join_ref: Option<&'a str>,
    pub(crate) msg_ref: Option<&'a str>,
    pub(crate) payload: &'a serde_json::Map<String, Value>,
}

/// Counts one channel's requests in flight; each request's process holds one unit and gives it
/// back however it ends (a kill included).
#[derive(Clone, Default)]
pub(crate) struct Outstanding(Arc<AtomicUsize>);

struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Outstanding {
    fn take(&self) -> Option<Held> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_OUTSTANDING).then_some(n + 1)
            })
            .ok()
            .map(|_| Held(self.0.clone()))
    }
}

/// Validates the request and starts its process (linked to the channel, so a channel that
/// goes takes its requests with it); answers at once with an error when it cannot.
pub(crate) fn handle(ctx: &Ctx, outstanding: &Outstanding, req: SlowRequest<'_>) {
    let h = ctx.handle();
    let answer_now = |frame: String| {
        let _ = h.send(req.socket, Push(frame.into()));
    };
    let ms = match req.payload.get("ms").and_then(Value::as_u64) {
        Some(ms) if ms <= MAX_MS => ms,
        _ => {
            answer_now(error_reply(
                req.join_ref,
                req.msg_ref,
                req.topic,
                "invalid ms: it must be a whole number of milliseconds from 0 to 10000",
            ));
            return;
        }
    };
    let Some(held) = outstanding.take() else {
        answer_now(error_reply(
            req.join_ref,
            req.msg_ref,
            req.topic,
            "too many slow requests in flight on this channel (at most 1000)",
        ));
        return;
    };
    let done = reply(
        req.join_ref,
        req.msg_ref,
        req.topic,
        "ok",
        &format!("{{\"ms\":{ms}}}"),
    );
    let socket = req.socket;
    let opts = SpawnOpts::new()
        .link(ctx.pid())
        .parent(ctx.pid())
        .kind(Kind::Worker)
        .label(format!("slow request {ms} ms"));
    let spawned = ctx.spawn_with(opts, move |c: Ctx| async move {
        let _held = held;
        // Nothing matches: this is a pure timer wait that leaves the mailbox alone.
        let _ = c
            .recv_match_timeout(Duration::from_millis(ms), |_| false)
            .await;
        let _ = c.send(socket, Push(done.into()));
    });
    if let Err(e) = spawned {
        answer_now(error_reply(
            req.join_ref,
            req.msg_ref,
            req.topic,
            &format!("could not start the request's process: {e}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outstanding_requests_are_bounded_and_given_back() {
        let o = Outstanding::default();
        let held: Vec<Held> = (0..MAX_OUTSTANDING).filter_map(|_| o.take()).collect();
        assert_eq!(held.len(), MAX_OUTSTANDING);
        assert!(o.take().is_none(), "one past the bound is refused");
        drop(held);
        assert_eq!(o.0.load(Ordering::Acquire), 0);
        assert!(o.take().is_some());
    }
}
