//! [`Behaviour`]: the one shape every server-shaped process takes (OTP's `gen_server`), with
//! async handlers so that a handler may wait (a supervisor awaits its children's exits).

use std::fmt;
use std::future::Future;

use super::envelope::ReplyTo;
use crate::{Ctx, Exit, ExitReason, Msg, Pid};

/// What a handler tells the server loop to do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop(ExitReason),
}

/// A process behaviour. The loop ([`serve`](super::serve)) runs `init`, then hands each message
/// to one handler, one at a time, answers the inspector's state requests itself, and runs
/// `terminate` when a handler stops it. Handlers receive through `ctx`, so they may wait
/// (selective receive, timers) before they return.
///
/// ```
/// use std::time::Duration;
/// use crashcourse_runtime::server::{self, Behaviour, Flow, ReplyTo};
/// use crashcourse_runtime::{Ctx, Runtime, RuntimeConfig, SpawnOpts};
///
/// /// A cast makes it wait for a `u32`, taken out of turn; a call answers the last one.
/// struct Waiter(u32);
/// impl Behaviour for Waiter {
///     type Call = ();
///     type Reply = u32;
///     type Cast = ();
///     async fn handle_call(&mut self, _: &Ctx, _: (), reply: ReplyTo<u32>) -> Flow {
///         reply.send(self.0);
///         Flow::Continue
///     }
///     async fn handle_cast(&mut self, ctx: &Ctx, _: ()) -> Flow {
///         let n = ctx.recv_match(|m| m.is::<u32>()).await;
///         self.0 = n.downcast::<u32>().unwrap_or_default();
///         Flow::Continue
///     }
/// }
///
/// let rt = Runtime::start(RuntimeConfig::default());
/// let pid = server::start(&rt, SpawnOpts::new(), Waiter(0)).unwrap();
/// server::cast::<Waiter>(&rt, pid, ()).unwrap();
/// rt.send(pid, 42u32).unwrap();
/// let n = rt.block_on(server::call::<Waiter>(&rt, pid, (), Duration::from_secs(1))).unwrap();
/// assert_eq!(n, 42);
/// ```
pub trait Behaviour: Send + Sized + 'static {
    /// Requests that expect a reply.
    type Call: Send + fmt::Debug + 'static;
    /// The reply to a call.
    type Reply: Send + 'static;
    /// Requests that do not.
    type Cast: Send + fmt::Debug + 'static;

    /// Runs first, inside the new process. An error stops it with that reason.
    fn init(&mut self, _ctx: &Ctx) -> impl Future<Output = Result<(), ExitReason>> + Send {
        async { Ok(()) }
    }

    /// Handles a call; answer through `reply` now or keep it and answer later.
    fn handle_call(
        &mut self,
        ctx: &Ctx,
        request: Self::Call,
        reply: ReplyTo<Self::Reply>,
    ) -> impl Future<Output = Flow> + Send;

    /// Handles a cast.
    fn handle_cast(
        &mut self,
        _ctx: &Ctx,
        _request: Self::Cast,
    ) -> impl Future<Output = Flow> + Send {
        async { Flow::Continue }
    }

    /// Handles an exit signal (only arrives when trapping exits). By default an abnormal exit
    /// from the owner (the parent, or the outside) stops the server with that reason, as in
    /// OTP; any other goes to [`handle_info`](Self::handle_info).
    fn handle_exit(&mut self, ctx: &Ctx, exit: Exit) -> impl Future<Output = Flow> + Send {
        async move {
            if is_from_owner(ctx, &exit) {
                return Flow::Stop(exit.reason);
            }
            self.handle_info(ctx, Msg::new(exit)).await
        }
    }

    /// Handles any other message (timers, pub/sub, DOWN).
    fn handle_info(&mut self, _ctx: &Ctx, _msg: Msg) -> impl Future<Output = Flow> + Send {
        async { Flow::Continue }
    }

    /// Runs when a handler stops the server (including after an owner's exit when trapping).
    /// Not run when it is killed.
    fn terminate(&mut self, _ctx: &Ctx, _reason: &ExitReason) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The state as text for the inspector.
    fn render_state(&self) -> String {
        format!(
            "({} does not render its state)",
            std::any::type_name::<Self>()
        )
    }

    /// Bytes the state holds, counted in the process's memory.
    fn state_size(&self) -> usize {
        std::mem::size_of::<Self>()
    }
}

/// Whether an exit signal comes from whoever owns the process (its parent, or the outside)
/// and asks it to stop: any reason but `normal`.
pub(crate) fn is_from_owner(ctx: &Ctx, exit: &Exit) -> bool {
    (Some(exit.from) == ctx.parent() || exit.from == Pid::OUTSIDE)
        && exit.reason != ExitReason::Normal
}
