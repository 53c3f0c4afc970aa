//! Starting a supervisor: the process first, then its children in order, before returning.

use std::sync::Arc;

use futures_channel::oneshot;

use super::behaviour::Sup;
use super::child::Child;
use super::intensity::RestartWindow;
use super::spec::{ChildSpec, Shutdown, SupervisorSpec};
use crate::server;
use crate::{Handle, Kind, Pid, SpawnError, SpawnOpts};

/// Starting a supervisor failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("could not spawn the supervisor: {0}")]
    Spawn(SpawnError),
    #[error("could not start child {0:?}: {1}")]
    Child(Arc<str>, SpawnError),
}

/// Starts a supervisor and, before returning, its children in order. If a child fails to
/// start, the ones already started are stopped in reverse order and the error is returned.
pub fn start(handle: &Handle, opts: SpawnOpts, spec: SupervisorSpec) -> Result<Pid, StartError> {
    let kind = if opts.kind == Kind::Worker {
        Kind::Supervisor
    } else {
        opts.kind
    };
    let (tx, rx) = oneshot::channel::<Vec<Child>>();
    let window = RestartWindow::new(spec.intensity, handle.clock().clone());
    let sup = server::start(
        handle,
        opts.kind(kind).trap_exit(true),
        Sup::new(spec.strategy, window, rx),
    )
    .map_err(StartError::Spawn)?;
    let mut children: Vec<Child> = Vec::with_capacity(spec.children.len());
    for child in spec.children {
        match child.start_under(handle, sup, None) {
            Ok(pid) => children.push(Child::new(child, Some(pid))),
            Err(e) => {
                for started in children.iter().rev() {
                    if let Some(pid) = started.pid {
                        let _ = handle.kill(pid);
                    }
                }
                let _ = handle.kill(sup);
                return Err(StartError::Child(child.id.clone(), e));
            }
        }
    }
    // The supervisor waits for its children list before it handles anything.
    let _ = tx.send(children);
    Ok(sup)
}

impl ChildSpec {
    /// A supervisor built from `spec` at every (re)start; waits for it to stop (`infinity`).
    pub fn supervisor(
        id: impl Into<Arc<str>>,
        spec: impl Fn() -> SupervisorSpec + Send + Sync + 'static,
    ) -> ChildSpec {
        ChildSpec::new(id, move |h, opts| {
            start(h, opts, spec()).map_err(|e| match e {
                StartError::Spawn(e) => e,
                StartError::Child(_, e) => e,
            })
        })
        .kind(Kind::Supervisor)
        .shutdown(Shutdown::Infinity)
    }
}
