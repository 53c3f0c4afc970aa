//! The caller's side of a server: call with a timeout, cast.

use std::fmt;
use std::time::Duration;

use futures_channel::oneshot;

use super::behaviour::Behaviour;
use super::envelope::{CallMsg, CastMsg, ReplyTo};
use crate::ctx::with_timeout;
use crate::{Handle, Pid, SendError};

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

/// Calls `pid` and waits for the reply, at most `timeout`.
pub async fn call<S: Behaviour>(
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
pub fn cast<S: Behaviour>(
    handle: &Handle,
    pid: Pid,
    request: S::Cast,
) -> Result<(), SendError<S::Cast>> {
    cast_raw(handle, pid, request)
}

/// Casts any request type to `pid`; fails (handing it back) only if it is gone.
pub fn cast_raw<C>(handle: &Handle, pid: Pid, request: C) -> Result<(), SendError<C>>
where
    C: Send + fmt::Debug + 'static,
{
    handle
        .send(pid, CastMsg(request))
        .map_err(|SendError { to, message }| SendError {
            to,
            message: message.0,
        })
}
