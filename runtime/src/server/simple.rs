//! [`Server`]: the short form of a [`Behaviour`] whose handlers all return at once.

use std::fmt;
use std::future::{ready, Future};

use super::behaviour::{Behaviour, Flow};
use super::envelope::ReplyTo;
use crate::{Ctx, ExitReason, Msg};

/// A server whose handlers never wait. Every `Server` is a [`Behaviour`]; implement
/// `Behaviour` instead when a handler has to await something.
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

impl<S: Server> Behaviour for S {
    type Call = S::Call;
    type Reply = S::Reply;
    type Cast = S::Cast;

    fn init(&mut self, ctx: &Ctx) -> impl Future<Output = Result<(), ExitReason>> + Send {
        ready(Server::init(self, ctx))
    }

    fn handle_call(
        &mut self,
        ctx: &Ctx,
        request: S::Call,
        reply: ReplyTo<S::Reply>,
    ) -> impl Future<Output = Flow> + Send {
        ready(Server::handle_call(self, ctx, request, reply))
    }

    fn handle_cast(&mut self, ctx: &Ctx, request: S::Cast) -> impl Future<Output = Flow> + Send {
        ready(Server::handle_cast(self, ctx, request))
    }

    fn handle_info(&mut self, ctx: &Ctx, msg: Msg) -> impl Future<Output = Flow> + Send {
        ready(Server::handle_info(self, ctx, msg))
    }

    fn terminate(&mut self, ctx: &Ctx, reason: &ExitReason) -> impl Future<Output = ()> + Send {
        Server::terminate(self, ctx, reason);
        ready(())
    }

    fn render_state(&self) -> String {
        Server::render_state(self)
    }

    fn state_size(&self) -> usize {
        Server::state_size(self)
    }
}
