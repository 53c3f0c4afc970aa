//! What a supervisor is told: its strategy, and for each child how to start it, when to
//! restart it and how to stop it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::intensity::Intensity;
use crate::server::{self, Behaviour};
use crate::{Ctx, Handle, IntoExitReason, Kind, Pid, RestartInfo, SpawnError, SpawnOpts};

/// Which children restart when one fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    OneForOne,
    OneForAll,
    RestForOne,
}

/// When a child is restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Always.
    Permanent,
    /// Only after an abnormal exit (not `normal` or `shutdown`).
    Transient,
    /// Never; the child is forgotten when it exits.
    Temporary,
}

impl Restart {
    pub(crate) fn should_restart(self, reason: &crate::ExitReason) -> bool {
        match self {
            Restart::Permanent => true,
            Restart::Transient => reason.is_abnormal(),
            Restart::Temporary => false,
        }
    }
}

/// How a child is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// `kill` at once.
    BrutalKill,
    /// `shutdown`, then `kill` if it has not exited after this long.
    Timeout(Duration),
    /// `shutdown`, and wait as long as it takes (the default for supervisors).
    Infinity,
}

/// Starts one child: given the spawn options the supervisor prepared (link, parent, kind,
/// label, name, restart info), spawns the process and returns its pid.
pub type StartFn = Arc<dyn Fn(&Handle, SpawnOpts) -> Result<Pid, SpawnError> + Send + Sync>;

/// How to start and restart one child.
#[derive(Clone)]
pub struct ChildSpec {
    pub id: Arc<str>,
    pub restart: Restart,
    pub shutdown: Shutdown,
    pub kind: Kind,
    pub label: Option<Arc<str>>,
    pub name: Option<Arc<str>>,
    start: StartFn,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("kind", &self.kind)
            .finish()
    }
}

impl ChildSpec {
    /// A permanent worker started by `start`, shut down with a 5 s timeout.
    pub fn new(
        id: impl Into<Arc<str>>,
        start: impl Fn(&Handle, SpawnOpts) -> Result<Pid, SpawnError> + Send + Sync + 'static,
    ) -> ChildSpec {
        ChildSpec {
            id: id.into(),
            restart: Restart::Permanent,
            shutdown: Shutdown::Timeout(Duration::from_secs(5)),
            kind: Kind::Worker,
            label: None,
            name: None,
            start: Arc::new(start),
        }
    }

    /// A worker process running `body`.
    pub fn worker<F, Fut>(id: impl Into<Arc<str>>, body: F) -> ChildSpec
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let body = Arc::new(body);
        ChildSpec::new(id, move |h, opts| {
            let body = body.clone();
            h.spawn_with(opts, move |ctx| body(ctx))
        })
    }

    /// A server ([`Behaviour`], or its short form `Server`) made fresh by `make` at every
    /// (re)start.
    pub fn server<S: Behaviour>(
        id: impl Into<Arc<str>>,
        make: impl Fn() -> S + Send + Sync + 'static,
    ) -> ChildSpec {
        ChildSpec::new(id, move |h, opts| server::start(h, opts, make())).kind(Kind::Server)
    }

    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// The display label (defaults to the id).
    pub fn label(mut self, label: impl Into<Arc<str>>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Registers every incarnation of the child under `name`.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Replaces the start function with `stand_in` (shared), freeing what the original captured.
    pub(crate) fn forget_start(&mut self, stand_in: &StartFn) {
        self.start = stand_in.clone();
    }

    /// Spawns the child linked to `sup`.
    pub(crate) fn start_under(
        &self,
        h: &Handle,
        sup: Pid,
        restart: Option<RestartInfo>,
    ) -> Result<Pid, SpawnError> {
        let mut opts = SpawnOpts::new()
            .kind(self.kind)
            .label(self.label.clone().unwrap_or_else(|| self.id.clone()))
            .link(sup)
            .parent(sup);
        if let Some(name) = &self.name {
            opts = opts.name(name.clone());
        }
        if let Some(info) = restart {
            opts = opts.restart_info(info);
        }
        (self.start)(h, opts)
    }
}

/// A supervisor's strategy, intensity and children.
#[derive(Clone, Debug)]
pub struct SupervisorSpec {
    pub strategy: Strategy,
    pub intensity: Intensity,
    pub children: Vec<ChildSpec>,
}

impl SupervisorSpec {
    pub fn new(strategy: Strategy, intensity: Intensity) -> SupervisorSpec {
        SupervisorSpec {
            strategy,
            intensity,
            children: Vec::new(),
        }
    }

    /// Adds a child; children start in the order added.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }
}
