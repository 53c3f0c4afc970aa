//! The table of registered names, and who is waiting for a name to be registered.

use std::collections::HashMap;
use std::sync::Arc;

use futures_channel::oneshot;
use parking_lot::Mutex;

use crate::Pid;

#[derive(Default)]
pub(crate) struct Registry {
    names: Mutex<Names>,
}

#[derive(Default)]
struct Names {
    pids: HashMap<Arc<str>, Pid>,
    /// Told the pid when a name is next registered ([`Handle::wait_name`](crate::Handle::wait_name)).
    waiters: HashMap<Arc<str>, Vec<oneshot::Sender<Pid>>>,
}

/// Registering a name failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("the name {0:?} is already registered to {1}")]
    Taken(Arc<str>, Pid),
    #[error("the process {0} already has the name {1:?}")]
    AlreadyNamed(Pid, Arc<str>),
    #[error("no process {0}")]
    NoProc(Pid),
}

impl Registry {
    /// Registers `name`; if it is taken, the holder's pid is the error.
    pub(crate) fn register(&self, name: Arc<str>, pid: Pid) -> Result<(), Pid> {
        let mut names = self.names.lock();
        if let Some(&other) = names.pids.get(&name) {
            return Err(other);
        }
        if let Some(waiters) = names.waiters.remove(&name) {
            for w in waiters {
                let _ = w.send(pid);
            }
        }
        names.pids.insert(name, pid);
        Ok(())
    }

    /// The pid under `name` now, or a receiver told when it is registered.
    pub(crate) fn waiter(&self, name: &str) -> Result<Pid, oneshot::Receiver<Pid>> {
        let mut names = self.names.lock();
        if let Some(&pid) = names.pids.get(name) {
            return Ok(pid);
        }
        let (tx, rx) = oneshot::channel();
        let waiters = names.waiters.entry(name.into()).or_default();
        // Forget waiters that gave up, so an unanswered name cannot grow without bound.
        waiters.retain(|w| !w.is_canceled());
        waiters.push(tx);
        Err(rx)
    }

    pub(crate) fn whereis(&self, name: &str) -> Option<Pid> {
        self.names.lock().pids.get(name).copied()
    }

    /// Removes `name` if it still points at `pid`.
    pub(crate) fn unregister_if(&self, name: &str, pid: Pid) -> bool {
        let mut names = self.names.lock();
        if names.pids.get(name) == Some(&pid) {
            names.pids.remove(name);
            true
        } else {
            false
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.names.lock().pids.len()
    }

    pub(crate) fn names(&self) -> Vec<(Arc<str>, Pid)> {
        self.names
            .lock()
            .pids
            .iter()
            .map(|(n, p)| (n.clone(), *p))
            .collect()
    }
}
