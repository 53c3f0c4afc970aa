//! The generic server shape (OTP's `gen_server`): init, calls with a reply and a caller timeout,
//! casts, other messages, terminate — and a state that renders itself for the inspector.
//!
//! ```
//! use std::time::Duration;
//! use crashcourse_runtime::{server::{self, Flow, ReplyTo, Server}, Ctx, Runtime, RuntimeConfig, SpawnOpts};
//!
//! struct Counter(u64);
//! impl Server for Counter {
//!     type Call = ();
//!     type Reply = u64;
//!     type Cast = u64;
//!     fn handle_call(&mut self, _: &Ctx, _: (), reply: ReplyTo<u64>) -> Flow {
//!         reply.send(self.0);
//!         Flow::Continue
//!     }
//!     fn handle_cast(&mut self, _: &Ctx, n: u64) -> Flow {
//!         self.0 += n;
//!         Flow::Continue
//!     }
//! }
//!
//! let rt = Runtime::start(RuntimeConfig::default());
//! let pid = server::start(&rt, SpawnOpts::new().name("counter"), Counter(0)).unwrap();
//! server::cast::<Counter>(&rt, pid, 5).unwrap();
//! let n = rt.block_on(server::call::<Counter>(&rt, pid, (), Duration::from_secs(1))).unwrap();
//! assert_eq!(n, 5);
//! ```

use std::fmt;
use std::time::Duration;

use futures_channel::oneshot;

use crate::ctx::{with_timeout, Received};
use crate::mailbox::Msg;
use crate::process::{Kind, Pid, SpawnError, SpawnOpts};
use crate::signal::{Exit, ExitReason};
use crate::{Ctx, Handle, SendError};

/// What a handler tells the server loop to do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop(ExitReason),
}

/// A server's behaviour. Every handler runs inside the server's process, one message at a time.
pub trait Server: Send + Sized + 'static {
    /// Requests that expect a reply.
    type Call: Send + fmt::Debug + 'static;
    /// The reply to a call.
    type Reply: Send + 'static;
    /// Requests that do not.
    type Cast: Send + fmt::Debug + 'static;

    /// Runs first, inside the new process. An error stops it with that reason.
    fn init(&mut self, _ctx: &Ctx) -> Result<(), ExitReason> {
        Ok(())
    }

    /// Handles a call; answer through `reply` now or keep it and answer later.
    fn handle_call(&mut self, ctx: &Ctx, request: Self::Call, reply: ReplyTo<Self::Reply>) -> Flow;

    /// Handles a cast.
    fn handle_cast(&mut self, _ctx: &Ctx, _request: Self::Cast) -> Flow {
        Flow::Continue
    }

    /// Handles any other message (timers, pub/sub, exit signals when trapping, DOWN).
    fn handle_info(&mut self, _ctx: &Ctx, _msg: Msg) -> Flow {
        Flow::Continue
    }

    /// Runs when the server stops on its own or because its supervisor asked (when trapping
    /// exits). Not run when it is killed.
    fn terminate(&mut self, _ctx: &Ctx, _reason: &ExitReason) {}

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

/// Where the reply to one call goes. Dropping it unanswered fails the call.
pub struct ReplyTo<R>(oneshot::Sender<R>);

impl<R> ReplyTo<R> {
    /// Answers the call. False if the caller has given up (timed out or exited).
    pub fn send(self, reply: R) -> bool {
        self.0.send(reply).is_ok()
    }
}

impl<R> fmt::Debug for ReplyTo<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyTo")
    }
}

/// A call in a mailbox.
pub struct CallMsg<C, R> {
    pub request: C,
    pub reply: ReplyTo<R>,
}

impl<C: fmt::Debug, R> fmt::Debug for CallMsg<C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call {:?}", self.request)
    }
}

/// A cast in a mailbox.
pub struct CastMsg<C>(pub C);

impl<C: fmt::Debug> fmt::Debug for CastMsg<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cast {:?}", self.0)
    }
}

/// A call did not get its reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("no process {0}")]
    NoProc(Pid),
    #[error("no reply from {0} within {1:?}")]
    Timeout(Pid, Duration),
    #[error("{0} exited or dropped the request without replying")]
    NoReply(Pid),
}

/// Starts a server process. The kind defaults to [`Kind::Server`] unless `opts` sets another.
pub fn start<S: Server>(handle: &Handle, opts: SpawnOpts, server: S) -> Result<Pid, SpawnError> {
    let opts = if opts.kind == Kind::Worker {
        opts.kind(Kind::Server)
    } else {
        opts
    };
    handle.spawn_with(opts, move |ctx| run(ctx, server))
}

/// Calls `pid` and waits for the reply, at most `timeout`.
pub async fn call<S: Server>(
    handle: &Handle,
    pid: Pid,
    request: S::Call,
    timeout: Duration,
) -> Result<S::Reply, CallError> {
    call_raw::<S::Call, S::Reply>(handle, pid, request, timeout).await
}

/// Calls `pid` with any request type whose reply type is `R`.
pub async fn call_raw<C, R>(
    handle: &Handle,
    pid: Pid,
    request: C,
    timeout: Duration,
) -> Result<R, CallError>
where
    C: Send + fmt::Debug + 'static,
    R: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let msg = CallMsg {
        request,
        reply: ReplyTo(tx),
    };
    handle
        .send(pid, msg)
        .map_err(|SendError { to, .. }| CallError::NoProc(to))?;
    match with_timeout(timeout, rx).await {
        Some(Ok(reply)) => Ok(reply),
        Some(Err(oneshot::Canceled)) => Err(CallError::NoReply(pid)),
        None => Err(CallError::Timeout(pid, timeout)),
    }
}

/// Casts to `pid`; fails only if it is gone.
pub fn cast<S: Server>(
    handle: &Handle,
    pid: Pid,
    request: S::Cast,
) -> Result<(), SendError<S::Cast>> {
    handle
        .send(pid, CastMsg(request))
        .map_err(|SendError { to, message }| SendError {
            to,
            message: message.0,
        })
}

/// The server loop.
async fn run<S: Server>(ctx: Ctx, mut server: S) -> ExitReason {
    if let Err(reason) = server.init(&ctx) {
        return reason;
    }
    ctx.report_state_size(server.state_size());
    loop {
        let msg = match ctx.recv_or_system().await {
            Received::StateRequest => {
                ctx.publish_state(server.render_state(), server.state_size());
                continue;
            }
            Received::Message(msg) => msg,
        };
        let flow = dispatch(&ctx, &mut server, msg);
        ctx.report_state_size(server.state_size());
        if let Flow::Stop(reason) = flow {
            server.terminate(&ctx, &reason);
            return reason;
        }
    }
}

fn dispatch<S: Server>(ctx: &Ctx, server: &mut S, msg: Msg) -> Flow {
    let msg = match msg.downcast::<CallMsg<S::Call, S::Reply>>() {
        Ok(call) => return server.handle_call(ctx, call.request, call.reply),
        Err(msg) => msg,
    };
    let msg = match msg.downcast::<CastMsg<S::Cast>>() {
        Ok(cast) => return server.handle_cast(ctx, cast.0),
        Err(msg) => msg,
    };
    // An exit from the parent (or from the outside) stops a trapping server, as in OTP.
    if let Some(exit) = msg.downcast_ref::<Exit>() {
        let from_parent = Some(exit.from) == ctx.parent() || exit.from == Pid::OUTSIDE;
        if from_parent && exit.reason != ExitReason::Normal {
            return Flow::Stop(exit.reason.clone());
        }
    }
    server.handle_info(ctx, msg)
}
