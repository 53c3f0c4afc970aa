//! Registered names: `register`, `whereis`, `unregister`. A name is freed when its process exits.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures_channel::oneshot;
use parking_lot::Mutex;

use crate::observe::EventKind;
use crate::{Handle, Pid};

#[derive(Default)]
pub(crate) struct Registry {
    names: Mutex<Names>,
}

#[derive(Default)]
struct Names {
    pids: HashMap<Arc<str>, Pid>,
    /// Told the pid when a name is next registered ([`Handle::wait_name`]).
    waiters: HashMap<Arc<str>, Vec<oneshot::Sender<Pid>>>,
}

impl Handle {
    /// The pid registered under `name`.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.0.registry.whereis(name)
    }

    /// Registers `pid` under `name`.
    pub fn register(&self, name: impl Into<Arc<str>>, pid: Pid) -> Result<(), RegisterError> {
        let name = name.into();
        let Some(inner) = self.0.table.get(pid) else {
            return Err(RegisterError::NoProc(pid));
        };
        let mut st = inner.state.lock();
        if !st.alive {
            return Err(RegisterError::NoProc(pid));
        }
        if let Some(existing) = st.extra.as_ref().and_then(|e| e.name.clone()) {
            return Err(RegisterError::AlreadyNamed(pid, existing));
        }
        self.0
            .registry
            .register(name.clone(), pid)
            .map_err(|holder| RegisterError::Taken(name.clone(), holder))?;
        st.extra().name = Some(name.clone());
        drop(st);
        self.0.events.push(pid, EventKind::Registered { name });
        Ok(())
    }

    /// Removes a registered name. False if it was not registered.
    pub fn unregister(&self, name: &str) -> bool {
        let Some(pid) = self.0.registry.whereis(name) else {
            return false;
        };
        if let Some(inner) = self.0.table.get(pid) {
            if let Some(e) = inner.state.lock().extra.as_mut() {
                e.name = None;
            }
        }
        self.0.registry.unregister_if(name, pid)
    }

    /// All registered names.
    pub fn registered(&self) -> Vec<(Arc<str>, Pid)> {
        self.0.registry.names()
    }

    /// Resolves with the pid registered under `name` as soon as there is one: at once if the
    /// name is taken, else when it is next registered (a notification from the registry, not
    /// polling). Never resolves if the name is never registered; add a timeout where that
    /// matters.
    pub fn wait_name(&self, name: &str) -> impl Future<Output = Pid> + Send + 'static {
        let waiting = self.0.registry.waiter(name);
        async move {
            match waiting {
                Ok(pid) => pid,
                Err(rx) => match rx.await {
                    Ok(pid) => pid,
                    // The runtime is gone: the name will never come.
                    Err(_) => std::future::pending().await,
                },
            }
        }
    }
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
    fn waiter(&self, name: &str) -> Result<Pid, oneshot::Receiver<Pid>> {
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
