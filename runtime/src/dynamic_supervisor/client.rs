//! The calls a dynamic supervisor answers, and the functions that make them.

use std::time::Duration;

use crate::server::{self, CallError};
use crate::supervisor::{ChildInfo, ChildSpec};
use crate::{Handle, Pid, SpawnError};

/// Why a child was not started.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartChildError {
    #[error("max_children ({0}) reached")]
    MaxChildren(usize),
    #[error("{0}")]
    Spawn(SpawnError),
}

/// Requests a dynamic supervisor answers.
#[derive(Debug)]
pub enum DynamicCall {
    StartChild(ChildSpec),
    TerminateChild(Pid),
    CountChildren,
    WhichChildren,
}

/// A dynamic supervisor's answer.
#[derive(Debug)]
pub enum DynamicReply {
    Started(Result<Pid, StartChildError>),
    Terminated(bool),
    Count(usize),
    Children(Vec<ChildInfo>),
}

async fn call(
    handle: &Handle,
    sup: Pid,
    request: DynamicCall,
    timeout: Duration,
) -> Result<DynamicReply, CallError> {
    server::call_raw::<DynamicCall, DynamicReply>(handle, sup, request, timeout).await
}

/// Starts a child under `sup`.
pub async fn start_child(
    handle: &Handle,
    sup: Pid,
    spec: ChildSpec,
    timeout: Duration,
) -> Result<Result<Pid, StartChildError>, CallError> {
    match call(handle, sup, DynamicCall::StartChild(spec), timeout).await? {
        DynamicReply::Started(r) => Ok(r),
        _ => Err(CallError::NoReply(sup)),
    }
}

/// Stops a child of `sup`; false if it was not one.
pub async fn terminate_child(
    handle: &Handle,
    sup: Pid,
    child: Pid,
    timeout: Duration,
) -> Result<bool, CallError> {
    match call(handle, sup, DynamicCall::TerminateChild(child), timeout).await? {
        DynamicReply::Terminated(r) => Ok(r),
        _ => Err(CallError::NoReply(sup)),
    }
}

/// How many children `sup` holds.
pub async fn count_children(
    handle: &Handle,
    sup: Pid,
    timeout: Duration,
) -> Result<usize, CallError> {
    match call(handle, sup, DynamicCall::CountChildren, timeout).await? {
        DynamicReply::Count(n) => Ok(n),
        _ => Err(CallError::NoReply(sup)),
    }
}

/// The children of `sup`, in start order.
pub async fn which_children(
    handle: &Handle,
    sup: Pid,
    timeout: Duration,
) -> Result<Vec<ChildInfo>, CallError> {
    match call(handle, sup, DynamicCall::WhichChildren, timeout).await? {
        DynamicReply::Children(c) => Ok(c),
        _ => Err(CallError::NoReply(sup)),
    }
}
