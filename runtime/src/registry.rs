//! Registered names: `register`, `whereis`, `unregister`. A name is freed when its process exits.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::process::Pid;

#[derive(Default)]
pub(crate) struct Registry {
    names: Mutex<HashMap<Arc<str>, Pid>>,
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
        if let Some(&other) = names.get(&name) {
            return Err(other);
        }
        names.insert(name, pid);
        Ok(())
    }

    pub(crate) fn whereis(&self, name: &str) -> Option<Pid> {
        self.names.lock().get(name).copied()
    }

    /// Removes `name` if it still points at `pid`.
    pub(crate) fn unregister_if(&self, name: &str, pid: Pid) -> bool {
        let mut names = self.names.lock();
        if names.get(name) == Some(&pid) {
            names.remove(name);
            true
        } else {
            false
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.names.lock().len()
    }

    pub(crate) fn names(&self) -> Vec<(Arc<str>, Pid)> {
        self.names
            .lock()
            .iter()
            .map(|(n, p)| (n.clone(), *p))
            .collect()
    }
}
