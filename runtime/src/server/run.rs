//! The server loop: one message at a time to the behaviour's handlers, system messages (the
//! inspector's state requests) answered by the loop itself.

use super::behaviour::{Behaviour, Flow};
use super::envelope::{CallMsg, CastMsg};
use crate::ctx::Received;
use crate::{Ctx, Exit, ExitReason, Handle, Kind, Msg, Pid, SpawnError, SpawnOpts};

/// Starts a server process. The kind defaults to [`Kind::Server`] unless `opts` sets another.
pub fn start<S: Behaviour>(handle: &Handle, opts: SpawnOpts, server: S) -> Result<Pid, SpawnError> {
    let opts = if opts.kind == Kind::Worker {
        opts.kind(Kind::Server)
    } else {
        opts
    };
    handle.spawn_with(opts, move |ctx| serve(ctx, server))
}

/// Runs `behaviour` as the body of the calling process until a handler stops it; the exit
/// reason is the process's. Every receive goes through `ctx`.
pub async fn serve<B: Behaviour>(ctx: Ctx, mut behaviour: B) -> ExitReason {
    if let Err(reason) = behaviour.init(&ctx).await {
        return reason;
    }
    ctx.report_state_size(behaviour.state_size());
    loop {
        let msg = match ctx.recv_or_system().await {
            Received::StateRequest => {
                ctx.publish_state(behaviour.render_state(), behaviour.state_size());
                continue;
            }
            Received::Message(msg) => msg,
        };
        let flow = dispatch(&ctx, &mut behaviour, msg).await;
        ctx.report_state_size(behaviour.state_size());
        if let Flow::Stop(reason) = flow {
            behaviour.terminate(&ctx, &reason).await;
            return reason;
        }
    }
}

/// Hands one message to the handler its type calls for.
async fn dispatch<B: Behaviour>(ctx: &Ctx, behaviour: &mut B, msg: Msg) -> Flow {
    let msg = match msg.downcast::<CallMsg<B::Call, B::Reply>>() {
        Ok(call) => return behaviour.handle_call(ctx, call.request, call.reply).await,
        Err(msg) => msg,
    };
    let msg = match msg.downcast::<CastMsg<B::Cast>>() {
        Ok(cast) => return behaviour.handle_cast(ctx, cast.0).await,
        Err(msg) => msg,
    };
    match msg.downcast::<Exit>() {
        Ok(exit) => behaviour.handle_exit(ctx, exit).await,
        Err(msg) => behaviour.handle_info(ctx, msg).await,
    }
}
