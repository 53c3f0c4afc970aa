//! Registered names: `register`, `whereis`, `unregister`, `wait_name`. A name is freed when its
//! process exits.

pub(crate) mod names;

use std::future::Future;
use std::sync::Arc;

use crate::observe::events::EventKind;
use crate::{Handle, Pid};

pub use names::RegisterError;
pub(crate) use names::Registry;

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
