//! The task wrapper around a process body ([`ProcessFuture`]): pending exit signals before
//! every poll, panics caught and turned into exit reasons, and exit cleanup when it ends.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::executor::end_poll;
use crate::panic_hook;
use crate::process::exit_cleanup::exit_cleanup;
use crate::process::record::{Pending, ProcessInner};
use crate::shared::Shared;
use crate::{Ctx, ExitReason, IntoExitReason, Status};

/// The body of a process before its first poll (the closure) and after (its future).
pub(crate) enum Starting<F, Fut> {
    Body(Option<F>, Ctx),
    Running(Fut),
}

impl<F, Fut> Starting<F, Fut>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future,
{
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fut::Output> {
        // SAFETY: we never move the future out of `Running` once it is there; `Body` holds no
        // pinned data, so replacing it is fine.
        let this = unsafe { self.get_unchecked_mut() };
        if let Starting::Body(body, ctx) = this {
            let body = body.take().expect("process body already started");
            let fut = body(ctx.clone());
            *this = Starting::Running(fut);
        }
        match this {
            Starting::Running(fut) => unsafe { Pin::new_unchecked(fut) }.poll(cx),
            Starting::Body(..) => unreachable!("replaced above"),
        }
    }
}

/// The task wrapper around a process body.
pub(crate) struct ProcessFuture<B> {
    inner: Arc<ProcessInner>,
    shared: Arc<Shared>,
    body: Option<B>,
}

impl<F, Fut> ProcessFuture<Starting<F, Fut>> {
    /// The task of process `inner`, which will run `body` at its first poll.
    pub(crate) fn new(inner: Arc<ProcessInner>, shared: Arc<Shared>, body: F, ctx: Ctx) -> Self {
        ProcessFuture {
            inner,
            shared,
            body: Some(Starting::Body(Some(body), ctx)),
        }
    }
}

impl<F, Fut> Future for ProcessFuture<Starting<F, Fut>>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future,
    Fut::Output: IntoExitReason,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `body` is structurally pinned: it is only polled in place, and dropped in
        // place by setting the option to None. The other fields are never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let out = this.poll_in_place(cx);
        // The poll's one clock reading, taken here so the busy window can have it (see
        // `executor::end_poll`); with accounting off the worker takes it instead.
        if this.shared.busy_accounting {
            if let Some((end, took)) = end_poll(&this.shared.executor) {
                this.inner.busy.record(end, took);
            }
        }
        out
    }
}

impl<F, Fut> ProcessFuture<Starting<F, Fut>>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future,
    Fut::Output: IntoExitReason,
{
    /// One poll: pending exit signals, then the body (its panic caught), then exit cleanup
    /// if it ended. Called only through [`Future::poll`], on the pinned task.
    fn poll_in_place(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let this = self;
        let pending = {
            let mut st = this.inner.state.lock();
            match &st.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.waker = Some(cx.waker().clone()),
            }
            st.taken_this_poll = 0;
            st.pending.take()
        };
        if this.body.is_none() {
            return Poll::Ready(());
        }
        this.inner.set_status(Status::Running);
        let crash = match pending {
            Some(Pending::Exit(reason)) => {
                let reason = this.drop_body(reason);
                this.finish(reason);
                return Poll::Ready(());
            }
            Some(Pending::Crash) => true,
            None => false,
        };
        let body = &mut this.body;
        let result = panic_hook::quietly(|| {
            catch_unwind(AssertUnwindSafe(|| {
                if crash {
                    panic!("crashed on request (crash/1 from the outside)");
                }
                let fut = body.as_mut().expect("checked above");
                // SAFETY: see above; `body` never moves while Some.
                unsafe { Pin::new_unchecked(fut) }.poll(cx)
            }))
        });
        match result {
            Ok(Poll::Pending) => {
                if this.inner.status() == Status::Running {
                    this.inner.set_status(Status::Waiting);
                }
                Poll::Pending
            }
            Ok(Poll::Ready(out)) => {
                let reason = this.drop_body(out.into_exit_reason());
                this.finish(reason);
                Poll::Ready(())
            }
            Err(payload) => {
                let reason = ExitReason::Panic(panic_hook::message(&*payload).into());
                drop(payload);
                let reason = this.drop_body(reason);
                this.finish(reason);
                Poll::Ready(())
            }
        }
    }
}

impl<B> ProcessFuture<B> {
    /// Drops the body in place, running its destructors; a panic there becomes the reason.
    fn drop_body(&mut self, reason: ExitReason) -> ExitReason {
        let body = &mut self.body;
        match panic_hook::quietly(|| catch_unwind(AssertUnwindSafe(|| *body = None))) {
            Ok(()) => reason,
            Err(payload) => {
                self.body = None;
                ExitReason::Panic(panic_hook::message(&*payload).into())
            }
        }
    }

    /// The process is gone: tell everyone who cares, then forget it.
    fn finish(&mut self, reason: ExitReason) {
        exit_cleanup(&self.shared, &self.inner, reason);
    }
}

impl<B> Drop for ProcessFuture<B> {
    fn drop(&mut self) {
        // A task dropped without finishing (runtime shutdown): still clean up its tables.
        if self.body.is_some() {
            let reason = self.drop_body(ExitReason::Killed);
            exit_cleanup(&self.shared, &self.inner, reason);
        }
    }
}
