//! The calls a running supervisor answers, and the functions that make them.

use std::sync::Arc;
use std::time::Duration;

use super::child::ChildInfo;
use super::spec::ChildSpec;
use crate::server::{self, CallError};
use crate::{Handle, Pid};

/// Requests a supervisor answers.
#[derive(Debug)]
pub enum SupervisorCall {
    WhichChildren,
    /// Adds a child and starts it.
    StartChild(ChildSpec),
    /// Stops a child by id (it stays in the list, not running, until restarted).
    TerminateChild(Arc<str>),
    /// Starts a stopped child again.
    RestartChild(Arc<str>),
}

/// A supervisor's answer.
#[derive(Debug)]
pub enum SupervisorReply {
    Children(Vec<ChildInfo>),
    Started(Result<Pid, String>),
    Done(Result<(), String>),
}

async fn call(
    handle: &Handle,
    sup: Pid,
    request: SupervisorCall,
    timeout: Duration,
) -> Result<SupervisorReply, CallError> {
    server::call_raw::<SupervisorCall, SupervisorReply>(handle, sup, request, timeout).await
}

/// The children of a supervisor (or dynamic supervisor).
pub async fn which_children(
    handle: &Handle,
    sup: Pid,
    timeout: Duration,
) -> Result<Vec<ChildInfo>, CallError> {
    match call(handle, sup, SupervisorCall::WhichChildren, timeout).await? {
        SupervisorReply::Children(c) => Ok(c),
        _ => Err(CallError::NoReply(sup)),
    }
}

/// Adds a child to a running supervisor and starts it.
pub async fn start_child(
    handle: &Handle,
    sup: Pid,
    spec: ChildSpec,
    timeout: Duration,
) -> Result<Result<Pid, String>, CallError> {
    match call(handle, sup, SupervisorCall::StartChild(spec), timeout).await? {
        SupervisorReply::Started(r) => Ok(r),
        _ => Err(CallError::NoReply(sup)),
    }
}

/// Stops a child by id; it is not restarted until [`restart_child`].
pub async fn terminate_child(
    handle: &Handle,
    sup: Pid,
    id: &str,
    timeout: Duration,
) -> Result<Result<(), String>, CallError> {
    done(
        handle,
        sup,
        SupervisorCall::TerminateChild(id.into()),
        timeout,
    )
    .await
}

/// Starts a stopped child again.
pub async fn restart_child(
    handle: &Handle,
    sup: Pid,
    id: &str,
    timeout: Duration,
) -> Result<Result<(), String>, CallError> {
    done(
        handle,
        sup,
        SupervisorCall::RestartChild(id.into()),
        timeout,
    )
    .await
}

/// A call answered with [`SupervisorReply::Done`].
async fn done(
    handle: &Handle,
    sup: Pid,
    request: SupervisorCall,
    timeout: Duration,
) -> Result<Result<(), String>, CallError> {
    match call(handle, sup, request, timeout).await? {
        SupervisorReply::Done(r) => Ok(r),
        _ => Err(CallError::NoReply(sup)),
    }
}
