//! Exit reasons and the messages that exit signals and monitors turn into.
//!
//! A process ends with an [`ExitReason`]. Linked processes receive it as an exit signal: an
//! abnormal reason kills them unless they trap exits, in which case it arrives as an [`Exit`]
//! message. `kill` cannot be trapped; the killed process then exits with `killed`, which linked
//! processes see (and can trap) like any other abnormal reason. Monitors get a [`Down`] message.

use std::fmt;
use std::sync::Arc;

use crate::Pid;

/// Why a process ended, or the reason carried by an exit signal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ExitReason {
    /// The process finished its work. Links are not broken by it.
    Normal,
    /// An orderly stop asked for by a supervisor or the user.
    Shutdown,
    /// The untrappable kill signal. A process hit by it exits with [`ExitReason::Killed`].
    Kill,
    /// The process was killed by [`ExitReason::Kill`].
    Killed,
    /// The process (or a link or monitor target) did not exist.
    NoProc,
    /// The process panicked; the panic message.
    Panic(Arc<str>),
    /// Any other reason, named by the code that exited.
    Custom(Arc<str>),
}

impl ExitReason {
    /// A custom exit reason.
    pub fn custom(reason: impl Into<Arc<str>>) -> ExitReason {
        ExitReason::Custom(reason.into())
    }

    /// Whether this reason counts as a failure: everything but `normal` and `shutdown`.
    pub fn is_abnormal(&self) -> bool {
        !matches!(self, ExitReason::Normal | ExitReason::Shutdown)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Kill => f.write_str("kill"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::NoProc => f.write_str("noproc"),
            ExitReason::Panic(msg) => write!(f, "panic: {msg}"),
            ExitReason::Custom(reason) => f.write_str(reason),
        }
    }
}

/// What a process body may end with: `()` is a normal exit.
pub trait IntoExitReason {
    /// The exit reason this value stands for.
    fn into_exit_reason(self) -> ExitReason;
}

impl IntoExitReason for () {
    fn into_exit_reason(self) -> ExitReason {
        ExitReason::Normal
    }
}

impl IntoExitReason for ExitReason {
    fn into_exit_reason(self) -> ExitReason {
        self
    }
}

impl<E: IntoExitReason> IntoExitReason for Result<(), E> {
    fn into_exit_reason(self) -> ExitReason {
        match self {
            Ok(()) => ExitReason::Normal,
            Err(e) => e.into_exit_reason(),
        }
    }
}

/// An exit signal delivered as a message to a process that traps exits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// The process that exited (or sent the signal); [`Pid::OUTSIDE`] for control actions.
    pub from: Pid,
    pub reason: ExitReason,
}

/// Identifies one monitor; returned by `monitor` and carried by its [`Down`] message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MonitorRef(pub(crate) u64);

impl fmt::Display for MonitorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#Ref<{}>", self.0)
    }
}

/// Sent to the watcher when a monitored process is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Down {
    pub monitor: MonitorRef,
    pub pid: Pid,
    pub reason: ExitReason,
}
