//! [`SpawnOpts`]: how to start a process (name, label, kind, link, parent, trap_exit), and
//! [`SpawnError`].

use std::sync::Arc;

use crate::process::restart_info::RestartInfo;
use crate::{Kind, Pid};

/// Options for spawning a process.
#[derive(Clone, Debug)]
pub struct SpawnOpts {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) label: Option<Arc<str>>,
    pub(crate) kind: Kind,
    pub(crate) link: Option<Pid>,
    pub(crate) monitor_by: Option<Pid>,
    pub(crate) parent: Option<Pid>,
    pub(crate) trap_exit: bool,
    pub(crate) restart: Option<RestartInfo>,
}

impl Default for SpawnOpts {
    fn default() -> Self {
        SpawnOpts::new()
    }
}

impl SpawnOpts {
    /// A plain worker: no name, no link.
    pub fn new() -> SpawnOpts {
        SpawnOpts {
            name: None,
            label: None,
            kind: Kind::Worker,
            link: None,
            monitor_by: None,
            parent: None,
            trap_exit: false,
            restart: None,
        }
    }

    /// Registers the process under `name` before it first runs; spawning fails if taken.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A display label for the GUI.
    pub fn label(mut self, label: impl Into<Arc<str>>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// What kind of process this is.
    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Links the new process to `pid` before it first runs.
    pub fn link(mut self, pid: Pid) -> Self {
        self.link = Some(pid);
        self
    }

    /// Has `watcher` monitor the new process from before it first runs.
    pub(crate) fn monitor_by(mut self, watcher: Pid) -> Self {
        self.monitor_by = Some(watcher);
        self
    }

    /// The supervisor that owns the process (for the tree view).
    pub fn parent(mut self, parent: Pid) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Starts the process with exits trapped.
    pub fn trap_exit(mut self, trap: bool) -> Self {
        self.trap_exit = trap;
        self
    }

    /// Restart count and history, set by supervisors.
    pub fn restart_info(mut self, info: RestartInfo) -> Self {
        self.restart = Some(info);
        self
    }

    /// The label, or the name, or the kind.
    pub fn display_name(&self) -> Arc<str> {
        self.label
            .clone()
            .or_else(|| self.name.clone())
            .unwrap_or_else(|| self.kind.name().into())
    }
}

/// Spawning failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    #[error("the name {0:?} is already registered to {1}")]
    NameTaken(Arc<str>, Pid),
    #[error("the runtime is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Failed(Arc<str>),
}
